//! Accepted baselines: a small YAML file meant to be committed next to the target file
//! and reviewed like code. YAML because the files it sits next to (targets, scenarios)
//! are YAML, because it takes comments (why a difference was accepted), and because a
//! changed template shows as a one-line change in a pull request.
//!
//! ```yaml
//! schemaVersion: acr-chaos.baseline/v1
//! name: prod-westeurope
//! target: prod-westeurope
//! acceptedFrom: { runId: 20261124T041907Z-3f2a, at: 2026-11-24T04:31:12Z }
//! tolerance: { ratio: 2.0, floorSeconds: 30 }
//! environment: { nodes[nodepool1].kubeletVersion: v1.32.4, ... }
//! scenarios:
//!   acr-detach:
//!     verdict: passed
//!     causes: [unauthorized-anonymous]
//!     signatures: ['Failed to pull image "<image>": ...']
//!     timeToEffect: 94.2
//!     tolerance: { ratio: 3.0, floorSeconds: 120 }   # optional, per scenario
//! expectedDifferences:
//!   - scenario: acr-detach
//!     check: error-signature
//!     accepted: 'Failed to pull image "<image>": failed to pull ...'
//!     reason: kubelet 1.33 strips the rpc error prefix
//! ```

use super::snapshot::{ScenarioSnapshot, Snapshot};
use super::{DiffError, Tolerance};
use crate::report::RunModel;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The `schemaVersion` of baseline files this code reads and writes.
pub const BASELINE_VERSION: &str = "acr-chaos.baseline/v1";

/// Where a baseline came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptedFrom {
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// A change accepted on purpose: when a check of `scenario` differs from the baseline and
/// the current value is `accepted`, it is reported as accepted, not as a regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectedDifference {
    /// A scenario name, or `environment` for an environment fact.
    pub scenario: String,
    /// The check (`verdict`, `causes`, `waiting-reason`, `error-signature`,
    /// `time-to-effect`, `alert:<name>`, `environment:<fact>`...).
    pub check: String,
    /// The baseline's value when it was accepted (for reviewers; not matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The value that is accepted instead (timings: seconds, matched within tolerance).
    pub accepted: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A baseline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    title = "acr-chaos baseline",
    description = "An accepted baseline (acr-chaos baseline accept)"
)]
pub struct Baseline {
    /// Always `acr-chaos.baseline/v1`.
    pub schema_version: String,
    pub name: String,
    /// The target's name the baseline belongs to.
    pub target: String,
    pub accepted_from: AcceptedFrom,
    /// Global timing tolerance (a scenario's own `tolerance` overrides it).
    #[serde(default)]
    pub tolerance: Tolerance,
    /// Environment facts as `name: value` (see docs/diff.md).
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Count a changed environment fact as a regression (default: reported only), e.g.
    /// for a cluster whose versions are pinned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_on_environment: bool,
    pub scenarios: BTreeMap<String, ScenarioSnapshot>,
    #[serde(default)]
    pub expected_differences: Vec<ExpectedDifference>,
}

impl Baseline {
    /// A new baseline from a run.
    pub fn from_run(model: &RunModel, name: &str) -> Baseline {
        let snap = Snapshot::from_run(model);
        Baseline {
            schema_version: BASELINE_VERSION.to_string(),
            name: name.to_string(),
            target: model.target.clone(),
            accepted_from: AcceptedFrom {
                run_id: model.run_id.clone(),
                at: model.finished.or(model.started),
            },
            tolerance: Tolerance::default(),
            environment: snap.environment.unwrap_or_default(),
            fail_on_environment: false,
            scenarios: snap.scenarios,
            expected_differences: Vec::new(),
        }
    }

    /// The snapshot `diff` compares against.
    pub fn snapshot(&self) -> Snapshot {
        let mut scenarios = self.scenarios.clone();
        for s in scenarios.values_mut() {
            for t in &mut s.signatures {
                *t = super::template::strip_wrapper(t).to_string();
            }
        }
        Snapshot {
            target: self.target.clone(),
            run_id: self.accepted_from.run_id.clone(),
            environment: (!self.environment.is_empty()).then(|| self.environment.clone()),
            scenarios,
        }
    }

    /// The tolerance of one scenario.
    pub fn tolerance_of(&self, scenario: &str) -> Tolerance {
        self.scenarios.get(scenario).and_then(|s| s.tolerance).unwrap_or(self.tolerance)
    }

    /// Read and check a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, DiffError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DiffError::Read { path: path.to_owned(), source })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Baseline, DiffError> {
        let syntax = |message: String| DiffError::BaselineSyntax { path: path.to_owned(), message };
        // the version first, so that a file of another version gets that error, not a
        // complaint about a field this version does not know
        #[derive(Deserialize)]
        struct Head {
            #[serde(rename = "schemaVersion")]
            schema_version: Option<String>,
        }
        let head: Head = serde_saphyr::from_str(text).map_err(|e| syntax(e.to_string()))?;
        match head.schema_version {
            Some(v) if v == BASELINE_VERSION => {}
            Some(found) => return Err(DiffError::BaselineVersion { path: path.to_owned(), found }),
            None => {
                return Err(syntax(format!(
                    "no schemaVersion (expected {BASELINE_VERSION:?}; write one with `acr-chaos baseline accept`)"
                )));
            }
        }
        let b: Baseline = serde_saphyr::from_str(text).map_err(|e| syntax(e.to_string()))?;
        let invalid = |message: String| DiffError::Invalid { path: path.to_owned(), message };
        if let Some(m) = b.tolerance.invalid() {
            return Err(invalid(format!("tolerance: {m}")));
        }
        for (name, s) in &b.scenarios {
            if let Some(m) = s.tolerance.and_then(|t| t.invalid()) {
                return Err(invalid(format!("scenarios.{name}.tolerance: {m}")));
            }
        }
        for (i, d) in b.expected_differences.iter().enumerate() {
            if d.scenario != super::snapshot::ENVIRONMENT && !b.scenarios.contains_key(&d.scenario)
            {
                return Err(invalid(format!(
                    "expectedDifferences[{i}].scenario: {:?} is not a scenario of this baseline (known: {})",
                    d.scenario,
                    b.scenarios.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(b)
    }

    /// The file's text: a header comment, then YAML.
    pub fn to_yaml(&self) -> Result<String, DiffError> {
        let body = serde_saphyr::to_string(self)
            .map_err(|e| DiffError::Render { what: "baseline", message: e.to_string() })?;
        Ok(format!(
            "# acr-chaos baseline of target {:?}, accepted from run {}.\n\
             # Commit it next to the target file; review changes like code.\n\
             # `acr-chaos diff {{this file}} reports/<run-id>` or `acr-chaos run --baseline {{this file}}`.\n\
             # docs/diff.md explains every field.\n{body}",
            self.target, self.accepted_from.run_id
        ))
    }

    /// Write the file (temp file, then rename).
    pub fn write(&self, path: &Path) -> Result<(), DiffError> {
        let text = self.to_yaml()?;
        let err = |source| DiffError::Write { path: path.to_owned(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// The JSON Schema of baseline files (docs/baseline.schema.json).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Baseline);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}
