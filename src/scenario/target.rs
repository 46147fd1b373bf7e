//! The target file (`kind: Target`): which cluster and Azure resources a run may touch,
//! and how to reach them. Plain data, no I/O; secrets are named by environment variable,
//! never written here.

use super::Duration;
use super::model::ApiVersion;
use super::values::{
    ArmId, ClusterRef, DnsLabel, EnvName, Guid, HttpUrl, ImageRef, K8sName, RegistryHost,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `kind: Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum TargetKind {
    #[default]
    Target,
}

/// A cluster and its registry, as a run sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "acr-chaos Target")]
pub struct Target {
    pub api_version: ApiVersion,
    pub kind: TargetKind,
    pub name: DnsLabel,
    /// How to reach the cluster's API (default: `$KUBECONFIG`, current context).
    #[serde(default)]
    pub kubernetes: KubernetesAccess,
    pub azure: AzureTarget,
    /// Service endpoints (defaults: Azure public cloud).
    #[serde(default)]
    pub endpoints: Endpoints,
    /// Probe images by alias, referenced from scenarios as `target:<alias>`.
    #[schemars(extend("minProperties" = 1, "propertyNames" = {
        "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        "x-acr-chaos-check": "dns-label",
    }))]
    pub probe_images: BTreeMap<String, ImageRef>,
    /// A private repository on another registry, for `private-registry-no-secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_registry: Option<PrivateRegistry>,
    /// What a run may change; anything else is refused before the first change.
    pub allowlist: Allowlist,
    /// Prefix of the per-run namespaces (default `acr-chaos`).
    #[serde(default = "Target::default_namespace_prefix")]
    pub namespace_prefix: DnsLabel,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Namespace of the in-cluster journal ConfigMap and the run Lease (default `kube-system`).
    #[serde(default = "Target::default_journal_namespace")]
    pub journal_namespace: DnsLabel,
    /// Set by `acr-chaos lab up` for the local lab only: how much faster than Azure its
    /// delays run, so the engine paces itself as on the embedded lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<LabSettings>,
}

/// Settings of a local lab target (written by `acr-chaos lab up`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabSettings {
    /// The lab's time scale (0 < x <= 1; 0.05 = delays 20x shorter than Azure's): waits
    /// the engine imposes (token expiries, re-probe pacing) shrink by it too.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub time_scale: f64,
}

impl LabSettings {
    /// The time scale when it is usable (0 < x <= 1), else `None`.
    pub fn valid_time_scale(&self) -> Option<f64> {
        (self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= 1.0)
            .then_some(self.time_scale)
    }
}

impl Target {
    fn default_namespace_prefix() -> DnsLabel {
        "acr-chaos".parse().expect("valid")
    }
    fn default_journal_namespace() -> DnsLabel {
        "kube-system".parse().expect("valid")
    }

    /// Whether the allowlist names this cluster (ARM id, case-insensitive, or name).
    pub fn allows_cluster(&self, cluster: &str) -> bool {
        self.allowlist.clusters.iter().any(|c| {
            let c = c.as_str();
            c.eq_ignore_ascii_case(cluster.trim_end_matches('/'))
                || (!c.starts_with('/') && cluster.rsplit('/').next() == Some(c))
        })
    }

    /// Whether the allowlist names this ARM resource (or a parent scope of it).
    pub fn allows_resource(&self, id: &str) -> bool {
        let id = id.trim_end_matches('/').to_ascii_lowercase();
        self.allowlist.resources.iter().any(|r| {
            let r = r.as_str().trim_end_matches('/').to_ascii_lowercase();
            id == r || id.starts_with(&format!("{r}/"))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesAccess {
    /// Path of the kubeconfig (default: `$KUBECONFIG`, then `~/.kube/config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig (default: its current context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureTarget {
    pub subscription_id: Guid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Guid>,
    /// `/subscriptions/…/providers/Microsoft.ContainerRegistry/registries/<name>`
    #[schemars(extend("x-acr-chaos-check" = "registry-id"))]
    pub registry_id: ArmId,
    /// `/subscriptions/…/providers/Microsoft.ContainerService/managedClusters/<name>`
    #[schemars(extend("x-acr-chaos-check" = "cluster-id"))]
    pub cluster_id: ArmId,
    /// `/subscriptions/…/providers/Microsoft.Network/networkSecurityGroups/<name>` of the
    /// node subnet (needed by `network-path-cut`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-acr-chaos-check" = "nsg-id"))]
    pub nsg_id: Option<ArmId>,
    /// Log Analytics workspace (customer) id, for `log-analytics` alert assertions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_analytics_workspace_id: Option<Guid>,
    /// Other registries by alias, for faults that name one (`pull-secret-expired`
    /// `registry:`), e.g. a team registry the cluster is not attached to:
    /// `team: /subscriptions/…/providers/Microsoft.ContainerRegistry/registries/<name>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {
        "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        "x-acr-chaos-check": "dns-label",
    }))]
    pub registries: BTreeMap<String, ArmId>,
    pub credential: Credential,
}

/// How to authenticate to Azure. Names environment variables, never secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credential {
    /// Try the environment's variables as azure_identity does (client secret, workload
    /// identity, managed identity).
    Environment(NoParams),
    /// A service principal's client secret, read from environment variables.
    ClientSecret(ClientSecretCredential),
    /// Workload identity federation (`AZURE_FEDERATED_TOKEN_FILE`), as in AKS pods and
    /// GitHub/Azure DevOps OIDC.
    WorkloadIdentity(WorkloadIdentityCredential),
    /// The managed identity of the machine running acr-chaos.
    ManagedIdentity(ManagedIdentityCredential),
    /// The Azure CLI's login (`az login`).
    AzureCli(NoParams),
}

impl Credential {
    pub const KINDS: [&'static str; 5] =
        ["environment", "client-secret", "workload-identity", "managed-identity", "azure-cli"];
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSecretCredential {
    /// Variable holding the client (application) id (default `AZURE_CLIENT_ID`).
    #[serde(default = "env_client_id")]
    pub client_id_env: EnvName,
    /// Variable holding the client secret (default `AZURE_CLIENT_SECRET`).
    #[serde(default = "env_client_secret")]
    pub secret_env: EnvName,
    /// Variable holding the tenant id when `azure.tenantId` is not set (default `AZURE_TENANT_ID`).
    #[serde(default = "env_tenant_id")]
    pub tenant_id_env: EnvName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadIdentityCredential {
    /// Variable holding the client id (default `AZURE_CLIENT_ID`).
    #[serde(default = "env_client_id")]
    pub client_id_env: EnvName,
    /// Variable holding the path of the federated token file (default `AZURE_FEDERATED_TOKEN_FILE`).
    #[serde(default = "env_token_file")]
    pub token_file_env: EnvName,
    /// Variable holding the tenant id when `azure.tenantId` is not set (default `AZURE_TENANT_ID`).
    #[serde(default = "env_tenant_id")]
    pub tenant_id_env: EnvName,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedIdentityCredential {
    /// Client id of a user-assigned identity (default: the system-assigned one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Guid>,
}

fn env_client_id() -> EnvName {
    "AZURE_CLIENT_ID".parse().expect("valid")
}
fn env_client_secret() -> EnvName {
    "AZURE_CLIENT_SECRET".parse().expect("valid")
}
fn env_tenant_id() -> EnvName {
    "AZURE_TENANT_ID".parse().expect("valid")
}
fn env_token_file() -> EnvName {
    "AZURE_FEDERATED_TOKEN_FILE".parse().expect("valid")
}

/// Service endpoints; the lab and sovereign clouds set their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoints {
    /// Azure Resource Manager (default `https://management.azure.com`).
    #[serde(default = "Endpoints::default_arm")]
    pub arm: HttpUrl,
    /// Entra ID authority (default `https://login.microsoftonline.com/`).
    #[serde(default = "Endpoints::default_authority_host")]
    pub authority_host: HttpUrl,
    /// Log Analytics query API (default `https://api.loganalytics.io`).
    #[serde(default = "Endpoints::default_log_analytics")]
    pub log_analytics: HttpUrl,
    /// Token scope for ARM (default `https://management.azure.com/.default`).
    #[serde(default = "Endpoints::default_arm_audience")]
    pub arm_audience: HttpUrl,
    /// Prometheus HTTP API base URL, for `prometheus` alert assertions
    /// (e.g. `http://prometheus.monitoring:9090`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<HttpUrl>,
    /// Alertmanager base URL, for `alertmanager` alert assertions
    /// (e.g. `http://alertmanager.monitoring:9093`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<HttpUrl>,
}

impl Endpoints {
    fn default_arm() -> HttpUrl {
        "https://management.azure.com".parse().expect("valid")
    }
    fn default_authority_host() -> HttpUrl {
        "https://login.microsoftonline.com/".parse().expect("valid")
    }
    fn default_log_analytics() -> HttpUrl {
        "https://api.loganalytics.io".parse().expect("valid")
    }
    fn default_arm_audience() -> HttpUrl {
        "https://management.azure.com/.default".parse().expect("valid")
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            arm: Self::default_arm(),
            authority_host: Self::default_authority_host(),
            log_analytics: Self::default_log_analytics(),
            arm_audience: Self::default_arm_audience(),
            prometheus: None,
            alertmanager: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivateRegistry {
    /// Registry host, e.g. `docker.io` or `ghcr.io`.
    pub server: RegistryHost,
    /// Name of an existing dockerconfigjson Secret (in `journalNamespace`) to copy into
    /// the probe namespace when the fix is applied. Not credentials.
    pub secret_name: K8sName,
}

/// What a run may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allowlist {
    /// Clusters (ARM ids or names) a run may inject faults into.
    #[schemars(length(min = 1))]
    pub clusters: Vec<ClusterRef>,
    /// ARM resources (or parent scopes) a run may change: registry, NSG, role assignment scopes.
    #[schemars(length(min = 1))]
    pub resources: Vec<ArmId>,
}

/// Timeouts of the run's own steps (scenario deadlines are in the scenarios).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    /// One Kubernetes or ARM request (default 30s).
    #[serde(default = "Timeouts::default_api_request")]
    pub api_request: Duration,
    /// Preflight, including the baseline probe's pull (default 5m).
    #[serde(default = "Timeouts::default_preflight")]
    pub preflight: Duration,
    /// One restore, including waiting for ARM async operations (default 10m).
    #[serde(default = "Timeouts::default_restore")]
    pub restore: Duration,
    /// Deleting the run's namespace (default 2m).
    #[serde(default = "Timeouts::default_cleanup")]
    pub cleanup: Duration,
}

impl Timeouts {
    fn default_api_request() -> Duration {
        Duration::from_secs(30)
    }
    fn default_preflight() -> Duration {
        Duration::from_secs(300)
    }
    fn default_restore() -> Duration {
        Duration::from_secs(600)
    }
    fn default_cleanup() -> Duration {
        Duration::from_secs(120)
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            api_request: Self::default_api_request(),
            preflight: Self::default_preflight(),
            restore: Self::default_restore(),
            cleanup: Self::default_cleanup(),
        }
    }
}
