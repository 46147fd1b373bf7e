//! The world's team registry (`teamRegistry`): a second ACR the cluster is NOT attached
//! to, served like the main one by its own real `docker-registry` child behind its own
//! ACR front door (TLS, 127.0.0.1). It shares the ACR token signer, but its tokens, role
//! scope and login server are its own, so the kubelet identity's exchange is refused
//! there and only a pod's pull secret (an ACR token) pulls from it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{ACR_ISSUER, LabError, io_err};
use crate::acr::{self, FrontDoor, Lifetimes};
use crate::jwt::TokenSigner;
use crate::knobs::Knobs;
use crate::registry::{Registry, RegistryConfig};
use crate::server::{Served, serve_tls};
use crate::state::SharedState;
use crate::tls::LabCa;

/// A running team registry.
pub(super) struct Team {
    pub login_server: String,
    // Field order = drop order: the registry child before the server.
    pub registry: Registry,
    pub served: Served,
}

/// The registry config of the team registry with `login_server`, under `dir`.
pub(super) fn registry_config(
    dir: &Path,
    login_server: &str,
    signer: &TokenSigner,
    start_timeout: Duration,
) -> RegistryConfig {
    RegistryConfig {
        dir: dir.join("team-registry"),
        realm: format!("https://{login_server}/oauth2/token"),
        service: login_server.to_string(),
        issuer: ACR_ISSUER.into(),
        signing_cert_pem: signer.cert_pem().to_string(),
        start_timeout,
    }
}

/// Serve the team registry's front door for the started `registry` and push its images.
#[expect(
    clippy::too_many_arguments,
    reason = "start-up wiring: the lab-wide pieces the team front door is built on"
)]
pub(super) async fn serve(
    state: &SharedState,
    signer: &Arc<TokenSigner>,
    lifetimes: &Lifetimes,
    knobs: &Knobs,
    ca: &LabCa,
    (dir, listen): (&Path, SocketAddr),
    registry: Registry,
    seed_images: bool,
) -> Result<Option<Team>, LabError> {
    let Some(fd) =
        FrontDoor::team(state.clone(), signer.clone(), lifetimes.clone(), registry.addr())
    else {
        return Ok(None);
    };
    let login_server = fd.login_server().to_string();
    let tls = ca.rustls_server_config(&[&login_server, "localhost"], &[listen.ip()])?;
    let served = serve_tls(acr::router(fd, knobs), tls, listen).await.map_err(io_err(dir))?;
    if seed_images {
        let images =
            state.read().world.team_registry.as_ref().map(|t| t.images.clone()).unwrap_or_default();
        let pusher = crate::oci::Pusher::new(registry.addr());
        crate::oci::seed(&pusher, signer, &login_server, &images).await?;
    }
    Ok(Some(Team { login_server, registry, served }))
}
