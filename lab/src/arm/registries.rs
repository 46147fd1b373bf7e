//! `Microsoft.ContainerRegistry` (azure-rest.md §2): registry GET and PATCH
//! (networkRuleSet / publicNetworkAccess, answered as an async operation that applies
//! the change when it succeeds), tokens (list, GET, PATCH status) and
//! `generateCredentials` (LRO via `Location`; passwords with expiry).

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::{
    ArmError, ArmResult, Ctx, json_response, method_not_allowed, retry_after, start_operation,
    unknown_path, with_async_operation, with_location,
};
use crate::state::{PendingRegistryUpdate, RegistryNetwork, RegistryToken, State};
use crate::world::{IpRule, NetworkRuleSet, RegistryRef, TokenPassword};

const KIND: &str = "Microsoft.ContainerRegistry/registries";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `segs`: `[Microsoft.ContainerRegistry, registries, {name}, …]`.
pub(super) fn route(state: &mut State, ctx: &Ctx, segs: &[&str]) -> ArmResult {
    if let [_, kind] = segs
        && kind.eq_ignore_ascii_case("registries")
    {
        return list(state, ctx);
    }
    let [_, kind, name, rest @ ..] = segs else {
        return Err(unknown_path(ctx));
    };
    if !kind.eq_ignore_ascii_case("registries") {
        return Err(unknown_path(ctx));
    }
    let Some((reg, registry_id)) =
        state.world.registry_named(name).and_then(|r| Some((r, state.world.registry_id_of(r)?)))
    else {
        return Err(ArmError::resource_not_found(KIND, name, &state.world.resource_group));
    };
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    match (lower.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), &ctx.method) {
        ([], &Method::GET) => {
            ctx.authorize(state, &registry_id, "Microsoft.ContainerRegistry/registries/read")?;
            Ok(json_response(StatusCode::OK, registry_json(state, reg, None)))
        }
        ([], &Method::PATCH) if reg == RegistryRef::Main => {
            patch_registry(state, ctx, &registry_id)
        }
        ([], &Method::PATCH) => Err(ArmError::bad_request(
            "BadRequest",
            format!(
                "The lab changes the network settings of registry '{}' only; '{name}' keeps those of its world spec.",
                state.world.registry.name
            ),
        )),
        (["tokens"], &Method::GET) => {
            ctx.authorize(
                state,
                &registry_id,
                "Microsoft.ContainerRegistry/registries/tokens/read",
            )?;
            let value: Vec<Value> =
                state.tokens_of(reg).iter().map(|t| token_json(&registry_id, t)).collect();
            Ok(json_response(StatusCode::OK, json!({ "value": value })))
        }
        (["tokens", _], m) => token(state, ctx, reg, &registry_id, rest[1], m),
        (["scopemaps", ..], _) => {
            super::scope_maps::route(state, ctx, reg, &registry_id, &rest[1..])
        }
        (["generatecredentials"], &Method::POST) => {
            generate_credentials(state, ctx, reg, &registry_id)
        }
        ([], _) | (["tokens"], _) | (["generatecredentials"], _) => Err(method_not_allowed(ctx)),
        _ => Err(unknown_path(ctx)),
    }
}

/// The registry's ARM shape; `network` overrides the effective network settings.
/// `GET …/providers/Microsoft.ContainerRegistry/registries` in the resource group or the
/// subscription: the registries the caller may read (as ARM filters list results).
pub(super) fn list(state: &State, ctx: &Ctx) -> ArmResult {
    if ctx.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let value: Vec<Value> = [RegistryRef::Main, RegistryRef::Team]
        .into_iter()
        .filter_map(|r| Some((r, state.world.registry_id_of(r)?)))
        .filter(|(_, id)| {
            state.is_authorized(&ctx.caller.oid, id, "Microsoft.ContainerRegistry/registries/read")
        })
        .map(|(r, _)| registry_json(state, r, None))
        .collect();
    Ok(json_response(StatusCode::OK, json!({ "value": value })))
}

fn registry_json(
    state: &State,
    reg: RegistryRef,
    target: Option<(&RegistryNetwork, &str)>,
) -> Value {
    let w = &state.world;
    let spec = w.registry_spec(reg).unwrap_or(&w.registry);
    let pending = state.pending_registry_updates.iter().any(|p| p.due > state.clock.now());
    let team_net;
    let (net, provisioning) = match (target, reg) {
        (Some((net, p)), _) => (net, p),
        (None, RegistryRef::Main) => {
            (state.effective_registry_network(), if pending { "Updating" } else { "Succeeded" })
        }
        (None, RegistryRef::Team) => {
            team_net = RegistryNetwork {
                public_network_access: spec.public_network_access.clone(),
                network_rule_set: spec.network_rule_set.clone(),
            };
            (&team_net, "Succeeded")
        }
    };
    json!({
        "id": w.registry_id_of(reg).unwrap_or_else(|| w.registry_id()),
        "name": spec.name,
        "type": KIND,
        "location": w.location,
        "tags": {},
        "sku": { "name": spec.sku, "tier": spec.sku },
        "properties": {
            "loginServer": spec.login_server,
            "creationDate": "2024-01-01T00:00:00.0000000Z",
            "provisioningState": provisioning,
            "adminUserEnabled": false,
            "networkRuleSet": network_rule_set_json(&net.network_rule_set),
            "publicNetworkAccess": net.public_network_access,
            "networkRuleBypassOptions": "AzureServices",
            "dataEndpointEnabled": false,
            "dataEndpointHostNames": [],
            "zoneRedundancy": "Disabled",
            "anonymousPullEnabled": false,
            "privateEndpointConnections": [],
            "policies": {
                "quarantinePolicy": { "status": "disabled" },
                "trustPolicy": { "type": "Notary", "status": "disabled" },
                "retentionPolicy": { "days": 7, "status": "disabled" },
                "exportPolicy": { "status": "enabled" }
            },
            "encryption": { "status": "disabled" }
        }
    })
}

fn network_rule_set_json(n: &NetworkRuleSet) -> Value {
    json!({
        "defaultAction": n.default_action,
        "ipRules": n.ip_rules.iter().map(|r| json!({ "action": r.action, "value": r.value })).collect::<Vec<_>>(),
    })
}

fn enum_value(v: &Value, field: &str, allowed: &[&str]) -> Result<String, ArmError> {
    let s =
        v.as_str().ok_or_else(|| ArmError::invalid_body(format!("'{field}' must be a string.")))?;
    allowed.iter().find(|a| a.eq_ignore_ascii_case(s)).map(|a| a.to_string()).ok_or_else(|| {
        ArmError::bad_request(
            "BadRequest",
            format!(
                "The value '{s}' of '{field}' is invalid. Allowed values: {}.",
                allowed.join(", ")
            ),
        )
    })
}

fn parse_network_rule_set(v: &Value) -> Result<NetworkRuleSet, ArmError> {
    let field = "properties.networkRuleSet.defaultAction";
    let default_action = enum_value(
        v.get("defaultAction")
            .ok_or_else(|| ArmError::invalid_body(format!("'{field}' is required.")))?,
        field,
        &["Allow", "Deny"],
    )?;
    let mut ip_rules = Vec::new();
    if let Some(rules) = v.get("ipRules").filter(|r| !r.is_null()) {
        let rules = rules.as_array().ok_or_else(|| {
            ArmError::invalid_body("'properties.networkRuleSet.ipRules' must be an array.")
        })?;
        for (i, rule) in rules.iter().enumerate() {
            let value = rule.get("value").and_then(Value::as_str).ok_or_else(|| {
                ArmError::invalid_body(format!(
                    "'properties.networkRuleSet.ipRules[{i}].value' is required."
                ))
            })?;
            let ok = value.parse::<std::net::Ipv4Addr>().is_ok()
                || value.parse::<ipnet::Ipv4Net>().is_ok();
            if !ok {
                return Err(ArmError::bad_request(
                    "InvalidIpRule",
                    format!(
                        "The IP rule value '{value}' is invalid: use an IPv4 address or an IPv4 CIDR range."
                    ),
                ));
            }
            let action = match rule.get("action") {
                Some(a) => enum_value(
                    a,
                    &format!("properties.networkRuleSet.ipRules[{i}].action"),
                    &["Allow"],
                )?,
                None => "Allow".into(),
            };
            ip_rules.push(IpRule { action, value: value.to_string() });
        }
    }
    if ip_rules.len() > 100 {
        return Err(ArmError::bad_request(
            "BadRequestError",
            "The requested feature IP rule exceeds allowed quota 100 for the SKU Premium.",
        ));
    }
    Ok(NetworkRuleSet { default_action, ip_rules })
}

fn patch_registry(state: &mut State, ctx: &Ctx, registry_id: &str) -> ArmResult {
    ctx.authorize(state, registry_id, "Microsoft.ContainerRegistry/registries/write")?;
    let body = ctx.json_body()?;
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    // Start from the latest accepted state (pending updates included).
    let mut target = state
        .pending_registry_updates
        .last()
        .map(|p| p.network.clone())
        .unwrap_or_else(|| state.registry_network.clone());
    if let Some(v) = props.get("publicNetworkAccess").filter(|v| !v.is_null()) {
        target.public_network_access =
            enum_value(v, "properties.publicNetworkAccess", &["Enabled", "Disabled"])?;
    }
    if let Some(v) = props.get("networkRuleSet").filter(|v| !v.is_null()) {
        let rules = parse_network_rule_set(v)?;
        if !state.world.registry.sku.eq_ignore_ascii_case("Premium")
            && (rules.default_action == "Deny" || !rules.ip_rules.is_empty())
        {
            return Err(ArmError::bad_request(
                "BadRequestError",
                format!(
                    "Network rules are a Premium feature; registry '{}' has SKU {}.",
                    state.world.registry.name, state.world.registry.sku
                ),
            ));
        }
        target.network_rule_set = rules;
    }
    let delay = state.lro_delay();
    if delay.is_zero() {
        state.registry_network = target;
        state.pending_registry_updates.clear();
        return Ok(json_response(StatusCode::OK, registry_json(state, RegistryRef::Main, None)));
    }
    let due = state.clock.now() + delay;
    state.pending_registry_updates.push(PendingRegistryUpdate { due, network: target.clone() });
    let op = start_operation(state, None);
    let body = registry_json(state, RegistryRef::Main, Some((&target, "Updating")));
    let url = ctx.url(&format!("{registry_id}/operationStatuses/{op}"));
    Ok(with_async_operation(json_response(StatusCode::CREATED, body), &url, &retry_after(state)))
}

fn token_json(registry_id: &str, t: &RegistryToken) -> Value {
    json!({
        "id": format!("{registry_id}/tokens/{}", t.name),
        "name": t.name,
        "type": "Microsoft.ContainerRegistry/registries/tokens",
        "properties": {
            "creationDate": ts(t.creation_date),
            "provisioningState": "Succeeded",
            "scopeMapId": format!("{registry_id}/scopeMaps/{}-scope-map", t.name),
            "status": t.status,
            "credentials": {
                "certificates": [],
                "passwords": t.passwords.iter().map(|p| {
                    let mut v = json!({ "name": p.name });
                    if let Some(c) = p.creation_time { v["creationTime"] = json!(ts(c)); }
                    if let Some(e) = p.expiry { v["expiry"] = json!(ts(e)); }
                    v
                }).collect::<Vec<_>>(),
            }
        }
    })
}

fn token(
    state: &mut State,
    ctx: &Ctx,
    reg: RegistryRef,
    registry_id: &str,
    name: &str,
    method: &Method,
) -> ArmResult {
    let not_found = || {
        ArmError::resource_not_found(
            "Microsoft.ContainerRegistry/registries/tokens",
            name,
            &state.world.resource_group,
        )
    };
    match *method {
        Method::GET => {
            ctx.authorize(
                state,
                registry_id,
                "Microsoft.ContainerRegistry/registries/tokens/read",
            )?;
            let t = state.token_in(reg, name).ok_or_else(not_found)?;
            Ok(json_response(StatusCode::OK, token_json(registry_id, t)))
        }
        Method::PATCH => {
            ctx.authorize(
                state,
                registry_id,
                "Microsoft.ContainerRegistry/registries/tokens/write",
            )?;
            if state.token_in(reg, name).is_none() {
                return Err(not_found());
            }
            let body = ctx.json_body()?;
            let status = match body.pointer("/properties/status").filter(|v| !v.is_null()) {
                Some(v) => Some(enum_value(v, "properties.status", &["enabled", "disabled"])?),
                None => None,
            };
            let t = state
                .token_in_mut(reg, name)
                .ok_or_else(|| ArmError::invalid_body("token vanished"))?;
            if let Some(s) = status {
                t.status = s;
            }
            let t = state
                .token_in(reg, name)
                .ok_or_else(|| ArmError::invalid_body("token vanished"))?;
            Ok(json_response(StatusCode::OK, token_json(registry_id, t)))
        }
        _ => Err(method_not_allowed(ctx)),
    }
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::rng();
    (0..52).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn generate_credentials(
    state: &mut State,
    ctx: &Ctx,
    reg: RegistryRef,
    registry_id: &str,
) -> ArmResult {
    ctx.authorize(
        state,
        registry_id,
        "Microsoft.ContainerRegistry/registries/generateCredentials/action",
    )?;
    let body = ctx.json_body()?;
    let token_id = body
        .get("tokenId")
        .and_then(Value::as_str)
        .ok_or_else(|| ArmError::invalid_body("'tokenId' is required."))?;
    let prefix = format!("{registry_id}/tokens/");
    let token_name = token_id
        .get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(&prefix))
        .map(|_| &token_id[prefix.len()..])
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidTokenId",
                format!("'tokenId' must be a token of this registry: '{prefix}{{tokenName}}'."),
            )
        })?
        .to_string();
    if state.token_in(reg, &token_name).is_none() {
        return Err(ArmError::resource_not_found(
            "Microsoft.ContainerRegistry/registries/tokens",
            &token_name,
            &state.world.resource_group,
        ));
    }
    let expiry = match body.get("expiry").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => {
            let s = v.as_str().ok_or_else(|| {
                ArmError::invalid_body("'expiry' must be an ISO 8601 date-time string.")
            })?;
            Some(DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).map_err(|e| {
                ArmError::invalid_body(format!(
                    "'expiry' value '{s}' is not an ISO 8601 date-time: {e}."
                ))
            })?)
        }
    };
    let names: Vec<String> = match body.get("name").and_then(Value::as_str) {
        Some(n) => vec![enum_value(&json!(n), "name", &["password1", "password2"])?],
        None => vec!["password1".into(), "password2".into()],
    };
    let now = state.clock.utc_now();
    let fresh: Vec<TokenPassword> = names
        .iter()
        .map(|n| TokenPassword {
            name: n.clone(),
            value: random_password(),
            expiry,
            creation_time: Some(now),
        })
        .collect();
    let token = state
        .token_in_mut(reg, &token_name)
        .ok_or_else(|| ArmError::invalid_body("token vanished"))?;
    token.passwords.retain(|p| !names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)));
    token.passwords.extend(fresh.iter().cloned());
    token.passwords.sort_by(|a, b| a.name.cmp(&b.name));
    let result = json!({
        "username": token_name,
        "passwords": fresh.iter().map(|p| {
            let mut v = json!({ "name": p.name, "creationTime": ts(now), "value": p.value });
            if let Some(e) = p.expiry { v["expiry"] = json!(ts(e)); }
            v
        }).collect::<Vec<_>>(),
    });
    if state.lro_delay().is_zero() {
        return Ok(json_response(StatusCode::OK, result));
    }
    let op = start_operation(state, Some(result));
    let url = ctx.url(&format!("{registry_id}/operationResults/{op}"));
    Ok(with_location(StatusCode::ACCEPTED.into_response(), &url, &retry_after(state)))
}
