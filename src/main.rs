use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = acr_chaos::cli::Cli::parse();
    acr_chaos::cli::main(cli).into()
}
