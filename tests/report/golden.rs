//! Reporter tests: golden files for junit.xml / report.json / summary.md / the terminal
//! table, JUnit parse-back with quick-junit, report.json round trip, and the shipped JSON
//! Schema being up to date.
//!
//! `UPDATE_GOLDEN=1 cargo test -p acr-chaos --test report` rewrites `tests/golden/**` and
//! `docs/report.schema.json`.

use crate::report_support::*;
use acr_chaos::ExitCode;
use acr_chaos::events::Event;
use acr_chaos::report::{
    self, JSON_FILE, JUNIT_FILE, RunModel, SUMMARY_FILE, json::ReportV2, render_table,
};
use quick_junit::{NonSuccessKind, TestCaseStatus};
use rstest::rstest;
use std::path::Path;
use std::time::Duration;

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
#[case::refused("refused", refused(), ExitCode::InvalidInput)]
#[case::incomplete("incomplete", incomplete(), ExitCode::RestoreFailed)]
fn golden(#[case] name: &str, #[case] events: Vec<Event>, #[case] code: ExitCode) {
    let (_tmp, dir, _) = render_all(&events);
    assert_eq!(report::exit_code(&RunModel::from_events(&events)), code);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    for f in [JUNIT_FILE, JSON_FILE, SUMMARY_FILE] {
        let actual = std::fs::read_to_string(dir.join(f)).unwrap();
        check_golden(&golden.join(f), &actual);
    }
    let table = render_table(&RunModel::from_events(&events), false);
    check_golden(&golden.join("terminal.txt"), &table);
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
    let doc: ReportV2 = serde_json::from_str(&text).expect("report.json reads back");
    assert_eq!(doc.schema_version, "acr-chaos.report/v2");
    assert_eq!(doc.exit_code.code, 3);
    assert_eq!(doc.totals.restore_failures, 1);
    assert_eq!(doc.events, events, "the full event list, unchanged when nothing is secret");
    let sc = &doc.scenarios[0];
    assert_eq!(sc.time_to_effect, Some(Duration::from_millis(12_350)));
    assert_eq!(sc.timeline.len(), 11);
    assert_eq!(sc.timeline[6].offset, Duration::from_millis(14_250));
    // The event list alone rebuilds the same report.
    let again = ReportV2::from_model(&RunModel::from_events(&doc.events));
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
