//! Kubernetes client helpers against a scripted tower-test API server (as kube-rs'
//! mock_tests.rs): the probe pod's shape, create-or-replace of secrets, the lease
//! protocol, and watch field selectors.

use acr_chaos::clients::kube::{Kube, ProbeSpec};
use acr_chaos::engine::holder::HolderProcess;
use acr_chaos::engine::lease::{self, Acquire};
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn client() -> (Kube, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Kube::from_client(kube::Client::new(svc, "default")), handle)
}

async fn next(
    h: &mut Handle,
) -> (Request<Body>, Value, tower_test::mock::SendResponse<Response<Body>>) {
    let (req, send) = h.next_request().await.expect("a request");
    let (parts, body) = req.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Request::from_parts(parts, Body::empty()), v, send)
}

fn reply(send: tower_test::mock::SendResponse<Response<Body>>, status: StatusCode, v: Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&v).unwrap()))
            .unwrap(),
    );
}

fn not_found(kind: &str) -> Value {
    json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":format!("{kind} not found")})
}

#[tokio::test]
async fn probe_pod_has_the_required_shape() {
    let (kube, mut h) = client();
    let server = tokio::spawn(async move {
        let (req, body, send) = next(&mut h).await;
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/api/v1/namespaces/acr-chaos-x/pods");
        let c = &body["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["image"], "r.io/probe/hello:v1");
        assert!(c["resources"]["requests"]["memory"].is_string());
        assert_eq!(body["spec"]["restartPolicy"], "Never");
        assert_eq!(body["spec"]["automountServiceAccountToken"], false);
        assert_eq!(body["spec"]["imagePullSecrets"][0]["name"], "hub-pull");
        assert_eq!(body["spec"]["nodeSelector"]["kubernetes.io/os"], "linux");
        let l = &body["metadata"]["labels"];
        assert_eq!(l["app.kubernetes.io/managed-by"], "acr-chaos");
        assert_eq!(l["acr-chaos/run-id"], "20261124T000000Z-abcd");
        assert_eq!(l["acr-chaos/scenario"], "acr-detach");
        reply(send, StatusCode::CREATED, body);
    });
    let spec = ProbeSpec {
        name: "probe-baseline-1".into(),
        namespace: "acr-chaos-x".into(),
        image: "r.io/probe/hello:v1".into(),
        pull_secrets: vec!["hub-pull".into()],
        node_selector: BTreeMap::from([("kubernetes.io/os".into(), "linux".into())]),
        run_id: "20261124T000000Z-abcd".into(),
        scenario: "acr-detach".into(),
    };
    kube.create_probe(&spec).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn put_secret_creates_then_replaces_with_the_resource_version() {
    let (kube, mut h) = client();
    let server = tokio::spawn(async move {
        let (req, _, send) = next(&mut h).await;
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            ("GET", "/api/v1/namespaces/ns/secrets/s")
        );
        reply(send, StatusCode::NOT_FOUND, not_found("secret"));
        let (req, body, send) = next(&mut h).await;
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            ("POST", "/api/v1/namespaces/ns/secrets")
        );
        assert_eq!(body["type"], "kubernetes.io/dockerconfigjson");
        reply(send, StatusCode::CREATED, body);
        // second put: exists -> PUT with its resourceVersion
        let (_, _, send) = next(&mut h).await;
        reply(
            send,
            StatusCode::OK,
            json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns","resourceVersion":"42"}}),
        );
        let (req, body, send) = next(&mut h).await;
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            ("PUT", "/api/v1/namespaces/ns/secrets/s")
        );
        assert_eq!(body["metadata"]["resourceVersion"], "42");
        reply(send, StatusCode::OK, body);
    });
    let s = acr_chaos::clients::kube::docker_config_secret("s", "r.io", "u", "p", "run");
    kube.put_secret("ns", &s).await.unwrap();
    kube.put_secret("ns", &s).await.unwrap();
    server.await.unwrap();
}

fn lease_json(holder: &str, renew: &str) -> Value {
    json!({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
           "metadata":{"name":"acr-chaos","namespace":"kube-system","resourceVersion":"7"},
           "spec":{"holderIdentity":holder,"leaseDurationSeconds":60,"renewTime":renew,"acquireTime":renew}})
}

fn me() -> HolderProcess {
    HolderProcess::this_process("run")
}

#[tokio::test]
async fn lease_is_created_when_absent_naming_the_holder_process() {
    let (kube, mut h) = client();
    let server = tokio::spawn(async move {
        let (req, _, send) = next(&mut h).await;
        assert_eq!(
            req.uri().path(),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/acr-chaos"
        );
        reply(send, StatusCode::NOT_FOUND, not_found("lease"));
        let (req, body, send) = next(&mut h).await;
        assert_eq!(req.method(), "POST");
        assert_eq!(body["spec"]["holderIdentity"], "run-a");
        assert_eq!(
            body["metadata"]["annotations"]["acr-chaos/holder-pid"],
            std::process::id().to_string()
        );
        reply(send, StatusCode::CREATED, body);
    });
    assert_eq!(
        lease::acquire(&kube, "kube-system", "run-a", &me()).await.unwrap(),
        Acquire::Acquired { took_over: None }
    );
    server.await.unwrap();
}

#[tokio::test]
async fn live_lease_of_another_run_is_respected_and_a_stale_one_taken_over_pinned() {
    let (kube, mut h) = client();
    let fresh = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let server = tokio::spawn(async move {
        let (_, _, send) = next(&mut h).await;
        reply(send, StatusCode::OK, lease_json("run-b", &fresh));
        let (_, _, send) = next(&mut h).await;
        reply(send, StatusCode::OK, lease_json("run-b", "2020-01-01T00:00:00.000000Z"));
        let (req, body, send) = next(&mut h).await;
        assert_eq!(req.method(), "PUT");
        assert_eq!(body["metadata"]["resourceVersion"], "7", "the takeover is pinned");
        assert_eq!(body["spec"]["holderIdentity"], "run-a");
        reply(send, StatusCode::OK, body);
    });
    match lease::acquire(&kube, "kube-system", "run-a", &me()).await.unwrap() {
        Acquire::Held { holder, detail } => {
            assert_eq!(holder, "run-b");
            assert!(detail.contains("renewed"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    match lease::acquire(&kube, "kube-system", "run-a", &me()).await.unwrap() {
        Acquire::Acquired { took_over: Some((holder, why)) } => {
            assert_eq!(holder, "run-b");
            assert!(why.contains("not renewed"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_takeover_that_loses_the_race_sees_the_winner() {
    let (kube, mut h) = client();
    let fresh = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let server = tokio::spawn(async move {
        let (_, _, send) = next(&mut h).await;
        reply(send, StatusCode::OK, lease_json("run-b", "2020-01-01T00:00:00.000000Z"));
        let (req, _, send) = next(&mut h).await;
        assert_eq!(req.method(), "PUT");
        reply(
            send,
            StatusCode::CONFLICT,
            json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409,"message":"the object has been modified"}),
        );
        let (_, _, send) = next(&mut h).await;
        reply(send, StatusCode::OK, lease_json("run-c", &fresh));
    });
    match lease::acquire(&kube, "kube-system", "run-a", &me()).await.unwrap() {
        Acquire::Held { holder, .. } => assert_eq!(holder, "run-c"),
        other => panic!("{other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn probe_watch_uses_field_selectors_for_the_pod_and_its_events() {
    let (kube, mut h) = client();
    let mut stream = Box::pin(kube.watch_probe("ns", "probe-1"));
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (req, _, send) = next(&mut h).await;
            let uri = req.uri().to_string();
            seen.push(uri.clone());
            let kind = if uri.contains("/events") { "EventList" } else { "PodList" };
            reply(
                send,
                StatusCode::OK,
                json!({"apiVersion":"v1","kind":kind,"metadata":{"resourceVersion":"1"},"items":[]}),
            );
        }
        seen
    });
    // drive the stream until both initial lists were requested
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), stream.next()).await;
    let seen = server.await.unwrap();
    let decoded: Vec<String> =
        seen.iter().map(|u| u.replace("%3D", "=").replace("%2C", ",")).collect();
    assert!(
        decoded.iter().any(|u| u.contains("/api/v1/namespaces/ns/pods")
            && u.contains("fieldSelector=metadata.name=probe-1")),
        "{decoded:?}"
    );
    assert!(
        decoded.iter().any(|u| u.contains("/api/v1/namespaces/ns/events")
            && u.contains("involvedObject.name=probe-1")),
        "{decoded:?}"
    );
}
