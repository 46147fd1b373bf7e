//! The [`Lab`]: builder and handle of the whole emulated AKS + ACR world.
//!
//! Start order: CA → state → Entra ID + ARM emulators → two real `docker-registry`
//! children (ACR, hub) → ACR front door + private hub (TLS, 127.0.0.1) → probe images
//! pushed → optional containerd (host mapping + CA via `certs.d`) → `<state-dir>/lab.env`.
//! Later parts (Kubernetes API emulator, kubelet emulator) hook in after containerd: see
//! `HOOK:` below. Dropping the handle stops every server and child process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::acr::{self, FrontDoor, Lifetimes};
use crate::containerd::{Containerd, ContainerdError, ContainerdOptions, RegistryHost};
use crate::hub::{self, Hub};
use crate::jwt::TokenSigner;
use crate::knobs::{Knob, KnobError, Knobs};
use crate::oci::{self, OciError, Pusher};
use crate::registry::{Registry, RegistryConfig, RegistryError};
use crate::server::{Served, serve_tls};
use crate::state::{SharedState, State, StateOptions};
use crate::tls::{LabCa, TlsError};
use crate::world::World;

mod facts;
mod runner;
mod seed;
mod support;
mod team;
pub use facts::{LabFacts, LabLogin};
pub use runner::{DOCUMENTED_RBAC_YAML, DOCUMENTED_ROLE_JSON, Runner, RunnerSpec, yaml_documents};
pub use support::{ChaosPrincipal, default_state_dir, load_world, render_env};

/// Issuer of the ACR front door's JWTs (as ACR's own tokens say).
pub const ACR_ISSUER: &str = "Azure Container Registry";
/// Env var overriding the default state dir (`.lab/`).
pub const STATE_DIR_ENV: &str = "ACR_CHAOS_LAB_STATE";

/// Errors starting the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    #[error("world file {path}: {message}")]
    World { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("seeding probe images: {0}")]
    Oci(#[from] OciError),
    #[error(transparent)]
    Containerd(#[from] ContainerdError),
    #[error(transparent)]
    Knob(#[from] KnobError),
    #[error("invalid lab option: {0}")]
    Option(String),
    #[error(transparent)]
    Kube(#[from] crate::kube::KubeServerError),
    #[error(transparent)]
    Kubelet(#[from] crate::kubelet::KubeletError),
    #[error(transparent)]
    Monitoring(#[from] crate::monitoring::MonitoringError),
    #[error("seeding {what}: {source}")]
    Seed {
        what: String,
        #[source]
        source: crate::kube::ApiError,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |source| LabError::Io { path: path.to_path_buf(), source }
}

/// Builder of a [`Lab`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    state_dir: PathBuf,
    world: Option<World>,
    world_file: Option<PathBuf>,
    time_scale: f64,
    propagation_delay: Option<Duration>,
    lro_delay: Option<Duration>,
    lifetimes: Lifetimes,
    hub_token_lifetime: Duration,
    knobs: Vec<(String, Knob)>,
    seed_images: bool,
    containerd: bool,
    kubelet: bool,
    kubelet_profile: Option<String>,
    monitoring: bool,
    listen: IpAddr,
}

impl Default for LabBuilder {
    fn default() -> Self {
        Self {
            state_dir: default_state_dir(),
            world: None,
            world_file: None,
            time_scale: 1.0,
            propagation_delay: None,
            lro_delay: None,
            lifetimes: Lifetimes::default(),
            hub_token_lifetime: Duration::from_secs(300),
            knobs: Vec::new(),
            seed_images: true,
            containerd: false,
            kubelet: false,
            kubelet_profile: None,
            monitoring: false,
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

impl LabBuilder {
    /// The address the Azure side (Entra, ARM, the registry front doors) listens on and
    /// its certificates name, besides `localhost` (default 127.0.0.1). Another address
    /// serves clients outside this host's loopback, e.g. kind nodes (kind/README.md).
    pub fn listen(mut self, ip: IpAddr) -> Self {
        self.listen = ip;
        self
    }
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }
    /// Use this world (default: the shipped `world.default.yaml`).
    pub fn world(mut self, world: World) -> Self {
        self.world = Some(world);
        self
    }
    /// Load the world from a YAML file at start.
    pub fn world_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.world_file = Some(path.into());
        self
    }
    /// 1.0 = real timings; e.g. 0.05 makes propagation and LRO delays 20× shorter.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale;
        self
    }
    /// RBAC propagation delay before `time_scale` (default 30 s, as E's state).
    pub fn propagation_delay(mut self, d: Duration) -> Self {
        self.propagation_delay = Some(d);
        self
    }
    /// ARM long-running operation delay before `time_scale`.
    pub fn lro_delay(mut self, d: Duration) -> Self {
        self.lro_delay = Some(d);
        self
    }
    /// ACR refresh/access token lifetimes (real seconds).
    pub fn token_lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }
    /// A transient-failure knob active from the start.
    pub fn knob(mut self, endpoint: &str, knob: Knob) -> Self {
        self.knobs.push((endpoint.to_string(), knob));
        self
    }
    /// Push the world's probe images (default on).
    pub fn seed_images(mut self, on: bool) -> Self {
        self.seed_images = on;
        self
    }
    /// Also start containerd mapped to the lab's registry hosts (default off).
    pub fn containerd(mut self, on: bool) -> Self {
        self.containerd = on;
        self
    }
    /// Also run the kubelet emulator on the API emulator's store (implies containerd;
    /// default off). Pods get bound to the world's nodes and pull through containerd.
    pub fn with_kubelet(mut self, on: bool) -> Self {
        self.kubelet = on;
        self
    }
    /// The Kubernetes minor the kubelet emulator plays (`1.27`, `1.31`, `1.32`, `1.33`;
    /// default [`crate::kubelet::profile::DEFAULT_PROFILE`]): message wrapping, back-off
    /// message, node credential provider and the `nodeInfo` version follow that release.
    /// An unknown name fails `start` before anything runs.
    pub fn kubelet_profile(mut self, name: impl Into<String>) -> Self {
        self.kubelet_profile = Some(name.into());
        self
    }
    /// Also run real Prometheus + Alertmanager on the shipped alert rules, scraping the
    /// kube-state-metrics endpoint (default off); see [`crate::monitoring`].
    pub fn monitoring(mut self, on: bool) -> Self {
        self.monitoring = on;
        self
    }

    /// Starts everything; ready when it returns.
    #[expect(
        clippy::too_many_lines,
        reason = "wires ~15 servers in dependency order, each a few lines; not split yet"
    )]
    pub async fn start(self) -> Result<Lab, LabError> {
        let began = Instant::now();
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(LabError::Option(format!(
                "time scale must be a positive number (1.0 = real time), got {}",
                self.time_scale
            )));
        }
        let kubelet_profile = match &self.kubelet_profile {
            Some(name) => crate::kubelet::KubeletProfile::named(name)
                .map_err(|e| LabError::Option(format!("kubelet profile: {e}")))?
                .clone(),
            None => crate::kubelet::KubeletProfile::default(),
        };
        let world = match (&self.world_file, self.world.clone()) {
            (Some(path), _) => load_world(path)?,
            (None, Some(w)) => w,
            (None, None) => World::default_world(),
        };
        let team_images = world.team_registry.iter().flat_map(|t| &t.images);
        for image in
            world.registry.images.iter().chain(&world.private_registry.images).chain(team_images)
        {
            oci::split_reference(image).map_err(|e| LabError::World {
                path: self.world_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                message: format!("registry images: {e}"),
            })?;
        }
        let dir = &self.state_dir;
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let dir = dir.canonicalize().map_err(io_err(dir))?;

        // CA.
        let ca = LabCa::generate()?;
        let ca_path = dir.join("ca.pem");
        ca.write_cert(&ca_path)?;

        // State.
        let mut options = StateOptions { time_scale: self.time_scale, ..StateOptions::default() };
        if let Some(d) = self.propagation_delay {
            options.propagation_delay = d;
        }
        if let Some(d) = self.lro_delay {
            options.lro_delay = d;
        }
        let login_server = world.registry.login_server.clone();
        let hub_host = world.private_registry.host.clone();
        let hub_spec = world.private_registry.clone();
        let team_login_server = world.team_registry.as_ref().map(|t| t.login_server.clone());
        let state = State::shared(world, options);
        let knobs = Knobs::new();
        for (endpoint, knob) in self.knobs {
            knobs.set(&endpoint, knob)?;
        }

        // Entra ID + ARM.
        let loopback = SocketAddr::new(self.listen, 0);
        let local_ips = [self.listen];
        let entra_tls =
            ca.rustls_server_config(&["login.microsoftonline.com", "localhost"], &local_ips)?;
        let entra_router =
            crate::knobs::apply(crate::entra::router(state.clone()), &knobs, "entra");
        let entra = serve_tls(entra_router, entra_tls, loopback).await.map_err(io_err(&dir))?;
        let arm_tls =
            ca.rustls_server_config(&["management.azure.com", "localhost"], &local_ips)?;
        let arm_router = crate::knobs::apply(crate::arm::router(state.clone()), &knobs, "arm")
            .merge(crate::knobs::admin_router(knobs.clone()));
        let arm = serve_tls(arm_router, arm_tls, loopback).await.map_err(io_err(&dir))?;

        // Real registries first (in parallel): the front doors proxy to them. Their token
        // realm is the login server's, as ACR's; the front doors rewrite it to the host
        // the client used.
        let acr_signer = Arc::new(TokenSigner::new(&ca, ACR_ISSUER)?);
        let hub_issuer = format!("{hub_host} token service");
        let hub_signer = Arc::new(TokenSigner::new(&ca, &hub_issuer)?);
        let timeout = Duration::from_secs(20);
        let acr_cfg = RegistryConfig {
            dir: dir.join("registry"),
            realm: format!("https://{login_server}/oauth2/token"),
            service: login_server.clone(),
            issuer: ACR_ISSUER.into(),
            signing_cert_pem: acr_signer.cert_pem().to_string(),
            start_timeout: timeout,
        };
        let hub_cfg = RegistryConfig {
            dir: dir.join("hub-registry"),
            realm: format!("https://{hub_host}/token"),
            service: hub_host.clone(),
            issuer: hub_issuer,
            signing_cert_pem: hub_signer.cert_pem().to_string(),
            start_timeout: timeout,
        };
        let team_cfg = team_login_server
            .as_ref()
            .map(|l| team::registry_config(&dir, l, &acr_signer, timeout));
        let team_start = async {
            match &team_cfg {
                Some(cfg) => Registry::start_on_free_port(cfg).await.map(Some),
                None => Ok(None),
            }
        };
        let (registry, hub_registry, team_registry) = tokio::join!(
            Registry::start_on_free_port(&acr_cfg),
            Registry::start_on_free_port(&hub_cfg),
            team_start
        );
        let (registry, hub_registry, team_registry) = (registry?, hub_registry?, team_registry?);

        // Front doors.
        let fd = FrontDoor::new(
            state.clone(),
            acr_signer.clone(),
            self.lifetimes.clone(),
            registry.addr(),
        );
        let acr_tls = ca.rustls_server_config(&[&login_server, "localhost"], &local_ips)?;
        let acr =
            serve_tls(acr::router(fd, &knobs), acr_tls, loopback).await.map_err(io_err(&dir))?;
        let hub_router = hub::router(
            Hub::new(hub_spec, hub_signer.clone(), self.hub_token_lifetime, hub_registry.addr()),
            &knobs,
        );
        let hub_tls = ca.rustls_server_config(&[&hub_host, "localhost"], &local_ips)?;
        let hub = serve_tls(hub_router, hub_tls, loopback).await.map_err(io_err(&dir))?;
        let team = match team_registry {
            Some(r) => {
                let (signer, lifetimes) = (&acr_signer, &self.lifetimes);
                team::serve(
                    &state,
                    signer,
                    lifetimes,
                    &knobs,
                    &ca,
                    (&dir, loopback),
                    r,
                    self.seed_images,
                )
                .await?
            }
            None => None,
        };
        {
            let mut st = state.write();
            st.arm_base_url = Some(format!("https://{}", arm.addr));
            st.authority_host = Some(format!("https://{}", entra.addr));
            // An NSG outbound deny towards the registries cuts every ACR, as the
            // `AzureContainerRegistry` service tag does.
            st.registry_ports = std::iter::once(acr.addr)
                .chain(team.as_ref().map(|t| t.served.addr))
                .map(|a| a.port())
                .collect();
            st.registry_ip = self.listen;
        }

        // Probe images.
        if self.seed_images {
            let (acr_images, hub_images) = {
                let st = state.read();
                let mut hub_images = st.world.private_registry.images.clone();
                hub_images.extend(hub::PUBLIC_IMAGES.iter().map(|i| i.to_string()));
                (st.world.registry.images.clone(), hub_images)
            };
            let (acr_pusher, hub_pusher) =
                (Pusher::new(registry.addr()), Pusher::new(hub_registry.addr()));
            let acr_push = oci::seed(&acr_pusher, &acr_signer, &login_server, &acr_images);
            let hub_push = oci::seed(&hub_pusher, &hub_signer, &hub_host, &hub_images);
            let (a, h) = tokio::join!(acr_push, hub_push);
            a?;
            h?;
        }

        // containerd (the kubelet emulator's runtime), optional here.
        let containerd = if self.containerd || self.kubelet {
            let mut opts = ContainerdOptions::new(&dir)
                .host(RegistryHost {
                    host: login_server.clone(),
                    endpoint: format!("https://{}", acr.addr),
                    ca_file: Some(ca_path.clone()),
                    plain_http: false,
                })
                .host(RegistryHost {
                    host: hub_host.clone(),
                    endpoint: format!("https://{}", hub.addr),
                    ca_file: Some(ca_path.clone()),
                    plain_http: false,
                });
            if let Some(t) = &team {
                opts = opts.host(RegistryHost {
                    host: t.login_server.clone(),
                    endpoint: format!("https://{}", t.served.addr),
                    ca_file: Some(ca_path.clone()),
                    plain_http: false,
                });
            }
            Some(Containerd::start(opts).await?)
        } else {
            None
        };
        // HOOK: Kubernetes API emulator and kubelet emulator start here (they need `state`,
        // `ca`, `containerd`); add their handles as fields and their variables to `env_vars`.
        let kube = crate::kube::LabKube::start_scaled(&ca, &dir, self.time_scale).await?;
        state.write().cluster_user_kubeconfig = Some(kube.api.kubeconfig());
        let kubelet = match (&containerd, self.kubelet) {
            (Some(ctd), true) => {
                let world = state.read().world.clone();
                let mut front_doors: std::collections::HashMap<String, String> =
                    [(login_server.clone(), format!("https://{}", acr.addr))].into();
                if let Some(t) = &team {
                    front_doors
                        .insert(t.login_server.clone(), format!("https://{}", t.served.addr));
                }
                let authority = format!("https://{}", entra.addr);
                let (store, ca_pem) = (kube.store().clone(), ca.cert_pem());
                let k = crate::kubelet::Kubelet::start_in_lab(
                    store,
                    ctd,
                    &world,
                    self.time_scale,
                    kubelet_profile.clone(),
                    &authority,
                    front_doors,
                    &ca_pem,
                );
                Some(k.await?)
            }
            _ => None,
        };
        let monitoring = if self.monitoring {
            let opts = crate::monitoring::MonitoringOptions::new(
                dir.join("monitoring"),
                kube.metrics.addr,
                self.time_scale,
            );
            Some(crate::monitoring::Monitoring::start(opts).await?)
        } else {
            None
        };

        let lab = Lab {
            kubelet_profile: kubelet.as_ref().map(|_| kubelet_profile),
            state,
            knobs,
            ca,
            ca_path,
            state_dir: dir,
            login_server,
            hub_host,
            acr_signer,
            monitoring,
            kubelet,
            containerd,
            kube,
            team,
            registry,
            hub_registry,
            acr,
            hub,
            arm,
            entra,
            started_in: began.elapsed(),
        };
        lab.write_env()?;
        tracing::info!(started_in = ?lab.started_in, registry = %lab.registry_url(), "lab ready");
        Ok(lab)
    }
}

/// A running lab. Dropping it stops every server and child process.
pub struct Lab {
    /// The emulated Azure world (mutable at run time, as ARM does).
    pub(crate) state: SharedState,
    /// Transient-failure knobs (also at `POST /_lab/knobs` on the ARM endpoint).
    #[cfg_attr(not(feature = "testing"), expect(dead_code, reason = "read by tests only"))]
    pub(crate) knobs: Knobs,
    ca: LabCa,
    ca_path: PathBuf,
    state_dir: PathBuf,
    login_server: String,
    hub_host: String,
    #[cfg_attr(not(feature = "testing"), expect(dead_code, reason = "read by tests only"))]
    acr_signer: Arc<TokenSigner>,
    // Field order = drop order: kubelet, containerd, then the registries, then servers.
    monitoring: Option<crate::monitoring::Monitoring>,
    kubelet: Option<crate::kubelet::Kubelet>,
    kubelet_profile: Option<crate::kubelet::KubeletProfile>,
    containerd: Option<Containerd>,
    kube: crate::kube::LabKube,
    team: Option<team::Team>,
    registry: Registry,
    hub_registry: Registry,
    acr: Served,
    hub: Served,
    arm: Served,
    entra: Served,
    started_in: Duration,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("state_dir", &self.state_dir)
            .field("registry", &self.acr.addr)
            .field("hub", &self.hub.addr)
            .field("arm", &self.arm.addr)
            .field("entra", &self.entra.addr)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// The emulated Azure world, for tests that look behind the APIs.
    #[cfg(feature = "testing")]
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// Transient-failure knobs (also at `POST /_lab/knobs` on the ARM endpoint).
    #[cfg(feature = "testing")]
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }

    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    /// Time from `start()` to ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
    /// PEM file of the lab CA (`ACR_CHAOS_LAB_CA`).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }
    #[cfg(feature = "testing")]
    pub fn ca(&self) -> &LabCa {
        &self.ca
    }
    /// rustls client config trusting the lab CA.
    pub fn rustls_client_config(&self) -> Arc<rustls::ClientConfig> {
        self.ca.rustls_client_config()
    }
    /// The registry login server, e.g. `acrchaoslab.azurecr.io`.
    pub fn login_server(&self) -> &str {
        &self.login_server
    }
    /// `https://127.0.0.1:port` of the ACR front door.
    pub fn registry_url(&self) -> String {
        self.acr.url("https")
    }
    pub fn registry_addr(&self) -> SocketAddr {
        self.acr.addr
    }
    /// The private hub's host name (`registry.hub.lab`) and `https://127.0.0.1:port`.
    pub fn hub_host(&self) -> &str {
        &self.hub_host
    }
    pub fn hub_url(&self) -> String {
        self.hub.url("https")
    }
    /// `(host name in image references, where it really listens)` for every registry host.
    pub fn registry_hosts(&self) -> Vec<(String, SocketAddr)> {
        let mut hosts = vec![
            (self.login_server.clone(), self.acr.addr),
            (self.hub_host.clone(), self.hub.addr),
        ];
        hosts.extend(self.team.as_ref().map(|t| (t.login_server.clone(), t.served.addr)));
        hosts
    }
    /// The team registry's login server (`acrchaosteam.azurecr.io`), when the world has one.
    pub fn team_login_server(&self) -> Option<&str> {
        self.team.as_ref().map(|t| t.login_server.as_str())
    }
    /// `https://127.0.0.1:port` of the team registry's front door.
    pub fn team_registry_url(&self) -> Option<String> {
        self.team.as_ref().map(|t| t.served.url("https"))
    }
    /// The team registry's ARM id, when the world has one.
    pub fn team_registry_id(&self) -> Option<String> {
        self.state.read().world.registry_id_of(crate::world::RegistryRef::Team)
    }
    /// ARM endpoint (`https://127.0.0.1:port`).
    pub fn arm_endpoint(&self) -> String {
        self.arm.url("https")
    }
    /// Entra authority host (`https://127.0.0.1:port`).
    pub fn authority_host(&self) -> String {
        self.entra.url("https")
    }
    /// The plain-HTTP address of the ACR registry process (tests, tooling).
    pub fn registry_backend(&self) -> SocketAddr {
        self.registry.addr()
    }
    pub fn registry_pids(&self) -> Vec<u32> {
        let team = self.team.as_ref().and_then(|t| t.registry.pid());
        self.registry.pid().into_iter().chain(self.hub_registry.pid()).chain(team).collect()
    }
    /// The ACR token signer (issue tokens in tests and benches).
    #[cfg(feature = "testing")]
    pub fn acr_signer(&self) -> &TokenSigner {
        &self.acr_signer
    }
    /// The Kubernetes API emulator, its store, metrics endpoint and kubeconfig.
    #[cfg(feature = "testing")]
    pub fn kube(&self) -> &crate::kube::LabKube {
        &self.kube
    }
    #[cfg(feature = "testing")]
    pub fn containerd(&self) -> Option<&Containerd> {
        self.containerd.as_ref()
    }
    /// Prometheus + Alertmanager, when started with `monitoring(true)`.
    #[cfg(feature = "testing")]
    pub fn monitoring(&self) -> Option<&crate::monitoring::Monitoring> {
        self.monitoring.as_ref()
    }
    /// The kubelet emulator, when started with `with_kubelet(true)`.
    #[cfg(feature = "testing")]
    pub fn kubelet(&self) -> Option<&crate::kubelet::Kubelet> {
        self.kubelet.as_ref()
    }
    /// The release the kubelet emulator plays, when it runs.
    pub fn kubelet_profile(&self) -> Option<&crate::kubelet::KubeletProfile> {
        self.kubelet_profile.as_ref()
    }
    pub fn tenant_id(&self) -> String {
        self.state.read().world.tenant_id.clone()
    }
    pub fn subscription_id(&self) -> String {
        self.state.read().world.subscription_id.clone()
    }
    pub fn registry_id(&self) -> String {
        self.state.read().world.registry_id()
    }
    pub fn cluster_id(&self) -> String {
        self.state.read().world.cluster_id()
    }

    /// The principal allowed to run chaos (see [`support::find_chaos_principal`]).
    pub fn chaos_principal(&self) -> Option<ChaosPrincipal> {
        support::find_chaos_principal(&self.state.read())
    }

    /// The variables `lab.env` holds, in order.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let principal = self.chaos_principal();
        let mut vars = vec![
            ("ACR_CHAOS_LAB_STATE", self.state_dir.display().to_string()),
            ("ACR_CHAOS_LAB_CA", self.ca_path.display().to_string()),
            ("ACR_CHAOS_LAB_REGISTRY", self.login_server.clone()),
            ("ACR_CHAOS_LAB_REGISTRY_URL", self.registry_url()),
            ("ACR_CHAOS_LAB_HUB", self.hub_host.clone()),
            ("ACR_CHAOS_LAB_HUB_URL", self.hub_url()),
            ("ACR_CHAOS_LAB_ARM_ENDPOINT", self.arm_endpoint()),
            ("ACR_CHAOS_LAB_AUTHORITY_HOST", self.authority_host()),
            ("ACR_CHAOS_LAB_TENANT_ID", self.tenant_id()),
            ("ACR_CHAOS_LAB_SUBSCRIPTION_ID", self.subscription_id()),
            (
                "ACR_CHAOS_LAB_CLIENT_ID",
                principal.as_ref().map(|p| p.client_id.clone()).unwrap_or_default(),
            ),
            ("ACR_CHAOS_LAB_CLIENT_SECRET", principal.map(|p| p.secret).unwrap_or_default()),
            ("ACR_CHAOS_LAB_REGISTRY_ID", self.registry_id()),
            ("ACR_CHAOS_LAB_CLUSTER_ID", self.cluster_id()),
        ];
        if let (Some(host), Some(url)) = (self.team_login_server(), self.team_registry_url()) {
            vars.push(("ACR_CHAOS_LAB_TEAM_REGISTRY", host.to_string()));
            vars.push(("ACR_CHAOS_LAB_TEAM_REGISTRY_URL", url));
            vars.push((
                "ACR_CHAOS_LAB_TEAM_REGISTRY_ID",
                self.team_registry_id().unwrap_or_default(),
            ));
        }
        if let Some(c) = &self.containerd {
            vars.push(("ACR_CHAOS_LAB_CONTAINERD_SOCKET", c.socket().display().to_string()));
        }
        vars.extend(self.kube.env_vars());
        if let Some(p) = &self.kubelet_profile {
            vars.push((crate::kubelet::profile::PROFILE_ENV, p.name.to_string()));
            vars.push(("ACR_CHAOS_LAB_KUBELET_VERSION", p.kubelet_version.to_string()));
        }
        if let Some(m) = &self.monitoring {
            vars.extend(m.env_vars());
        }
        vars
    }

    /// Writes `<state-dir>/lab.env` (mode 0600: it holds the lab's fake client secret).
    pub fn write_env(&self) -> Result<PathBuf, LabError> {
        let path = self.state_dir.join("lab.env");
        let text = render_env(&self.env_vars());
        std::fs::write(&path, text).map_err(io_err(&path))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(&path))?;
        Ok(path)
    }

    /// Stops everything now (the same happens on drop) and waits for the servers.
    pub async fn stop(mut self) {
        if let Some(m) = self.monitoring.take() {
            m.stop().await;
        }
        drop(self.kubelet.take());
        if let Some(mut c) = self.containerd.take() {
            c.stop();
        }
        self.registry.stop();
        self.hub_registry.stop();
        let team = self.team.take().map(|mut t| {
            t.registry.stop();
            t.served
        });
        let Lab { acr, hub, arm, entra, kube, .. } = self;
        tokio::join!(
            async {
                if let Some(t) = team {
                    t.shutdown().await
                }
            },
            acr.shutdown(),
            hub.shutdown(),
            arm.shutdown(),
            entra.shutdown(),
            kube.shutdown()
        );
    }
}
