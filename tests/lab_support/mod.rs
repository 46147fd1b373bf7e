//! Shared by the lab end-to-end tests: the prerequisite gate, the binary, and an
//! in-process lab driven through a target file (as `acr-chaos lab up` users do), with a
//! snapshot of everything a fault may change (ARM and Kubernetes) to compare a run's
//! before and after.
#![allow(dead_code, reason = "each test binary uses a part of the support")]

use acr_chaos::clients::kube::Kube;
use acr_chaos::engine::lab::{LAB_JOURNAL_NAMESPACE, LabFacts, lab_pull_secrets, write_target};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Held by each lab end-to-end test of a binary: one lab test at a time, as when each
/// former test file was a binary of its own (cargo runs one test binary after another)
/// and their deadlines were set for one lab at a time on a 2-core CI machine. Tests that
/// start no lab (kube-rs against the API emulator alone) do not take it.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// What every lab end-to-end test needs on PATH (besides root).
pub const LAB_BINARIES: &[&str] = &["containerd", "docker-registry", "nft"];
/// What the alert tests need on top: the real Prometheus and Alertmanager.
pub const MONITORING_BINARIES: &[&str] =
    &["containerd", "docker-registry", "nft", "prometheus", "prometheus-alertmanager"];

/// Why the lab cannot run here (`None`: it can).
pub fn missing_prereq() -> Option<String> {
    missing(LAB_BINARIES)
}

/// Why a test needing root and `binaries` cannot run here (`None`: it can).
pub fn missing(binaries: &[&str]) -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
    });
    if uid.as_deref() != Some("0") {
        return Some("not root".into());
    }
    let on_path = |b: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(b).is_file()))
    };
    binaries.iter().find(|b| !on_path(b)).map(|b| format!("{b} not installed"))
}

/// Skip (loudly) without the lab's prerequisites (or `binaries`); under CI=true, fail instead.
#[macro_export]
macro_rules! require_lab {
    () => {
        $crate::require_lab!($crate::lab_support::LAB_BINARIES)
    };
    ($binaries:expr) => {
        if let Some(why) = $crate::lab_support::missing($binaries) {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("lab end-to-end test needs root and {:?}: {why}", $binaries);
            }
            eprintln!("SKIPPED: lab end-to-end test: {why}");
            return;
        }
    };
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acr-chaos"));
    c.env("ACR_CHAOS_LAB_TIME_SCALE", "0.05").env("ACR_CHAOS_LOG", "warn");
    c
}

/// Every file under `dir`, as text.
pub fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                out.push_str(&t);
            }
        }
    }
    out
}

/// An in-process lab and a target file for it; runs are child processes.
pub struct External {
    pub lab: acr_chaos_lab::Lab,
    pub dir: tempfile::TempDir,
    pub target: PathBuf,
    pub kube: Kube,
}

pub async fn external_lab(knob: Option<acr_chaos_lab::knobs::Knob>) -> External {
    let dir = tempfile::tempdir().unwrap();
    let mut b = acr_chaos_lab::Lab::builder()
        .state_dir(dir.path().join("lab"))
        .time_scale(0.05)
        .with_kubelet(true);
    if let Some(k) = knob {
        b = b.knob("arm", k);
    }
    let lab = b.start().await.expect("lab starts");
    let facts = LabFacts::from_lab(&lab);
    let (target, _) = write_target(&facts, dir.path()).unwrap();
    let kube = Kube::connect(Some(&facts.kubeconfig), None).await.unwrap();
    kube.ensure_namespace(LAB_JOURNAL_NAMESPACE, "setup").await.unwrap();
    // the pull secrets the target names, as `acr-chaos lab up` creates them
    for s in lab_pull_secrets(&lab) {
        kube.put_secret(LAB_JOURNAL_NAMESPACE, &s).await.unwrap();
    }
    // the root-CA publisher adds its ConfigMap to the new namespace on its own time: a
    // snapshot taken before it did would differ from every later one
    let store = lab.kube().store().clone();
    wait_for("kube-root-ca.crt in the journal namespace", Duration::from_secs(30), || {
        let kind = acr_chaos_lab::kube::Kind::ConfigMap;
        store.get(&kind, Some(LAB_JOURNAL_NAMESPACE), "kube-root-ca.crt").is_ok()
    })
    .await;
    External { lab, dir, target, kube }
}

impl External {
    /// `acr-chaos ARGS --target T` in the lab's folder, with the lab's credentials.
    pub fn child(&self, args: &[&str]) -> Command {
        self.child_in(self.dir.path(), &self.target, args)
    }

    /// The same against `target`, from the working directory `cwd`.
    pub fn child_in(&self, cwd: &Path, target: &Path, args: &[&str]) -> Command {
        let p = self.lab.chaos_principal().unwrap();
        let mut c = bin();
        c.current_dir(cwd)
            .args(args)
            .arg("--target")
            .arg(target)
            .env("ACR_CHAOS_LAB_CLIENT_ID", &p.client_id)
            .env("ACR_CHAOS_LAB_CLIENT_SECRET", &p.secret)
            .env("ACR_CHAOS_LAB_TENANT_ID", self.lab.tenant_id())
            .env("ACR_CHAOS_LAB_CA", self.lab.ca_path());
        c
    }

    /// How many AcrPull assignments the kubelet identity holds (1 when attached).
    pub fn kubelet_acr_pull_count(&self) -> usize {
        let st = self.lab.state().read();
        let k = st.kubelet_identity().object_id.to_lowercase();
        st.live_role_assignments()
            .filter(|a| {
                a.principal_id.to_lowercase() == k
                    && a.role_guid() == "7f951dda-4ed3-4680-a7ca-43fe172d538d"
            })
            .count()
    }
}

/// What must be identical before a run and after its recovery.
#[derive(Debug, PartialEq, Clone)]
pub struct Snapshot {
    pub role_assignments: Vec<(String, String, String, String, String, Option<String>)>,
    pub public_network_access: String,
    pub default_action: String,
    pub ip_rules: Vec<String>,
    pub nsg_rules: Vec<String>,
    pub namespaces: Vec<String>,
    pub journal_objects: Vec<String>,
    /// `namespace/name` and a digest of the data of every Secret outside kube-system.
    pub secrets: Vec<String>,
}

pub async fn snapshot(e: &External) -> Snapshot {
    let arm = arm_state(e);
    let (namespaces, journal_objects, secrets) = kube_state(e).await;
    Snapshot {
        role_assignments: arm.0,
        public_network_access: arm.1,
        default_action: arm.2,
        ip_rules: arm.3,
        nsg_rules: arm.4,
        namespaces,
        journal_objects,
        secrets,
    }
}

type RoleAssignmentRow = (String, String, String, String, String, Option<String>);

/// Role assignments, registry network settings and NSG rules, as the ARM emulator holds them.
fn arm_state(e: &External) -> (Vec<RoleAssignmentRow>, String, String, Vec<String>, Vec<String>) {
    let st = e.lab.state().read();
    let mut ras: Vec<_> = st
        .live_role_assignments()
        .map(|a| {
            (
                a.name.to_lowercase(),
                a.scope.to_lowercase(),
                a.role_guid(),
                a.principal_id.to_lowercase(),
                a.principal_type.clone(),
                a.description.clone(),
            )
        })
        .collect();
    ras.sort();
    let n = st.effective_registry_network();
    let mut ips: Vec<_> = n.network_rule_set.ip_rules.iter().map(|r| r.value.clone()).collect();
    ips.sort();
    let nsg: Vec<_> = st.nsg_rules.iter().map(|r| format!("{r:?}")).collect();
    (ras, n.public_network_access.clone(), n.network_rule_set.default_action.clone(), ips, nsg)
}

fn sorted(items: impl IntoIterator<Item = Option<String>>, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().flatten().map(|n| format!("{prefix}{n}")).collect();
    v.sort();
    v
}

/// Namespaces, the journal namespace's ConfigMaps and Leases, and every Secret (digest).
async fn kube_state(e: &External) -> (Vec<String>, Vec<String>, Vec<String>) {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
    let client = e.kube.client().clone();
    let lp = Default::default();
    let ns = kube::Api::<Namespace>::all(client.clone()).list(&lp).await.unwrap();
    let namespaces = sorted(ns.items.into_iter().map(|n| n.metadata.name), "");
    let cms = kube::Api::<ConfigMap>::namespaced(client.clone(), LAB_JOURNAL_NAMESPACE);
    let mut journal_objects = sorted(
        cms.list(&lp).await.unwrap().items.into_iter().map(|n| n.metadata.name),
        "configmap/",
    );
    let leases = kube::Api::<Lease>::namespaced(client.clone(), LAB_JOURNAL_NAMESPACE);
    journal_objects.extend(sorted(
        leases.list(&lp).await.unwrap().items.into_iter().map(|n| n.metadata.name),
        "lease/",
    ));
    let all = kube::Api::<Secret>::all(client).list(&lp).await.unwrap().items;
    let secrets = sorted(
        all.into_iter().filter(|s| s.metadata.namespace.as_deref() != Some("kube-system")).map(
            |s| {
                let data = serde_json::to_string(&s.data).unwrap_or_default();
                let digest = data.bytes().fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
                let ns = s.metadata.namespace.unwrap_or_default();
                Some(format!("{ns}/{} {digest:016x}", s.metadata.name.unwrap_or_default()))
            },
        ),
        "",
    );
    (namespaces, journal_objects, secrets)
}

/// Poll a condition on in-process lab state (no watch exists for it) until `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
