//! Regression diffs: `acr-chaos diff BASELINE CURRENT` and accepted baselines
//! (`acr-chaos baseline accept`, `acr-chaos run --baseline`). See docs/diff.md.
//!
//! Flow: each side is loaded into a [`Snapshot`] ([`input`]: a run folder, a
//! `report.json`, an `events.jsonl`, or a baseline file, [`baseline`]), the two are
//! compared check by check ([`compare`]) into a [`DiffReport`], and rendered as a
//! terminal table, `diff.md`, `diff.json` (schema `acr-chaos.diff/v1`,
//! docs/diff.schema.json) and `diff-junit.xml` ([`render`]).
//!
//! Exit codes: 0 no regression, 4 regressions found ([`crate::ExitCode::RegressionsFound`]),
//! 2 an input is unreadable, of another schema version, truncated, or of another target.

pub mod baseline;
pub mod bench;
pub mod cli;
pub mod compare;
pub mod input;
pub mod render;
pub mod snapshot;
pub mod template;

pub use baseline::{BASELINE_VERSION, Baseline, ExpectedDifference};
pub use compare::{Check, DiffReport, Finding, Status, compare};
pub use snapshot::{ScenarioSnapshot, Snapshot};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How much a timing may move before it is drift: it must exceed *both* the ratio
/// (`current > baseline × ratio`) and the absolute floor (`current − baseline >
/// floorSeconds`). Faster by the same margins is reported, but is not a regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tolerance {
    #[serde(default = "default_ratio")]
    pub ratio: f64,
    #[serde(default = "default_floor")]
    pub floor_seconds: f64,
}

fn default_ratio() -> f64 {
    2.0
}
fn default_floor() -> f64 {
    30.0
}

impl Default for Tolerance {
    /// Twice as slow *and* 30 s slower: RBAC propagation and token caches make real
    /// time-to-effect noisy by tens of seconds from night to night.
    fn default() -> Self {
        Tolerance { ratio: default_ratio(), floor_seconds: default_floor() }
    }
}

impl Tolerance {
    /// `Some(true)`: slower beyond tolerance; `Some(false)`: faster beyond it; `None`: within.
    pub fn drift(&self, baseline: f64, current: f64) -> Option<bool> {
        if current > baseline * self.ratio && current - baseline > self.floor_seconds {
            Some(true)
        } else if current * self.ratio < baseline && baseline - current > self.floor_seconds {
            Some(false)
        } else {
            None
        }
    }

    /// An error message when the values make no sense.
    pub fn invalid(&self) -> Option<String> {
        if !(self.ratio.is_finite() && self.ratio >= 1.0) {
            return Some(format!("ratio must be a number >= 1, got {}", self.ratio));
        }
        if !(self.floor_seconds.is_finite() && self.floor_seconds >= 0.0) {
            return Some(format!("floorSeconds must be >= 0, got {}", self.floor_seconds));
        }
        None
    }
}

/// Errors of `diff` and `baseline`; each names the file and what is wrong (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    #[error("{}: {source}", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: crate::report::ReportError,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a baseline file: {message}", path.display())]
    BaselineSyntax { path: PathBuf, message: String },
    #[error(
        "{}: schemaVersion is {found:?}; this acr-chaos reads {BASELINE_VERSION:?} (re-accept the baseline with this version)",
        path.display()
    )]
    BaselineVersion { path: PathBuf, found: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{} is a run of target {current:?} but {} is of target {baseline:?}; compare runs of one target, or pass --cross-target to compare two targets on purpose",
        current_path.display(), baseline_path.display()
    )]
    TargetMismatch {
        baseline_path: PathBuf,
        baseline: String,
        current_path: PathBuf,
        current: String,
    },
    #[error("cannot render {what}: {message}")]
    Render { what: &'static str, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_needs_both_ratio_and_floor() {
        let t = Tolerance::default(); // ×2 and 30 s
        assert_eq!(t.drift(10.0, 35.0), None, "3.5× but only 25 s slower");
        assert_eq!(t.drift(100.0, 190.0), None, "90 s slower but under 2×");
        assert_eq!(t.drift(100.0, 240.0), Some(true));
        assert_eq!(t.drift(240.0, 100.0), Some(false), "faster is reported, not failed");
        assert!(Tolerance { ratio: 0.5, floor_seconds: 1.0 }.invalid().is_some());
        assert!(Tolerance { ratio: 1.0, floor_seconds: -1.0 }.invalid().is_some());
    }
}
