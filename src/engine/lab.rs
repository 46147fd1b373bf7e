//! The embedded lab as the default target (`acr-chaos run` without `--target`): start
//! `acr_chaos_lab::Lab`, turn it into a [`Target`] (written to `<state>/target.yaml`, so a
//! `lab up` user can pass the same file), put the private registry's pull secret into the
//! journal namespace, and run. Time scale from `ACR_CHAOS_LAB_TIME_SCALE` (default 0.05);
//! the kubelet emulator's release from `ACR_CHAOS_LAB_KUBELET_PROFILE` (default: the lab's,
//! see docs/lab-profiles.md).

use super::cli::{RunArgs, run_on_target};
use super::connect::Overrides;
use crate::ExitCode;
use crate::clients::SecretString;
use crate::clients::credential::CredentialConfig;
use crate::clients::kube::docker_config_secret;
use crate::clients::retry::RetryPolicy;
use crate::scenario::Target;
use std::path::Path;
use std::time::Duration;

pub const TIME_SCALE_ENV: &str = "ACR_CHAOS_LAB_TIME_SCALE";
pub const DEFAULT_TIME_SCALE: f64 = 0.05;
/// Namespace the lab target keeps the journal, the lease and source pull secrets in.
pub const LAB_JOURNAL_NAMESPACE: &str = "acr-chaos-system";
/// Alias of the lab's team registry (`azure.registries`) and of its probe image
/// (`probeImages`): a registry the lab cluster is not attached to.
pub const LAB_TEAM_REGISTRY_ALIAS: &str = "team";
pub const LAB_TEAM_IMAGE_ALIAS: &str = "acr-team";
/// Pull secret (in the journal namespace) with the team registry's first token password.
pub const LAB_TEAM_SECRET: &str = "acr-chaos-team-pull";
/// Name of the private registry's pull secret in the lab.
pub const LAB_PRIVATE_SECRET: &str = "hub-pull";

/// Facts of a running lab needed for its target file.
#[derive(Debug, Clone)]
pub struct LabFacts {
    pub subscription_id: String,
    pub tenant_id: String,
    pub registry_id: String,
    pub cluster_id: String,
    pub nsg_id: String,
    pub arm_endpoint: String,
    pub authority_host: String,
    pub kubeconfig: std::path::PathBuf,
    pub acr_image: String,
    pub private_host: String,
    pub private_image: Option<String>,
    /// The lab's team registry (not attached to the cluster): ARM id and first image.
    pub team_registry_id: Option<String>,
    pub team_image: Option<String>,
    /// The lab's Prometheus / Alertmanager, when monitoring runs (alert assertions).
    pub prometheus_url: Option<String>,
    pub alertmanager_url: Option<String>,
    /// The lab's time scale, written to the target (`lab.timeScale`) so a `run --target`
    /// paces itself like the embedded run.
    pub time_scale: Option<f64>,
    /// Variables the target's client-secret credential reads.
    pub client_id_env: &'static str,
    pub secret_env: &'static str,
}

impl LabFacts {
    pub fn from_lab(lab: &acr_chaos_lab::Lab) -> Self {
        let st = lab.state.read();
        let w = &st.world;
        let nsg_rg = w.nsg.resource_group.clone().unwrap_or_else(|| w.resource_group.clone());
        let acr_image = w
            .registry
            .images
            .first()
            .map(|i| format!("{}/{i}", lab.login_server()))
            .unwrap_or_default();
        LabFacts {
            subscription_id: w.subscription_id.clone(),
            tenant_id: w.tenant_id.clone(),
            registry_id: w.registry_id(),
            cluster_id: w.cluster_id(),
            nsg_id: format!(
                "/subscriptions/{}/resourceGroups/{nsg_rg}/providers/Microsoft.Network/networkSecurityGroups/{}",
                w.subscription_id, w.nsg.name
            ),
            arm_endpoint: lab.arm_endpoint(),
            authority_host: lab.authority_host(),
            kubeconfig: lab.kube().kubeconfig.clone(),
            acr_image,
            private_host: lab.hub_host().to_string(),
            team_registry_id: lab.team_registry_id(),
            team_image: w
                .team_registry
                .as_ref()
                .and_then(|t| t.images.first().map(|i| format!("{}/{i}", t.login_server))),
            private_image: w
                .private_registry
                .images
                .first()
                .map(|i| format!("{}/{i}", lab.hub_host())),
            prometheus_url: lab.monitoring().map(|m| m.prometheus_url()),
            alertmanager_url: lab.monitoring().map(|m| m.alertmanager_url()),
            time_scale: Some(st.options.time_scale),
            client_id_env: "ACR_CHAOS_LAB_CLIENT_ID",
            secret_env: "ACR_CHAOS_LAB_CLIENT_SECRET",
        }
    }
}

/// The target file of a lab (credential from the lab.env variables).
pub fn target_yaml(f: &LabFacts) -> String {
    let mut images = format!("  acr: {}\n", f.acr_image);
    if let Some(p) = &f.private_image {
        images.push_str(&format!("  private: {p}\n"));
    }
    // The team registry: the cluster is not attached to it (pull-secret faults show there).
    let (mut registries, mut team_allowed) = (String::new(), String::new());
    if let (Some(id), Some(image)) = (&f.team_registry_id, &f.team_image) {
        images.push_str(&format!("  {LAB_TEAM_IMAGE_ALIAS}: {image}\n"));
        registries = format!("  registries:\n    {LAB_TEAM_REGISTRY_ALIAS}: {id}\n");
        team_allowed = format!("    - {id}\n");
    }
    format!(
        r#"# Generated by acr-chaos for the local lab. Source lab.env for the credential.
apiVersion: acr-chaos/v1
kind: Target
name: lab
kubernetes:
  kubeconfig: {kubeconfig}
azure:
  subscriptionId: {sub}
  tenantId: {tenant}
  registryId: {registry}
  clusterId: {cluster}
  nsgId: {nsg}
{registries}  credential:
    kind: client-secret
    clientIdEnv: {client_id_env}
    secretEnv: {secret_env}
    tenantIdEnv: ACR_CHAOS_LAB_TENANT_ID
endpoints:
  arm: {arm}
  authorityHost: {authority}
{monitoring}probeImages:
{images}privateRegistry:
  server: {hub}
  secretName: {secret}
allowlist:
  clusters:
    - {cluster}
  resources:
    - {registry}
    - {nsg}
{team_allowed}namespacePrefix: acr-chaos
journalNamespace: {jns}
timeouts:
  preflight: 2m
{lab}"#,
        kubeconfig = f.kubeconfig.display(),
        sub = f.subscription_id,
        tenant = f.tenant_id,
        registry = f.registry_id,
        cluster = f.cluster_id,
        nsg = f.nsg_id,
        arm = f.arm_endpoint,
        authority = f.authority_host,
        monitoring = monitoring_endpoints(f),
        hub = f.private_host,
        secret = LAB_PRIVATE_SECRET,
        jns = LAB_JOURNAL_NAMESPACE,
        client_id_env = f.client_id_env,
        secret_env = f.secret_env,
        lab = f.time_scale.map(|t| format!("lab:\n  timeScale: {t}\n")).unwrap_or_default(),
    )
}

/// `endpoints.prometheus` / `endpoints.alertmanager` lines when the lab monitors.
fn monitoring_endpoints(f: &LabFacts) -> String {
    let mut s = String::new();
    if let Some(u) = &f.prometheus_url {
        s.push_str(&format!("  prometheus: {u}\n"));
    }
    if let Some(u) = &f.alertmanager_url {
        s.push_str(&format!("  alertmanager: {u}\n"));
    }
    s
}

/// Whether the lab can run Prometheus + Alertmanager (Debian packages installed); alert
/// assertions are skipped with a warning otherwise.
pub fn monitoring_available() -> bool {
    use acr_chaos_lab::monitoring::{ALERTMANAGER_BIN, PROMETHEUS_BIN};
    let ok = [PROMETHEUS_BIN, ALERTMANAGER_BIN].iter().all(|b| Path::new(b).exists());
    if !ok {
        eprintln!(
            "warning: prometheus / prometheus-alertmanager not installed (make deps): alert assertions will be skipped"
        );
    }
    ok
}

/// Write and load the lab's target file.
pub fn write_target(f: &LabFacts, dir: &Path) -> Result<(std::path::PathBuf, Target), String> {
    let path = dir.join("target.yaml");
    std::fs::write(&path, target_yaml(f)).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = crate::scenario::load_target(&path)
        .map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))?;
    Ok((path, t))
}

/// Name of the least-privileged runner `lab up` mints (principal and ServiceAccount).
pub const LAB_RUNNER: &str = "acr-chaos-runner";
/// lab.env variables with the runner's credentials (the target's credential reads them).
pub const RUNNER_CLIENT_ID_ENV: &str = "ACR_CHAOS_LAB_RUNNER_CLIENT_ID";
pub const RUNNER_SECRET_ENV: &str = "ACR_CHAOS_LAB_RUNNER_CLIENT_SECRET";

/// What `acr-chaos lab up` adds to a started lab so a user can point `run --target` at
/// it with nothing written by hand: the journal namespace and the pull secrets the target
/// names (private registry, team registry) in it; a runner holding exactly the documented
/// Azure role and Kubernetes RBAC (its credentials appended to `lab.env`, its kubeconfig
/// beside it); and `<state-dir>/target.yaml` for that runner.
pub fn prepare_lab_target(lab: &acr_chaos_lab::Lab) -> Result<std::path::PathBuf, String> {
    use acr_chaos_lab::kube::Kind;
    let store = lab.kube().store();
    let ns = serde_json::json!({"metadata": {"name": LAB_JOURNAL_NAMESPACE}});
    match store.create(&Kind::Namespace, None, ns) {
        Ok(_) => {}
        Err(e) if e.code == 409 => {}
        Err(e) => return Err(format!("namespace {LAB_JOURNAL_NAMESPACE}: {e}")),
    }
    for secret in lab_pull_secrets(lab) {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let obj = serde_json::to_value(&secret).map_err(|e| format!("secret {name}: {e}"))?;
        match store.create(&Kind::Secret, Some(LAB_JOURNAL_NAMESPACE), obj) {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(format!("secret {LAB_JOURNAL_NAMESPACE}/{name}: {e}")),
        }
    }
    let spec = acr_chaos_lab::lab::RunnerSpec::documented(LAB_RUNNER, LAB_JOURNAL_NAMESPACE);
    let runner = lab.mint_runner(&spec).map_err(|e| e.to_string())?;
    let env_path = lab.state_dir().join("lab.env");
    let extra = acr_chaos_lab::lab::render_env(&[
        (RUNNER_CLIENT_ID_ENV, runner.principal.client_id.clone()),
        (RUNNER_SECRET_ENV, runner.principal.secret.clone()),
        ("ACR_CHAOS_LAB_RUNNER_KUBECONFIG", runner.kubeconfig.display().to_string()),
    ]);
    let extra: String = extra.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let mut text =
        std::fs::read_to_string(&env_path).map_err(|e| format!("{}: {e}", env_path.display()))?;
    text.push_str("# the least-privileged runner target.yaml uses (docs/azure.md section 3)\n");
    text.push_str(&extra);
    std::fs::write(&env_path, text).map_err(|e| format!("{}: {e}", env_path.display()))?;
    let mut facts = LabFacts::from_lab(lab);
    facts.kubeconfig = runner.kubeconfig;
    facts.client_id_env = RUNNER_CLIENT_ID_ENV;
    facts.secret_env = RUNNER_SECRET_ENV;
    write_target(&facts, lab.state_dir()).map(|(p, _)| p)
}

/// The pull secrets a lab target names: the private registry's and the team registry's.
pub fn lab_pull_secrets(lab: &acr_chaos_lab::Lab) -> Vec<k8s_openapi::api::core::v1::Secret> {
    let (user, pass) = {
        let st = lab.state.read();
        let pr = &st.world.private_registry;
        (pr.username.clone(), pr.password.clone())
    };
    let mut secrets =
        vec![docker_config_secret(LAB_PRIVATE_SECRET, lab.hub_host(), &user, &pass, "lab")];
    secrets.extend(team_pull_secret(lab));
    secrets
}

/// The lab's team-registry pull secret: its first token's first password (as a team
/// would hand out for a registry the cluster is not attached to).
pub fn team_pull_secret(lab: &acr_chaos_lab::Lab) -> Option<k8s_openapi::api::core::v1::Secret> {
    let st = lab.state.read();
    let team = st.world.team_registry.as_ref()?;
    let token = st.team_tokens.first()?;
    let pw = token.passwords.first()?;
    Some(docker_config_secret(LAB_TEAM_SECRET, &team.login_server, &token.name, &pw.value, "lab"))
}

pub fn time_scale() -> f64 {
    std::env::var(TIME_SCALE_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0 && *v <= 1.0)
        .unwrap_or(DEFAULT_TIME_SCALE)
}

/// The kubelet profile asked for in `ACR_CHAOS_LAB_KUBELET_PROFILE`, checked: `Ok(None)`
/// when unset; an unknown name is an error listing the valid ones.
pub fn kubelet_profile() -> Result<Option<&'static acr_chaos_lab::kubelet::KubeletProfile>, String>
{
    let env = acr_chaos_lab::kubelet::profile::PROFILE_ENV;
    match std::env::var(env) {
        Ok(v) if !v.trim().is_empty() => acr_chaos_lab::kubelet::KubeletProfile::named(&v)
            .map(Some)
            .map_err(|e| format!("{env}: {e}")),
        _ => Ok(None),
    }
}

/// Start the embedded lab and run `scenarios` against it.
pub async fn run_on_lab(
    args: RunArgs,
    scenarios: Vec<crate::scenario::Scenario>,
) -> anyhow::Result<ExitCode> {
    let profile = match kubelet_profile() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::InvalidInput);
        }
    };
    let state_dir = std::env::temp_dir().join(format!("acr-chaos-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    eprintln!("starting the embedded lab in {} (time scale {})", state_dir.display(), time_scale());
    let mut builder = acr_chaos_lab::Lab::builder()
        .state_dir(&state_dir)
        .time_scale(time_scale())
        .with_kubelet(true)
        .monitoring(monitoring_available());
    if let Some(p) = profile {
        eprintln!("kubelet emulator profile {} ({})", p.name, p.kubelet_version);
        builder = builder.kubelet_profile(p.name);
    }
    let lab = match builder.start().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: the embedded lab did not start: {e}");
            return Ok(ExitCode::InvalidInput);
        }
    };
    let facts = LabFacts::from_lab(&lab);
    let result = async {
        let (_, target) = match write_target(&facts, &state_dir) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: lab target: {e}");
                return Ok(ExitCode::InvalidInput);
            }
        };
        let Some(p) = lab.chaos_principal() else {
            eprintln!("error: the lab world has no principal allowed to run chaos");
            return Ok(ExitCode::InvalidInput);
        };
        let secrets = lab_pull_secrets(&lab);
        let over = Overrides {
            credential: Some(CredentialConfig::ClientSecret {
                tenant_id: facts.tenant_id.clone(),
                client_id: p.client_id.clone(),
                secret: SecretString::new(p.secret.clone()),
            }),
            ca_pem: std::fs::read(lab.ca_path()).ok(),
            secrets,
            time_scale: Some(time_scale()),
        };
        run_on_target(
            &args,
            &scenarios,
            &target,
            RetryPolicy::fast(),
            Duration::from_millis(100),
            over,
        )
        .await
    }
    .await;
    lab.stop().await;
    let _ = std::fs::remove_dir_all(&state_dir);
    result
}
