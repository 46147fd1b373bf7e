//! Finding the real `kubectl` (Debian package kubernetes-client): a loud SKIP without it,
//! a failure under CI=true; and running it against one kubeconfig.
#![allow(dead_code, reason = "shared by several test binaries, each using a part")]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

pub fn kubectl_bin() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/kubectl");
    if fixed.exists() {
        return Some(fixed);
    }
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("kubectl")).find(|c| c.exists()))
}

/// The kubectl binary, or `None` after printing a SKIPPED line (panics under CI=true).
pub fn require_kubectl(test: &str) -> Option<PathBuf> {
    match kubectl_bin() {
        Some(b) => Some(b),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("kubectl is required in CI (Debian package kubernetes-client) for {test}")
        }
        None => {
            eprintln!("SKIPPED: {test}: kubectl not found (install kubernetes-client)");
            None
        }
    }
}

/// What one kubectl run printed.
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// kubectl bound to one kubeconfig, with a private HOME (no cache shared between tests).
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub home: PathBuf,
}

impl Kubectl {
    pub fn new(bin: PathBuf, kubeconfig: &Path, home: &Path) -> Kubectl {
        Kubectl { bin, kubeconfig: kubeconfig.to_path_buf(), home: home.to_path_buf() }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .arg("--request-timeout=20s")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    pub async fn run(&self, args: &[&str]) -> Out {
        let o = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("kubectl timed out")
            .expect("spawn kubectl");
        Out {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args).await;
        assert!(o.ok, "kubectl {args:?} failed:\nstdout: {}\nstderr: {}", o.stdout, o.stderr);
        o.stdout
    }

    /// Run with `input` on stdin (`apply -f -`).
    pub async fn with_stdin(&self, args: &[&str], input: &str) -> String {
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).await.expect("write stdin");
        drop(stdin);
        let o = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl timed out")
            .expect("kubectl output");
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "kubectl {args:?} failed:\n{out}\n{err}");
        out.into_owned()
    }
}
