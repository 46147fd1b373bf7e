//! `Microsoft.Authorization/roleAssignments` (azure-rest.md §1): list with `$filter`
//! (`atScope()`, `principalId eq '…'`, combined with `and`), get, PUT, DELETE, by full id,
//! paging through `nextLink`. Synchronous, as on Azure; authorization changes take
//! effect after the state's propagation delay.

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ArmError, ArmResult, Ctx, json_response, method_not_allowed};
use crate::state::{RoleAssignment, State, full_role_definition_id, role_guid_of, scope_contains};

const READ: &str = "Microsoft.Authorization/roleAssignments/read";
const WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
const DELETE: &str = "Microsoft.Authorization/roleAssignments/delete";

/// The JSON shape of a role assignment.
pub fn to_json(a: &RoleAssignment) -> Value {
    json!({
        "id": a.id(),
        "name": a.name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": a.role_definition_id,
            "principalId": a.principal_id,
            "principalType": a.principal_type,
            "scope": a.scope,
            "condition": a.condition,
            "conditionVersion": a.condition_version,
            "createdOn": a.created_on.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "updatedOn": a.updated_on.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "createdBy": a.created_by,
            "updatedBy": a.updated_by,
            "delegatedManagedIdentityResourceId": null,
            "description": a.description,
        }
    })
}

/// A parsed `$filter`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filter {
    at_scope: bool,
    principal_id: Option<String>,
}

fn parse_filter(raw: Option<&str>) -> Result<Filter, ArmError> {
    let mut f = Filter::default();
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(f);
    };
    let invalid = || {
        ArmError::bad_request(
            "InvalidFilterInQueryString",
            format!(
                "The filter '{raw}' is not supported. Supported filters: atScope(), principalId eq '{{objectId}}', assignedTo('{{objectId}}'), combined with 'and'."
            ),
        )
    };
    for term in split_and(raw) {
        let term = term.trim();
        if term.eq_ignore_ascii_case("atScope()") {
            f.at_scope = true;
        } else if let Some(rest) = strip_prefix_ci(term, "principalId") {
            let rest = rest.trim_start();
            let value = strip_prefix_ci(rest, "eq").ok_or_else(invalid)?.trim();
            let id =
                value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).ok_or_else(invalid)?;
            f.principal_id = Some(id.to_string());
        } else if let Some(rest) = strip_prefix_ci(term, "assignedTo(") {
            let id = rest
                .strip_suffix(')')
                .and_then(|v| v.strip_prefix('\''))
                .and_then(|v| v.strip_suffix('\''));
            f.principal_id = Some(id.ok_or_else(invalid)?.to_string());
        } else {
            return Err(invalid());
        }
    }
    Ok(f)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// Split on ` and ` (case-insensitive), outside quotes.
fn split_and(s: &str) -> Vec<&str> {
    let lower = s.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            in_quote = !in_quote;
        } else if !in_quote && lower[i..].starts_with(" and ") {
            out.push(&s[start..i]);
            i += 5;
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

pub(super) fn list(state: &mut State, ctx: &Ctx, scope: &str) -> ArmResult {
    if ctx.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    ctx.authorize(state, scope, READ)?;
    let filter = parse_filter(ctx.query("$filter"))?;
    let matching: Vec<&RoleAssignment> = state
        .live_role_assignments()
        .filter(|a| {
            let above = scope_contains(&a.scope, scope);
            let below = scope_contains(scope, &a.scope);
            let scope_ok = if filter.at_scope { above } else { above || below };
            let principal_ok = filter
                .principal_id
                .as_deref()
                .is_none_or(|p| a.principal_id.eq_ignore_ascii_case(p));
            scope_ok && principal_ok
        })
        .collect();
    let skip: usize = match ctx.query("$skipToken") {
        None => 0,
        Some(t) => t.parse().map_err(|_| {
            ArmError::bad_request("InvalidSkipToken", format!("The skip token '{t}' is not valid."))
        })?,
    };
    let page = state.options.page_size.max(1);
    let value: Vec<Value> = matching.iter().skip(skip).take(page).map(|a| to_json(a)).collect();
    let mut body = json!({ "value": value });
    if skip + page < matching.len() {
        let mut url = url::Url::parse(&ctx.url(&ctx.path))
            .map_err(|e| ArmError::bad_request("InvalidUri", e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(f) = ctx.query("$filter") {
                q.append_pair("$filter", f);
            }
            q.append_pair("$skipToken", &(skip + page).to_string());
        }
        body["nextLink"] = json!(url.to_string());
    }
    Ok(json_response(StatusCode::OK, body))
}

fn is_guid(name: &str) -> bool {
    uuid::Uuid::try_parse(name).is_ok() && name.len() == 36
}

fn find_live(state: &State, scope: &str, name: &str) -> Option<usize> {
    state.role_assignments.iter().position(|a| {
        a.is_live()
            && a.name.eq_ignore_ascii_case(name)
            && scope_contains(&a.scope, scope)
            && scope_contains(scope, &a.scope)
    })
}

pub(super) fn single(state: &mut State, ctx: &Ctx, scope: &str, name: &str) -> ArmResult {
    match ctx.method {
        Method::GET => {
            ctx.authorize(state, scope, READ)?;
            match find_live(state, scope, name) {
                Some(i) => Ok(json_response(StatusCode::OK, to_json(&state.role_assignments[i]))),
                None => Err(ArmError::new(
                    StatusCode::NOT_FOUND,
                    "RoleAssignmentNotFound",
                    format!("The role assignment '{name}' is not found."),
                )),
            }
        }
        Method::PUT => put(state, ctx, scope, name),
        Method::DELETE => {
            ctx.authorize(state, scope, DELETE)?;
            match find_live(state, scope, name) {
                Some(i) => {
                    let now = state.clock.now();
                    let a = &mut state.role_assignments[i];
                    a.deleted_at = Some(now);
                    let body = to_json(a);
                    let delay = state.propagation_delay();
                    // Tombstones older than the propagation delay no longer matter.
                    state
                        .role_assignments
                        .retain(|a| a.deleted_at.is_none_or(|d| d + delay >= now));
                    Ok(json_response(StatusCode::OK, body))
                }
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        _ => Err(method_not_allowed(ctx)),
    }
}

fn put(state: &mut State, ctx: &Ctx, scope: &str, name: &str) -> ArmResult {
    if !is_guid(name) {
        return Err(ArmError::bad_request(
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        ));
    }
    ctx.authorize(state, scope, WRITE)?;
    let body = ctx.json_body()?;
    let props = body.get("properties").filter(|p| p.is_object()).ok_or_else(|| {
        ArmError::invalid_body(
            "The request content was invalid: the 'properties' object is required.",
        )
    })?;
    let field = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    let role_definition_id = field("roleDefinitionId").ok_or_else(|| {
        ArmError::invalid_body(
            "The request content was invalid: 'properties.roleDefinitionId' is required.",
        )
    })?;
    let principal_id = field("principalId").ok_or_else(|| {
        ArmError::invalid_body(
            "The request content was invalid: 'properties.principalId' is required.",
        )
    })?;
    let role_guid = role_guid_of(&role_definition_id);
    if state.role_definition(&role_guid).is_none() {
        return Err(ArmError::bad_request(
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{role_guid}' does not exist."),
        ));
    }
    let principal_type = field("principalType");
    if let Some(t) = &principal_type
        && !["User", "Group", "ServicePrincipal", "ForeignGroup", "Device"]
            .iter()
            .any(|v| v.eq_ignore_ascii_case(t))
    {
        return Err(ArmError::invalid_body(format!(
            "The request content was invalid: 'properties.principalType' '{t}' is not one of User, Group, ServicePrincipal, ForeignGroup, Device."
        )));
    }
    let known_principal =
        state.principal_by_object_id(&principal_id).map(|p| p.principal_type.clone());
    if principal_type.is_none() && known_principal.is_none() {
        return Err(ArmError::bad_request(
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                principal_id.replace('-', ""),
                state.world.tenant_id
            ),
        ));
    }
    let principal_type = principal_type.or(known_principal).unwrap_or_else(|| "User".into());
    let description = field("description");
    let now_utc = state.clock.utc_now();

    if let Some(i) = find_live(state, scope, name) {
        let a = &mut state.role_assignments[i];
        if !a.principal_id.eq_ignore_ascii_case(&principal_id) || a.role_guid() != role_guid {
            return Err(ArmError::bad_request(
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            ));
        }
        a.description = description;
        a.updated_on = now_utc;
        a.updated_by = Some(ctx.caller.oid.clone());
        return Ok(json_response(StatusCode::OK, to_json(a)));
    }
    // Same (scope, principal, role) under another name → 409.
    if let Some(existing) = state.live_role_assignments().find(|a| {
        a.principal_id.eq_ignore_ascii_case(&principal_id)
            && a.role_guid() == role_guid
            && scope_contains(&a.scope, scope)
            && scope_contains(scope, &a.scope)
    }) {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            format!(
                "The role assignment already exists. The ID of the existing role assignment is {}.",
                existing.name.replace('-', "").to_ascii_lowercase()
            ),
        ));
    }
    let role_definition_id = if role_definition_id.starts_with('/') {
        role_definition_id
    } else {
        full_role_definition_id(&state.world.subscription_id, &role_guid)
    };
    let assignment = RoleAssignment {
        name: name.to_ascii_lowercase(),
        scope: scope.to_string(),
        role_definition_id,
        principal_id,
        principal_type,
        description,
        condition: field("condition"),
        condition_version: field("conditionVersion"),
        created_on: now_utc,
        updated_on: now_utc,
        created_by: Some(ctx.caller.oid.clone()),
        updated_by: Some(ctx.caller.oid.clone()),
        effective_from: Some(state.clock.now() + state.propagation_delay()),
        deleted_at: None,
    };
    let body = to_json(&assignment);
    state.role_assignments.push(assignment);
    Ok(json_response(StatusCode::CREATED, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        assert_eq!(parse_filter(None).unwrap(), Filter::default());
        assert_eq!(
            parse_filter(Some("atScope()")).unwrap(),
            Filter { at_scope: true, principal_id: None }
        );
        assert_eq!(
            parse_filter(Some("atScope() and principalId eq 'AbC'")).unwrap(),
            Filter { at_scope: true, principal_id: Some("AbC".into()) }
        );
        assert_eq!(
            parse_filter(Some("principalid EQ 'x and y'")).unwrap(),
            Filter { at_scope: false, principal_id: Some("x and y".into()) }
        );
        assert_eq!(
            parse_filter(Some("assignedTo('p')")).unwrap().principal_id.as_deref(),
            Some("p")
        );
        assert!(parse_filter(Some("roleDefinitionId eq 'x'")).is_err());
        assert!(parse_filter(Some("principalId eq x")).is_err());
    }
}
