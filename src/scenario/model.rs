//! The scenario file (`kind: Scenario`): plain data, no I/O.

use super::Duration;
use super::values::{
    AcrTokenName, Cidr, DnsLabel, ImageSpec, ImageTag, K8sName, MessageRegex, NonEmpty,
    NsgRuleName, Principal, Role, Scope,
};
use crate::classify::Cause;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only file format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[default]
    #[serde(rename = "acr-chaos/v1")]
    V1,
}

/// `kind: Scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ScenarioKind {
    #[default]
    Scenario,
}

/// One fault, injected into a target, with the failure the probe must show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "acr-chaos Scenario")]
pub struct Scenario {
    pub api_version: ApiVersion,
    pub kind: ScenarioKind,
    /// Unique name (DNS-1123 label); used in namespaces, reports and `--only`.
    pub name: DnsLabel,
    /// What this scenario proves, for humans and reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form tags for `--only`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<DnsLabel>,
    /// The fault to inject.
    pub fault: Fault,
    /// The pod that tries to pull.
    pub probe: Probe,
    /// What the probe must show while the fault is in place.
    pub expect: Expect,
    /// How long a fresh probe may take to pull again after the restore.
    #[serde(default)]
    pub recovery: Recovery,
    /// Alert assertions (executed by the alerting work; validated now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
}

/// The fault, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Detach the registry from the cluster: delete the kubelet identity's AcrPull
    /// assignments at the registry scope (what `az aks update --detach-acr` does).
    AcrDetach(AcrDetach),
    /// Delete one role assignment (principal, role, scope).
    RoleAssignmentDelete(RoleAssignmentDelete),
    /// Close the registry's firewall to the cluster.
    RegistryFirewallDeny(RegistryFirewallDeny),
    /// Pull with ACR token credentials generated with a short expiry, after it passes.
    PullSecretExpired(PullSecretExpired),
    /// Pull with a pull secret whose password is wrong.
    PullSecretWrong(PullSecretWrong),
    /// Reference a pull secret that does not exist.
    PullSecretMissing(PullSecretMissing),
    /// Probe a tag that does not exist.
    ImageTagMissing(ImageTagMissing),
    /// Probe a private repository on another registry without imagePullSecrets.
    PrivateRegistryNoSecret(PrivateRegistryNoSecret),
    /// Deny outbound traffic to the registry with an NSG rule on the node subnet.
    NetworkPathCut(NetworkPathCut),
}

impl Fault {
    /// The kind as written in files, e.g. `acr-detach`.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::AcrDetach(_) => FaultKind::AcrDetach,
            Fault::RoleAssignmentDelete(_) => FaultKind::RoleAssignmentDelete,
            Fault::RegistryFirewallDeny(_) => FaultKind::RegistryFirewallDeny,
            Fault::PullSecretExpired(_) => FaultKind::PullSecretExpired,
            Fault::PullSecretWrong(_) => FaultKind::PullSecretWrong,
            Fault::PullSecretMissing(_) => FaultKind::PullSecretMissing,
            Fault::ImageTagMissing(_) => FaultKind::ImageTagMissing,
            Fault::PrivateRegistryNoSecret(_) => FaultKind::PrivateRegistryNoSecret,
            Fault::NetworkPathCut(_) => FaultKind::NetworkPathCut,
        }
    }
}

/// A fault kind: the one place their names are spelled (`kind:` in files, `fault` in
/// events and reports, the journal, error messages). A test keeps it equal to the
/// `kind` tags serde reads for [`Fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    AcrDetach,
    RoleAssignmentDelete,
    RegistryFirewallDeny,
    PullSecretExpired,
    PullSecretWrong,
    PullSecretMissing,
    ImageTagMissing,
    PrivateRegistryNoSecret,
    NetworkPathCut,
}

impl FaultKind {
    /// Every kind, in the order of the docs.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::AcrDetach,
        FaultKind::RoleAssignmentDelete,
        FaultKind::RegistryFirewallDeny,
        FaultKind::PullSecretExpired,
        FaultKind::PullSecretWrong,
        FaultKind::PullSecretMissing,
        FaultKind::ImageTagMissing,
        FaultKind::PrivateRegistryNoSecret,
        FaultKind::NetworkPathCut,
    ];

    /// As written in files, e.g. `acr-detach`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::AcrDetach => "acr-detach",
            FaultKind::RoleAssignmentDelete => "role-assignment-delete",
            FaultKind::RegistryFirewallDeny => "registry-firewall-deny",
            FaultKind::PullSecretExpired => "pull-secret-expired",
            FaultKind::PullSecretWrong => "pull-secret-wrong",
            FaultKind::PullSecretMissing => "pull-secret-missing",
            FaultKind::ImageTagMissing => "image-tag-missing",
            FaultKind::PrivateRegistryNoSecret => "private-registry-no-secret",
            FaultKind::NetworkPathCut => "network-path-cut",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<FaultKind> for String {
    fn from(k: FaultKind) -> String {
        k.as_str().to_owned()
    }
}

impl PartialEq<&str> for FaultKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcrDetach {
    /// Alias of the registry to detach; default: the target's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<DnsLabel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignmentDelete {
    /// `kubelet` (the cluster's kubelet identity) or an object id.
    pub principal: Principal,
    /// AcrPull, AcrPush, Owner, Contributor, Reader or a role definition GUID.
    pub role: Role,
    /// registry, resource-group, subscription, or an ARM id.
    pub scope: Scope,
}

/// How the firewall is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FirewallMode {
    /// `networkRuleSet.defaultAction = Deny`, keeping only `allowIps`.
    SelectedNetworks,
    /// `publicNetworkAccess = Disabled`.
    PublicAccessDisabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryFirewallDeny {
    pub mode: FirewallMode,
    /// Addresses still allowed with `selected-networks` (e.g. the runner's), which must
    /// not include the cluster's egress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<Cidr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullSecretExpired {
    /// The ACR token (scope-map bound) whose credentials are generated with a short expiry.
    pub token: AcrTokenName,
    /// How long the generated password is valid, e.g. `30s`.
    pub expiry: Duration,
    /// Alias (in the target's `azure.registries`) of the registry holding the token;
    /// default: the target's registry (`azure.registryId`). A pull-secret fault only shows
    /// on a registry the cluster is NOT attached to (the kubelet also tries its node
    /// identity), so point this and the probe image at such a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<DnsLabel>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullSecretWrong {
    /// Name of the pull secret to corrupt; default: one created for the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<K8sName>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullSecretMissing {
    /// Name of the Secret the probe references and that must not exist.
    pub secret: K8sName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageTagMissing {
    /// The tag the probe asks for (replacing the probe image's tag).
    pub tag: ImageTag,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivateRegistryNoSecret {}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPathCut {
    /// The NSG rule to add (defaults: `acr-chaos-deny-registry`, priority 100).
    #[serde(default)]
    pub nsg_rule: NsgRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NsgRule {
    #[serde(default = "NsgRule::default_name")]
    pub name: NsgRuleName,
    /// NSG rule priority, 100 (first) to 4096.
    #[serde(default = "NsgRule::default_priority")]
    #[schemars(range(min = 100, max = 4096))]
    pub priority: u16,
}

impl NsgRule {
    fn default_name() -> NsgRuleName {
        "acr-chaos-deny-registry".parse().expect("valid")
    }
    fn default_priority() -> u16 {
        100
    }
}

impl Default for NsgRule {
    fn default() -> Self {
        NsgRule { name: Self::default_name(), priority: Self::default_priority() }
    }
}

/// The probe pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// An image reference, or `target:<alias>` naming one of the target's `probeImages`.
    pub image: ImageSpec,
    /// imagePullSecrets of the probe pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<K8sName>,
    /// nodeSelector of the probe pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "propertyNames" = { "x-acr-chaos-check": "label-key" },
        "additionalProperties" = { "type": "string", "x-acr-chaos-check": "label-value" },
    ))]
    pub node_selector: BTreeMap<String, String>,
}

/// What the probe must show while the fault is in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// The container's `state.waiting.reason` must be one of these.
    #[schemars(length(min = 1))]
    pub waiting_reasons: Vec<WaitingReason>,
    /// Every one of these causes must be classified from the pod's messages.
    #[schemars(length(min = 1))]
    pub causes: Vec<Cause>,
    /// The failure message must match this regex, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_regex: Option<MessageRegex>,
    /// How long the fault may take to show (RBAC and token caches: minutes on Azure).
    pub deadline: Duration,
}

/// A container waiting reason the kubelet sets for image problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WaitingReason {
    ErrImagePull,
    ImagePullBackOff,
    InvalidImageName,
    ErrImageNeverPull,
    ImageInspectError,
    RegistryUnavailable,
    SignatureValidationFailed,
}

impl WaitingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingReason::ErrImagePull => "ErrImagePull",
            WaitingReason::ImagePullBackOff => "ImagePullBackOff",
            WaitingReason::InvalidImageName => "InvalidImageName",
            WaitingReason::ErrImageNeverPull => "ErrImageNeverPull",
            WaitingReason::ImageInspectError => "ImageInspectError",
            WaitingReason::RegistryUnavailable => "RegistryUnavailable",
            WaitingReason::SignatureValidationFailed => "SignatureValidationFailed",
        }
    }
}

/// Recovery after the restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recovery {
    /// How long a fresh probe may take to reach Running after the restore (default 5m).
    #[serde(default = "Recovery::default_deadline")]
    pub deadline: Duration,
}

impl Recovery {
    fn default_deadline() -> Duration {
        Duration::from_secs(300)
    }
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery { deadline: Self::default_deadline() }
    }
}

/// An alert assertion, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Alert {
    /// A PromQL query must return a non-empty result.
    Prometheus(PrometheusAlert),
    /// An Alertmanager alert (name and labels) must be firing.
    Alertmanager(AlertmanagerAlert),
    /// A Log Analytics KQL query must return at least `minRows` rows.
    LogAnalytics(LogAnalyticsAlert),
}

/// What every alert assertion has, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertCommon<'a> {
    pub name: &'a str,
    pub deadline: Duration,
    pub resolve_after_restore: bool,
    pub not_firing_during_baseline: bool,
}

impl Alert {
    pub fn common(&self) -> AlertCommon<'_> {
        macro_rules! common {
            ($a:expr) => {
                AlertCommon {
                    name: &$a.name.0,
                    deadline: $a.deadline,
                    resolve_after_restore: $a.resolve_after_restore,
                    not_firing_during_baseline: $a.not_firing_during_baseline,
                }
            };
        }
        match self {
            Alert::Prometheus(a) => common!(a),
            Alert::Alertmanager(a) => common!(a),
            Alert::LogAnalytics(a) => common!(a),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusAlert {
    pub name: NonEmpty,
    /// How long after the fault shows the query may take to return a result.
    pub deadline: Duration,
    /// PromQL; must return a non-empty vector.
    pub query: NonEmpty,
    /// The result must become empty after the restore.
    #[serde(default)]
    pub resolve_after_restore: bool,
    /// The result must be empty before the fault (baseline).
    #[serde(default)]
    pub not_firing_during_baseline: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerAlert {
    pub name: NonEmpty,
    pub deadline: Duration,
    /// The `alertname` label of the alert that must fire.
    pub alertname: NonEmpty,
    /// Further labels the firing alert must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub resolve_after_restore: bool,
    #[serde(default)]
    pub not_firing_during_baseline: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogAnalyticsAlert {
    pub name: NonEmpty,
    pub deadline: Duration,
    /// KQL over e.g. KubePodInventory / KubeEvents.
    pub query: NonEmpty,
    /// The query must return at least this many rows (default 1).
    #[serde(default = "LogAnalyticsAlert::default_min_rows")]
    #[schemars(range(min = 1))]
    pub min_rows: u32,
    #[serde(default)]
    pub resolve_after_restore: bool,
    #[serde(default)]
    pub not_firing_during_baseline: bool,
}

impl LogAnalyticsAlert {
    fn default_min_rows() -> u32 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_kinds_match_serde() {
        let json = serde_json::json!({"kind": "image-tag-missing", "tag": "x"});
        let f: Fault = serde_json::from_value(json).unwrap();
        assert_eq!(f.kind(), "image-tag-missing");
        for k in FaultKind::ALL {
            // Every kind is known to serde (parameters aside), under the same name.
            let e = serde_json::from_value::<Fault>(serde_json::json!({"kind": k.as_str()}));
            match e {
                Ok(f) => assert_eq!(f.kind(), k),
                Err(e) => assert!(e.to_string().contains("missing field"), "{k}: {e}"),
            }
        }
    }
}
