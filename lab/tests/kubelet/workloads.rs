//! A user's workloads on the lab, through the real kubectl: a Deployment rolls out
//! through the kubelet emulator's real pulls (containerd, the ACR front door), a
//! `kubectl set image` to a tag that does not exist leaves the new pod in
//! ErrImagePull/ImagePullBackOff and keeps the old one (and `kubectl logs` answers as the
//! kubelet does), a Job completes, every namespace has `kube-root-ca.crt`, nodes carry
//! their conditions and renew their Leases. Needs root, containerd, docker-registry and kubectl
//! (loud SKIP, or a failure under CI=true).

use std::time::{Duration, Instant};

use acr_chaos_lab::lab::Lab;
use serde_json::Value;

use crate::containerd_support::{REGISTRY_BIN, prerequisites};
use crate::kubectl_support::{Kubectl, require_kubectl};

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
    // kubectl logs: the kubelet's refusal for the container that never started, an
    // (empty) log for the running one.
    let new_name = new_pod["metadata"]["name"].as_str().unwrap();
    let o = k.run(&["logs", new_name, "-n", "shop"]).await;
    assert!(!o.ok);
    let refusal = format!(
        "Error from server (BadRequest): container \"web\" in pod \"{new_name}\" is waiting to start: "
    );
    assert!(o.stderr.contains(&refusal), "{}", o.stderr);
    assert!(
        o.stderr.contains("trying and failing to pull image")
            || o.stderr.contains("image can't be pulled"),
        "{}",
        o.stderr
    );
    k.ok(&["logs", &old_name, "-n", "shop"]).await;
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
    // kubectl's typed create commands send protobuf.
    k.ok(&["create", "job", "once", "-n", "shop", "--image", &good]).await;
    let out = k
        .ok(&["wait", "--for=condition=complete", "job/once", "-n", "shop", "--timeout=60s"])
        .await;
    assert!(out.contains("job.batch/once condition met"), "{out}");
    let out = k.ok(&["get", "job", "once", "-n", "shop"]).await;
    assert!(
        out.lines().nth(1).is_some_and(|l| l.contains("Complete") && l.contains("1/1")),
        "{out}"
    );
    // Every minute on the lab clock (time scale 0.02): a Job about every 1.2 s.
    k.ok(&["create", "cronjob", "tick", "-n", "shop", "--image", &good, "--schedule", "* * * * *"])
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = k.ok(&["get", "jobs", "-n", "shop", "-o", "name"]).await;
        if jobs.lines().any(|l| l.starts_with("job.batch/tick-")) {
            break;
        }
        assert!(Instant::now() < deadline, "the CronJob made no Job: {jobs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    // Nodes: Ready with the four conditions, the real containerd's version, leases renewed.
    let nodes = k.ok(&["get", "nodes", "-o", "wide"]).await;
    let row = nodes.lines().nth(1).expect("a node");
    assert!(row.contains(" Ready ") && row.contains("containerd://"), "{nodes}");
    let described = k.ok(&["describe", "nodes"]).await;
    for c in ["MemoryPressure", "DiskPressure", "PIDPressure", "KubeletReady"] {
        assert!(described.contains(c), "{c} missing:\n{described}");
    }
    let node = row.split_whitespace().next().unwrap().to_string();
    let renew = async || {
        let args =
            ["get", "lease", &node, "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}"];
        k.ok(&args).await
    };
    let first = renew().await;
    // Renewed every 10 s at time scale 0.02: every 0.2 s.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = renew().await;
    assert!(!first.is_empty() && second > first, "{first} then {second}");
    k.ok(&["delete", "deployment", "web", "-n", "shop"]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pods(&k).await.is_empty() {
        assert!(Instant::now() < deadline, "pods outlived their deployment");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab.stop().await;
}
