//! `acr-chaos validate` and `acr-chaos schema`.

use super::load::check_paths;
use super::schema::{SchemaKind, json_schema};
use crate::ExitCode;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Files or directories (YAML files below a directory are checked).
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which schema: scenario, target, or all (one schema accepting either, `oneOf`).
    #[arg(long, value_enum, default_value = "all")]
    pub kind: SchemaKind,
}

/// Check every file; print every problem, then `N file(s) checked, M error(s)`.
/// Exit 0 when everything is valid, 2 otherwise.
pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let (loaded, diags) = check_paths(&args.paths);
    for d in &diags {
        println!("{d}");
    }
    let files = loaded.files;
    let plural = if files == 1 { "" } else { "s" };
    if diags.is_empty() {
        println!(
            "ok: {files} file{plural} checked, {} scenario(s), {} target(s), 0 errors",
            loaded.scenarios.len(),
            loaded.targets.len()
        );
        Ok(ExitCode::Success)
    } else {
        let n = diags.len();
        println!("{files} file{plural} checked, {n} error{}", if n == 1 { "" } else { "s" });
        Ok(ExitCode::InvalidInput)
    }
}

/// Print the JSON Schema.
pub fn schema(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&json_schema(args.kind))?);
    Ok(ExitCode::Success)
}
