//! HTTP-level tests of the Kubernetes API emulator: auth, discovery, each verb and its
//! error paths (401, 404, 409, 422, 405), patches, selectors, secrets, namespaces.

use serde_json::{Value, json};

use crate::kube_support::{Api, pod};

#[tokio::test]
async fn auth_is_required_except_public_info() {
    let api = Api::start().await;
    let r = api.client.get(api.url("/api/v1/pods")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "Unauthorized");
    assert_eq!(s["code"], 401);
    let r =
        api.client.get(api.url("/api/v1/pods")).bearer_auth("wrong-token").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A wrong token is rejected even on public paths; no token is anonymous.
    let r = api.client.get(api.url("/version")).bearer_auth("x").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = api.client.get(api.url("/version")).send().await.unwrap().json().await.unwrap();
    assert!(v["gitVersion"].as_str().unwrap().starts_with("v1.33."));
    assert!(v["platform"].as_str().unwrap().starts_with("linux/"));
    let (code, _) = api.get("/api/v1/pods").await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn discovery_documents() {
    let api = Api::start().await;
    let (_, v) = api.get("/api").await;
    assert_eq!(v["kind"], "APIVersions");
    assert_eq!(v["versions"], json!(["v1"]));
    let (_, v) = api.get("/api/v1").await;
    assert_eq!(v["groupVersion"], "v1");
    let rs = v["resources"].as_array().unwrap();
    let find = |n: &str| rs.iter().find(|r| r["name"] == n).cloned().unwrap();
    assert_eq!(find("pods")["shortNames"], json!(["po"]));
    assert_eq!(find("namespaces")["namespaced"], false);
    assert_eq!(find("configmaps")["shortNames"], json!(["cm"]));
    assert_eq!(find("serviceaccounts")["shortNames"], json!(["sa"]));
    assert_eq!(find("events")["shortNames"], json!(["ev"]));
    assert!(find("pods")["verbs"].as_array().unwrap().contains(&json!("watch")));
    assert_eq!(find("pods/status")["verbs"], json!(["get", "patch", "update"]));
    let (_, v) = api.get("/apis").await;
    let names: Vec<&str> =
        v["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    for g in ["apps", "batch", "coordination.k8s.io", "events.k8s.io", "rbac.authorization.k8s.io"]
    {
        assert!(names.contains(&g), "{g} missing from {names:?}");
    }
    let (code, v) = api.get("/apis/coordination.k8s.io/v1").await;
    assert_eq!(code, 200);
    assert_eq!(v["resources"][0]["kind"], "Lease");
    let (code, v) = api.get("/apis/apps/v1").await;
    assert_eq!(code, 200);
    assert!(v["resources"].as_array().unwrap().iter().any(|r| r["name"] == "deployments"));
    let (code, v) = api.get("/apis/policy/v1").await;
    assert_eq!(code, 404);
    assert_eq!(v["reason"], "NotFound");
    let (code, v) = api.get("/openapi/v3").await;
    assert_eq!(code, 200);
    assert!(v["paths"]["api/v1"]["serverRelativeURL"].is_string());
}

#[tokio::test]
async fn create_get_list_and_not_found() {
    let api = Api::start().await;
    let (code, p) = api
        .post(
            "/api/v1/namespaces/default/pods",
            &json!({"metadata": {"generateName": "probe-"},
                    "spec": {"containers": [{"name": "a", "image": "r.azurecr.io/app"},
                                            {"name": "b", "image": "r.azurecr.io/app:v1"}]}}),
        )
        .await;
    assert_eq!(code, 201, "{p}");
    let name = p["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("probe-") && name.len() == "probe-".len() + 5, "{name}");
    assert_eq!(p["kind"], "Pod");
    assert_eq!(p["metadata"]["namespace"], "default");
    assert_eq!(p["metadata"]["generation"], 1);
    assert!(p["metadata"]["uid"].as_str().unwrap().len() == 36);
    assert!(p["metadata"]["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["spec"]["restartPolicy"], "Always");
    assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 30);
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(p["spec"]["containers"][1]["imagePullPolicy"], "IfNotPresent");
    let (code, g) = api.get(&format!("/api/v1/namespaces/default/pods/{name}")).await;
    assert_eq!(code, 200);
    assert_eq!(g, p);
    let (_, l) = api.get("/api/v1/pods").await;
    assert_eq!(l["kind"], "PodList");
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    let list_rv: u64 = l["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    let obj_rv: u64 = p["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(list_rv >= obj_rv);

    let (code, s) = api.get("/api/v1/namespaces/default/pods/nope").await;
    assert_eq!(code, 404);
    assert_eq!(s["reason"], "NotFound");
    assert_eq!(s["message"], "pods \"nope\" not found");
    assert_eq!(s["details"], json!({"name": "nope", "kind": "pods"}));
    let (code, s) = api.post("/api/v1/namespaces/missing/pods", &pod("x", "img")).await;
    assert_eq!(code, 404);
    assert_eq!(s["message"], "namespaces \"missing\" not found");
    let (code, s) = api.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/l").await;
    assert_eq!(code, 404);
    assert_eq!(s["message"], "leases.coordination.k8s.io \"l\" not found");
}

#[tokio::test]
async fn create_errors_already_exists_and_invalid() {
    let api = Api::start().await;
    let (code, _) = api.post("/api/v1/namespaces/default/pods", &pod("p", "img")).await;
    assert_eq!(code, 201);
    let (code, s) = api.post("/api/v1/namespaces/default/pods", &pod("p", "img")).await;
    assert_eq!(code, 409);
    assert_eq!(s["reason"], "AlreadyExists");
    assert_eq!(s["message"], "pods \"p\" already exists");
    let (code, s) = api
        .post(
            "/api/v1/namespaces/default/pods",
            &json!({"metadata": {"name": "q"}, "spec": {"containers": []}}),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(s["message"], "Pod \"q\" is invalid: spec.containers: Required value");
    let (code, s) = api.post("/api/v1/namespaces/default/pods", &pod("Bad_Name", "img")).await;
    assert_eq!(code, 422);
    assert!(s["message"].as_str().unwrap().contains("metadata.name: Invalid value: \"Bad_Name\""));
    let (code, s) = api.post("/api/v1/namespaces/default/pods", &pod("x", "")).await;
    assert_eq!(code, 422);
    assert!(s["message"].as_str().unwrap().ends_with("spec.containers[0].image: Required value"));
    let r = api
        .req(reqwest::Method::POST, "/api/v1/namespaces/default/pods")
        .header("content-type", "application/json")
        .body("{\"metadata\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let s: Value = r.json().await.unwrap();
    assert!(s["message"].as_str().unwrap().contains("line 1 column"), "{s}");
    // Writes to the read-only events.k8s.io view are refused.
    let (code, s) = api
        .post(
            "/apis/events.k8s.io/v1/namespaces/default/events",
            &json!({"metadata": {"name": "e"}}),
        )
        .await;
    assert_eq!(code, 405);
    assert_eq!(s["reason"], "MethodNotAllowed");
}

#[tokio::test]
async fn update_uses_optimistic_concurrency() {
    let api = Api::start().await;
    let (_, cm) = api
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": "c"}, "data": {"k": "1"}}),
        )
        .await;
    let mut v1 = cm.clone();
    v1["data"]["k"] = json!("2");
    let (code, updated) = api.put("/api/v1/namespaces/default/configmaps/c", &v1).await;
    assert_eq!(code, 200);
    assert_eq!(updated["data"]["k"], "2");
    assert_ne!(updated["metadata"]["resourceVersion"], cm["metadata"]["resourceVersion"]);
    assert_eq!(updated["metadata"]["uid"], cm["metadata"]["uid"]);
    // `cm` now carries a stale resourceVersion.
    let mut stale = cm.clone();
    stale["data"]["k"] = json!("3");
    let (code, s) = api.put("/api/v1/namespaces/default/configmaps/c", &stale).await;
    assert_eq!(code, 409);
    assert_eq!(s["reason"], "Conflict");
    assert_eq!(
        s["message"],
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let (code, s) = api
        .put("/api/v1/namespaces/default/configmaps/nope", &json!({"metadata": {"name": "nope"}}))
        .await;
    assert_eq!(code, 404);
    assert_eq!(s["reason"], "NotFound");
    // A pod's status is not changed through the main resource, only through /status.
    api.post("/api/v1/namespaces/default/pods", &pod("p", "img")).await;
    let (_, mut p) = api.get("/api/v1/namespaces/default/pods/p").await;
    p["status"]["phase"] = json!("Running");
    let (_, p2) = api.put("/api/v1/namespaces/default/pods/p", &p).await;
    assert_eq!(p2["status"]["phase"], "Pending");
    let (code, p3) = api
        .put(
            "/api/v1/namespaces/default/pods/p/status",
            &p2.clone().tap(|x| x["status"]["phase"] = json!("Running")),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(p3["status"]["phase"], "Running");
    let (code, _) = api.put("/api/v1/namespaces/default/pods/p/status", &p2).await;
    assert_eq!(code, 409, "status PUT with a stale resourceVersion");
}

trait Tap {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}
impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

#[tokio::test]
async fn patches_of_every_type() {
    let api = Api::start().await;
    let base = "/api/v1/namespaces/default/pods/p";
    api.post("/api/v1/namespaces/default/pods", &pod("p", "img:v1")).await;
    let (code, p) = api
        .patch(
            base,
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"x":"1","app":null}}}"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(p["metadata"]["labels"], json!({"x": "1"}));
    let (code, p) = api
        .patch(
            base,
            "application/json-patch+json",
            r#"[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(p["metadata"]["annotations"], json!({"a": "b"}));
    let (code, p) = api
        .patch(
            base,
            "application/strategic-merge-patch+json",
            r#"{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"name":"c","image":"img:v2"}]}}"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(p["spec"]["containers"].as_array().unwrap().len(), 1);
    assert_eq!(p["spec"]["containers"][0]["image"], "img:v2");
    assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent", "other fields kept");
    assert_eq!(p["metadata"]["generation"], 2);
    let (code, s) = api
        .patch(
            base,
            "application/json-patch+json",
            r#"[{"op":"test","path":"/spec/nodeName","value":"n"}]"#,
        )
        .await;
    assert_eq!(code, 422, "{s}");
    let (code, s) = api.patch(base, "text/plain", "{}").await;
    assert_eq!(code, 415, "{s}");
    // Status subresource patch (what the kubelet and kube-rs patch_status send).
    let (code, p) = api
        .patch(
            &format!("{base}/status"),
            "application/merge-patch+json",
            r#"{"status":{"phase":"Running"},"spec":{"nodeName":"ignored"}}"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(p["status"]["phase"], "Running");
    assert!(p["spec"].get("nodeName").is_none(), "status patch must not touch spec");
    // Server-side apply creates an absent object, then merges.
    let lease = "/apis/coordination.k8s.io/v1/namespaces/default/leases/l";
    let (code, l) = api
        .patch(lease, "application/apply-patch+yaml", "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  holderIdentity: me\n")
        .await;
    assert_eq!(code, 201, "{l}");
    assert_eq!(l["spec"]["holderIdentity"], "me");
    let (code, l) = api
        .patch(lease, "application/apply-patch+yaml", r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"leaseDurationSeconds":15}}"#)
        .await;
    assert_eq!(code, 200);
    assert_eq!(l["spec"], json!({"holderIdentity": "me", "leaseDurationSeconds": 15}));
    let (code, _) = api
        .patch("/api/v1/namespaces/default/pods/nope", "application/merge-patch+json", "{}")
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let api = Api::start().await;
    let (code, p) = api.post("/api/v1/namespaces/default/pods?dryRun=All", &pod("d", "img")).await;
    assert_eq!(code, 201);
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(api.get("/api/v1/namespaces/default/pods/d").await.0, 404);
    api.post("/api/v1/namespaces/default/pods", &pod("d", "img")).await;
    let (_, before) = api.get("/api/v1/namespaces/default/pods/d").await;
    let (code, p) = api
        .patch(
            "/api/v1/namespaces/default/pods/d?dryRun=All",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"z":"1"}}}"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(p["metadata"]["labels"]["z"], "1");
    assert_eq!(api.get("/api/v1/namespaces/default/pods/d").await.1, before);
    let (code, _) = api.delete("/api/v1/namespaces/default/pods/d?dryRun=All").await;
    assert_eq!(code, 200);
    assert_eq!(api.get("/api/v1/namespaces/default/pods/d").await.1, before);
}

#[tokio::test]
async fn label_and_field_selectors() {
    let api = Api::start().await;
    for (name, labels, node) in [
        ("a", json!({"app": "web", "tier": "fe"}), "n1"),
        ("b", json!({"app": "db"}), "n2"),
        ("c", json!({"app": "web"}), "n2"),
    ] {
        let mut p = pod(name, "img");
        p["metadata"]["labels"] = labels;
        p["spec"]["nodeName"] = json!(node);
        assert_eq!(api.post("/api/v1/namespaces/default/pods", &p).await.0, 201);
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (q, want) in [
        ("labelSelector=app%3Dweb", vec!["a", "c"]),
        ("labelSelector=app%3D%3Dweb", vec!["a", "c"]),
        ("labelSelector=app!%3Dweb", vec!["b"]),
        ("labelSelector=app%20in%20(db,x)", vec!["b"]),
        ("labelSelector=app%20notin%20(db)", vec!["a", "c"]),
        ("labelSelector=tier", vec!["a"]),
        ("labelSelector=!tier", vec!["b", "c"]),
        ("fieldSelector=spec.nodeName%3Dn2", vec!["b", "c"]),
        ("fieldSelector=metadata.name%3Db", vec!["b"]),
        ("fieldSelector=status.phase%3DPending,metadata.namespace%3Ddefault", vec!["a", "b", "c"]),
        ("fieldSelector=spec.nodeName!%3Dn2&labelSelector=app%3Dweb", vec!["a"]),
    ] {
        let (code, v) = api.get(&format!("/api/v1/namespaces/default/pods?{q}")).await;
        assert_eq!(code, 200, "{q}: {v}");
        assert_eq!(names(&v), want, "{q}");
    }
    let (code, s) = api.get("/api/v1/pods?fieldSelector=spec.bogus%3D1").await;
    assert_eq!(code, 400);
    assert_eq!(s["reason"], "BadRequest");
    let (code, _) = api.get("/api/v1/pods?labelSelector=app%20in%20web").await;
    assert_eq!(code, 400);
    // Events by involvedObject.
    for (n, obj) in [("e1", "a"), ("e2", "b")] {
        let ev = json!({"metadata": {"name": n}, "involvedObject": {"kind": "Pod", "name": obj, "namespace": "default"},
                        "reason": "Pulling", "message": "m", "type": "Normal"});
        assert_eq!(api.post("/api/v1/namespaces/default/events", &ev).await.0, 201);
    }
    let (_, v) = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Da,involvedObject.kind%3DPod").await;
    assert_eq!(names(&v), ["e1"]);
    let (_, v) = api
        .get("/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3Db")
        .await;
    assert_eq!(names(&v), ["e2"]);
    assert_eq!(v["items"][0]["apiVersion"], "events.k8s.io/v1");
    assert_eq!(v["items"][0]["note"], "m");
}

#[tokio::test]
async fn secrets_and_service_account_pull_secrets() {
    let api = Api::start().await;
    let cfg = r#"{"auths":{"r.azurecr.io":{"auth":"dTpw"}}}"#;
    let (code, s) = api
        .post(
            "/api/v1/namespaces/default/secrets",
            &json!({"metadata": {"name": "acr"}, "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": cfg}}),
        )
        .await;
    assert_eq!(code, 201, "{s}");
    assert!(s.get("stringData").is_none());
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, cfg.as_bytes());
    let (code, e) = api
        .post("/api/v1/namespaces/default/secrets", &json!({"metadata": {"name": "bad"}, "type": "kubernetes.io/dockerconfigjson", "data": {}}))
        .await;
    assert_eq!(code, 422);
    assert!(!e["message"].as_str().unwrap().contains(cfg));
    // The default service account exists; its imagePullSecrets go into new pods.
    let (code, sa) = api.get("/api/v1/namespaces/default/serviceaccounts/default").await;
    assert_eq!(code, 200);
    let mut sa2 = sa.clone();
    sa2["imagePullSecrets"] = json!([{"name": "acr"}]);
    assert_eq!(api.put("/api/v1/namespaces/default/serviceaccounts/default", &sa2).await.0, 200);
    let (_, p) = api.post("/api/v1/namespaces/default/pods", &pod("p", "img")).await;
    assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "acr"}]));
    // A pod naming its own pull secrets keeps them.
    let mut own = pod("q", "img");
    own["spec"]["imagePullSecrets"] = json!([{"name": "mine"}]);
    let (_, q) = api.post("/api/v1/namespaces/default/pods", &own).await;
    assert_eq!(q["spec"]["imagePullSecrets"], json!([{"name": "mine"}]));
    let mut other = pod("r", "img");
    other["spec"]["serviceAccountName"] = json!("nobody");
    let (code, s) = api.post("/api/v1/namespaces/default/pods", &other).await;
    assert_eq!(code, 403);
    assert!(s["message"].as_str().unwrap().contains("serviceaccount \"nobody\" not found"));
}

#[tokio::test]
async fn namespace_delete_cascades() {
    let api = Api::start().await;
    let (code, ns) = api.post("/api/v1/namespaces", &json!({"metadata": {"name": "chaos"}})).await;
    assert_eq!(code, 201);
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "chaos");
    assert_eq!(api.get("/api/v1/namespaces/chaos/serviceaccounts/default").await.0, 200);
    api.post("/api/v1/namespaces/chaos/pods", &pod("p", "img")).await;
    api.post("/api/v1/namespaces/chaos/secrets", &json!({"metadata": {"name": "s"}})).await;
    api.post("/api/v1/namespaces/default/pods", &pod("keep", "img")).await;
    let (code, d) = api.delete("/api/v1/namespaces/chaos").await;
    assert_eq!(code, 200);
    assert_eq!(d["status"]["phase"], "Terminating");
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(api.get("/api/v1/namespaces/chaos").await.0, 404);
    assert_eq!(api.get("/api/v1/namespaces/chaos/pods/p").await.0, 404);
    let (_, all) = api.get("/api/v1/pods").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/api/v1/namespaces/chaos/secrets").await.1["items"], json!([]));
    let (code, s) = api.delete("/api/v1/namespaces/chaos").await;
    assert_eq!(code, 404);
    assert_eq!(s["message"], "namespaces \"chaos\" not found");
    let (code, p) = api.delete("/api/v1/namespaces/default/pods/keep").await;
    assert_eq!(code, 200);
    assert_eq!(p["metadata"]["name"], "keep");
    assert_eq!(api.get("/api/v1/namespaces/default/pods/keep").await.0, 404);
}

#[tokio::test]
async fn table_output_for_kubectl() {
    let api = Api::start().await;
    api.post("/api/v1/namespaces/default/pods", &pod("p", "img")).await;
    let (code, t) = Api::send(
        api.req(reqwest::Method::GET, "/api/v1/namespaces/default/pods")
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert_eq!(t["rows"][0]["cells"][0], "p");
    assert_eq!(t["rows"][0]["cells"][2], "Pending");
    assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "p");
    // Protobuf listed first in Accept still gets JSON.
    let r = api
        .req(reqwest::Method::GET, "/api/v1/namespaces/default/pods/p")
        .header("accept", "application/vnd.kubernetes.protobuf, application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn delete_collection_with_selector() {
    let api = Api::start().await;
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut p = pod(n, "img");
        p["metadata"]["labels"] = json!({"app": app});
        api.post("/api/v1/namespaces/default/pods", &p).await;
    }
    let (code, v) = api.delete("/api/v1/namespaces/default/pods?labelSelector=app%3Dx").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let (_, l) = api.get("/api/v1/namespaces/default/pods").await;
    let names: Vec<&str> = l["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c"]);
}

#[tokio::test]
async fn malformed_objects_are_bad_requests_not_panics() {
    let api = Api::start().await;
    api.post("/api/v1/namespaces/default/pods", &pod("p", "img")).await;
    for body in [
        json!({"metadata": "x"}),
        json!({"metadata": {"name": "q", "labels": {"a": 1}}}),
        json!({"metadata": {"name": "q"}, "spec": "x"}),
    ] {
        let (code, s) = api.post("/api/v1/namespaces/default/pods", &body).await;
        assert_eq!(code, 400, "{body}: {s}");
        assert_eq!(s["reason"], "BadRequest");
    }
    for patch in
        [r#"{"metadata": "x"}"#, r#"{"status": 5}"#, r#"{"metadata": {"annotations": []}}"#]
    {
        let (code, s) = api
            .patch("/api/v1/namespaces/default/pods/p", "application/merge-patch+json", patch)
            .await;
        assert_eq!(code, 400, "{patch}: {s}");
    }
    let (code, _) = api
        .patch(
            "/api/v1/namespaces/default/pods/p/status",
            "application/merge-patch+json",
            r#"{"status": "x"}"#,
        )
        .await;
    assert_eq!(code, 400);
    let (code, _) = api
        .post(
            "/api/v1/namespaces/default/secrets",
            &json!({"metadata": {"name": "s"}, "data": {"k": 1}}),
        )
        .await;
    assert_eq!(code, 400);
    // The server still answers.
    assert_eq!(api.get("/api/v1/namespaces/default/pods/p").await.0, 200);
}

#[tokio::test]
async fn nodes_are_cluster_scoped_with_status() {
    let api = Api::start().await;
    let (code, n) = api
        .post("/api/v1/nodes", &json!({"metadata": {"name": "aks-nodepool1-0", "labels": {"node-role.kubernetes.io/agent": ""}}}))
        .await;
    assert_eq!(code, 201, "{n}");
    assert!(n["metadata"].get("namespace").is_none());
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}],
        "nodeInfo": {"kubeletVersion": "v1.33.2", "containerRuntimeVersion": "containerd://1.6.20"},
        "addresses": [{"type": "InternalIP", "address": "10.224.0.4"}]}});
    let (code, _) = api
        .patch(
            "/api/v1/nodes/aks-nodepool1-0/status",
            "application/merge-patch+json",
            &status.to_string(),
        )
        .await;
    assert_eq!(code, 200);
    let (_, t) = Api::send(
        api.req(reqwest::Method::GET, "/api/v1/nodes")
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
    )
    .await;
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "aks-nodepool1-0",
            "Ready",
            "agent",
            t["rows"][0]["cells"][3],
            "v1.33.2",
            "10.224.0.4",
            "<none>",
            "<none>",
            "<none>",
            "containerd://1.6.20"
        ])
    );
    assert_eq!(api.get("/api/v1/namespaces/default/nodes/x").await.0, 404);
    let (_, v) = api.get("/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue").await;
    assert_eq!(v["items"], json!([]));
}
