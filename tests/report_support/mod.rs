//! Shared fixtures of the reporter tests: event sequences with fixed timestamps, and
//! helpers to render them and read the JUnit back.
#![allow(dead_code, reason = "shared by several test binaries, each using a part")]

use acr_chaos::ExitCode;
use acr_chaos::events::{
    Event, EventKind, ExpectedSummary, Observation, Stage, UndoOutcome, Verdict,
};
use acr_chaos::report::{
    self, EVENT_LOG_FILE, JSON_FILE, JUNIT_FILE, Reporter, SUMMARY_FILE, Terminal,
};
use chrono::{DateTime, TimeZone, Utc};
use quick_junit::{NonSuccessKind, TestCaseStatus};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const RUN_ID: &str = "20261124T041907Z-3f2a";

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 4, 19, 7).unwrap()
}

pub fn at(secs: f64) -> DateTime<Utc> {
    t0() + chrono::Duration::milliseconds((secs * 1000.0).round() as i64)
}

pub fn run_ev(secs: f64, kind: EventKind) -> Event {
    Event { at: at(secs), scenario: None, kind }
}

pub fn sc_ev(secs: f64, scenario: &str, kind: EventKind) -> Event {
    Event { at: at(secs), scenario: Some(scenario.to_owned()), kind }
}

pub fn s(v: &str) -> String {
    v.to_owned()
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| s(x)).collect()
}

pub const ANON_401: &str = "Failed to pull image \"chaoslab.azurecr.io/probe:v1\": failed to pull and \
     unpack image \"chaoslab.azurecr.io/probe:v1\": failed to resolve reference \
     \"chaoslab.azurecr.io/probe:v1\": failed to authorize: failed to fetch anonymous token: \
     unexpected status: 401 Unauthorized";

pub fn causes_of(ids: &[&str]) -> Vec<acr_chaos::classify::Cause> {
    ids.iter().map(|c| c.parse().expect("a cause id")).collect()
}

pub fn obs(pod: &str, reason: &str, message: &str, causes: &[&str]) -> Observation {
    Observation {
        pod: s(pod),
        namespace: s("acr-chaos-3f2a"),
        image: s("chaoslab.azurecr.io/probe:v1"),
        waiting_reason: Some(s(reason)),
        message: Some(s(message)),
        causes: causes_of(causes),
        event_reasons: strings(&["Pulling", "Failed", "BackOff"]),
        running: false,
    }
}

pub fn expected(reasons: &[&str], causes: &[&str], regex: Option<&str>) -> ExpectedSummary {
    ExpectedSummary {
        waiting_reasons: strings(reasons),
        causes: causes_of(causes),
        message_regex: regex.map(s),
        deadline: Duration::from_secs(300),
    }
}

pub fn undo(description: &str, error: Option<&str>) -> UndoOutcome {
    UndoOutcome { description: s(description), ok: error.is_none(), error: error.map(s) }
}

/// A scenario that injects, takes effect, asserts, restores and recovers. `assert_ok`
/// decides the assertion, `undos` the restore, `verdict` what the engine says.
#[expect(
    clippy::too_many_arguments,
    reason = "a test fixture: each argument is one fact of the story"
)]
pub fn scenario_events(
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

pub fn wrap_run(scenarios: &[&str], body: Vec<Event>, exit: i32) -> Vec<Event> {
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

pub fn passing() -> Vec<Event> {
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

pub fn failed_expectation() -> Vec<Event> {
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

pub fn restore_failure() -> Vec<Event> {
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

pub fn error() -> Vec<Event> {
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

pub fn alerts() -> Vec<Event> {
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
pub fn interrupted() -> Vec<Event> {
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

pub fn refused() -> Vec<Event> {
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

/// A run killed (SIGKILL) right after its first injection: no restore, no `run-finished`.
pub fn incomplete() -> Vec<Event> {
    passing().into_iter().take(5).collect()
}

pub fn render_all(events: &[Event]) -> (tempfile::TempDir, PathBuf, ExitCode) {
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
pub fn parse_junit(events: &[Event]) -> quick_junit::Report {
    let (_tmp, dir, _) = render_all(events);
    let xml = std::fs::read_to_string(dir.join(JUNIT_FILE)).unwrap();
    quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses with quick-junit")
}

pub fn case<'a>(r: &'a quick_junit::Report, name: &str) -> &'a quick_junit::TestCase {
    let suite = &r.test_suites[0];
    suite.test_cases.iter().find(|c| c.name.as_str() == name).unwrap_or_else(|| {
        let names: Vec<_> = suite.test_cases.iter().map(|c| c.name.as_str()).collect();
        panic!("no test case {name}; have {names:?}")
    })
}

pub fn kind(c: &quick_junit::TestCase) -> Option<NonSuccessKind> {
    match &c.status {
        TestCaseStatus::NonSuccess { kind, .. } => Some(*kind),
        _ => None,
    }
}

pub fn message(c: &quick_junit::TestCase) -> String {
    match &c.status {
        TestCaseStatus::NonSuccess { message, .. } | TestCaseStatus::Skipped { message, .. } => {
            message.as_ref().map(|m| m.as_str().to_owned()).unwrap_or_default()
        }
        TestCaseStatus::Success { .. } => String::new(),
    }
}

pub fn prop<'a>(c: &'a quick_junit::TestCase, name: &str) -> &'a str {
    c.properties.iter().find(|p| p.name.as_str() == name).map(|p| p.value.as_str()).unwrap()
}

/// A writer the test can read back.
#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<Vec<u8>>>);

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
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
