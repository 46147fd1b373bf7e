//! `acr-chaos report PATH`: rebuild and print the reports of a recorded run.
//! `acr-chaos report --html PATH...`: one self-contained HTML page of one or several
//! runs (timelines; trends across runs), see [`super::html`].
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
    /// A run's report folder (`reports/<run-id>`), its `events.jsonl`, or its `report.json`;
    /// with --html, one or more of them (e.g. `reports/*/`).
    #[arg(required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Write one self-contained HTML page of the runs (timeline; trends across runs).
    #[arg(long)]
    pub html: bool,
    /// Where --html writes (default: `<run>/report.html` for one run, `acr-chaos-history.html`
    /// for several).
    #[arg(long, requires = "html")]
    pub out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Print::Table)]
    pub print: Print,
    /// Print only; do not rewrite junit.xml, report.json and summary.md.
    #[arg(long)]
    pub no_write: bool,
}

/// Run `acr-chaos report`. Unreadable or invalid input is an error (exit 2).
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.html {
        return write_html(&args);
    }
    let [path] = args.paths.as_slice() else {
        anyhow::bail!("one run at a time without --html (got {} paths)", args.paths.len());
    };
    let (model, written) = rebuild(path, !args.no_write)?;
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

/// `report --html`: read every run (any unreadable one is an error naming it), render, write.
fn write_html(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let mut runs = Vec::new();
    for p in &args.paths {
        let model = crate::diff::input::load_run(p)?;
        let label = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "report.json" && n != "events.jsonl")
            .unwrap_or_else(|| model.run_id.clone());
        runs.push(super::html::RunInput { label, model });
    }
    let out = match (&args.out, args.paths.as_slice()) {
        (Some(o), _) => o.clone(),
        (None, [one]) if one.is_dir() => one.join(HTML_FILE),
        (None, _) => PathBuf::from("acr-chaos-history.html"),
    };
    let page = super::html::render(&mut runs, chrono::Utc::now());
    std::fs::write(&out, page)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    println!(
        "wrote {} ({} run{})",
        out.display(),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::Success)
}

/// The HTML page's default name inside a run's folder.
pub const HTML_FILE: &str = "report.html";
