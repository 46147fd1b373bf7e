//! The workload controllers on the store, without a kubelet: this test plays the kubelet
//! by writing pod status, so every step of a rollout is decided here and checked.

use std::time::{Duration, Instant};

use acr_chaos_lab::kube::{ControllerOptions, Controllers, Kind, SharedStore, Store};
use serde_json::{Value, json};

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn list(store: &SharedStore, kind: Kind, ns: &str) -> Vec<Value> {
    store.list(&kind, Some(ns), None, None).unwrap().0
}

fn start(time_scale: f64) -> (SharedStore, Controllers) {
    let store = Store::new();
    let opts = ControllerOptions { time_scale, root_ca_pem: Some("PEM".into()) };
    let c = Controllers::start(store.clone(), opts);
    store.create(&Kind::Namespace, None, json!({"metadata": {"name": "apps"}})).unwrap();
    (store, c)
}

/// Play the kubelet: every pod of `image` runs and is ready, others fail to pull.
fn kubelet_pass(store: &SharedStore, ns: &str, good: &str) {
    for p in list(store, Kind::Pod, ns) {
        let name = s(&p, "/metadata/name").to_string();
        let image = s(&p, "/spec/containers/0/image");
        let status = if image == good {
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
        } else {
            json!({"phase": "Pending", "containerStatuses": [{"name": "c", "ready": false,
                "state": {"waiting": {"reason": "ErrImagePull"}}}]})
        };
        if p.get("status").and_then(|s| s.get("phase")) != Some(&status["phase"]) {
            store.update_status(&Kind::Pod, Some(ns), &name, status).unwrap();
        }
    }
}

fn deployment(image: &str) -> Value {
    json!({"metadata": {"name": "web"}, "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": image}]}}}})
}

#[tokio::test]
async fn deployment_rolls_out_and_a_bad_image_keeps_the_old_pods() {
    let (store, _c) = start(0.01);
    store.create(&Kind::Deployment, Some("apps"), deployment("r.io/web:v1")).unwrap();
    let rs = eventually("a ReplicaSet with 2 pods", || {
        kubelet_pass(&store, "apps", "r.io/web:v1");
        let rss = list(&store, Kind::ReplicaSet, "apps");
        let pods = list(&store, Kind::Pod, "apps");
        (rss.len() == 1 && pods.len() == 2).then(|| rss[0].clone())
    })
    .await;
    let hash = s(&rs, "/metadata/labels/pod-template-hash").to_string();
    assert_eq!(s(&rs, "/metadata/name"), format!("web-{hash}"));
    assert_eq!(s(&rs, "/metadata/annotations/deployment.kubernetes.io~1revision"), "1");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    for p in list(&store, Kind::Pod, "apps") {
        assert_eq!(s(&p, "/metadata/labels/pod-template-hash"), hash);
        assert_eq!(p["metadata"]["ownerReferences"][0]["name"], s(&rs, "/metadata/name"));
        assert!(s(&p, "/metadata/name").starts_with(&format!("web-{hash}-")));
    }
    let d = eventually("the deployment available", || {
        kubelet_pass(&store, "apps", "r.io/web:v1");
        let d = store.get(&Kind::Deployment, Some("apps"), "web").unwrap();
        (d["status"]["availableReplicas"] == 2 && d["status"]["updatedReplicas"] == 2).then_some(d)
    })
    .await;
    assert_eq!(d["status"]["observedGeneration"], 1);
    let cond = |d: &Value, t: &str| {
        d["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == t).cloned()
    };
    assert_eq!(cond(&d, "Available").unwrap()["status"], "True");
    assert_eq!(cond(&d, "Progressing").unwrap()["reason"], "NewReplicaSetAvailable");

    // A new image that cannot be pulled: one surge pod, the old pods all kept.
    let mut d2 = d.clone();
    d2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("r.io/web:missing");
    store.update(&Kind::Deployment, Some("apps"), "web", d2).unwrap();
    eventually("a second ReplicaSet with one failing pod", || {
        kubelet_pass(&store, "apps", "r.io/web:v1");
        let pods = list(&store, Kind::Pod, "apps");
        let bad = pods.iter().filter(|p| s(p, "/spec/containers/0/image") == "r.io/web:missing");
        (list(&store, Kind::ReplicaSet, "apps").len() == 2 && bad.count() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    kubelet_pass(&store, "apps", "r.io/web:v1");
    let pods = list(&store, Kind::Pod, "apps");
    let old: Vec<&Value> =
        pods.iter().filter(|p| s(p, "/spec/containers/0/image") == "r.io/web:v1").collect();
    assert_eq!((pods.len(), old.len()), (3, 2), "maxSurge 1 and maxUnavailable 0: {pods:#?}");
    // progressDeadlineSeconds 600 at time scale 0.01: 6 s.
    let d = eventually("ProgressDeadlineExceeded", || {
        let d = store.get(&Kind::Deployment, Some("apps"), "web").unwrap();
        (cond(&d, "Progressing")?["reason"] == "ProgressDeadlineExceeded").then_some(d)
    })
    .await;
    assert_eq!(d["status"]["updatedReplicas"], 1);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert_eq!(s(&d, "/metadata/annotations/deployment.kubernetes.io~1revision"), "2");

    // Back to a good image: the rollout completes and the old ReplicaSets scale to 0.
    let mut d3 = store.get(&Kind::Deployment, Some("apps"), "web").unwrap();
    d3["spec"]["template"]["spec"]["containers"][0]["image"] = json!("r.io/web:v2");
    store.update(&Kind::Deployment, Some("apps"), "web", d3).unwrap();
    eventually("v2 rolled out", || {
        kubelet_pass(&store, "apps", "r.io/web:v2");
        let pods = list(&store, Kind::Pod, "apps");
        let d = store.get(&Kind::Deployment, Some("apps"), "web").unwrap();
        (pods.len() == 2
            && pods.iter().all(|p| s(p, "/spec/containers/0/image") == "r.io/web:v2")
            && cond(&d, "Progressing")?["reason"] == "NewReplicaSetAvailable")
            .then_some(())
    })
    .await;
    // Deleting the deployment takes its ReplicaSets and pods (background cascade).
    store.delete(&Kind::Deployment, Some("apps"), "web").unwrap();
    eventually("cascade", || {
        (list(&store, Kind::ReplicaSet, "apps").is_empty()
            && list(&store, Kind::Pod, "apps").is_empty())
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn replicaset_replaces_a_deleted_pod_and_scales_down() {
    let (store, _c) = start(1.0);
    let rs = json!({"metadata": {"name": "rs"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "rs"}},
        "template": {"metadata": {"labels": {"app": "rs"}},
                     "spec": {"containers": [{"name": "c", "image": "r.io/x:v1"}]}}}});
    store.create(&Kind::ReplicaSet, Some("apps"), rs).unwrap();
    let pods = eventually("2 pods", || {
        let p = list(&store, Kind::Pod, "apps");
        (p.len() == 2).then_some(p)
    })
    .await;
    store.delete(&Kind::Pod, Some("apps"), s(&pods[0], "/metadata/name")).unwrap();
    eventually("a replacement", || {
        let p = list(&store, Kind::Pod, "apps");
        (p.len() == 2 && p.iter().all(|x| x["metadata"]["name"] != pods[0]["metadata"]["name"]))
            .then_some(())
    })
    .await;
    let mut cur = store.get(&Kind::ReplicaSet, Some("apps"), "rs").unwrap();
    cur["spec"]["replicas"] = json!(0);
    store.update(&Kind::ReplicaSet, Some("apps"), "rs", cur).unwrap();
    eventually("scaled to 0", || list(&store, Kind::Pod, "apps").is_empty().then_some(())).await;
    let rs = store.get(&Kind::ReplicaSet, Some("apps"), "rs").unwrap();
    eventually("status", || {
        let rs = store.get(&Kind::ReplicaSet, Some("apps"), "rs").unwrap();
        (rs["status"]["replicas"] == 0 && rs["status"]["observedGeneration"] == 2).then_some(())
    })
    .await;
    assert_eq!(rs["metadata"]["generation"], 2);
}

fn job(name: &str, backoff: i64) -> Value {
    json!({"metadata": {"name": name}, "spec": {"backoffLimit": backoff, "template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "r.io/x:v1"}]}}}})
}

fn job_condition(store: &SharedStore, name: &str, t: &str) -> Option<Value> {
    let j = store.get(&Kind::Job, Some("apps"), name).ok()?;
    j["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == t).cloned()
}

#[tokio::test]
async fn jobs_complete_on_success_and_fail_past_the_backoff_limit() {
    let (store, _c) = start(1.0);
    store.create(&Kind::Job, Some("apps"), job("ok", 6)).unwrap();
    let pod =
        eventually("the job's pod", || list(&store, Kind::Pod, "apps").into_iter().next()).await;
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");
    assert_eq!(s(&pod, "/metadata/labels/job-name"), "ok");
    let name = s(&pod, "/metadata/name").to_string();
    store.update_status(&Kind::Pod, Some("apps"), &name, json!({"phase": "Succeeded"})).unwrap();
    let c = eventually("Complete", || job_condition(&store, "ok", "Complete")).await;
    assert_eq!(c["reason"], "CompletionsReached");
    let j = store.get(&Kind::Job, Some("apps"), "ok").unwrap();
    assert_eq!(j["status"]["succeeded"], 1);
    assert!(j["status"]["completionTime"].is_string());

    store.create(&Kind::Job, Some("apps"), job("bad", 1)).unwrap();
    for round in 0..2 {
        let p = eventually("a running pod of bad", || {
            list(&store, Kind::Pod, "apps").into_iter().find(|p| {
                s(p, "/metadata/labels/job-name") == "bad" && s(p, "/status/phase") == "Pending"
            })
        })
        .await;
        let pname = s(&p, "/metadata/name").to_string();
        store.update_status(&Kind::Pod, Some("apps"), &pname, json!({"phase": "Failed"})).unwrap();
        if round == 0 {
            eventually("failed counted", || {
                let j = store.get(&Kind::Job, Some("apps"), "bad").ok()?;
                (j["status"]["failed"] == 1).then_some(())
            })
            .await;
        }
    }
    let c = eventually("Failed", || job_condition(&store, "bad", "Failed")).await;
    assert_eq!(c["reason"], "BackoffLimitExceeded");
    assert_eq!(c["message"], "Job has reached the specified backoff limit");
}

#[tokio::test]
async fn cronjob_creates_jobs_on_the_lab_clock_and_root_ca_is_published() {
    // Every minute at time scale 0.01: a job about every 0.6 s.
    let (store, _c) = start(0.01);
    let cj = json!({"metadata": {"name": "tick"}, "spec": {"schedule": "* * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
            "containers": [{"name": "c", "image": "r.io/x:v1"}]}}}}}});
    store.create(&Kind::CronJob, Some("apps"), cj).unwrap();
    let jobs = eventually("two jobs", || {
        let j = list(&store, Kind::Job, "apps");
        (j.len() >= 2).then_some(j)
    })
    .await;
    for j in &jobs {
        assert_eq!(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        let minutes: i64 = s(j, "/metadata/name").trim_start_matches("tick-").parse().unwrap();
        let at = s(j, "/metadata/annotations/batch.kubernetes.io~1cronjob-scheduled-timestamp");
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        assert_eq!(at.timestamp(), minutes * 60);
    }
    let cj = store.get(&Kind::CronJob, Some("apps"), "tick").unwrap();
    assert!(cj["status"]["lastScheduleTime"].is_string(), "{cj:#?}");
    let bad = json!({"metadata": {"name": "bad"}, "spec": {"schedule": "61 * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "r.io/x:v1"}]}}}}}});
    let e = store.create(&Kind::CronJob, Some("apps"), bad).unwrap_err();
    assert_eq!(e.code, 422);
    assert!(e.message.contains("spec.schedule: Invalid value"), "{}", e.message);

    // kube-root-ca.crt in every namespace, restored when deleted.
    for ns in ["default", "kube-system", "apps"] {
        let cm = eventually("kube-root-ca.crt", || {
            store.get(&Kind::ConfigMap, Some(ns), "kube-root-ca.crt").ok()
        })
        .await;
        assert_eq!(cm["data"]["ca.crt"], "PEM");
    }
    store.delete(&Kind::ConfigMap, Some("apps"), "kube-root-ca.crt").unwrap();
    eventually("republished", || {
        store.get(&Kind::ConfigMap, Some("apps"), "kube-root-ca.crt").ok()
    })
    .await;
}
