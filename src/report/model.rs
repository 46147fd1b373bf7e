//! The run model: what reporters render, folded from the event stream.
//!
//! [`RunModel::apply`] takes events one at a time (it is a [`Sink`]), redacts every string
//! in them first, and keeps per-scenario records. [`exit_code`] maps a model to the
//! process exit code, in one place.

use super::redact::redact_json;
use super::text::describe;
use crate::ExitCode;
use crate::events::{
    Event, EventKind, ExpectedSummary, Observation, Sink, Stage, UndoOutcome, Verdict,
    opt_duration_secs,
};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// Seconds since the start of the scenario (run-level timeline: of the run).
    #[serde(with = "crate::events::duration_secs")]
    #[schemars(with = "f64")]
    pub offset: Duration,
    /// The event, described on one line.
    pub text: String,
}

/// A probe pod the scenario created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRef {
    pub pod: String,
    pub namespace: String,
    pub image: String,
}

/// The expectation check of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssertionRecord {
    pub passed: bool,
    pub expected: ExpectedSummary,
    pub observed: Observation,
    /// One line per unmet expectation.
    pub failures: Vec<String>,
}

/// One alert assertion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    pub name: String,
    pub passed: bool,
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub at: DateTime<Utc>,
}

/// The restore of a scenario's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRecord {
    pub ok: bool,
    pub undos: Vec<UndoOutcome>,
    pub at: DateTime<Utc>,
}

/// The fresh probe after the restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryRecord {
    pub ok: bool,
    #[serde(default, with = "opt_duration_secs", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<f64>")]
    pub time_to_recover: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// An error outside the expectations (engine, API, deadline of a stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageError {
    pub stage: Stage,
    pub error: String,
    pub at: DateTime<Utc>,
}

/// Everything known about one scenario of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioRecord {
    pub name: String,
    /// Fault kind (`acr-detach`, `pull-secret-wrong`...).
    pub fault: String,
    pub description: String,
    pub tags: Vec<String>,
    /// The fault's own description of what it changes.
    pub changes: Vec<String>,
    /// Changes written to the journal before they were made.
    pub journaled: Vec<String>,
    /// What the fault did, as it reported it.
    pub injected: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
    /// Wall time from the first to the last event of the scenario, in seconds.
    #[serde(default, with = "opt_duration_secs", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<f64>")]
    pub duration: Option<Duration>,
    /// How long the baseline probe took to pull during preflight, in seconds.
    #[serde(default, with = "opt_duration_secs", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<f64>")]
    pub baseline_pull: Option<Duration>,
    pub probes: Vec<ProbeRef>,
    /// Seconds from the injection until a probe showed the fault.
    #[serde(default, with = "opt_duration_secs", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<f64>")]
    pub time_to_effect: Option<Duration>,
    /// The observation when the fault took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Observation>,
    /// The latest observation of any probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observation: Option<Observation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<AssertionRecord>,
    pub alerts: Vec<AlertRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryRecord>,
    pub errors: Vec<StageError>,
    pub notes: Vec<String>,
    /// The engine's verdict; derived from the records while the scenario has not finished.
    pub verdict: Verdict,
    /// Whether the engine reported the scenario finished (`false`: interrupted or running).
    pub complete: bool,
    pub timeline: Vec<TimelineEntry>,
}

impl ScenarioRecord {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            fault: String::new(),
            description: String::new(),
            tags: Vec::new(),
            changes: Vec::new(),
            journaled: Vec::new(),
            injected: Vec::new(),
            started: None,
            finished: None,
            duration: None,
            baseline_pull: None,
            probes: Vec::new(),
            time_to_effect: None,
            effective: None,
            last_observation: None,
            assertion: None,
            alerts: Vec::new(),
            restore: None,
            recovery: None,
            errors: Vec::new(),
            notes: Vec::new(),
            verdict: Verdict::Skipped,
            complete: false,
            timeline: Vec::new(),
        }
    }

    /// A change was (or may have been) made: something was journaled or injected.
    pub fn changed_something(&self) -> bool {
        !self.journaled.is_empty() || !self.injected.is_empty()
    }

    /// A restore failed: an undo failed or the restore stage raised an error.
    pub fn restore_failed(&self) -> bool {
        self.restore.as_ref().is_some_and(|r| !r.ok)
            || self.errors.iter().any(|e| e.stage == Stage::Restore)
    }

    /// Changes not known to be undone: every journaled change when no restore was
    /// recorded (the run was killed first), else the undos that failed.
    pub fn pending_undos(&self) -> Vec<&str> {
        match &self.restore {
            None => self.journaled.iter().map(String::as_str).collect(),
            Some(r) => r.undos.iter().filter(|u| !u.ok).map(|u| u.description.as_str()).collect(),
        }
    }

    /// Undos that failed.
    pub fn failed_undos(&self) -> impl Iterator<Item = &UndoOutcome> {
        self.restore.iter().flat_map(|r| r.undos.iter()).filter(|u| !u.ok)
    }

    /// An expectation failed: the assertion, the recovery or an alert check.
    pub fn expectation_failed(&self) -> bool {
        self.assertion.as_ref().is_some_and(|a| !a.passed)
            || self.recovery.as_ref().is_some_and(|r| !r.ok)
            || self.alerts.iter().any(|a| !a.passed)
    }

    /// Errors of the stages that belong to the fault itself (not restore/recover/cleanup).
    pub fn fault_errors(&self) -> impl Iterator<Item = &StageError> {
        self.errors.iter().filter(|e| {
            matches!(e.stage, Stage::Preflight | Stage::Inject | Stage::Observe | Stage::Assert)
        })
    }

    /// Errors of the restore and cleanup stages.
    pub fn restore_errors(&self) -> impl Iterator<Item = &StageError> {
        self.errors.iter().filter(|e| matches!(e.stage, Stage::Restore | Stage::Cleanup))
    }

    /// Errors of the recovery stage.
    pub fn recovery_errors(&self) -> impl Iterator<Item = &StageError> {
        self.errors.iter().filter(|e| e.stage == Stage::Recover)
    }

    /// The causes seen when the fault took effect, else in the assertion, else last seen.
    pub fn observed(&self) -> Option<&Observation> {
        self.assertion
            .as_ref()
            .map(|a| &a.observed)
            .or(self.effective.as_ref())
            .or(self.last_observation.as_ref())
    }

    pub fn time_to_recover(&self) -> Option<Duration> {
        self.recovery.as_ref().and_then(|r| r.time_to_recover)
    }

    /// What the verdict is while the engine has not reported one.
    fn derived_verdict(&self) -> Verdict {
        if !self.errors.is_empty() {
            Verdict::Error
        } else if self.expectation_failed() || self.restore_failed() {
            Verdict::Failed
        } else if self.complete {
            Verdict::Passed
        } else if self.timeline.is_empty() {
            Verdict::Skipped
        } else {
            // Started but never finished (interrupted, killed, or still running): whatever
            // its assertion said, an unfinished scenario is never a pass.
            Verdict::Error
        }
    }
}

/// Counts over the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub scenarios: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    /// Scenarios whose restore failed.
    pub restore_failures: usize,
    pub alert_checks: usize,
    pub alert_checks_failed: usize,
}

/// The whole run, folded from events. Every string in it has been redacted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunModel {
    pub run_id: String,
    pub target: String,
    pub dry_run: bool,
    /// Scenario names announced by `run-started`, in order.
    pub planned: Vec<String>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// The exit code the engine announced in `run-finished`, if any.
    pub engine_exit_code: Option<i32>,
    /// Reasons the run was refused (invalid input, guard rails).
    pub refused: Vec<String>,
    /// The signal that interrupted the run.
    pub interrupted: Option<String>,
    pub scenarios: Vec<ScenarioRecord>,
    /// Run-level events (not belonging to a scenario), described.
    pub run_timeline: Vec<TimelineEntry>,
    /// What the run saw of its target before the first fault (`environment-observed`).
    pub environment: Option<crate::environment::Environment>,
    /// Every event received, redacted, in order.
    pub events: Vec<Event>,
    /// Unfinished undos read from the run's own journal file (`report` on a run folder).
    pub journal_pending: Vec<String>,
    /// Changes the engine announced as not known to be undone (`undo-pending`).
    #[serde(default)]
    pub undo_pending: Vec<String>,
}

impl RunModel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold a whole event sequence.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut m = Self::new();
        for e in events {
            m.apply(e);
        }
        m
    }

    /// The engine never announced the end of the run: it was killed, or is still running.
    pub fn incomplete(&self) -> bool {
        self.engine_exit_code.is_none()
    }

    /// Every change not known to be undone: from the events (journaled, never restored
    /// with success) and from the run's journal file, without repeats.
    pub fn pending_undos(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let from_events =
            self.scenarios.iter().flat_map(|s| s.pending_undos().into_iter().map(str::to_owned));
        let announced = self.undo_pending.iter().cloned();
        for u in from_events.chain(announced).chain(self.journal_pending.iter().cloned()) {
            if !out.contains(&u) {
                out.push(u);
            }
        }
        out
    }

    /// The record of a scenario, by name.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioRecord> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Wall time of the run (first to last event).
    pub fn duration(&self) -> Option<Duration> {
        let first = self.events.first()?.at;
        let last = self.events.last()?.at;
        (last - first).to_std().ok()
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals { scenarios: self.scenarios.len(), ..Totals::default() };
        for s in &self.scenarios {
            match s.verdict {
                Verdict::Passed => t.passed += 1,
                Verdict::Failed => t.failed += 1,
                Verdict::Error => t.errors += 1,
                Verdict::Skipped => t.skipped += 1,
            }
            t.restore_failures += usize::from(s.restore_failed());
            t.alert_checks += s.alerts.len();
            t.alert_checks_failed += s.alerts.iter().filter(|a| !a.passed).count();
        }
        t
    }

    /// Fold one event into the model (redacting it first).
    pub fn apply(&mut self, event: &Event) {
        let event = redacted(event);
        let run_start = self.events.first().map(|e| e.at).unwrap_or(event.at);
        self.events.push(event.clone());
        let Some(name) = event.scenario.as_deref() else {
            self.apply_run_event(&event, run_start);
            return;
        };
        let idx = match self.scenarios.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.scenarios.push(ScenarioRecord::new(name));
                self.scenarios.len() - 1
            }
        };
        let s = &mut self.scenarios[idx];
        let start = *s.started.get_or_insert(event.at);
        s.timeline.push(TimelineEntry {
            at: event.at,
            offset: (event.at - start).to_std().unwrap_or_default(),
            text: describe(&event.kind),
        });
        s.duration = (event.at - start).to_std().ok();
        apply_scenario_event(s, &event);
        if !s.complete {
            s.verdict = s.derived_verdict();
        }
    }

    fn apply_run_event(&mut self, event: &Event, run_start: DateTime<Utc>) {
        self.run_timeline.push(TimelineEntry {
            at: event.at,
            offset: (event.at - run_start).to_std().unwrap_or_default(),
            text: describe(&event.kind),
        });
        match &event.kind {
            EventKind::RunStarted { run_id, target, scenarios, dry_run } => {
                self.run_id.clone_from(run_id);
                self.target.clone_from(target);
                self.planned.clone_from(scenarios);
                self.dry_run = *dry_run;
                self.started = Some(event.at);
            }
            EventKind::RunRefused { reason } => self.refused.push(reason.clone()),
            EventKind::EnvironmentObserved { environment } => {
                self.environment = Some(environment.clone())
            }
            EventKind::RunInterrupted { signal } => self.interrupted = Some(signal.clone()),
            EventKind::UndoPending { change } => self.undo_pending.push(change.clone()),
            EventKind::RunFinished { exit_code } => {
                self.engine_exit_code = Some(*exit_code);
                self.finished = Some(event.at);
            }
            _ => {}
        }
        if self.started.is_none() {
            self.started = Some(event.at);
        }
    }
}

impl Sink for RunModel {
    fn event(&mut self, event: &Event) {
        self.apply(event);
    }
}

fn apply_scenario_event(s: &mut ScenarioRecord, event: &Event) {
    match &event.kind {
        EventKind::ScenarioStarted { fault, description, tags, changes } => {
            s.fault.clone_from(fault);
            s.description.clone_from(description);
            s.tags.clone_from(tags);
            s.changes.clone_from(changes);
            s.started = Some(event.at);
        }
        EventKind::PreflightPassed { baseline_pull } => s.baseline_pull = Some(*baseline_pull),
        EventKind::Journaled { change } => s.journaled.push(change.clone()),
        EventKind::FaultInjected { description } => s.injected.push(description.clone()),
        EventKind::ProbeCreated { pod, namespace, image } => s.probes.push(ProbeRef {
            pod: pod.clone(),
            namespace: namespace.clone(),
            image: image.clone(),
        }),
        EventKind::ProbeObserved { observation } => {
            s.last_observation = Some(observation.clone());
        }
        EventKind::FaultEffective { time_to_effect, observation } => {
            s.time_to_effect = Some(*time_to_effect);
            s.effective = Some(observation.clone());
            s.last_observation = Some(observation.clone());
        }
        EventKind::Asserted { passed, expected, observed, failures } => {
            s.assertion = Some(AssertionRecord {
                passed: *passed,
                expected: expected.clone(),
                observed: observed.clone(),
                failures: failures.clone(),
            });
        }
        EventKind::AlertChecked { name, passed, evidence, failure } => {
            s.alerts.push(AlertRecord {
                name: name.clone(),
                passed: *passed,
                evidence: evidence.clone(),
                failure: failure.clone(),
                at: event.at,
            });
        }
        EventKind::RestoreFinished { undos } => {
            let r = s.restore.get_or_insert_with(|| RestoreRecord {
                ok: true,
                undos: Vec::new(),
                at: event.at,
            });
            r.undos.extend(undos.iter().cloned());
            r.ok = r.undos.iter().all(|u| u.ok);
            r.at = event.at;
        }
        EventKind::RecoveryFinished { ok, time_to_recover, error } => {
            s.recovery = Some(RecoveryRecord {
                ok: *ok,
                time_to_recover: *time_to_recover,
                error: error.clone(),
                at: event.at,
            });
        }
        EventKind::ScenarioError { stage, error } => {
            s.errors.push(StageError { stage: *stage, error: error.clone(), at: event.at });
        }
        EventKind::ScenarioFinished { verdict } => {
            s.verdict = *verdict;
            s.complete = true;
            s.finished = Some(event.at);
        }
        EventKind::Note { message } => s.notes.push(message.clone()),
        // Run-level kinds sent with a scenario name: keep them in the timeline only.
        EventKind::RunStarted { .. }
        | EventKind::RunRefused { .. }
        | EventKind::EnvironmentObserved { .. }
        | EventKind::RunInterrupted { .. }
        | EventKind::UndoPending { .. }
        | EventKind::UndoReplayed { .. }
        | EventKind::RunFinished { .. } => {}
    }
}

/// A copy of the event with every string redacted.
fn redacted(event: &Event) -> Event {
    let Ok(mut value) = serde_json::to_value(event) else {
        return event.clone();
    };
    redact_json(&mut value);
    serde_json::from_value(value).unwrap_or_else(|_| event.clone())
}

fn exit_code_from_i32(code: i32) -> Option<ExitCode> {
    [
        ExitCode::Success,
        ExitCode::ExpectationFailed,
        ExitCode::InvalidInput,
        ExitCode::RestoreFailed,
        ExitCode::RegressionsFound,
        ExitCode::Interrupted,
    ]
    .into_iter()
    .find(|c| c.code() == code)
}

/// The process exit code of a run: the worst of (in this order of precedence)
/// - 3 when any restore failed (a failed undo, or an error in the restore stage), or the
///   engine announced a change not known to be undone (`undo-pending`) — it
///   wins even over an interruption: the environment may still be faulty;
/// - 130 when the run was interrupted (`run-interrupted`);
/// - 2 when the run was refused (invalid input or configuration, a guard rail);
/// - 1 when any expectation failed (assertion, recovery, alert check), a scenario reported
///   an error in any stage (cleanup included), or a scenario ended in `failed` or `error`;
/// - 0 otherwise (skipped scenarios do not fail a run);
/// - and the code the engine announced in `run-finished`, when it is one of those.
/// - for a run that never finished (no `run-finished`): 3 when any change is not known to
///   be undone, else 130 — an unfinished run never reads as passed.
pub fn exit_code(model: &RunModel) -> ExitCode {
    let code = exit_code_as_finished(model);
    if !model.pending_undos().is_empty()
        && (model.incomplete() || !model.journal_pending.is_empty())
    {
        return code.worst(ExitCode::RestoreFailed);
    }
    if model.incomplete() { code.worst(ExitCode::Interrupted) } else { code }
}

/// [`exit_code`] of the events so far as if the run ended now: what the engine announces
/// in `run-finished`.
pub fn exit_code_as_finished(model: &RunModel) -> ExitCode {
    let mut code = ExitCode::Success;
    if !model.undo_pending.is_empty() {
        code = code.worst(ExitCode::RestoreFailed);
    }
    for s in &model.scenarios {
        if s.restore_failed() {
            code = code.worst(ExitCode::RestoreFailed);
        }
        let failed = s.expectation_failed() || !s.errors.is_empty();
        if failed || matches!(s.verdict, Verdict::Failed | Verdict::Error) {
            code = code.worst(ExitCode::ExpectationFailed);
        }
    }
    if !model.refused.is_empty() {
        code = code.worst(ExitCode::InvalidInput);
    }
    if model.interrupted.is_some() {
        code = code.worst(ExitCode::Interrupted);
    }
    if let Some(engine) = model.engine_exit_code.and_then(exit_code_from_i32) {
        code = code.worst(engine);
    }
    code
}
