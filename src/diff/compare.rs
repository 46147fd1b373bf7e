//! Compare two snapshots check by check. Every check of every scenario becomes a
//! [`Finding`]: unchanged, a regression, a change the baseline accepts, or a change that is
//! reported but does not fail (an environment fact, a timing that got faster).

use super::Tolerance;
use super::baseline::ExpectedDifference;
use super::input::{Side, SideKind};
use super::snapshot::{ScenarioSnapshot, Snapshot};
use super::template::word_diff;
use crate::environment::{FactGroup, fact_group};
use crate::events::Verdict;
use crate::report::text::verdict_word;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `schemaVersion` of diff.json.
pub const DIFF_VERSION: &str = "acr-chaos.diff/v1";
pub use super::snapshot::ENVIRONMENT;

/// What a check found.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Unchanged,
    /// Changed, reported, not a regression (environment facts, faster timings).
    Changed,
    /// Changed as an expected difference of the baseline allows.
    Accepted,
    Regression,
}

/// The checks, in the order they are reported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Check {
    /// The scenario is in both sides.
    Presence,
    Verdict,
    Restore,
    Recovery,
    Causes,
    WaitingReason,
    ErrorSignature,
    TimeToEffect,
    TimeToRecover,
    /// An alert check's verdict.
    Alert(String),
    /// Seconds from injection to an alert check's verdict.
    AlertLatency(String),
    /// An environment fact.
    Environment(String),
}

impl Check {
    /// The id used in baselines' `expectedDifferences` and in JUnit case names.
    pub fn id(&self) -> String {
        match self {
            Check::Presence => "presence".into(),
            Check::Verdict => "verdict".into(),
            Check::Restore => "restore".into(),
            Check::Recovery => "recovery".into(),
            Check::Causes => "causes".into(),
            Check::WaitingReason => "waiting-reason".into(),
            Check::ErrorSignature => "error-signature".into(),
            Check::TimeToEffect => "time-to-effect".into(),
            Check::TimeToRecover => "time-to-recover".into(),
            Check::Alert(n) => format!("alert:{n}"),
            Check::AlertLatency(n) => format!("alert-latency:{n}"),
            Check::Environment(k) => format!("environment:{k}"),
        }
    }

    /// How a person reads it: `error signature`, `alert rule-fires latency`.
    pub fn title(&self) -> String {
        match self {
            Check::Alert(n) => format!("alert {n}"),
            Check::AlertLatency(n) => format!("alert {n} latency"),
            Check::Environment(k) => k.clone(),
            other => other.id().replace('-', " "),
        }
    }

    fn is_timing(&self) -> bool {
        matches!(self, Check::TimeToEffect | Check::TimeToRecover | Check::AlertLatency(_))
    }
}

/// One check of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check: Check,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// What changed, for people: a word diff of templates, `2.4× slower (+41.0 s)`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The expected difference's reason, when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_because: Option<String>,
}

/// All checks of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioDiff {
    pub name: String,
    /// The worst status of its findings.
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// A side, as diff.json records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SideInfo {
    pub path: String,
    pub kind: SideKind,
    pub target: String,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Counts of findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffTotals {
    pub checks: usize,
    pub regressions: usize,
    pub accepted: usize,
    pub changed: usize,
    pub scenarios_added: usize,
    pub scenarios_missing: usize,
}

/// The whole comparison (diff.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "acr-chaos diff", description = "diff.json written by acr-chaos diff")]
pub struct DiffReport {
    /// Always `acr-chaos.diff/v1`.
    pub schema_version: String,
    pub baseline: SideInfo,
    pub current: SideInfo,
    /// Global timing tolerance used.
    pub tolerance: Tolerance,
    /// Environment facts that changed (versions first); empty when none did.
    pub environment: Vec<Finding>,
    /// Whether each side recorded environment facts (v1 reports did not).
    pub environment_compared: bool,
    pub scenarios: Vec<ScenarioDiff>,
    pub totals: DiffTotals,
    /// Whether any finding is a regression (exit code 4).
    pub regressions: bool,
}

/// Options of a comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Overrides the baseline's global tolerance.
    pub tolerance: Option<Tolerance>,
    /// Environment changes count as regressions.
    pub fail_on_environment: bool,
}

fn side_info(s: &Side) -> SideInfo {
    SideInfo {
        path: s.path.display().to_string(),
        kind: s.kind,
        target: s.snapshot.target.clone(),
        run_id: s.snapshot.run_id.clone(),
        name: s.baseline.as_ref().map(|b| b.name.clone()),
    }
}

/// Compare `cur` against `base`.
pub fn compare(base: &Side, cur: &Side, opts: Options) -> DiffReport {
    let global = opts.tolerance.unwrap_or_else(|| base.tolerance());
    let expected: &[ExpectedDifference] =
        base.baseline.as_ref().map(|b| b.expected_differences.as_slice()).unwrap_or(&[]);
    let tolerance_of = |name: &str| {
        opts.tolerance
            .or_else(|| base.snapshot.scenarios.get(name).and_then(|s| s.tolerance))
            .unwrap_or(global)
    };
    let names: BTreeSet<&String> =
        base.snapshot.scenarios.keys().chain(cur.snapshot.scenarios.keys()).collect();
    let mut scenarios = Vec::new();
    for name in names {
        let tol = tolerance_of(name);
        let mut findings = scenario_findings(
            base.snapshot.scenarios.get(name),
            cur.snapshot.scenarios.get(name),
            tol,
        );
        let accept: Vec<&ExpectedDifference> =
            expected.iter().filter(|d| &d.scenario == name).collect();
        for f in &mut findings {
            apply_expected(f, &accept, tol);
        }
        let status = findings.iter().map(|f| f.status).max().unwrap_or(Status::Unchanged);
        scenarios.push(ScenarioDiff { name: name.clone(), status, findings });
    }
    let fail_env =
        opts.fail_on_environment || base.baseline.as_ref().is_some_and(|b| b.fail_on_environment);
    let (environment, environment_compared) =
        environment_findings(&base.snapshot, &cur.snapshot, expected, fail_env);
    let totals = totals(&scenarios, &environment);
    DiffReport {
        schema_version: DIFF_VERSION.to_string(),
        baseline: side_info(base),
        current: side_info(cur),
        tolerance: global,
        regressions: totals.regressions > 0,
        environment,
        environment_compared,
        scenarios,
        totals,
    }
}

fn totals(scenarios: &[ScenarioDiff], env: &[Finding]) -> DiffTotals {
    let mut t = DiffTotals::default();
    for f in scenarios.iter().flat_map(|s| s.findings.iter()).chain(env) {
        t.checks += 1;
        match f.status {
            Status::Regression => t.regressions += 1,
            Status::Accepted => t.accepted += 1,
            Status::Changed => t.changed += 1,
            Status::Unchanged => {}
        }
        if f.check == Check::Presence {
            t.scenarios_added += usize::from(f.baseline.as_deref() == Some(ABSENT));
            t.scenarios_missing += usize::from(f.current.as_deref() == Some(ABSENT));
        }
    }
    t
}

const ABSENT: &str = "absent";
const PRESENT: &str = "present";

fn finding(check: Check, status: Status, b: Option<String>, c: Option<String>) -> Finding {
    Finding { check, status, baseline: b, current: c, detail: None, accepted_because: None }
}

/// The findings of one scenario (present on one side or both).
fn scenario_findings(
    b: Option<&ScenarioSnapshot>,
    c: Option<&ScenarioSnapshot>,
    tol: Tolerance,
) -> Vec<Finding> {
    let (b, c) = match (b, c) {
        (Some(b), Some(c)) => (b, c),
        (b, c) => {
            let word = |s: Option<&ScenarioSnapshot>| if s.is_some() { PRESENT } else { ABSENT };
            let mut f = finding(
                Check::Presence,
                Status::Regression,
                Some(word(b).into()),
                Some(word(c).into()),
            );
            f.detail = Some(if c.is_none() {
                "scenario missing from the current run".into()
            } else {
                "scenario added: not in the baseline (accept it to compare it from now on)".into()
            });
            return vec![f];
        }
    };
    let mut out = vec![finding(
        Check::Presence,
        Status::Unchanged,
        Some(PRESENT.into()),
        Some(PRESENT.into()),
    )];
    let verdict = |v: Verdict| verdict_word(v).to_string();
    out.push(equal(Check::Verdict, Some(verdict(b.verdict)), Some(verdict(c.verdict))));
    out.push(equal(Check::Restore, ok_word(b.restore_ok), ok_word(c.restore_ok)));
    out.push(equal(Check::Recovery, ok_word(b.recovery_ok), ok_word(c.recovery_ok)));
    out.push(equal(Check::Causes, Some(list(&b.causes)), Some(list(&c.causes))));
    out.push(waiting_reason(b.waiting_reason.as_deref(), c.waiting_reason.as_deref()));
    out.push(signature(&b.signatures, &c.signatures));
    out.push(timing(Check::TimeToEffect, b.time_to_effect, c.time_to_effect, tol));
    out.push(timing(Check::TimeToRecover, b.time_to_recover, c.time_to_recover, tol));
    let alerts: BTreeSet<&String> = b.alerts.keys().chain(c.alerts.keys()).collect();
    for a in alerts {
        let (ba, ca) = (b.alerts.get(a), c.alerts.get(a));
        let word = |x: Option<&super::snapshot::AlertSnapshot>| {
            Some(match x {
                Some(x) if x.passed => "passed".to_string(),
                Some(_) => "failed".to_string(),
                None => "not checked".to_string(),
            })
        };
        out.push(equal(Check::Alert(a.clone()), word(ba), word(ca)));
        let lat = |x: Option<&super::snapshot::AlertSnapshot>| x.and_then(|x| x.latency);
        out.push(timing(Check::AlertLatency(a.clone()), lat(ba), lat(ca), tol));
    }
    out
}

fn ok_word(v: Option<bool>) -> Option<String> {
    Some(match v {
        Some(true) => "ok".into(),
        Some(false) => "failed".into(),
        None => "not run".into(),
    })
}

fn list(v: &[String]) -> String {
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

fn equal(check: Check, b: Option<String>, c: Option<String>) -> Finding {
    let status = if b == c { Status::Unchanged } else { Status::Regression };
    finding(check, status, b, c)
}

/// The back-off of a failed pull is the same outcome as the failure itself: which of the
/// two a probe shows depends on the instant it was looked at.
fn waiting_family(r: &str) -> &str {
    match r {
        "ImagePullBackOff" => "ErrImagePull",
        other => other,
    }
}

fn waiting_reason(b: Option<&str>, c: Option<&str>) -> Finding {
    let word = |x: Option<&str>| Some(x.unwrap_or("none").to_string());
    let same = b.map(waiting_family) == c.map(waiting_family);
    let mut f = finding(
        Check::WaitingReason,
        if same { Status::Unchanged } else { Status::Regression },
        word(b),
        word(c),
    );
    if same && b != c {
        f.detail = Some(
            "ErrImagePull and ImagePullBackOff are one outcome (before/inside the back-off)".into(),
        );
    }
    f
}

fn signature(b: &[String], c: &[String]) -> Finding {
    let (bs, cs) = (b.join("\n"), c.join("\n"));
    let mut f = equal(
        Check::ErrorSignature,
        Some(if bs.is_empty() { "none".into() } else { bs.clone() }),
        Some(if cs.is_empty() { "none".into() } else { cs.clone() }),
    );
    if f.status == Status::Regression {
        f.detail = Some(word_diff(&bs, &cs));
    }
    f
}

fn fmt_secs(v: Option<f64>) -> Option<String> {
    Some(match v {
        Some(v) => format!("{v:.3}"),
        None => "none".into(),
    })
}

fn timing(check: Check, b: Option<f64>, c: Option<f64>, tol: Tolerance) -> Finding {
    let mut f = finding(check, Status::Unchanged, fmt_secs(b), fmt_secs(c));
    match (b, c) {
        (Some(b), Some(c)) => {
            if let Some(slower) = tol.drift(b, c) {
                f.status = if slower { Status::Regression } else { Status::Changed };
                f.detail = Some(format!(
                    "{:.1}× {} ({:+.1} s; tolerance ×{} and {} s)",
                    if slower { c / b.max(0.001) } else { b / c.max(0.001) },
                    if slower { "slower" } else { "faster" },
                    c - b,
                    tol.ratio,
                    tol.floor_seconds
                ));
            }
        }
        (None, None) => {}
        // a timing that appears or vanishes follows a verdict change, reported there
        _ => f.status = Status::Changed,
    }
    f
}

/// Turn a regression into an accepted change when an expected difference covers it.
fn apply_expected(f: &mut Finding, expected: &[&ExpectedDifference], tol: Tolerance) {
    if f.status != Status::Regression {
        return;
    }
    let id = f.check.id();
    let Some(cur) = f.current.as_deref() else { return };
    let hit = expected.iter().find(|d| {
        d.check == id
            && if f.check.is_timing() {
                match (d.accepted.parse::<f64>(), cur.parse::<f64>()) {
                    (Ok(a), Ok(c)) => tol.drift(a, c) != Some(true),
                    _ => d.accepted == cur,
                }
            } else if f.check == Check::WaitingReason {
                waiting_family(&d.accepted) == waiting_family(cur)
            } else {
                d.accepted == cur
            }
    });
    if let Some(d) = hit {
        f.status = Status::Accepted;
        f.accepted_because = Some(d.reason.clone().unwrap_or_else(|| "expected difference".into()));
    }
}

fn environment_findings(
    b: &Snapshot,
    c: &Snapshot,
    expected: &[ExpectedDifference],
    fail: bool,
) -> (Vec<Finding>, bool) {
    let (Some(be), Some(ce)) = (&b.environment, &c.environment) else {
        return (Vec::new(), false);
    };
    let keys: BTreeSet<&String> = be.keys().chain(ce.keys()).collect();
    let mut out: Vec<(FactGroup, Finding)> = Vec::new();
    for k in keys {
        let (bv, cv) = (be.get(k), ce.get(k));
        if bv == cv {
            continue;
        }
        let mut f = finding(
            Check::Environment(k.clone()),
            if fail { Status::Regression } else { Status::Changed },
            Some(bv.cloned().unwrap_or_else(|| ABSENT.into())),
            Some(cv.cloned().unwrap_or_else(|| ABSENT.into())),
        );
        let accept: Vec<&ExpectedDifference> =
            expected.iter().filter(|d| d.scenario == ENVIRONMENT).collect();
        apply_expected(&mut f, &accept, Tolerance::default());
        out.push((fact_group(k), f));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.check.cmp(&b.1.check)));
    (out.into_iter().map(|(_, f)| f).collect(), true)
}

/// The expected differences that would make this report green: one per regression.
pub fn expected_differences(report: &DiffReport, reason: &str) -> Vec<ExpectedDifference> {
    let scenario_findings =
        report.scenarios.iter().flat_map(|s| s.findings.iter().map(move |f| (s.name.as_str(), f)));
    let env = report.environment.iter().map(|f| (ENVIRONMENT, f));
    scenario_findings
        .chain(env)
        .filter(|(_, f)| f.status == Status::Regression)
        .map(|(scenario, f)| ExpectedDifference {
            scenario: scenario.to_string(),
            check: f.check.id(),
            baseline: f.baseline.clone(),
            accepted: f.current.clone().unwrap_or_default(),
            reason: Some(reason.to_string()),
        })
        .collect()
}

/// Findings by status, for summaries.
pub fn counts_by_scenario(report: &DiffReport) -> BTreeMap<String, (usize, usize)> {
    report
        .scenarios
        .iter()
        .map(|s| {
            let r = s.findings.iter().filter(|f| f.status == Status::Regression).count();
            (s.name.clone(), (s.findings.len(), r))
        })
        .collect()
}
