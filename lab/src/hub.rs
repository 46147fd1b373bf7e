//! A second registry host playing a private repository on a public registry
//! (`privateRegistry.host` in the world, e.g. `registry.hub.lab`). It has its own
//! docker-registry process and token service: anonymous callers get a token WITHOUT pull
//! access on the private repositories, so the real registry answers
//! `insufficient_scope` (containerd: `insufficient_scope: authorization failed`); the
//! world's basic-auth user gets pull (and push) access.
//!
//! Knob endpoints: `hub-token` (`/token`), `hub` (`/v2/*`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, Request, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderMap, StatusCode, header};

use crate::acr::proxy::{self, UpstreamClient};
use crate::acr::token::Scope;
use crate::jwt::{Access, TokenSigner};
use crate::knobs::Knobs;
use crate::world::PrivateRegistrySpec;

/// Public images the lab also seeds on the hub: anonymous callers may pull them, which
/// shows that the private repositories are refused by scope, not by a blanket rule.
pub const PUBLIC_IMAGES: [&str; 1] = ["library/probe:latest"];

/// Docker-Hub-like 401 body.
pub const UNAUTHORIZED_BODY: &str =
    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;

/// Handler state of the hub.
#[derive(Clone)]
pub struct Hub {
    spec: Arc<PrivateRegistrySpec>,
    private_repos: Arc<Vec<String>>,
    signer: Arc<TokenSigner>,
    token_lifetime: Duration,
    upstream: SocketAddr,
    client: UpstreamClient,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("host", &self.spec.host).finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(
        spec: PrivateRegistrySpec,
        signer: Arc<TokenSigner>,
        token_lifetime: Duration,
        upstream: SocketAddr,
    ) -> Hub {
        let private_repos = spec
            .images
            .iter()
            .filter_map(|r| r.rsplit_once(':').map(|(repo, _)| repo.to_string()))
            .collect();
        Hub {
            spec: Arc::new(spec),
            private_repos: Arc::new(private_repos),
            signer,
            token_lifetime,
            upstream,
            client: proxy::upstream_client(),
        }
    }

    pub fn host(&self) -> &str {
        &self.spec.host
    }

    fn is_private(&self, repo: &str) -> bool {
        self.private_repos.iter().any(|r| r == repo)
    }

    /// Whether the Authorization header carries the world's user; `Err` on wrong credentials.
    fn authenticate(&self, headers: &HeaderMap) -> Result<bool, ()> {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(false) };
        use base64::Engine as _;
        let decoded = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(())?;
        let (user, pass) = decoded.split_once(':').ok_or(())?;
        if user == self.spec.username && pass == self.spec.password { Ok(true) } else { Err(()) }
    }

    /// Actions granted: anonymous → pull on non-private repositories only; the user → all
    /// requested actions on every repository.
    pub fn authorize(&self, authenticated: bool, scopes: &[Scope]) -> Vec<Access> {
        scopes
            .iter()
            .filter(|s| s.kind == "repository")
            .filter_map(|s| {
                let actions: Vec<String> = s
                    .actions
                    .iter()
                    .filter(|a| {
                        authenticated || (a.as_str() == "pull" && !self.is_private(&s.name))
                    })
                    .cloned()
                    .collect();
                (!actions.is_empty()).then(|| Access {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    actions,
                })
            })
            .collect()
    }
}

async fn token(
    AxState(hub): AxState<Hub>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(authenticated) = hub.authenticate(&headers) else {
        tracing::debug!(host = hub.host(), "hub token: wrong credentials");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            UNAUTHORIZED_BODY,
        )
            .into_response();
    };
    let mut scopes = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if k == "scope" {
            scopes.extend(v.split(' ').filter_map(Scope::parse));
        }
    }
    let access = hub.authorize(authenticated, &scopes);
    let subject = if authenticated { hub.spec.username.as_str() } else { "" };
    let token = hub.signer.access_token(
        &hub.spec.host,
        subject,
        access,
        hub.token_lifetime.as_secs() as i64,
    );
    Json(serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": hub.token_lifetime.as_secs(),
        "issued_at": chrono::Utc::now().to_rfc3339(),
    }))
    .into_response()
}

async fn v2(AxState(hub): AxState<Hub>, req: Request) -> Response {
    proxy::forward(&hub.client, hub.upstream, req, "/token", UNAUTHORIZED_BODY).await
}

/// The hub's routes (`GET /token`, `/v2/*`), with knobs applied. The registry's realm
/// is `https://<host>/token`.
pub fn router(hub: Hub, knobs: &Knobs) -> Router {
    let tokens = Router::new().route("/token", get(token)).with_state(hub.clone());
    let registry = Router::new()
        .route("/v2", any(v2))
        .route("/v2/", any(v2))
        .route("/v2/{*rest}", any(v2))
        .with_state(hub);
    crate::knobs::apply(tokens, knobs, "hub-token")
        .merge(crate::knobs::apply(registry, knobs, "hub"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::LabCa;

    #[test]
    fn anonymous_gets_no_pull_on_private_repos() {
        let ca = LabCa::generate().unwrap();
        let signer = Arc::new(TokenSigner::new(&ca, "hub").unwrap());
        let spec = PrivateRegistrySpec {
            host: "registry.hub.lab".into(),
            images: vec!["acme/private-app:1.0".into()],
            username: "u".into(),
            password: "p".into(),
        };
        let hub = Hub::new(spec, signer, Duration::from_secs(60), "127.0.0.1:1".parse().unwrap());
        let scopes = [Scope::parse("repository:acme/private-app:pull").unwrap()];
        assert!(hub.authorize(false, &scopes).is_empty());
        assert_eq!(hub.authorize(true, &scopes)[0].actions, ["pull"]);
        let public = [Scope::parse("repository:library/busybox:pull,push").unwrap()];
        assert_eq!(hub.authorize(false, &public)[0].actions, ["pull"]);
    }
}
