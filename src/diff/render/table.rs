//! The terminal summary of a diff: environment changes first, then per scenario only the
//! checks that are not unchanged (a scenario with none is one line).

use super::super::compare::{DiffReport, Status};
use super::{change_text, headline, status_word};
use std::fmt::Write as _;

fn paint(color: bool, s: Status, text: &str) -> String {
    let code = match s {
        Status::Regression => "1;31",
        Status::Accepted => "36",
        Status::Changed => "33",
        Status::Unchanged => "32",
    };
    if color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
}

/// Render the table (`color`: ANSI colours).
pub fn render(r: &DiffReport, color: bool) -> String {
    let mut out = String::new();
    let side = |s: &super::super::compare::SideInfo| match &s.name {
        Some(n) => format!("baseline {n} (run {})", s.run_id),
        None => format!("run {}", s.run_id),
    };
    let _ = writeln!(
        out,
        "diff: {} → {} (target {})",
        side(&r.baseline),
        side(&r.current),
        r.current.target
    );
    if !r.environment_compared {
        let _ = writeln!(out, "environment: not compared (a side recorded no environment facts)");
    } else if r.environment.is_empty() {
        let _ = writeln!(out, "environment: unchanged");
    } else {
        let _ = writeln!(out, "environment: {} fact(s) changed", r.environment.len());
        for f in &r.environment {
            let _ = writeln!(
                out,
                "  {:<10} {}: {}",
                paint(color, f.status, status_word(f.status)),
                f.check.title(),
                change_text(f)
            );
        }
    }
    let width = r.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(8).max(8);
    for s in &r.scenarios {
        let changed: Vec<_> = s.findings.iter().filter(|f| f.status != Status::Unchanged).collect();
        if changed.is_empty() {
            let _ = writeln!(
                out,
                "{:<width$}  {} ({} checks)",
                s.name,
                paint(color, Status::Unchanged, "unchanged"),
                s.findings.len()
            );
            continue;
        }
        for (i, f) in changed.iter().enumerate() {
            let name = if i == 0 { s.name.as_str() } else { "" };
            let _ = writeln!(
                out,
                "{name:<width$}  {:<10} {:<16} {}",
                paint(color, f.status, status_word(f.status)),
                f.check.title(),
                change_text(f).replace('\n', " ⏎ ")
            );
        }
    }
    let _ = writeln!(out, "{}", headline(r));
    out
}
