//! The HTTP face of the emulator: an axum [`Router`] with bearer-token auth that maps
//! Kubernetes REST paths onto the [`Store`](super::store::Store).

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::discovery;
use super::error::ApiError;
use super::kind::Kind;
use super::openapi::{self, Document};
use super::patch::PatchType;
use super::proto;
use super::rbac::{self, Attributes, UserInfo};
use super::store::SharedStore;
use super::table;
use super::watch::{self, WatchParams};

/// Options of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The bearer token clients must present.
    pub token: String,
    /// How often an idle watch gets a BOOKMARK (when the client allows bookmarks).
    pub bookmark_interval: Duration,
    /// Watch duration when the client gives no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// `serverAddress` advertised in `/api`.
    pub server_address: String,
    /// Non-admin bearer tokens (RBAC applies to them); `token` is the admin's.
    pub tokens: rbac::Tokens,
}

impl ApiOptions {
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            bookmark_interval: Duration::from_secs(10),
            default_watch_timeout: Duration::from_secs(1800),
            server_address: "127.0.0.1:6443".into(),
            tokens: rbac::Tokens::default(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    store: SharedStore,
    opts: std::sync::Arc<ApiOptions>,
}

/// The API router: every path is handled by one dispatcher (Kubernetes paths are too
/// regular and too numerous for per-route registration to help).
pub fn router(store: SharedStore, opts: ApiOptions) -> Router {
    Router::new().fallback(dispatch).with_state(AppState { store, opts: std::sync::Arc::new(opts) })
}

/// Answer with JSON.
pub fn json_response(code: u16, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("static response parts")
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const PUBLIC_PATHS: &[&str] = &["/version", "/healthz", "/livez", "/readyz"];

async fn dispatch(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let user = match auth.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
        Some(t) if constant_time_eq(t.trim().as_bytes(), st.opts.token.as_bytes()) => {
            Some(UserInfo::admin())
        }
        Some(t) => st.opts.tokens.lookup(t.trim()),
        None => None,
    };
    let anonymous_public = auth.is_none() && PUBLIC_PATHS.contains(&path.as_str());
    // Anonymous health and version checks are served as public info.
    let user = match (user, anonymous_public) {
        (Some(u), _) => u,
        (None, true) => UserInfo::admin(),
        (None, false) => {
            tracing::debug!(%method, %path, "kube api: unauthorized request");
            return error_response(&ApiError::unauthorized());
        }
    };
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    match route(&st, &user, &method, &path, &query, &headers, &body) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%method, %path, code = e.code, reason = e.reason, "kube api error");
            error_response(&e)
        }
    }
}

#[allow(clippy::too_many_arguments, reason = "one dispatcher takes the whole request")]
fn route(
    st: &AppState,
    user: &UserInfo,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let get_only = |v: Option<Value>| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({path})"
            )));
        }
        v.map(|v| json_response(200, &v)).ok_or_else(|| ApiError::not_found_path(path))
    };
    let is_resource = matches!(segs.as_slice(), ["api", _, _, ..] | ["apis", _, _, _, ..]);
    if !is_resource && !user.is_admin() {
        let verb = method.as_str().to_ascii_lowercase();
        let a = Attributes {
            verb: if verb == "head" { "get".into() } else { verb },
            group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: Some(path.to_string()),
        };
        if !rbac::allowed(&st.store, user, &a) {
            return Err(a.forbidden(user));
        }
    }
    match segs.as_slice() {
        ["version"] => get_only(Some(discovery::version())),
        ["healthz"] | ["livez"] | ["readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => get_only(Some(discovery::core_versions(&st.opts.server_address))),
        ["api", v] => get_only(discovery::resource_list("", v)),
        ["apis"] => get_only(Some(discovery::group_list())),
        ["apis", g] => get_only(discovery::group(g)),
        ["apis", g, v] => get_only(discovery::resource_list(g, v)),
        ["openapi", "v2"] => openapi_document(method, headers, q, Some(openapi::v2_doc()), path),
        ["openapi", "v3"] => openapi_document(method, headers, q, Some(openapi::v3_index()), path),
        ["openapi", "v3", rest @ ..] => {
            openapi_document(method, headers, q, openapi::v3_doc(&rest.join("/")), path)
        }
        ["api", v, rest @ ..] => resource(st, user, method, "", v, rest, q, headers, body, path),
        ["apis", g, v, rest @ ..] => resource(st, user, method, g, v, rest, q, headers, body, path),
        _ => Err(ApiError::not_found_path(path)),
    }
}

/// An OpenAPI document as JSON, the only encoding the emulator has: a client that accepts
/// only protobuf (kubectl asks for `/openapi/v2` that way) gets 406 and falls back, as it
/// does against a server without that encoding. A stale `hash` is redirected to the current
/// URL and a current one is immutable, as kube-openapi does.
fn openapi_document(
    method: &Method,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    doc: Option<&Document>,
    path: &str,
) -> Result<Response, ApiError> {
    if method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({path})"
        )));
    }
    let doc = doc.ok_or_else(|| ApiError::not_found_path(path))?;
    if !accepts_json(headers) {
        return Err(ApiError::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        ));
    }
    let response = Response::builder().header("vary", "Accept").header("etag", format!("\"{}\"", doc.hash));
    let response = match q.get("hash") {
        Some(h) if *h != doc.hash => {
            return Ok(response
                .status(StatusCode::MOVED_PERMANENTLY)
                .header("location", format!("{path}?hash={}", doc.hash))
                .body(Body::empty())
                .expect("static response parts"));
        }
        Some(_) => response.header("cache-control", "public, immutable"),
        None => response.header("cache-control", "no-cache, private"),
    };
    Ok(response
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(doc.body.clone()))
        .expect("static response parts"))
}

/// Whether `Accept` admits JSON (no header admits anything).
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get("accept").and_then(|v| v.to_str().ok()) else { return true };
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        matches!(media, "application/json" | "application/*" | "*/*" | "")
    })
}

/// A parsed resource path.
struct Target<'a> {
    kind: Kind,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    status: bool,
    /// `pods/<name>/log`.
    log: bool,
}

fn parse_target<'a>(
    group: &str,
    version: &str,
    rest: &[&'a str],
    path: &str,
) -> Result<Target<'a>, ApiError> {
    let nf = || ApiError::not_found_path(path);
    let kind_of = |plural: &str| Kind::from_path(group, version, plural).ok_or_else(nf);
    let (kind, namespace, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            (kind_of(plural)?, Some(*ns), tail.first().copied(), tail.get(1).copied())
        }
        [plural, tail @ ..] => {
            (kind_of(plural)?, None, tail.first().copied(), tail.get(1).copied())
        }
        [] => return Err(nf()),
    };
    if rest.len() > 5 || (kind.namespaced() && name.is_some() && namespace.is_none()) {
        return Err(nf());
    }
    if !kind.namespaced() && namespace.is_some() {
        return Err(nf());
    }
    let (status, log) = match sub {
        None => (false, false),
        Some("status") if kind.has_status_subresource() => (true, false),
        Some("log") if kind == Kind::Pod => (false, true),
        Some(_) => return Err(nf()),
    };
    Ok(Target { kind, namespace, name, status, log })
}

fn parse_body(body: &Bytes, yaml: bool, headers: &HeaderMap) -> Result<Value, ApiError> {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return proto::decode(body);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("request body is not UTF-8 JSON"))?;
    if yaml {
        return serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML request body: {e}")));
    }
    let e = serde_json::from_slice::<Value>(body).expect_err("failed above");
    Err(ApiError::bad_request(format!(
        "error decoding request body as JSON at line {} column {}: {e}",
        e.line(),
        e.column()
    )))
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "1" || v == "true" || v.is_empty())
}

fn non_empty<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

fn list_kind(kind: Kind) -> String {
    format!("{}List", kind.kind_name())
}

#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one API request, as the router extracted them"
)]
fn resource(
    st: &AppState,
    user: &UserInfo,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    path: &str,
) -> Result<Response, ApiError> {
    let t = parse_target(group, version, rest, path)?;
    let store = &st.store;
    let kind = t.kind;
    let ns = t.namespace;
    if let Some(r) = authorize(st, user, method, &t, q, body, headers, path)? {
        return Ok(r);
    }
    if t.log {
        return pod_log(st, method, &t, q, path);
    }
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All");
    let wants_table =
        headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"));
    let include = table::IncludeObject::from_query(q.get("includeObject").map(String::as_str))?;
    let write_guard = || {
        if kind.read_only() {
            Err(ApiError::method_not_allowed(format!(
                "{}.{} is read-only in this emulator; write core/v1 events",
                kind.plural(),
                kind.group()
            )))
        } else {
            Ok(())
        }
    };
    let not_allowed = || {
        Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({path})"
        )))
    };
    match (t.name, t.status, method.clone()) {
        (None, _, Method::GET) => {
            let labels = non_empty(q, "labelSelector");
            let fields = non_empty(q, "fieldSelector");
            if flag(q, "watch") {
                let timeout = q
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(st.opts.default_watch_timeout)
                    // A huge timeoutSeconds must not overflow the deadline arithmetic.
                    .min(Duration::from_secs(24 * 3600));
                let params = WatchParams {
                    namespace: ns.map(str::to_string),
                    resource_version: q.get("resourceVersion").cloned(),
                    label_selector: labels.map(str::to_string),
                    field_selector: fields.map(str::to_string),
                    bookmarks: flag(q, "allowWatchBookmarks"),
                    timeout,
                    send_initial_events: q.get("sendInitialEvents").is_some_and(|v| v == "true"),
                    bookmark_interval: st.opts.bookmark_interval,
                    table: wants_table.then_some(include),
                };
                return watch::respond(store.clone(), kind, params);
            }
            let (items, rv) = store.list(&kind, ns, labels, fields)?;
            if wants_table {
                return Ok(json_response(200, &table::table(kind, &items, Some(&rv), include)));
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": list_kind(kind),
                    "apiVersion": kind.api_version(),
                    "metadata": {"resourceVersion": rv},
                    "items": items,
                }),
            ))
        }
        (None, false, Method::POST) => {
            write_guard()?;
            let obj = parse_body(body, false, headers)?;
            let created = store.create_opts(&kind, ns, obj, dry_run)?;
            Ok(json_response(201, &created))
        }
        (None, false, Method::DELETE) => {
            write_guard()?;
            let labels = non_empty(q, "labelSelector");
            let fields = non_empty(q, "fieldSelector");
            let (items, rv) = store.list(&kind, ns, labels, fields)?;
            let mut deleted = Vec::new();
            for o in items {
                let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                let ons = o["metadata"]["namespace"].as_str().map(str::to_string);
                match store.delete_opts(&kind, ons.as_deref(), &name, dry_run) {
                    Ok(d) => deleted.push(d),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(
                200,
                &json!({"kind": list_kind(kind), "apiVersion": kind.api_version(),
                        "metadata": {"resourceVersion": rv}, "items": deleted}),
            ))
        }
        (Some(name), _, Method::GET) => {
            let o = store.get(&kind, ns, name)?;
            if wants_table && !t.status {
                return Ok(json_response(200, &table::table(kind, &[o], None, include)));
            }
            Ok(json_response(200, &o))
        }
        (Some(name), status, Method::PUT) => {
            write_guard()?;
            let obj = parse_body(body, false, headers)?;
            let r = if status {
                store.replace_status(&kind, ns, name, obj, dry_run)?
            } else {
                store.update_opts(&kind, ns, name, obj, dry_run)?
            };
            Ok(json_response(200, &r))
        }
        (Some(name), status, Method::PATCH) => {
            write_guard()?;
            let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            let pt = PatchType::from_content_type(ct)
                .ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            let patch = parse_body(body, pt == PatchType::Apply, headers)?;
            let existed = store.get(&kind, ns, name).is_ok();
            let r = store.patch_opts(&kind, ns, name, pt, &patch, status, dry_run)?;
            Ok(json_response(if existed { 200 } else { 201 }, &r))
        }
        (Some(name), false, Method::DELETE) => {
            write_guard()?;
            if !body.is_empty()
                && let Ok(opts) = serde_json::from_slice::<Value>(body)
                && let Some(pre) = opts.get("preconditions")
            {
                let cur = store.get(&kind, ns, name)?;
                for (field, want) in
                    [("uid", pre.get("uid")), ("resourceVersion", pre.get("resourceVersion"))]
                {
                    if let Some(w) = want.and_then(Value::as_str)
                        && cur["metadata"][field].as_str() != Some(w)
                    {
                        return Err(ApiError::conflict(kind.group(), kind.plural(), name));
                    }
                }
            }
            let o = store.delete_opts(&kind, ns, name, dry_run)?;
            Ok(json_response(200, &o))
        }
        _ => not_allowed(),
    }
}

/// `GET pods/<name>/log`: plain text, or the API server's / kubelet's refusal.
fn pod_log(
    st: &AppState,
    method: &Method,
    t: &Target<'_>,
    q: &HashMap<String, String>,
    path: &str,
) -> Result<Response, ApiError> {
    let Some(name) = t.name.filter(|_| *method == Method::GET) else {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({path})"
        )));
    };
    let pod = st.store.get(&Kind::Pod, t.namespace, name)?;
    let text = super::logs::pod_log(&pod, q)?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(Body::from(text))
        .expect("static response parts"))
}

/// RBAC for a resource request; answers self reviews (never stored) itself.
#[allow(clippy::too_many_arguments, reason = "the parts of one request")]
fn authorize(
    st: &AppState,
    user: &UserInfo,
    method: &Method,
    t: &Target<'_>,
    q: &HashMap<String, String>,
    body: &Bytes,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Response>, ApiError> {
    let (store, kind, ns) = (&st.store, t.kind, t.namespace);
    let verb = match (t.name, method.clone()) {
        (None, Method::GET) if flag(q, "watch") => "watch",
        (None, Method::GET) => "list",
        (Some(_), Method::GET) => "get",
        (_, Method::POST) => "create",
        (_, Method::PUT) => "update",
        (_, Method::PATCH) => "patch",
        (None, Method::DELETE) => "deletecollection",
        (Some(_), Method::DELETE) => "delete",
        _ => "unknown",
    };
    let mut attrs = Attributes::resource(verb, kind, ns, t.name);
    if t.status {
        attrs.subresource = "status".into();
    }
    if t.log {
        attrs.subresource = "log".into();
    }
    if !rbac::allowed(store, user, &attrs) {
        return Err(attrs.forbidden(user));
    }
    if kind.is_review() {
        if *method != Method::POST || t.name.is_some() {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({path})"
            )));
        }
        let review = parse_body(body, false, headers)?;
        let out = if kind == Kind::SelfSubjectAccessReview {
            rbac::access_review(store, user, &review)
        } else {
            rbac::rules_review(store, user, &review)
        };
        return Ok(Some(json_response(201, &out)));
    }
    Ok(None)
}
