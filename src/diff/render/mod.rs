//! Renderers of a [`DiffReport`]: the terminal table, `diff.md`, `diff.json` and
//! `diff-junit.xml`, and [`write_all`] to put the three files in a folder.

pub mod junit;
pub mod markdown;
pub mod table;

use super::DiffError;
use super::compare::{DiffReport, Finding, Status};
use std::path::{Path, PathBuf};

pub const DIFF_JSON: &str = "diff.json";
pub const DIFF_MD: &str = "diff.md";
pub const DIFF_JUNIT: &str = "diff-junit.xml";

/// `diff.json` (pretty, trailing newline).
pub fn json(report: &DiffReport) -> Result<String, DiffError> {
    let mut s = serde_json::to_string_pretty(report)
        .map_err(|e| DiffError::Render { what: "diff.json", message: e.to_string() })?;
    s.push('\n');
    Ok(s)
}

/// The JSON Schema of diff.json (docs/diff.schema.json).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(DiffReport);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}

/// Write diff.json, diff.md and diff-junit.xml into `dir`; returns their paths.
pub fn write_all(dir: &Path, report: &DiffReport) -> Result<Vec<PathBuf>, DiffError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| DiffError::Write { path: dir.to_owned(), source })?;
    let files = [
        (DIFF_JSON, json(report)?),
        (DIFF_MD, markdown::render(report)),
        (DIFF_JUNIT, junit::render(report)?),
    ];
    let mut out = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|source| DiffError::Write { path: path.clone(), source })?;
        out.push(path);
    }
    Ok(out)
}

/// `REGRESSION`, `accepted`...
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Unchanged => "unchanged",
        Status::Changed => "changed",
        Status::Accepted => "accepted",
        Status::Regression => "REGRESSION",
    }
}

/// One line of what changed: `passed → failed`, or the detail (a word diff...).
pub fn change_text(f: &Finding) -> String {
    let b = f.baseline.as_deref().unwrap_or("-");
    let c = f.current.as_deref().unwrap_or("-");
    let mut s = match &f.detail {
        Some(d) if f.check == super::Check::ErrorSignature => d.clone(),
        Some(d) => format!("{b} → {c}: {d}"),
        None => format!("{b} → {c}"),
    };
    if let Some(r) = &f.accepted_because {
        s.push_str(&format!(" (accepted: {r})"));
    }
    s
}

/// The one-line verdict of the whole diff.
pub fn headline(r: &DiffReport) -> String {
    let t = &r.totals;
    if r.regressions {
        format!(
            "{} regression{} ({} accepted, {} changed without failing, {} checks)",
            t.regressions,
            if t.regressions == 1 { "" } else { "s" },
            t.accepted,
            t.changed,
            t.checks
        )
    } else {
        format!(
            "no regression ({} accepted, {} changed without failing, {} checks)",
            t.accepted, t.changed, t.checks
        )
    }
}
