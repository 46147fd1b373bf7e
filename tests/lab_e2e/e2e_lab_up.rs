//! `acr-chaos lab up` as a target a user points at, and least privilege proven before
//! the first change. (1) `lab up --state-dir D` then `run --target D/target.yaml` (with
//! `D/lab.env` sourced) passes the whole built-in suite — as the runner `lab up` mints
//! with exactly the documented Azure role (docs/acr-chaos-role.json) and Kubernetes RBAC
//! (docs/acr-chaos-rbac.yaml). (2) Taking any single documented permission away makes
//! the run refuse (exit 2) before the first change, naming the permission in JUnit.
//! Needs root, containerd, docker-registry and nft: SKIPPED without them, failing under
//! CI=true.

// One std Mutex serializes the sync and async lab tests; each async test owns its runtime,
// so holding the guard across awaits cannot deadlock.
#![allow(
    clippy::await_holding_lock,
    reason = "one std Mutex serializes sync and async lab tests; each async test owns its runtime"
)]

use crate::lab_support::{SERIAL, root};
use crate::require_lab;
use acr_chaos::engine::lab::{LAB_JOURNAL_NAMESPACE, LabFacts, prepare_lab_target, write_target};
use acr_chaos_lab::lab::RunnerSpec;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary with a clean environment as far as the lab is concerned (no time scale:
/// it must come from the target file).
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acr-chaos"));
    c.env_remove("ACR_CHAOS_LAB_TIME_SCALE").env_remove("KUBECONFIG").env("ACR_CHAOS_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("ACR_CHAOS_LAB_") || k.starts_with("AZURE_") {
            c.env_remove(k);
        }
    }
    c
}

/// `export K='V'` lines of lab.env, as a shell would read them.
fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
            (k.to_string(), v.replace(r"'\''", "'"))
        })
        .collect()
}

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
    out.replace("&apos;", "'").replace("&quot;", "\"")
}

/// The `lab up` child; SIGTERM (the lab stops every child process) on drop.
struct LabUp(Child);

impl Drop for LabUp {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lab_up_target_passes_the_built_in_suite_with_the_documented_least_privilege() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("lab");
    let log = std::fs::File::create(dir.path().join("lab-up.log")).unwrap();
    let child = bin()
        .args(["lab", "up", "--time-scale", "0.05", "--state-dir"])
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut lab = LabUp(child);
    let target = state.join("target.yaml");
    let deadline = Instant::now() + Duration::from_secs(180);
    let env_text = loop {
        let text = std::fs::read_to_string(state.join("lab.env")).unwrap_or_default();
        if target.exists() && text.contains("ACR_CHAOS_LAB_RUNNER_CLIENT_SECRET") {
            break text;
        }
        if let Ok(Some(s)) = lab.0.try_wait() {
            panic!(
                "lab up exited ({s}): {}",
                std::fs::read_to_string(dir.path().join("lab-up.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "lab up did not write target.yaml in time");
        std::thread::sleep(Duration::from_millis(200));
    };
    let yaml = std::fs::read_to_string(&target).unwrap();
    for needle in ["timeScale: 0.05", "nsgId:", "team:", "private:", "secretName: hub-pull"] {
        assert!(yaml.contains(needle), "target.yaml lacks {needle}:\n{yaml}");
    }
    assert!(yaml.contains("kubeconfig-acr-chaos-runner"), "the runner's kubeconfig:\n{yaml}");

    let reports = dir.path().join("reports");
    let started = Instant::now();
    let out = bin()
        .args(["run", "scenarios", "--quiet", "--target"])
        .arg(&target)
        .arg("--report-dir")
        .arg(&reports)
        .envs(parse_env(&env_text))
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "built-in suite on the lab up target:\n{stderr}");
    let text = all_text(&reports);
    assert!(text.contains("<testsuite"), "junit written");
    assert!(!text.contains("<failure") && !text.contains("<error"), "{text}");
    eprintln!("built-in suite on the lab up target: {:.1?}", started.elapsed());
}

/// One refused run: exit 2, the permission named in the JUnit report, nothing changed.
fn assert_refused(lab: &acr_chaos_lab::Lab, work: &Path, spec: &RunnerSpec, needle: &str) {
    let runner = lab.mint_runner(spec).unwrap();
    let case_dir = work.join(&spec.name);
    std::fs::create_dir_all(&case_dir).unwrap();
    let mut facts = LabFacts::from_lab(lab);
    facts.kubeconfig = runner.kubeconfig.clone();
    let (target, _) = write_target(&facts, &case_dir).unwrap();
    let before = changes_snapshot(lab);
    let reports = case_dir.join("reports");
    let out = bin()
        .args(["run", "scenarios", "--quiet", "--target"])
        .arg(&target)
        .arg("--report-dir")
        .arg(&reports)
        .env("ACR_CHAOS_LAB_CLIENT_ID", &runner.principal.client_id)
        .env("ACR_CHAOS_LAB_CLIENT_SECRET", &runner.principal.secret)
        .env("ACR_CHAOS_LAB_TENANT_ID", lab.tenant_id())
        .env("ACR_CHAOS_LAB_CA", lab.ca_path())
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "without {needle}: {stderr}");
    let junit = all_text(&reports);
    assert!(
        junit.contains("refused before the first change") && junit.contains(needle),
        "JUnit does not name {needle}:\n{junit}\nstderr: {stderr}"
    );
    assert_eq!(changes_snapshot(lab), before, "without {needle}: something changed");
}

/// Role assignments, registry network, NSG rules, namespaces and journal objects.
fn changes_snapshot(lab: &acr_chaos_lab::Lab) -> String {
    use acr_chaos_lab::kube::Kind;
    let st = lab.state().read();
    let mut ras: Vec<String> = st
        .live_role_assignments()
        .filter(|a| !a.description.as_deref().unwrap_or("").starts_with("acr-chaos lab runner"))
        .map(|a| format!("{} {} {}", a.name, a.scope, a.role_guid()))
        .collect();
    ras.sort();
    let store = lab.kube().store();
    let names = |k: Kind, ns: Option<&str>| -> Vec<String> {
        let mut v: Vec<String> = store
            .list(&k, ns, None, None)
            .map(|(items, _)| items)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    format!(
        "{ras:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        st.effective_registry_network(),
        st.nsg_rules.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
        names(Kind::Namespace, None),
        names(Kind::ConfigMap, Some(LAB_JOURNAL_NAMESPACE)),
        names(Kind::Lease, Some(LAB_JOURNAL_NAMESPACE)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_any_documented_permission_refuses_before_the_first_change() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let lab = acr_chaos_lab::Lab::builder()
        .state_dir(dir.path().join("lab"))
        .time_scale(0.05)
        .start()
        .await
        .expect("lab starts");
    prepare_lab_target(&lab).unwrap();
    let documented = RunnerSpec::documented("documented", LAB_JOURNAL_NAMESPACE);
    let work = dir.path().to_path_buf();
    let started = Instant::now();
    let mut cases = 0;
    for (i, action) in documented.role.actions.iter().enumerate() {
        let mut spec = documented.clone().without_action(action);
        spec.name = format!("no-arm-{i}");
        let l = &lab;
        let (w, s, a) = (work.clone(), spec.clone(), action.clone());
        tokio::task::block_in_place(|| assert_refused(l, &w, &s, &a));
        cases += 1;
    }
    for (i, (resource, verb)) in documented.kube_grants().into_iter().enumerate() {
        let mut spec = documented.clone().without_kube_verb(&resource, &verb);
        spec.name = format!("no-kube-{i}");
        let needle = format!("'{verb}' on {resource}");
        let l = &lab;
        let w = work.clone();
        tokio::task::block_in_place(|| assert_refused(l, &w, &spec, &needle));
        cases += 1;
    }
    eprintln!("{cases} single-permission removals refused in {:.1?}", started.elapsed());
    lab.stop().await;
}
