//! `acr-chaos report DIR`: rebuilds the files from `events.jsonl`, prints, and exits with
//! the run's exit code.

use acr_chaos::events::{Event, EventKind, Sink, UndoOutcome};
use acr_chaos::report::{self, Terminal};
use std::process::Command;

fn write_run(root: &std::path::Path, undo_ok: bool) -> std::path::PathBuf {
    let mut r = report::standard_reporters(root, "run-1", Terminal::Quiet);
    r.event(&Event::run(EventKind::RunStarted {
        run_id: "run-1".into(),
        target: "lab".into(),
        scenarios: vec!["firewall".into()],
        dry_run: false,
    }));
    r.event(&Event::scenario(
        "firewall",
        EventKind::ScenarioStarted {
            fault: "registry-firewall-deny".into(),
            description: "deny".into(),
            tags: vec![],
            changes: vec![],
        },
    ));
    r.event(&Event::scenario(
        "firewall",
        EventKind::RestoreFinished {
            undos: vec![UndoOutcome {
                description: "PATCH networkRuleSet".into(),
                ok: undo_ok,
                error: (!undo_ok).then(|| "409 Conflict".into()),
            }],
        },
    ));
    // No `finish`: as if the process was killed. Only events.jsonl exists.
    root.join("run-1")
}

#[test]
fn report_command_rebuilds_and_exits_with_the_runs_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_run(tmp.path(), false);
    assert!(dir.join(report::EVENT_LOG_FILE).is_file());
    assert!(!dir.join(report::JUNIT_FILE).exists());
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(["report", dir.to_str().unwrap(), "--print", "summary"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("### Restore failures"), "{stdout}");
    assert!(stdout.contains("PATCH networkRuleSet: 409 Conflict"), "{stdout}");
    for f in [report::JUNIT_FILE, report::JSON_FILE, report::SUMMARY_FILE] {
        assert!(dir.join(f).is_file(), "{f} rebuilt");
    }
}

#[test]
fn report_command_refuses_a_folder_without_events() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(["report", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("holds no events"), "{stderr}");
    assert!(stderr.contains("expected events.jsonl or report.json"), "{stderr}");
}

fn report(dir: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_acr-chaos"))
        .args(["report", dir.to_str().unwrap(), "--print", "summary"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// A run killed right after its injection: the assertion even passed, but nothing was
/// restored. It must read as incomplete with the change pending, exit 3.
#[test]
fn a_killed_run_is_incomplete_never_passed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = report::standard_reporters(tmp.path(), "run-2", Terminal::Quiet);
    r.event(&Event::run(EventKind::RunStarted {
        run_id: "run-2".into(),
        target: "lab".into(),
        scenarios: vec!["detach".into()],
        dry_run: false,
    }));
    let s = |k| Event::scenario("detach", k);
    r.event(&s(EventKind::ScenarioStarted {
        fault: "acr-detach".into(),
        description: "detach".into(),
        tags: vec![],
        changes: vec![],
    }));
    r.event(&s(EventKind::Journaled { change: "re-create role assignment ra-1".into() }));
    r.event(&s(EventKind::FaultInjected { description: "deleted ra-1".into() }));
    r.event(&s(EventKind::Asserted {
        passed: true,
        expected: Default::default(),
        observed: Default::default(),
        failures: vec![],
    }));
    let dir = tmp.path().join("run-2");
    let (code, text) = report(&dir);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("Incomplete"), "{text}");
    assert!(text.contains("pending: re-create role assignment ra-1"), "{text}");
    assert!(!text.contains("1 of 1 scenario passed"), "{text}");
    let junit = std::fs::read_to_string(dir.join(report::JUNIT_FILE)).unwrap();
    assert!(junit.contains("run/incomplete"), "{junit}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(report::JSON_FILE)).unwrap())
            .unwrap();
    assert_eq!(json["incomplete"], true);
    assert_eq!(json["scenarios"][0]["verdict"], "error");
}

/// Killed before the first scenario: nothing pending, still not a success.
#[test]
fn a_run_killed_before_its_first_scenario_is_not_a_success() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = report::standard_reporters(tmp.path(), "run-3", Terminal::Quiet);
    r.event(&Event::run(EventKind::RunStarted {
        run_id: "run-3".into(),
        target: "lab".into(),
        scenarios: vec!["detach".into()],
        dry_run: false,
    }));
    let (code, text) = report(&tmp.path().join("run-3"));
    assert_eq!(code, Some(130), "{text}");
    assert!(text.contains("Incomplete"), "{text}");
}

#[test]
fn an_empty_event_log_is_an_error_unless_the_journal_has_pending_undos() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run-4");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(report::EVENT_LOG_FILE), "").unwrap();
    let (code, text) = report(&dir);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("holds no events"), "{text}");
    // the journal is written before every change: it knows what the log may not
    std::fs::write(
        dir.join("journal.json"),
        r#"{"version":2,"runId":"run-4","target":{"name":"t","clusterId":"c","apiServer":"s","clusterUid":"u"},
           "entries":[{"id":1,"scenario":"s","fault":"network-path-cut","state":"pending",
                       "undo":{"action":"delete-security-rule","rule_id":"/subscriptions/x/securityRules/y"}}]}"#,
    )
    .unwrap();
    let (code, text) = report(&dir);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("pending: DELETE /subscriptions/x/securityRules/y"), "{text}");
}

#[test]
fn report_refuses_what_is_not_a_regular_file_and_overlong_lines() {
    let (code, text) = report(std::path::Path::new("/dev/zero"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("not a regular file"), "{text}");
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join(report::EVENT_LOG_FILE);
    std::fs::write(&log, vec![b'x'; 2 * 1024 * 1024]).unwrap();
    let (code, text) = report(&log);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("line longer than"), "{text}");
}
