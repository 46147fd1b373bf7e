//! A [`Snapshot`]: what `diff` compares of a run, per scenario: verdict, restore and
//! recovery, observed causes, waiting reason, error-signature templates, timings and
//! alerts; plus the environment facts. Built from a run's [`RunModel`] or read from a
//! baseline file (whose `scenarios` are snapshots).

use super::template::signature;
use crate::events::{EventKind, Verdict};
use crate::report::{RunModel, ScenarioRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The pseudo-scenario environment findings belong to (in baselines and in diffs).
pub const ENVIRONMENT: &str = "environment";

/// One scenario, as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioSnapshot {
    pub verdict: Verdict,
    /// Every undo succeeded (absent: nothing was restored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_ok: Option<bool>,
    /// A fresh probe pulled after the restore (absent: no recovery ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_ok: Option<bool>,
    /// Observed causes, sorted.
    #[serde(default)]
    pub causes: Vec<String>,
    /// The probe container's waiting reason when asserted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
    /// Error-signature templates of the observed messages (see `template`).
    #[serde(default)]
    pub signatures: Vec<String>,
    /// Seconds from injection until a probe showed the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_effect: Option<f64>,
    /// Seconds until a fresh probe pulled after the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_recover: Option<f64>,
    /// Alert checks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alerts: BTreeMap<String, AlertSnapshot>,
    /// Timing tolerance of this scenario (baselines only; overrides the global one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<super::Tolerance>,
}

/// One alert check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertSnapshot {
    pub passed: bool,
    /// Seconds from the injection to the check's verdict (absent: checked before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<f64>,
}

/// What `diff` compares of one side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The target's name.
    pub target: String,
    /// The run it came from (a baseline: the run it was accepted from).
    pub run_id: String,
    /// Environment facts (`Environment::facts`); `None` when the run recorded none.
    pub environment: Option<BTreeMap<String, String>>,
    pub scenarios: BTreeMap<String, ScenarioSnapshot>,
}

/// Round to milliseconds, as report.json does.
fn secs(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl Snapshot {
    /// The snapshot of a run. Dry runs and refused runs have no scenarios worth comparing;
    /// callers check [`RunModel::dry_run`] themselves.
    pub fn from_run(model: &RunModel) -> Snapshot {
        let scenarios =
            model.scenarios.iter().map(|s| (s.name.clone(), scenario_snapshot(model, s))).collect();
        Snapshot {
            target: model.target.clone(),
            run_id: model.run_id.clone(),
            environment: model.environment.as_ref().map(|e| e.facts()),
            scenarios,
        }
    }
}

/// The snapshot of one scenario of a run.
pub fn scenario_snapshot(model: &RunModel, s: &ScenarioRecord) -> ScenarioSnapshot {
    let observed = s.assertion.as_ref().map(|a| &a.observed).or(s.effective.as_ref());
    // ids, sorted as text: baselines written before causes were typed compare equal
    let mut causes: Vec<String> =
        observed.map(|o| o.causes.iter().map(ToString::to_string).collect()).unwrap_or_default();
    causes.sort();
    causes.dedup();
    let signatures = observed
        .and_then(|o| o.message.as_deref().map(|m| signature(m, Some(o))))
        .into_iter()
        .collect();
    let injected_at = injected_at(model, &s.name);
    let alerts = s
        .alerts
        .iter()
        .map(|a| {
            let latency = injected_at
                .and_then(|t| (a.at - t).to_std().ok())
                .filter(|_| injected_at.is_some_and(|t| a.at >= t))
                .map(secs);
            (a.name.clone(), AlertSnapshot { passed: a.passed, latency })
        })
        .collect();
    ScenarioSnapshot {
        verdict: s.verdict,
        restore_ok: s.restore.as_ref().map(|_| !s.restore_failed()),
        recovery_ok: s.recovery.as_ref().map(|r| r.ok),
        causes,
        waiting_reason: observed.and_then(|o| o.waiting_reason.clone()),
        signatures,
        time_to_effect: s.time_to_effect.map(secs),
        time_to_recover: s.time_to_recover().map(secs),
        alerts,
        tolerance: None,
    }
}

/// When the scenario's first fault was injected.
fn injected_at(model: &RunModel, scenario: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    model
        .events
        .iter()
        .filter(|e| e.scenario.as_deref() == Some(scenario))
        .find(|e| matches!(e.kind, EventKind::FaultInjected { .. }))
        .map(|e| e.at)
}
