//! From a target file to live clients and resolved facts ([`Env`]): credentials by
//! `credential.kind` (secrets only from the environment), an extra CA for the lab
//! (`ACR_CHAOS_CA_FILE`, else `ACR_CHAOS_LAB_CA`), the kubelet identity and login server.

use crate::clients::arm::ArmClient;
use crate::clients::credential::{CredentialConfig, http_client, token_source};
use crate::clients::kube::Kube;
use crate::clients::retry::RetryPolicy;
use crate::clients::{ClientError, SecretString};
use crate::faults::Env;
use crate::scenario::{Credential, Target};
use std::path::PathBuf;
use std::time::Duration;

/// Live connections to a target.
#[derive(Debug)]
pub struct Connected {
    pub arm: ArmClient,
    pub kube: Kube,
    /// The HTTP client ARM uses (the platform's roots plus the extra CA), for the other
    /// HTTP clients of the run: building one reads and parses every system root.
    pub http: reqwest::Client,
}

fn env_var(name: &str, what: &str) -> Result<String, ClientError> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
        ClientError::Config(format!("{what}: environment variable {name} is not set"))
    })
}

/// The credential configuration of a target, reading the environment.
pub fn credential_config(t: &Target) -> Result<CredentialConfig, ClientError> {
    let tenant = |env: &str| -> Result<String, ClientError> {
        std::env::var(env)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| t.azure.tenant_id.as_ref().map(|g| g.to_string()))
            .ok_or_else(|| ClientError::Config(format!("tenant id: set {env} or azure.tenantId")))
    };
    Ok(match &t.azure.credential {
        Credential::ClientSecret(c) => CredentialConfig::ClientSecret {
            tenant_id: tenant(c.tenant_id_env.as_str())?,
            client_id: env_var(c.client_id_env.as_str(), "client-secret credential")?,
            secret: SecretString::new(env_var(c.secret_env.as_str(), "client-secret credential")?),
        },
        Credential::WorkloadIdentity(c) => CredentialConfig::WorkloadIdentity {
            tenant_id: tenant(c.tenant_id_env.as_str())?,
            client_id: env_var(c.client_id_env.as_str(), "workload-identity credential")?,
            token_file: PathBuf::from(env_var(
                c.token_file_env.as_str(),
                "workload-identity credential",
            )?),
        },
        Credential::ManagedIdentity(c) => CredentialConfig::ManagedIdentity {
            client_id: c.client_id.as_ref().map(|g| g.to_string()),
        },
        Credential::AzureCli(_) => CredentialConfig::AzureCli {
            tenant_id: t.azure.tenant_id.as_ref().map(|g| g.to_string()),
        },
        Credential::Environment(_) => {
            if std::env::var("AZURE_CLIENT_SECRET").is_ok_and(|v| !v.is_empty()) {
                CredentialConfig::ClientSecret {
                    tenant_id: tenant("AZURE_TENANT_ID")?,
                    client_id: env_var("AZURE_CLIENT_ID", "environment credential")?,
                    secret: SecretString::new(env_var(
                        "AZURE_CLIENT_SECRET",
                        "environment credential",
                    )?),
                }
            } else if std::env::var("AZURE_FEDERATED_TOKEN_FILE").is_ok_and(|v| !v.is_empty()) {
                CredentialConfig::WorkloadIdentity {
                    tenant_id: tenant("AZURE_TENANT_ID")?,
                    client_id: env_var("AZURE_CLIENT_ID", "environment credential")?,
                    token_file: PathBuf::from(env_var(
                        "AZURE_FEDERATED_TOKEN_FILE",
                        "environment credential",
                    )?),
                }
            } else {
                CredentialConfig::ManagedIdentity {
                    client_id: std::env::var("AZURE_CLIENT_ID").ok().filter(|v| !v.is_empty()),
                }
            }
        }
    })
}

/// Extra CA PEM from `ACR_CHAOS_CA_FILE` or `ACR_CHAOS_LAB_CA`.
pub fn extra_ca() -> Result<Option<Vec<u8>>, ClientError> {
    for var in ["ACR_CHAOS_CA_FILE", "ACR_CHAOS_LAB_CA"] {
        if let Ok(p) = std::env::var(var)
            && !p.is_empty()
        {
            return std::fs::read(&p)
                .map(Some)
                .map_err(|e| ClientError::Config(format!("{var}={p}: {e}")));
        }
    }
    Ok(None)
}

/// What the embedded lab supplies instead of the environment.
#[derive(Clone, Default)]
pub struct Overrides {
    pub credential: Option<CredentialConfig>,
    pub ca_pem: Option<Vec<u8>>,
    /// Secrets to put into the journal namespace before the run (pull secrets).
    pub secrets: Vec<k8s_openapi::api::core::v1::Secret>,
    /// The lab's time scale (delays the engine waits out: token expiries, re-probe
    /// pacing); `None` on a real target (1.0).
    pub time_scale: Option<f64>,
    /// The target lives and dies with this process (the embedded lab): its journal is
    /// kept only in the run's report folder, where no later `recover` would look for a
    /// cluster that no longer exists.
    pub ephemeral: bool,
}

/// Names only: the credential and the pull secrets hold secrets.
impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<_> = self.secrets.iter().map(|s| s.metadata.name.as_deref()).collect();
        f.debug_struct("Overrides")
            .field("secrets", &secrets)
            .field("time_scale", &self.time_scale)
            .finish_non_exhaustive()
    }
}

/// Connect to a target's ARM endpoint and cluster.
pub async fn connect(
    t: &Target,
    retry: RetryPolicy,
    lro_interval: Duration,
    over: &Overrides,
) -> Result<Connected, ClientError> {
    let ca = match &over.ca_pem {
        Some(p) => Some(p.clone()),
        None => extra_ca()?,
    };
    let cred = match &over.credential {
        Some(c) => c.clone(),
        None => credential_config(t)?,
    };
    // Building the HTTP client reads and parses every system root: done on a blocking
    // thread while the Kubernetes client is configured.
    let http = tokio::task::spawn_blocking(move || http_client(ca.as_deref()));
    let kube = Kube::connect(t.kubernetes.kubeconfig.as_deref(), t.kubernetes.context.as_deref());
    let (http, kube) = tokio::join!(http, kube);
    let http = http.map_err(|e| ClientError::Config(format!("HTTP client: {e}")))??;
    let kube = kube?;
    let arm_endpoint = t.endpoints.arm.to_string();
    let tokens = token_source(
        &cred,
        Some(t.endpoints.authority_host.as_ref()),
        t.endpoints.arm_audience.as_ref(),
        http.clone(),
    )?;
    let arm = ArmClient::new(http.clone(), &arm_endpoint, tokens)?
        .with_retry(retry)
        .with_lro(lro_interval, Duration::from_secs(600));
    Ok(Connected { arm, kube, http })
}

/// The target's facts without calling anything (dry runs).
pub fn static_env(t: &Target, run_id: &str) -> Env {
    Env {
        subscription_id: t.azure.subscription_id.to_string(),
        registry_id: t.azure.registry_id.to_string(),
        cluster_id: t.azure.cluster_id.to_string(),
        nsg_id: t.azure.nsg_id.as_ref().map(|n| n.to_string()),
        kubelet_object_id: None,
        registry_login_server: None,
        run_namespace: String::new(),
        run_id: run_id.to_string(),
        scenario: String::new(),
        private_registry_secret: t.private_registry.as_ref().map(|p| p.secret_name.to_string()),
        time_scale: 1.0,
    }
}

/// Resolve the facts that need ARM: the kubelet identity and the registry login server.
pub async fn resolve_env(c: &Connected, mut env: Env) -> Result<Env, ClientError> {
    let (reg, kubelet) =
        tokio::join!(c.arm.get_registry(&env.registry_id), c.arm.kubelet_identity(&env.cluster_id));
    env.registry_login_server =
        reg?.pointer("/properties/loginServer").and_then(|v| v.as_str()).map(str::to_string);
    env.kubelet_object_id = Some(kubelet?.object_id);
    Ok(env)
}
