//! ARM emulator: the Azure Resource Manager REST subset in azure-rest.md — role
//! assignments (§1), registries, registry tokens and generateCredentials (§2),
//! managedClusters (§4), NSG security rules (§5) and async operations.
//!
//! Every request needs a bearer token from the Entra emulator with the ARM audience
//! (`AuthenticationFailed` / `InvalidAuthenticationToken*` otherwise) and an
//! `api-version` (`MissingApiVersionParameter`). The caller is authorized from its role
//! assignments (`AuthorizationFailed`). Ids are matched case-insensitively.

mod api_versions;
mod clusters;
mod nsg;
mod registries;
mod role_assignments;
mod role_definitions;
mod scope_maps;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::entra::{Claims, TokenVerifyError, verify_access_token};
use crate::state::{Operation, SharedState, State};
use api_versions::ResourceType;

/// Audiences ARM accepts (as the real service does).
pub const ARM_AUDIENCES: [&str; 2] =
    ["https://management.azure.com/", "https://management.core.windows.net/"];

/// The ARM emulator's routes (one dispatcher: ARM scopes nest arbitrarily).
pub fn router(state: SharedState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// An ARM error response (`{"error":{"code","message",…}}`).
#[derive(Debug, Clone)]
pub struct ArmError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub www_authenticate: Option<String>,
}

impl ArmError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), message: message.into(), www_authenticate: None }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidRequestContent", message)
    }

    /// `ResourceNotFound` for `{type}/{name}` in a resource group.
    pub fn resource_not_found(kind: &str, name: &str, resource_group: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource '{kind}/{name}' under resource group '{resource_group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let body = json!({ "error": {
            "code": self.code, "message": self.message, "target": null, "details": [], "additionalInfo": []
        }});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(v) = self.www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
            resp.headers_mut().insert("www-authenticate", v);
        }
        resp.headers_mut().insert("x-ms-failure-cause", HeaderValue::from_static("gateway"));
        resp
    }
}

pub(crate) type ArmResult = Result<Response, ArmError>;

/// A parsed, authenticated request.
pub(crate) struct Ctx {
    pub method: Method,
    /// Path as sent (trailing `/` removed).
    pub path: String,
    /// Raw query pairs, percent-decoded.
    pub query: Vec<(String, String)>,
    pub api_version: String,
    pub caller: Claims,
    /// `https://host` for absolute URLs in `nextLink` / LRO headers.
    pub base_url: String,
    pub body: Bytes,
}

impl Ctx {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Parse the JSON body (`InvalidRequestContent` on bad JSON, naming line:column).
    pub fn json_body(&self) -> Result<Value, ArmError> {
        if self.body.is_empty() {
            return Err(ArmError::invalid_body(
                "The request content was invalid and could not be deserialized: the body is empty.",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ArmError::invalid_body(format!(
                "The request content was invalid and could not be deserialized: '{e}' (line {}, column {}).",
                e.line(),
                e.column()
            ))
        })
    }

    /// Absolute URL of `path` on this ARM endpoint with this request's api-version.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}?api-version={}", self.base_url, path, self.api_version)
    }

    /// Demand `action` at `scope` from the caller's role assignments and role
    /// definitions (actions, notActions, wildcards, inherited scopes), else 403
    /// `AuthorizationFailed` as ARM words it.
    pub fn authorize(&self, state: &State, scope: &str, action: &str) -> Result<(), ArmError> {
        if state.is_authorized(&self.caller.oid, scope, action) {
            return Ok(());
        }
        Err(authorization_failed(&self.caller, scope, action))
    }
}

/// ARM's 403 for a caller lacking `action` at `scope`.
pub(crate) fn authorization_failed(caller: &Claims, scope: &str, action: &str) -> ArmError {
    ArmError::new(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            caller.appid, caller.oid
        ),
    )
}

fn unauthorized(state: &State, code: &str, message: String) -> ArmError {
    let mut e = ArmError::new(StatusCode::UNAUTHORIZED, code, message.clone());
    e.www_authenticate = Some(format!(
        "Bearer authorization_uri=\"https://login.windows.net/{}\", error=\"invalid_token\", error_description=\"{}\"",
        state.world.tenant_id,
        message.replace('"', "'")
    ));
    e
}

fn authenticate(state: &State, headers: &HeaderMap) -> Result<Claims, ArmError> {
    let Some(value) = headers.get("authorization") else {
        return Err(unauthorized(
            state,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".into(),
        ));
    };
    let value = value.to_str().unwrap_or("");
    let token = match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            token.trim()
        }
        _ => {
            return Err(unauthorized(
                state,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.".into(),
            ));
        }
    };
    let mut last = None;
    for aud in ARM_AUDIENCES {
        match verify_access_token(state, token, aud) {
            Ok(claims) => return Ok(claims),
            // Keep the most telling error: anything beats "wrong audience" for one of the two.
            Err(e) if matches!(e, TokenVerifyError::WrongAudience { .. }) && last.is_some() => {}
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(TokenVerifyError::Expired) => unauthorized(
            state,
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                token_exp(token).unwrap_or_default(),
                state.clock.utc_now().format("%-m/%-d/%Y %-I:%M:%S %p")
            ),
        ),
        Some(TokenVerifyError::WrongAudience { found, .. }) => unauthorized(
            state,
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{found}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
        ),
        Some(TokenVerifyError::WrongIssuer(_)) => unauthorized(
            state,
            "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer. It must match the tenant associated with this subscription.".into(),
        ),
        _ => unauthorized(state, "InvalidAuthenticationToken", "The access token is invalid.".into()),
    })
}

fn token_exp(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = chrono::DateTime::from_timestamp(v["exp"].as_i64()?, 0)?;
    Some(exp.format("%-m/%-d/%Y %-I:%M:%S %p").to_string())
}

fn valid_api_version(v: &str) -> bool {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    let b = date.as_bytes();
    b.len() == 10
        && b.iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

async fn dispatch(
    AxState(shared): AxState<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.write();
    let correlation = headers
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut resp = handle(&mut state, method, &uri, &headers, body)
        .unwrap_or_else(IntoResponse::into_response);
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-ms-request-id", uuid::Uuid::new_v4().to_string()),
        ("x-ms-correlation-request-id", correlation),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    resp
}

fn handle(
    state: &mut State,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> ArmResult {
    let caller = authenticate(state, headers)?;
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let api_version =
        query.iter().find(|(k, _)| k.eq_ignore_ascii_case("api-version")).map(|(_, v)| v.clone());
    let Some(api_version) = api_version.filter(|v| !v.is_empty()) else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if !valid_api_version(&api_version) {
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{api_version}' is invalid. The supported versions are in the form 'yyyy-mm-dd' or 'yyyy-mm-dd-preview'."
            ),
        ));
    }
    let base_url = state.arm_base_url.clone().unwrap_or_else(|| {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .or(uri.authority().map(|a| a.as_str()));
        format!("https://{}", host.unwrap_or("management.azure.com"))
    });
    let path = uri.path().trim_end_matches('/').to_string();
    let ctx = Ctx {
        method,
        path,
        query,
        api_version,
        caller,
        base_url: base_url.trim_end_matches('/').to_string(),
        body,
    };
    state.apply_due_registry_updates();
    route(state, &ctx)
}

fn route(state: &mut State, ctx: &Ctx) -> ArmResult {
    let segs: Vec<&str> = ctx.path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();

    // Authorization resources at any scope: {scope}/providers/Microsoft.Authorization/
    // {roleAssignments|roleDefinitions|permissions}[/{name}]
    if let Some(i) = (0..lower.len().saturating_sub(2)).find(|&i| {
        lower[i] == "providers"
            && lower[i + 1] == "microsoft.authorization"
            && matches!(
                lower[i + 2].as_str(),
                "roleassignments" | "roledefinitions" | "permissions"
            )
    }) {
        let scope = format!("/{}", segs[..i].join("/"));
        check_subscription(state, &lower[..i])?;
        let kind = match lower[i + 2].as_str() {
            "roleassignments" => "roleAssignments",
            "roledefinitions" => "roleDefinitions",
            _ => "permissions",
        };
        ResourceType::Authorization(kind).check(&ctx.api_version, &state.world.location)?;
        if let [_, _, r, rg, ..] = &lower[..i]
            && r == "resourcegroups"
        {
            check_resource_group(state, rg, segs[3])?;
        }
        return match (lower[i + 2].as_str(), &segs[i + 3..]) {
            ("roleassignments", []) => role_assignments::list(state, ctx, &scope),
            ("roleassignments", [name]) => role_assignments::single(state, ctx, &scope, name),
            ("roledefinitions", []) => role_definitions::list(state, ctx, &scope),
            ("roledefinitions", [name]) => role_definitions::single(state, ctx, &scope, name),
            ("permissions", []) => role_definitions::permissions(state, ctx, &scope),
            _ => Err(unknown_path(ctx)),
        };
    }
    // Async operations: …/operationStatuses/{id}, …/operations/{id}, …/operationResults/{id}
    // (`operations` only under `locations/{location}`, so a rule or token named
    // "operations" stays a resource.)
    if segs.len() >= 2 {
        let n = lower.len();
        let kind = lower[n - 2].as_str();
        let is_op = match kind {
            "operationstatuses" | "operationresults" => true,
            "operations" => n >= 4 && lower[n - 4] == "locations",
            _ => false,
        };
        if is_op && ctx.method == Method::GET {
            return poll_operation(state, ctx, segs[segs.len() - 1], kind == "operationresults");
        }
    }
    check_subscription(state, &lower)?;
    match lower.as_slice() {
        [s, _, p, ns, r]
            if s == "subscriptions"
                && p == "providers"
                && ns == "microsoft.containerregistry"
                && r == "registries" =>
        {
            ResourceType::Registries.check(&ctx.api_version, &state.world.location)?;
            registries::list(state, ctx)
        }
        [_, _, _, rg, p, ns, ..] if p == "providers" => {
            check_resource_group(state, rg, segs[3])?;
            let kind = match ns.as_str() {
                "microsoft.containerregistry" => Some(ResourceType::Registries),
                "microsoft.containerservice" => Some(ResourceType::ManagedClusters),
                "microsoft.network" => Some(ResourceType::NetworkSecurityGroups),
                _ => None,
            };
            if let Some(kind) = kind {
                kind.check(&ctx.api_version, &state.world.location)?;
            }
            match ns.as_str() {
                "microsoft.containerregistry" => registries::route(state, ctx, &segs[5..]),
                "microsoft.containerservice" => clusters::route(state, ctx, &segs[5..]),
                "microsoft.network" => nsg::route(state, ctx, &segs[5..]),
                _ => Err(unknown_path(ctx)),
            }
        }
        _ => Err(unknown_path(ctx)),
    }
}

fn check_subscription(state: &State, lower: &[String]) -> Result<(), ArmError> {
    match lower {
        [s, sub, ..] if s == "subscriptions" => {
            if sub.eq_ignore_ascii_case(&state.world.subscription_id) {
                Ok(())
            } else {
                Err(ArmError::new(
                    StatusCode::NOT_FOUND,
                    "SubscriptionNotFound",
                    format!("The subscription '{sub}' could not be found."),
                ))
            }
        }
        _ => Ok(()),
    }
}

fn check_resource_group(state: &State, rg_lower: &str, rg: &str) -> Result<(), ArmError> {
    let known =
        [state.world.resource_group.as_str(), state.world.cluster.node_resource_group.as_str()];
    let nsg_rg = state.world.nsg.resource_group.as_deref().unwrap_or("");
    if known.iter().chain([&nsg_rg]).any(|k| !k.is_empty() && k.eq_ignore_ascii_case(rg_lower)) {
        Ok(())
    } else {
        Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        ))
    }
}

pub(crate) fn unknown_path(ctx: &Ctx) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "InvalidResourceType",
        format!(
            "The resource type could not be found for the path '{}' and api version '{}'.",
            ctx.path, ctx.api_version
        ),
    )
}

pub(crate) fn method_not_allowed(ctx: &Ctx) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("The HTTP method '{}' is not supported at '{}'.", ctx.method, ctx.path),
    )
}

/// JSON response with a status.
pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Start an async operation; returns its id. `result`: the final body of a `Location` poll.
pub(crate) fn start_operation(state: &mut State, result: Option<Value>) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let op = Operation {
        id: id.clone(),
        start_time: state.clock.utc_now(),
        due: state.clock.now() + state.lro_delay(),
        result,
    };
    state.operations.retain(|_, o| o.start_time + chrono::Duration::hours(1) > op.start_time);
    state.operations.insert(id.clone(), op);
    id
}

/// Retry-After (whole seconds, as ARM sends it) to advertise for a fresh operation; empty
/// (no header) when the time-scaled delay is under a second, so a sped-up lab is not
/// slowed down to ARM's one-second granularity (clients then use their own interval).
pub(crate) fn retry_after(state: &State) -> String {
    let d = state.lro_delay();
    if d < std::time::Duration::from_secs(1) { String::new() } else { d.as_secs().to_string() }
}

fn poll_operation(state: &State, ctx: &Ctx, id: &str, location_style: bool) -> ArmResult {
    let Some(op) = state.operations.get(&id.to_ascii_lowercase()) else {
        return Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            format!("The operation '{id}' could not be found."),
        ));
    };
    let done = state.clock.now() >= op.due;
    if location_style {
        if !done {
            let mut resp = StatusCode::ACCEPTED.into_response();
            if let Ok(v) = HeaderValue::from_str(&ctx.url(&ctx.path)) {
                resp.headers_mut().insert("location", v);
            }
            let retry = retry_after(state);
            if let Ok(v) = HeaderValue::from_str(&retry)
                && !retry.is_empty()
            {
                resp.headers_mut().insert("retry-after", v);
            }
            return Ok(resp);
        }
        return Ok(match &op.result {
            Some(body) => json_response(StatusCode::OK, body.clone()),
            None => StatusCode::NO_CONTENT.into_response(),
        });
    }
    let mut body = json!({
        "id": ctx.path,
        "name": op.id,
        "status": if done { "Succeeded" } else { "InProgress" },
        "startTime": op.start_time.to_rfc3339(),
    });
    if done {
        let end = op.start_time + chrono::Duration::from_std(state.lro_delay()).unwrap_or_default();
        body["endTime"] = json!(end.to_rfc3339());
    }
    Ok(json_response(StatusCode::OK, body))
}

/// Add `Azure-AsyncOperation` (+ Retry-After) to a response.
pub(crate) fn with_async_operation(mut resp: Response, url: &str, retry: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(url) {
        resp.headers_mut().insert("azure-asyncoperation", v);
    }
    if let Ok(v) = HeaderValue::from_str(retry)
        && !retry.is_empty()
    {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}

/// Add `Location` (+ Retry-After) to a response.
pub(crate) fn with_location(mut resp: Response, url: &str, retry: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(url) {
        resp.headers_mut().insert("location", v);
    }
    if let Ok(v) = HeaderValue::from_str(retry)
        && !retry.is_empty()
    {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}

/// A `W/"…"` etag.
pub(crate) fn new_etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}
