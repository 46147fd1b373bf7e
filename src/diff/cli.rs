//! `acr-chaos diff`, `acr-chaos baseline accept`, and the diff step of
//! `acr-chaos run --baseline` ([`check_before_run`], [`after_run`]).

use super::baseline::Baseline;
use super::compare::{self, DiffReport, Options, Status};
use super::input::{self, Side, SideKind};
use super::render;
use super::{DiffError, Tolerance};
use crate::ExitCode;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What `acr-chaos diff` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Print {
    Table,
    Markdown,
    Json,
    None,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The accepted state: a baseline file (.yaml), a run folder, its report.json or events.jsonl.
    pub baseline: PathBuf,
    /// The run to check: a run folder, its report.json or events.jsonl (or a baseline file).
    pub current: PathBuf,
    /// Where diff.json, diff.md and diff-junit.xml go (default: the current run's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write no files; only print.
    #[arg(long)]
    pub no_write: bool,
    #[arg(long, value_enum, default_value_t = Print::Table)]
    pub print: Print,
    /// Timing tolerance ratio for every scenario (overrides the baseline's).
    #[arg(long)]
    pub ratio: Option<f64>,
    /// Timing tolerance floor in seconds for every scenario (overrides the baseline's).
    #[arg(long)]
    pub floor: Option<f64>,
    /// Count changed environment facts (versions, node image, registry) as regressions.
    #[arg(long)]
    pub fail_on_environment: bool,
    /// Compare runs of two different targets (e.g. production against staging).
    #[arg(long)]
    pub cross_target: bool,
}

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    #[command(subcommand)]
    pub command: BaselineCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BaselineCommand {
    /// Accept a run as the baseline. If --out exists, the run's differences from it are
    /// added as expected differences (new scenarios are added); --replace starts afresh.
    Accept(AcceptArgs),
}

#[derive(Debug, clap::Args)]
pub struct AcceptArgs {
    /// The run to accept: its folder (reports/<run-id>), report.json or events.jsonl.
    pub run: PathBuf,
    /// The baseline's name (default: the target's name; an existing file keeps its own).
    #[arg(long)]
    pub name: Option<String>,
    /// The baseline file (default: baseline-<target>.yaml).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Why the differences are accepted (recorded with each expected difference).
    #[arg(long)]
    pub reason: Option<String>,
    /// Replace an existing file with the run's values (keeping its tolerances and name).
    #[arg(long)]
    pub replace: bool,
}

fn tolerance_override(
    ratio: Option<f64>,
    floor: Option<f64>,
    base: Tolerance,
) -> Option<Tolerance> {
    if ratio.is_none() && floor.is_none() {
        return None;
    }
    Some(Tolerance {
        ratio: ratio.unwrap_or(base.ratio),
        floor_seconds: floor.unwrap_or(base.floor_seconds),
    })
}

/// Load and compare two sides.
pub fn diff_paths(
    baseline: &Path,
    current: &Path,
    opts: Options,
    cross_target: bool,
) -> Result<DiffReport, DiffError> {
    let base = input::load(baseline)?;
    let cur = input::load(current)?;
    input::check_targets(&base, &cur, cross_target)?;
    Ok(compare::compare(&base, &cur, opts))
}

/// The folder a side's files belong to.
fn side_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_owned()
    } else {
        path.parent().map(Path::to_owned).unwrap_or_default()
    }
}

/// `acr-chaos diff`.
pub fn run_diff(args: DiffArgs) -> Result<ExitCode, DiffError> {
    let bad =
        |message: String| DiffError::Invalid { path: PathBuf::from("--ratio/--floor"), message };
    let over = tolerance_override(args.ratio, args.floor, Tolerance::default());
    if let Some(m) = over.and_then(|t| t.invalid()) {
        return Err(bad(m));
    }
    let opts = Options { tolerance: over, fail_on_environment: args.fail_on_environment };
    let report = diff_paths(&args.baseline, &args.current, opts, args.cross_target)?;
    let text = match args.print {
        Print::Table => render::table::render(&report, stdout_color()),
        Print::Markdown => render::markdown::render(&report),
        Print::Json => render::json(&report)?,
        Print::None => String::new(),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    if !args.no_write {
        let dir = args.out.clone().unwrap_or_else(|| side_dir(&args.current));
        for p in render::write_all(&dir, &report)? {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(if report.regressions { ExitCode::RegressionsFound } else { ExitCode::Success })
}

fn stdout_color() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `acr-chaos baseline …`.
pub fn run_baseline(args: BaselineArgs) -> Result<ExitCode, DiffError> {
    match args.command {
        BaselineCommand::Accept(a) => accept(a),
    }
}

/// Refuse runs that must not become a baseline: interrupted, refused, incomplete, or with
/// a failed restore (the environment may have been faulty while it ran).
fn acceptable(path: &Path, model: &crate::report::RunModel) -> Result<(), DiffError> {
    let invalid = |m: String| DiffError::Invalid { path: path.to_owned(), message: m };
    if model.interrupted.is_some() {
        return Err(invalid("the run was interrupted; accept a complete run".into()));
    }
    if !model.refused.is_empty() {
        return Err(invalid(format!("the run was refused: {}", model.refused.join("; "))));
    }
    if model.finished.is_none() || model.scenarios.iter().any(|s| !s.complete) {
        return Err(invalid(
            "the run did not finish (no run-finished event); accept a complete run".into(),
        ));
    }
    if let Some(s) = model.scenarios.iter().find(|s| s.restore_failed()) {
        return Err(invalid(format!(
            "scenario {} failed to restore; a run that may have left a fault behind cannot be a baseline",
            s.name
        )));
    }
    Ok(())
}

fn accept(a: AcceptArgs) -> Result<ExitCode, DiffError> {
    let model = input::load_run(&a.run)?;
    acceptable(&a.run, &model)?;
    for s in model.scenarios.iter().filter(|s| s.verdict != crate::events::Verdict::Passed) {
        eprintln!(
            "warning: scenario {} ended {}: accepted as the expected outcome",
            s.name,
            crate::report::text::verdict_word(s.verdict)
        );
    }
    let out =
        a.out.clone().unwrap_or_else(|| PathBuf::from(format!("baseline-{}.yaml", model.target)));
    let reason = a.reason.clone().unwrap_or_else(|| format!("accepted from run {}", model.run_id));
    if out.is_file() {
        let existing = Baseline::load(&out)?;
        if existing.target != model.target {
            return Err(DiffError::TargetMismatch {
                baseline_path: out.clone(),
                baseline: existing.target.clone(),
                current_path: a.run.clone(),
                current: model.target.clone(),
            });
        }
        let updated = if a.replace {
            replaced(&existing, &model, a.name.as_deref())
        } else {
            match with_accepted(&out, existing, &a.run, &model, &reason) {
                Some(b) => b,
                None => {
                    println!("{}: the run matches the baseline; nothing to accept", out.display());
                    return Ok(ExitCode::Success);
                }
            }
        };
        updated.write(&out)?;
        println!("updated {}", out.display());
        return Ok(ExitCode::Success);
    }
    let name = a.name.clone().unwrap_or_else(|| model.target.clone());
    let b = Baseline::from_run(&model, &name);
    b.write(&out)?;
    println!("wrote {} ({} scenarios, run {})", out.display(), b.scenarios.len(), model.run_id);
    Ok(ExitCode::Success)
}

/// The run's values, keeping the existing file's name and tolerances.
fn replaced(existing: &Baseline, model: &crate::report::RunModel, name: Option<&str>) -> Baseline {
    let mut b = Baseline::from_run(model, name.unwrap_or(&existing.name));
    b.tolerance = existing.tolerance;
    b.fail_on_environment = existing.fail_on_environment;
    for (n, s) in &mut b.scenarios {
        s.tolerance = existing.scenarios.get(n).and_then(|e| e.tolerance);
    }
    b
}

/// The existing baseline plus the run's differences as expected differences (and its new
/// scenarios); `None` when there is nothing to accept.
fn with_accepted(
    path: &Path,
    mut b: Baseline,
    run_path: &Path,
    model: &crate::report::RunModel,
    reason: &str,
) -> Option<Baseline> {
    let base = Side {
        path: path.to_owned(),
        kind: SideKind::Baseline,
        snapshot: b.snapshot(),
        baseline: Some(b.clone()),
        model: None,
    };
    let cur = Side {
        path: run_path.to_owned(),
        kind: SideKind::Run,
        snapshot: super::Snapshot::from_run(model),
        baseline: None,
        model: None,
    };
    let report = compare::compare(&base, &cur, Options::default());
    let mut changed = false;
    for s in &report.scenarios {
        let added = s.findings.iter().any(|f| {
            f.check == compare::Check::Presence
                && f.status == Status::Regression
                && f.baseline.as_deref() == Some("absent")
        });
        if added && let Some(snap) = cur.snapshot.scenarios.get(&s.name) {
            println!("  {}: new scenario added", s.name);
            b.scenarios.insert(s.name.clone(), snap.clone());
            changed = true;
        }
    }
    for d in compare::expected_differences(&report, reason) {
        if d.check == "presence" && d.baseline.as_deref() == Some("absent") {
            continue; // added above
        }
        println!("  {}: {} accepted: {}", d.scenario, d.check, d.accepted.replace('\n', " ⏎ "));
        b.expected_differences.retain(|x| !(x.scenario == d.scenario && x.check == d.check));
        b.expected_differences.push(d);
        changed = true;
    }
    changed.then_some(b)
}

/// `run --baseline FILE`, before anything is touched: the file must load and belong to
/// the target about to run.
pub fn check_before_run(path: &Path, target: &str) -> Result<Baseline, DiffError> {
    let b = Baseline::load(path)?;
    if b.target != target {
        return Err(DiffError::TargetMismatch {
            baseline_path: path.to_owned(),
            baseline: b.target.clone(),
            current_path: PathBuf::from("--target"),
            current: target.to_string(),
        });
    }
    Ok(b)
}

/// `run --baseline FILE`, after the run: diff it against the baseline, write diff.json,
/// diff.md and diff-junit.xml into the run's folder, and combine the exit codes: 2, 3 and
/// 130 of the run win; else 4 when there are regressions; else the run's code (0, or 1
/// for a failure the baseline shares).
pub fn after_run(baseline: &Path, run_dir: &Path, code: ExitCode, quiet: bool) -> ExitCode {
    if matches!(code, ExitCode::InvalidInput | ExitCode::RestoreFailed | ExitCode::Interrupted) {
        eprintln!(
            "diff against {} skipped: the run ended with exit code {}",
            baseline.display(),
            code.code()
        );
        return code;
    }
    let report = match diff_paths(baseline, run_dir, Options::default(), false) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: diff against the baseline: {e}");
            return code.worst(ExitCode::InvalidInput);
        }
    };
    if !quiet {
        eprint!(
            "\n{}",
            render::table::render(&report, crate::report::terminal::stderr_wants_color())
        );
    }
    match render::write_all(run_dir, &report) {
        Ok(files) if !quiet => eprintln!(
            "diff: {}",
            files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
        Ok(_) => {}
        Err(e) => eprintln!("error: writing the diff: {e}"),
    }
    if report.regressions { code.worst(ExitCode::RegressionsFound) } else { code }
}
