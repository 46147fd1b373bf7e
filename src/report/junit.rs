//! `junit.xml`: one test suite `acr-chaos` per run; per scenario the test cases
//! `<scenario>`, `<scenario>/restore`, `<scenario>/recovery` and `<scenario>/alert/<name>`.
//!
//! `failure` means an expectation was not met (the system under test behaved differently);
//! `error` means the check could not be made (engine or API error, a stage's deadline).

use super::ReportError;
use super::model::{RunModel, ScenarioRecord, TimelineEntry, exit_code};
use super::text::{fmt_duration, fmt_opt_duration, join_or_none, stage_word, verdict_word};
use crate::events::Verdict;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::fmt::Write as _;

/// The name of the report and of its one test suite.
pub const SUITE_NAME: &str = "acr-chaos";

/// Render the model as JUnit XML.
pub fn render(model: &RunModel) -> Result<String, ReportError> {
    let mut report = Report::new(SUITE_NAME);
    let mut suite = TestSuite::new(SUITE_NAME);
    if let Some(start) = model.started {
        report.set_timestamp(start);
        suite.set_timestamp(start);
    }
    if let Some(d) = model.duration() {
        report.set_time(d);
        suite.set_time(d);
    }
    let code = exit_code(model);
    suite.add_properties([
        Property::new("run-id", model.run_id.as_str()),
        Property::new("target", model.target.as_str()),
        Property::new("dry-run", model.dry_run.to_string()),
        Property::new("exit-code", code.code().to_string()),
        Property::new("exit-meaning", code.describe()),
    ]);
    for s in &model.scenarios {
        suite.add_test_case(scenario_case(s));
        suite.add_test_case(restore_case(s));
        suite.add_test_case(recovery_case(s));
        for a in &s.alerts {
            let status = if a.passed {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_type("alert")
                    .set_message(a.failure.clone().unwrap_or_else(|| "alert check failed".into()))
                    .set_description(format!("evidence: {}", a.evidence));
                st
            };
            let mut tc = TestCase::new(format!("{}/alert/{}", s.name, a.name), status);
            tc.set_classname(classname(s)).set_timestamp(a.at);
            tc.add_property(Property::new("alert", a.name.as_str()));
            tc.set_system_out(format!("evidence: {}\n", a.evidence));
            suite.add_test_case(tc);
        }
    }
    if let Some(case) = refused_case(model) {
        suite.add_test_case(case);
    }
    if let Some(case) = incomplete_case(model) {
        suite.add_test_case(case);
    }
    let mut out = String::new();
    if !model.refused.is_empty() {
        for r in &model.refused {
            let _ = writeln!(out, "run refused: {r}");
        }
    }
    if let Some(sig) = &model.interrupted {
        let _ = writeln!(out, "run interrupted by {sig}");
    }
    let _ = writeln!(out, "exit code {}: {}", code.code(), code.describe());
    out.push_str(&timeline_text(&model.run_timeline));
    suite.set_system_out(out);
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}

/// A refused run gets a failing case naming the reason: a JUnit file with no case at all
/// reads as green ("no tests") in CI test views, and a refusal is never green.
fn refused_case(model: &RunModel) -> Option<TestCase> {
    let first = model.refused.first()?;
    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
    let mut d = String::new();
    for r in &model.refused {
        let _ = writeln!(d, "{r}");
    }
    d.push_str("no fault was injected by this run\n");
    st.set_type("refused").set_message(format!("run refused: {first}")).set_description(d);
    let mut tc = TestCase::new("run/refused", st);
    tc.set_classname(SUITE_NAME);
    Some(tc)
}

/// A run that never finished gets a failing case of its own, listing what may be left.
fn incomplete_case(model: &RunModel) -> Option<TestCase> {
    if !model.incomplete() {
        return None;
    }
    let pending = model.pending_undos();
    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
    let mut d = String::new();
    for u in &pending {
        let _ = writeln!(d, "pending: {u}");
    }
    let message = if pending.is_empty() {
        "the run did not finish (killed or still running); no change is known to be pending"
            .to_owned()
    } else {
        d.push_str("the environment may still be faulty: run `acr-chaos recover --target FILE`\n");
        format!(
            "the run did not finish (killed or still running): {} change(s) not known to be undone",
            pending.len()
        )
    };
    st.set_type("incomplete").set_message(message).set_description(d);
    let mut tc = TestCase::new("run/incomplete", st);
    tc.set_classname(SUITE_NAME);
    Some(tc)
}

fn classname(s: &ScenarioRecord) -> String {
    if s.fault.is_empty() { SUITE_NAME.to_owned() } else { format!("{SUITE_NAME}.{}", s.fault) }
}

fn timeline_text(entries: &[TimelineEntry]) -> String {
    let mut out = String::from("timeline:\n");
    for e in entries {
        let _ = writeln!(
            out,
            "  +{:>8.3}s  {}  {}",
            e.offset.as_secs_f64(),
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e.text
        );
    }
    out
}

/// The properties of a scenario, as (name, value).
fn scenario_properties(s: &ScenarioRecord) -> Vec<(&'static str, String)> {
    let observed = s.observed();
    vec![
        ("fault", s.fault.clone()),
        ("verdict", verdict_word(s.verdict).to_owned()),
        ("tags", s.tags.join(",")),
        (
            "observed-waiting-reason",
            observed.and_then(|o| o.waiting_reason.clone()).unwrap_or_default(),
        ),
        (
            "observed-causes",
            observed.map(|o| crate::classify::join(&o.causes, ",")).unwrap_or_default(),
        ),
        ("time-to-effect", secs(s.time_to_effect)),
        ("time-to-recover", secs(s.time_to_recover())),
    ]
}

fn secs(d: Option<std::time::Duration>) -> String {
    d.map(|d| format!("{:.3}", d.as_secs_f64())).unwrap_or_default()
}

fn scenario_case(s: &ScenarioRecord) -> TestCase {
    let status = scenario_status(s);
    let mut tc = TestCase::new(s.name.as_str(), status);
    tc.set_classname(classname(s));
    if let Some(t) = s.started {
        tc.set_timestamp(t);
    }
    if let Some(d) = s.duration {
        tc.set_time(d);
    }
    let props = scenario_properties(s);
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", s.name);
    if !s.description.is_empty() {
        let _ = writeln!(out, "description: {}", s.description);
    }
    for (k, v) in &props {
        let _ = writeln!(out, "{k}: {v}");
    }
    for c in &s.changes {
        let _ = writeln!(out, "change: {c}");
    }
    out.push_str(&timeline_text(&s.timeline));
    tc.add_properties(props.into_iter().map(|(k, v)| Property::new(k, v)));
    tc.set_system_out(out);
    tc
}

fn scenario_status(s: &ScenarioRecord) -> TestCaseStatus {
    let fault_errors: Vec<_> = s.fault_errors().collect();
    if !fault_errors.is_empty() {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        let first = fault_errors[0];
        st.set_type(format!("error-in-{}", stage_word(first.stage))).set_message(format!(
            "error in {}: {}",
            stage_word(first.stage),
            first.error
        ));
        let mut d = String::new();
        for e in &fault_errors {
            let _ = writeln!(d, "error in {}: {}", stage_word(e.stage), e.error);
        }
        st.set_description(d);
        return st;
    }
    if let Some(a) = s.assertion.as_ref().filter(|a| !a.passed) {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let observed_reason = a.observed.waiting_reason.as_deref().unwrap_or("none");
        st.set_type("expectation").set_message(format!(
            "expected waiting reason {} and causes {}, observed {} with causes {}",
            join_or_none(&a.expected.waiting_reasons),
            join_or_none(&a.expected.causes),
            observed_reason,
            join_or_none(&a.observed.causes),
        ));
        st.set_description(expectation_details(s));
        return st;
    }
    match s.verdict {
        Verdict::Skipped => {
            let mut st = TestCaseStatus::skipped();
            // The engine says why in the scenario's last note (e.g. node credentials mask
            // a pull-secret fault on this registry).
            match s.notes.last() {
                Some(reason) => st.set_message(format!("scenario was skipped: {reason}")),
                None => st.set_message("scenario was skipped"),
            };
            st
        }
        _ if !s.complete => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type("incomplete")
                .set_message("the scenario did not finish (run interrupted or engine stopped)");
            st
        }
        Verdict::Failed | Verdict::Error if s.assertion.is_none() => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type("no-assertion").set_message(format!(
                "the engine reported {} but no assertion was recorded",
                verdict_word(s.verdict)
            ));
            st
        }
        _ => TestCaseStatus::success(),
    }
}

/// Expected vs observed, one item per line, for a failed assertion.
pub(crate) fn expectation_details(s: &ScenarioRecord) -> String {
    let Some(a) = &s.assertion else { return String::new() };
    let mut d = String::new();
    let _ = writeln!(d, "expected waiting reason: {}", join_or_none(&a.expected.waiting_reasons));
    let _ = writeln!(
        d,
        "observed waiting reason: {}",
        a.observed.waiting_reason.as_deref().unwrap_or("none")
    );
    let _ = writeln!(d, "expected causes: {}", join_or_none(&a.expected.causes));
    let _ = writeln!(d, "observed causes: {}", join_or_none(&a.observed.causes));
    if let Some(re) = &a.expected.message_regex {
        let _ = writeln!(d, "expected message to match: {re}");
    }
    let _ = writeln!(d, "observed message: {}", a.observed.message.as_deref().unwrap_or("none"));
    let _ = writeln!(d, "deadline: {}", fmt_duration(a.expected.deadline));
    for f in &a.failures {
        let _ = writeln!(d, "- {f}");
    }
    d
}

fn restore_case(s: &ScenarioRecord) -> TestCase {
    let failed: Vec<_> = s.failed_undos().collect();
    let errors: Vec<_> = s.restore_errors().collect();
    let status = if !failed.is_empty() {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let mut d = String::new();
        for u in &failed {
            let _ = writeln!(
                d,
                "FAILED: {}: {}",
                u.description,
                u.error.as_deref().unwrap_or("no error text")
            );
        }
        for e in &errors {
            let _ = writeln!(d, "error in {}: {}", stage_word(e.stage), e.error);
        }
        d.push_str("the environment may still be faulty: run `acr-chaos recover`\n");
        st.set_type("restore")
            .set_message(format!(
                "{} of {} undos failed: {}",
                failed.len(),
                s.restore.as_ref().map_or(0, |r| r.undos.len()),
                failed.iter().map(|u| u.description.as_str()).collect::<Vec<_>>().join("; ")
            ))
            .set_description(d);
        st
    } else if let Some(e) = errors.first() {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_type(format!("error-in-{}", stage_word(e.stage))).set_message(format!(
            "error in {}: {}",
            stage_word(e.stage),
            e.error
        ));
        st
    } else if s.restore.is_some() {
        TestCaseStatus::success()
    } else if s.changed_something() {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_type("restore-missing")
            .set_message("changes were made but no restore was recorded: run `acr-chaos recover`");
        st
    } else {
        let mut st = TestCaseStatus::skipped();
        st.set_message("nothing was changed, nothing to restore");
        st
    };
    let mut tc = TestCase::new(format!("{}/restore", s.name), status);
    tc.set_classname(classname(s));
    let mut out = String::new();
    if let Some(r) = &s.restore {
        tc.set_timestamp(r.at);
        for u in &r.undos {
            let _ = writeln!(
                out,
                "{} {}{}",
                if u.ok { "ok    " } else { "FAILED" },
                u.description,
                u.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            );
        }
    }
    if !out.is_empty() {
        tc.set_system_out(out);
    }
    tc
}

fn recovery_case(s: &ScenarioRecord) -> TestCase {
    let errors: Vec<_> = s.recovery_errors().collect();
    let status = match (&s.recovery, errors.first()) {
        (_, Some(e)) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type("error-in-recover").set_message(format!("error in recover: {}", e.error));
            st
        }
        (Some(r), None) if r.ok => TestCaseStatus::success(),
        (Some(r), None) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type("recovery").set_message(format!(
                "a fresh probe did not pull after the restore: {}",
                r.error.as_deref().unwrap_or("no error text")
            ));
            st
        }
        (None, None) => {
            let mut st = TestCaseStatus::skipped();
            st.set_message("recovery was not checked");
            st
        }
    };
    let mut tc = TestCase::new(format!("{}/recovery", s.name), status);
    tc.set_classname(classname(s));
    if let Some(r) = &s.recovery {
        tc.set_timestamp(r.at);
        if let Some(t) = r.time_to_recover {
            tc.set_time(t);
        }
        tc.add_property(Property::new("time-to-recover", secs(r.time_to_recover)));
        tc.set_system_out(format!("time-to-recover: {}\n", fmt_opt_duration(r.time_to_recover)));
    }
    tc
}
