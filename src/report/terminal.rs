//! The terminal: a live progress printer ([`Progress`], a [`Sink`]) and the summary table
//! printed at the end ([`render_table`]).
//!
//! Colour only when the stream is a terminal and `NO_COLOR` is unset. On a terminal the
//! progress printer shows an indicatif spinner per running scenario; otherwise (CI logs)
//! it prints plain lines, one per notable event.

use super::model::{RunModel, exit_code};
use super::redact::redact;
use super::text::{describe, fmt_opt_duration, verdict_word};
use crate::events::{Event, EventKind, Sink, Verdict};
use chrono::{DateTime, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Whether to colour output written to stderr: a TTY and `NO_COLOR` unset or empty.
pub fn stderr_wants_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(color: bool, code: &str, s: &str) -> String {
    if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
}

fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "32",
        Verdict::Failed => "31",
        Verdict::Error => "33",
        Verdict::Skipped => "2",
    }
}

/// The summary table: `SCENARIO FAULT VERDICT CAUSES EFFECT RECOVER`, aligned, then a
/// line with the totals and the exit code.
pub fn render_table(model: &RunModel, color: bool) -> String {
    let header = ["SCENARIO", "FAULT", "VERDICT", "CAUSES", "EFFECT", "RECOVER"];
    let mut rows: Vec<([String; 6], Verdict)> = Vec::new();
    for s in &model.scenarios {
        let causes = s
            .observed()
            .map(|o| crate::classify::join(&o.causes, ","))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "-".to_owned());
        let mut verdict = verdict_word(s.verdict).to_owned();
        if s.restore_failed() {
            verdict.push_str("+restore-failed");
        }
        rows.push((
            [
                s.name.clone(),
                s.fault.clone(),
                verdict,
                causes,
                fmt_opt_duration(s.time_to_effect),
                fmt_opt_duration(s.time_to_recover()),
            ],
            s.verdict,
        ));
    }
    let mut widths = header.map(|h| h.chars().count());
    for (r, _) in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String; 6], verdict: Option<Verdict>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            let padded = format!("{c:<w$}");
            let padded = match verdict {
                Some(v) if i == 2 => paint(color, verdict_color(v), &padded),
                _ => padded,
            };
            out.push_str(&padded);
            out.push_str(if i + 1 == cells.len() { "\n" } else { "  " });
        }
        // No trailing spaces from the padding of the last column.
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
        out
    };
    let mut out = line(&header.map(str::to_owned), None);
    for (r, v) in &rows {
        out.push_str(&line(r, Some(*v)));
    }
    let t = model.totals();
    let code = exit_code(model);
    out.push_str(&format!(
        "{} scenario{}: {} passed, {} failed, {} error, {} skipped; restore failures: {}\n",
        t.scenarios,
        if t.scenarios == 1 { "" } else { "s" },
        t.passed,
        t.failed,
        t.errors,
        t.skipped,
        t.restore_failures
    ));
    if model.incomplete() {
        let pending = model.pending_undos();
        out.push_str(&paint(
            color,
            "31;1",
            "INCOMPLETE: the run did not finish (killed or still running); nothing in it counts as passed",
        ));
        out.push('\n');
        for u in &pending {
            out.push_str(&format!("  pending: {u}\n"));
        }
    }
    let exit = format!("exit {}: {}", code.code(), code.describe());
    let exit_color = if code == crate::ExitCode::Success { "32" } else { "31;1" };
    out.push_str(&paint(color, exit_color, &exit));
    out.push('\n');
    out
}

/// Whether an event gets a line of its own in the progress output.
fn notable(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::ProbeObserved { .. }
            | EventKind::ProbeCreated { .. }
            | EventKind::Journaled { .. }
    )
}

/// Live progress, one line per notable event: `[+12.3s] scenario: text`.
pub struct Progress {
    out: Box<dyn Write + Send>,
    color: bool,
    start: Option<DateTime<Utc>>,
    /// Spinners per running scenario, when drawing on a terminal.
    spinners: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    /// Only the events that need a human (`--quiet`).
    attention_only: bool,
}

/// Events a quiet run still shows: the run did not do what was asked, or left something
/// for a human to do.
fn needs_attention(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::RunRefused { .. }
            | EventKind::RunInterrupted { .. }
            | EventKind::UndoPending { .. }
    )
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("color", &self.color).finish_non_exhaustive()
    }
}

impl Progress {
    /// Progress on stderr: spinners and colour on a terminal, plain lines otherwise.
    pub fn stderr() -> Self {
        let tty = std::io::stderr().is_terminal();
        let spinners = tty.then(|| {
            (MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), HashMap::new())
        });
        Self {
            out: Box::new(std::io::stderr()),
            color: stderr_wants_color(),
            start: None,
            spinners,
            attention_only: false,
        }
    }

    /// Only what needs a human, as plain lines on stderr (`--quiet`).
    pub fn stderr_attention() -> Self {
        Self {
            out: Box::new(std::io::stderr()),
            color: stderr_wants_color(),
            start: None,
            spinners: None,
            attention_only: true,
        }
    }

    /// Plain lines to any writer (no spinners, no colour): CI logs and tests.
    pub fn plain(out: Box<dyn Write + Send>) -> Self {
        Self { out, color: false, start: None, spinners: None, attention_only: false }
    }

    fn line(&mut self, event: &Event) -> String {
        let start = *self.start.get_or_insert(event.at);
        let offset = (event.at - start).to_std().unwrap_or_default().as_secs_f64();
        let text = redact(&describe(&event.kind)).into_owned();
        let text = match &event.kind {
            EventKind::ScenarioFinished { verdict } => {
                paint(self.color, verdict_color(*verdict), &text)
            }
            EventKind::ScenarioError { .. } => paint(self.color, "33", &text),
            // a refusal comes before the run's first change: say so where a human reads it
            EventKind::RunRefused { .. } => {
                paint(self.color, "33", &format!("{text} (nothing was changed by this run)"))
            }
            _ => text,
        };
        match &event.scenario {
            Some(s) => format!("[+{offset:7.1}s] {}: {text}", redact(s)),
            None => format!("[+{offset:7.1}s] {text}"),
        }
    }

    fn spin(&mut self, event: &Event) {
        let Some((multi, bars)) = &mut self.spinners else { return };
        let Some(name) = event.scenario.as_deref() else { return };
        match &event.kind {
            EventKind::ScenarioStarted { .. } => {
                let bar = multi.add(ProgressBar::new_spinner());
                let style =
                    ProgressStyle::with_template("{spinner} {prefix}: {wide_msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.insert(name.to_owned(), bar);
            }
            EventKind::ScenarioFinished { .. } => {
                if let Some(bar) = bars.remove(name) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
            }
            kind => {
                if let Some(bar) = bars.get(name) {
                    bar.set_message(redact(&describe(kind)).into_owned());
                }
            }
        }
    }
}

impl Sink for Progress {
    fn event(&mut self, event: &Event) {
        if self.attention_only && !needs_attention(&event.kind) {
            return;
        }
        self.spin(event);
        if !notable(&event.kind) {
            return;
        }
        let line = self.line(event);
        match &self.spinners {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => {
                let _ = writeln!(self.out, "{line}");
                let _ = self.out.flush();
            }
        }
    }
}

/// `acr-chaos recover` on the terminal, plain lines: progress and what was restored on
/// stdout, what needs a human (a refusal, a change not known to be undone) on stderr.
pub struct RecoverLines {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
}

impl std::fmt::Debug for RecoverLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoverLines").finish_non_exhaustive()
    }
}

impl RecoverLines {
    pub fn new(out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Self {
        Self { out, err }
    }

    /// On the process's stdout and stderr.
    pub fn stdio() -> Self {
        Self::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()))
    }
}

impl Sink for RecoverLines {
    fn event(&mut self, event: &Event) {
        let (to_err, line) = match &event.kind {
            EventKind::Note { message } => (false, message.clone()),
            EventKind::UndoReplayed { run, change } => {
                (false, format!("{run}: restored: {change}"))
            }
            EventKind::UndoPending { change } => (true, change.clone()),
            EventKind::RunRefused { reason } => (true, format!("error: {reason}")),
            _ => return,
        };
        let out = if to_err { &mut self.err } else { &mut self.out };
        let _ = writeln!(out, "{}", redact(&line));
        let _ = out.flush();
    }
}

/// The plan of a dry run on stdout, one `<scenario>: <change>` line per change: the
/// output `--dry-run` is asked for (read from the `scenario-started` events).
#[derive(Debug, Default)]
pub struct DryRunPlan {
    dry_run: bool,
}

impl Sink for DryRunPlan {
    fn event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted { dry_run, .. } => self.dry_run = *dry_run,
            EventKind::ScenarioStarted { changes, .. } if self.dry_run => {
                let name = event.scenario.as_deref().unwrap_or_default();
                let mut out = std::io::stdout().lock();
                for c in changes {
                    let _ = writeln!(out, "{name}: {c}");
                }
            }
            _ => {}
        }
    }
}

impl super::Reporter for DryRunPlan {
    fn finish(&mut self) -> Result<Vec<std::path::PathBuf>, super::ReportError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;

    fn ev(secs: i64, kind: EventKind) -> Event {
        let at = DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap();
        Event { at, scenario: Some("s1".into()), kind }
    }

    /// `--quiet` still says why a run was refused or left work for a human, nothing else.
    #[test]
    fn quiet_shows_only_what_needs_a_human() {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let mut p = Progress::plain(Box::new(buf.clone()));
        p.attention_only = true;
        p.event(&ev(0, EventKind::Note { message: "ARM requests: 3".into() }));
        p.event(&ev(1, EventKind::RunRefused { reason: "lease held".into() }));
        p.event(&ev(2, EventKind::UndoPending { change: "DELETE rule r1".into() }));
        p.event(&ev(3, EventKind::RunFinished { exit_code: 3 }));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("run refused") && lines[0].contains("lease held"), "{text}");
        assert!(lines[1].contains("not known to be undone: DELETE rule r1"), "{text}");
    }

    #[test]
    fn spinners_come_and_go_per_scenario() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let mut p = Progress {
            out: Box::new(std::io::sink()),
            color: true,
            start: None,
            spinners: Some((multi, HashMap::new())),
            attention_only: false,
        };
        let started = EventKind::ScenarioStarted {
            fault: "acr-detach".into(),
            description: "d".into(),
            tags: vec![],
            changes: vec![],
        };
        p.event(&ev(0, started));
        assert_eq!(p.spinners.as_ref().unwrap().1.len(), 1);
        p.event(&ev(1, EventKind::Note { message: "password=hunter2".into() }));
        let bar = p.spinners.as_ref().unwrap().1["s1"].clone();
        assert_eq!(bar.message(), "password=[REDACTED]");
        p.event(&ev(2, EventKind::ScenarioFinished { verdict: Verdict::Passed }));
        assert!(p.spinners.as_ref().unwrap().1.is_empty());
        assert!(bar.is_finished());
    }

    #[test]
    fn table_colours_only_when_asked() {
        let mut m = RunModel::new();
        m.apply(&ev(0, EventKind::ScenarioFinished { verdict: Verdict::Failed }));
        assert!(!render_table(&m, false).contains('\x1b'));
        assert!(render_table(&m, true).contains("\x1b[31m"));
    }
}
