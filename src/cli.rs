//! The command line: parses arguments and dispatches to each module's command.
//! Each command returns an [`ExitCode`]; errors are printed here, once.

use crate::ExitCode;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "acr-chaos", version, about = "Chaos and conformance tests for the AKS → ACR image-pull path", long_about = None)]
pub struct Cli {
    /// Log filter (tracing syntax), e.g. `info`, `acr_chaos=debug`. Logs go to stderr.
    /// The embedded lab's own kubelet/registry chatter is kept to errors by default
    /// (`acr_chaos_lab=warn` shows it).
    #[arg(long, global = true, env = "ACR_CHAOS_LOG", default_value = "warn,acr_chaos_lab=error")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check scenario and target files; report every error with file:line:column.
    Validate(crate::scenario::cli::ValidateArgs),
    /// Print the JSON Schema of scenario and target files (for editors).
    Schema(crate::scenario::cli::SchemaArgs),
    /// Classify image-pull failure messages into causes.
    Classify(crate::classify::cli::ClassifyArgs),
    /// Rebuild and print the reports of a recorded run (exits with the run's exit code).
    Report(crate::report::cli::ReportArgs),
    /// Run the local lab (emulated AKS + ACR over a real registry): `lab up`, `lab env`.
    #[cfg(feature = "lab")]
    Lab(acr_chaos_lab::cli::LabArgs),
    /// Not in this build (no `lab` feature): says so instead of clap's "unrecognized
    /// subcommand", whatever follows `lab` (`--help` included).
    #[cfg(not(feature = "lab"))]
    #[command(hide = true, disable_help_flag = true)]
    Lab(NoLabArgs),
    /// Inject faults, check pulls fail as expected, restore (default target: the embedded lab).
    Run(crate::engine::cli::RunArgs),
    /// Compare a run with a baseline (or another run): verdicts, causes, error signatures,
    /// timings, environment. Exit 4 when there are regressions.
    Diff(crate::diff::cli::DiffArgs),
    /// Accept a run as the baseline of its target (`baseline accept reports/<run-id>`).
    Baseline(crate::diff::cli::BaselineArgs),
    /// Replay unfinished undos of interrupted runs (local journal or the cluster's copy).
    Recover(crate::engine::cli::RecoverArgs),
    /// Find the cause of a failing image pull: classify the pod's messages, check the
    /// kubelet identity's role, the registry firewall, pull secrets and the tag; print the fix.
    Diagnose(crate::diagnose::cli::DiagnoseArgs),
}

/// Run a parsed command line and map the outcome to an exit code.
pub fn main(cli: Cli) -> ExitCode {
    init_logging(&cli.log);
    let result = match cli.command {
        Command::Validate(a) => crate::scenario::cli::validate(a),
        Command::Schema(a) => crate::scenario::cli::schema(a),
        Command::Classify(a) => crate::classify::cli::run(a),
        Command::Report(a) => crate::report::cli::run(a),
        #[cfg(feature = "lab")]
        Command::Lab(a) => run_lab(a),
        #[cfg(not(feature = "lab"))]
        Command::Lab(_) => Err(anyhow::anyhow!(NO_LAB)),
        Command::Run(a) => crate::engine::cli::run(a),
        Command::Diff(a) => crate::diff::cli::run_diff(a).map_err(Into::into),
        Command::Baseline(a) => crate::diff::cli::run_baseline(a).map_err(Into::into),
        Command::Recover(a) => crate::engine::cli::recover(a),
        Command::Diagnose(a) => crate::diagnose::cli::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::InvalidInput
        }
    }
}

/// Whatever was passed after `lab` in a build without the lab.
#[cfg(not(feature = "lab"))]
#[derive(Debug, clap::Args)]
pub struct NoLabArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

#[cfg(not(feature = "lab"))]
const NO_LAB: &str = "this acr-chaos was built without the embedded lab (cargo feature `lab`; \
the container image leaves it out): `acr-chaos lab` is not available. Run against a cluster \
with `acr-chaos run --target FILE`; for the lab, use a build with default features";

/// `acr-chaos lab …` runs on its own tokio runtime.
#[cfg(feature = "lab")]
fn run_lab(args: acr_chaos_lab::cli::LabArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(acr_chaos_lab::cli::run_with(args, |lab| {
        let target = crate::engine::lab::prepare_lab_target(lab)?;
        Ok(vec![format!(
            "target: {}   (after sourcing lab.env: acr-chaos run --target {})",
            target.display(),
            target.display()
        )])
    }))?;
    Ok(if code == 0 { ExitCode::Success } else { ExitCode::InvalidInput })
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
