//! `report.json`: the run as one versioned JSON document ([`ReportV2`]).
//!
//! The schema is derived with schemars ([`json_schema`]) and shipped as
//! `docs/report.schema.json`; `reports/README.md` documents it. A field removed or changed
//! in meaning bumps the version, and so does anything a reader of the previous version
//! would reject: v2 added `environment` (v1's schema forbids unknown top-level members)
//! and the `environment-observed` event. Readers accept [`READABLE_VERSIONS`] (a v1
//! report simply has no environment) and refuse any other version by name.

use super::ReportError;
use super::model::{RunModel, ScenarioRecord, TimelineEntry, Totals, exit_code};
use crate::environment::Environment;
use crate::events::{Event, opt_duration_secs};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The value of `schemaVersion` this code writes.
pub const SCHEMA_VERSION: &str = "acr-chaos.report/v2";

/// Versions this code reads (their `events` parse the same way).
pub const READABLE_VERSIONS: [&str; 2] = ["acr-chaos.report/v1", SCHEMA_VERSION];

/// The process exit code and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExitInfo {
    /// 0 passed, 1 expectation failed, 2 invalid input or refused, 3 restore failed,
    /// 4 regressions against a baseline (`run --baseline`), 130 interrupted.
    pub code: i32,
    pub meaning: String,
}

/// `report.json`, version 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "acr-chaos run report", description = "report.json written by acr-chaos")]
pub struct ReportV2 {
    /// Always `acr-chaos.report/v2` for this version.
    pub schema_version: String,
    pub run_id: String,
    /// The target's name (`lab` for the embedded lab).
    pub target: String,
    pub dry_run: bool,
    /// Scenario names the run planned, in order.
    pub planned_scenarios: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
    /// Wall time of the run in seconds (first to last event).
    #[serde(default, with = "opt_duration_secs", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<f64>")]
    pub duration: Option<Duration>,
    pub exit_code: ExitInfo,
    /// Why the run was refused (invalid input, guard rails), if it was.
    pub refused: Vec<String>,
    /// The signal that interrupted the run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// The run never finished (killed, or still running): nothing in it counts as passed.
    #[serde(default)]
    pub incomplete: bool,
    /// Changes not known to be undone (journaled and never restored with success).
    #[serde(default)]
    pub pending_undos: Vec<String>,
    pub totals: Totals,
    /// What the run saw of its target before the first fault (absent: not observed, e.g.
    /// a dry run or a refused run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    pub scenarios: Vec<ScenarioRecord>,
    /// Run-level events (not tied to a scenario), described on one line each.
    pub run_timeline: Vec<TimelineEntry>,
    /// Every event of the run, in order, as the engine emitted it (redacted).
    pub events: Vec<Event>,
}

impl ReportV2 {
    pub fn from_model(model: &RunModel) -> Self {
        let code = exit_code(model);
        Self {
            schema_version: SCHEMA_VERSION.to_owned(),
            run_id: model.run_id.clone(),
            target: model.target.clone(),
            dry_run: model.dry_run,
            planned_scenarios: model.planned.clone(),
            started: model.started,
            finished: model.finished,
            duration: model.duration(),
            exit_code: ExitInfo { code: code.code(), meaning: code.describe().to_owned() },
            refused: model.refused.clone(),
            interrupted: model.interrupted.clone(),
            incomplete: model.incomplete(),
            pending_undos: model.pending_undos(),
            totals: model.totals(),
            environment: model.environment.clone(),
            scenarios: model.scenarios.clone(),
            run_timeline: model.run_timeline.clone(),
            events: model.events.clone(),
        }
    }
}

/// Render the model as `report.json` (pretty-printed, trailing newline).
pub fn render(model: &RunModel) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(&ReportV2::from_model(model))?;
    s.push('\n');
    Ok(s)
}

/// The JSON Schema of `report.json` (what `docs/report.schema.json` holds).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ReportV2);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}
