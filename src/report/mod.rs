//! Reporters: they consume [`crate::events::Event`]s only, fold them into a [`RunModel`],
//! and render it (see ../shared/design/architecture.md §5).
//!
//! Outputs of a run, under `reports/<run-id>/`:
//! - `junit.xml` ([`junit`]): one suite `acr-chaos`; per scenario the cases `<scenario>`,
//!   `<scenario>/restore`, `<scenario>/recovery`, `<scenario>/alert/<name>`;
//! - `report.json` ([`json`]): versioned schema `acr-chaos.report/v2` (reads v1 too);
//! - `summary.md` ([`markdown`]): for CI job summaries;
//! - the terminal summary table and live progress ([`terminal`]).
//!
//! The engine builds one [`StandardReporters`] with [`standard_reporters`], sends it every
//! event (it is a [`Sink`]), calls [`Reporter::finish`] at the end, and takes the process
//! exit code from [`StandardReporters::exit_code`] (the mapping is [`exit_code`]).
//!
//! Run-level events the mapping relies on: `run-refused` (invalid input or a guard rail
//! refused the run: exit 2) and `run-interrupted` (SIGINT/SIGTERM: exit 130). A restore
//! failure is an undo with `ok: false` in `restore-finished`, or a `scenario-error` in the
//! `restore` stage (exit 3). The code in `run-finished` is taken into account when worse.
//!
//! ```no_run
//! use acr_chaos::events::{Event, EventKind, Sink};
//! use acr_chaos::report::{self, Reporter, Terminal};
//! let run_id = report::new_run_id();
//! let mut reporters = report::standard_reporters("reports".as_ref(), &run_id, Terminal::Stderr);
//! reporters.event(&Event::run(EventKind::RunStarted {
//!     run_id: run_id.clone(), target: "lab".into(), scenarios: vec![], dry_run: false,
//! }));
//! // ... the engine's events ...
//! let code = reporters.exit_code();
//! reporters.event(&Event::run(EventKind::RunFinished { exit_code: code.code() }));
//! let _files = reporters.finish();
//! ```

pub mod cli;
pub mod eventlog;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod redact;
pub mod terminal;
pub mod text;

pub use eventlog::{EVENT_LOG_FILE, EventLog, rebuild};
pub use model::{RunModel, ScenarioRecord, exit_code, exit_code_as_finished};
pub use redact::redact;
pub use terminal::{Progress, render_table};

use crate::ExitCode;
use crate::events::{Event, Sink};
use std::path::{Path, PathBuf};

/// Errors of the reporting layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("cannot write report file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error(
        "{} holds no events (empty, or the run never started): expected {EVENT_LOG_FILE} or {JSON_FILE} (a folder under reports/)",
        path.display()
    )]
    NoEvents { path: PathBuf },
    #[error("{}: not a regular file (a run folder, its events.jsonl or report.json)", path.display())]
    NotAFile { path: PathBuf },
    #[error("cannot render junit.xml: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    #[error("cannot render report.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// A sink that produces outputs when the run is over.
pub trait Reporter: Sink {
    /// Write the outputs; returns the files written.
    fn finish(&mut self) -> Result<Vec<PathBuf>, ReportError>;
}

/// The three report files of a run.
pub const JUNIT_FILE: &str = "junit.xml";
pub const JSON_FILE: &str = "report.json";
pub const SUMMARY_FILE: &str = "summary.md";

/// A sortable, unique run id: `20261124T041907Z-3f2a` (UTC time, then 4 random hex digits).
pub fn new_run_id() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), &suffix[..4])
}

/// Write `contents` to `path` atomically enough for CI (temp file, then rename).
fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    let err = |source| ReportError::Write { path: path.to_owned(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Write all the report files of `model` into `dir`; returns their paths.
pub fn write_reports(dir: &Path, model: &RunModel) -> Result<Vec<PathBuf>, ReportError> {
    let files = [
        (JUNIT_FILE, junit::render(model)?),
        (JSON_FILE, json::render(model)?),
        (SUMMARY_FILE, markdown::render(model)),
    ];
    let mut written = Vec::new();
    for (name, contents) in files {
        let path = dir.join(name);
        write_file(&path, &contents)?;
        written.push(path);
    }
    Ok(written)
}

/// What [`standard_reporters`] shows on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// Live progress and the summary table on stderr.
    Stderr,
    /// No progress (tests, `--quiet`): only what needs a human on stderr — a refusal, an
    /// interruption, a change not known to be undone.
    Quiet,
}

/// The reporters of a normal run: files under `<root>/<run-id>/`, progress and a summary
/// table on the terminal.
#[derive(Debug)]
pub struct StandardReporters {
    dir: PathBuf,
    model: RunModel,
    log: EventLog,
    progress: Option<Progress>,
    terminal: Terminal,
    extra: Vec<Box<dyn Reporter>>,
}

/// Reporters writing `junit.xml`, `report.json` and `summary.md` into `<root>/<run_id>/`,
/// and `events.jsonl` as events arrive (see [`eventlog`]).
pub fn standard_reporters(root: &Path, run_id: &str, terminal: Terminal) -> StandardReporters {
    StandardReporters {
        dir: root.join(run_id),
        log: EventLog::new(root.join(run_id).join(EVENT_LOG_FILE)),
        model: RunModel::new(),
        progress: Some(match terminal {
            Terminal::Stderr => Progress::stderr(),
            Terminal::Quiet => Progress::stderr_attention(),
        }),
        terminal,
        extra: Vec::new(),
    }
}

impl StandardReporters {
    /// The folder the files go to: `<root>/<run-id>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model folded so far.
    pub fn model(&self) -> &RunModel {
        &self.model
    }

    /// The exit code of the run as far as the events tell.
    /// The code of the events so far, as if the run ended now (what the engine puts into
    /// `run-finished`).
    pub fn exit_code(&self) -> ExitCode {
        exit_code_as_finished(&self.model)
    }

    /// Add another reporter (it gets every event, and `finish` with the others).
    pub fn push(&mut self, reporter: Box<dyn Reporter>) {
        self.extra.push(reporter);
    }
}

/// The reporters of `acr-chaos recover`: lines on the terminal, every event as JSON
/// Lines when asked (`--events FILE`), and the model its exit code is read from.
#[derive(Debug)]
pub struct RecoverReporters {
    model: RunModel,
    log: Option<EventLog>,
    lines: terminal::RecoverLines,
}

pub fn recover_reporters(events: Option<&Path>, lines: terminal::RecoverLines) -> RecoverReporters {
    RecoverReporters { model: RunModel::new(), log: events.map(|p| EventLog::new(p.into())), lines }
}

impl RecoverReporters {
    /// The exit code of the events so far (what `recover` announces in `run-finished`).
    pub fn exit_code(&self) -> ExitCode {
        exit_code_as_finished(&self.model)
    }

    /// Flush the event log and report its first write error.
    pub fn finish(&mut self) -> Result<(), ReportError> {
        self.log.as_mut().map_or(Ok(()), EventLog::finish)
    }
}

impl Sink for RecoverReporters {
    fn event(&mut self, event: &Event) {
        self.model.apply(event);
        if let (Some(log), Some(redacted)) = (&mut self.log, self.model.events.last()) {
            log.append(redacted);
        }
        self.lines.event(event);
    }
}

impl Sink for StandardReporters {
    fn event(&mut self, event: &Event) {
        self.model.apply(event);
        if let Some(redacted) = self.model.events.last() {
            self.log.append(redacted);
        }
        if let Some(p) = &mut self.progress {
            p.event(event);
        }
        for r in &mut self.extra {
            r.event(event);
        }
    }
}

impl Reporter for StandardReporters {
    /// Writes the files (even when an extra reporter fails), then prints the summary table
    /// and where the files are. Returns the first error after trying everything.
    fn finish(&mut self) -> Result<Vec<PathBuf>, ReportError> {
        let mut first_err = None;
        let mut written = match write_reports(&self.dir, &self.model) {
            Ok(w) => w,
            Err(e) => {
                first_err = Some(e);
                Vec::new()
            }
        };
        match self.log.finish() {
            Ok(()) if self.log.path().is_file() => written.push(self.log.path().to_owned()),
            Ok(()) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        for r in &mut self.extra {
            match r.finish() {
                Ok(w) => written.extend(w),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if self.terminal == Terminal::Stderr {
            let table = render_table(&self.model, terminal::stderr_wants_color());
            eprint!("\n{table}");
            if !written.is_empty() {
                eprintln!("reports: {}", self.dir.display());
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }
}
