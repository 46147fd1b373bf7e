//! `summary.md`: a CI job summary (GitHub `$GITHUB_STEP_SUMMARY`, Azure DevOps
//! `##vso[task.uploadsummary]`). A header with counts and the exit code's meaning, a table
//! of scenarios, then details of failures, errors and restore failures.

use super::model::{RunModel, ScenarioRecord, exit_code};
use super::text::{fmt_opt_duration, join_or_none, stage_word, verdict_emoji, verdict_word};
use crate::ExitCode;
use crate::events::Verdict;
use std::fmt::Write as _;

/// Render the model as Markdown: the sections in document order.
pub fn render(model: &RunModel) -> String {
    let mut out = String::new();
    header(&mut out, model);
    notices(&mut out, model);
    scenario_table(&mut out, model);
    planned_changes(&mut out, model);
    failures(&mut out, model);
    restore_failures(&mut out, model);
    out
}

/// The title line (counts, exit code and its meaning) and the run's facts.
fn header(out: &mut String, model: &RunModel) {
    let code = exit_code(model);
    let t = model.totals();
    let icon = match code {
        ExitCode::Success => "✅",
        ExitCode::Interrupted => "🛑",
        ExitCode::RestoreFailed => "🚨",
        _ => "❌",
    };
    let mut counts = vec![format!("{} passed", t.passed)];
    if t.failed > 0 {
        counts.push(format!("{} failed", t.failed));
    }
    if t.errors > 0 {
        counts.push(format!("{} error", t.errors));
    }
    if t.skipped > 0 {
        counts.push(format!("{} skipped", t.skipped));
    }
    let _ = writeln!(
        out,
        "## {icon} acr-chaos: {} of {} scenario{} passed ({}) — exit {}: {}",
        t.passed,
        t.scenarios,
        if t.scenarios == 1 { "" } else { "s" },
        counts.join(", "),
        code.code(),
        code.describe()
    );
    let _ = writeln!(out);
    let mut meta = vec![format!("run `{}`", inline(&model.run_id))];
    if !model.target.is_empty() {
        meta.push(format!("target `{}`", inline(&model.target)));
    }
    if let Some(s) = model.started {
        meta.push(format!("started {}", s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    }
    meta.push(format!("duration {}", fmt_opt_duration(model.duration())));
    if model.dry_run {
        meta.push("**dry run**".to_owned());
    }
    let _ = writeln!(out, "{}", meta.join(" · "));
}

/// Block quotes for what a reader must not miss: refusal, incompleteness, interruption,
/// failed restores.
fn notices(out: &mut String, model: &RunModel) {
    let t = model.totals();
    for r in &model.refused {
        let _ = writeln!(out, "\n> **Refused:** {}", cell(r));
    }
    if model.incomplete() {
        let pending = model.pending_undos();
        let _ = writeln!(
            out,
            "\n> 🚨 **Incomplete:** the run did not finish (killed or still running); nothing in it counts as passed."
        );
        for u in &pending {
            let _ = writeln!(out, "> - pending: {}", cell(u));
        }
        if !pending.is_empty() {
            let _ = writeln!(out, "> Run `acr-chaos recover --target FILE`.");
        }
    }
    if let Some(sig) = &model.interrupted {
        let after = if t.restore_failures == 0 {
            "changes were restored"
        } else {
            "**some restores failed** (below)"
        };
        let _ = writeln!(out, "\n> **Interrupted** by {}; {after}.", cell(sig));
    }
    if t.restore_failures > 0 {
        let _ = writeln!(
            out,
            "\n> 🚨 **{} restore(s) failed: the environment may still be faulty.** \
             Run `acr-chaos recover --run-id {}`.",
            t.restore_failures,
            inline(&model.run_id)
        );
    }
}

fn scenario_table(out: &mut String, model: &RunModel) {
    if model.scenarios.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | fault | verdict | causes observed | time-to-effect | time-to-recover |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for s in &model.scenarios {
        let causes = s
            .observed()
            .filter(|o| !o.causes.is_empty())
            .map(|o| o.causes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>())
            .map(|c| c.join(", "))
            .unwrap_or_else(|| "-".to_owned());
        let mut verdict = format!("{} {}", verdict_emoji(s.verdict), verdict_word(s.verdict));
        if s.restore_failed() {
            verdict.push_str(" (restore failed)");
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&s.name),
            cell(&s.fault),
            verdict,
            causes,
            fmt_opt_duration(s.time_to_effect),
            fmt_opt_duration(s.time_to_recover()),
        );
    }
}

fn planned_changes(out: &mut String, model: &RunModel) {
    let with_changes: Vec<&ScenarioRecord> =
        model.scenarios.iter().filter(|s| !s.changes.is_empty()).collect();
    if !model.dry_run || with_changes.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Planned changes (dry run: nothing was changed)\n");
    for s in with_changes {
        let _ = writeln!(out, "#### `{}`\n", inline(&s.name));
        for c in &s.changes {
            let _ = writeln!(out, "- {}", code_span(c));
        }
        let _ = writeln!(out);
    }
}

fn failures(out: &mut String, model: &RunModel) {
    let failing: Vec<&ScenarioRecord> = model
        .scenarios
        .iter()
        .filter(|s| matches!(s.verdict, Verdict::Failed | Verdict::Error) || s.expectation_failed())
        .collect();
    if failing.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Failures\n");
    for s in failing {
        failure_details(out, s);
    }
}

fn restore_failures(out: &mut String, model: &RunModel) {
    let restore_failed: Vec<&ScenarioRecord> =
        model.scenarios.iter().filter(|s| s.restore_failed()).collect();
    if restore_failed.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Restore failures\n");
    for s in restore_failed {
        let _ = writeln!(out, "#### `{}`\n", inline(&s.name));
        for u in s.failed_undos() {
            let _ = writeln!(
                out,
                "- ❌ {}: {}",
                cell(&u.description),
                cell(u.error.as_deref().unwrap_or("no error text"))
            );
        }
        for e in s.restore_errors() {
            let _ = writeln!(out, "- ⚠️ error in {}: {}", stage_word(e.stage), cell(&e.error));
        }
        let _ = writeln!(out);
    }
}

fn failure_details(out: &mut String, s: &ScenarioRecord) {
    let _ = writeln!(
        out,
        "#### `{}` — {} {}\n",
        inline(&s.name),
        verdict_emoji(s.verdict),
        verdict_word(s.verdict)
    );
    for e in s.errors.iter() {
        let _ = writeln!(out, "- ⚠️ error in {}: {}", stage_word(e.stage), cell(&e.error));
    }
    if let Some(a) = s.assertion.as_ref().filter(|a| !a.passed) {
        let _ = writeln!(
            out,
            "- waiting reason: expected {}; observed {}",
            join_or_none(&a.expected.waiting_reasons),
            a.observed.waiting_reason.as_deref().unwrap_or("none")
        );
        let _ = writeln!(
            out,
            "- causes: expected {}; observed {}",
            join_or_none(&a.expected.causes),
            join_or_none(&a.observed.causes)
        );
        if let Some(re) = &a.expected.message_regex {
            let _ = writeln!(out, "- message must match: {}", code_span(re));
        }
        for f in &a.failures {
            let _ = writeln!(out, "- {}", cell(f));
        }
        if let Some(m) = &a.observed.message {
            let _ = writeln!(out, "\nObserved message:\n\n{}", fenced(m));
        }
    }
    if let Some(r) = s.recovery.as_ref().filter(|r| !r.ok) {
        let _ = writeln!(
            out,
            "- recovery: a fresh probe did not pull after the restore: {}",
            cell(r.error.as_deref().unwrap_or("no error text"))
        );
    }
    for a in s.alerts.iter().filter(|a| !a.passed) {
        let _ = writeln!(
            out,
            "- alert `{}` failed: {} (evidence: {})",
            inline(&a.name),
            cell(a.failure.as_deref().unwrap_or("no failure text")),
            cell(&a.evidence)
        );
    }
    if s.restore_failed() {
        let _ = writeln!(out, "- the restore failed: see *Restore failures* below");
    }
    if !s.complete {
        let _ = writeln!(out, "- the scenario did not finish");
    }
    let explained = !s.errors.is_empty() || s.expectation_failed() || s.restore_failed();
    if s.complete && !explained {
        let _ = writeln!(out, "- the engine reported {}", verdict_word(s.verdict));
    }
    let _ = writeln!(out);
}

/// Text safe inside a table cell or list item: no newlines, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('\r', "").replace('\n', " ").replace('|', "\\|")
}

/// Text safe inside a single-backtick code span we write ourselves.
fn inline(s: &str) -> String {
    cell(s).replace('`', "'")
}

/// A code span that survives backticks in its content.
fn code_span(s: &str) -> String {
    let s = cell(s);
    let longest = longest_backtick_run(&s);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced block that survives backtick runs in its content.
fn fenced(s: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(s).max(2) + 1);
    format!("{fence}text\n{}\n{fence}", s.trim_end())
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markdown() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(fenced("x ``` y"), "````text\nx ``` y\n````");
    }
}
