//! `diff.md`: fits a CI job summary. Regressions first, with word diffs of changed
//! signatures in code blocks; then accepted and reported changes; unchanged scenarios
//! as one line.

use super::super::compare::{DiffReport, Finding, ScenarioDiff, Status};
use super::{change_text, headline};
use std::fmt::Write as _;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

fn emoji(s: Status) -> &'static str {
    match s {
        Status::Regression => "❌",
        Status::Accepted => "☑️",
        Status::Changed => "ℹ️",
        Status::Unchanged => "✅",
    }
}

pub fn render(r: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## acr-chaos diff: {}\n", headline(r));
    let label = |s: &super::super::compare::SideInfo| match &s.name {
        Some(n) => format!("baseline `{n}` (run `{}`)", s.run_id),
        None => format!("run `{}`", s.run_id),
    };
    let _ = writeln!(
        out,
        "{} → {}, target `{}`; timing tolerance ×{} and {} s.\n",
        label(&r.baseline),
        label(&r.current),
        r.current.target,
        r.tolerance.ratio,
        r.tolerance.floor_seconds
    );
    environment(&mut out, r);
    let _ = writeln!(out, "### Scenarios\n");
    let _ = writeln!(out, "| | scenario | check | change |\n|---|---|---|---|");
    for s in &r.scenarios {
        rows(&mut out, s);
    }
    for s in &r.scenarios {
        for f in s.findings.iter().filter(|f| f.check == super::super::Check::ErrorSignature) {
            if f.status == Status::Unchanged {
                continue;
            }
            signature_block(&mut out, &s.name, f);
        }
    }
    out
}

fn environment(out: &mut String, r: &DiffReport) {
    let _ = writeln!(out, "### Environment\n");
    if !r.environment_compared {
        let _ = writeln!(out, "Not compared: a side recorded no environment facts.\n");
        return;
    }
    if r.environment.is_empty() {
        let _ = writeln!(out, "Unchanged.\n");
        return;
    }
    let _ = writeln!(out, "| | fact | baseline | current |\n|---|---|---|---|");
    for f in &r.environment {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            emoji(f.status),
            f.check.title(),
            cell(f.baseline.as_deref().unwrap_or("-")),
            cell(f.current.as_deref().unwrap_or("-"))
        );
    }
    out.push('\n');
}

fn rows(out: &mut String, s: &ScenarioDiff) {
    let changed: Vec<&Finding> =
        s.findings.iter().filter(|f| f.status != Status::Unchanged).collect();
    if changed.is_empty() {
        let _ = writeln!(out, "| ✅ | {} | all {} checks | unchanged |", s.name, s.findings.len());
        return;
    }
    for f in changed {
        let text = if f.check == super::super::Check::ErrorSignature {
            "signature changed (word diff below)".to_string()
        } else {
            change_text(f)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            emoji(f.status),
            s.name,
            f.check.title(),
            cell(&text)
        );
    }
}

fn signature_block(out: &mut String, scenario: &str, f: &Finding) {
    let _ = writeln!(
        out,
        "\n#### {scenario}: error signature {}\n",
        if f.status == Status::Accepted { "changed (accepted)" } else { "changed" }
    );
    let _ = writeln!(out, "```diff");
    let _ = writeln!(out, "- {}", f.baseline.as_deref().unwrap_or(""));
    let _ = writeln!(out, "+ {}", f.current.as_deref().unwrap_or(""));
    let _ = writeln!(out, "```\n");
    if let Some(d) = &f.detail {
        let _ = writeln!(out, "word diff: `{}`", d.replace('`', "'"));
    }
}
