//! The embedded lab as the default target (`acr-chaos run` without `--target`).

use super::cli::RunArgs;
use crate::ExitCode;

/// Start the embedded lab and run `scenarios` against it.
pub async fn run_on_lab(
    _args: RunArgs,
    _scenarios: Vec<crate::scenario::Scenario>,
) -> anyhow::Result<ExitCode> {
    eprintln!(
        "error: the embedded lab does not run pods yet; start a cluster target and pass --target FILE"
    );
    Ok(ExitCode::InvalidInput)
}
