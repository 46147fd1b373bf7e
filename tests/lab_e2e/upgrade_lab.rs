//! The pre-upgrade walk-through of docs/lab-profiles.md, end to end on the lab through
//! the real binary: a baseline on the kubelet 1.27 profile, the same scenarios on the 1.33
//! profile with `run --baseline`, and the diff names exactly what the two releases change
//! on this path (the gRPC `Unknown` prefix is gone from the 401 of role-assignment-delete;
//! the NotFound of image-tag-missing is worded the same) plus the nodes' kubelet version,
//! as a failing JUnit case with exit code 4; accepting the differences makes the next run
//! green.
//!
//! Two scenarios (side by side, ~15 s a run) show every difference a report records:
//! role-assignment-delete (the kubelet identity loses AcrPull, as acr-detach does but
//! without alert checks: an `Unknown`-coded 401 after the credential provider fails,
//! in-tree on 1.27, exec plugin on 1.33) and image-tag-missing (`NotFound`, never
//! stripped). The back-off waiting message also
//! differs between the two releases, but the engine reports the `Failed to pull image`
//! event's text, so it is not in the report and must not show in the diff.
//! Needs root, containerd, docker-registry and nft (SKIPPED otherwise, failing under CI).

use crate::lab_support::{SERIAL, root};
use crate::require_lab;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stderr: String,
    dir: PathBuf,
}

/// `acr-chaos run` on an embedded lab playing `profile`, in `work`; the run's folder.
fn run(work: &Path, profile: &str, baseline: Option<&str>) -> Run {
    let reports = work.join("reports");
    let before: Vec<PathBuf> = dirs(&reports);
    let mut c = Command::new(env!("CARGO_BIN_EXE_acr-chaos"));
    c.current_dir(work)
        .env("ACR_CHAOS_LAB_TIME_SCALE", "0.05")
        .env("ACR_CHAOS_LOG", "error")
        .env("ACR_CHAOS_LAB_KUBELET_PROFILE", profile)
        .arg("run")
        .arg(root().join("scenarios/role-assignment-delete.yaml"))
        .arg(root().join("scenarios/image-tag-missing.yaml"))
        .args(["--report-dir", "reports", "--parallel", "2", "--quiet"]);
    if let Some(b) = baseline {
        c.args(["--baseline", b]);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let new: Vec<PathBuf> = dirs(&reports).into_iter().filter(|d| !before.contains(d)).collect();
    assert_eq!(new.len(), 1, "one new run folder under {}: {new:?}\n{stderr}", reports.display());
    Run { code: out.status.code().unwrap_or(-1), stderr, dir: new[0].clone() }
}

fn dirs(p: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default()
}

fn accept(work: &Path, run: &Path, reason: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .current_dir(work)
        .args(["baseline", "accept"])
        .arg(run)
        .args(["--out", "baseline-lab.yaml", "--reason", reason])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "baseline accept: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(scenario, check id, status)` of every finding that is not unchanged.
fn findings(diff: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for s in diff["scenarios"].as_array().unwrap() {
        for f in s["findings"].as_array().unwrap() {
            let status = f["status"].as_str().unwrap().to_string();
            if status != "unchanged" {
                let check = f["check"]["kind"].as_str().unwrap().to_string();
                out.push((s["name"].as_str().unwrap().to_string(), check, status));
            }
        }
    }
    out
}

fn junit_failures(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    for case in xml.split("<testcase ").skip(1) {
        let name = case.split("name=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("");
        if case.split("</testcase>").next().unwrap_or("").contains("<failure") {
            out.push(name.to_string());
        }
    }
    out
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn kubelet_upgrade_1_27_to_1_33_diff_names_exactly_the_release_changes() {
    require_lab!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();

    // Before the upgrade: both scenarios pass on 1.27; accept the run as the baseline.
    let old = run(work, "1.27", None);
    assert_eq!(old.code, 0, "1.27 run:\n{}", old.stderr);
    let report = read_json(&old.dir.join("report.json"));
    let msg = |r: &Value, name: &str| {
        let s = r["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap();
        s.to_string()
    };
    assert!(msg(&report, "role-assignment-delete").contains("rpc error: code = Unknown desc = "));
    accept(work, &old.dir, "accepted on kubelet 1.27");

    // The upgraded node: the same scenarios still pass, the diff finds regressions.
    let new = run(work, "1.33", Some("baseline-lab.yaml"));
    assert_eq!(new.code, 4, "regressions exit code:\n{}", new.stderr);
    let report = read_json(&new.dir.join("report.json"));
    assert!(!msg(&report, "role-assignment-delete").contains("rpc error: code = Unknown"));
    let diff = read_json(&new.dir.join("diff.json"));
    assert_eq!(
        findings(&diff),
        [(
            "role-assignment-delete".to_string(),
            "error-signature".to_string(),
            "regression".to_string()
        )],
        "{diff:#}"
    );
    let f = &diff["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "role-assignment-delete")
        .unwrap()["findings"];
    let sig =
        f.as_array().unwrap().iter().find(|f| f["check"]["kind"] == "error-signature").unwrap();
    let (b, c) = (sig["baseline"].as_str().unwrap(), sig["current"].as_str().unwrap());
    assert!(b.contains("rpc error: code = Unknown desc = ") && !c.contains("rpc error"), "{sig:#}");
    assert_eq!(b.replace("rpc error: code = Unknown desc = ", ""), c, "only the prefix changed");
    // Environment: the nodes' kubelet version, nothing else (same containerd, OS, API).
    let env: Vec<(String, String, String)> = diff["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"]["name"].as_str().unwrap_or("").to_string(),
                f["baseline"].as_str().unwrap_or("").to_string(),
                f["current"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(!env.is_empty(), "the kubelet version change is reported: {diff:#}");
    for (fact, b, c) in &env {
        assert!(fact.ends_with(".kubeletVersion"), "only kubelet versions changed: {env:?}");
        assert_eq!((b.as_str(), c.as_str()), ("v1.27.16", "v1.33.2"));
    }
    let xml = std::fs::read_to_string(new.dir.join("diff-junit.xml")).unwrap();
    assert_eq!(junit_failures(&xml), ["role-assignment-delete: error signature"], "{xml}");
    assert!(xml.contains("role-assignment-delete: error signature changed"), "{xml}");

    // Accept the upgrade's differences: the next run on 1.33 is green.
    accept(work, &new.dir, "kubelet 1.33 strips the gRPC Unknown prefix (kubernetes#117612)");
    let baseline = std::fs::read_to_string(work.join("baseline-lab.yaml")).unwrap();
    assert!(baseline.contains("kubernetes#117612"), "{baseline}");
    let next = run(work, "1.33", Some("baseline-lab.yaml"));
    assert_eq!(next.code, 0, "after accepting:\n{}", next.stderr);
    let diff = read_json(&next.dir.join("diff.json"));
    assert!(
        findings(&diff).iter().all(|(_, _, st)| st == "accepted"),
        "only accepted differences: {diff:#}"
    );
    let xml = std::fs::read_to_string(next.dir.join("diff-junit.xml")).unwrap();
    assert!(junit_failures(&xml).is_empty(), "{xml}");
}
