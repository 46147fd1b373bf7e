//! The real `kubectl` against the API emulator, through the kubeconfig it writes.
//! Without `/usr/bin/kubectl` (or `kubectl` on PATH) these tests skip loudly, or fail
//! when `CI=true`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::kube_support::{self, Api};
use crate::kubectl_support::{self, require_kubectl};

struct Kubectl {
    api: Api,
    k: kubectl_support::Kubectl,
}

impl std::ops::Deref for Kubectl {
    type Target = kubectl_support::Kubectl;
    fn deref(&self) -> &Self::Target {
        &self.k
    }
}

impl Kubectl {
    async fn start(test: &str) -> Option<Kubectl> {
        let bin = require_kubectl(test)?;
        let api = Api::start().await;
        let kubeconfig = api.dir.path().join("kubeconfig");
        api.srv.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
        let k = kubectl_support::Kubectl::new(bin, &kubeconfig, api.dir.path());
        Some(Kubectl { api, k })
    }
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: probe
  namespace: chaos
  labels:
    app: probe
spec:
  containers:
  - name: c
    image: acrchaoslab.azurecr.io/app:v1
";

#[tokio::test]
async fn namespaces_create_get_label_delete() {
    let Some(k) = Kubectl::start("namespaces_create_get_label_delete").await else { return };
    assert_eq!(k.ok(&["create", "namespace", "chaos"]).await.trim(), "namespace/chaos created");
    let out = k.ok(&["get", "ns"]).await;
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("STATUS") && header.contains("AGE"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("chaos ") && l.contains("Active")), "{out}");
    assert!(
        k.ok(&["label", "namespace", "chaos", "team=sre"])
            .await
            .contains("namespace/chaos labeled")
    );
    let (_, ns) = k.api.get("/api/v1/namespaces/chaos").await;
    assert_eq!(ns["metadata"]["labels"]["team"], "sre");
    k.with_stdin(&["apply", "-f", "-"], POD).await;
    let out = k.ok(&["delete", "namespace", "chaos"]).await;
    assert!(out.contains("namespace \"chaos\" deleted"), "{out}");
    let o = k.run(&["get", "ns", "chaos"]).await;
    assert!(!o.ok);
    assert!(
        o.stderr.contains("Error from server (NotFound): namespaces \"chaos\" not found"),
        "{}",
        o.stderr
    );
    assert_eq!(k.api.get("/api/v1/namespaces/chaos/pods/probe").await.0, 404);
}

#[tokio::test]
async fn apply_creates_then_patches_with_strategic_merge() {
    let Some(k) = Kubectl::start("apply_creates_then_patches_with_strategic_merge").await else {
        return;
    };
    k.ok(&["create", "namespace", "chaos"]).await;
    assert_eq!(k.with_stdin(&["apply", "-f", "-"], POD).await.trim(), "pod/probe created");
    let (_, p) = k.api.get("/api/v1/namespaces/chaos/pods/probe").await;
    let last = p["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .expect("last-applied annotation stored");
    assert!(last.contains("app:v1"));
    let uid = p["metadata"]["uid"].clone();
    let v2 = POD.replace("app:v1", "app:v2").replace("app: probe", "app: probe\n    tier: web");
    assert_eq!(k.with_stdin(&["apply", "-f", "-"], &v2).await.trim(), "pod/probe configured");
    let (_, p) = k.api.get("/api/v1/namespaces/chaos/pods/probe").await;
    assert_eq!(p["metadata"]["uid"], uid, "patched in place, not re-created");
    assert_eq!(p["spec"]["containers"][0]["image"], "acrchaoslab.azurecr.io/app:v2");
    assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(p["metadata"]["labels"]["tier"], "web");
    assert_eq!(k.with_stdin(&["apply", "-f", "-"], &v2).await.trim(), "pod/probe unchanged");
    // Server-side apply too.
    let ssa = v2.replace("tier: web", "tier: api");
    let out = k.with_stdin(&["apply", "--server-side", "-f", "-"], &ssa).await;
    assert!(out.contains("pod/probe serverside-applied"), "{out}");
    let (_, p) = k.api.get("/api/v1/namespaces/chaos/pods/probe").await;
    assert_eq!(p["metadata"]["labels"]["tier"], "api");
    let out = k.ok(&["get", "pods", "-n", "chaos", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"][0]["metadata"]["name"], "probe");
    assert!(
        k.ok(&["delete", "pod", "probe", "-n", "chaos"]).await.contains("pod \"probe\" deleted")
    );
}

#[tokio::test]
async fn describe_pod_shows_events_and_get_events() {
    let Some(k) = Kubectl::start("describe_pod_shows_events_and_get_events").await else { return };
    k.ok(&["create", "namespace", "chaos"]).await;
    k.with_stdin(&["apply", "-f", "-"], POD).await;
    let (_, p) = k.api.get("/api/v1/namespaces/chaos/pods/probe").await;
    let msg = "Failed to pull image \"acrchaoslab.azurecr.io/app:v1\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized";
    let ev = json!({
        "metadata": {"name": "probe.17f0", "namespace": "chaos"},
        "involvedObject": {"kind": "Pod", "namespace": "chaos", "name": "probe", "uid": p["metadata"]["uid"],
                           "apiVersion": "v1", "fieldPath": "spec.containers{c}"},
        "reason": "Failed", "message": msg, "type": "Warning", "count": 2,
        "firstTimestamp": acr_chaos_lab::kube::store::now_rfc3339(),
        "lastTimestamp": acr_chaos_lab::kube::store::now_rfc3339(),
        "source": {"component": "kubelet", "host": "aks-nodepool1-0"},
    });
    assert_eq!(k.api.post("/api/v1/namespaces/chaos/events", &ev).await.0, 201);
    let out = k.ok(&["describe", "pod", "probe", "-n", "chaos"]).await;
    assert!(out.contains("Name:") && out.contains("probe"), "{out}");
    assert!(out.contains("acrchaoslab.azurecr.io/app:v1"), "{out}");
    let events = out.split("Events:").nth(1).expect("Events section");
    assert!(
        events.contains("Warning") && events.contains("Failed") && events.contains("kubelet"),
        "{out}"
    );
    assert!(events.contains("401 Unauthorized"), "{out}");
    let out = k.ok(&["get", "events", "-n", "chaos"]).await;
    assert!(out.lines().next().unwrap().contains("REASON"), "{out}");
    assert!(out.contains("pod/probe") && out.contains("401 Unauthorized"), "{out}");
    let out =
        k.ok(&["get", "events", "-A", "--field-selector", "reason=Failed", "-o", "name"]).await;
    assert_eq!(out.trim(), "event/probe.17f0");
    // --sort-by asks for tables with includeObject=Object: rows carry whole events.
    let mut older = ev.clone();
    older["metadata"]["name"] = json!("probe.0001");
    older["reason"] = json!("Scheduled");
    older["type"] = json!("Normal");
    older["message"] = json!("Successfully assigned chaos/probe to aks-nodepool1-0");
    older["firstTimestamp"] = json!("2026-01-01T00:00:00Z");
    older["lastTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(k.api.post("/api/v1/namespaces/chaos/events", &older).await.0, 201);
    let out = k.ok(&["get", "events", "-n", "chaos", "--sort-by=.lastTimestamp"]).await;
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].contains("Scheduled") && rows[1].contains("401 Unauthorized"), "{out}");
    let out = k.ok(&["get", "events", "-n", "chaos", "--sort-by=.metadata.name", "-o", "wide"]);
    assert!(out.await.lines().nth(1).is_some_and(|l| l.contains("probe.0001")));
}

#[tokio::test]
async fn create_secret_docker_registry() {
    let Some(k) = Kubectl::start("create_secret_docker_registry").await else { return };
    let out = k
        .ok(&[
            "create",
            "secret",
            "docker-registry",
            "acr-pull",
            "--docker-server=acrchaoslab.azurecr.io",
            "--docker-username=00000000-0000-0000-0000-000000000000",
            "--docker-password=fake-lab-password",
        ])
        .await;
    assert_eq!(out.trim(), "secret/acr-pull created");
    let (_, s) = k.api.get("/api/v1/namespaces/default/secrets/acr-pull").await;
    assert_eq!(s["type"], "kubernetes.io/dockerconfigjson");
    use base64::Engine as _;
    let cfg: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(s["data"][".dockerconfigjson"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["auths"]["acrchaoslab.azurecr.io"]["password"], "fake-lab-password");
    let out = k.ok(&["get", "secrets"]).await;
    assert!(
        out.lines()
            .any(|l| l.starts_with("acr-pull") && l.contains("kubernetes.io/dockerconfigjson")),
        "{out}"
    );
    let o = k
        .run(&[
            "create",
            "secret",
            "docker-registry",
            "acr-pull",
            "--docker-server=x",
            "--docker-username=u",
            "--docker-password=p",
        ])
        .await;
    assert!(!o.ok);
    assert!(
        o.stderr.contains("AlreadyExists") || o.stderr.contains("already exists"),
        "{}",
        o.stderr
    );
}

#[tokio::test]
async fn get_pods_watch_sees_new_pod() {
    let Some(k) = Kubectl::start("get_pods_watch_sees_new_pod").await else { return };
    let mut child = k
        .command(&["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl get -w");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until kubectl's watch is registered in the store, then create a pod and change
    // its status (so the Pending row comes from the watch, not from the initial list).
    let registered = tokio::time::timeout(Duration::from_secs(30), async {
        while k.api.store().watcher_count() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(registered.is_ok(), "kubectl get pods -w never started watching");
    let (code, _) = k
        .api
        .post("/api/v1/namespaces/default/pods", &kube_support::pod("watched", "img:v1"))
        .await;
    assert_eq!(code, 201);
    let status = json!({"phase": "Pending", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
        "image": "img:v1", "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]});
    k.api
        .store()
        .update_status(&acr_chaos_lab::kube::Kind::Pod, Some("default"), "watched", status)
        .unwrap();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(l)) = lines.next_line().await {
            seen.push(l.clone());
            if l.starts_with("watched") && l.contains("ImagePullBackOff") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    let _ = child.kill().await;
    assert!(found, "kubectl get pods -w output: {seen:?}");
    assert!(seen.iter().any(|l| l.starts_with("watched") && l.contains("Pending")), "{seen:?}");
}

#[tokio::test]
async fn wrong_token_is_unauthorized() {
    let Some(k) = Kubectl::start("wrong_token_is_unauthorized").await else { return };
    let good = std::fs::read_to_string(&k.kubeconfig).unwrap();
    let bad = good.replace(k.api.srv.token(), "acrchaoslab.not-the-token");
    assert_ne!(good, bad);
    std::fs::write(&k.kubeconfig, bad).unwrap();
    let o = k.run(&["get", "pods"]).await;
    assert!(!o.ok);
    // client-go's wording for a 401 on discovery, as against a real API server.
    assert!(o.stderr.contains("error: You must be logged in to the server"), "{}", o.stderr);
}

#[tokio::test]
async fn replace_with_stale_version_conflicts() {
    let Some(k) = Kubectl::start("replace_with_stale_version_conflicts").await else { return };
    k.ok(&["create", "configmap", "settings", "--from-literal=mode=a"]).await;
    let stale = k.ok(&["get", "configmap", "settings", "-o", "json"]).await;
    let (code, _) = k
        .api
        .patch(
            "/api/v1/namespaces/default/configmaps/settings",
            "application/merge-patch+json",
            r#"{"data":{"mode":"b"}}"#,
        )
        .await;
    assert_eq!(code, 200);
    let path = k.api.dir.path().join("stale.json");
    std::fs::write(&path, stale.replace("\"mode\": \"a\"", "\"mode\": \"c\"")).unwrap();
    let o = k.run(&["replace", "-f", path.to_str().unwrap()]).await;
    assert!(!o.ok, "{}", o.stdout);
    assert!(
        o.stderr.contains(
            "Operation cannot be fulfilled on configmaps \"settings\": the object has been modified; please apply your changes to the latest version and try again"
        ),
        "{}",
        o.stderr
    );
    let (_, cm) = k.api.get("/api/v1/namespaces/default/configmaps/settings").await;
    assert_eq!(cm["data"]["mode"], "b");
}

const WORKLOADS: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: nightly
  namespace: chaos
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: chaos-reader
rules:
- apiGroups: [\"\"]
  resources: [pods]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: nightly-reads
  namespace: chaos
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: chaos-reader
subjects:
- kind: ServiceAccount
  name: nightly
  namespace: chaos
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: chaos
spec:
  schedule: \"0 2 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: nightly
          restartPolicy: Never
          containers:
          - name: run
            image: acrchaoslab.azurecr.io/acr-chaos:1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: chaos
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: acrchaoslab.azurecr.io/web:1
";

#[tokio::test]
async fn apply_rbac_batch_and_apps_kinds() {
    let Some(k) = Kubectl::start("apply_rbac_batch_and_apps_kinds").await else { return };
    k.ok(&["create", "namespace", "chaos"]).await;
    let out = k.with_stdin(&["apply", "-f", "-"], WORKLOADS).await;
    for created in [
        "serviceaccount/nightly created",
        "clusterrole.rbac.authorization.k8s.io/chaos-reader created",
        "rolebinding.rbac.authorization.k8s.io/nightly-reads created",
        "cronjob.batch/nightly created",
        "deployment.apps/web created",
    ] {
        assert!(out.contains(created), "{created} missing from:\n{out}");
    }
    let out = k.with_stdin(&["apply", "-f", "-"], WORKLOADS).await;
    assert!(out.contains("cronjob.batch/nightly unchanged"), "{out}");
    let out = k.ok(&["get", "cronjobs", "-n", "chaos"]).await;
    assert!(out.lines().any(|l| l.starts_with("nightly") && l.contains("0 2 * * *")), "{out}");
    let out = k.ok(&["get", "rolebinding", "nightly-reads", "-n", "chaos", "-o", "wide"]).await;
    assert!(out.contains("ClusterRole/chaos-reader") && out.contains("chaos/nightly"), "{out}");
    let out = k.ok(&["get", "deploy", "-n", "chaos"]).await;
    assert!(out.lines().any(|l| l.starts_with("web") && l.contains("0/2")), "{out}");
    let out = k.ok(&["api-resources", "--api-group=batch"]).await;
    assert!(out.contains("cronjobs") && out.contains("jobs"), "{out}");
    k.ok(&["delete", "cronjob", "nightly", "-n", "chaos"]).await;
    assert_eq!(k.api.get("/apis/batch/v1/namespaces/chaos/cronjobs/nightly").await.0, 404);
}

#[tokio::test]
async fn rbac_is_enforced_for_a_service_account_and_can_i_answers() {
    let Some(k) = Kubectl::start("rbac_is_enforced_for_a_service_account_and_can_i_answers").await
    else {
        return;
    };
    k.ok(&["create", "namespace", "chaos"]).await;
    k.with_stdin(&["apply", "-f", "-"], WORKLOADS).await;
    let token = k.api.srv.mint_service_account_token("chaos", "nightly").unwrap();
    let sa_config = k.api.dir.path().join("kubeconfig-nightly");
    k.api.srv.write_kubeconfig_with(&sa_config, &token).unwrap();
    let as_sa = |args: &[&str]| {
        let mut c = k.command(args);
        c.env("KUBECONFIG", &sa_config);
        c
    };
    // Bound by the RoleBinding: pods in chaos, get and list only.
    let o = as_sa(&["get", "pods", "-n", "chaos"]).output().await.unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = as_sa(&["get", "secrets", "-n", "chaos"]).output().await.unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "secrets is forbidden: User \"system:serviceaccount:chaos:nightly\" cannot list resource \"secrets\" in API group \"\" in the namespace \"chaos\""
        ),
        "{err}"
    );
    let o = as_sa(&["get", "pods", "-n", "default"]).output().await.unwrap();
    assert!(!o.status.success(), "a RoleBinding grants only its namespace");
    for (args, want) in [
        (["auth", "can-i", "list", "pods", "-n", "chaos"], "yes"),
        (["auth", "can-i", "delete", "pods", "-n", "chaos"], "no"),
        (["auth", "can-i", "list", "pods", "-n", "default"], "no"),
    ] {
        let o = as_sa(&args).output().await.unwrap();
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(out.trim(), want, "{args:?}: {err}");
    }
    // system:discovery covers the OpenAPI documents.
    let o = as_sa(&["explain", "deployment.spec.replicas"]).output().await.unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("FIELD: replicas <integer>"),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The admin kubeconfig is in system:masters.
    assert_eq!(k.ok(&["auth", "can-i", "delete", "nodes"]).await.trim(), "yes");
}

/// `kubectl explain` renders the per-group-version OpenAPI v3 documents the lab generates
/// from k8s-openapi's models: kinds found through their paths' GVK, fields through `$ref`s,
/// `allOf` wrappers, arrays and maps, with the upstream descriptions.
#[tokio::test]
async fn explain_reads_the_generated_openapi_v3_documents() {
    let Some(k) = Kubectl::start("explain_reads_the_generated_openapi_v3_documents").await else {
        return;
    };
    let out = k.ok(&["explain", "pods"]).await;
    for want in [
        "KIND:       Pod\nVERSION:    v1\n",
        "Pod is a collection of containers that can run on a host.",
        "  metadata\t<ObjectMeta>\n    Standard object's metadata.",
        "  spec\t<PodSpec>\n",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    let out = k.ok(&["explain", "pod.spec.containers.image"]).await;
    assert!(out.contains("FIELD: image <string>"), "{out}");
    assert!(out.contains("Container image name. More info:"), "{out}");
    let out = k.ok(&["explain", "deployment.spec.strategy", "--api-version=apps/v1"]).await;
    for want in [
        "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n",
        "FIELD: strategy <DeploymentStrategy>",
        "The deployment strategy to use to replace existing pods with new ones.",
        "  rollingUpdate\t<RollingUpdateDeployment>\n",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    let out = k.ok(&["explain", "cronjobs.spec.jobTemplate"]).await;
    for want in [
        "GROUP:      batch\nKIND:       CronJob\n",
        "FIELD: jobTemplate <JobTemplateSpec>",
        "Specifies the job that will be created when executing a CronJob.",
        "  spec\t<JobSpec>\n",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    // Names and types only, through refs, arrays and maps.
    let out = k.ok(&["explain", "pods", "--recursive"]).await;
    for want in [
        "\n    containers\t<[]Container> -required-\n",
        "\n      image\t<string>\n",
        "\n        containerPort\t<integer> -required-\n",
        "\n    labels\t<map[string]string>\n",
        "\n    nodeSelector\t<map[string]string>\n",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    assert!(!out.contains("Container image name"), "--recursive prints no descriptions");
    // The same plural in two groups: the GVK on the events.k8s.io paths picks its schema.
    let out = k.ok(&["explain", "events.note", "--api-version=events.k8s.io/v1"]).await;
    assert!(out.contains("GROUP:      events.k8s.io\nKIND:       Event\n"), "{out}");
    assert!(out.contains("FIELD: note <string>"), "{out}");
    let o = k.run(&["explain", "pods.spec.nosuchfield"]).await;
    assert!(!o.ok);
    assert!(o.stderr.contains("error: field \"nosuchfield\" does not exist"), "{}", o.stderr);
}

/// `/openapi/v2` is Swagger 2.0 JSON; kubectl asks for it as protobuf only, which the lab
/// does not encode: 406, as from a server without that encoding (kubectl then uses v3, or
/// its compiled-in types). v3 document URLs carry the content hash and a stale hash is
/// redirected to the current one.
#[tokio::test]
async fn openapi_v2_is_json_and_v3_urls_are_hash_stable() {
    let Some(k) = Kubectl::start("openapi_v2_is_json_and_v3_urls_are_hash_stable").await else {
        return;
    };
    let v2: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/openapi/v2"]).await).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    let pod = &v2["definitions"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "version": "v1", "kind": "Pod"}])
    );
    assert_eq!(
        pod["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let o = k.run(&["explain", "pods", "--output=plaintext-openapiv2"]).await;
    assert!(!o.ok && o.stderr.contains("NotAcceptable"), "{}\n{}", o.stdout, o.stderr);
    let protobuf = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let r = k.api.req(reqwest::Method::GET, "/openapi/v2").header("accept", protobuf);
    let (code, status) = Api::send(r).await;
    assert_eq!((code, &status["reason"]), (406, &json!("NotAcceptable")), "{status}");

    let index = k.ok(&["get", "--raw", "/openapi/v3"]).await;
    assert_eq!(index, k.ok(&["get", "--raw", "/openapi/v3"]).await, "the index is stable");
    let index: Value = serde_json::from_str(&index).unwrap();
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let doc: Value = serde_json::from_str(&k.ok(&["get", "--raw", url]).await).unwrap();
    assert_eq!(doc["openapi"], "3.0.0");
    assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    let stale =
        k.api.req(reqwest::Method::GET, "/openapi/v3/apis/apps/v1?hash=0").send().await.unwrap();
    assert_eq!(stale.status(), 200, "followed the redirect");
    assert_eq!(stale.url().as_str(), k.api.url(url), "redirected to the current hash");
    assert_eq!(stale.headers()["cache-control"], "public, immutable");
}
