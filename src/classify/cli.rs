use crate::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// Messages to classify; read from stdin, one per line, when none are given.
    pub messages: Vec<String>,
}

pub fn run(_args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("classify: not built yet")
}
