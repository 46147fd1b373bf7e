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
    assert!(stderr.contains("holds no events: expected events.jsonl or report.json"), "{stderr}");
}
