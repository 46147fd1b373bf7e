//! ACR's token service: `POST /oauth2/exchange` (Entra access token → ACR refresh token),
//! `GET /oauth2/token` (Basic auth: ACR token name + password, service principal
//! appId + secret, or the null GUID + an ACR refresh token; anonymous is refused as on a
//! registry without anonymous pull) and `POST /oauth2/token` (`grant_type=refresh_token`;
//! `grant_type=password` answers 400 like ACR, and containerd then falls back to `GET`).
//!
//! The exchange refuses identities without a pull-capable role on the registry.
//! Authorization is decided again when the access token is requested: role assignments at the
//! registry scope (inherited, after the propagation delay) for principals, the token's
//! repositories, status and password expiry for ACR tokens. Tokens already issued stay
//! valid until they expire (the registry checks `exp`), as on Azure.

use axum::extract::{RawQuery, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

use super::{FrontDoor, UNAUTHORIZED_BODY};
use crate::jwt::Access;
use crate::state::State;
use crate::world::RegistryRef;

/// The username that marks the password as an ACR refresh token.
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// Entra audiences ACR accepts on `/oauth2/exchange`.
pub const EXCHANGE_AUDIENCES: [&str; 3] = [
    "https://management.azure.com/",
    "https://management.core.windows.net/",
    "https://containerregistry.azure.net/",
];

/// Who asks for a registry token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    /// An Entra principal (object id), via refresh token or appId + secret.
    Principal {
        object_id: String,
    },
    /// An ACR repository-scoped token that authenticated with its password.
    Token {
        name: String,
    },
}

/// Why a token request is refused (never carries a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenyError {
    #[error("anonymous pull is not enabled on this registry")]
    Anonymous,
    #[error("malformed Authorization header")]
    MalformedAuthorization,
    #[error("credentials refused: {0}")]
    BadCredentials(String),
    #[error("no pull/push permission on any requested scope")]
    NoPermission,
}

/// A parsed `type:name:actions` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let actions = actions.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect();
        Some(Scope { kind: kind.to_string(), name: name.to_string(), actions })
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        UNAUTHORIZED_BODY,
    )
        .into_response()
}

fn bad_request(code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors":[{"code": code, "message": message}]});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Authenticates Basic credentials against the state.
pub fn authenticate_basic(
    st: &State,
    fd: &FrontDoor,
    user: &str,
    password: &str,
) -> Result<Caller, DenyError> {
    if user == NULL_GUID {
        let claims = fd
            .signer
            .verify_refresh(password, &fd.login_server)
            .map_err(|e| DenyError::BadCredentials(e.to_string()))?;
        return Ok(Caller::Principal { object_id: claims.sub });
    }
    if let Some(p) = st.principal_by_client_id(user) {
        let secret_ok = p
            .secret
            .as_deref()
            .is_some_and(|s| s.len() == password.len() && s.as_bytes() == password.as_bytes());
        if !secret_ok {
            return Err(DenyError::BadCredentials(format!("invalid secret for client '{user}'")));
        }
        if p.secret_expires.is_some_and(|exp| st.clock.utc_now() >= exp) {
            return Err(DenyError::BadCredentials(format!("secret of client '{user}' expired")));
        }
        return Ok(Caller::Principal { object_id: p.object_id.clone() });
    }
    st.authenticate_token_in(fd.registry, user, password)
        .map(|t| Caller::Token { name: t.name.clone() })
        .map_err(|e| DenyError::BadCredentials(e.to_string()))
}

/// The actions `caller` gets on each requested scope (empty scopes are dropped).
pub fn authorize(
    st: &State,
    registry: RegistryRef,
    caller: &Caller,
    scopes: &[Scope],
) -> Vec<Access> {
    let mut out = Vec::new();
    for scope in scopes {
        let granted: Vec<String> = scope
            .actions
            .iter()
            .filter(|action| match (caller, scope.kind.as_str(), action.as_str()) {
                (Caller::Anonymous, _, _) => false,
                (Caller::Principal { object_id }, "repository", "pull") => {
                    st.can_pull_in(registry, object_id)
                }
                (Caller::Principal { object_id }, "repository", "push" | "delete" | "*") => {
                    st.can_push_in(registry, object_id)
                }
                (Caller::Principal { object_id }, "registry", _) => {
                    st.can_pull_in(registry, object_id)
                }
                (Caller::Token { name }, "repository", "pull") => {
                    st.token_in(registry, name).is_some_and(|t| t.allows_repository(&scope.name))
                }
                _ => false,
            })
            .cloned()
            .collect();
        if !granted.is_empty() {
            out.push(Access {
                kind: scope.kind.clone(),
                name: scope.name.clone(),
                actions: granted,
            });
        }
    }
    out
}

fn parse_basic(headers: &HeaderMap) -> Result<Option<(String, String)>, DenyError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| DenyError::MalformedAuthorization)?;
    let (scheme, encoded) = value.split_once(' ').ok_or(DenyError::MalformedAuthorization)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(DenyError::MalformedAuthorization);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| DenyError::MalformedAuthorization)?;
    let decoded = String::from_utf8(decoded).map_err(|_| DenyError::MalformedAuthorization)?;
    let (user, pass) = decoded.split_once(':').ok_or(DenyError::MalformedAuthorization)?;
    Ok(Some((user.to_string(), pass.to_string())))
}

/// Issues an access token for `caller` and `scopes`, or refuses.
pub fn grant(
    fd: &FrontDoor,
    caller: Result<Caller, DenyError>,
    scopes: &[Scope],
) -> Result<String, DenyError> {
    let caller = caller?;
    if caller == Caller::Anonymous {
        return Err(DenyError::Anonymous);
    }
    let st = fd.state.read();
    let access = authorize(&st, fd.registry, &caller, scopes);
    drop(st);
    if !scopes.is_empty() && access.is_empty() {
        return Err(DenyError::NoPermission);
    }
    let subject = match &caller {
        Caller::Principal { object_id } => object_id.clone(),
        Caller::Token { name } => name.clone(),
        Caller::Anonymous => String::new(),
    };
    Ok(fd.signer.access_token(
        &fd.login_server,
        &subject,
        access,
        fd.lifetimes.access_token.as_secs() as i64,
    ))
}

fn answer(result: Result<String, DenyError>, path: &str) -> Response {
    match result {
        Ok(token) => Json(serde_json::json!({ "access_token": token })).into_response(),
        Err(reason) => {
            tracing::debug!(%reason, path, "ACR token request refused");
            unauthorized()
        }
    }
}

/// `GET /oauth2/token?service=…&scope=…` (scope may repeat).
pub async fn token_get(
    AxState(fd): AxState<FrontDoor>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut scopes = Vec::new();
    let mut service = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "scope" => scopes.extend(v.split(' ').filter_map(Scope::parse)),
            "service" => service = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(s) = &service
        && !s.eq_ignore_ascii_case(&fd.login_server)
    {
        return bad_request("INVALID_SERVICE", &format!("service must be '{}'", fd.login_server));
    }
    let caller = match parse_basic(&headers) {
        Ok(None) => Ok(Caller::Anonymous),
        Ok(Some((user, pass))) => {
            let st = fd.state.read();
            authenticate_basic(&st, &fd, &user, &pass)
        }
        Err(e) => Err(e),
    };
    answer(grant(&fd, caller, &scopes), "GET /oauth2/token")
}

/// Form of `POST /oauth2/token`.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `POST /oauth2/token` (`grant_type=refresh_token`).
pub async fn token_post(AxState(fd): AxState<FrontDoor>, Form(form): Form<TokenForm>) -> Response {
    match form.grant_type.as_str() {
        "refresh_token" => {}
        "password" => {
            return bad_request(
                "UNSUPPORTED_GRANT_TYPE",
                "grant_type 'password' is not supported; use GET with Basic auth",
            );
        }
        other => {
            return bad_request(
                "UNSUPPORTED_GRANT_TYPE",
                &format!("grant_type '{other}' is not supported; expected 'refresh_token'"),
            );
        }
    }
    let service = form.service.as_deref().unwrap_or(&fd.login_server);
    if !service.eq_ignore_ascii_case(&fd.login_server) {
        return bad_request("INVALID_SERVICE", &format!("service must be '{}'", fd.login_server));
    }
    let Some(rt) = form.refresh_token.as_deref() else {
        return bad_request("INVALID_REQUEST", "refresh_token is required");
    };
    let scopes: Vec<Scope> =
        form.scope.as_deref().unwrap_or("").split(' ').filter_map(Scope::parse).collect();
    let caller = fd
        .signer
        .verify_refresh(rt, &fd.login_server)
        .map(|c| Caller::Principal { object_id: c.sub })
        .map_err(|e| DenyError::BadCredentials(e.to_string()));
    answer(grant(&fd, caller, &scopes), "POST /oauth2/token")
}

/// Form of `POST /oauth2/exchange`.
#[derive(Debug, Deserialize)]
pub struct ExchangeForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Validates an Entra access token (signature, issuer, audience, expiry) and returns the
/// principal's object id.
pub fn verify_entra(st: &State, token: &str, tenant: Option<&str>) -> Result<String, String> {
    let mut last = String::from("no audience matched");
    for aud in EXCHANGE_AUDIENCES {
        match crate::entra::verify_access_token(st, token, aud) {
            Ok(claims) => {
                if let Some(t) = tenant
                    && !t.is_empty()
                    && !t.eq_ignore_ascii_case(&claims.tid)
                {
                    return Err(format!("token tenant '{}' is not '{t}'", claims.tid));
                }
                return Ok(claims.oid);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// `POST /oauth2/exchange`.
pub async fn exchange(AxState(fd): AxState<FrontDoor>, Form(form): Form<ExchangeForm>) -> Response {
    if form.grant_type != "access_token" {
        return bad_request(
            "UNSUPPORTED_GRANT_TYPE",
            &format!("grant_type '{}' is not supported; expected 'access_token'", form.grant_type),
        );
    }
    if !form.service.eq_ignore_ascii_case(&fd.login_server) {
        return bad_request("INVALID_SERVICE", &format!("service must be '{}'", fd.login_server));
    }
    let Some(aad) = form.access_token.as_deref() else {
        return bad_request("INVALID_REQUEST", "access_token is required");
    };
    // ACR reads the caller's permissions on the registry when exchanging: an identity
    // with no pull-capable role there (after propagation) gets no refresh token, so a
    // credential provider fails and the kubelet falls back to an anonymous pull.
    let verified = {
        let st = fd.state.read();
        verify_entra(&st, aad, form.tenant.as_deref()).and_then(|oid| {
            if st.can_pull_in(fd.registry, &oid) {
                Ok((oid, st.world.tenant_id.clone()))
            } else {
                Err(format!("principal '{oid}' has no pull permission on the registry"))
            }
        })
    };
    match verified {
        Ok((oid, tenant)) => {
            let rt = fd.signer.refresh_token(
                &fd.login_server,
                &oid,
                &tenant,
                fd.lifetimes.refresh_token.as_secs() as i64,
            );
            Json(serde_json::json!({ "refresh_token": rt })).into_response()
        }
        Err(reason) => {
            tracing::debug!(%reason, "ACR exchange refused");
            unauthorized()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        assert_eq!(
            Scope::parse("repository:probe/hello:pull,push").unwrap(),
            Scope {
                kind: "repository".into(),
                name: "probe/hello".into(),
                actions: vec!["pull".into(), "push".into()]
            }
        );
        assert_eq!(Scope::parse("registry:catalog:*").unwrap().actions, ["*"]);
        assert!(Scope::parse("nonsense").is_none());
    }

    mod service {
        use std::net::SocketAddr;
        use std::sync::Arc;

        use axum::body::Body;
        use axum::extract::ConnectInfo;
        use base64::Engine as _;
        use http::{Request, StatusCode};
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        use crate::acr::{FrontDoor, Lifetimes, UNAUTHORIZED_BODY};
        use crate::jwt::TokenSigner;
        use crate::knobs::Knobs;
        use crate::state::{SharedState, State, StateOptions};
        use crate::tls::LabCa;
        use crate::world::World;

        const KUBELET: &str = "9a7d3c2b-0000-4000-8000-00000000ab1d";
        const RUNNER: &str = "6e5d4c3b-0000-4000-8000-00000000c4a0";
        const LEGACY: &str = "4d3c2b1a-0000-4000-8000-0000000e4b1e";
        const LOGIN: &str = "acrchaoslab.azurecr.io";

        fn setup() -> (SharedState, FrontDoor, axum::Router) {
            let options =
                StateOptions { propagation_delay: std::time::Duration::ZERO, ..Default::default() };
            let state = State::shared(World::default_world(), options);
            let ca = LabCa::generate().unwrap();
            let signer = Arc::new(TokenSigner::new(&ca, "Azure Container Registry").unwrap());
            let fd = FrontDoor::new(
                state.clone(),
                signer,
                Lifetimes::default(),
                "127.0.0.1:9".parse().unwrap(),
            );
            let router = crate::acr::router(fd.clone(), &Knobs::new());
            (state, fd, router)
        }

        async fn get(
            router: &axum::Router,
            scope: &str,
            basic: Option<(&str, &str)>,
            ip: &str,
        ) -> (StatusCode, String) {
            let mut req = Request::get(format!("/oauth2/token?service={LOGIN}&scope={scope}"));
            if let Some((u, p)) = basic {
                let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                req = req.header("authorization", format!("Basic {b}"));
            }
            let mut req = req.body(Body::empty()).unwrap();
            let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
            req.extensions_mut().insert(ConnectInfo(peer));
            let resp = router.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }

        fn granted(fd: &FrontDoor, body: &str) -> Vec<String> {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            let claims = fd.signer.decode_access(v["access_token"].as_str().unwrap()).unwrap();
            claims.access.into_iter().flat_map(|a| a.actions).collect()
        }

        #[tokio::test]
        async fn anonymous_tokens_and_repository_tokens() {
            let (state, fd, router) = setup();
            let repo = "repository:probe/hello:pull";
            assert_eq!(
                get(&router, repo, None, "127.0.0.1").await,
                (StatusCode::UNAUTHORIZED, UNAUTHORIZED_BODY.into())
            );
            let creds = Some(("probe-pull", "lab-token-password-1-not-a-secret"));
            let (status, body) =
                get(&router, "repository:probe/hello:pull,push", creds, "127.0.0.1").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(granted(&fd, &body), ["pull"], "a pull token never gets push");
            assert_eq!(
                get(&router, "repository:team-a/api:pull", creds, "127.0.0.1").await.0,
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(
                get(&router, repo, Some(("probe-pull", "nope")), "127.0.0.1").await.0,
                StatusCode::UNAUTHORIZED
            );
            state.write().token_mut("probe-pull").unwrap().status = "disabled".into();
            assert_eq!(get(&router, repo, creds, "127.0.0.1").await.0, StatusCode::UNAUTHORIZED);
        }

        #[tokio::test]
        async fn principals_by_role_and_firewall_by_ip() {
            let (state, fd, router) = setup();
            let rt = |oid: &str| fd.signer.refresh_token(LOGIN, oid, "t", 60);
            let scope = "repository:probe/hello:pull,push";
            // AcrPull at the registry: pull only. Owner on the resource group: inherited pull + push.
            let (status, body) =
                get(&router, scope, Some((super::super::NULL_GUID, &rt(KUBELET))), "127.0.0.1")
                    .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(granted(&fd, &body), ["pull"]);
            let (_, body) =
                get(&router, scope, Some((super::super::NULL_GUID, &rt(RUNNER))), "127.0.0.1")
                    .await;
            assert_eq!(granted(&fd, &body), ["pull", "push"]);
            // No role at all: refused.
            let (status, _) =
                get(&router, scope, Some((super::super::NULL_GUID, &rt(LEGACY))), "127.0.0.1")
                    .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            // A refresh token for another registry is refused.
            let other = fd.signer.refresh_token("other.azurecr.io", KUBELET, "t", 60);
            assert_eq!(
                get(&router, scope, Some((super::super::NULL_GUID, &other)), "127.0.0.1").await.0,
                StatusCode::UNAUTHORIZED
            );

            // Firewall: deny by default, allow 10.1.0.0/16.
            {
                let mut st = state.write();
                st.registry_network.network_rule_set.default_action = "Deny".into();
                st.registry_network.network_rule_set.ip_rules = vec![crate::world::IpRule {
                    action: "Allow".into(),
                    value: "10.1.0.0/16".into(),
                }];
            }
            let (status, body) = get(&router, scope, None, "10.2.0.7").await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(
                body.contains(r"client with IP \u002710.2.0.7\u0027 is not allowed access"),
                "{body}"
            );
            assert_eq!(get(&router, scope, None, "10.1.3.4").await.0, StatusCode::UNAUTHORIZED);
        }

        #[tokio::test]
        async fn exchange_validates_the_entra_token() {
            let (state, _fd, router) = setup();
            let exchange = |token: String, tenant: &str| {
                let body = format!(
                    "grant_type=access_token&service={LOGIN}&tenant={tenant}&access_token={token}"
                );
                let req = Request::post("/oauth2/exchange")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap();
                router.clone().oneshot(req)
            };
            let (good, wrong_aud, tenant, no_role) = {
                let st = state.read();
                let kubelet = st.kubelet_identity().clone();
                let no_role = crate::entra::issue_access_token(
                    &st,
                    "1a2b3c4d-0000-4000-8000-0000000e4b1e",
                    LEGACY,
                    "https://management.azure.com/",
                    None,
                )
                .0;
                let issue = |aud: &str| {
                    crate::entra::issue_access_token(
                        &st,
                        &kubelet.client_id,
                        &kubelet.object_id,
                        aud,
                        None,
                    )
                    .0
                };
                (
                    issue("https://management.azure.com/"),
                    issue("https://vault.azure.net"),
                    st.world.tenant_id.clone(),
                    no_role,
                )
            };
            let resp = exchange(good.clone(), &tenant).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert!(String::from_utf8_lossy(&body).starts_with(r#"{"refresh_token":""#));
            assert_eq!(
                exchange(wrong_aud, &tenant).await.unwrap().status(),
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(
                exchange(good, "00000000-1111-2222-3333-444444444444").await.unwrap().status(),
                StatusCode::UNAUTHORIZED
            );
            // A valid token of an identity without any role on the registry.
            assert_eq!(
                exchange(no_role, &tenant).await.unwrap().status(),
                StatusCode::UNAUTHORIZED
            );
        }
    }
}
