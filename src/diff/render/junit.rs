//! `diff-junit.xml`: one test suite `acr-chaos-diff`; one test case per check per
//! scenario (`acr-detach: error signature`), failing for a regression with the baseline,
//! the current value and the word diff; accepted and reported changes pass with a note.
//! Environment facts that changed are cases `environment: <fact>`.

use super::super::DiffError;
use super::super::compare::{DiffReport, Finding, Status};
use super::{change_text, headline};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

pub const SUITE_NAME: &str = "acr-chaos-diff";

pub fn render(r: &DiffReport) -> Result<String, DiffError> {
    let mut report = Report::new(SUITE_NAME);
    let mut suite = TestSuite::new(SUITE_NAME);
    suite.add_properties([
        Property::new("baseline", r.baseline.path.as_str()),
        Property::new("baseline-run-id", r.baseline.run_id.as_str()),
        Property::new("current", r.current.path.as_str()),
        Property::new("current-run-id", r.current.run_id.as_str()),
        Property::new("target", r.current.target.as_str()),
    ]);
    for f in &r.environment {
        suite.add_test_case(case("environment", f));
    }
    for s in &r.scenarios {
        for f in &s.findings {
            suite.add_test_case(case(&s.name, f));
        }
    }
    suite.set_system_out(format!("{}\n", headline(r)));
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| DiffError::Render { what: "diff-junit.xml", message: e.to_string() })
}

fn case(scenario: &str, f: &Finding) -> TestCase {
    let title = f.check.title();
    let status = if f.status == Status::Regression {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let what = if f.check == super::super::Check::Presence {
            f.detail.clone().unwrap_or_else(|| "scenario added or missing".into())
        } else {
            format!("{title} changed")
        };
        st.set_type("regression").set_message(format!("{scenario}: {what}")).set_description(
            format!(
                "baseline: {}\ncurrent:  {}\n{}",
                f.baseline.as_deref().unwrap_or("-"),
                f.current.as_deref().unwrap_or("-"),
                f.detail.as_deref().map(|d| format!("diff:     {d}\n")).unwrap_or_default()
            ),
        );
        st
    } else {
        TestCaseStatus::success()
    };
    let mut tc = TestCase::new(format!("{scenario}: {title}"), status);
    tc.set_classname(format!("{SUITE_NAME}.{scenario}"));
    tc.add_property(Property::new("check", f.check.id()));
    if matches!(f.status, Status::Accepted | Status::Changed) {
        tc.set_system_out(format!("{}: {}\n", super::status_word(f.status), change_text(f)));
    }
    tc
}
