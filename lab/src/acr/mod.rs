//! The ACR front door (TLS): ACR's token service (`/oauth2/exchange`, `/oauth2/token`)
//! deciding from the lab [`State`](crate::state::State) (role assignments with propagation
//! delay, repository-scoped tokens), the registry firewall (`publicNetworkAccess`,
//! `networkRuleSet` on the client IP, `403 DENIED` on `/v2/` and `/oauth2/*`), and a
//! streaming proxy of `/v2/*` to the real registry, which verifies the JWTs itself.
//!
//! Knob endpoints: `acr-token` (`/oauth2/*`), `registry` (`/v2/*`).

pub mod bench;
pub mod proxy;
pub mod token;

pub use bench::bench_token_grants;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::{StatusCode, header};

use crate::jwt::TokenSigner;
use crate::knobs::Knobs;
use crate::state::SharedState;
use crate::world::RegistryRef;

/// ACR's 401 body.
pub const UNAUTHORIZED_BODY: &str = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit https://aka.ms/acr/authorization for more information."}]}"#;

/// ACR's firewall 403 body for `ip` (`'` arrives JSON-escaped as `\u0027`).
pub fn denied_body(ip: IpAddr) -> String {
    format!(
        r#"{{"errors":[{{"code":"DENIED","message":"client with IP \u0027{ip}\u0027 is not allowed access. Refer https://aka.ms/acr/firewall to grant access."}}]}}"#
    )
}

/// Token lifetimes (real seconds: the registry checks `exp` against the wall clock).
#[derive(Debug, Clone)]
pub struct Lifetimes {
    /// ACR refresh tokens from `/oauth2/exchange` (Azure: 3 hours).
    pub refresh_token: Duration,
    /// Registry access tokens from `/oauth2/token` (Azure: 75 minutes).
    pub access_token: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            refresh_token: Duration::from_secs(3 * 3600),
            access_token: Duration::from_secs(4500),
        }
    }
}

/// Shared state of the front door's handlers.
#[derive(Clone)]
pub struct FrontDoor {
    pub(crate) state: SharedState,
    pub(crate) signer: Arc<TokenSigner>,
    pub(crate) login_server: Arc<str>,
    pub(crate) lifetimes: Lifetimes,
    pub(crate) upstream: SocketAddr,
    pub(crate) client: proxy::UpstreamClient,
    /// Which of the world's registries this front door serves.
    pub(crate) registry: RegistryRef,
}

impl std::fmt::Debug for FrontDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontDoor")
            .field("login_server", &self.login_server)
            .field("upstream", &self.upstream)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl FrontDoor {
    /// `upstream` is the plain-HTTP registry; `signer` must be the key its
    /// `rootcertbundle` trusts.
    pub fn new(
        state: SharedState,
        signer: Arc<TokenSigner>,
        lifetimes: Lifetimes,
        upstream: SocketAddr,
    ) -> FrontDoor {
        let login_server: Arc<str> = state.read().world.registry.login_server.clone().into();
        FrontDoor {
            state,
            signer,
            login_server,
            lifetimes,
            upstream,
            client: proxy::upstream_client(),
            registry: RegistryRef::Main,
        }
    }

    /// The front door of the world's team registry (`None` when the world has none).
    pub fn team(
        state: SharedState,
        signer: Arc<TokenSigner>,
        lifetimes: Lifetimes,
        upstream: SocketAddr,
    ) -> Option<FrontDoor> {
        let login_server: Arc<str> =
            state.read().world.team_registry.as_ref()?.login_server.clone().into();
        Some(FrontDoor {
            state,
            signer,
            login_server,
            lifetimes,
            upstream,
            client: proxy::upstream_client(),
            registry: RegistryRef::Team,
        })
    }

    pub fn login_server(&self) -> &str {
        &self.login_server
    }
}

/// The client address of a request (`ConnectInfo`), loopback when absent (in-process tests).
pub fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The registry firewall. It guards `/oauth2/*` and every `/v2/*` request that carries
/// credentials; an anonymous `/v2/*` request still gets the `401` challenge, so clients
/// meet the `403` at the token endpoint, as containerd reports it against real ACR
/// (`failed to fetch anonymous token: unexpected status: 403 Forbidden`).
async fn firewall(AxState(fd): AxState<FrontDoor>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/v2") && !req.headers().contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let ip = client_ip(&req);
    // `network_allows` reads the effective settings (pending ARM updates that are due
    // included), so a read lock is enough on this hot path.
    let verdict = fd.state.read().network_allows_in(fd.registry, ip);
    match verdict {
        Ok(()) => next.run(req).await,
        Err(reason) => {
            tracing::debug!(%ip, %reason, path = req.uri().path(), "registry firewall denied");
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                denied_body(ip),
            )
                .into_response()
        }
    }
}

async fn v2(AxState(fd): AxState<FrontDoor>, req: Request) -> Response {
    proxy::forward(&fd.client, fd.upstream, req, "/oauth2/token", UNAUTHORIZED_BODY).await
}

/// The front door's routes, with knobs and the firewall applied.
pub fn router(fd: FrontDoor, knobs: &Knobs) -> Router {
    let tokens = Router::new()
        .route("/oauth2/exchange", post(token::exchange))
        .route("/oauth2/token", get(token::token_get).post(token::token_post))
        .with_state(fd.clone());
    let registry = Router::new()
        .route("/v2", any(v2))
        .route("/v2/", any(v2))
        .route("/v2/{*rest}", any(v2))
        .with_state(fd.clone());
    crate::knobs::apply(tokens, knobs, "acr-token")
        .merge(crate::knobs::apply(registry, knobs, "registry"))
        .layer(axum::middleware::from_fn_with_state(fd, firewall))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_body_escapes_quotes_like_acr() {
        let body = denied_body("10.1.2.3".parse().unwrap());
        assert!(
            body.contains(r"client with IP \u002710.1.2.3\u0027 is not allowed access"),
            "{body}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["errors"][0]["code"], "DENIED");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("'10.1.2.3'"));
    }
}
