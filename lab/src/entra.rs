//! Entra ID emulator: the v2 token endpoint (client credentials with a client secret),
//! the managed-identity endpoint (IMDS shape, also the App Service shape used by
//! `azure_identity`'s `ManagedIdentityCredential` when `IDENTITY_ENDPOINT` is set), and
//! OIDC discovery + JWKS. Access tokens are ES256 JWTs signed with the state's
//! [`SigningKey`](crate::state::SigningKey); [`verify_access_token`] checks them for the
//! ARM emulator and the ACR front door's `/oauth2/exchange`.
//!
//! Error bodies follow azure-rest.md §6 (AADSTS codes, `\r\n` before "Trace ID").

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::state::{SharedState, State};

#[path = "entra_workload.rs"]
pub mod workload;

/// Lifetime of issued access tokens, seconds (as Entra: 3599).
pub const TOKEN_LIFETIME_SECS: i64 = 3599;

/// Claims of a lab Entra access token (v1-style, as ARM-audience tokens are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub tid: String,
    /// Object id of the principal.
    pub oid: String,
    pub sub: String,
    /// Client (application) id of the principal.
    pub appid: String,
    pub idtyp: String,
    pub ver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_mirid: Option<String>,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub uti: String,
}

/// Why an access token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenVerifyError {
    #[error("the access token is malformed or its signature is invalid: {0}")]
    Invalid(String),
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not yet valid")]
    NotYetValid,
    #[error("the access token's audience '{found}' is not '{expected}'")]
    WrongAudience { found: String, expected: String },
    #[error("the access token's issuer '{0}' is not this lab's tenant")]
    WrongIssuer(String),
}

/// `https://sts.windows.net/{tenant}/`, the issuer of v1 access tokens.
pub fn issuer(state: &State) -> String {
    format!("https://sts.windows.net/{}/", state.world.tenant_id)
}

fn normalize_audience(aud: &str) -> String {
    aud.trim().trim_end_matches("/.default").trim_end_matches('/').to_ascii_lowercase()
}

/// Issue an access token for a principal (client id + object id) and resource.
pub fn issue_access_token(
    state: &State,
    client_id: &str,
    object_id: &str,
    resource: &str,
    mi_resource_id: Option<&str>,
) -> (String, Claims) {
    let now = state.clock.utc_now().timestamp();
    let claims = Claims {
        aud: resource.to_string(),
        iss: issuer(state),
        tid: state.world.tenant_id.clone(),
        oid: object_id.to_string(),
        sub: object_id.to_string(),
        appid: client_id.to_string(),
        idtyp: "app".into(),
        ver: "1.0".into(),
        xms_mirid: mi_resource_id.map(str::to_string),
        exp: now + TOKEN_LIFETIME_SECS,
        nbf: now - 300,
        iat: now - 300,
        uti: uuid::Uuid::new_v4().simple().to_string(),
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(state.signing_key.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &state.signing_key.encoding)
        .expect("ES256 signing with the lab key cannot fail");
    (token, claims)
}

/// Verify a lab Entra access token: signature, issuer, audience (trailing `/` and
/// `/.default` ignored, case-insensitive), `nbf`/`exp` against the state's clock.
pub fn verify_access_token(
    state: &State,
    token: &str,
    audience: &str,
) -> Result<Claims, TokenVerifyError> {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<Claims>(token.trim(), &state.signing_key.decoding, &validation)
            .map_err(|e| TokenVerifyError::Invalid(e.to_string()))?;
    let claims = data.claims;
    if claims.iss != issuer(state) {
        return Err(TokenVerifyError::WrongIssuer(claims.iss));
    }
    if normalize_audience(&claims.aud) != normalize_audience(audience) {
        return Err(TokenVerifyError::WrongAudience {
            found: claims.aud,
            expected: audience.to_string(),
        });
    }
    let now = state.clock.utc_now().timestamp();
    if now >= claims.exp {
        return Err(TokenVerifyError::Expired);
    }
    if now < claims.nbf {
        return Err(TokenVerifyError::NotYetValid);
    }
    Ok(claims)
}

/// The Entra ID emulator's routes.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/metadata/identity/oauth2/token", get(managed_identity_token))
        .route("/oic/{tenant}/{id}/.well-known/openid-configuration", get(workload::discovery))
        .route("/oic/{tenant}/{id}/openid/v1/jwks", get(workload::jwks))
        .with_state(state)
}

struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: String) -> Self {
        Self { status, error, code, description }
    }
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        let now = chrono::Utc::now();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.description
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (self.status, [("cache-control", "no-store, no-cache")], axum::Json(body)).into_response()
    }
}

fn missing_parameter(name: &str) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn tenant_matches(state: &State, tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case(&state.world.tenant_id)
}

async fn token_v2(
    AxState(shared): AxState<SharedState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    };
    let state = shared.read();
    match grant(&state, &tenant, &field) {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn grant<'a>(
    state: &State,
    tenant: &str,
    field: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<Response, AadError> {
    if !tenant_matches(state, tenant) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    let grant_type = field("grant_type").ok_or_else(|| missing_parameter("grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client_id = field("client_id").ok_or_else(|| missing_parameter("client_id"))?;
    let scope = field("scope").ok_or_else(|| missing_parameter("scope"))?;
    let resource = scope.strip_suffix(".default").filter(|r| !r.is_empty() && !scope.contains(' ')).ok_or_else(|| {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    })?;
    let principal = state.principal_by_client_id(client_id).ok_or_else(|| {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                state.world.tenant_id
            ),
        )
    })?;
    if let Some(assertion) = field("client_assertion") {
        workload::verify_assertion(state, principal, field("client_assertion_type"), assertion)?;
        return Ok(token_response(state, principal, resource));
    }
    let secret = field("client_secret").ok_or_else(|| {
        AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        )
    })?;
    let valid = principal
        .secret
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), secret.as_bytes()));
    if !valid {
        return Err(AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                principal.client_id
            ),
        ));
    }
    if principal.secret_expires.is_some_and(|exp| state.clock.utc_now() >= exp) {
        return Err(AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                principal.client_id
            ),
        ));
    }
    Ok(token_response(state, principal, resource))
}

fn token_response(state: &State, principal: &crate::world::Principal, resource: &str) -> Response {
    let (token, _) =
        issue_access_token(state, &principal.client_id, &principal.object_id, resource, None);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "ext_expires_in": TOKEN_LIFETIME_SECS,
        "access_token": token,
    });
    (StatusCode::OK, [("cache-control", "no-store, no-cache")], axum::Json(body)).into_response()
}

#[derive(Debug)]
struct MiQuery {
    api_version: Option<String>,
    resource: Option<String>,
    client_id: Option<String>,
    object_id: Option<String>,
    principal_id: Option<String>,
    msi_res_id: Option<String>,
    mi_res_id: Option<String>,
}

fn imds_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({ "error": error, "error_description": description })))
        .into_response()
}

/// IMDS (`api-version=2018-02-01`, `Metadata: true`) and App Service
/// (`api-version=2019-08-01`, `X-IDENTITY-HEADER`) managed-identity token endpoint.
/// The node's only identity is the cluster's kubelet identity.
async fn managed_identity_token(
    AxState(shared): AxState<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query: MiQuery = match serde_urlencoded_query(query.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return imds_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let app_service = query.api_version.as_deref() == Some("2019-08-01");
    if app_service {
        if headers.get("x-identity-header").is_none_or(|v| v.is_empty()) {
            return imds_error(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "Required X-IDENTITY-HEADER not specified",
            );
        }
    } else if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    match query.api_version.as_deref() {
        Some("2018-02-01" | "2019-08-01" | "2019-11-01" | "2021-02-01") => {}
        Some(other) => {
            return imds_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("Invalid version of api-version parameter: {other}"),
            );
        }
        None => {
            return imds_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Required query variable 'api-version' is missing",
            );
        }
    }
    let Some(resource) = query.resource.as_deref().filter(|r| !r.is_empty()) else {
        return imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    };
    let state = shared.read();
    let kubelet = &state.world.cluster.kubelet_identity;
    let object_id = query.object_id.as_deref().or(query.principal_id.as_deref());
    let res_id = query.msi_res_id.as_deref().or(query.mi_res_id.as_deref());
    let selected = match (query.client_id.as_deref(), object_id, res_id) {
        (Some(c), _, _) => c.eq_ignore_ascii_case(&kubelet.client_id),
        (None, Some(o), _) => o.eq_ignore_ascii_case(&kubelet.object_id),
        (None, None, Some(r)) => r.eq_ignore_ascii_case(&kubelet.resource_id),
        (None, None, None) => true,
    };
    if !selected {
        return imds_error(StatusCode::BAD_REQUEST, "invalid_request", "Identity not found");
    }
    let (token, claims) = issue_access_token(
        &state,
        &kubelet.client_id,
        &kubelet.object_id,
        resource,
        Some(&kubelet.resource_id),
    );
    let body = json!({
        "access_token": token,
        "client_id": kubelet.client_id,
        "expires_in": TOKEN_LIFETIME_SECS.to_string(),
        "expires_on": claims.exp.to_string(),
        "ext_expires_in": TOKEN_LIFETIME_SECS.to_string(),
        "not_before": claims.nbf.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn serde_urlencoded_query(query: &str) -> Result<MiQuery, String> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Ok(MiQuery {
        api_version: get("api-version"),
        resource: get("resource"),
        client_id: get("client_id"),
        object_id: get("object_id"),
        principal_id: get("principal_id"),
        msi_res_id: get("msi_res_id"),
        mi_res_id: get("mi_res_id"),
    })
}

async fn openid_configuration(
    AxState(shared): AxState<SharedState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = shared.read();
    if !tenant_matches(&state, &tenant) {
        return AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!("Tenant '{tenant}' not found."),
        )
        .into_response();
    }
    let host = state
        .authority_host
        .clone()
        .or_else(|| {
            headers.get("host").and_then(|h| h.to_str().ok()).map(|h| format!("https://{h}"))
        })
        .unwrap_or_else(|| "https://login.microsoftonline.com".into());
    axum::Json(openid_document(host.trim_end_matches('/'), &state.world.tenant_id)).into_response()
}

/// The tenant's v2.0 OpenID configuration, field for field as Entra ID publishes it
/// (MSAL reads `authorization_endpoint`, `token_endpoint`, `issuer`, and checks that the
/// issuer is on the authority's host; the interactive endpoints are named, not served).
pub fn openid_document(host: &str, tenant: &str) -> serde_json::Value {
    let base = format!("{host}/{tenant}");
    json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })
}

async fn jwks(AxState(shared): AxState<SharedState>) -> Response {
    let state = shared.read();
    axum::Json(jwks_document(&state)).into_response()
}

/// JWKS with the lab's signing key (EC P-256).
pub fn jwks_document(state: &State) -> serde_json::Value {
    let raw = &state.signing_key.public_raw;
    let (x, y) = if raw.len() == 65 { (&raw[1..33], &raw[33..65]) } else { (&raw[..0], &raw[..0]) };
    json!({ "keys": [ {
        "kty": "EC", "use": "sig", "crv": "P-256", "alg": "ES256",
        "kid": state.signing_key.kid,
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
    } ] })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
