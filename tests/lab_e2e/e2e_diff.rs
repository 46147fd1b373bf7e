//! End to end on the lab: the same scenarios twice on the same kubelet profile, the first
//! run accepted as the baseline, the second run with `--baseline`: the diff is empty (no
//! false drift from run ids, namespaces, pod names, ports or timings within tolerance),
//! the run exits 0, and diff.json / diff.md / diff-junit.xml are in the run's folder.
//! Needs root, containerd, docker-registry and nft: without them the test prints SKIPPED
//! (and fails when CI=true).

use crate::lab_support::{SERIAL, root};
use crate::require_lab;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIOS: [&str; 3] = ["image-tag-missing", "acr-detach", "pull-secret-wrong"];

fn run(dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acr-chaos"));
    c.env("ACR_CHAOS_LAB_TIME_SCALE", "0.05")
        .env("ACR_CHAOS_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("ACR_CHAOS_LAB_KUBELET_PROFILE")
        .current_dir(dir)
        .arg("run");
    for s in SCENARIOS {
        c.arg(root().join(format!("scenarios/{s}.yaml")));
    }
    let out = c.args(["--report-dir", "reports"]).args(extra).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("events.jsonl").is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn same_profile_twice_gives_an_empty_diff() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = run(tmp.path(), &["--quiet"]);
    assert_eq!(code, 0, "first run:\n{err}");
    let first = run_dirs(tmp.path()).pop().unwrap();

    let baseline = tmp.path().join("baseline-lab.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(["baseline", "accept"])
        .arg(&first)
        .arg("--out")
        .arg(&baseline)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&baseline).unwrap();
    for s in SCENARIOS {
        assert!(text.contains(&format!("  {s}:\n    verdict: passed")), "{s} in baseline:\n{text}");
    }
    assert!(text.contains("nodes[nodepool1].kubeletVersion"), "environment facts:\n{text}");
    assert!(text.contains("containerd://"), "the real containerd's version:\n{text}");

    let (code, err) = run(tmp.path(), &["--baseline", baseline.to_str().unwrap()]);
    let second = run_dirs(tmp.path()).pop().unwrap();
    assert_ne!(first, second);
    let diff: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(second.join("diff.json")).unwrap()).unwrap();
    let changed: Vec<&serde_json::Value> = diff["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["findings"].as_array().unwrap())
        .chain(diff["environment"].as_array().unwrap())
        .filter(|f| f["status"] != "unchanged")
        .collect();
    assert!(changed.is_empty(), "false drift: {changed:#?}\n{err}");
    assert_eq!(diff["environmentCompared"], true);
    assert_eq!(diff["scenarios"].as_array().unwrap().len(), SCENARIOS.len());
    assert_eq!(code, 0, "second run with --baseline:\n{err}");
    assert!(err.contains("no regression"), "the diff table is printed:\n{err}");
    let junit = std::fs::read_to_string(second.join("diff-junit.xml")).unwrap();
    assert!(junit.contains("acr-detach: error signature"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(second.join("diff.md").is_file());
}
