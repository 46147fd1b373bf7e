//! Starting the API emulator over TLS with a generated bearer token, and writing the
//! kubeconfig that points kubectl / kube-rs at it.

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng as _;

use super::api::{self, ApiOptions};
use super::store::SharedStore;
use crate::server::{Served, serve_tls};
use crate::tls::{LabCa, TlsError};

/// The kubeconfig context (and cluster and user) name.
pub const CONTEXT: &str = "aks-chaos-lab";

/// Errors starting the API server or writing its kubeconfig.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeServerError {
    #[error("kube API TLS setup: {0}")]
    Tls(#[from] TlsError),
    #[error("kube API could not listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("writing kubeconfig {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// A fresh random bearer token (hex, 32 bytes of entropy).
pub fn generate_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill(&mut b);
    format!("acrchaoslab.{}", hex::encode(b))
}

/// The kubeconfig YAML for `server` trusting `ca_pem` with a bearer `token`.
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, token: &str) -> String {
    let ca = B64.encode(ca_pem.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {CONTEXT}\n  user:\n    token: {token}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n    namespace: default\ncurrent-context: {CONTEXT}\npreferences: {{}}\n"
    )
}

/// Write a kubeconfig file (mode 0600: it holds the token).
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: &str,
    token: &str,
) -> Result<(), KubeServerError> {
    let err = |source| KubeServerError::Write { path: path.display().to_string(), source };
    std::fs::write(path, kubeconfig_yaml(server, ca_pem, token)).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(())
}

/// A running API emulator. Dropping it stops the server.
pub struct KubeApiServer {
    pub store: SharedStore,
    pub url: String,
    pub addr: SocketAddr,
    token: String,
    tokens: super::rbac::Tokens,
    ca_pem: String,
    served: Served,
}

impl std::fmt::Debug for KubeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApiServer").field("url", &self.url).finish_non_exhaustive()
    }
}

impl KubeApiServer {
    /// Serve `store` over TLS (a leaf from `ca` for `localhost`/`127.0.0.1`) on `addr`.
    /// `opts.token` empty: a token is generated.
    pub async fn start(
        store: SharedStore,
        ca: &LabCa,
        addr: SocketAddr,
        mut opts: ApiOptions,
    ) -> Result<KubeApiServer, KubeServerError> {
        if opts.token.is_empty() {
            opts.token = generate_token();
        }
        let tls = ca.rustls_server_config(
            &["localhost", "kubernetes", "kubernetes.default.svc"],
            &["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")],
        )?;
        // Bind first to learn the port for `/api`'s serverAddress.
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| KubeServerError::Listen { addr, source })?;
        let bound =
            listener.local_addr().map_err(|source| KubeServerError::Listen { addr, source })?;
        drop(listener);
        opts.server_address = bound.to_string();
        let token = opts.token.clone();
        let tokens = opts.tokens.clone();
        let router = api::router(store.clone(), opts);
        let served = serve_tls(router, tls, bound)
            .await
            .map_err(|source| KubeServerError::Listen { addr: bound, source })?;
        Ok(KubeApiServer {
            store,
            url: served.url("https"),
            addr: served.addr,
            token,
            tokens,
            ca_pem: ca.cert_pem(),
            served,
        })
    }

    /// The bearer token (a secret: do not log it).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A bearer token for ServiceAccount `namespace/name` (created when missing): requests
    /// with it are authorized by RBAC, as a service account token is on AKS.
    pub fn mint_service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<String, super::ApiError> {
        use super::Kind;
        use serde_json::json;
        if self.store.get(&Kind::Namespace, None, namespace).is_err() {
            let ns = json!({"metadata": {"name": namespace}});
            match self.store.create(&Kind::Namespace, None, ns) {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        let sa = json!({"metadata": {"name": name, "namespace": namespace}});
        match self.store.create(&Kind::ServiceAccount, Some(namespace), sa) {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
        let token = generate_token();
        self.tokens.insert(token.clone(), super::rbac::UserInfo::service_account(namespace, name));
        Ok(token)
    }

    /// Write a kubeconfig for this server with another `token` (mode 0600).
    pub fn write_kubeconfig_with(&self, path: &Path, token: &str) -> Result<(), KubeServerError> {
        write_kubeconfig(path, &self.url, &self.ca_pem, token)
    }

    /// The kubeconfig YAML for this server.
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(&self.url, &self.ca_pem, &self.token)
    }

    /// Write the kubeconfig to `path` (mode 0600).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), KubeServerError> {
        write_kubeconfig(path, &self.url, &self.ca_pem, &self.token)
    }

    /// Stop serving and wait for connections to finish.
    pub async fn shutdown(self) {
        self.served.shutdown().await;
    }
}

/// The Kubernetes side of a running lab: the API emulator (TLS), the kube-state-metrics
/// endpoint (plain HTTP) and the kubeconfig written to the state dir.
pub struct LabKube {
    pub api: KubeApiServer,
    pub metrics: Served,
    pub kubeconfig: std::path::PathBuf,
    /// The workload controllers and the root CA publisher on the API's store.
    pub controllers: super::Controllers,
}

impl std::fmt::Debug for LabKube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabKube")
            .field("api", &self.api.url)
            .field("metrics", &self.metrics.addr)
            .field("kubeconfig", &self.kubeconfig)
            .finish()
    }
}

impl LabKube {
    /// Start both servers on loopback over a fresh store and write
    /// `<state_dir>/kubeconfig`; controllers at time scale 1.
    pub async fn start(ca: &LabCa, state_dir: &Path) -> Result<LabKube, KubeServerError> {
        Self::start_scaled(ca, state_dir, 1.0).await
    }

    /// As `start`, the controllers' durations multiplied by `time_scale`.
    pub async fn start_scaled(
        ca: &LabCa,
        state_dir: &Path,
        time_scale: f64,
    ) -> Result<LabKube, KubeServerError> {
        let store = super::store::Store::new();
        let opts = super::ControllerOptions { time_scale, root_ca_pem: Some(ca.cert_pem()) };
        let controllers = super::Controllers::start(store.clone(), opts);
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback");
        let api = KubeApiServer::start(store.clone(), ca, loopback, ApiOptions::new("")).await?;
        let metrics = crate::metrics::serve(store, loopback)
            .await
            .map_err(|source| KubeServerError::Listen { addr: loopback, source })?;
        let kubeconfig = state_dir.join("kubeconfig");
        api.write_kubeconfig(&kubeconfig)?;
        Ok(LabKube { api, metrics, kubeconfig, controllers })
    }

    /// The object store (the kubelet emulator works on it in-process).
    pub fn store(&self) -> &SharedStore {
        &self.api.store
    }

    /// `http://127.0.0.1:PORT/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("{}/metrics", self.metrics.url("http"))
    }

    /// Variables for `lab.env`.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KUBECONFIG", self.kubeconfig.display().to_string()),
            ("ACR_CHAOS_LAB_KUBE_API", self.api.url.clone()),
            ("ACR_CHAOS_LAB_METRICS_URL", self.metrics_url()),
        ]
    }

    /// Stop both servers.
    pub async fn shutdown(self) {
        drop(self.controllers);
        tokio::join!(self.api.shutdown(), self.metrics.shutdown());
    }
}
