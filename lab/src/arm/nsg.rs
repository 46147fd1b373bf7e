//! `Microsoft.Network/networkSecurityGroups/{nsg}/securityRules` (azure-rest.md §5):
//! list, GET, PUT (201/200 + `Azure-AsyncOperation`), DELETE (202 + `Location` / 204).
//! Every change re-syncs nftables ([`crate::nft::sync`]): an outbound Deny towards the
//! registry drops TCP to the registry front door's port(s) for real.

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{
    ArmError, ArmResult, Ctx, json_response, method_not_allowed, new_etag, retry_after,
    start_operation, unknown_path, with_async_operation, with_location,
};
use crate::state::{SecurityRule, SecurityRuleProperties, State};

const KIND: &str = "Microsoft.Network/networkSecurityGroups";

fn rule_json(state: &State, r: &SecurityRule, provisioning: &str) -> Value {
    let mut props = serde_json::to_value(&r.properties).unwrap_or_else(|_| json!({}));
    props["provisioningState"] = json!(provisioning);
    json!({
        "id": format!("{}/securityRules/{}", state.world.nsg_id(), r.name),
        "name": r.name,
        "etag": r.etag,
        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "properties": props,
    })
}

/// `segs`: `[Microsoft.Network, networkSecurityGroups, {nsg}, …]`.
pub(super) fn route(state: &mut State, ctx: &Ctx, segs: &[&str]) -> ArmResult {
    let [_, kind, name, rest @ ..] = segs else {
        return Err(unknown_path(ctx));
    };
    if !kind.eq_ignore_ascii_case("networkSecurityGroups") {
        return Err(unknown_path(ctx));
    }
    let nsg_id = state.world.nsg_id();
    let rg = state
        .world
        .nsg
        .resource_group
        .clone()
        .unwrap_or_else(|| state.world.cluster.node_resource_group.clone());
    let in_place =
        ctx.path.len() >= nsg_id.len() && ctx.path[..nsg_id.len()].eq_ignore_ascii_case(&nsg_id);
    if !in_place || !name.eq_ignore_ascii_case(&state.world.nsg.name) {
        return Err(ArmError::resource_not_found(KIND, name, &rg));
    }
    match (rest, &ctx.method) {
        ([], &Method::GET) => {
            ctx.authorize(state, &nsg_id, "Microsoft.Network/networkSecurityGroups/read")?;
            let rules: Vec<Value> =
                state.nsg_rules.iter().map(|r| rule_json(state, r, "Succeeded")).collect();
            Ok(json_response(
                StatusCode::OK,
                json!({
                    "id": nsg_id, "name": state.world.nsg.name, "type": KIND, "location": state.world.location,
                    "etag": "W/\"00000000-0000-4000-8000-000000000000\"",
                    "properties": { "provisioningState": "Succeeded", "securityRules": rules, "defaultSecurityRules": [] }
                }),
            ))
        }
        ([sr], &Method::GET) if sr.eq_ignore_ascii_case("securityRules") => {
            ctx.authorize(
                state,
                &nsg_id,
                "Microsoft.Network/networkSecurityGroups/securityRules/read",
            )?;
            let value: Vec<Value> =
                state.nsg_rules.iter().map(|r| rule_json(state, r, "Succeeded")).collect();
            Ok(json_response(StatusCode::OK, json!({ "value": value })))
        }
        ([sr, rule], m) if sr.eq_ignore_ascii_case("securityRules") => match *m {
            Method::GET => {
                ctx.authorize(
                    state,
                    &nsg_id,
                    "Microsoft.Network/networkSecurityGroups/securityRules/read",
                )?;
                let r = state
                    .nsg_rules
                    .iter()
                    .find(|r| r.name.eq_ignore_ascii_case(rule))
                    .ok_or_else(|| {
                        ArmError::resource_not_found(&format!("{KIND}/securityRules"), rule, &rg)
                    })?;
                Ok(json_response(StatusCode::OK, rule_json(state, r, "Succeeded")))
            }
            Method::PUT => put_rule(state, ctx, &nsg_id, rule),
            Method::DELETE => delete_rule(state, ctx, &nsg_id, rule),
            _ => Err(method_not_allowed(ctx)),
        },
        ([], _) | ([_], _) => Err(method_not_allowed(ctx)),
        _ => Err(unknown_path(ctx)),
    }
}

fn validate(p: &SecurityRuleProperties) -> Result<(), ArmError> {
    let one_of = |v: &str, field: &str, allowed: &[&str]| {
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
            Ok(())
        } else {
            Err(ArmError::bad_request(
                "SecurityRuleInvalidParameter",
                format!(
                    "Security rule parameter '{field}' has an invalid value '{v}'. Allowed values: {}.",
                    allowed.join(", ")
                ),
            ))
        }
    };
    one_of(&p.protocol, "protocol", &["Tcp", "Udp", "Icmp", "Esp", "*", "Ah"])?;
    one_of(&p.access, "access", &["Allow", "Deny"])?;
    one_of(&p.direction, "direction", &["Inbound", "Outbound"])?;
    if !(100..=4096).contains(&p.priority) {
        return Err(ArmError::bad_request(
            "SecurityRuleInvalidPriority",
            format!(
                "Security rule has invalid Priority {}. Value provided: {}. Allowed range 100-4096.",
                p.priority, p.priority
            ),
        ));
    }
    if p.destination_port_range.is_none() && p.destination_port_ranges.is_empty() {
        return Err(ArmError::bad_request(
            "SecurityRuleInvalidParameter",
            "Security rule must specify 'destinationPortRange' or 'destinationPortRanges'.",
        ));
    }
    if p.destination_address_prefix.is_none() && p.destination_address_prefixes.is_empty() {
        return Err(ArmError::bad_request(
            "SecurityRuleInvalidParameter",
            "Security rule must specify 'destinationAddressPrefix' or 'destinationAddressPrefixes'.",
        ));
    }
    if p.description.as_ref().is_some_and(|d| d.chars().count() > 140) {
        return Err(ArmError::bad_request(
            "SecurityRuleInvalidParameter",
            "Security rule 'description' must be at most 140 characters.",
        ));
    }
    Ok(())
}

fn firewall_error(e: crate::nft::NftError) -> ArmError {
    ArmError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        format!("The lab could not apply the network security rule to the host firewall: {e}"),
    )
}

fn put_rule(state: &mut State, ctx: &Ctx, nsg_id: &str, name: &str) -> ArmResult {
    ctx.authorize(state, nsg_id, "Microsoft.Network/networkSecurityGroups/securityRules/write")?;
    if name.is_empty() || name.len() > 80 {
        return Err(ArmError::bad_request(
            "InvalidResourceName",
            format!("Resource name {name} is invalid."),
        ));
    }
    let body = ctx.json_body()?;
    let props_value = body.get("properties").cloned().ok_or_else(|| {
        ArmError::invalid_body(
            "The request content was invalid: the 'properties' object is required.",
        )
    })?;
    let mut props: SecurityRuleProperties = serde_json::from_value(props_value).map_err(|e| {
        ArmError::invalid_body(format!(
            "The request content was invalid and could not be deserialized: {e}."
        ))
    })?;
    props.provisioning_state = None;
    validate(&props)?;
    if let Some(other) = state.nsg_rules.iter().find(|r| {
        !r.name.eq_ignore_ascii_case(name)
            && r.properties.priority == props.priority
            && r.properties.direction.eq_ignore_ascii_case(&props.direction)
    }) {
        return Err(ArmError::bad_request(
            "SecurityRuleConflict",
            format!(
                "Rules '{}' and '{name}' in network security group '{}' have the same priority {} in the {} direction.",
                other.name, state.world.nsg.name, props.priority, props.direction
            ),
        ));
    }
    let previous = state.nsg_rules.iter().position(|r| r.name.eq_ignore_ascii_case(name));
    let rule = SecurityRule { name: name.to_string(), etag: new_etag(), properties: props };
    let undo = previous.map(|i| std::mem::replace(&mut state.nsg_rules[i], rule.clone()));
    if previous.is_none() {
        state.nsg_rules.push(rule.clone());
    }
    if let Err(e) = crate::nft::sync(state) {
        match (previous, undo) {
            (Some(i), Some(old)) => state.nsg_rules[i] = old,
            _ => state.nsg_rules.retain(|r| !r.name.eq_ignore_ascii_case(name)),
        }
        return Err(firewall_error(e));
    }
    let op = start_operation(state, None);
    let status = if previous.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    let provisioning = if state.lro_delay().is_zero() { "Succeeded" } else { "Updating" };
    let url = ctx.url(&format!(
        "/subscriptions/{}/providers/Microsoft.Network/locations/{}/operations/{op}",
        state.world.subscription_id, state.world.location
    ));
    Ok(with_async_operation(
        json_response(status, rule_json(state, &rule, provisioning)),
        &url,
        &retry_after(state),
    ))
}

fn delete_rule(state: &mut State, ctx: &Ctx, nsg_id: &str, name: &str) -> ArmResult {
    ctx.authorize(state, nsg_id, "Microsoft.Network/networkSecurityGroups/securityRules/delete")?;
    let Some(i) = state.nsg_rules.iter().position(|r| r.name.eq_ignore_ascii_case(name)) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let removed = state.nsg_rules.remove(i);
    if let Err(e) = crate::nft::sync(state) {
        state.nsg_rules.insert(i, removed);
        return Err(firewall_error(e));
    }
    if state.lro_delay().is_zero() {
        return Ok(StatusCode::OK.into_response());
    }
    let op = start_operation(state, None);
    let url = ctx.url(&format!(
        "/subscriptions/{}/providers/Microsoft.Network/locations/{}/operationResults/{op}",
        state.world.subscription_id, state.world.location
    ));
    Ok(with_location(StatusCode::ACCEPTED.into_response(), &url, &retry_after(state)))
}
