//! End to end on the lab (real docker-registry, real containerd, nftables): every
//! built-in scenario through the real binary; a wrong expectation gives a readable JUnit
//! failure; SIGKILL after an injection + `recover` restores exactly; SIGINT restores and
//! exits 130; 10 % transient ARM failures still pass and leave nothing behind; no lab
//! secret in any output. Needs root, containerd, docker-registry and nft: without them
//! the tests print SKIPPED (and fail when CI=true).

#![allow(
    clippy::await_holding_lock,
    reason = "one std Mutex serializes the sync and async lab tests; each async test owns its runtime, so holding the guard across awaits cannot deadlock"
)]

use acr_chaos::clients::kube::Kube;
use acr_chaos::engine::lab::{LAB_JOURNAL_NAMESPACE, LabFacts, write_target};
use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lab tests share containerd/nft resources: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const LAB_SECRETS: [&str; 6] = [
    "lab-runner-secret-not-a-real-secret",
    "lab-hub-password-not-a-secret",
    "lab-token-password-1-not-a-secret",
    "lab-expired-secret-not-a-real-secret",
    "lab-team-token-password-1-not-a-secret",
    // the engine's masking check's bogus pull secret
    "acr-chaos-deliberately-wrong-password",
];

fn missing_prereq() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
    });
    if uid.as_deref() != Some("0") {
        return Some("not root".into());
    }
    for b in ["containerd", "docker-registry", "nft"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(b).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!("{b} not installed"));
        }
    }
    None
}

macro_rules! require_lab {
    () => {
        if let Some(why) = missing_prereq() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "lab end-to-end test needs root, containerd, docker-registry and nft: {why}"
                );
            }
            eprintln!("SKIPPED: lab end-to-end test: {why}");
            return;
        }
    };
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acr-chaos"));
    c.env("ACR_CHAOS_LAB_TIME_SCALE", "0.05").env("ACR_CHAOS_LOG", "warn");
    c
}

/// Every file under `dir`, as text.
fn all_text(dir: &Path) -> String {
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

fn assert_no_secret(what: &str, text: &str) {
    use base64::Engine as _;
    for s in LAB_SECRETS {
        assert!(!text.contains(s), "lab secret {s:?} found in {what}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(s);
        assert!(
            !text.contains(&b64[..b64.len() - 4]),
            "base64 of lab secret {s:?} found in {what}"
        );
    }
}

#[rstest]
#[case("image-tag-missing")]
#[case("private-registry-no-secret")]
#[case("pull-secret-missing")]
#[case("registry-firewall-deny")]
#[case("registry-public-access-disabled")]
#[case("acr-detach")]
#[case("role-assignment-delete")]
#[case("network-path-cut")]
#[case("pull-secret-wrong")]
#[case("pull-secret-expired")]
fn built_in_scenario_passes_on_the_lab(#[case] name: &str) {
    run_built_in(name);
}

/// On a registry the cluster is attached to, the kubelet falls back to the node's ACR
/// credentials, so a pull-secret fault cannot show: the engine's preflight probes with a
/// bogus pull secret, sees the pull succeed and skips the scenario (no change made).
#[test]
fn pull_secret_fault_on_the_attached_registry_is_skipped() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let builtin =
        std::fs::read_to_string(root().join("scenarios/pull-secret-expired.yaml")).unwrap();
    let mut yaml = String::new();
    for line in builtin.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("image:") {
            yaml.push_str(&format!("{indent}image: target:acr\n"));
        } else if t.starts_with("token:") {
            yaml.push_str(&format!("{indent}token: probe-pull\n"));
        } else if !t.starts_with("registry:") && !t.starts_with("pullSecrets:") {
            yaml.push_str(line);
            yaml.push('\n');
        }
    }
    let scenario = dir.path().join("attached.yaml");
    std::fs::write(&scenario, yaml).unwrap();
    let out = bin()
        .current_dir(dir.path())
        .arg("run")
        .arg(&scenario)
        .args(["--report-dir", "reports"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let reports = all_text(&dir.path().join("reports"));
    assert_eq!(out.status.code(), Some(0), "a skipped scenario does not fail the run:\n{stderr}");
    assert!(
        stderr.contains("with its node identity, so a pull-secret fault cannot break pulls there"),
        "the skip says why:\n{stderr}"
    );
    assert!(stderr.contains("finished: skipped"), "{stderr}");
    assert!(reports.contains("<skipped"), "junit marks it skipped");
    assert!(!stderr.contains("generated password2"), "nothing injected:\n{stderr}");
}

fn run_built_in(name: &str) {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .arg("run")
        .arg(root().join(format!("scenarios/{name}.yaml")))
        .args(["--report-dir", "reports"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let reports = all_text(&dir.path().join("reports"));
    assert_no_secret("stdout", &stdout);
    assert_no_secret("stderr", &stderr);
    assert_no_secret("reports", &reports);
    assert!(reports.contains("<testsuite"), "junit.xml written");
    assert_eq!(out.status.code(), Some(0), "{name} did not pass:\n{stderr}");
}

#[test]
fn wrong_expectation_fails_with_a_readable_junit_failure() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/image-tag-missing.yaml")).unwrap();
    let wrong = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("causes:") {
                "  causes: [unauthorized-anonymous]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(wrong, text);
    let sc = dir.path().join("wrong.yaml");
    std::fs::write(&sc, wrong).unwrap();
    let out = bin()
        .current_dir(dir.path())
        .arg("run")
        .arg(&sc)
        .args(["--quiet", "--report-dir", "reports"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let reports = all_text(&dir.path().join("reports"));
    assert!(reports.contains("<failure"), "junit failure element");
    assert!(reports.contains("expected [unauthorized-anonymous]"), "expected causes shown");
    assert!(reports.contains("observed [not-found]"), "observed causes shown");
    assert!(reports.contains("does-not-exist"), "the observed message is shown");
}

// ---- an in-process lab, driven through a target file (as `acr-chaos lab up` users do) --

struct External {
    lab: acr_chaos_lab::Lab,
    dir: tempfile::TempDir,
    target: PathBuf,
    kube: Kube,
}

async fn external_lab(knob: Option<acr_chaos_lab::knobs::Knob>) -> External {
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
    External { lab, dir, target, kube }
}

fn child(e: &External, args: &[&str]) -> Command {
    let p = e.lab.chaos_principal().unwrap();
    let mut c = bin();
    c.current_dir(e.dir.path())
        .args(args)
        .arg("--target")
        .arg(&e.target)
        .env("ACR_CHAOS_LAB_CLIENT_ID", &p.client_id)
        .env("ACR_CHAOS_LAB_CLIENT_SECRET", &p.secret)
        .env("ACR_CHAOS_LAB_TENANT_ID", e.lab.tenant_id())
        .env("ACR_CHAOS_LAB_CA", e.lab.ca_path());
    c
}

/// What must be identical before a run and after its recovery.
#[derive(Debug, PartialEq)]
struct Snapshot {
    role_assignments: Vec<(String, String, String, String, String, Option<String>)>,
    public_network_access: String,
    default_action: String,
    ip_rules: Vec<String>,
    nsg_rules: Vec<String>,
    namespaces: Vec<String>,
    journal_objects: Vec<String>,
}

async fn snapshot(e: &External) -> Snapshot {
    let (ras, pna, da, ips, nsg) = {
        let st = e.lab.state.read();
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
    };
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    let client = e.kube.client().clone();
    let mut namespaces: Vec<String> = kube::Api::<Namespace>::all(client.clone())
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    namespaces.sort();
    let mut journal_objects: Vec<String> =
        kube::Api::<ConfigMap>::namespaced(client.clone(), LAB_JOURNAL_NAMESPACE)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name.map(|n| format!("configmap/{n}")))
            .collect();
    journal_objects.extend(
        kube::Api::<Lease>::namespaced(client, LAB_JOURNAL_NAMESPACE)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name.map(|n| format!("lease/{n}"))),
    );
    journal_objects.sort();
    Snapshot {
        role_assignments: ras,
        public_network_access: pna,
        default_action: da,
        ip_rules: ips,
        nsg_rules: nsg,
        namespaces,
        journal_objects,
    }
}

fn kubelet_acr_pull_count(e: &External) -> usize {
    let st = e.lab.state.read();
    let k = st.kubelet_identity().object_id.to_lowercase();
    st.live_role_assignments()
        .filter(|a| {
            a.principal_id.to_lowercase() == k
                && a.role_guid() == "7f951dda-4ed3-4680-a7ca-43fe172d538d"
        })
        .count()
}

async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_injection_then_recover_restores_exactly() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    assert_eq!(kubelet_acr_pull_count(&e), 1, "the lab starts attached");
    let scenario = root().join("scenarios/acr-detach.yaml");
    let mut run = child(&e, &["run", scenario.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the detach", Duration::from_secs(60), || kubelet_acr_pull_count(&e) == 0).await;
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    assert_eq!(kubelet_acr_pull_count(&e), 0, "the fault is left behind by the killed run");
    assert_ne!(snapshot(&e).await, before);
    let out = child(&e, &["recover"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "recover: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-create role assignment"), "{stdout}");
    assert_eq!(snapshot(&e).await, before, "ARM and Kubernetes state restored exactly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_scenario_restores_and_exits_130() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    let scenario = root().join("scenarios/registry-firewall-deny.yaml");
    let run = child(&e, &["run", scenario.to_str().unwrap(), "--quiet", "--report-dir", "reports"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the firewall", Duration::from_secs(60), || {
        e.lab.state.read().effective_registry_network().network_rule_set.default_action == "Deny"
    })
    .await;
    let pid = run.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(snapshot(&e).await, before, "everything restored before exiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_transient_arm_failures_still_pass_and_leave_nothing_behind() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    use acr_chaos_lab::knobs::{Fault, Knob};
    let e = external_lab(Some(Knob::probability(Fault::ServerError, 0.1))).await;
    let before = snapshot(&e).await;
    let mut args = vec!["run".to_string()];
    for s in ["registry-firewall-deny", "registry-public-access-disabled", "image-tag-missing"] {
        args.push(root().join(format!("scenarios/{s}.yaml")).display().to_string());
    }
    args.extend(["--quiet".into(), "--report-dir".into(), "reports".into()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = child(&e, &a).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    e.lab.knobs.clear_all();
    assert_eq!(snapshot(&e).await, before, "nothing left behind");
    assert_no_secret("reports", &all_text(&e.dir.path().join("reports")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_lease_is_taken_over_only_after_recovering_the_dead_run() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    let detach = root().join("scenarios/acr-detach.yaml");
    let mut run = child(&e, &["run", detach.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the detach", Duration::from_secs(60), || kubelet_acr_pull_count(&e) == 0).await;
    run.kill().unwrap();
    run.wait().unwrap();

    // a second run while the dead run's lease is fresh is refused
    let tag = root().join("scenarios/image-tag-missing.yaml");
    let out = child(&e, &["run", tag.to_str().unwrap(), "--quiet", "--report-dir", "r1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds the lease"));
    assert_eq!(kubelet_acr_pull_count(&e), 0, "nothing recovered yet");

    // age the lease: the holder stopped renewing long ago
    use k8s_openapi::api::coordination::v1::Lease;
    let api = kube::Api::<Lease>::namespaced(e.kube.client().clone(), LAB_JOURNAL_NAMESPACE);
    let mut l = api.get("acr-chaos").await.unwrap();
    let old = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        "2020-01-01T00:00:00Z".parse().unwrap(),
    );
    l.spec.as_mut().unwrap().renew_time = Some(old.clone());
    l.spec.as_mut().unwrap().acquire_time = Some(old);
    api.replace("acr-chaos", &Default::default(), &l).await.unwrap();

    let out = child(&e, &["run", tag.to_str().unwrap(), "--quiet", "--report-dir", "r2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reports = all_text(&e.dir.path().join("r2"));
    assert!(reports.contains("stale lease of run"), "the takeover is in the report");
    assert_eq!(kubelet_acr_pull_count(&e), 1, "the dead run's detach was undone first");
    assert_eq!(snapshot(&e).await, before, "and nothing is left behind");
}

#[test]
fn parallel_runs_namespace_local_scenarios_beside_registry_ones_but_never_two_registry_ones() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.current_dir(dir.path()).arg("run");
    for s in [
        "acr-detach",
        "registry-firewall-deny",
        "private-registry-no-secret",
        "pull-secret-missing",
    ] {
        cmd.arg(root().join(format!("scenarios/{s}.yaml")));
    }
    let out = cmd.args(["--quiet", "--parallel", "3", "--report-dir", "reports"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report_dir =
        std::fs::read_dir(dir.path().join("reports")).unwrap().next().unwrap().unwrap().path();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap())
            .unwrap();
    // [start, end] of each scenario from its events
    let span = |name: &str| {
        let at: Vec<chrono::DateTime<chrono::FixedOffset>> = report["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["scenario"] == name)
            .filter_map(|e| {
                e["at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            })
            .collect();
        (*at.first().unwrap(), *at.last().unwrap())
    };
    let (detach_start, detach_end) = span("acr-detach");
    let (fw_start, fw_end) = span("registry-firewall-deny");
    let (local_start, _) = span("private-registry-no-secret");
    assert!(fw_start > detach_end || detach_start > fw_end, "two registry scenarios overlapped");
    assert!(local_start < detach_end, "a namespace-local scenario ran beside acr-detach");
}
