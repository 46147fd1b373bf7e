//! Scenario and target files: model, loading, validation, schema.
//!
//! Files are YAML, `apiVersion: acr-chaos/v1`, `kind: Scenario` or `kind: Target`
//! (format reference: `docs/scenarios.md`). [`load_path`] checks every document of every
//! file and reports every problem as a located [`Diagnostic`]; [`load_scenarios`] and
//! [`load_target`] give the engine typed values. The model types are plain data.

mod checks;
pub mod cli;
pub mod duration;
pub mod load;
pub mod model;
pub mod schema;
pub mod target;
mod validate;
pub mod values;
mod yaml;

pub use duration::Duration;
pub use load::{
    Loaded, LoadedScenario, LoadedTarget, load_path, load_scenarios, load_str, load_target,
};
pub use model::*;
pub use target::*;

use std::fmt;
use std::path::PathBuf;

/// One problem in one file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file (e.g. it cannot be read).
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
    /// Dotted path of the field, e.g. `fault.kind`, `alerts[1].deadline`; empty for the document.
    pub field: String,
    pub message: String,
    /// What would be valid.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: field: message (valid: …)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (valid: {h})")?;
        }
        Ok(())
    }
}

/// Errors of the scenario layer outside file validation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    #[error(
        "scenario {scenario}: probe image alias {alias:?} is not defined in target {target}'s probeImages (defined: {defined})"
    )]
    UnknownImageAlias { scenario: String, alias: String, target: String, defined: String },
    #[error("scenario {scenario}: no private registry in target {target} (set privateRegistry)")]
    NoPrivateRegistry { scenario: String, target: String },
}

impl Scenario {
    /// The probe image as a full reference: an alias `target:<name>` is looked up in the
    /// target's `probeImages`; an `image-tag-missing` fault replaces the tag.
    pub fn resolve_image(&self, target: &Target) -> Result<String, ScenarioError> {
        let base = match &self.probe.image {
            values::ImageSpec::Reference(r) => r.clone(),
            values::ImageSpec::Alias(a) => {
                target.probe_images.get(a).cloned().ok_or_else(|| {
                    ScenarioError::UnknownImageAlias {
                        scenario: self.name.to_string(),
                        alias: a.clone(),
                        target: target.name.to_string(),
                        defined: target.probe_images.keys().cloned().collect::<Vec<_>>().join(", "),
                    }
                })?
            }
        };
        Ok(match &self.fault {
            Fault::ImageTagMissing(f) => base.with_tag(f.tag.as_str()),
            _ => base.to_string(),
        })
    }
}
