//! `acr-chaos run --dry-run`, the guard rails and `recover`, through the real binary.
//! None of these reach a cluster: a dry run and a refused run change nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acr-chaos"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_target() -> PathBuf {
    root().join("scenarios/targets/aks-example.yaml")
}

#[test]
fn dry_run_prints_every_change_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "scenarios", "--dry-run", "--quiet", "--target"])
        .arg(example_target())
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for needle in [
        "acr-detach: fault: DELETE /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg/providers/Microsoft.ContainerRegistry/registries/myacr/providers/Microsoft.Authorization/roleAssignments/",
        "registry-firewall-deny: fault: PATCH /subscriptions/",
        "\"defaultAction\":\"Deny\"",
        "\"publicNetworkAccess\":\"Disabled\"",
        "network-path-cut: fault: PUT /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_my-rg_my-aks_westeurope/providers/Microsoft.Network/networkSecurityGroups/aks-agentpool-00000000-nsg/securityRules/",
        "/generateCredentials?api-version=2025-04-01",
        "imagePullPolicy Always",
        "Kubernetes: create Namespace acr-chaos-",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // reports were written for the dry run, and no journal (nothing changed)
    let runs: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].path().join("summary.md").is_file());
    assert!(!runs[0].path().join("journal.json").exists());
}

fn write_target_without(dir: &Path, drop_line_containing: &str) -> PathBuf {
    let text = std::fs::read_to_string(example_target()).unwrap();
    let mut out = String::new();
    let mut in_resources = false;
    for line in text.lines() {
        if line.trim_start().starts_with("resources:") {
            in_resources = true;
        } else if !line.starts_with("    ") {
            in_resources = false;
        }
        if in_resources && line.contains(drop_line_containing) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let p = dir.join("target.yaml");
    std::fs::write(&p, out).unwrap();
    p
}

#[test]
fn guard_rails_refuse_resources_outside_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let target = write_target_without(dir.path(), "networkSecurityGroups");
    let out = bin()
        .args(["run", "scenarios/network-path-cut.yaml", "--quiet", "--target"])
        .arg(&target)
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refused") && stderr.contains("securityRules"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    // the refusal is reported like any run: junit.xml names it; no journal was written
    let run_dir =
        std::fs::read_dir(dir.path().join("reports")).unwrap().next().unwrap().unwrap().path();
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("run refused") && junit.contains("securityRules"), "{junit}");
    // as a failing case: a JUnit file without one reads as green in CI test views
    let report = quick_junit::Report::deserialize_from_str(&junit).expect("junit.xml parses");
    let case = report.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "run/refused")
        .unwrap_or_else(|| panic!("a run/refused case: {junit}"));
    assert!(!matches!(case.status, quick_junit::TestCaseStatus::Success { .. }), "{junit}");
    assert!(!run_dir.join("journal.json").exists());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["exitCode"]["code"], 2);
}

#[test]
fn unknown_tag_and_bad_paths_are_invalid_input() {
    let out = bin()
        .args(["run", "scenarios", "--dry-run", "--only", "no-such-tag", "--target"])
        .arg(example_target())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["run", "does/not/exist.yaml", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn recover_without_journals_has_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .current_dir(dir.path())
        .args(["recover"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to recover"));
}

#[test]
fn recover_without_target_lists_unfinished_undos_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(".acr-chaos/journal");
    std::fs::create_dir_all(&jdir).unwrap();
    std::fs::write(
        jdir.join("r9.json"),
        r#"{"version":1,"runId":"r9","target":"t","entries":[{"id":1,"scenario":"s","fault":"network-path-cut","undo":{"action":"delete-security-rule","rule_id":"/subscriptions/x/securityRules/y"},"state":"pending"}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .current_dir(dir.path())
        .args(["recover", "--run-id", "r9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    // a change that may remain needs a human: stderr, where a quiet pipeline log keeps it
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DELETE /subscriptions/x/securityRules/y")
    );
}

/// A truncated journal (disk full, a killed copy) is named and fails recover; it is never
/// passed over as "nothing to recover".
#[test]
fn a_truncated_local_journal_is_named_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join(".acr-chaos/journal");
    std::fs::create_dir_all(&jdir).unwrap();
    std::fs::write(jdir.join("r7.json"), r#"{"version":2,"runId":"r7","target":{"na"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .current_dir(dir.path())
        .args(["recover", "--events", "recover.jsonl"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("unreadable journal") && stderr.contains("r7.json"), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    // the same, as events a pipeline keeps: what remains, and the exit code
    let log = std::fs::read_to_string(dir.path().join("recover.jsonl")).unwrap();
    let events: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run-started"), "{log}");
    assert!(
        events.iter().any(|e| e["event"] == "undo-pending"
            && e["change"].as_str().is_some_and(|c| c.contains("r7.json"))),
        "{log}"
    );
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["exitCode"].as_i64()),
        (Some("run-finished"), Some(3))
    );
}

#[test]
fn force_needs_a_run_id() {
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(["recover", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force needs --run-id"));
}
