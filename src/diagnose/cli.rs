//! `acr-chaos diagnose POD [-n NS] [--target FILE | --lab-state DIR] [--output text|json]`.
//!
//! Where the target comes from:
//! - `--target FILE`: a target file (credential from the environment, as `run` does;
//!   extra CA from `ACR_CHAOS_CA_FILE`/`ACR_CHAOS_LAB_CA`).
//! - otherwise a RUNNING lab: its `lab.env` in `--lab-state DIR`, else
//!   `$ACR_CHAOS_LAB_STATE`, else `.lab/` (written by `acr-chaos lab up`). diagnose never
//!   starts a lab: it inspects a pod that already exists.
//!
//! When the lab's variables (`ACR_CHAOS_LAB_REGISTRY{,_URL}`, `ACR_CHAOS_LAB_HUB{,_URL}`)
//! are known, the registry host names are pinned to the addresses the lab listens on.
//!
//! Exit codes: 0 a diagnosis was produced (whatever it found); 2 bad input (pod not
//! found, bad target, unreachable cluster).

use super::{Context, DiagnoseError, diagnose, render};
use crate::ExitCode;
use crate::clients::arm::ArmClient;
use crate::clients::credential::{CredentialConfig, http_client, token_source};
use crate::clients::kube::Kube;
use crate::clients::registry::RegistryClient;
use crate::clients::retry::RetryPolicy;
use crate::clients::{ClientError, SecretString};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Token scope for ACR's `/oauth2/exchange`.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
/// Token scope for ARM (the lab's ARM accepts the public cloud's audience).
pub const ARM_AUDIENCE: &str = "https://management.azure.com/.default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DiagnoseArgs {
    /// The failing pod's name.
    pub pod: String,
    /// The pod's namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Target file (cluster and registry to check). Default: the running lab.
    #[arg(long, value_name = "FILE", conflicts_with = "lab_state")]
    pub target: Option<PathBuf>,
    /// State directory of a running lab [default: $ACR_CHAOS_LAB_STATE or .lab].
    #[arg(long, value_name = "DIR")]
    pub lab_state: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// Run `diagnose` on its own tokio runtime.
pub fn run(args: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    crate::clients::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run_async(args))
}

pub async fn run_async(args: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    let ctx = match &args.target {
        Some(path) => {
            let t = match crate::scenario::load_target(path) {
                Ok(t) => t,
                Err(diags) => {
                    for d in diags.iter() {
                        eprintln!("{d}");
                    }
                    return Ok(ExitCode::InvalidInput);
                }
            };
            context_from_target(&t).await
        }
        None => {
            let dir = args.lab_state.clone().unwrap_or_else(default_lab_state_dir);
            context_from_lab_env(&dir.join("lab.env")).await
        }
    };
    let ctx = match ctx {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::InvalidInput);
        }
    };
    match diagnose(&ctx, &args.namespace, &args.pod).await {
        Ok(d) => {
            match args.output {
                OutputFormat::Text => print!("{}", render::text(&d)),
                OutputFormat::Json => println!("{}", render::json(&d)),
            }
            Ok(ExitCode::Success)
        }
        Err(e @ (DiagnoseError::PodNotFound { .. } | DiagnoseError::NoContainer { .. })) => {
            eprintln!("error: {e}");
            Ok(ExitCode::InvalidInput)
        }
        Err(e) => {
            eprintln!("error: cannot read the pod: {e}");
            Ok(ExitCode::InvalidInput)
        }
    }
}

/// Registry host pins from the lab's variables (`lookup` reads one variable).
pub fn lab_pins(lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, SocketAddr)> {
    let mut out = Vec::new();
    for (host, url) in [
        ("ACR_CHAOS_LAB_REGISTRY", "ACR_CHAOS_LAB_REGISTRY_URL"),
        ("ACR_CHAOS_LAB_HUB", "ACR_CHAOS_LAB_HUB_URL"),
    ] {
        if let (Some(h), Some(u)) = (lookup(host), lookup(url))
            && let Ok(u) = url::Url::parse(&u)
            && let Some(addr) = u.socket_addrs(|| None).ok().and_then(|a| a.into_iter().next())
        {
            out.push((h, addr));
        }
    }
    out
}

/// Context from a target file.
pub async fn context_from_target(t: &crate::scenario::Target) -> Result<Context, ClientError> {
    use crate::engine::connect::{Overrides, connect, credential_config, extra_ca};
    let conn =
        connect(t, RetryPolicy::default(), Duration::from_secs(2), &Overrides::default()).await?;
    let ca = extra_ca()?;
    let http = http_client(ca.as_deref())?;
    let cred = credential_config(t)?;
    let tokens = token_source(&cred, Some(t.endpoints.authority_host.as_ref()), ACR_SCOPE, http)?;
    let pins = lab_pins(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    Ok(Context {
        arm: conn.arm,
        kube: conn.kube,
        registry: RegistryClient::new(ca.as_deref(), &pins)?,
        registry_tokens: Some(tokens),
        tenant_id: t.azure.tenant_id.as_ref().map(|g| g.to_string()),
        registry_id: t.azure.registry_id.to_string(),
        cluster_id: t.azure.cluster_id.to_string(),
        nsg_id: t.azure.nsg_id.as_ref().map(|n| n.to_string()),
    })
}

/// Parse `export K='V'` lines (as `lab.env` is written).
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("export ") else { continue };
        let Some((k, v)) = rest.split_once('=') else { continue };
        let v = v.trim();
        let v = match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(inner) => inner.replace(r"'\''", "'"),
            None => v.trim_matches('"').to_string(),
        };
        out.insert(k.trim().to_string(), v);
    }
    out
}

/// Context from a running lab's `lab.env`.
/// Where `acr-chaos lab up` keeps its state by default: `$ACR_CHAOS_LAB_STATE`, else
/// `.lab` (read from files, so a build without the `lab` feature diagnoses a lab too).
fn default_lab_state_dir() -> PathBuf {
    std::env::var_os("ACR_CHAOS_LAB_STATE").map_or_else(|| PathBuf::from(".lab"), PathBuf::from)
}

pub async fn context_from_lab_env(path: &Path) -> Result<Context, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ClientError::Config(format!(
            "{}: {e}; start a lab (`acr-chaos lab up`), pass --lab-state DIR, or pass --target FILE",
            path.display()
        ))
    })?;
    let vars = parse_env(&text);
    let get = |k: &str| -> Result<String, ClientError> {
        vars.get(k).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
            ClientError::Config(format!("{}: variable {k} is missing or empty", path.display()))
        })
    };
    let ca = std::fs::read(get("ACR_CHAOS_LAB_CA")?)
        .map_err(|e| ClientError::Config(format!("lab CA: {e}")))?;
    let http = http_client(Some(&ca))?;
    let tenant = get("ACR_CHAOS_LAB_TENANT_ID")?;
    let cred = CredentialConfig::ClientSecret {
        tenant_id: tenant.clone(),
        client_id: get("ACR_CHAOS_LAB_CLIENT_ID")?,
        secret: SecretString::new(get("ACR_CHAOS_LAB_CLIENT_SECRET")?),
    };
    let arm_endpoint = get("ACR_CHAOS_LAB_ARM_ENDPOINT")?;
    let authority = get("ACR_CHAOS_LAB_AUTHORITY_HOST")?;
    let arm_tokens = token_source(&cred, Some(&authority), ARM_AUDIENCE, http.clone())?;
    let acr_tokens = token_source(&cred, Some(&authority), ACR_SCOPE, http.clone())?;
    let arm = ArmClient::new(http, &arm_endpoint, arm_tokens)?.with_retry(RetryPolicy::fast());
    let kubeconfig = PathBuf::from(get("KUBECONFIG")?);
    let kube = Kube::connect(Some(&kubeconfig), None).await?;
    let pins = lab_pins(|k| vars.get(k).cloned());
    Ok(Context {
        arm,
        kube,
        registry: RegistryClient::new(Some(&ca), &pins)?,
        registry_tokens: Some(acr_tokens),
        tenant_id: Some(tenant),
        registry_id: get("ACR_CHAOS_LAB_REGISTRY_ID")?,
        cluster_id: get("ACR_CHAOS_LAB_CLUSTER_ID")?,
        nsg_id: None,
    })
}
