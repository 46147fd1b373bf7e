//! The ARM client against a tiny local ARM server: retries with Retry-After on 429 and
//! 5xx, long-running operations (Azure-AsyncOperation and Location), paging, 404s,
//! error envelopes, and the bearer token never going to another host.

use acr_chaos::clients::ClientError;
use acr_chaos::clients::SecretString;
use acr_chaos::clients::arm::{ArmClient, RoleAssignmentProperties};
use acr_chaos::clients::credential::StaticToken;
use acr_chaos::clients::retry::RetryPolicy;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Server {
    /// requests seen: "METHOD path?query"
    log: Vec<String>,
    /// path -> number of 429s still to answer
    throttle: HashMap<String, u32>,
    /// path -> number of 503s still to answer
    unavailable: HashMap<String, u32>,
    role_assignments: HashMap<String, Value>,
    registry: Value,
    polls: u32,
    auth_headers: Vec<String>,
}

type S = Arc<Mutex<Server>>;

#[expect(clippy::too_many_lines, reason = "the scripted ARM server: one arm per route")]
async fn handle(State(s): State<S>, req: Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = s.lock().unwrap();
    st.log.push(format!("{method} {path}?{query}"));
    st.auth_headers.push(auth.clone());
    if auth != "Bearer test-token" {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error":{"code":"InvalidAuthenticationToken","message":"bad token"}}),
            ),
        )
            .into_response();
    }
    if !query.contains("api-version=") && !path.starts_with("/ops/") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error":{"code":"MissingApiVersionParameter","message":"api-version required"}}))).into_response();
    }
    if let Some(n) = st.throttle.get_mut(&path).filter(|n| **n > 0) {
        *n -= 1;
        let mut h = HeaderMap::new();
        h.insert("retry-after", "1".parse().unwrap());
        return (
            StatusCode::TOO_MANY_REQUESTS,
            h,
            axum::Json(json!({"error":{"code":"TooManyRequests","message":"slow down"}})),
        )
            .into_response();
    }
    if let Some(n) = st.unavailable.get_mut(&path).filter(|n| **n > 0) {
        *n -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    let ra = "/providers/Microsoft.Authorization/roleAssignments";
    if path.starts_with("/ops/async") {
        st.polls += 1;
        let status = if st.polls < 3 { "InProgress" } else { "Succeeded" };
        return axum::Json(json!({ "status": status })).into_response();
    }
    if path.starts_with("/ops/location") {
        st.polls += 1;
        if st.polls < 2 {
            return StatusCode::ACCEPTED.into_response();
        }
        return axum::Json(json!({"username":"chaostoken","passwords":[{"name":"password2","value":"s3cr3t-value","expiry":"2030-01-01T00:00:00Z"}]})).into_response();
    }
    if path.ends_with(ra) {
        // list, two pages
        let all: Vec<Value> = st.role_assignments.values().cloned().collect();
        if query.contains("page=2") {
            return axum::Json(json!({ "value": all[1..].to_vec() })).into_response();
        }
        return axum::Json(json!({ "value": all[..1].to_vec(), "nextLink": format!("{{BASE}}{path}?api-version=2022-04-01&page=2") })).into_response();
    }
    if path.contains(&format!("{ra}/")) {
        return match method.as_str() {
            "GET" => match st.role_assignments.get(&path) {
                Some(v) => axum::Json(v.clone()).into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(
                        json!({"error":{"code":"RoleAssignmentNotFound","message":"not found"}}),
                    ),
                )
                    .into_response(),
            },
            "PUT" => {
                let name = path.rsplit('/').next().unwrap().to_string();
                let mut props = body["properties"].clone();
                props["scope"] = json!(path.split(ra).next().unwrap());
                let v = json!({ "id": path, "name": name, "properties": props });
                st.role_assignments.insert(path.clone(), v.clone());
                (StatusCode::CREATED, axum::Json(v)).into_response()
            }
            "DELETE" => match st.role_assignments.remove(&path) {
                Some(v) => axum::Json(v).into_response(),
                None => StatusCode::NO_CONTENT.into_response(),
            },
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        };
    }
    if path.ends_with("/registries/r1") {
        return match method.as_str() {
            "GET" => axum::Json(st.registry.clone()).into_response(),
            "PATCH" => {
                if let Some(p) = body.get("properties").and_then(Value::as_object) {
                    for (k, v) in p {
                        st.registry["properties"][k] = v.clone();
                    }
                }
                st.polls = 0;
                let mut h = HeaderMap::new();
                h.insert("azure-asyncoperation", "{BASE}/ops/async/1".parse().unwrap());
                h.insert("retry-after", "0".parse().unwrap());
                (StatusCode::CREATED, h, axum::Json(st.registry.clone())).into_response()
            }
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        };
    }
    if path.ends_with("/generateCredentials") {
        st.polls = 0;
        let mut h = HeaderMap::new();
        h.insert("location", "{BASE}/ops/location/1".parse().unwrap());
        h.insert("retry-after", "0".parse().unwrap());
        return (StatusCode::ACCEPTED, h).into_response();
    }
    if path.ends_with("/evil") {
        let mut h = HeaderMap::new();
        h.insert("location", "http://127.0.0.2:1/steal".parse().unwrap());
        return (StatusCode::ACCEPTED, h).into_response();
    }
    (StatusCode::NOT_FOUND, axum::Json(json!({"error":{"code":"ResourceNotFound","message":format!("The Resource '{path}' was not found.")}}))).into_response()
}

/// Rewrites `{BASE}` placeholders in headers/bodies to the server's own address.
async fn start() -> (String, S) {
    let state: S = Arc::default();
    state.lock().unwrap().registry = json!({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r1",
        "properties": { "loginServer": "r1.azurecr.io", "publicNetworkAccess": "Enabled",
                        "networkRuleSet": { "defaultAction": "Allow", "ipRules": [] } }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b2 = base.clone();
    let app = Router::new().fallback(handle).with_state(state.clone()).layer(
        axum::middleware::map_response(move |mut r: Response| {
            let base = b2.clone();
            async move {
                for v in r.headers_mut().values_mut() {
                    if let Ok(s) = v.to_str()
                        && s.contains("{BASE}")
                    {
                        *v = s.replace("{BASE}", &base).parse().unwrap();
                    }
                }
                let (parts, body) = r.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let text = String::from_utf8_lossy(&bytes).replace("{BASE}", &base);
                let mut parts = parts;
                parts.headers.remove("content-length");
                Response::from_parts(parts, axum::body::Body::from(text))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, state)
}

fn client(base: &str) -> ArmClient {
    ArmClient::new(
        reqwest::Client::new(),
        base,
        Arc::new(StaticToken(SecretString::new("test-token"))),
    )
    .unwrap()
    .with_retry(RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
    })
    .with_lro(Duration::from_millis(10), Duration::from_secs(10))
}

const REG: &str =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r1";

#[tokio::test]
async fn retries_429_honouring_retry_after_and_503() {
    let (base, st) = start().await;
    st.lock().unwrap().throttle.insert(REG.into(), 1);
    st.lock().unwrap().unavailable.insert(REG.into(), 2);
    let arm = client(&base);
    let t0 = Instant::now();
    let r = arm.get_registry(REG).await.unwrap();
    assert_eq!(r["properties"]["loginServer"], "r1.azurecr.io");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was not honoured: {:?}",
        t0.elapsed()
    );
    assert_eq!(arm.request_count(), 4, "1 throttled + 2 unavailable + 1 ok");
}

#[tokio::test]
async fn gives_up_after_max_attempts_with_the_arm_error() {
    let (base, st) = start().await;
    st.lock().unwrap().unavailable.insert(REG.into(), 100);
    let e = client(&base).get_registry(REG).await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
}

#[tokio::test]
async fn not_found_and_error_envelope() {
    let (base, _) = start().await;
    let arm = client(&base);
    let e = arm.get_managed_cluster("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/none").await.unwrap_err();
    match &e {
        ClientError::Http { status, code, message, .. } => {
            assert_eq!(*status, 404);
            assert_eq!(code.as_deref(), Some("ResourceNotFound"));
            assert!(message.contains("was not found"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        arm.get_role_assignment(&format!(
            "{REG}/providers/Microsoft.Authorization/roleAssignments/x"
        ))
        .await
        .unwrap()
        .is_none()
    );
}

#[tokio::test]
async fn patch_follows_azure_async_operation() {
    let (base, st) = start().await;
    let arm = client(&base);
    let body = json!({"properties":{"publicNetworkAccess":"Disabled"}});
    let r = arm.patch_registry(REG, &body).await.unwrap();
    assert_eq!(r["properties"]["publicNetworkAccess"], "Disabled");
    let log = st.lock().unwrap().log.clone();
    let polls = log.iter().filter(|l| l.starts_with("GET /ops/async")).count();
    assert_eq!(polls, 3, "{log:?}");
    assert!(
        log.last().unwrap().starts_with(&format!("GET {REG}?api-version=2025-04-01")),
        "final GET of the resource: {log:?}"
    );
}

#[tokio::test]
async fn generate_credentials_follows_location_and_hides_the_password() {
    let (base, _) = start().await;
    let arm = client(&base);
    let c = arm
        .generate_credentials(
            REG,
            &format!("{REG}/tokens/chaostoken"),
            chrono::Utc::now(),
            "password2",
        )
        .await
        .unwrap();
    assert_eq!(c.username, "chaostoken");
    assert_eq!(c.password.expose(), "s3cr3t-value");
    assert!(!format!("{c:?}").contains("s3cr3t-value"), "Debug must not show the password");
}

#[tokio::test]
async fn role_assignment_delete_and_recreate_same_name_and_paging() {
    let (base, _) = start().await;
    let arm = client(&base);
    let props = RoleAssignmentProperties {
        role_definition_id: "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d".into(),
        principal_id: "p1".into(),
        principal_type: Some("ServicePrincipal".into()),
        description: Some("attached".into()),
        ..Default::default()
    };
    let a =
        arm.put_role_assignment(REG, "11111111-1111-1111-1111-111111111111", &props).await.unwrap();
    arm.put_role_assignment(REG, "22222222-2222-2222-2222-222222222222", &props).await.unwrap();
    assert_eq!(a.properties.role_guid(), "7f951dda-4ed3-4680-a7ca-43fe172d538d");
    let listed = arm.list_role_assignments(REG, Some("principalId eq 'p1'")).await.unwrap();
    assert_eq!(listed.len(), 2, "nextLink followed");
    assert!(arm.delete_role_assignment(&a.id).await.unwrap());
    assert!(!arm.delete_role_assignment(&a.id).await.unwrap(), "204 on the second delete");
    let again = arm.put_role_assignment(REG, &a.name, &props).await.unwrap();
    assert_eq!(again.id, a.id);
    assert_eq!(again.properties.description.as_deref(), Some("attached"));
}

#[tokio::test]
async fn never_follows_an_operation_url_on_another_host() {
    let (base, st) = start().await;
    let arm = client(&base);
    let e = arm.delete_security_rule("/subscriptions/s/evil").await.unwrap_err();
    assert!(e.to_string().contains("another host"), "{e}");
    assert!(st.lock().unwrap().auth_headers.iter().all(|h| h == "Bearer test-token"));
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // nothing listens on this port
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let arm = client(&format!("http://{addr}"));
    let e = arm.get_registry(REG).await.unwrap_err();
    assert!(matches!(e, ClientError::Transport { .. }), "{e:?}");
    assert_eq!(arm.request_count(), 5);
}
