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

use crate::lab_support::{SERIAL, all_text, bin, external_lab, root, snapshot, wait_for};
use crate::require_lab;
use acr_chaos::engine::lab::LAB_JOURNAL_NAMESPACE;
use rstest::rstest;
use std::process::{Command, Stdio};
use std::time::Duration;

const LAB_SECRETS: [&str; 6] = [
    "lab-runner-secret-not-a-real-secret",
    "lab-hub-password-not-a-secret",
    "lab-token-password-1-not-a-secret",
    "lab-expired-secret-not-a-real-secret",
    "lab-team-token-password-1-not-a-secret",
    // the engine's masking check's bogus pull secret
    "acr-chaos-deliberately-wrong-password",
];

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_injection_then_recover_restores_exactly() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    assert_eq!(e.kubelet_acr_pull_count(), 1, "the lab starts attached");
    let scenario = root().join("scenarios/acr-detach.yaml");
    let mut run = e
        .child(&["run", scenario.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the detach", Duration::from_secs(60), || e.kubelet_acr_pull_count() == 0).await;
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    assert_eq!(e.kubelet_acr_pull_count(), 0, "the fault is left behind by the killed run");
    assert_ne!(snapshot(&e).await, before);
    let out = e.child(&["recover"]).output().unwrap();
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
    let run = e
        .child(&["run", scenario.to_str().unwrap(), "--quiet", "--report-dir", "reports"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the firewall", Duration::from_secs(60), || {
        e.lab.state().read().effective_registry_network().network_rule_set.default_action == "Deny"
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
    let out = e.child(&a).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    e.lab.knobs().clear_all();
    assert_eq!(snapshot(&e).await, before, "nothing left behind");
    assert_no_secret("reports", &all_text(&e.dir.path().join("reports")));
}

/// The lease of a run killed on this machine names its process: seen dead at once.
/// `from_elsewhere` rewrites the lease as a holder on another machine would have written
/// it, which only the lease's clock can judge.
async fn kill_a_detach_run(e: &crate::lab_support::External, from_elsewhere: bool) {
    let detach = root().join("scenarios/acr-detach.yaml");
    let mut run = e
        .child(&["run", detach.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the detach", Duration::from_secs(60), || e.kubelet_acr_pull_count() == 0).await;
    run.kill().unwrap();
    run.wait().unwrap();
    if from_elsewhere {
        edit_lease(e, |l| {
            let a = l.metadata.annotations.get_or_insert_default();
            a.insert("acr-chaos/holder-boot-id".into(), "another-machine".into());
        })
        .await;
    }
}

async fn edit_lease(
    e: &crate::lab_support::External,
    f: impl FnOnce(&mut k8s_openapi::api::coordination::v1::Lease),
) {
    use k8s_openapi::api::coordination::v1::Lease;
    let api = kube::Api::<Lease>::namespaced(e.kube.client().clone(), LAB_JOURNAL_NAMESPACE);
    let mut l = api.get("acr-chaos").await.unwrap();
    f(&mut l);
    api.replace("acr-chaos", &Default::default(), &l).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_lease_is_taken_over_only_after_recovering_the_dead_run() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    kill_a_detach_run(&e, true).await;

    // a second run while the dead run's lease is fresh is refused
    let tag = root().join("scenarios/image-tag-missing.yaml");
    let out =
        e.child(&["run", tag.to_str().unwrap(), "--quiet", "--report-dir", "r1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds the lease"));
    assert_eq!(e.kubelet_acr_pull_count(), 0, "nothing recovered yet");
    // and recover does not touch the live-looking run either
    let out = e.child(&["recover"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("recover never touches a live run"));
    assert_eq!(e.kubelet_acr_pull_count(), 0, "recover left the live run alone");

    // age the lease: the holder stopped renewing long ago
    edit_lease(&e, |l| {
        let old = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            "2020-01-01T00:00:00Z".parse().unwrap(),
        );
        l.spec.as_mut().unwrap().renew_time = Some(old.clone());
        l.spec.as_mut().unwrap().acquire_time = Some(old);
    })
    .await;

    let out =
        e.child(&["run", tag.to_str().unwrap(), "--quiet", "--report-dir", "r2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reports = all_text(&e.dir.path().join("r2"));
    assert!(reports.contains("stale lease of run"), "the takeover is in the report");
    assert_eq!(e.kubelet_acr_pull_count(), 1, "the dead run's detach was undone first");
    assert_eq!(snapshot(&e).await, before, "and nothing is left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_on_this_machine_is_recovered_by_the_next_run_at_once() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = external_lab(None).await;
    let before = snapshot(&e).await;
    kill_a_detach_run(&e, false).await;
    let tag = root().join("scenarios/image-tag-missing.yaml");
    let out =
        e.child(&["run", tag.to_str().unwrap(), "--quiet", "--report-dir", "r"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let reports = all_text(&e.dir.path().join("r"));
    assert!(reports.contains("has exited"), "the dead holder is named: {reports}");
    assert_eq!(snapshot(&e).await, before, "the dead run's detach was undone first");
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
