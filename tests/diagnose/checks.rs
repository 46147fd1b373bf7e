//! `diagnose` against fakes: a tower-test Kubernetes API (pod, events, secrets), a local
//! axum ARM (registry, managedCluster, role assignments) and a local axum registry
//! (challenge, token service with Basic auth, ACR exchange, manifests). Each test changes
//! one fact of the world and checks the check that must notice it, the cause and the fix.

use acr_chaos::classify::Cause;
use acr_chaos::clients::SecretString;
use acr_chaos::clients::arm::{ACR_PULL_ROLE, ArmClient, RoleAssignment};
use acr_chaos::clients::credential::StaticToken;
use acr_chaos::clients::kube::Kube;
use acr_chaos::clients::registry::RegistryClient;
use acr_chaos::clients::retry::RetryPolicy;
use acr_chaos::diagnose::{self, Context, DiagnoseError, Status, names};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::StatusCode;
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const SUB: &str = "00000000-0000-4000-8000-000000000001";
const REG_HOST: &str = "reg.test";
const HUB_HOST: &str = "hub.test";
const KUBELET: &str = "9a7d3c2b-0000-4000-8000-00000000ab1d";
const GOOD_PASSWORD: &str = "fake-good-password-123";

fn registry_id() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/reg1"
    )
}
fn cluster_id() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/rg2/providers/Microsoft.ContainerService/managedClusters/aks1"
    )
}

/// The fake world.
#[derive(Clone)]
struct World {
    registry: Value,
    assignments: Vec<Value>,
    pod: Option<Value>,
    events: Vec<String>,
    secrets: BTreeMap<String, Value>,
    /// Tags that exist for repo `app` on both registries.
    tags: Vec<&'static str>,
}

fn assignment(scope: &str, role: &str, principal: &str) -> Value {
    json!({
        "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/a-{role}"),
        "name": format!("a-{role}"),
        "properties": {"roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                       "principalId": principal, "scope": scope}
    })
}

fn world(image: &str, secrets: &[&str], message: &str) -> World {
    World {
        registry: json!({"id": registry_id(), "properties": {
            "loginServer": REG_HOST, "publicNetworkAccess": "Enabled",
            "networkRuleSet": {"defaultAction": "Allow", "ipRules": []}}}),
        assignments: vec![assignment(&registry_id(), ACR_PULL_ROLE, KUBELET)],
        pod: Some(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "containers": [{"name": "sidecar", "image": "reg.test/side:1"}, {"name": "web", "image": image}],
                "imagePullSecrets": secrets.iter().map(|s| json!({"name": s})).collect::<Vec<_>>(),
            },
            "status": {"containerStatuses": [
                {"name": "sidecar", "image": "reg.test/side:1", "imageID": "", "ready": true, "restartCount": 0,
                 "state": {"running": {}}},
                {"name": "web", "image": image, "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}}}
            ]}
        })),
        events: vec![format!("Pulling image \"{image}\""), message.to_string()],
        secrets: BTreeMap::new(),
        tags: vec!["v1"],
    }
}

fn docker_secret(host: &str, user: &str, password: &str, only_auth: bool) -> Value {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let entry = if only_auth {
        json!({"auth": auth})
    } else {
        json!({"username": user, "password": password, "auth": auth})
    };
    let cfg = json!({"auths": {host: entry}});
    json!({"type": "kubernetes.io/dockerconfigjson",
           "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(cfg.to_string())}})
}

// ---- ARM -------------------------------------------------------------------------------

async fn arm(State(w): State<Arc<Mutex<World>>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let w = w.lock().unwrap().clone();
    if path.ends_with("/providers/Microsoft.Authorization/roleAssignments") {
        let q = req.uri().query().unwrap_or("");
        assert!(q.contains("%24filter=principalId+eq+%27") || q.contains("$filter"), "{q}");
        return axum::Json(json!({"value": w.assignments})).into_response();
    }
    if path.eq_ignore_ascii_case(&registry_id()) {
        return axum::Json(w.registry).into_response();
    }
    if path.eq_ignore_ascii_case(&cluster_id()) {
        return axum::Json(json!({"properties": {"identityProfile": {"kubeletidentity": {
            "objectId": KUBELET, "clientId": "c"}}}}))
        .into_response();
    }
    (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"code": "NotFound", "message": path}})))
        .into_response()
}

// ---- registry (both hosts; the Host header tells them apart) ----------------------------

fn jwt(actions: &[&str]) -> String {
    let e = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        e(json!({"alg": "none"})),
        e(json!({"access": [{"type": "repository", "name": "app", "actions": actions}]}))
    )
}

async fn registry(State(w): State<Arc<Mutex<World>>>, req: Request) -> Response {
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let host = host.split(':').next().unwrap_or("").to_string();
    let path = req.uri().path().to_string();
    let auth = req.headers().get("authorization").and_then(|h| h.to_str().ok()).map(str::to_string);
    let w = w.lock().unwrap().clone();
    let challenge = format!(r#"Bearer realm="http://{host}/token",service="{host}""#);
    match path.as_str() {
        "/v2/" => (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)], "").into_response(),
        "/oauth2/exchange" => axum::Json(json!({"refresh_token": "fake-refresh"})).into_response(),
        "/token" => {
            let basic = auth.as_deref().and_then(|a| a.strip_prefix("Basic ")).map(|b| {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                    .unwrap()
            });
            match basic.as_deref() {
                None if host == REG_HOST => StatusCode::UNAUTHORIZED.into_response(),
                None => axum::Json(json!({"token": jwt(&[])})).into_response(),
                Some(b) if b == format!("bot:{GOOD_PASSWORD}") || b == "00000000-0000-0000-0000-000000000000:fake-refresh" => {
                    axum::Json(json!({"access_token": jwt(&["pull"])})).into_response()
                }
                Some(_) => (StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))).into_response(),
            }
        }
        p if p.starts_with("/v2/app/manifests/") => {
            if auth.as_deref() != Some(&format!("Bearer {}", jwt(&["pull"]))) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let tag = p.rsplit('/').next().unwrap_or("");
            if w.tags.contains(&tag) { StatusCode::OK } else { StatusCode::NOT_FOUND }
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---- Kubernetes (tower-test) -------------------------------------------------------------

fn kube_fake(w: Arc<Mutex<World>>) -> Kube {
    let (svc, mut handle) = tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let path = req.uri().path().to_string();
            let query = req.uri().query().unwrap_or("").to_string();
            let w = w.lock().unwrap().clone();
            let nf = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "reason": "NotFound", "code": 404, "message": "not found"});
            let (status, body) = if path == "/api/v1/namespaces/shop/pods/web" {
                match w.pod {
                    Some(p) => (200, p),
                    None => (404, nf),
                }
            } else if path == "/api/v1/namespaces/shop/events" {
                assert!(query.contains("involvedObject.name%3Dweb"), "{query}");
                let items: Vec<Value> = w
                    .events
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        json!({
                            "metadata": {"name": format!("web.{i}"), "namespace": "shop"},
                            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "shop"},
                            "reason": "Failed", "message": m,
                            "lastTimestamp": format!("2026-11-24T00:00:0{i}Z"),
                        })
                    })
                    .collect();
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": items}),
                )
            } else if let Some(name) = path.strip_prefix("/api/v1/namespaces/shop/secrets/") {
                match w.secrets.get(name) {
                    Some(s) => {
                        let mut s = s.clone();
                        s["metadata"] = json!({"name": name, "namespace": "shop"});
                        (200, s)
                    }
                    None => (404, nf),
                }
            } else {
                (404, nf)
            };
            send.send_response(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    });
    Kube::from_client(kube::Client::new(svc, "default"))
}

async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

async fn context(w: World) -> (Context, Arc<Mutex<World>>) {
    let w = Arc::new(Mutex::new(w));
    let arm_addr = serve(axum::Router::new().fallback(arm).with_state(w.clone())).await;
    let reg_addr = serve(axum::Router::new().fallback(registry).with_state(w.clone())).await;
    let http = reqwest::Client::new();
    let arm = ArmClient::new(
        http,
        &format!("http://{arm_addr}"),
        Arc::new(StaticToken(SecretString::new("arm-token"))),
    )
    .unwrap()
    .with_retry(RetryPolicy::fast());
    let pins = vec![(REG_HOST.to_string(), reg_addr), (HUB_HOST.to_string(), reg_addr)];
    let ctx = Context {
        arm,
        kube: kube_fake(w.clone()),
        registry: RegistryClient::new(None, &pins).unwrap().plain_http(),
        registry_tokens: Some(Arc::new(StaticToken(SecretString::new("entra-token")))),
        tenant_id: None,
        registry_id: registry_id(),
        cluster_id: cluster_id(),
        nsg_id: None,
    };
    (ctx, w)
}

const ANON_401: &str = r#"Failed to pull image "reg.test/app:v1": rpc error: code = Unknown desc = failed to pull and unpack image "reg.test/app:v1": failed to resolve reference "reg.test/app:v1": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized"#;

#[tokio::test]
async fn detached_registry_fails_the_role_check_and_suggests_attach() {
    let mut w = world("reg.test/app:v1", &[], ANON_401);
    w.assignments = vec![
        // another registry, and a role that does not pull: neither counts
        assignment(
            &format!(
                "/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/other"
            ),
            ACR_PULL_ROLE,
            KUBELET,
        ),
        assignment(&registry_id(), "acdd72a7-3385-48ef-bd42-f606fba81ae7", KUBELET),
    ];
    let (ctx, _) = context(w).await;
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    assert_eq!(d.container, "web");
    assert_eq!(d.waiting_reason.as_deref(), Some("ImagePullBackOff"));
    assert!(d.has_cause(Cause::UnauthorizedAnonymous), "{:?}", d.causes);
    let c = d.check(names::KUBELET_IDENTITY_ROLE).unwrap();
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(c.evidence.iter().any(|e| e.contains("another scope")), "{c:?}");
    assert!(c.evidence.iter().any(|e| e.contains("does not grant pull")), "{c:?}");
    let cmds: Vec<&str> = d.fixes.iter().map(|f| f.command.as_str()).collect();
    assert!(cmds.contains(&"az aks update -n aks1 -g rg2 --attach-acr reg1"), "{cmds:?}");
    assert!(
        cmds.contains(
            &format!(
                "az role assignment create --assignee {KUBELET} --role AcrPull --scope {}",
                registry_id()
            )
            .as_str()
        ),
        "{cmds:?}"
    );
    assert!(cmds.contains(&"az aks check-acr --name aks1 --resource-group rg2 --acr reg.test"));
    // the tag is looked up with acr-chaos's own identity through /oauth2/exchange
    assert_eq!(d.check(names::IMAGE_TAG).unwrap().status, Status::Pass);
    assert_eq!(d.check(names::REGISTRY_NETWORK).unwrap().status, Status::Pass);
}

#[tokio::test]
async fn inherited_push_role_at_the_resource_group_passes() {
    let mut w = world("reg.test/app:v1", &[], ANON_401);
    // AcrPush at the resource group, with the scope's case changed
    w.assignments = vec![assignment(
        &format!("/subscriptions/{SUB}/resourcegroups/RG1"),
        "8311e382-0749-4cb8-b61a-304f252e45ec",
        KUBELET,
    )];
    let (ctx, _) = context(w).await;
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    let c = d.check(names::KUBELET_IDENTITY_ROLE).unwrap();
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert!(c.summary.contains("AcrPush"), "{c:?}");
    assert!(!d.fixes.iter().any(|f| f.command.contains("--attach-acr")));
}

#[tokio::test]
async fn firewall_settings_are_judged() {
    use diagnose::network::evaluate;
    let body = |pna: &str, action: &str, ips: &[&str]| {
        json!({"properties": {"publicNetworkAccess": pna, "networkRuleSet": {"defaultAction": action,
            "ipRules": ips.iter().map(|i| json!({"action": "Allow", "value": i})).collect::<Vec<_>>()}}})
    };
    assert_eq!(evaluate(&body("Enabled", "Allow", &[])).2.status, Status::Pass);
    let (disabled, _, c) = evaluate(&body("Disabled", "Allow", &[]));
    assert!(disabled);
    assert_eq!(c.status, Status::Fail);
    let (_, deny, c) = evaluate(&body("Enabled", "Deny", &[]));
    assert!(deny);
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("defaultAction=Deny"), "{c:?}");
    let (_, _, c) = evaluate(&body("Enabled", "Deny", &["203.0.113.10/32"]));
    assert_eq!(c.status, Status::Unknown, "egress IP is not visible: {c:?}");
    assert!(c.evidence.iter().any(|e| e.contains("203.0.113.10/32")));

    // through diagnose: a 403 in the pod's message confirms the deny
    let msg = r#"Failed to pull image "reg.test/app:v1": failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden"#;
    let mut w = world("reg.test/app:v1", &[], msg);
    w.registry = json!({"properties": {"loginServer": REG_HOST, "publicNetworkAccess": "Enabled",
        "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "203.0.113.10/32"}]}}});
    let (ctx, _) = context(w).await;
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    assert!(d.has_cause(Cause::ForbiddenNetwork));
    assert_eq!(d.check(names::REGISTRY_NETWORK).unwrap().status, Status::Fail);
    assert!(d.fixes.iter().any(
        |f| f.command == "az acr network-rule add --name reg1 --ip-address <cluster-egress-ip>"
    ));
}

#[tokio::test]
async fn missing_tag_is_found_with_the_pull_secret() {
    let msg = r#"Failed to pull image "hub.test/app:nope": rpc error: code = NotFound desc = failed to pull and unpack image "hub.test/app:nope": failed to resolve reference "hub.test/app:nope": hub.test/app:nope: not found"#;
    let mut w = world("hub.test/app:nope", &["hub-pull"], msg);
    w.secrets
        .insert("hub-pull".into(), docker_secret("https://hub.test", "bot", GOOD_PASSWORD, true));
    let (ctx, _) = context(w).await;
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    assert!(d.has_cause(Cause::NotFound));
    assert_eq!(d.check(names::PULL_SECRET).unwrap().status, Status::Pass);
    assert_eq!(d.check(names::PULL_SECRET_CREDENTIALS).unwrap().status, Status::Pass);
    let tag = d.check(names::IMAGE_TAG).unwrap();
    assert_eq!(tag.status, Status::Fail, "{tag:?}");
    assert!(tag.evidence[0].contains("404") && tag.evidence[0].contains("pull secret"), "{tag:?}");
    // another registry: no role check, no check-acr
    assert_eq!(d.check(names::KUBELET_IDENTITY_ROLE).unwrap().status, Status::Skipped);
    assert!(d.fixes.iter().any(|f| {
        f.command.starts_with("kubectl set image pod/web web=hub.test/app:<existing-tag>")
    }));
    assert!(!d.fixes.iter().any(|f| f.command.contains("check-acr")));
}

#[tokio::test]
async fn refused_and_missing_pull_secrets_are_named_and_never_printed() {
    let msg = r#"Failed to pull image "hub.test/app:v1": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"#;
    let mut w = world("hub.test/app:v1", &["hub-pull"], msg);
    let wrong = "fake-wrong-password-987";
    w.secrets.insert("hub-pull".into(), docker_secret("hub.test", "bot", wrong, false));
    let (ctx, state) = context(w).await;
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    assert!(d.has_cause(Cause::UnauthorizedCredentials));
    let c = d.check(names::PULL_SECRET_CREDENTIALS).unwrap();
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(c.evidence[0].contains("401"), "{c:?}");
    assert!(d.fixes.iter().any(|f| f.command.starts_with(
        "kubectl delete secret hub-pull -n shop && kubectl create secret docker-registry hub-pull"
    )));
    let out = format!("{}{}", diagnose::render::text(&d), diagnose::render::json(&d));
    assert!(!out.contains(wrong), "the password leaked");
    let wrong_b64 = base64::engine::general_purpose::STANDARD.encode(format!("bot:{wrong}"));
    assert!(!out.contains(&wrong_b64), "the auth leaked");

    // the secret disappears: pull-secret fails and names it
    state.lock().unwrap().secrets.clear();
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    let c = d.check(names::PULL_SECRET).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("hub-pull"), "{c:?}");
    assert_eq!(d.check(names::PULL_SECRET_CREDENTIALS).unwrap().status, Status::Skipped);

    // no secret at all on a private repository: anonymous gets no pull
    let mut w = world("hub.test/app:v1", &[], msg);
    w.pod.as_mut().unwrap()["spec"]["imagePullSecrets"] = json!([]);
    let (ctx, _) = context(w).await;
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    let c = d.check(names::PULL_SECRET).unwrap();
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        d.fixes
            .iter()
            .any(|f| f.command.starts_with("kubectl patch serviceaccount default -n shop"))
    );
}

#[tokio::test]
async fn json_has_the_documented_shape() {
    let (ctx, _) = context(world("reg.test/app:v1", &[], ANON_401)).await;
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    let v: Value = serde_json::from_str(&diagnose::render::json(&d)).unwrap();
    for k in [
        "pod",
        "namespace",
        "container",
        "image",
        "waitingReason",
        "message",
        "events",
        "causes",
        "checks",
        "fixes",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["image"], "reg.test/app:v1");
    assert_eq!(v["causes"][0]["id"], "unauthorized-anonymous");
    assert!(v["causes"][0]["remediation"].as_str().unwrap().len() > 10);
    let names: Vec<&str> =
        v["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "registry-network",
            "registry-reachable",
            "kubelet-identity-role",
            "pull-secret",
            "pull-secret-credentials",
            "image-tag"
        ]
    );
    for c in v["checks"].as_array().unwrap() {
        assert!(
            ["pass", "fail", "unknown", "skipped"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
        assert!(c["evidence"].is_array());
    }
    // all pass here: the only fix is the validation command
    assert_eq!(v["fixes"].as_array().unwrap().len(), 1, "{}", v["fixes"]);
    assert_eq!(v["fixes"][0]["for"], "validate");
}

#[tokio::test]
async fn missing_pod_is_an_error() {
    let mut w = world("reg.test/app:v1", &[], ANON_401);
    w.pod = None;
    let (ctx, _) = context(w).await;
    let e = diagnose::diagnose(&ctx, "shop", "web").await.unwrap_err();
    assert!(matches!(e, DiagnoseError::PodNotFound { .. }), "{e:?}");
    assert_eq!(e.to_string(), "pod shop/web not found");
}

#[tokio::test]
async fn unreachable_registry_fails_reachability() {
    let (mut ctx, _) = context(world("reg.test/app:v1", &[], ANON_401)).await;
    // pin the registry to a closed port
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    ctx.registry =
        RegistryClient::new(None, &[(REG_HOST.to_string(), closed)]).unwrap().plain_http();
    let d = diagnose::diagnose(&ctx, "shop", "web").await.unwrap();
    let c = d.check(names::REGISTRY_REACHABLE).unwrap();
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(c.summary.contains("not from the node"), "{c:?}");
    assert!(
        d.fixes
            .iter()
            .any(|f| f.command == "az acr check-health --name reg1 --ignore-errors --yes")
    );
    assert_eq!(d.check(names::IMAGE_TAG).unwrap().status, Status::Unknown);
}

#[test]
fn pull_secret_parsing() {
    use diagnose::secrets::{credentials_for, key_matches};
    use k8s_openapi::api::core::v1::Secret;
    let s: Secret =
        serde_json::from_value(docker_secret("https://index.docker.io/v1/", "u", "p", true))
            .unwrap();
    let a = credentials_for(&s, "docker.io").unwrap().unwrap();
    assert_eq!(a.username, "u");
    assert_eq!(a.password.expose(), "p");
    assert!(credentials_for(&s, "ghcr.io").unwrap().is_none());
    let opaque: Secret = serde_json::from_value(json!({"type": "Opaque", "data": {}})).unwrap();
    let e = credentials_for(&opaque, "x").unwrap_err();
    assert!(e.contains("kubernetes.io/dockerconfigjson"), "{e}");
    assert!(key_matches("https://reg.test/v2/", "reg.test"));
    assert!(!key_matches("reg.test.evil", "reg.test"));
    // Debug of the credential hides the password
    let s: Secret =
        serde_json::from_value(docker_secret("reg.test", "u", "distinctive-pw-42", false)).unwrap();
    let a = credentials_for(&s, "reg.test").unwrap().unwrap();
    assert!(!format!("{a:?}").contains("distinctive-pw-42"), "{a:?}");
}

#[test]
fn role_judgement_is_case_insensitive_and_scoped() {
    use diagnose::identity::{covers, judge};
    let reg = registry_id();
    assert!(covers(&format!("/SUBSCRIPTIONS/{SUB}"), &reg));
    assert!(!covers(&format!("/subscriptions/{SUB}/resourceGroups/rg10"), &reg));
    let list: Vec<RoleAssignment> = serde_json::from_value(json!([
        assignment(
            &format!("/subscriptions/{SUB}"),
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            KUBELET
        ),
        assignment(&reg, ACR_PULL_ROLE, "someone-else"),
    ]))
    .unwrap();
    let c = judge(&reg, KUBELET, &list);
    assert_eq!(c.status, Status::Pass);
    assert!(c.summary.contains("Owner"));
    let c = judge(&reg, KUBELET, &list[1..]);
    assert_eq!(c.status, Status::Fail);
}

#[test]
fn failing_init_container_is_picked_and_messages_deduplicated() {
    use k8s_openapi::api::core::v1::Pod;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [{"name": "init", "image": "reg.test/init:1"}],
            "containers": [{"name": "main", "image": "reg.test/main:1"}],
            "imagePullSecrets": [{"name": "a"}, {"name": ""}],
        },
        "status": {
            "initContainerStatuses": [{"name": "init", "image": "reg.test/init:1", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImagePull", "message": ANON_401}}}],
            "containerStatuses": [{"name": "main", "image": "reg.test/main:1", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}],
        }
    }))
    .unwrap();
    let seen =
        diagnose::pod::from_parts(&pod, &[ANON_401.to_string(), ANON_401.to_string()]).unwrap();
    assert_eq!(seen.container, "init");
    assert_eq!(seen.image, "reg.test/init:1");
    assert_eq!(seen.waiting_reason.as_deref(), Some("ErrImagePull"));
    assert_eq!(seen.events.len(), 1);
    assert_eq!(seen.causes, vec![Cause::UnauthorizedAnonymous]);
    assert_eq!(seen.pull_secrets, vec!["a".to_string()]);
    // a running pod: the first container, no waiting reason, no cause
    let ok: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "main", "image": "reg.test/main:1"}]},
    }))
    .unwrap();
    let seen = diagnose::pod::from_parts(&ok, &[]).unwrap();
    assert_eq!((seen.container.as_str(), seen.waiting_reason), ("main", None));
    assert!(seen.causes.is_empty());
}
