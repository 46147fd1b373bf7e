//! `acr-chaos diagnose POD`: find the cause of a failing image pull.
//!
//! 1. [`pod`]: read the pod's container statuses (waiting reason and message) and its
//!    events, and classify every message with [`crate::classify`].
//! 2. Run the troubleshooting guide's checks on the real target, each giving a
//!    [`Status`] and the facts seen ([`Check::evidence`]):
//!    [`network`] (the registry's `publicNetworkAccess`/`networkRuleSet`, and whether the
//!    registry answers from where acr-chaos runs), [`identity`] (the kubelet identity
//!    holds AcrPull or more at some scope), [`secrets`] (the pod's imagePullSecrets
//!    exist, are dockerconfigjson for the image's host, and the token service accepts
//!    them) and [`image`] (the tag exists).
//! 3. [`fixes`]: the fix for each failed check, with the `az`/`kubectl` command and the
//!    target's real names filled in. [`render`] prints text or the JSON object
//!    documented on [`Diagnosis`].
//!
//! Credentials read from pull secrets or token services are never printed.

pub mod cli;
pub mod fixes;
pub mod identity;
pub mod image;
pub mod network;
pub mod pod;
pub mod render;
pub mod secrets;

use crate::classify::Cause;
use crate::clients::ClientError;
use crate::clients::arm::ArmClient;
use crate::clients::credential::TokenSource;
use crate::clients::kube::Kube;
use crate::clients::registry::RegistryClient;
use serde::Serialize;
use std::sync::Arc;

/// Errors of `diagnose`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiagnoseError {
    /// The pod does not exist.
    #[error("pod {namespace}/{name} not found")]
    PodNotFound { namespace: String, name: String },
    /// The pod has no container to diagnose.
    #[error("pod {namespace}/{name} has no containers")]
    NoContainer { namespace: String, name: String },
    /// Reading the pod or its events failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The check holds: not a cause.
    Pass,
    /// The check fails: a cause (see the fixes).
    Fail,
    /// The check could not decide (an API refused, a fact is not visible from here).
    Unknown,
    /// The check does not apply to this image (e.g. role checks for another registry).
    Skipped,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unknown => "????",
            Status::Skipped => "skip",
        }
    }
}

/// One check: `name` (stable id), `status`, a one-line `summary` and the facts seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub summary: String,
    pub evidence: Vec<String>,
}

impl Check {
    pub fn new(name: &'static str, status: Status, summary: impl Into<String>) -> Self {
        Self { name, status, summary: summary.into(), evidence: Vec::new() }
    }
    pub fn with(mut self, fact: impl Into<String>) -> Self {
        self.evidence.push(fact.into());
        self
    }
}

/// Check names, as they appear in `checks[].name`.
pub mod names {
    pub const REGISTRY_NETWORK: &str = "registry-network";
    pub const REGISTRY_REACHABLE: &str = "registry-reachable";
    pub const KUBELET_IDENTITY_ROLE: &str = "kubelet-identity-role";
    pub const PULL_SECRET: &str = "pull-secret";
    pub const PULL_SECRET_CREDENTIALS: &str = "pull-secret-credentials";
    pub const IMAGE_TAG: &str = "image-tag";
}

/// A cause found in the pod's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseOut {
    pub id: &'static str,
    pub explanation: &'static str,
    pub remediation: &'static str,
}

impl From<Cause> for CauseOut {
    fn from(c: Cause) -> Self {
        CauseOut { id: c.id(), explanation: c.explanation(), remediation: c.remediation() }
    }
}

/// A fix: why (`reason`, naming the failed check or cause) and the command to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// The check or cause id this fix answers.
    #[serde(rename = "for")]
    pub for_: String,
    pub reason: String,
    pub command: String,
}

/// The result of `diagnose` (`--output json` prints exactly this object):
///
/// ```json
/// {"pod": "web-1", "namespace": "shop", "container": "web", "image": "acr.azurecr.io/web:1",
///  "waitingReason": "ErrImagePull", "message": "…", "events": ["…"],
///  "causes": [{"id": "unauthorized-anonymous", "explanation": "…", "remediation": "…"}],
///  "checks": [{"name": "kubelet-identity-role", "status": "fail", "summary": "…",
///              "evidence": ["…"]}],
///  "fixes": [{"for": "kubelet-identity-role", "reason": "…", "command": "az aks update …"}]}
/// ```
///
/// `status` is one of `pass`, `fail`, `unknown`, `skipped`. `causes` come from the pod's
/// status and event messages (signatures.md §5); `checks` from the target itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub pod: String,
    pub namespace: String,
    pub container: String,
    pub image: String,
    pub waiting_reason: Option<String>,
    pub message: Option<String>,
    /// Distinct messages of the pod's events (newest last).
    pub events: Vec<String>,
    pub causes: Vec<CauseOut>,
    pub checks: Vec<Check>,
    pub fixes: Vec<Fix>,
}

impl Diagnosis {
    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
    /// Whether a cause with this id was found.
    pub fn has_cause(&self, c: Cause) -> bool {
        self.causes.iter().any(|x| x.id == c.id())
    }
}

/// The target as `diagnose` sees it: live clients and the ARM ids it checks.
#[derive(Debug, Clone)]
pub struct Context {
    pub arm: ArmClient,
    pub kube: Kube,
    pub registry: RegistryClient,
    /// Tokens for ACR's `/oauth2/exchange` (audience `https://containerregistry.azure.net`),
    /// used to look the tag up with acr-chaos's own identity when the pod has no secret.
    pub registry_tokens: Option<Arc<dyn TokenSource>>,
    pub tenant_id: Option<String>,
    pub registry_id: String,
    pub cluster_id: String,
    pub nsg_id: Option<String>,
}

/// Facts gathered by the checks and used by the fixes.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub image: image::ImageRef,
    /// `loginServer` of the target registry (from ARM), when it could be read.
    pub login_server: Option<String>,
    /// Whether the image is on the target registry.
    pub is_target_registry: bool,
    pub kubelet_object_id: Option<String>,
    pub public_network_disabled: bool,
    pub default_action_deny: bool,
    /// The registry's token service answered 403 to acr-chaos (its firewall).
    pub firewall_refuses_us: bool,
    /// `GET /v2/` got no answer from here: later registry calls are not attempted.
    pub unreachable: bool,
    /// Pull secrets the pod names, and the usernames found in them for the image's host.
    pub secret_names: Vec<String>,
    pub secret_usernames: Vec<String>,
}

/// Name and resource group of an ARM id (`…/resourceGroups/<rg>/providers/…/<name>`).
pub fn arm_name_rg(id: &str) -> (String, String) {
    let parts: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    let name = parts.last().copied().unwrap_or_default().to_string();
    let rg = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| parts.get(i + 1))
        .copied()
        .unwrap_or_default()
        .to_string();
    (name, rg)
}

/// Diagnose pod `namespace/name` on the target.
pub async fn diagnose(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Diagnosis, DiagnoseError> {
    let seen = pod::read(&ctx.kube, namespace, name).await?;
    let mut facts = Facts {
        namespace: namespace.to_string(),
        pod: name.to_string(),
        container: seen.container.clone(),
        image: image::ImageRef::parse(&seen.image),
        ..Default::default()
    };
    let mut checks = Vec::new();
    checks.push(network::registry_network(ctx, &mut facts).await);
    checks.push(network::reachable(ctx, &mut facts).await);
    network::confirm_firewall(&mut checks[0], &facts, &seen.causes);
    checks.push(identity::kubelet_role(ctx, &mut facts).await);
    let (secret_check, cred_check, accepted) =
        secrets::pull_secrets(ctx, &mut facts, &seen.pull_secrets).await;
    checks.push(secret_check);
    checks.push(cred_check);
    checks.push(image::tag_exists(ctx, &facts, accepted.as_ref()).await);
    let fixes = fixes::fixes(ctx, &facts, &checks, &seen.causes);
    Ok(Diagnosis {
        pod: name.to_string(),
        namespace: namespace.to_string(),
        container: seen.container,
        image: seen.image,
        waiting_reason: seen.waiting_reason,
        message: seen.message,
        events: seen.events,
        causes: seen.causes.into_iter().map(CauseOut::from).collect(),
        checks,
        fixes,
    })
}
