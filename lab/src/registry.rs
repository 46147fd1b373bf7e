//! The real CNCF registry (Debian `docker-registry`, distribution 2.8) as a child process:
//! plain HTTP on a free 127.0.0.1 port, filesystem storage under the state dir, Docker
//! token auth (`auth: token:`) trusting the lab's token-signing certificate. The front
//! doors terminate TLS and proxy `/v2/` to it. The child runs in its own process group,
//! is killed when the handle drops, and by the kernel if the lab dies (PR_SET_PDEATHSIG).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The registry binary the lab runs.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Errors starting the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error(
        "{path} not found: install the Debian package `docker-registry` (apt-get install docker-registry)"
    )]
    BinaryMissing { path: PathBuf },
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("docker-registry exited during start-up ({status}); see its log {log}")]
    Exited { status: String, log: PathBuf },
    #[error("docker-registry did not answer on {addr} within {waited:?}; see its log {log}")]
    Timeout { addr: SocketAddr, waited: Duration, log: PathBuf },
}

/// Token-auth settings of one registry process.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Storage and config go under this directory (created).
    pub dir: PathBuf,
    /// Token realm (the front door's `/oauth2/token` URL).
    pub realm: String,
    /// Token `service` / `aud` (the login server name).
    pub service: String,
    /// Token `iss`.
    pub issuer: String,
    /// PEM of the certificate whose key signs tokens.
    pub signing_cert_pem: String,
    pub start_timeout: Duration,
}

/// A running registry. Dropping it kills the process group.
#[derive(Debug)]
pub struct Registry {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io { path: path.to_path_buf(), source }
}

fn yaml_str(s: &str) -> String {
    // JSON strings are valid YAML flow scalars.
    serde_json::Value::String(s.to_string()).to_string()
}

/// The registry's `config.yml`.
pub fn render_config(cfg: &RegistryConfig, addr: SocketAddr, secret: &str) -> String {
    let data = cfg.dir.join("data");
    let bundle = cfg.dir.join("token-signing.pem");
    format!(
        "# Written by the acr-chaos lab.\n\
version: 0.1\n\
log:\n  level: warn\n  accesslog:\n    disabled: true\n\
storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
http:\n  addr: {addr}\n  relativeurls: true\n  secret: {secret}\n\
auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {bundle}\n",
        data = yaml_str(&data.display().to_string()),
        addr = yaml_str(&addr.to_string()),
        secret = yaml_str(secret),
        realm = yaml_str(&cfg.realm),
        service = yaml_str(&cfg.service),
        issuer = yaml_str(&cfg.issuer),
        bundle = yaml_str(&bundle.display().to_string()),
    )
}

/// A free port on 127.0.0.1 (bound and released; the registry binds it right after).
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    l.local_addr()
}

impl Registry {
    /// Starts the registry on `addr` and waits until `/v2/` answers.
    pub async fn start(cfg: &RegistryConfig, addr: SocketAddr) -> Result<Registry, RegistryError> {
        let bin = PathBuf::from(REGISTRY_BIN);
        if !bin.exists() {
            return Err(RegistryError::BinaryMissing { path: bin });
        }
        let data = cfg.dir.join("data");
        std::fs::create_dir_all(&data).map_err(io_err(&data))?;
        let bundle = cfg.dir.join("token-signing.pem");
        std::fs::write(&bundle, &cfg.signing_cert_pem).map_err(io_err(&bundle))?;
        let config = cfg.dir.join("config.yml");
        let secret = uuid::Uuid::new_v4().simple().to_string();
        std::fs::write(&config, render_config(cfg, addr, &secret)).map_err(io_err(&config))?;
        let log = cfg.dir.join("registry.log");
        let log_file = std::fs::File::create(&log).map_err(io_err(&log))?;
        let log_err = log_file.try_clone().map_err(io_err(&log))?;
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg(&config)
            .env_remove("REGISTRY_HTTP_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .process_group(0);
        crate::child::die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(io_err(&bin))?;
        let mut me = Registry { child: Some(child), addr, log };
        me.wait_ready(cfg.start_timeout).await?;
        Ok(me)
    }

    /// Starts the registry on a free 127.0.0.1 port, trying another port if the chosen
    /// one was taken in the meantime (up to 5 attempts).
    pub async fn start_on_free_port(cfg: &RegistryConfig) -> Result<Registry, RegistryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let addr = free_loopback_addr().map_err(|source| RegistryError::Io {
                path: PathBuf::from("127.0.0.1:0"),
                source,
            })?;
            match Registry::start(cfg, addr).await {
                Err(RegistryError::Exited { log, .. })
                    if attempt < 5
                        && std::fs::read_to_string(&log)
                            .is_ok_and(|t| t.contains("address already in use")) =>
                {
                    tracing::debug!(%addr, "registry port taken, retrying");
                }
                other => return other,
            }
        }
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), RegistryError> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(RegistryError::Exited {
                    status: status.to_string(),
                    log: self.log.clone(),
                });
            }
            if let Ok(status) = get_status(self.addr, "/v2/").await
                && status == 401
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(RegistryError::Timeout {
                    addr: self.addr,
                    waited: timeout,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// `127.0.0.1:port` of the plain-HTTP registry.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }


    /// The child's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the registry's process group and reaps it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Status code of a plain `GET path` (HTTP/1.0, no keep-alive) to `addr`.
async fn get_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut buf = [0u8; 32];
    let mut n = 0;
    while n < 12 {
        let m = s.read(&mut buf[n..]).await?;
        if m == 0 {
            break;
        }
        n += m;
    }
    let head = std::str::from_utf8(&buf[..n]).unwrap_or("");
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_quotes_values() {
        let cfg = RegistryConfig {
            dir: "/tmp/x y".into(),
            realm: "https://127.0.0.1:1/oauth2/token".into(),
            service: "a.azurecr.io".into(),
            issuer: "Azure Container Registry".into(),
            signing_cert_pem: String::new(),
            start_timeout: Duration::from_secs(1),
        };
        let text = render_config(&cfg, "127.0.0.1:5000".parse().unwrap(), "s");
        assert!(text.contains("rootdirectory: \"/tmp/x y/data\""), "{text}");
        assert!(text.contains("issuer: \"Azure Container Registry\""), "{text}");
        assert!(text.contains("addr: \"127.0.0.1:5000\""), "{text}");
    }
}
