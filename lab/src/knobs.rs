//! Per-endpoint transient-failure knobs: make an emulated endpoint answer `429` with
//! `Retry-After`, answer `500`, or drop the connection, either for the next N requests
//! or with a probability. Endpoint names: `arm`, `entra`, `acr-token` (ACR `/oauth2/*`),
//! `registry` (ACR `/v2/*`), `hub-token`, `hub`, `kube`.
//!
//! Set them through [`crate::lab::LabBuilder::knob`], through [`Knobs`] at run time, or
//! over HTTP on the ARM host (admin routes from [`admin_router`]):
//!
//! ```text
//! POST   /_lab/knobs   {"endpoint":"acr-token","fault":{"kind":"tooManyRequests","retryAfterSecs":2},"next":3}
//! POST   /_lab/knobs   {"endpoint":"registry","fault":{"kind":"serverError"},"probability":0.5}
//! POST   /_lab/knobs   {"endpoint":"arm","fault":{"kind":"dropConnection"},"next":1}
//! GET    /_lab/knobs   -> {"acr-token":{...}, ...}
//! DELETE /_lab/knobs   (all)        DELETE /_lab/knobs/{endpoint}
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use http::{HeaderValue, StatusCode, header};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::server::DropConnection;

/// What an endpoint does instead of answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
#[non_exhaustive]
pub enum Fault {
    /// `429 Too Many Requests` with `Retry-After: <secs>`.
    TooManyRequests { retry_after_secs: u64 },
    /// `500 Internal Server Error`.
    ServerError,
    /// Close the connection without a response.
    DropConnection,
}

/// When a fault fires: for the next `next` requests, else with `probability` (0..=1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Knob {
    pub fault: Fault,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Knob {
    /// The fault for the next `n` requests.
    pub fn next(fault: Fault, n: u32) -> Knob {
        Knob { fault, next: Some(n), probability: None }
    }

    /// The fault with probability `p` on every request.
    pub fn probability(fault: Fault, p: f64) -> Knob {
        Knob { fault, next: None, probability: Some(p) }
    }

    fn validate(&self) -> Result<(), String> {
        match (self.next, self.probability) {
            (Some(_), Some(_)) => Err("set either `next` or `probability`, not both".into()),
            (None, None) => Err("set `next` (a count) or `probability` (0.0 to 1.0)".into()),
            (_, Some(p)) if !(0.0..=1.0).contains(&p) => {
                Err(format!("`probability` must be between 0.0 and 1.0, got {p}"))
            }
            _ => Ok(()),
        }
    }
}

/// The shared knob table (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    inner: Arc<Mutex<BTreeMap<String, Knob>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid knob for endpoint '{endpoint}': {reason}")]
pub struct KnobError {
    pub endpoint: String,
    pub reason: String,
}

impl Knobs {
    pub fn new() -> Knobs {
        Knobs::default()
    }

    /// Sets (replaces) the knob of `endpoint`.
    pub fn set(&self, endpoint: &str, knob: Knob) -> Result<(), KnobError> {
        knob.validate().map_err(|reason| KnobError { endpoint: endpoint.to_string(), reason })?;
        self.inner.lock().insert(endpoint.to_string(), knob);
        Ok(())
    }

    pub fn clear(&self, endpoint: &str) {
        self.inner.lock().remove(endpoint);
    }

    pub fn clear_all(&self) {
        self.inner.lock().clear();
    }

    pub fn snapshot(&self) -> BTreeMap<String, Knob> {
        self.inner.lock().clone()
    }

    /// Whether a request to `endpoint` should fail now, and how (consumes one of `next`).
    pub fn decide(&self, endpoint: &str) -> Option<Fault> {
        let mut map = self.inner.lock();
        let knob = map.get_mut(endpoint)?;
        match (knob.next, knob.probability) {
            (Some(n), _) => {
                let fault = knob.fault.clone();
                if n <= 1 {
                    map.remove(endpoint);
                } else {
                    knob.next = Some(n - 1);
                }
                (n > 0).then_some(fault)
            }
            (None, Some(p)) => (rand::random::<f64>() < p).then(|| knob.fault.clone()),
            (None, None) => None,
        }
    }
}

/// The answer a faulted endpoint gives (body shaped like that endpoint's errors).
pub fn fault_response(endpoint: &str, fault: &Fault) -> Response {
    let registry_like = matches!(endpoint, "registry" | "acr-token" | "hub" | "hub-token");
    match fault {
        Fault::TooManyRequests { retry_after_secs } => {
            let body = if registry_like {
                serde_json::json!({"errors":[{"code":"TOOMANYREQUESTS","message":"toomanyrequests: Too many requests. Please visit https://aka.ms/acr/skus#sku-feature-matrix to view limits of all service tiers."}]})
            } else {
                serde_json::json!({"error":{"code":"TooManyRequests","message":"The request is being throttled (lab fault knob)."}})
            };
            let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            resp
        }
        Fault::ServerError => {
            let body = if registry_like {
                serde_json::json!({"errors":[{"code":"UNKNOWN","message":"internal server error (lab fault knob)"}]})
            } else {
                serde_json::json!({"error":{"code":"InternalServerError","message":"Encountered internal server error (lab fault knob)."}})
            };
            (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
        Fault::DropConnection => {
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(DropConnection);
            resp
        }
    }
}

/// Wraps `router` so that requests to it consult the knob of `endpoint` first.
pub fn apply(router: Router, knobs: &Knobs, endpoint: &'static str) -> Router {
    let knobs = knobs.clone();
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let knobs = knobs.clone();
        async move {
            match knobs.decide(endpoint) {
                Some(fault) => {
                    tracing::debug!(endpoint, ?fault, "lab fault knob fired");
                    fault_response(endpoint, &fault)
                }
                None => next.run(req).await,
            }
        }
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetKnob {
    endpoint: String,
    fault: Fault,
    #[serde(default)]
    next: Option<u32>,
    #[serde(default)]
    probability: Option<f64>,
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error":{"code":"InvalidKnob","message":message}})),
    )
        .into_response()
}

/// Admin routes (`/_lab/knobs`) to merge into a lab server's router.
pub fn admin_router(knobs: Knobs) -> Router {
    Router::new()
        .route(
            "/_lab/knobs",
            get(|State(k): State<Knobs>| async move { Json(k.snapshot()) })
                .post(|State(k): State<Knobs>, body: axum::body::Bytes| async move {
                    let parsed: SetKnob = match serde_json::from_slice(&body) {
                        Ok(p) => p,
                        Err(e) => {
                            return bad_request(format!(
                                "body line {} column {}: {e}; expected {{\"endpoint\":\"acr-token\",\"fault\":{{\"kind\":\"tooManyRequests\",\"retryAfterSecs\":1}},\"next\":1}}",
                                e.line(),
                                e.column()
                            ));
                        }
                    };
                    let knob = Knob {
                        fault: parsed.fault,
                        next: parsed.next,
                        probability: parsed.probability,
                    };
                    match k.set(&parsed.endpoint, knob) {
                        Ok(()) => StatusCode::NO_CONTENT.into_response(),
                        Err(e) => bad_request(e.to_string()),
                    }
                })
                .delete(|State(k): State<Knobs>| async move {
                    k.clear_all();
                    StatusCode::NO_CONTENT
                }),
        )
        .route(
            "/_lab/knobs/{endpoint}",
            delete(|State(k): State<Knobs>, Path(endpoint): Path<String>| async move {
                k.clear(&endpoint);
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(knobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[test]
    fn next_n_fires_exactly_n_times() {
        let k = Knobs::new();
        k.set("arm", Knob::next(Fault::ServerError, 2)).unwrap();
        assert_eq!(k.decide("arm"), Some(Fault::ServerError));
        assert_eq!(k.decide("entra"), None);
        assert_eq!(k.decide("arm"), Some(Fault::ServerError));
        assert_eq!(k.decide("arm"), None);
    }

    #[test]
    fn probability_bounds_and_validation() {
        let k = Knobs::new();
        k.set("x", Knob::probability(Fault::DropConnection, 1.0)).unwrap();
        assert!((0..20).all(|_| k.decide("x").is_some()));
        k.set("x", Knob::probability(Fault::DropConnection, 0.0)).unwrap();
        assert!((0..20).all(|_| k.decide("x").is_none()));
        let err = k.set("x", Knob::probability(Fault::ServerError, 1.5)).unwrap_err();
        assert!(err.to_string().contains("between 0.0 and 1.0"), "{err}");
    }

    #[tokio::test]
    async fn middleware_and_admin_routes() {
        let knobs = Knobs::new();
        let app = apply(Router::new().route("/v2/", get(|| async { "ok" })), &knobs, "registry")
            .merge(admin_router(knobs.clone()));
        let set = Request::post("/_lab/knobs")
            .body(Body::from(
                r#"{"endpoint":"registry","fault":{"kind":"tooManyRequests","retryAfterSecs":7},"next":1}"#,
            ))
            .unwrap();
        assert_eq!(app.clone().oneshot(set).await.unwrap().status(), StatusCode::NO_CONTENT);
        let r =
            app.clone().oneshot(Request::get("/v2/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        let r =
            app.clone().oneshot(Request::get("/v2/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let bad = Request::post("/_lab/knobs").body(Body::from(r#"{"endpoint":"x"}"#)).unwrap();
        let r = app.oneshot(bad).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
