//! `Microsoft.ContainerRegistry/registries/scopeMaps` (read): the system scope maps every
//! Premium registry has (`_repositories_*`, `SystemDefined`) and one user scope map per
//! repository-scoped token (`{token}-scope-map`, the name `az acr token create
//! --repository` gives it), whose actions are the token's repositories' `content/read`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ArmError, ArmResult, Ctx, json_response, method_not_allowed};
use crate::state::State;
use crate::world::RegistryRef;

const KIND: &str = "Microsoft.ContainerRegistry/registries/scopeMaps";
const READ: &str = "Microsoft.ContainerRegistry/registries/scopeMaps/read";
const CREATED: &str = "2024-01-01T00:00:00.0000000Z";

/// ACR's system scope maps: name, description, actions.
const SYSTEM: [(&str, &str, &[&str]); 5] = [
    (
        "_repositories_admin",
        "Can perform all read, write and delete operations on the registry",
        &[
            "repositories/*/metadata/read",
            "repositories/*/metadata/write",
            "repositories/*/content/read",
            "repositories/*/content/write",
            "repositories/*/content/delete",
        ],
    ),
    (
        "_repositories_pull",
        "Can pull any repository of the registry",
        &["repositories/*/content/read"],
    ),
    (
        "_repositories_pull_metadata_read",
        "Can perform all read operations on the registry",
        &["repositories/*/content/read", "repositories/*/metadata/read"],
    ),
    (
        "_repositories_push",
        "Can push to any repository of the registry",
        &["repositories/*/content/read", "repositories/*/content/write"],
    ),
    (
        "_repositories_push_metadata_write",
        "Can perform all read and write operations on the registry",
        &[
            "repositories/*/metadata/read",
            "repositories/*/metadata/write",
            "repositories/*/content/read",
            "repositories/*/content/write",
        ],
    ),
];

/// `rest`: what follows `registries/{name}/scopeMaps`.
pub(super) fn route(
    state: &State,
    ctx: &Ctx,
    reg: RegistryRef,
    registry_id: &str,
    rest: &[&str],
) -> ArmResult {
    if ctx.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    ctx.authorize(state, registry_id, READ)?;
    let all = scope_maps(state, reg, registry_id);
    match rest {
        [] => Ok(json_response(StatusCode::OK, json!({ "value": all }))),
        [name] => all
            .into_iter()
            .find(|m| m["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|m| json_response(StatusCode::OK, m))
            .ok_or_else(|| {
                let registry = registry_id.rsplit('/').next().unwrap_or_default();
                ArmError::resource_not_found(
                    &format!("Microsoft.ContainerRegistry/registries/{registry}/scopeMaps"),
                    name,
                    &state.world.resource_group,
                )
            }),
        _ => Err(super::unknown_path(ctx)),
    }
}

fn scope_maps(state: &State, reg: RegistryRef, registry_id: &str) -> Vec<Value> {
    let system = SYSTEM.iter().map(|(name, description, actions)| {
        scope_map(
            registry_id,
            name,
            description,
            "SystemDefined",
            actions.iter().map(|a| a.to_string()),
        )
    });
    let tokens = state.tokens_of(reg).iter().map(|t| {
        let actions = t.repositories.iter().map(|r| format!("repositories/{r}/content/read"));
        scope_map(
            registry_id,
            &format!("{}-scope-map", t.name),
            &format!("Scope map for token '{}'", t.name),
            "UserDefined",
            actions,
        )
    });
    system.chain(tokens).collect()
}

fn scope_map(
    registry_id: &str,
    name: &str,
    description: &str,
    kind: &str,
    actions: impl Iterator<Item = String>,
) -> Value {
    json!({
        "id": format!("{registry_id}/scopeMaps/{name}"),
        "name": name,
        "type": KIND,
        "properties": {
            "description": description,
            "type": kind,
            "creationDate": CREATED,
            "provisioningState": "Succeeded",
            "actions": actions.collect::<Vec<_>>(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_scope_maps_are_the_ones_acr_has() {
        let names: Vec<&str> = SYSTEM.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(
            names,
            [
                "_repositories_admin",
                "_repositories_pull",
                "_repositories_pull_metadata_read",
                "_repositories_push",
                "_repositories_push_metadata_write"
            ]
        );
        let pull = SYSTEM.iter().find(|(n, _, _)| *n == "_repositories_pull").unwrap();
        assert_eq!(pull.2, ["repositories/*/content/read"]);
    }
}
