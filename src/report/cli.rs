//! `acr-chaos report PATH`: rebuild and print the reports of a recorded run.
//!
//! Reads the run's events (`events.jsonl`, written live, or the `events` of `report.json`),
//! rewrites `junit.xml`, `report.json` and `summary.md` next to them (unless `--no-write`),
//! prints the summary, and exits with the run's exit code (0, 1, 2, 3 or 130). Useful when
//! a run was killed before it wrote its reports, and in CI:
//! `acr-chaos report reports/<run-id> --print summary >> "$GITHUB_STEP_SUMMARY"`.

use super::{json, markdown, rebuild, render_table};
use crate::ExitCode;
use std::io::Write;
use std::path::PathBuf;

/// What `acr-chaos report` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Print {
    /// The aligned summary table.
    Table,
    /// `summary.md` (Markdown for CI job summaries).
    Summary,
    /// `report.json`.
    Json,
    /// Nothing (only rewrite the files and exit with the run's code).
    None,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A run's report folder (`reports/<run-id>`), its `events.jsonl`, or its `report.json`.
    pub path: PathBuf,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Print::Table)]
    pub print: Print,
    /// Print only; do not rewrite junit.xml, report.json and summary.md.
    #[arg(long)]
    pub no_write: bool,
}

/// Run `acr-chaos report`. Unreadable or invalid input is an error (exit 2).
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (model, written) = rebuild(&args.path, !args.no_write)?;
    let text = match args.print {
        Print::Table => {
            use std::io::IsTerminal;
            let color = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            render_table(&model, color)
        }
        Print::Summary => markdown::render(&model),
        Print::Json => json::render(&model)?,
        Print::None => String::new(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(super::exit_code(&model))
}
