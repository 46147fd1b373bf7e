//! The Log Analytics query client and `log-analytics` alert assertions against a local
//! HTTP server answering in the query API's shape: tables/columns/rows with numbers as
//! JSON numbers or strings, an error body, a 429 with Retry-After, a partial error.

use acr_chaos::alerts::{AlertContext, AlertPhase, check_alert};
use acr_chaos::clients::SecretString;
use acr_chaos::clients::credential::{StaticToken, TokenSource};
use acr_chaos::clients::loganalytics::LogAnalyticsClient;
use acr_chaos::clients::retry::RetryPolicy;
use acr_chaos::scenario::Alert;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const WS: &str = "11111111-2222-3333-4444-555555555555";

#[derive(Clone, Default)]
struct Srv {
    calls: Arc<AtomicU32>,
    bodies: Arc<std::sync::Mutex<Vec<Value>>>,
}

fn table(rows: Value) -> Value {
    json!({"tables": [{"name": "PrimaryResult", "columns": [
        {"name": "Namespace", "type": "string"}, {"name": "Name", "type": "string"},
        {"name": "Count", "type": "long"}, {"name": "Ratio", "type": "real"}],
        "rows": rows}]})
}

/// Answers by the query text: `rows-native`, `rows-strings`, `empty`, `bad`, `throttle`
/// (429 with Retry-After: 1 on the first call), `partial`.
async fn query(
    State(s): State<Srv>,
    Path(ws): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    s.bodies.lock().unwrap().push(body.clone());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer la-token") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": "AuthorizationRequiredError", "message": "Valid authentication was not provided"}}))).into_response();
    }
    if ws != WS {
        return (StatusCode::NOT_FOUND, Json(json!({"error": {"code": "WorkspaceNotFoundError", "message": format!("Workspace {ws} not found")}}))).into_response();
    }
    let q = body["query"].as_str().unwrap_or("");
    match q {
        q if q.contains("rows-native") => Json(table(json!([["acr-chaos-x", "probe-fault-1", 3, 0.5], ["acr-chaos-x", "probe-fault-2", 1, 1.0]]))).into_response(),
        q if q.contains("rows-strings") => Json(table(json!([["acr-chaos-x", "probe-fault-1", "7", "0.25"]]))).into_response(),
        q if q.contains("empty") => Json(table(json!([]))).into_response(),
        q if q.contains("bad") => (StatusCode::BAD_REQUEST, Json(json!({"error": {"code": "BadArgumentError", "message": "The request had some invalid properties",
            "innererror": {"code": "SemanticError", "message": "'where' operator: Failed to resolve table or column expression named 'KubePodInventoryy'"}}}))).into_response(),
        q if q.contains("throttle") && n == 0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(json!({"error": {"code": "ThrottledError", "message": "too many requests"}}))).into_response(),
        q if q.contains("throttle") => Json(table(json!([["ns", "p", 1, 1]]))).into_response(),
        q if q.contains("partial") => Json(json!({"tables": table(json!([["ns", "p", "2", "1"]]))["tables"], "error": {"code": "PartialError", "message": "There were some errors when processing your query."}})).into_response(),
        _ => Json(table(json!([]))).into_response(),
    }
}

async fn server() -> (Srv, String, tokio::task::JoinHandle<()>) {
    let s = Srv::default();
    let app =
        axum::Router::new().route("/v1/workspaces/{ws}/query", post(query)).with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (s, url, h)
}

fn client(url: &str, ws: &str, token: &str) -> LogAnalyticsClient {
    let t: Arc<dyn TokenSource> = Arc::new(StaticToken(SecretString::new(token)));
    LogAnalyticsClient::new(reqwest::Client::new(), url, ws, t)
        .unwrap()
        .with_retry(RetryPolicy::fast())
}

#[tokio::test]
async fn rows_with_native_numbers_and_strings() {
    let (srv, url, _h) = server().await;
    let c = client(&url, WS, "la-token");
    let r = c.query("KubePodInventory | rows-native", Duration::from_secs(3600)).await.unwrap();
    let t = r.primary().unwrap();
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.number(0, "Count"), Some(3.0));
    assert_eq!(t.number(1, "Ratio"), Some(1.0));
    let r = c.query("KubePodInventory | rows-strings", Duration::from_secs(60)).await.unwrap();
    let t = r.primary().unwrap();
    assert_eq!(t.number(0, "Count"), Some(7.0));
    assert_eq!(t.rows[0][2], json!(7), "string cell of a long column normalised");
    assert_eq!(t.rows[0][3], json!(0.25));
    assert_eq!(t.text(0, "Name").as_deref(), Some("probe-fault-1"));
    // The request: query + ISO-8601 timespan.
    let bodies = srv.bodies.lock().unwrap().clone();
    assert_eq!(bodies[0]["timespan"], "PT3600S");
    assert_eq!(bodies[1]["timespan"], "PT60S");
    assert_eq!(bodies[1]["query"], "KubePodInventory | rows-strings");
}

#[tokio::test]
async fn error_body_is_reported_with_code_and_inner_message() {
    let (_srv, url, _h) = server().await;
    let e = client(&url, WS, "la-token").query("bad", Duration::from_secs(60)).await.unwrap_err();
    let text = e.to_string();
    assert_eq!(e.status(), Some(400));
    assert!(text.contains("BadArgumentError"), "{text}");
    assert!(text.contains("KubePodInventoryy"), "{text}");
    assert!(text.contains(&format!("/v1/workspaces/{WS}/query")), "{text}");
    let e = client(&url, WS, "wrong").query("x", Duration::from_secs(60)).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(!e.to_string().contains("wrong"), "token never in errors: {e}");
    let other = "99999999-2222-3333-4444-555555555555";
    let e = client(&url, other, "la-token").query("x", Duration::from_secs(60)).await.unwrap_err();
    assert!(e.to_string().contains("WorkspaceNotFoundError"), "{e}");
    assert!(
        LogAnalyticsClient::new(
            reqwest::Client::new(),
            &url,
            "a/b",
            Arc::new(StaticToken(SecretString::new("t")))
        )
        .is_err()
    );
}

#[tokio::test]
async fn throttled_answers_are_retried_after_retry_after() {
    let (srv, url, _h) = server().await;
    let began = Instant::now();
    let r = client(&url, WS, "la-token").query("throttle", Duration::from_secs(60)).await.unwrap();
    assert_eq!(r.row_count(), 1);
    assert_eq!(srv.calls.load(Ordering::SeqCst), 2);
    // Retry-After: 1 is honoured (RetryPolicy::fast caps waits at 2 s).
    assert!(began.elapsed() >= Duration::from_millis(950), "{:?}", began.elapsed());
}

#[tokio::test]
async fn partial_errors_keep_the_rows() {
    let (_srv, url, _h) = server().await;
    let r = client(&url, WS, "la-token").query("partial", Duration::from_secs(60)).await.unwrap();
    assert_eq!(r.row_count(), 1);
    assert_eq!(
        r.partial_error.as_deref(),
        Some("PartialError: There were some errors when processing your query.")
    );
}

fn la_alert(query: &str, min_rows: u32, deadline: &str) -> Alert {
    serde_json::from_value(json!({"kind": "log-analytics", "name": "kql", "deadline": deadline,
        "query": query, "minRows": min_rows, "resolveAfterRestore": true, "notFiringDuringBaseline": true}))
    .unwrap()
}

fn ctx(url: &str) -> AlertContext {
    let mut c = AlertContext { poll_interval: Duration::from_millis(50), ..Default::default() };
    c.log_analytics = Some(client(url, WS, "la-token"));
    c.for_scenario("acr-detach", "acr-chaos-x")
}

#[tokio::test]
async fn log_analytics_alert_assertions() {
    let (srv, url, _h) = server().await;
    let c = ctx(&url);
    // Fires: 2 rows ≥ minRows 2; the namespace placeholder is expanded.
    let o = check_alert(
        &la_alert("KubeEvents | where Namespace == '${namespace}' | rows-native", 2, "2s"),
        &c,
        AlertPhase::Faulted,
    )
    .await;
    assert!(o.passed, "{o:?}");
    assert_eq!(o.name, "kql");
    assert!(
        o.evidence.contains("probe-fault-1") && o.evidence.contains("2 row(s)"),
        "{}",
        o.evidence
    );
    assert!(
        srv.bodies.lock().unwrap().last().unwrap()["query"]
            .as_str()
            .unwrap()
            .contains("== 'acr-chaos-x'")
    );
    // Too few rows: polled until the deadline, then a failure naming the query.
    let o = check_alert(&la_alert("rows-strings", 2, "300ms"), &c, AlertPhase::Faulted).await;
    assert!(!o.passed);
    let f = o.failure.unwrap();
    assert!(
        f.contains("did not fire within 300ms")
            && f.contains("rows-strings")
            && f.contains("1 row(s)"),
        "{f}"
    );
    assert!(o.checks >= 2, "polled: {}", o.checks);
    // Baseline and resolved phases want no rows.
    let o = check_alert(&la_alert("empty", 1, "1s"), &c, AlertPhase::Baseline).await;
    assert!(o.passed && o.name == "kql/baseline", "{o:?}");
    let o = check_alert(&la_alert("rows-native", 1, "1s"), &c, AlertPhase::Baseline).await;
    assert!(
        !o.passed && o.failure.as_deref().unwrap().contains("already firing before the fault"),
        "{o:?}"
    );
    let o = check_alert(&la_alert("empty", 1, "1s"), &c, AlertPhase::Restored).await;
    assert!(o.passed && o.name == "kql/resolved", "{o:?}");
    let o = check_alert(&la_alert("rows-native", 1, "200ms"), &c, AlertPhase::Restored).await;
    assert!(!o.passed && o.failure.as_deref().unwrap().contains("still firing"), "{o:?}");
    // A query error ends in a failure with the service's message.
    let o = check_alert(&la_alert("bad", 1, "200ms"), &c, AlertPhase::Faulted).await;
    assert!(o.failure.as_deref().unwrap().contains("SemanticError"), "{o:?}");
    // The event the reporters consume.
    match o.event() {
        acr_chaos::events::EventKind::AlertChecked { name, passed, .. } => {
            assert!(name == "kql" && !passed)
        }
        other => panic!("{other:?}"),
    }
    // No workspace configured: a clear failure, no panic.
    let o =
        check_alert(&la_alert("x", 1, "1s"), &AlertContext::default(), AlertPhase::Faulted).await;
    assert!(o.failure.as_deref().unwrap().contains("logAnalyticsWorkspaceId"), "{o:?}");
}
