use crate::ExitCode;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Files or directories (YAML files below a directory are checked).
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn validate(_args: ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("validate: not built yet")
}

pub fn schema(_args: SchemaArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("schema: not built yet")
}
