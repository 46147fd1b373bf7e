//! Workload identity, both halves: the cluster's OIDC issuer (discovery document and JWKS
//! of the key that signs projected service-account tokens, as AKS publishes them at
//! `https://{region}.oic.prod-aks.azure.com/{tenant}/{id}/`) and Entra's side of the
//! exchange: a `client_assertion` accepted only when a federated identity credential of
//! the principal names its issuer, subject and audience, and its signature verifies
//! against the issuer's key.
//!
//! Here the issuer lives on the Entra emulator's host under `/oic/{tenant}/{id}/`.
//! [`Lab::service_account_token`](crate::Lab::service_account_token) mints what the
//! kubelet projects into a pod at `AZURE_FEDERATED_TOKEN_FILE`.

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AadError;
use crate::state::{SharedState, State};
use crate::world::Principal;

/// `client_assertion_type` of a JWT bearer assertion (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The audience Entra expects in federated tokens by default.
pub const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Lifetime of minted service-account tokens (the projected volume's default, 1 h).
const SA_TOKEN_LIFETIME_SECS: i64 = 3600;

/// Claims of a projected Kubernetes service-account token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceAccountClaims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub nbf: i64,
    pub sub: String,
}

/// The cluster's OIDC issuer URL (trailing `/`, as AKS's), on the Entra host.
pub fn issuer_url(state: &State) -> String {
    let host = state.authority_host.as_deref().unwrap_or("https://oic.lab.invalid");
    format!(
        "{}/oic/{}/{}/",
        host.trim_end_matches('/'),
        state.world.tenant_id,
        state.workload_issuer.id
    )
}

/// A projected service-account token for `system:serviceaccount:{namespace}:{name}`,
/// signed with the cluster issuer's key.
pub fn mint_service_account_token(
    state: &State,
    namespace: &str,
    name: &str,
    audience: &str,
) -> String {
    let now = state.clock.utc_now().timestamp();
    let claims = ServiceAccountClaims {
        aud: vec![audience.to_string()],
        exp: now + SA_TOKEN_LIFETIME_SECS,
        iat: now,
        iss: issuer_url(state),
        nbf: now,
        sub: format!("system:serviceaccount:{namespace}:{name}"),
    };
    let key = &state.workload_issuer.key;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding)
        .expect("ES256 signing with the issuer key cannot fail")
}

impl crate::Lab {
    /// What the kubelet projects for a pod of service account `namespace/name` with
    /// the workload identity webhook: a token for `api://AzureADTokenExchange`.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        mint_service_account_token(&self.state.read(), namespace, name, EXCHANGE_AUDIENCE)
    }

    /// The cluster's OIDC issuer URL (`oidcIssuerProfile.issuerURL`).
    pub fn oidc_issuer(&self) -> String {
        issuer_url(&self.state.read())
    }
}

/// `GET /oic/{tenant}/{id}/.well-known/openid-configuration`.
pub(super) async fn discovery(
    AxState(shared): AxState<SharedState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let state = shared.read();
    if !is_this_issuer(&state, &tenant, &id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let iss = issuer_url(&state);
    axum::Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}openid/v1/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
    .into_response()
}

/// `GET /oic/{tenant}/{id}/openid/v1/jwks`.
pub(super) async fn jwks(
    AxState(shared): AxState<SharedState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let state = shared.read();
    if !is_this_issuer(&state, &tenant, &id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let key = &state.workload_issuer.key;
    let raw = &key.public_raw;
    let (x, y) = if raw.len() == 65 { (&raw[1..33], &raw[33..65]) } else { (&raw[..0], &raw[..0]) };
    axum::Json(json!({ "keys": [ {
        "kty": "EC", "use": "sig", "crv": "P-256", "alg": "ES256", "kid": key.kid,
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    } ] }))
    .into_response()
}

fn is_this_issuer(state: &State, tenant: &str, id: &str) -> bool {
    tenant.eq_ignore_ascii_case(&state.world.tenant_id)
        && id.eq_ignore_ascii_case(&state.workload_issuer.id)
}

fn bad(code: u32, description: String) -> AadError {
    AadError::new(StatusCode::BAD_REQUEST, "invalid_client", code, description)
}

/// Checks a `client_assertion` for `principal` as Entra does for federated credentials:
/// signature (the issuer's key), time range, then a credential matching issuer,
/// subject and audience exactly.
pub(super) fn verify_assertion(
    state: &State,
    principal: &Principal,
    assertion_type: Option<&str>,
    assertion: &str,
) -> Result<(), AadError> {
    if assertion_type != Some(JWT_BEARER) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            format!(
                "The client_assertion_type '{}' is not supported: use '{JWT_BEARER}'.",
                assertion_type.unwrap_or("")
            ),
        ));
    }
    let claims = decode_unverified(assertion)
        .ok_or_else(|| bad(50027, "JWT token is invalid or malformed.".into()))?;
    let issuer = issuer_url(state);
    if claims.iss != issuer {
        return Err(bad(
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                claims.iss
            ),
        ));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<ServiceAccountClaims>(
        assertion,
        &state.workload_issuer.key.decoding,
        &validation,
    )
    .map_err(|_| bad(50013, "Assertion failed signature validation.".into()))?;
    let now = state.clock.utc_now().timestamp();
    if now >= claims.exp || now + 300 < claims.nbf {
        return Err(bad(700024, "Client assertion is not within its valid time range.".into()));
    }
    let creds = principal
        .federated_credentials
        .iter()
        .filter(|c| c.issuer.as_deref().is_none_or(|i| i == issuer));
    let by_subject: Vec<_> = creds.filter(|c| c.subject == claims.sub).collect();
    if by_subject.is_empty() {
        return Err(bad(
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                claims.sub
            ),
        ));
    }
    let audience_ok =
        by_subject.iter().any(|c| c.audiences.iter().any(|a| claims.aud.iter().any(|t| t == a)));
    if !audience_ok {
        return Err(bad(
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                claims.aud.join(",")
            ),
        ));
    }
    Ok(())
}

fn decode_unverified(token: &str) -> Option<ServiceAccountClaims> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    // `aud` may be one string or a list.
    if let Some(s) = v["aud"].as_str().map(str::to_string) {
        v["aud"] = json!([s]);
    }
    serde_json::from_value(v).ok()
}
