//! What a fault (or the engine around it) needs to be allowed to do: ARM actions at a
//! scope and Kubernetes verbs on resources, each with the reason (a change, its undo, or a
//! read), so preflight can prove the run's identity holds every one of them — including
//! what the undo needs — before the first change.

use std::fmt;

/// Why a permission is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Reading state (snapshots, lookups, observing probes).
    Read,
    /// Making the change.
    Change,
    /// Undoing the change (restore and `recover`).
    Undo,
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Purpose::Read => "to read",
            Purpose::Change => "to make the change",
            Purpose::Undo => "to undo the change",
        })
    }
}

/// One permission.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// An ARM action (`Microsoft.Authorization/roleAssignments/write`) at a scope.
    Arm { action: String, scope: String },
    /// A Kubernetes verb on `resource` of API `group` (namespace `None`: cluster scope).
    Kube { verb: String, group: String, resource: String, namespace: Option<String> },
}

impl Permission {
    pub fn arm(action: &str, scope: &str) -> Self {
        Permission::Arm { action: action.to_string(), scope: scope.to_string() }
    }

    pub fn kube(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Self {
        Permission::Kube {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::Arm { action, scope } => write!(f, "Azure '{action}' at {scope}"),
            Permission::Kube { verb, group, resource, namespace } => {
                let res =
                    if group.is_empty() { resource.clone() } else { format!("{resource}.{group}") };
                match namespace {
                    Some(ns) => write!(f, "Kubernetes '{verb}' on {res} in namespace {ns}"),
                    None => write!(f, "Kubernetes '{verb}' on {res} (cluster scope)"),
                }
            }
        }
    }
}

/// A permission and why it is needed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Need {
    pub permission: Permission,
    pub purpose: Purpose,
}

impl Need {
    pub fn arm(action: &str, scope: &str, purpose: Purpose) -> Self {
        Need { permission: Permission::arm(action, scope), purpose }
    }

    pub fn kube(verb: &str, resource: &str, namespace: Option<&str>, purpose: Purpose) -> Self {
        Need { permission: Permission::kube(verb, "", resource, namespace), purpose }
    }
}

pub const ROLE_ASSIGNMENTS_READ: &str = "Microsoft.Authorization/roleAssignments/read";
pub const ROLE_ASSIGNMENTS_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
pub const ROLE_ASSIGNMENTS_DELETE: &str = "Microsoft.Authorization/roleAssignments/delete";

/// Deleting role assignments at `scope` and re-creating them (acr-detach,
/// role-assignment-delete).
pub fn role_assignment_delete_needs(scope: &str) -> Vec<Need> {
    vec![
        Need::arm(ROLE_ASSIGNMENTS_READ, scope, Purpose::Read),
        Need::arm(ROLE_ASSIGNMENTS_DELETE, scope, Purpose::Change),
        Need::arm(ROLE_ASSIGNMENTS_WRITE, scope, Purpose::Undo),
    ]
}

/// Writing Secrets in the run namespace and deleting or restoring them.
pub fn run_secret_needs(namespace: &str) -> Vec<Need> {
    let ns = Some(namespace);
    vec![
        Need::kube("get", "secrets", ns, Purpose::Read),
        Need::kube("create", "secrets", ns, Purpose::Change),
        Need::kube("update", "secrets", ns, Purpose::Change),
        Need::kube("update", "secrets", ns, Purpose::Undo),
        Need::kube("delete", "secrets", ns, Purpose::Undo),
    ]
}
