//! Debian's containerd 1.6 as a child process for the kubelet emulator: its own root,
//! state and gRPC socket under the lab's state dir, the CRI plugin on, the `native`
//! snapshotter (works everywhere, overlayfs may not in sandboxes), and registry host
//! mapping plus the lab CA through `certs.d/<host>/hosts.toml`. The process group is
//! killed when the handle drops (and by the kernel if the lab dies: PR_SET_PDEATHSIG).

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cri::{CriClient, CriError};

/// The containerd binary the lab runs.
pub const CONTAINERD_BIN: &str = "/usr/bin/containerd";

/// Errors starting or talking to the lab's containerd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerdError {
    #[error(
        "{path} not found: install the Debian package `containerd` (apt-get install containerd)"
    )]
    BinaryMissing { path: PathBuf },
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("containerd exited during start-up ({status}); see its log {log}")]
    Exited { status: String, log: PathBuf },
    #[error("containerd did not open {socket} within {waited:?}; see its log {log}")]
    Timeout { socket: PathBuf, waited: Duration, log: PathBuf },
    #[error("containerd's CRI plugin is not serving ({source}); see its log {log}")]
    CriNotLoaded {
        log: PathBuf,
        #[source]
        source: CriError,
    },
    #[error("invalid registry host {host:?}: {reason}")]
    BadHost { host: String, reason: String },
}

/// How containerd reaches one registry host name used in image references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryHost {
    /// The name in image references, e.g. `acrchaoslab.azurecr.io` (may carry `:port`).
    pub host: String,
    /// Where containerd really connects, e.g. `https://127.0.0.1:44321`.
    pub endpoint: String,
    /// CA bundle (PEM file) to trust for that endpoint.
    pub ca_file: Option<PathBuf>,
    /// Plain HTTP endpoint (informational: the endpoint's scheme decides).
    pub plain_http: bool,
}

/// Start-up options.
#[derive(Debug, Clone)]
pub struct ContainerdOptions {
    /// Everything goes under `<state_dir>/containerd`.
    pub state_dir: PathBuf,
    pub hosts: Vec<RegistryHost>,
    /// `native` by default.
    pub snapshotter: String,
    /// How long to wait for the socket and the CRI plugin.
    pub start_timeout: Duration,
}

impl ContainerdOptions {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            hosts: Vec::new(),
            snapshotter: "native".into(),
            start_timeout: Duration::from_secs(20),
        }
    }

    pub fn host(mut self, host: RegistryHost) -> Self {
        self.hosts.push(host);
        self
    }
}

/// A running containerd. Dropping it kills the process group.
#[derive(Debug)]
pub struct Containerd {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    version: String,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ContainerdError + '_ {
    move |source| ContainerdError::Io { path: path.to_path_buf(), source }
}

/// The `config.toml` text for a containerd rooted at `dir`.
pub fn render_config(dir: &Path, snapshotter: &str) -> String {
    let d = dir.display();
    format!(
        r#"# Written by the acr-chaos lab: containerd for the kubelet emulator (CRI image service only).
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "{snapshotter}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
"#
    )
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `hosts.toml` text for one registry host: the endpoint is the one `[host]` that may
/// pull and resolve, so containerd dials it once per attempt, as a node without a
/// `hosts.toml` dials its one upstream. containerd 1.6 always appends the `server` entry
/// after the `[host]` entries (and refuses a file without a host table); left with pull
/// and resolve it would be dialed a second time (two 30 s dial timeouts under a packet
/// drop, issue #11). It stays the endpoint, never the real name (the lab is offline),
/// and only advertises push, which pulls skip (containerd's `filterHosts`); an empty
/// `capabilities` would mean all of them.
pub fn render_hosts_toml(h: &RegistryHost) -> String {
    let mut out = String::new();
    let ep = toml_str(&h.endpoint);
    let _ = writeln!(out, "# Written by the acr-chaos lab: {} -> {}", h.host, h.endpoint);
    let _ = writeln!(out, "server = {ep}");
    let _ = writeln!(out, "capabilities = [\"push\"]");
    let ca = h.ca_file.as_ref().map(|ca| toml_str(&ca.display().to_string()));
    if let Some(ca) = &ca {
        let _ = writeln!(out, "ca = {ca}");
    }
    let _ = writeln!(out, "\n[host.{ep}]");
    let _ = writeln!(out, "  capabilities = [\"pull\", \"resolve\"]");
    if let Some(ca) = &ca {
        let _ = writeln!(out, "  ca = {ca}");
    }
    out
}

fn validate_host(h: &RegistryHost) -> Result<(), ContainerdError> {
    let bad =
        |reason: &str| ContainerdError::BadHost { host: h.host.clone(), reason: reason.into() };
    if h.host.is_empty() || h.host.contains(['/', ' ', '"']) || h.host.starts_with('.') {
        return Err(bad("expected a host name like acrchaoslab.azurecr.io (optionally :port)"));
    }
    if !(h.endpoint.starts_with("https://") || h.endpoint.starts_with("http://")) {
        return Err(bad("endpoint must be an http:// or https:// URL"));
    }
    Ok(())
}

impl Containerd {
    /// Write the config, start containerd, wait for its socket and check that the CRI
    /// image service answers.
    pub async fn start(opts: ContainerdOptions) -> Result<Containerd, ContainerdError> {
        let bin = PathBuf::from(CONTAINERD_BIN);
        if !bin.exists() {
            return Err(ContainerdError::BinaryMissing { path: bin });
        }
        let dir = opts.state_dir.join("containerd");
        for sub in ["root", "state", "certs.d", "cni/bin", "cni/net.d"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let config = dir.join("config.toml");
        std::fs::write(&config, render_config(&dir, &opts.snapshotter)).map_err(io_err(&config))?;
        for h in &opts.hosts {
            write_hosts(&dir, h)?;
        }
        let socket = dir.join("containerd.sock");
        let _ = std::fs::remove_file(&socket);
        let log = dir.join("containerd.log");
        let log_file = std::fs::File::create(&log).map_err(io_err(&log))?;
        let log_err = log_file.try_clone().map_err(io_err(&log))?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .process_group(0);
        crate::child::die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(io_err(&bin))?;
        let mut me = Containerd { child: Some(child), dir, socket, log, version: String::new() };
        me.wait_ready(opts.start_timeout).await?;
        Ok(me)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), ContainerdError> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(ContainerdError::Exited {
                    status: status.to_string(),
                    log: self.log.clone(),
                });
            }
            if self.socket.exists() && tokio::net::UnixStream::connect(&self.socket).await.is_ok() {
                break;
            }
            if started.elapsed() > timeout {
                return Err(ContainerdError::Timeout {
                    socket: self.socket.clone(),
                    waited: timeout,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The socket is up; the CRI plugin must answer too (Version + ImageFsInfo).
        let mut last = None;
        while started.elapsed() <= timeout {
            match self.check_cri().await {
                Ok(v) => {
                    self.version = v;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ContainerdError::CriNotLoaded {
            log: self.log.clone(),
            source: last.unwrap_or(CriError::Status {
                code: tonic::Code::DeadlineExceeded,
                message: "no answer".into(),
            }),
        })
    }

    async fn check_cri(&self) -> Result<String, CriError> {
        let cri = CriClient::connect(&self.socket).await?;
        let v = cri.version().await?;
        cri.image_fs_info().await?;
        Ok(format!("{} {} (CRI {})", v.runtime_name, v.runtime_version, v.runtime_api_version))
    }

    /// The CRI gRPC socket (`ACR_CHAOS_LAB_CONTAINERD_SOCKET`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// containerd's own log (stdout + stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `<state>/containerd`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runtime name and version as the CRI `Version` call reported them.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The child's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new CRI client on this containerd.
    pub async fn cri(&self) -> Result<CriClient, CriError> {
        CriClient::connect(&self.socket).await
    }

    /// Add or replace a registry host mapping; containerd re-reads `certs.d` on every pull.
    pub fn set_host(&self, host: &RegistryHost) -> Result<(), ContainerdError> {
        write_hosts(&self.dir, host)
    }

    /// Stop containerd (SIGTERM to the group, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    }
}

fn write_hosts(dir: &Path, h: &RegistryHost) -> Result<(), ContainerdError> {
    validate_host(h)?;
    // containerd escapes ':' in host dirs as-is on Linux (`host:port`).
    let hdir = dir.join("certs.d").join(&h.host);
    std::fs::create_dir_all(&hdir).map_err(io_err(&hdir))?;
    let file = hdir.join("hosts.toml");
    std::fs::write(&file, render_hosts_toml(h)).map_err(io_err(&file))
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_toml_maps_host_to_endpoint_with_ca() {
        let h = RegistryHost {
            host: "acrchaoslab.azurecr.io".into(),
            endpoint: "https://127.0.0.1:4443".into(),
            ca_file: Some("/tmp/lab/ca.pem".into()),
            plain_http: false,
        };
        let t = render_hosts_toml(&h);
        // Top-level keys (the `server` entry) come before the first table.
        let (server, host) = t.split_once("\n[host.").expect("one [host] table");
        assert!(server.contains("\nserver = \"https://127.0.0.1:4443\""), "{t}");
        // The server entry must not pull or resolve: containerd would dial it again.
        assert!(server.contains("\ncapabilities = [\"push\"]"), "{t}");
        assert!(server.contains("\nca = \"/tmp/lab/ca.pem\""), "{t}");
        assert!(host.starts_with("\"https://127.0.0.1:4443\"]"), "{t}");
        assert!(host.contains("capabilities = [\"pull\", \"resolve\"]"), "{t}");
        assert!(host.contains("ca = \"/tmp/lab/ca.pem\""), "{t}");
        assert_eq!(t.matches("[host.").count(), 1, "{t}");
    }

    #[test]
    fn config_keeps_cri_enabled_and_uses_native() {
        let c = render_config(Path::new("/s/containerd"), "native");
        let disabled = c.lines().find(|l| l.starts_with("disabled_plugins")).unwrap();
        assert!(!disabled.contains("grpc.v1.cri"));
        assert!(c.contains("snapshotter = \"native\""));
        assert!(c.contains("config_path = \"/s/containerd/certs.d\""));
        assert!(c.contains("address = \"/s/containerd/containerd.sock\""));
    }

    #[test]
    fn bad_hosts_are_refused() {
        let h = RegistryHost {
            host: "a/b".into(),
            endpoint: "https://x".into(),
            ca_file: None,
            plain_http: false,
        };
        assert!(matches!(validate_host(&h), Err(ContainerdError::BadHost { .. })));
        let h = RegistryHost { host: "a".into(), endpoint: "ftp://x".into(), ..h };
        assert!(validate_host(&h).unwrap_err().to_string().contains("http"));
    }
}
