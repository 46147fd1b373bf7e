//! Reporter tests: golden files for junit.xml / report.json / summary.md / the terminal
//! table, JUnit parse-back with quick-junit, redaction, exit-code mapping, and the shipped
//! JSON Schema being up to date.
//!
//! `UPDATE_GOLDEN=1 cargo test -p acr-chaos --test report` rewrites `tests/golden/**` and
//! `docs/report.schema.json`.

use acr_chaos::ExitCode;
use acr_chaos::events::{
    Event, EventKind, ExpectedSummary, Observation, Stage, UndoOutcome, Verdict,
};
use acr_chaos::report::{
    self, EVENT_LOG_FILE, JSON_FILE, JUNIT_FILE, Progress, Reporter, RunModel, SUMMARY_FILE,
    Terminal, exit_code, json::ReportV1, redact, render_table,
};
use chrono::{DateTime, TimeZone, Utc};
use quick_junit::{NonSuccessKind, TestCaseStatus};
use rstest::rstest;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RUN_ID: &str = "20261124T041907Z-3f2a";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 4, 19, 7).unwrap()
}

fn at(secs: f64) -> DateTime<Utc> {
    t0() + chrono::Duration::milliseconds((secs * 1000.0).round() as i64)
}

fn run_ev(secs: f64, kind: EventKind) -> Event {
    Event { at: at(secs), scenario: None, kind }
}

fn sc_ev(secs: f64, scenario: &str, kind: EventKind) -> Event {
    Event { at: at(secs), scenario: Some(scenario.to_owned()), kind }
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| s(x)).collect()
}

const ANON_401: &str = "Failed to pull image \"chaoslab.azurecr.io/probe:v1\": failed to pull and \
     unpack image \"chaoslab.azurecr.io/probe:v1\": failed to resolve reference \
     \"chaoslab.azurecr.io/probe:v1\": failed to authorize: failed to fetch anonymous token: \
     unexpected status: 401 Unauthorized";

fn obs(pod: &str, reason: &str, message: &str, causes: &[&str]) -> Observation {
    Observation {
        pod: s(pod),
        namespace: s("acr-chaos-3f2a"),
        image: s("chaoslab.azurecr.io/probe:v1"),
        waiting_reason: Some(s(reason)),
        message: Some(s(message)),
        causes: strings(causes),
        event_reasons: strings(&["Pulling", "Failed", "BackOff"]),
    }
}

fn expected(reasons: &[&str], causes: &[&str], regex: Option<&str>) -> ExpectedSummary {
    ExpectedSummary {
        waiting_reasons: strings(reasons),
        causes: strings(causes),
        message_regex: regex.map(s),
        deadline: Duration::from_secs(300),
    }
}

fn undo(description: &str, error: Option<&str>) -> UndoOutcome {
    UndoOutcome { description: s(description), ok: error.is_none(), error: error.map(s) }
}

/// A scenario that injects, takes effect, asserts, restores and recovers. `assert_ok`
/// decides the assertion, `undos` the restore, `verdict` what the engine says.
fn scenario_events(
    start: f64,
    name: &str,
    fault: &str,
    observed: Observation,
    exp: ExpectedSummary,
    failures: &[&str],
    undos: Vec<UndoOutcome>,
    verdict: Verdict,
) -> Vec<Event> {
    let e = |d: f64, k| sc_ev(start + d, name, k);
    let passed = failures.is_empty();
    vec![
        e(
            0.0,
            EventKind::ScenarioStarted {
                fault: s(fault),
                description: format!("{name}: inject {fault} and expect the pull to fail"),
                tags: strings(&["nightly", "auth"]),
                changes: vec![format!(
                    "{fault}: change on /subscriptions/0000/…/registries/chaoslab"
                )],
            },
        ),
        e(1.5, EventKind::PreflightPassed { baseline_pull: Duration::from_millis(1250) }),
        e(1.6, EventKind::Journaled { change: format!("undo {fault}") }),
        e(1.9, EventKind::FaultInjected { description: format!("{fault} injected") }),
        e(
            2.0,
            EventKind::ProbeCreated {
                pod: s("probe-1"),
                namespace: s("acr-chaos-3f2a"),
                image: observed.image.clone(),
            },
        ),
        e(4.0, EventKind::ProbeObserved { observation: observed.clone() }),
        e(
            14.25,
            EventKind::FaultEffective {
                time_to_effect: Duration::from_millis(12_350),
                observation: observed.clone(),
            },
        ),
        e(
            14.3,
            EventKind::Asserted {
                passed,
                expected: exp,
                observed: observed.clone(),
                failures: strings(failures),
            },
        ),
        e(16.0, EventKind::RestoreFinished { undos }),
        e(
            21.1,
            EventKind::RecoveryFinished {
                ok: true,
                time_to_recover: Some(Duration::from_millis(5_100)),
                error: None,
            },
        ),
        e(21.2, EventKind::ScenarioFinished { verdict }),
    ]
}

fn wrap_run(scenarios: &[&str], body: Vec<Event>, exit: i32) -> Vec<Event> {
    let end = body.last().map_or(0.0, |e| (e.at - t0()).num_milliseconds() as f64 / 1000.0);
    let mut v = vec![run_ev(
        0.0,
        EventKind::RunStarted {
            run_id: s(RUN_ID),
            target: s("lab"),
            scenarios: strings(scenarios),
            dry_run: false,
        },
    )];
    v.extend(body);
    v.push(run_ev(end + 0.5, EventKind::RunFinished { exit_code: exit }));
    v
}

fn passing() -> Vec<Event> {
    let o = obs("probe-1", "ImagePullBackOff", ANON_401, &["unauthorized-anonymous"]);
    let body = scenario_events(
        0.2,
        "acr-detach",
        "acr-detach",
        o,
        expected(&["ErrImagePull", "ImagePullBackOff"], &["unauthorized-anonymous"], Some("401")),
        &[],
        vec![undo("re-create role assignment 0f2a (AcrPull) at registry chaoslab", None)],
        Verdict::Passed,
    );
    wrap_run(&["acr-detach"], body, 0)
}

fn failed_expectation() -> Vec<Event> {
    let o = obs("probe-1", "ImagePullBackOff", ANON_401, &["unauthorized-anonymous"]);
    let body = scenario_events(
        0.2,
        "pull-secret-wrong",
        "pull-secret-wrong",
        o,
        expected(
            &["ErrImagePull", "ImagePullBackOff"],
            &["unauthorized-credentials"],
            Some("oauth token"),
        ),
        &[
            "expected cause unauthorized-credentials, observed unauthorized-anonymous",
            "message does not match `oauth token`",
        ],
        vec![undo("restore Secret acr-chaos-3f2a/pull (original bytes)", None)],
        Verdict::Failed,
    );
    wrap_run(&["pull-secret-wrong"], body, 1)
}

fn restore_failure() -> Vec<Event> {
    let o = obs(
        "probe-1",
        "ErrImagePull",
        "failed to resolve reference: unexpected status: 403 Forbidden",
        &["forbidden-network"],
    );
    let body = scenario_events(
        0.2,
        "registry-firewall-deny",
        "registry-firewall-deny",
        o,
        expected(&["ErrImagePull", "ImagePullBackOff"], &["forbidden-network"], None),
        &[],
        vec![
            undo(
                "PATCH networkRuleSet.defaultAction=Allow on registry chaoslab",
                Some("ARM 409 Conflict: another operation is in progress (after 5 retries)"),
            ),
            undo("PATCH publicNetworkAccess=Enabled on registry chaoslab", None),
        ],
        Verdict::Failed,
    );
    wrap_run(&["registry-firewall-deny"], body, 3)
}

fn error() -> Vec<Event> {
    let n = "role-assignment-delete";
    let body = vec![
        sc_ev(
            0.2,
            n,
            EventKind::ScenarioStarted {
                fault: s(n),
                description: s("delete the kubelet identity's AcrPull at resource-group scope"),
                tags: strings(&["rbac"]),
                changes: strings(&[
                    "DELETE roleAssignments/7c1e at /subscriptions/0000/resourceGroups/rg",
                ]),
            },
        ),
        sc_ev(1.0, n, EventKind::PreflightPassed { baseline_pull: Duration::from_millis(900) }),
        sc_ev(1.1, n, EventKind::Journaled { change: s("re-create roleAssignments/7c1e") }),
        sc_ev(
            1.8,
            n,
            EventKind::ScenarioError {
                stage: Stage::Inject,
                error: s("ARM DELETE roleAssignments/7c1e: 403 AuthorizationFailed: the client \
                      does not have authorization to perform action"),
            },
        ),
        sc_ev(
            2.0,
            n,
            EventKind::RestoreFinished {
                undos: vec![undo(
                    "re-create roleAssignments/7c1e (not deleted, nothing to do)",
                    None,
                )],
            },
        ),
        sc_ev(2.1, n, EventKind::ScenarioFinished { verdict: Verdict::Error }),
    ];
    wrap_run(&[n], body, 1)
}

fn alerts() -> Vec<Event> {
    let n = "image-tag-missing";
    let o = obs(
        "probe-1",
        "ErrImagePull",
        "rpc error: code = NotFound desc = failed to pull and unpack image \
         \"chaoslab.azurecr.io/probe:nope\": failed to resolve reference \
         \"chaoslab.azurecr.io/probe:nope\": chaoslab.azurecr.io/probe:nope: not found",
        &["not-found"],
    );
    let mut body = scenario_events(
        0.2,
        n,
        n,
        o,
        expected(&["ErrImagePull", "ImagePullBackOff"], &["not-found"], None),
        &[],
        vec![],
        Verdict::Failed,
    );
    let finished = body.pop().unwrap();
    body.push(sc_ev(
        40.0,
        n,
        EventKind::AlertChecked {
            name: s("KubePodImagePullBackOff"),
            passed: true,
            evidence: s("ALERTS{alertname=\"KubePodImagePullBackOff\",pod=\"probe-1\"} firing"),
            failure: None,
        },
    ));
    body.push(sc_ev(
        55.0,
        n,
        EventKind::AlertChecked {
            name: s("ResolvedAfterRestore"),
            passed: false,
            evidence: s("ALERTS{alertname=\"KubePodImagePullBackOff\"} still firing at +15 s"),
            failure: Some(s("alert did not resolve within 15 s after the restore")),
        },
    ));
    body.push(Event { at: at(55.1), ..finished });
    wrap_run(&[n], body, 1)
}

/// SIGINT after the injection: the engine restores, the scenario never finishes.
fn interrupted() -> Vec<Event> {
    let mut v: Vec<Event> = passing().into_iter().take(6).collect();
    v.push(run_ev(5.0, EventKind::RunInterrupted { signal: s("SIGINT") }));
    v.push(sc_ev(
        6.5,
        "acr-detach",
        EventKind::RestoreFinished {
            undos: vec![undo(
                "re-create role assignment 0f2a (AcrPull) at registry chaoslab",
                None,
            )],
        },
    ));
    v.push(run_ev(7.0, EventKind::RunFinished { exit_code: 130 }));
    v
}

fn refused() -> Vec<Event> {
    vec![
        run_ev(
            0.0,
            EventKind::RunStarted {
                run_id: s(RUN_ID),
                target: s("prod"),
                scenarios: strings(&["acr-detach"]),
                dry_run: false,
            },
        ),
        run_ev(
            0.1,
            EventKind::RunRefused {
                reason: s(
                    "registry /subscriptions/0000/…/registries/other is not in the allowlist",
                ),
            },
        ),
        run_ev(0.2, EventKind::RunFinished { exit_code: 2 }),
    ]
}

fn render_all(events: &[Event]) -> (tempfile::TempDir, PathBuf, ExitCode) {
    let tmp = tempfile::tempdir().unwrap();
    let mut reporters = report::standard_reporters(tmp.path(), RUN_ID, Terminal::Quiet);
    for e in events {
        acr_chaos::events::Sink::event(&mut reporters, e);
    }
    let written = reporters.finish().expect("reports written");
    let dir = tmp.path().join(RUN_ID);
    assert_eq!(
        written,
        vec![
            dir.join(JUNIT_FILE),
            dir.join(JSON_FILE),
            dir.join(SUMMARY_FILE),
            dir.join(EVENT_LOG_FILE)
        ]
    );
    let code = reporters.exit_code();
    (tmp, dir, code)
}

fn update_golden() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0")
}

fn check_golden(path: &Path, actual: &str) {
    if update_golden() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("cannot read golden file {}: {e}; run with UPDATE_GOLDEN=1", path.display())
    });
    if want != actual {
        let line = want.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!(
            "{} differs from the output (first differing line: {:?}); run with UPDATE_GOLDEN=1 \
             to accept.\n--- actual ---\n{actual}",
            path.display(),
            line.map(|l| l + 1)
        );
    }
}

#[rstest]
#[case::passing("passing", passing(), ExitCode::Success)]
#[case::failed_expectation("failed-expectation", failed_expectation(), ExitCode::ExpectationFailed)]
#[case::restore_failure("restore-failure", restore_failure(), ExitCode::RestoreFailed)]
#[case::error("error", error(), ExitCode::ExpectationFailed)]
#[case::alerts("alerts", alerts(), ExitCode::ExpectationFailed)]
#[case::interrupted("interrupted", interrupted(), ExitCode::Interrupted)]
fn golden(#[case] name: &str, #[case] events: Vec<Event>, #[case] code: ExitCode) {
    let (_tmp, dir, got) = render_all(&events);
    assert_eq!(got, code);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    for f in [JUNIT_FILE, JSON_FILE, SUMMARY_FILE] {
        let actual = std::fs::read_to_string(dir.join(f)).unwrap();
        check_golden(&golden.join(f), &actual);
    }
    let table = render_table(&RunModel::from_events(&events), false);
    check_golden(&golden.join("terminal.txt"), &table);
}

fn parse_junit(events: &[Event]) -> quick_junit::Report {
    let (_tmp, dir, _) = render_all(events);
    let xml = std::fs::read_to_string(dir.join(JUNIT_FILE)).unwrap();
    quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses with quick-junit")
}

fn case<'a>(r: &'a quick_junit::Report, name: &str) -> &'a quick_junit::TestCase {
    let suite = &r.test_suites[0];
    suite.test_cases.iter().find(|c| c.name.as_str() == name).unwrap_or_else(|| {
        let names: Vec<_> = suite.test_cases.iter().map(|c| c.name.as_str()).collect();
        panic!("no test case {name}; have {names:?}")
    })
}

fn kind(c: &quick_junit::TestCase) -> Option<NonSuccessKind> {
    match &c.status {
        TestCaseStatus::NonSuccess { kind, .. } => Some(*kind),
        _ => None,
    }
}

fn message(c: &quick_junit::TestCase) -> String {
    match &c.status {
        TestCaseStatus::NonSuccess { message, .. } | TestCaseStatus::Skipped { message, .. } => {
            message.as_ref().map(|m| m.as_str().to_owned()).unwrap_or_default()
        }
        TestCaseStatus::Success { .. } => String::new(),
    }
}

fn prop<'a>(c: &'a quick_junit::TestCase, name: &str) -> &'a str {
    c.properties.iter().find(|p| p.name.as_str() == name).map(|p| p.value.as_str()).unwrap()
}

#[test]
fn junit_parses_back_passing() {
    let r = parse_junit(&passing());
    assert_eq!(r.name.as_ref().unwrap().as_str(), "acr-chaos");
    assert_eq!(r.test_suites.len(), 1);
    let suite = &r.test_suites[0];
    assert_eq!(suite.name.as_str(), "acr-chaos");
    assert_eq!((suite.tests, suite.failures, suite.errors), (3, 0, 0));
    let c = case(&r, "acr-detach");
    assert_eq!(kind(c), None);
    assert_eq!(prop(c, "fault"), "acr-detach");
    assert_eq!(prop(c, "observed-causes"), "unauthorized-anonymous");
    assert_eq!(prop(c, "time-to-effect"), "12.350");
    assert_eq!(prop(c, "time-to-recover"), "5.100");
    let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1000.0).round() as u64);
    assert_eq!(ms(c.time), Some(21_200));
    let out = c.system_out.as_ref().unwrap().as_str();
    assert!(out.contains("timeline:"), "{out}");
    assert!(out.contains("fault effective after 12.3 s"), "{out}");
    assert!(out.contains("time-to-effect: 12.350"), "{out}");
    assert_eq!(ms(case(&r, "acr-detach/recovery").time), Some(5_100));
    assert_eq!(kind(case(&r, "acr-detach/restore")), None);
}

#[test]
fn junit_failed_expectation_is_a_readable_failure() {
    let r = parse_junit(&failed_expectation());
    let suite = &r.test_suites[0];
    assert_eq!((suite.tests, suite.failures, suite.errors), (3, 1, 0));
    let c = case(&r, "pull-secret-wrong");
    assert_eq!(kind(c), Some(NonSuccessKind::Failure));
    let m = message(c);
    assert!(m.contains("expected waiting reason ErrImagePull, ImagePullBackOff"), "{m}");
    assert!(m.contains("causes unauthorized-credentials"), "{m}");
    assert!(m.contains("observed ImagePullBackOff with causes unauthorized-anonymous"), "{m}");
    let TestCaseStatus::NonSuccess { description, .. } = &c.status else { unreachable!() };
    let d = description.as_ref().unwrap().as_str();
    assert!(d.contains("expected message to match: oauth token"), "{d}");
    assert!(d.contains("fetch anonymous token"), "{d}");
}

#[test]
fn junit_restore_failure_lists_failed_undos() {
    let r = parse_junit(&restore_failure());
    let c = case(&r, "registry-firewall-deny/restore");
    assert_eq!(kind(c), Some(NonSuccessKind::Failure));
    let m = message(c);
    assert!(m.starts_with("1 of 2 undos failed: PATCH networkRuleSet.defaultAction=Allow"), "{m}");
    assert_eq!(kind(case(&r, "registry-firewall-deny")), None, "the fault itself behaved");
}

#[test]
fn junit_error_is_error_not_failure() {
    let r = parse_junit(&error());
    let suite = &r.test_suites[0];
    assert_eq!((suite.tests, suite.failures, suite.errors), (3, 0, 1));
    let c = case(&r, "role-assignment-delete");
    assert_eq!(kind(c), Some(NonSuccessKind::Error));
    assert!(message(c).contains("error in inject: ARM DELETE"), "{}", message(c));
    assert!(matches!(
        case(&r, "role-assignment-delete/recovery").status,
        TestCaseStatus::Skipped { .. }
    ));
}

#[test]
fn junit_alert_checks_are_cases() {
    let r = parse_junit(&alerts());
    assert_eq!(kind(case(&r, "image-tag-missing/alert/KubePodImagePullBackOff")), None);
    let c = case(&r, "image-tag-missing/alert/ResolvedAfterRestore");
    assert_eq!(kind(c), Some(NonSuccessKind::Failure));
    assert!(message(c).contains("did not resolve"));
    assert!(c.system_out.as_ref().unwrap().as_str().contains("still firing"));
    // An empty restore (nothing changed by the fault itself) still passes.
    assert_eq!(kind(case(&r, "image-tag-missing/restore")), None);
}

#[test]
fn report_json_round_trips_and_is_versioned() {
    let events = restore_failure();
    let (_tmp, dir, _) = render_all(&events);
    let text = std::fs::read_to_string(dir.join(JSON_FILE)).unwrap();
    let doc: ReportV1 = serde_json::from_str(&text).expect("report.json reads back");
    assert_eq!(doc.schema_version, "acr-chaos.report/v1");
    assert_eq!(doc.exit_code.code, 3);
    assert_eq!(doc.totals.restore_failures, 1);
    assert_eq!(doc.events, events, "the full event list, unchanged when nothing is secret");
    let sc = &doc.scenarios[0];
    assert_eq!(sc.time_to_effect, Some(Duration::from_millis(12_350)));
    assert_eq!(sc.timeline.len(), 11);
    assert_eq!(sc.timeline[6].offset, Duration::from_millis(14_250));
    // The event list alone rebuilds the same report.
    let again = ReportV1::from_model(&RunModel::from_events(&doc.events));
    assert_eq!(again, doc);
}

#[test]
fn junit_interrupted_scenario_is_an_error() {
    let r = parse_junit(&interrupted());
    let c = case(&r, "acr-detach");
    assert_eq!(kind(c), Some(NonSuccessKind::Error));
    assert!(message(c).contains("did not finish"), "{}", message(c));
    assert_eq!(kind(case(&r, "acr-detach/restore")), None, "the restore ran");
    let suite = &r.test_suites[0];
    let exit = suite.properties.iter().find(|p| p.name.as_str() == "exit-code").unwrap();
    assert_eq!(exit.value.as_str(), "130");
}

#[test]
fn schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema = report::json::json_schema();
    check_golden(&path, &schema);
    let v: serde_json::Value = serde_json::from_str(&schema).unwrap();
    assert_eq!(v["title"], "acr-chaos run report");
    assert!(v["properties"]["schemaVersion"].is_object());
    assert!(v["properties"]["events"].is_object());
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

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
    assert_eq!(exit_code(&RunModel::from_events(&without_finish)), want);
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
    assert_eq!(exit_code(&RunModel::from_events(&events)), ExitCode::ExpectationFailed);
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
