//! Alert assertions through the real binary on the embedded lab (real Prometheus and
//! Alertmanager on the shipped rules, real containerd failing the pull): a built-in
//! scenario's alerts fire, are received and resolve, each a JUnit case of its own; an
//! alert that cannot fire (wrong metric name in its query) fails the scenario with a
//! readable JUnit failure.

use crate::lab_support::root;
use crate::require_lab;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn junit(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "junit.xml") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// `(stdout+stderr, exit code, junit.xml)` of `acr-chaos run <scenario>` on the lab.
fn run(scenario: &Path) -> (String, Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .current_dir(dir.path())
        .env("ACR_CHAOS_LAB_TIME_SCALE", "0.05")
        .env("ACR_CHAOS_LOG", "warn")
        .arg("run")
        .arg(scenario)
        .args(["--report-dir", "reports"])
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status.code(), junit(&dir.path().join("reports")))
}

/// The `<testcase …>` element (up to its end) whose name contains `name`.
fn case<'a>(junit: &'a str, name: &str) -> Option<&'a str> {
    let at = junit.find(&format!("name=\"{name}\""))?;
    let start = junit[..at].rfind("<testcase")?;
    let rest = &junit[start..];
    let end = rest
        .find("</testcase>")
        .map(|e| e + "</testcase>".len())
        .or_else(|| rest.find("/>").map(|e| e + 2))?;
    Some(&rest[..end])
}

#[test]
fn builtin_scenario_alerts_fire_and_resolve() {
    require_lab!(crate::lab_support::MONITORING_BINARIES);
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (text, code, junit) = run(&root().join("scenarios/acr-detach.yaml"));
    assert_eq!(code, Some(0), "{text}\n{junit}");
    for name in [
        "acr-detach/alert/rule-fires/baseline",
        "acr-detach/alert/alertmanager-receives/baseline",
        "acr-detach/alert/rule-fires",
        "acr-detach/alert/alertmanager-receives",
        "acr-detach/alert/rule-fires/resolved",
        "acr-detach/alert/alertmanager-receives/resolved",
    ] {
        let c = case(&junit, name).unwrap_or_else(|| panic!("no JUnit case {name}:\n{junit}"));
        assert!(!c.contains("<failure"), "{name} failed:\n{c}");
    }
    // Evidence: the firing series names the probe pod the lab's kubelet failed to pull.
    let fires = case(&junit, "acr-detach/alert/rule-fires").unwrap();
    assert!(fires.contains("probe-fault"), "evidence names the probe pod:\n{fires}");
    assert!(fires.contains("KubePodImagePullFailing"), "{fires}");
}

#[test]
fn an_alert_that_cannot_fire_fails_the_scenario_readably() {
    require_lab!(crate::lab_support::MONITORING_BINARIES);
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = std::fs::read_to_string(root().join("scenarios/image-tag-missing.yaml")).unwrap();
    // Cut the shipped alerts; assert on a misspelled metric instead (it never exists).
    let head = text.split("\nalerts:").next().unwrap();
    let broken = format!(
        "{head}\nalerts:\n  - kind: prometheus\n    name: typo\n    query: 'kube_pod_container_status_waiting_reasons{{namespace=\"${{namespace}}\"}}'\n    deadline: 5s\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("broken.yaml");
    std::fs::write(&sc, broken).unwrap();
    let (out, code, junit) = run(&sc);
    assert_eq!(code, Some(1), "{out}\n{junit}");
    let c = case(&junit, "image-tag-missing/alert/typo").unwrap_or_else(|| panic!("{junit}"));
    assert!(c.contains("<failure"), "{c}");
    assert!(c.contains("did not fire within 5s"), "{c}");
    assert!(c.contains("kube_pod_container_status_waiting_reasons"), "{c}");
}
