//! `acr-chaos lab up [--state-dir DIR] [--world FILE] [--time-scale X]` (foreground until
//! Ctrl-C / SIGTERM, then every child process is stopped) and `acr-chaos lab env
//! [--state-dir DIR]` (prints `<state-dir>/lab.env`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::lab::{Lab, STATE_DIR_ENV, default_state_dir};

/// `acr-chaos lab …`
#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start the lab in the foreground; writes <state-dir>/lab.env. Ctrl-C stops it.
    Up {
        /// State directory (registry storage, CA, lab.env) [default: $ACR_CHAOS_LAB_STATE or .lab]
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// World file (YAML) [default: the shipped lab/world.default.yaml]
        #[arg(long, value_name = "FILE")]
        world: Option<PathBuf>,
        /// Time scale for emulated delays (1.0 = real time, 0.05 = 20x faster)
        #[arg(long, value_name = "X", default_value_t = 1.0)]
        time_scale: f64,
        /// Also start containerd mapped to the lab registries
        #[arg(long)]
        containerd: bool,
        /// Run the kubelet emulator (pulls through containerd) [default; kept for scripts]
        #[arg(long, hide = true)]
        kubelet: bool,
        /// Kubernetes minor the kubelet emulator plays (message wrapping, back-off
        /// message, node credential provider, nodeInfo version): 1.27, 1.31, 1.32, 1.33
        /// [default: $ACR_CHAOS_LAB_KUBELET_PROFILE or 1.33]. See docs/lab-profiles.md.
        #[arg(long, value_name = "MINOR", value_parser = parse_profile, conflicts_with = "no_kubelet")]
        kubelet_profile: Option<String>,
        /// No kubelet emulator (and no containerd unless --containerd): pods stay Pending
        #[arg(long, conflicts_with = "kubelet")]
        no_kubelet: bool,
        /// Also run Prometheus + Alertmanager on the shipped alert rules (Debian packages
        /// prometheus, prometheus-alertmanager); URLs go to lab.env
        #[arg(long)]
        monitoring: bool,
        /// Address Entra, ARM and the registry front doors listen on (and their
        /// certificates name), e.g. the kind network's gateway so kind nodes reach the
        /// registries (kind/README.md) [default: 127.0.0.1]
        #[arg(long, value_name = "IP")]
        listen: Option<std::net::IpAddr>,
    },
    /// Print the lab.env of a running (or last) lab, shell-sourceable.
    Env {
        /// State directory [default: $ACR_CHAOS_LAB_STATE or .lab]
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
}

/// Runs a `lab` subcommand; returns the process exit code.
pub async fn run(args: LabArgs) -> anyhow::Result<i32> {
    run_with(args, |_| Ok(Vec::new())).await
}

/// [`run`], calling `on_ready` once the lab is up (before waiting for Ctrl-C); the lines
/// it returns are printed. acr-chaos writes the lab's target file there.
pub async fn run_with(
    args: LabArgs,
    on_ready: impl FnOnce(&Lab) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<i32> {
    match args.command {
        LabCommand::Up {
            state_dir,
            world,
            time_scale,
            containerd,
            kubelet: _,
            kubelet_profile,
            no_kubelet,
            monitoring,
            listen,
        } => {
            let dir = state_dir.unwrap_or_else(default_state_dir);
            let mut builder =
                Lab::builder().state_dir(&dir).time_scale(time_scale).containerd(containerd);
            builder = builder.with_kubelet(!no_kubelet).monitoring(monitoring);
            if let Some(p) = kubelet_profile.or_else(profile_from_env) {
                builder = builder.kubelet_profile(p);
            }
            if let Some(w) = world {
                builder = builder.world_file(w);
            }
            if let Some(ip) = listen {
                builder = builder.listen(ip);
            }
            let lab = builder.start().await?;
            let lines = match on_ready(&lab) {
                Ok(l) => l,
                Err(e) => {
                    lab.stop().await;
                    return Err(e);
                }
            };
            let env = lab.state_dir().join("lab.env");
            eprintln!(
                "lab ready in {:.2?}: registry {} at {}, hub {} at {}, ARM {}, Entra {}",
                lab.started_in(),
                lab.login_server(),
                lab.registry_url(),
                lab.hub_host(),
                lab.hub_url(),
                lab.arm_endpoint(),
                lab.authority_host()
            );
            for l in lines {
                eprintln!("{l}");
            }
            eprintln!("environment: . {}   (Ctrl-C stops the lab)", env.display());
            wait_for_stop_signal().await?;
            eprintln!("stopping the lab");
            lab.stop().await;
            Ok(0)
        }
        LabCommand::Env { state_dir } => {
            let dir = state_dir.unwrap_or_else(default_state_dir);
            let path = dir.join("lab.env");
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    print!("{text}");
                    Ok(0)
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot read {}: {e}; start a lab with `acr-chaos lab up --state-dir {}` (or set {STATE_DIR_ENV})",
                        path.display(),
                        dir.display()
                    );
                    Ok(2)
                }
            }
        }
    }
}

fn parse_profile(s: &str) -> Result<String, String> {
    crate::kubelet::KubeletProfile::named(s).map(|p| p.name.to_string())
}

/// The profile named by `ACR_CHAOS_LAB_KUBELET_PROFILE` (an unknown name is refused by
/// the builder with the list of valid ones).
fn profile_from_env() -> Option<String> {
    std::env::var(crate::kubelet::profile::PROFILE_ENV).ok().filter(|s| !s.trim().is_empty())
}

async fn wait_for_stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        lab: LabCommand,
    }

    #[test]
    fn parses_up_and_env() {
        let cli = Cli::try_parse_from(["x", "up", "--state-dir", "/tmp/s", "--time-scale", "0.05"])
            .unwrap();
        match cli.lab {
            LabCommand::Up { state_dir, time_scale, .. } => {
                assert_eq!(state_dir.unwrap(), PathBuf::from("/tmp/s"));
                assert_eq!(time_scale, 0.05);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Cli::try_parse_from(["x", "env"]).unwrap().lab, LabCommand::Env { .. }));
        assert!(Cli::try_parse_from(["x", "up", "--time-scale", "fast"]).is_err());
        match Cli::try_parse_from(["x", "up", "--kubelet", "--kubelet-profile", "v1.27"])
            .unwrap()
            .lab
        {
            LabCommand::Up { kubelet_profile, .. } => {
                assert_eq!(kubelet_profile.as_deref(), Some("1.27"))
            }
            other => panic!("{other:?}"),
        }
        // The kubelet runs by default; without it nothing would play the profile: refused.
        assert!(Cli::try_parse_from(["x", "up", "--kubelet-profile", "1.27"]).is_ok());
        assert!(
            Cli::try_parse_from(["x", "up", "--no-kubelet", "--kubelet-profile", "1.27"]).is_err()
        );
        let err = Cli::try_parse_from(["x", "up", "--kubelet-profile", "1.30"]).unwrap_err();
        assert!(err.to_string().contains("valid profiles: 1.27, 1.31, 1.32, 1.33"), "{err}");
    }

    #[tokio::test]
    async fn env_without_lab_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("acr-chaos-noenv-{}", std::process::id()));
        let code =
            run(LabArgs { command: LabCommand::Env { state_dir: Some(dir) } }).await.unwrap();
        assert_eq!(code, 2);
    }
}
