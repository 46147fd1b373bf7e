//! The typed event stream. The engine emits these; reporters only consume them.
//! Every event carries its wall-clock time and, when it belongs to one, the scenario.
//! Nothing in here may hold a secret: events end up in reports.

use crate::classify::Cause;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// The scenario this event belongs to (`None` for run-level events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn run(kind: EventKind) -> Self {
        Self { at: Utc::now(), scenario: None, kind }
    }
    pub fn scenario(name: impl Into<String>, kind: EventKind) -> Self {
        Self { at: Utc::now(), scenario: Some(name.into()), kind }
    }
}

/// Which stage a scenario was in when something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Preflight,
    Inject,
    Observe,
    Assert,
    Restore,
    Recover,
    Cleanup,
}

/// The final verdict of one scenario (or one of its parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    /// An expectation was not met.
    Failed,
    /// Something went wrong that is not the system under test's fault (bad target,
    /// API error, deadline of a preflight...).
    Error,
    Skipped,
}

/// What a probe showed at one point in time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub pod: String,
    pub namespace: String,
    pub image: String,
    /// `state.waiting.reason` of the probe container (`ErrImagePull`, `ImagePullBackOff`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
    /// The failure message (from the `Failed` event or the waiting message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Causes the classifier found in `message` (cause ids, signatures.md §5).
    #[serde(default)]
    pub causes: Vec<Cause>,
    /// Event reasons seen for the pod, in order (`Pulling`, `Failed`, `BackOff`...).
    #[serde(default)]
    pub event_reasons: Vec<String>,
    /// The probe container runs (or ran): its image was pulled. The observation that ends
    /// a wait for a pull is always recorded, even when the pod's events came later.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub running: bool,
}

/// The expectation a scenario checks, as reporters show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedSummary {
    pub waiting_reasons: Vec<String>,
    pub causes: Vec<Cause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_regex: Option<String>,
    #[serde(with = "duration_secs")]
    #[schemars(with = "f64")]
    pub deadline: Duration,
}

/// One undo of the journal, after it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UndoOutcome {
    /// Human description of the undo (`re-create role assignment 0f2a… (AcrPull) at …`).
    pub description: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything that can happen in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
/// JSON: `{"event": "fault-effective", "timeToEffect": 12.3, ...}` (fields camelCase).
#[serde(tag = "event", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum EventKind {
    RunStarted {
        run_id: String,
        target: String,
        scenarios: Vec<String>,
        dry_run: bool,
    },
    ScenarioStarted {
        fault: String,
        description: String,
        #[serde(default)]
        tags: Vec<String>,
        /// The fault's own description of what it will change.
        #[serde(default)]
        changes: Vec<String>,
    },
    /// Preflight passed: target reachable, guards hold, baseline probe pulled.
    PreflightPassed {
        #[serde(with = "duration_secs")]
        #[schemars(with = "f64")]
        baseline_pull: Duration,
    },
    /// A change about to be made was written to the journal.
    Journaled {
        change: String,
    },
    FaultInjected {
        description: String,
    },
    ProbeCreated {
        pod: String,
        namespace: String,
        image: String,
    },
    /// A probe's status or events changed.
    ProbeObserved {
        observation: Observation,
    },
    /// The fault showed on a probe.
    FaultEffective {
        #[serde(with = "duration_secs")]
        #[schemars(with = "f64")]
        time_to_effect: Duration,
        observation: Observation,
    },
    /// Expectations were checked against the last observation.
    Asserted {
        passed: bool,
        expected: ExpectedSummary,
        observed: Observation,
        /// One line per unmet expectation, empty when passed.
        #[serde(default)]
        failures: Vec<String>,
    },
    /// An alert assertion (later issue) was evaluated.
    AlertChecked {
        name: String,
        passed: bool,
        evidence: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<String>,
    },
    RestoreFinished {
        undos: Vec<UndoOutcome>,
    },
    /// A fresh probe after the restore.
    RecoveryFinished {
        ok: bool,
        #[serde(default, with = "opt_duration_secs", skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<f64>")]
        time_to_recover: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Something failed outside the expectations (API error, timeout in a stage...).
    ScenarioError {
        stage: Stage,
        error: String,
    },
    ScenarioFinished {
        verdict: Verdict,
    },
    /// What the run saw of its target before the first fault (Kubernetes and node
    /// versions, the cluster's and the registry's ARM settings). Emitted once per run.
    EnvironmentObserved {
        environment: crate::environment::Environment,
    },
    /// Free-form progress line (shown in the timeline).
    Note {
        message: String,
    },
    /// The run was refused before any change: invalid input or configuration, or a guard
    /// rail (allowlist) refused a scenario. Maps to exit code 2.
    RunRefused {
        reason: String,
    },
    /// SIGINT/SIGTERM arrived; the engine restores what it changed, then finishes the run.
    /// Maps to exit code 130.
    RunInterrupted {
        signal: String,
    },
    /// A change on the target not known to be undone, found at the end of the run (an
    /// undo the scenarios did not get to) or before its first change (an earlier run's
    /// that could not be replayed). Maps to exit code 3: run `acr-chaos recover`.
    UndoPending {
        change: String,
    },
    /// An earlier run's undo, replayed from its journal and checked to hold: by
    /// `acr-chaos recover`, or by a run cleaning up before its first change.
    UndoReplayed {
        run: String,
        change: String,
    },
    RunFinished {
        exit_code: i32,
    },
}

/// Durations as fractional seconds in JSON.
pub mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// Optional durations as fractional seconds in JSON.
pub mod opt_duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration_secs::serialize(d, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v = Option::<f64>::deserialize(d)?;
        v.map(|v| Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Where events go. Reporters implement this; the engine holds a [`Fanout`].
pub trait Sink: Send + std::fmt::Debug {
    fn event(&mut self, event: &Event);
}

/// Sends each event to every sink, in order.
#[derive(Debug, Default)]
pub struct Fanout {
    sinks: Vec<Box<dyn Sink>>,
}

impl Fanout {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, sink: Box<dyn Sink>) {
        self.sinks.push(sink);
    }
}

impl Sink for Fanout {
    fn event(&mut self, event: &Event) {
        for s in &mut self.sinks {
            s.event(event);
        }
    }
}

/// Collects events in memory (tests, and reporters that write at the end).
#[derive(Default, Debug, Clone)]
pub struct Collect(pub Vec<Event>);

impl Sink for Collect {
    fn event(&mut self, event: &Event) {
        self.0.push(event.clone());
    }
}
