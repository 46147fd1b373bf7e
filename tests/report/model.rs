//! Reporter tests: exit-code mapping, redaction of every output, live progress lines,
//! rebuilding reports from the event log, run ids, dry runs.

use crate::report_support::*;
use acr_chaos::ExitCode;
use acr_chaos::events::{Event, EventKind, Stage, Verdict};
use acr_chaos::report::{
    self, EVENT_LOG_FILE, JSON_FILE, JUNIT_FILE, Progress, RunModel, SUMMARY_FILE, exit_code,
    exit_code_as_finished, redact, render_table,
};
use quick_junit::TestCaseStatus;
use rstest::rstest;

#[test]
fn progress_prints_plain_lines_for_notable_events() {
    let buf = Shared::default();
    let mut p = Progress::plain(Box::new(buf.clone()));
    for e in passing() {
        acr_chaos::events::Sink::event(&mut p, &e);
    }
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert_eq!(lines[0], "[+    0.0s] run 20261124T041907Z-3f2a started against lab (1 scenario)");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("s] acr-detach: fault effective after 12.3 s: ImagePullBackOff"))
    );
    assert_eq!(lines[8], "[+   21.4s] acr-detach: finished: passed");
    assert!(!text.contains('\x1b'), "no colour codes in plain mode");
}
const SECRETS: [&str; 6] = [
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJrdWJlbGV0In0.c2lnbmF0dXJlLXNlY3JldA",
    "hunter2-Passw0rd",
    "dXNlcjpzdXBlci1zZWNyZXQtcGFzcw==",
    "cs~8Q~secretvalue.1234",
    "Zm9vOmJhcmJhemZvb2Jhcg",
    "pw-in-json-77",
];

fn leaky() -> Vec<Event> {
    let n = "pull-secret-wrong";
    let mut o = obs("probe-1", "ErrImagePull", ANON_401, &["unauthorized-credentials"]);
    o.message = Some(format!("{ANON_401} (sent Authorization: Bearer {})", SECRETS[0]));
    let body = scenario_events(
        0.2,
        n,
        n,
        o,
        expected(&["ErrImagePull"], &["unauthorized-credentials"], None),
        &[],
        vec![undo(
            "restore Secret pull",
            Some(&format!("kubectl failed: password={}", SECRETS[1])),
        )],
        Verdict::Failed,
    );
    let mut events = wrap_run(&[n], body, 3);
    events.insert(
        2,
        sc_ev(
            0.3,
            n,
            EventKind::Note {
                message: format!(
                    r#"wrote {{"auths":{{"chaoslab.azurecr.io":{{"auth":"{}"}}}}}}"#,
                    SECRETS[2]
                ),
            },
        ),
    );
    events.insert(
        3,
        sc_ev(
            0.4,
            n,
            EventKind::FaultInjected {
                description: format!(
                    "token request client_secret={}&grant_type=client_credentials",
                    SECRETS[3]
                ),
            },
        ),
    );
    events.insert(
        4,
        sc_ev(
            0.5,
            n,
            EventKind::ScenarioError {
                stage: Stage::Cleanup,
                error: format!(
                    "HTTP 500 with header authorization: Basic {} and {{\"password\":\"{}\"}}",
                    SECRETS[4], SECRETS[5]
                ),
            },
        ),
    );
    events
}

#[test]
fn secrets_never_reach_any_output() {
    let events = leaky();
    let (_tmp, dir, _) = render_all(&events);
    let mut outputs = Vec::new();
    for f in [JUNIT_FILE, JSON_FILE, SUMMARY_FILE] {
        outputs.push((f.to_owned(), std::fs::read_to_string(dir.join(f)).unwrap()));
    }
    outputs.push(("table".into(), render_table(&RunModel::from_events(&events), false)));
    let buf = Shared::default();
    let mut p = Progress::plain(Box::new(buf.clone()));
    for e in &events {
        acr_chaos::events::Sink::event(&mut p, e);
    }
    outputs.push(("progress".into(), buf.text()));
    for (name, text) in &outputs {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{name} leaks {secret}:\n{text}");
        }
    }
    let json = &outputs[1].1;
    assert!(json.contains("[REDACTED]"));
    // Ordinary error text survives redaction.
    assert!(json.contains("failed to fetch anonymous token: unexpected status: 401 Unauthorized"));
    assert!(redact("no secrets here").eq("no secrets here"));
}

#[rstest]
#[case::passed(passing(), ExitCode::Success)]
#[case::failed(failed_expectation(), ExitCode::ExpectationFailed)]
#[case::error(error(), ExitCode::ExpectationFailed)]
#[case::alert(alerts(), ExitCode::ExpectationFailed)]
#[case::restore(restore_failure(), ExitCode::RestoreFailed)]
#[case::interrupted(interrupted(), ExitCode::Interrupted)]
#[case::refused(refused(), ExitCode::InvalidInput)]
fn exit_code_maps_each_case(#[case] events: Vec<Event>, #[case] want: ExitCode) {
    // The mapping must not rely on the engine's own `run-finished` code: drop it.
    let without_finish: Vec<Event> = events
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::RunFinished { .. }))
        .cloned()
        .collect();
    let unfinished = RunModel::from_events(&without_finish);
    assert_eq!(exit_code_as_finished(&unfinished), want);
    // ... but a run that never said it finished is never better than stopped early
    assert_eq!(exit_code(&unfinished), want.worst(ExitCode::Interrupted));
    assert_eq!(exit_code(&RunModel::from_events(&events)), want);
}

#[test]
fn exit_code_takes_the_worst() {
    let mut events = failed_expectation();
    events.extend(restore_failure().into_iter().filter(|e| e.scenario.is_some()));
    assert_eq!(exit_code(&RunModel::from_events(&events)), ExitCode::RestoreFailed);
    // The engine announcing worse than the events show wins too.
    let mut events = passing();
    events.push(run_ev(99.0, EventKind::RunFinished { exit_code: 3 }));
    assert_eq!(exit_code(&RunModel::from_events(&events)), ExitCode::RestoreFailed);
    // A cleanup error fails the run even when the engine calls the scenario passed.
    let mut events = passing();
    events.insert(
        11,
        sc_ev(
            21.15,
            "acr-detach",
            EventKind::ScenarioError {
                stage: Stage::Cleanup,
                error: s("delete namespace acr-chaos-3f2a: 500"),
            },
        ),
    );
    let model = RunModel::from_events(&events);
    assert_eq!(model.scenarios[0].verdict, Verdict::Passed);
    assert_eq!(exit_code(&model), ExitCode::ExpectationFailed);
    // An unfinished scenario (interrupted mid-way, no verdict) does not count as passed.
    let events: Vec<Event> = passing().into_iter().take(5).collect();
    let model = RunModel::from_events(&events);
    assert_eq!(exit_code_as_finished(&model), ExitCode::ExpectationFailed);
    let code = exit_code(&model);
    assert!(matches!(code, ExitCode::Interrupted | ExitCode::RestoreFailed), "{code:?}");
}

#[test]
fn run_ids_sort_by_time_and_differ() {
    let a = report::new_run_id();
    let b = report::new_run_id();
    assert_ne!(a, b);
    assert_eq!(a.len(), "20261124T041907Z-3f2a".len(), "{a}");
    let (stamp, suffix) = a.split_once('-').unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").is_ok(), "{a}");
    assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
}

#[test]
fn rebuild_from_event_log_gives_the_same_reports() {
    let (_tmp, dir, _) = render_all(&alerts());
    let before: Vec<String> = [JUNIT_FILE, JSON_FILE, SUMMARY_FILE]
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
        .collect();
    for f in [JUNIT_FILE, JSON_FILE, SUMMARY_FILE] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    // A run killed before `finish`: only events.jsonl is left.
    let (model, written) = report::rebuild(&dir, true).expect("rebuilt from events.jsonl");
    assert_eq!(written.len(), 3);
    assert_eq!(exit_code(&model), ExitCode::ExpectationFailed);
    for (f, want) in [JUNIT_FILE, JSON_FILE, SUMMARY_FILE].iter().zip(&before) {
        assert_eq!(&std::fs::read_to_string(dir.join(f)).unwrap(), want, "{f}");
    }
    // Without events.jsonl, report.json's event list is enough.
    std::fs::remove_file(dir.join(EVENT_LOG_FILE)).unwrap();
    let (again, _) = report::rebuild(&dir.join(JSON_FILE), false).unwrap();
    assert_eq!(again, model);
}

#[test]
fn rebuild_reports_bad_input_with_location() {
    let tmp = tempfile::tempdir().unwrap();
    let err = report::rebuild(tmp.path(), false).unwrap_err().to_string();
    assert!(err.contains("holds no events"), "{err}");
    let log = tmp.path().join(EVENT_LOG_FILE);
    let good = serde_json::to_string(&passing()[0]).unwrap();
    std::fs::write(&log, format!("{good}\n{{\"at\": 5}}\n")).unwrap();
    let err = report::rebuild(tmp.path(), false).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:2:", log.display())), "{err}");
    let json = tmp.path().join("report.json");
    std::fs::write(&json, r#"{"schemaVersion": "acr-chaos.report/v9", "events": []}"#).unwrap();
    let err = report::rebuild(&json, false).unwrap_err().to_string();
    assert!(err.contains("acr-chaos.report/v9") && err.contains("acr-chaos.report/v1"), "{err}");
}

#[test]
fn dry_run_summary_lists_the_planned_changes() {
    let n = "acr-detach";
    let events = vec![
        run_ev(
            0.0,
            EventKind::RunStarted {
                run_id: s(RUN_ID),
                target: s("lab"),
                scenarios: strings(&[n]),
                dry_run: true,
            },
        ),
        sc_ev(
            0.1,
            n,
            EventKind::ScenarioStarted {
                fault: s(n),
                description: s("detach"),
                tags: vec![],
                changes: strings(&[
                    "DELETE /subscriptions/0000/providers/Microsoft.Authorization/roleAssignments/0f2a",
                ]),
            },
        ),
        sc_ev(0.2, n, EventKind::ScenarioFinished { verdict: Verdict::Skipped }),
        run_ev(0.3, EventKind::RunFinished { exit_code: 0 }),
    ];
    let model = RunModel::from_events(&events);
    assert_eq!(exit_code(&model), ExitCode::Success);
    let md = report::markdown::render(&model);
    assert!(md.contains("**dry run**"), "{md}");
    assert!(md.contains("### Planned changes (dry run: nothing was changed)"), "{md}");
    assert!(
        md.contains(
            "- `DELETE /subscriptions/0000/providers/Microsoft.Authorization/roleAssignments/0f2a`"
        ),
        "{md}"
    );
    let r = parse_junit(&events);
    assert!(matches!(case(&r, n).status, TestCaseStatus::Skipped { .. }));
    assert!(matches!(case(&r, "acr-detach/restore").status, TestCaseStatus::Skipped { .. }));
}
