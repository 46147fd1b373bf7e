//! One side of a diff, from a path: a run's report folder, its `report.json` or
//! `events.jsonl`, or a baseline file (`.yaml`/`.yml`).

use super::baseline::Baseline;
use super::snapshot::Snapshot;
use super::{DiffError, Tolerance};
use crate::report::RunModel;
use crate::report::eventlog::load_events;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SideKind {
    Run,
    Baseline,
}

/// A loaded side.
#[derive(Debug, Clone)]
pub struct Side {
    pub path: PathBuf,
    pub kind: SideKind,
    pub snapshot: Snapshot,
    /// The baseline file, when the side is one (tolerances, expected differences).
    pub baseline: Option<Baseline>,
    /// The run's model, when the side is a run (HTML, accept).
    pub model: Option<RunModel>,
}

impl Side {
    /// The baseline's name, or the run id.
    pub fn label(&self) -> String {
        match &self.baseline {
            Some(b) => format!("baseline {}", b.name),
            None => format!("run {}", self.snapshot.run_id),
        }
    }

    /// Global tolerance (from a baseline side), else the default.
    pub fn tolerance(&self) -> Tolerance {
        self.baseline.as_ref().map(|b| b.tolerance).unwrap_or_default()
    }
}

fn is_baseline_file(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// Load one side.
pub fn load(path: &Path) -> Result<Side, DiffError> {
    if is_baseline_file(path) {
        let b = Baseline::load(path)?;
        return Ok(Side {
            path: path.to_owned(),
            kind: SideKind::Baseline,
            snapshot: b.snapshot(),
            baseline: Some(b),
            model: None,
        });
    }
    let model = load_run(path)?;
    Ok(Side {
        path: path.to_owned(),
        kind: SideKind::Run,
        snapshot: Snapshot::from_run(&model),
        baseline: None,
        model: Some(model),
    })
}

/// A run's model from a report folder, `report.json` or `events.jsonl`, refusing what
/// cannot be compared (no such path, no run in it, a dry run).
pub fn load_run(path: &Path) -> Result<RunModel, DiffError> {
    if !path.exists() {
        return Err(DiffError::Read {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        });
    }
    let (_, events) =
        load_events(path).map_err(|source| DiffError::Report { path: path.to_owned(), source })?;
    let model = RunModel::from_events(&events);
    let invalid =
        |message: &str| DiffError::Invalid { path: path.to_owned(), message: message.into() };
    if model.run_id.is_empty() {
        return Err(invalid(
            "holds no run-started event: not the events of an acr-chaos run (truncated?)",
        ));
    }
    if model.dry_run {
        return Err(invalid("is a dry run: it changed nothing, so there is nothing to compare"));
    }
    Ok(model)
}

/// Refuse two sides of different targets unless `cross_target`.
pub fn check_targets(base: &Side, cur: &Side, cross_target: bool) -> Result<(), DiffError> {
    if cross_target || base.snapshot.target == cur.snapshot.target {
        return Ok(());
    }
    Err(DiffError::TargetMismatch {
        baseline_path: base.path.clone(),
        baseline: base.snapshot.target.clone(),
        current_path: cur.path.clone(),
        current: cur.snapshot.target.clone(),
    })
}
