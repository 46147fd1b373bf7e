//! Azure role definitions and how ARM authorizes with them: a principal may perform an
//! action at a scope when one of its role assignments at that scope or a parent scope
//! names a definition with a permission whose `actions` match the action and whose
//! `notActions` do not. Patterns are case-insensitive with `*` matching any run of
//! characters (`*`, `*/read`, `Microsoft.Authorization/*/Write`), as ARM evaluates them.
//! Built-in roles carry Azure's real permissions; custom roles come from the world file
//! in `az role definition create` JSON (e.g. docs/acr-chaos-role.json).

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{State, role_guid_of, scope_contains};
use crate::world::roles;

/// One permission block of a role definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

impl Permission {
    /// Whether this block grants `action` (an `actions` match not excluded by `notActions`).
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|p| action_matches(p, action))
            && !self.not_actions.iter().any(|p| action_matches(p, action))
    }
}

/// A role definition (built-in or custom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// GUID (lowercase).
    pub guid: String,
    pub role_name: String,
    pub description: String,
    pub custom: bool,
    pub permissions: Vec<Permission>,
    pub assignable_scopes: Vec<String>,
}

impl RoleDefinition {
    pub fn allows(&self, action: &str) -> bool {
        self.permissions.iter().any(|p| p.allows(action))
    }

    /// `roleType` as ARM writes it.
    pub fn role_type(&self) -> &'static str {
        if self.custom { "CustomRole" } else { "BuiltInRole" }
    }
}

/// A custom role as `az role definition create --role-definition FILE` takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CustomRoleSpec {
    pub name: String,
    /// GUID; derived from the name when absent (Azure assigns one on create).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub is_custom: Option<bool>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
    #[serde(default)]
    pub assignable_scopes: Vec<String>,
}

impl CustomRoleSpec {
    /// The definition's GUID: `Id`, else one derived from the name (stable across starts).
    pub fn guid(&self) -> String {
        if let Some(id) = &self.id {
            return role_guid_of(id);
        }
        let h = sha2::Sha256::digest(format!("acr-chaos-lab custom role {}", self.name));
        let mut b = [0u8; 16];
        b.copy_from_slice(&h[..16]);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        uuid::Uuid::from_bytes(b).to_string()
    }

    pub fn definition(&self) -> RoleDefinition {
        RoleDefinition {
            guid: self.guid(),
            role_name: self.name.clone(),
            description: self.description.clone(),
            custom: true,
            permissions: vec![Permission {
                actions: self.actions.clone(),
                not_actions: self.not_actions.clone(),
                data_actions: self.data_actions.clone(),
                not_data_actions: self.not_data_actions.clone(),
            }],
            assignable_scopes: self.assignable_scopes.clone(),
        }
    }
}

/// ARM's action wildcard match: case-insensitive, `*` matches any run of characters.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| go(rest, &a[i..])),
            Some((c, rest)) => {
                a.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &a[1..])
            }
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

fn builtin(
    guid: &str,
    name: &str,
    description: &str,
    actions: &[&str],
    not: &[&str],
) -> RoleDefinition {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    RoleDefinition {
        guid: guid.to_string(),
        role_name: name.to_string(),
        description: description.to_string(),
        custom: false,
        permissions: vec![Permission {
            actions: v(actions),
            not_actions: v(not),
            ..Permission::default()
        }],
        assignable_scopes: vec!["/".to_string()],
    }
}

/// The built-in roles the lab knows, with Azure's permissions.
pub fn builtin_roles() -> Vec<RoleDefinition> {
    vec![
        builtin(
            roles::OWNER,
            "Owner",
            "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
            &["*"],
            &[],
        ),
        builtin(
            roles::CONTRIBUTOR,
            "Contributor",
            "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
            &["*"],
            &[
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
                "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete",
                "Microsoft.Compute/galleries/share/action",
                "Microsoft.Purview/consents/write",
                "Microsoft.Purview/consents/delete",
                "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
                "Microsoft.Subscription/cancel/action",
                "Microsoft.Subscription/enable/action",
            ],
        ),
        builtin(
            roles::READER,
            "Reader",
            "View all resources, but does not allow you to make any changes.",
            &["*/read"],
            &[],
        ),
        builtin(
            roles::USER_ACCESS_ADMINISTRATOR,
            "User Access Administrator",
            "Lets you manage user access to Azure resources.",
            &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
            &[],
        ),
        builtin(
            roles::ACR_PULL,
            "AcrPull",
            "acr pull",
            &["Microsoft.ContainerRegistry/registries/pull/read"],
            &[],
        ),
        builtin(
            roles::ACR_PUSH,
            "AcrPush",
            "acr push",
            &[
                "Microsoft.ContainerRegistry/registries/pull/read",
                "Microsoft.ContainerRegistry/registries/push/write",
            ],
            &[],
        ),
        builtin(
            roles::ACR_DELETE,
            "AcrDelete",
            "acr delete",
            &["Microsoft.ContainerRegistry/registries/artifacts/delete"],
            &[],
        ),
    ]
}

impl State {
    /// A role definition by GUID or full id.
    pub fn role_definition(&self, id: &str) -> Option<&RoleDefinition> {
        let guid = role_guid_of(id);
        self.role_definitions.iter().find(|d| d.guid.eq_ignore_ascii_case(&guid))
    }

    /// The permission blocks that apply to a principal at `scope`: those of every role
    /// assignment at the scope or a parent scope that counts now (propagation delay).
    pub fn permissions_at(&self, principal_object_id: &str, scope: &str) -> Vec<Permission> {
        let mut out = Vec::new();
        for guid in self.effective_roles(principal_object_id, scope) {
            if let Some(d) = self.role_definition(&guid) {
                out.extend(d.permissions.iter().cloned());
            }
        }
        out
    }

    /// Whether a principal may perform `action` at `scope`.
    pub fn is_authorized(&self, principal_object_id: &str, scope: &str, action: &str) -> bool {
        self.permissions_at(principal_object_id, scope).iter().any(|p| p.allows(action))
    }

    /// Custom roles whose assignable scopes cover `scope`, and every built-in role.
    pub fn role_definitions_for(&self, scope: &str) -> impl Iterator<Item = &RoleDefinition> {
        let scope = scope.to_string();
        self.role_definitions.iter().filter(move |d| {
            !d.custom
                || d.assignable_scopes
                    .iter()
                    .any(|a| scope_contains(a, &scope) || scope_contains(&scope, a))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_arm_does() {
        assert!(action_matches("*", "Microsoft.Network/networkSecurityGroups/read"));
        assert!(action_matches("*/read", "Microsoft.ContainerRegistry/registries/read"));
        assert!(!action_matches("*/read", "Microsoft.ContainerRegistry/registries/write"));
        assert!(action_matches(
            "Microsoft.Authorization/*/Write",
            "microsoft.authorization/roleAssignments/write"
        ));
        assert!(!action_matches("Microsoft.Authorization/*", "Microsoft.Network/x/read"));
        assert!(action_matches(
            "Microsoft.Network/networkSecurityGroups/securityRules/*",
            "Microsoft.Network/networkSecurityGroups/securityRules/delete"
        ));
    }

    #[test]
    fn not_actions_subtract() {
        let roles = builtin_roles();
        let contributor = roles.iter().find(|r| r.role_name == "Contributor").unwrap();
        assert!(contributor.allows("Microsoft.ContainerRegistry/registries/write"));
        assert!(!contributor.allows("Microsoft.Authorization/roleAssignments/write"));
        assert!(!contributor.allows("Microsoft.Authorization/roleAssignments/delete"));
        assert!(contributor.allows("Microsoft.Authorization/roleAssignments/read"));
        let reader = roles.iter().find(|r| r.role_name == "Reader").unwrap();
        assert!(!reader.allows("Microsoft.Network/networkSecurityGroups/securityRules/write"));
    }

    #[test]
    fn the_documented_custom_role_loads_and_grants_exactly_its_actions() {
        let spec: CustomRoleSpec =
            serde_json::from_str(include_str!("../../../docs/acr-chaos-role.json")).unwrap();
        let d = spec.definition();
        assert!(d.custom);
        assert_eq!(d.guid, spec.guid(), "stable guid");
        assert!(d.allows("Microsoft.Authorization/roleAssignments/delete"));
        assert!(!d.allows("Microsoft.ContainerRegistry/registries/delete"));
        assert!(!d.allows("Microsoft.Authorization/roleDefinitions/write"));
    }
}
