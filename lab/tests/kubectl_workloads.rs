//! A user's workloads on the lab, through the real kubectl: a Deployment rolls out
//! through the kubelet emulator's real pulls (containerd, the ACR front door), a
//! `kubectl set image` to a tag that does not exist leaves the new pod in
//! ErrImagePull/ImagePullBackOff and keeps the old one, a Job completes, and every
//! namespace has `kube-root-ca.crt`. Needs root, containerd, docker-registry and kubectl
//! (loud SKIP, or a failure under CI=true).

mod containerd_support;
mod kubectl_support;

use std::time::{Duration, Instant};

use acr_chaos_lab::lab::Lab;
use containerd_support::{REGISTRY_BIN, prerequisites};
use kubectl_support::{Kubectl, require_kubectl};
use serde_json::Value;

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  progressDeadlineSeconds: 150
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: {image}
"
    )
}

async fn pods(k: &Kubectl) -> Vec<Value> {
    let out = k.ok(&["get", "pods", "-n", "shop", "-l", "app=web", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out).expect("pod list JSON");
    v["items"].as_array().cloned().unwrap_or_default()
}

fn waiting_reason(p: &Value) -> &str {
    p.pointer("/status/containerStatuses/0/state/waiting/reason")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn image(p: &Value) -> &str {
    p.pointer("/spec/containers/0/image").and_then(Value::as_str).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rollout_and_failed_image_update_with_kubectl() {
    let test = "deployment_rollout_and_failed_image_update_with_kubectl";
    if !prerequisites(test, &[acr_chaos_lab::containerd::CONTAINERD_BIN, REGISTRY_BIN]) {
        return;
    }
    let Some(bin) = require_kubectl(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::builder()
        .state_dir(tmp.path())
        .time_scale(0.02)
        .with_kubelet(true)
        .start()
        .await
        .expect("lab starts");
    let k = Kubectl::new(bin, &lab.kube().kubeconfig, tmp.path());
    let good = format!("{}/probe/hello:v1", lab.login_server());
    let missing = format!("{}/probe/hello:does-not-exist", lab.login_server());

    k.ok(&["create", "namespace", "shop"]).await;
    let out = k.with_stdin(&["apply", "-f", "-"], &deployment(&good)).await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = k.ok(&["rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s"]).await;
    assert!(out.contains("deployment \"web\" successfully rolled out"), "{out}");
    let out = k.ok(&["get", "deployment", "web", "-n", "shop"]).await;
    assert!(out.lines().nth(1).is_some_and(|l| l.contains("1/1")), "{out}");
    let before = pods(&k).await;
    assert_eq!(before.len(), 1);
    let old_name = before[0]["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(before[0]["status"]["phase"], "Running");
    let hash = before[0]["metadata"]["labels"]["pod-template-hash"].as_str().unwrap();
    let rs = k.ok(&["get", "rs", "-n", "shop", "-o", "name"]).await;
    assert_eq!(rs.trim(), format!("replicaset.apps/web-{hash}"));

    // The new template's image does not exist: the new pod cannot pull, the old one stays.
    let image_arg = format!("web={missing}");
    k.ok(&["set", "image", "deployment/web", &image_arg, "-n", "shop"]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (new_pod, old_pod) = loop {
        let ps = pods(&k).await;
        let new = ps.iter().find(|p| image(p) == missing).cloned();
        let old = ps.iter().find(|p| p["metadata"]["name"] == old_name.as_str()).cloned();
        if let (Some(n), Some(o)) = (&new, &old)
            && matches!(waiting_reason(n), "ErrImagePull" | "ImagePullBackOff")
        {
            break (n.clone(), o.clone());
        }
        assert!(Instant::now() < deadline, "no pull failure on the new pod: {ps:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(old_pod["status"]["phase"], "Running", "the old pod is kept");
    let msg = new_pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(msg.contains("not found"), "{msg}");
    let o = k.run(&["rollout", "status", "deployment/web", "-n", "shop", "--timeout=2s"]).await;
    assert!(!o.ok, "the rollout cannot finish: {}", o.stdout);
    assert!(o.stdout.contains("1 old replicas are pending termination"), "{}", o.stdout);
    // progressDeadlineSeconds 150 at time scale 0.02: 3 s.
    let o = k.run(&["rollout", "status", "deployment/web", "-n", "shop", "--timeout=30s"]).await;
    assert!(!o.ok);
    assert!(o.stderr.contains("deployment \"web\" exceeded its progress deadline"), "{}", o.stderr);
    let events = k.ok(&["get", "events", "-n", "shop", "--sort-by=.lastTimestamp"]).await;
    assert!(events.contains("ScalingReplicaSet") && events.contains("ErrImagePull"), "{events}");
    // Undo: the old template is the newest revision again, the failing pod goes.
    k.ok(&["rollout", "undo", "deployment/web", "-n", "shop"]).await;
    let out = k.ok(&["rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while pods(&k).await.iter().any(|p| image(p) == missing) {
        assert!(Instant::now() < deadline, "the failing pod stayed after undo");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let history = k.ok(&["rollout", "history", "deployment/web", "-n", "shop"]).await;
    assert!(history.contains('2') && history.contains('3'), "{history}");

    // A Job runs to completion; kube-root-ca.crt is in the new namespace.
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: shop\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: once\n        image: {good}\n"
    );
    k.with_stdin(&["apply", "-f", "-"], &job).await;
    let out = k
        .ok(&["wait", "--for=condition=complete", "job/once", "-n", "shop", "--timeout=60s"])
        .await;
    assert!(out.contains("job.batch/once condition met"), "{out}");
    let out = k.ok(&["get", "job", "once", "-n", "shop"]).await;
    assert!(
        out.lines().nth(1).is_some_and(|l| l.contains("Complete") && l.contains("1/1")),
        "{out}"
    );
    let ca = k
        .ok(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ])
        .await;
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    k.ok(&["delete", "deployment", "web", "-n", "shop"]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pods(&k).await.is_empty() {
        assert!(Instant::now() < deadline, "pods outlived their deployment");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab.stop().await;
}
