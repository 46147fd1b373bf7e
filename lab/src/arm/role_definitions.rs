//! `Microsoft.Authorization/roleDefinitions` (get, list with `$filter=roleName eq '…'` or
//! `type eq 'BuiltInRole'|'CustomRole'`, PUT and DELETE of custom roles, as `az role
//! definition create` does) and `Microsoft.Authorization/permissions` (the caller's
//! effective permission blocks at a scope, inherited from parent scopes).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ArmError, ArmResult, Ctx, json_response, method_not_allowed};
use crate::state::{Permission, RoleDefinition, State};

const READ: &str = "Microsoft.Authorization/roleDefinitions/read";
const WRITE: &str = "Microsoft.Authorization/roleDefinitions/write";
const DELETE: &str = "Microsoft.Authorization/roleDefinitions/delete";

fn id_of(state: &State, d: &RoleDefinition) -> String {
    format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}",
        state.world.subscription_id, d.guid
    )
}

fn permission_json(p: &Permission) -> Value {
    json!({
        "actions": p.actions,
        "notActions": p.not_actions,
        "dataActions": p.data_actions,
        "notDataActions": p.not_data_actions,
    })
}

/// The JSON shape of a role definition.
pub fn to_json(state: &State, d: &RoleDefinition) -> Value {
    json!({
        "id": id_of(state, d),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": d.guid,
        "properties": {
            "roleName": d.role_name,
            "type": d.role_type(),
            "description": d.description,
            "assignableScopes": d.assignable_scopes,
            "permissions": d.permissions.iter().map(permission_json).collect::<Vec<_>>(),
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-01-01T00:00:00.0000000Z",
            "createdBy": null,
            "updatedBy": null,
        }
    })
}

fn not_found(name: &str) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "RoleDefinitionDoesNotExist",
        format!("The specified role definition with ID '{name}' does not exist."),
    )
}

/// `$filter`: `roleName eq 'X'` or `type eq 'BuiltInRole'|'CustomRole'`.
fn parse_filter(raw: Option<&str>) -> Result<Option<(bool, String)>, ArmError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let invalid = || {
        ArmError::bad_request(
            "InvalidFilterInQueryString",
            format!(
                "The filter '{raw}' is not supported. Supported filters: roleName eq '{{name}}', type eq 'BuiltInRole' or 'CustomRole'."
            ),
        )
    };
    let (field, value) = raw.split_once(" eq ").ok_or_else(invalid)?;
    let value =
        value.trim().strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).ok_or_else(invalid)?;
    match field.trim().to_ascii_lowercase().as_str() {
        "rolename" => Ok(Some((true, value.to_string()))),
        "type" => Ok(Some((false, value.to_string()))),
        _ => Err(invalid()),
    }
}

pub(super) fn list(state: &mut State, ctx: &Ctx, scope: &str) -> ArmResult {
    if ctx.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    ctx.authorize(state, scope, READ)?;
    let filter = parse_filter(ctx.query("$filter"))?;
    let value: Vec<Value> = state
        .role_definitions_for(scope)
        .filter(|d| match &filter {
            None => true,
            Some((true, name)) => d.role_name.eq_ignore_ascii_case(name),
            Some((false, ty)) => d.role_type().eq_ignore_ascii_case(ty),
        })
        .map(|d| to_json(state, d))
        .collect();
    Ok(json_response(StatusCode::OK, json!({ "value": value })))
}

pub(super) fn single(state: &mut State, ctx: &Ctx, scope: &str, name: &str) -> ArmResult {
    match ctx.method {
        Method::GET => {
            ctx.authorize(state, scope, READ)?;
            let d = state.role_definition(name).ok_or_else(|| not_found(name))?;
            Ok(json_response(StatusCode::OK, to_json(state, d)))
        }
        Method::PUT => put(state, ctx, scope, name),
        Method::DELETE => {
            ctx.authorize(state, scope, DELETE)?;
            let Some(i) = state
                .role_definitions
                .iter()
                .position(|d| d.custom && d.guid.eq_ignore_ascii_case(name))
            else {
                return Ok(json_response(StatusCode::NO_CONTENT, Value::Null));
            };
            let guid = state.role_definitions[i].guid.clone();
            if state.live_role_assignments().any(|a| a.role_guid() == guid) {
                return Err(ArmError::bad_request(
                    "RoleDefinitionHasAssignments",
                    "There are existing role assignments referencing role. Delete them before deleting the role definition.",
                ));
            }
            let d = state.role_definitions.remove(i);
            Ok(json_response(StatusCode::OK, to_json(state, &d)))
        }
        _ => Err(method_not_allowed(ctx)),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn put(state: &mut State, ctx: &Ctx, scope: &str, name: &str) -> ArmResult {
    ctx.authorize(state, scope, WRITE)?;
    if uuid::Uuid::try_parse(name).is_err() {
        return Err(ArmError::bad_request(
            "InvalidRoleDefinitionId",
            format!(
                "The role definition ID '{name}' is not valid. The role definition ID must be a GUID."
            ),
        ));
    }
    let body = ctx.json_body()?;
    let props = body.get("properties").filter(|p| p.is_object()).ok_or_else(|| {
        ArmError::invalid_body(
            "The request content was invalid: the 'properties' object is required.",
        )
    })?;
    let role_name = props.get("roleName").and_then(Value::as_str).unwrap_or("").to_string();
    if role_name.is_empty() {
        return Err(ArmError::bad_request(
            "RoleDefinitionNameNullOrEmpty",
            "The role definition name cannot be null or empty.",
        ));
    }
    let assignable_scopes = strings(props.get("assignableScopes"));
    if assignable_scopes.is_empty() {
        return Err(ArmError::bad_request(
            "MissingAssignableScopes",
            "At least one assignable scope is required.",
        ));
    }
    let permissions: Vec<Permission> = props
        .get("permissions")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| Permission {
                    actions: strings(p.get("actions")),
                    not_actions: strings(p.get("notActions")),
                    data_actions: strings(p.get("dataActions")),
                    not_data_actions: strings(p.get("notDataActions")),
                })
                .collect()
        })
        .unwrap_or_default();
    let guid = name.to_ascii_lowercase();
    if state.role_definitions.iter().any(|d| !d.custom && d.guid == guid) {
        return Err(ArmError::bad_request(
            "RoleDefinitionIsBuiltIn",
            "Built-in role definitions cannot be changed.",
        ));
    }
    if state
        .role_definitions
        .iter()
        .any(|d| d.guid != guid && d.role_name.eq_ignore_ascii_case(&role_name))
    {
        return Err(ArmError::new(
            StatusCode::CONFLICT,
            "RoleDefinitionWithSameNameExists",
            "A custom role with the same name already exists in this directory. Use a different name.",
        ));
    }
    let def = RoleDefinition {
        guid: guid.clone(),
        role_name,
        description: props.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
        custom: true,
        permissions,
        assignable_scopes,
    };
    let created = match state.role_definitions.iter_mut().find(|d| d.guid == guid) {
        Some(d) => {
            *d = def.clone();
            false
        }
        None => {
            state.role_definitions.push(def.clone());
            true
        }
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, to_json(state, &def)))
}

/// `GET {scope}/providers/Microsoft.Authorization/permissions`: the caller's own
/// permission blocks at `scope` (no role needed: every principal may read its own).
pub(super) fn permissions(state: &mut State, ctx: &Ctx, scope: &str) -> ArmResult {
    if ctx.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let value: Vec<Value> =
        state.permissions_at(&ctx.caller.oid, scope).iter().map(permission_json).collect();
    Ok(json_response(StatusCode::OK, json!({ "value": value, "nextLink": null })))
}
