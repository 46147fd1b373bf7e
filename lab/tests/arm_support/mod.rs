//! Helpers shared by the ARM / Entra / NSG integration tests (in-process requests).
#![allow(dead_code, reason = "shared by several test modules, each using a part")]

use std::time::Duration;

use acr_chaos_lab::state::{SharedState, State, StateOptions};
use acr_chaos_lab::world::World;
use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const TENANT: &str = "72f988bf-0000-4000-8000-00000000a0a0";
pub const SUB: &str = "00000000-0000-4000-8000-0000000c4a05";
pub const RUNNER_CLIENT: &str = "3c1f0e2d-0000-4000-8000-00000000c4a0";
pub const RUNNER_OBJECT: &str = "6e5d4c3b-0000-4000-8000-00000000c4a0";
pub const RUNNER_SECRET: &str = "lab-runner-secret-not-a-real-secret";
pub const KUBELET_CLIENT: &str = "5b0c3a1e-0000-4000-8000-00000000c1d1";
pub const KUBELET_OBJECT: &str = "9a7d3c2b-0000-4000-8000-00000000ab1d";
pub const EXPIRED_CLIENT: &str = "1a2b3c4d-0000-4000-8000-0000000e4b1e";
pub const EXPIRED_SECRET: &str = "lab-expired-secret-not-a-real-secret";
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
pub const ARM: &str = "https://management.azure.com/";

pub fn shared(propagation: Duration, lro: Duration) -> SharedState {
    State::shared(
        World::default_world(),
        StateOptions {
            propagation_delay: propagation,
            lro_delay: lro,
            time_scale: 1.0,
            page_size: 100,
        },
    )
}

pub fn rg_id() -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg-acr-chaos-lab")
}

pub fn registry_id() -> String {
    format!("{}/providers/Microsoft.ContainerRegistry/registries/acrchaoslab", rg_id())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }
}

pub async fn send(router: &Router, req: Request<Body>) -> Reply {
    let resp = router.clone().oneshot(req).await.expect("router is infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Reply { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
}

pub async fn form(router: &Router, uri: &str, body: &str) -> Reply {
    let req = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(router, req).await
}

/// A client-credentials token from the Entra emulator.
pub async fn token_for(
    state: &SharedState,
    client_id: &str,
    secret: &str,
    resource: &str,
) -> String {
    let router = acr_chaos_lab::entra::router(state.clone());
    let body = format!(
        "grant_type=client_credentials&client_id={client_id}&client_secret={secret}&scope={}",
        url_encode(&format!("{resource}.default"))
    );
    let r = form(&router, &format!("/{TENANT}/oauth2/v2.0/token"), &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["access_token"].as_str().unwrap().to_string()
}

pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// ARM request with a bearer token and JSON body.
pub async fn arm(
    router: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(v) => {
            b.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap()
        }
        None => b.body(Body::empty()).unwrap(),
    };
    send(router, req).await
}

/// Skip (or fail under CI=true) when a prerequisite is missing.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is required under CI=true");
    }
    eprintln!("SKIPPED: {what} is not available");
    false
}
