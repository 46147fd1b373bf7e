//! Faults: one file per kind, each implementing [`Fault`]. A fault describes the exact
//! changes it makes (for `--dry-run` and the report), snapshots the prior state as
//! [`Undo`] entries (journaled by the engine BEFORE any change), injects, and may alter
//! the probe per [`Phase`]. Restoring is generic: [`undo::apply`] replays an entry
//! idempotently and [`undo::verify`] checks it holds, so `recover` needs no fault object.

pub mod acr_detach;
pub mod image_tag_missing;
pub mod network_path_cut;
pub mod permissions;
pub mod private_registry_no_secret;
pub mod pull_secret_expired;
pub mod pull_secret_missing;
pub mod pull_secret_wrong;
pub mod registry_firewall_deny;
pub mod role_assignment_delete;
pub mod undo;

use crate::clients::ClientError;
use crate::clients::arm::ArmClient;
use crate::clients::kube::Kube;
pub use crate::scenario::FaultKind;
use async_trait::async_trait;
use std::time::Duration;
pub use undo::Undo;

/// Errors of the fault layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The target is not in the state the fault needs (e.g. nothing to detach).
    #[error("{fault}: {message}")]
    Precondition { fault: FaultKind, message: String },
    /// A restore did not hold when checked.
    #[error("restore check failed: {0}")]
    NotRestored(String),
    /// A fault names a registry alias the target does not define.
    #[error(
        "registry alias '{alias}' is not in the target's azure.registries (defined: {defined})"
    )]
    UnknownRegistry { alias: String, defined: String },
}

impl FaultError {
    /// Worth trying again: a transient client failure, or a restore that does not show yet.
    pub fn is_transient(&self) -> bool {
        match self {
            FaultError::Client(e) => e.is_transient(),
            FaultError::NotRestored(_) => true,
            FaultError::Precondition { .. } | FaultError::UnknownRegistry { .. } => false,
        }
    }
}

/// Facts about the target a fault works with, resolved once per run.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub subscription_id: String,
    pub registry_id: String,
    pub cluster_id: String,
    pub nsg_id: Option<String>,
    /// Object id of the cluster's kubelet identity (from managedClusters GET).
    pub kubelet_object_id: Option<String>,
    /// The registry's login server (e.g. `myacr.azurecr.io`).
    pub registry_login_server: Option<String>,
    /// The namespace probes run in for this scenario.
    pub run_namespace: String,
    pub run_id: String,
    pub scenario: String,
    /// Name of the target's private-registry pull secret (copied into the run namespace).
    pub private_registry_secret: Option<String>,
    /// How much to shorten waits that the fault itself imposes (1.0 = real time).
    pub time_scale: f64,
}

impl Env {
    /// `/subscriptions/{sub}/resourceGroups/{rg}` of the registry.
    pub fn registry_resource_group(&self) -> String {
        self.registry_id.split('/').take(5).collect::<Vec<_>>().join("/")
    }
    pub fn subscription_scope(&self) -> String {
        format!("/subscriptions/{}", self.subscription_id)
    }
}

/// What the engine needs to talk to the target.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub arm: &'a ArmClient,
    pub kube: &'a Kube,
    pub env: &'a Env,
}

/// A probe: image and pull secrets (namespace, labels and the rest come from the engine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    pub image: String,
    pub pull_secrets: Vec<String>,
}

/// Which probe is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the fault: must pull.
    Baseline,
    /// After the injection: must fail as expected.
    Faulted,
    /// After the restore: must pull again.
    Recovery,
}

/// Resource locks for conflict-aware scheduling: two scenarios sharing a lock never run
/// at the same time. Namespace-local faults take none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lock {
    Registry(String),
    Identity(String),
    Nsg(String),
}

/// One fault kind.
#[async_trait]
pub trait Fault: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> FaultKind;
    /// Shared resources this fault changes.
    fn locks(&self, env: &Env) -> Vec<Lock>;
    /// ARM ids this fault changes (all must be in the target's allowlist).
    fn arm_ids(&self, env: &Env) -> Vec<String>;
    /// Every permission the fault's snapshot, change and undo need (checked in preflight,
    /// before the first change). The engine adds what every scenario needs.
    fn required_permissions(&self, env: &Env) -> Vec<permissions::Need>;
    /// The exact changes, one line each (method, path, body summary).
    fn describe(&self, env: &Env) -> Vec<String>;
    /// The probe for a phase, from the scenario's own probe.
    fn probe(&self, _env: &Env, base: &ProbePlan, _phase: Phase) -> ProbePlan {
        base.clone()
    }
    /// Whether node credentials can mask this fault: the kubelet tries the node's own
    /// registry credentials (the kubelet identity through the ACR credential provider)
    /// besides the pod's pull secrets, so a broken pull secret never fails a pull from a
    /// registry the cluster is attached to. When true, the engine checks in preflight
    /// that a deliberately bogus pull secret breaks the faulted probe's pull on this
    /// target, and skips the scenario when it does not.
    fn masked_by_node_credentials(&self) -> bool {
        false
    }
    /// Record the prior state. May create backups (e.g. a copy of a Secret); changes
    /// nothing that matters to pulls.
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError>;
    /// Make the change(s). `snapshot` is what [`Fault::snapshot`] returned (journaled).
    /// Returns one human line per change made.
    async fn inject(&self, ctx: &Ctx<'_>, snapshot: &[Undo]) -> Result<Vec<String>, FaultError>;
}

/// Build the fault of a scenario. `registries` are the target's other registries by
/// alias (`azure.registries`); a fault naming an alias not there is refused.
pub fn for_scenario(
    f: &crate::scenario::Fault,
    registries: &std::collections::BTreeMap<String, String>,
) -> Result<Box<dyn Fault>, FaultError> {
    use crate::scenario::Fault as F;
    let registry = |alias: &Option<crate::scenario::values::DnsLabel>| match alias {
        None => Ok(None),
        Some(a) => registries.get(&a.to_string()).cloned().map(Some).ok_or_else(|| {
            FaultError::UnknownRegistry {
                alias: a.to_string(),
                defined: if registries.is_empty() {
                    "none".to_string()
                } else {
                    registries.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            }
        }),
    };
    Ok(match f {
        F::AcrDetach(p) => Box::new(acr_detach::AcrDetach { registry_id: registry(&p.registry)? }),
        F::RoleAssignmentDelete(p) => Box::new(role_assignment_delete::RoleAssignmentDelete {
            principal: match &p.principal {
                crate::scenario::values::Principal::Kubelet => None,
                crate::scenario::values::Principal::ObjectId(g) => Some(g.to_string()),
            },
            role_guid: p.role.definition_id().to_ascii_lowercase(),
            role_name: p.role.to_string(),
            scope: p.scope.clone(),
        }),
        F::RegistryFirewallDeny(p) => Box::new(registry_firewall_deny::RegistryFirewallDeny {
            public_access_disabled: matches!(
                p.mode,
                crate::scenario::FirewallMode::PublicAccessDisabled
            ),
            allow_ips: p.allow_ips.iter().map(|c| c.to_string()).collect(),
        }),
        F::PullSecretExpired(p) => Box::new(pull_secret_expired::PullSecretExpired {
            token: p.token.to_string(),
            expiry: p.expiry.into(),
            registry_id: registry(&p.registry)?,
        }),
        F::PullSecretWrong(p) => Box::new(pull_secret_wrong::PullSecretWrong {
            secret: p.secret.as_ref().map(|s| s.to_string()),
        }),
        F::PullSecretMissing(p) => {
            Box::new(pull_secret_missing::PullSecretMissing { secret: p.secret.to_string() })
        }
        F::ImageTagMissing(p) => {
            Box::new(image_tag_missing::ImageTagMissing { tag: p.tag.to_string() })
        }
        F::PrivateRegistryNoSecret(_) => {
            Box::new(private_registry_no_secret::PrivateRegistryNoSecret)
        }
        F::NetworkPathCut(p) => Box::new(network_path_cut::NetworkPathCut {
            rule_name: p.nsg_rule.name.to_string(),
            priority: p.nsg_rule.priority,
        }),
    })
}

/// Scale a wait imposed by a fault (e.g. a credential expiry).
pub fn scaled(d: Duration, env: &Env) -> Duration {
    if env.time_scale > 0.0 && env.time_scale < 1.0 { d.mul_f64(env.time_scale) } else { d }
}

/// Replace `tag` in an image reference (keeps host and path; drops any digest).
pub fn with_tag(image: &str, tag: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let (head, last) = match no_digest.rsplit_once('/') {
        Some((h, l)) => (Some(h), l),
        None => (None, no_digest),
    };
    let name = last.split(':').next().unwrap_or(last);
    match head {
        Some(h) => format!("{h}/{name}:{tag}"),
        None => format!("{name}:{tag}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_replaced() {
        assert_eq!(with_tag("a.io:5000/x/y:1", "nope"), "a.io:5000/x/y:nope");
        assert_eq!(with_tag("a.io/x", "nope"), "a.io/x:nope");
        assert_eq!(with_tag("nginx", "t"), "nginx:t");
    }

    #[test]
    fn pull_secret_expired_resolves_its_registry_alias() {
        let team = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/team";
        let fault = |registry: Option<&str>| {
            crate::scenario::Fault::PullSecretExpired(crate::scenario::PullSecretExpired {
                token: "acr-chaos-probe".parse().unwrap(),
                expiry: "30s".parse().unwrap(),
                registry: registry.map(|r| r.parse().unwrap()),
            })
        };
        let registries = std::collections::BTreeMap::from([("team".to_string(), team.into())]);
        let env =
            Env { registry_id: "/subscriptions/s/x/registries/main".into(), ..Default::default() };
        let f = for_scenario(&fault(Some("team")), &registries).unwrap();
        assert_eq!(f.arm_ids(&env), [format!("{team}/tokens/acr-chaos-probe")]);
        assert!(f.masked_by_node_credentials());
        let f = for_scenario(&fault(None), &registries).unwrap();
        assert_eq!(f.arm_ids(&env), ["/subscriptions/s/x/registries/main/tokens/acr-chaos-probe"]);
        let e = for_scenario(&fault(Some("other")), &registries).err().unwrap().to_string();
        assert!(e.contains("'other'") && e.contains("defined: team"), "{e}");
    }

    /// The `registry:` alias of acr-detach, through the example in docs/scenarios.md.
    #[test]
    fn acr_detach_detaches_the_aliased_registry_of_the_docs_example() {
        let docs = include_str!("../../docs/scenarios.md");
        let example = docs
            .split("```yaml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .find(|b| b.contains("kind: acr-detach") && b.contains("registry: team"))
            .expect("docs/scenarios.md shows acr-detach with a registry alias");
        let loaded =
            crate::scenario::load_str(std::path::Path::new("docs/scenarios.md"), example).unwrap();
        let scenario = &loaded.scenarios[0].scenario;
        let team = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/team";
        let registries = std::collections::BTreeMap::from([("team".to_string(), team.into())]);
        let env = Env {
            registry_id: "/subscriptions/s/x/registries/main".into(),
            kubelet_object_id: Some("k".into()),
            ..Default::default()
        };
        let f = for_scenario(&scenario.fault, &registries).unwrap();
        assert_eq!(f.kind(), FaultKind::AcrDetach);
        assert_eq!(f.arm_ids(&env), [team]);
        assert!(f.locks(&env).contains(&Lock::Registry(team.to_ascii_lowercase())));
        assert!(f.describe(&env)[0].starts_with(&format!("DELETE {team}/")));
        let e = for_scenario(&scenario.fault, &Default::default()).err().unwrap().to_string();
        assert!(e.contains("'team'") && e.contains("defined: none"), "{e}");
    }

    #[test]
    fn scopes_from_registry_id() {
        let env = Env {
            subscription_id: "s".into(),
            registry_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r".into(),
            ..Default::default()
        };
        assert_eq!(env.registry_resource_group(), "/subscriptions/s/resourceGroups/rg");
        assert_eq!(env.subscription_scope(), "/subscriptions/s");
    }
}
