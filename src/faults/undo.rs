//! Undo entries: typed, serializable, secret-free. Each is idempotent: applying it when
//! the change never happened (or was already undone) is harmless.

use super::{Ctx, FaultError};
use crate::clients::arm::{RoleAssignmentProperties, role_assignment_id};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Undo {
    /// Re-create a role assignment under its original name with its original properties.
    CreateRoleAssignment { scope: String, name: String, properties: RoleAssignmentProperties },
    /// PATCH the registry's network settings back to these exact values.
    PatchRegistry { registry_id: String, network_rule_set: Value, public_network_access: Value },
    /// Delete a security rule acr-chaos added.
    DeleteSecurityRule { rule_id: String },
    /// Put the bytes of backup Secret `backup` back into Secret `name`, then delete the backup.
    RestoreSecret { namespace: String, name: String, backup: String },
    /// Delete a Secret acr-chaos created.
    DeleteSecret { namespace: String, name: String },
    /// Delete a probe namespace acr-chaos created (and everything in it).
    DeleteNamespace { namespace: String },
}

impl Undo {
    /// One line for the journal, the events and the report.
    pub fn describe(&self) -> String {
        match self {
            Undo::CreateRoleAssignment { scope, name, properties } => format!(
                "re-create role assignment {name} (role {}, principal {}) at {scope}",
                properties.role_guid(),
                properties.principal_id
            ),
            Undo::PatchRegistry { registry_id, network_rule_set, public_network_access } => {
                format!(
                    "PATCH {registry_id} networkRuleSet={network_rule_set} publicNetworkAccess={public_network_access}"
                )
            }
            Undo::DeleteSecurityRule { rule_id } => format!("DELETE {rule_id}"),
            Undo::RestoreSecret { namespace, name, backup } => {
                format!("restore Secret {namespace}/{name} from {backup}")
            }
            Undo::DeleteSecret { namespace, name } => format!("delete Secret {namespace}/{name}"),
            Undo::DeleteNamespace { namespace } => format!("delete Namespace {namespace}"),
        }
    }

    /// ARM ids this undo touches (guard rails on `recover`).
    pub fn arm_id(&self) -> Option<String> {
        match self {
            Undo::CreateRoleAssignment { scope, name, .. } => Some(role_assignment_id(scope, name)),
            Undo::PatchRegistry { registry_id, .. } => Some(registry_id.clone()),
            Undo::DeleteSecurityRule { rule_id } => Some(rule_id.clone()),
            _ => None,
        }
    }
}

/// Apply an undo (idempotent).
pub async fn apply(ctx: &Ctx<'_>, undo: &Undo) -> Result<(), FaultError> {
    match undo {
        Undo::CreateRoleAssignment { scope, name, properties } => {
            let id = role_assignment_id(scope, name);
            if let Some(cur) = ctx.arm.get_role_assignment(&id).await?
                && same_assignment(&cur.properties, properties)
            {
                return Ok(());
            }
            ctx.arm.put_role_assignment(scope, name, properties).await?;
        }
        Undo::PatchRegistry { registry_id, network_rule_set, public_network_access } => {
            let mut props = serde_json::Map::new();
            if !network_rule_set.is_null() {
                props.insert("networkRuleSet".into(), network_rule_set.clone());
            }
            if !public_network_access.is_null() {
                props.insert("publicNetworkAccess".into(), public_network_access.clone());
            }
            let body = serde_json::json!({ "properties": props });
            ctx.arm.patch_registry(registry_id, &body).await?;
        }
        Undo::DeleteSecurityRule { rule_id } => ctx.arm.delete_security_rule(rule_id).await?,
        Undo::RestoreSecret { namespace, name, backup } => {
            if let Some(b) = ctx.kube.get_secret(namespace, backup).await? {
                let mut s = b.clone();
                s.metadata.name = Some(name.clone());
                s.metadata.labels = None;
                s.metadata.annotations = None;
                ctx.kube.put_secret(namespace, &s).await?;
                ctx.kube.delete_secret(namespace, backup).await?;
            }
        }
        Undo::DeleteSecret { namespace, name } => ctx.kube.delete_secret(namespace, name).await?,
        Undo::DeleteNamespace { namespace } => ctx.kube.delete_namespace(namespace).await?,
    }
    Ok(())
}

/// Apply an undo and check that it holds, again and again while the failure is transient
/// (no answer, throttling, a 5xx, or a check that does not hold yet: ARM reads lag its
/// writes) until `deadline`. `retrying` is told of every failed attempt that will be
/// tried again. The last error comes back when the deadline passes.
pub async fn restore_until(
    ctx: &Ctx<'_>,
    undo: &Undo,
    deadline: tokio::time::Instant,
    mut retrying: impl FnMut(&FaultError, Duration),
) -> Result<(), FaultError> {
    use backon::{BackoffBuilder, ExponentialBuilder};
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(15))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        let err = match apply(ctx, undo).await {
            Ok(()) => match verify(ctx, undo).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            },
            Err(e) => e,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !err.is_transient() || left.is_zero() {
            return Err(err);
        }
        let wait = delays.next().unwrap_or(Duration::from_secs(15)).min(left);
        retrying(&err, wait);
        tokio::time::sleep(wait).await;
    }
}

/// Check that an applied undo holds.
pub async fn verify(ctx: &Ctx<'_>, undo: &Undo) -> Result<(), FaultError> {
    match undo {
        Undo::CreateRoleAssignment { scope, name, properties } => {
            let id = role_assignment_id(scope, name);
            match ctx.arm.get_role_assignment(&id).await? {
                Some(cur) if same_assignment(&cur.properties, properties) => Ok(()),
                Some(_) => {
                    Err(FaultError::NotRestored(format!("{id} exists with other properties")))
                }
                None => Err(FaultError::NotRestored(format!("{id} is missing"))),
            }
        }
        Undo::PatchRegistry { registry_id, network_rule_set, public_network_access } => {
            let r = ctx.arm.get_registry(registry_id).await?;
            let nrs = r.pointer("/properties/networkRuleSet").cloned().unwrap_or(Value::Null);
            let pna = r.pointer("/properties/publicNetworkAccess").cloned().unwrap_or(Value::Null);
            let nrs_ok = network_rule_set.is_null() || same_rule_set(&nrs, network_rule_set);
            let pna_ok = public_network_access.is_null() || &pna == public_network_access;
            if nrs_ok && pna_ok {
                Ok(())
            } else {
                Err(FaultError::NotRestored(format!(
                    "{registry_id}: networkRuleSet={nrs} publicNetworkAccess={pna}"
                )))
            }
        }
        Undo::DeleteSecurityRule { rule_id } => match ctx.arm.get_security_rule(rule_id).await? {
            None => Ok(()),
            Some(_) => Err(FaultError::NotRestored(format!("{rule_id} still exists"))),
        },
        Undo::RestoreSecret { namespace, name, .. } => {
            match ctx.kube.get_secret(namespace, name).await? {
                Some(_) => Ok(()),
                None => {
                    Err(FaultError::NotRestored(format!("Secret {namespace}/{name} is missing")))
                }
            }
        }
        Undo::DeleteSecret { namespace, name } => match ctx.kube.get_secret(namespace, name).await?
        {
            None => Ok(()),
            Some(_) => {
                Err(FaultError::NotRestored(format!("Secret {namespace}/{name} still exists")))
            }
        },
        Undo::DeleteNamespace { namespace } => {
            if ctx.kube.namespace_gone(namespace).await? {
                Ok(())
            } else {
                Err(FaultError::NotRestored(format!("Namespace {namespace} still exists")))
            }
        }
    }
}

/// Same principal, role (trailing GUID) and description/condition.
pub fn same_assignment(a: &RoleAssignmentProperties, b: &RoleAssignmentProperties) -> bool {
    a.principal_id.eq_ignore_ascii_case(&b.principal_id)
        && a.role_guid() == b.role_guid()
        && a.description == b.description
        && a.condition == b.condition
}

/// Rule sets compare on defaultAction (case-insensitive) and the set of ipRules values.
fn same_rule_set(a: &Value, b: &Value) -> bool {
    let action = |v: &Value| {
        v.get("defaultAction").and_then(Value::as_str).unwrap_or("Allow").to_ascii_lowercase()
    };
    let ips = |v: &Value| {
        let mut ips: Vec<String> = v
            .get("ipRules")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("value").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        ips.sort();
        ips
    };
    action(a) == action(b) && ips(a) == ips(b)
}
