//! kube-rs against the lab's Kubernetes API emulator (issue 4, first "done when"):
//! create, list, get, watch (`runtime::watcher`), `await_condition`, patch (merge,
//! strategic, apply, status), replace with a stale resourceVersion (409), get of a missing
//! object (404), delete (and a namespace taking its pods with it). Pure HTTP over TLS with
//! the written kubeconfig: no root or Debian package needed.

use acr_chaos_lab::kube::LabKube;
use acr_chaos_lab::tls::LabCa;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Config};
use serde_json::json;
use std::time::Duration;

async fn client(dir: &std::path::Path) -> (LabKube, Client) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = LabCa::generate().expect("lab CA");
    let lab = LabKube::start(&ca, dir).await.expect("kube API emulator starts");
    let kubeconfig = kube::config::Kubeconfig::read_from(&lab.kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("kube-rs accepts the kubeconfig");
    (lab, Client::try_from(config).expect("client"))
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "probe"}},
        "spec": {"containers": [{"name": "c", "image": "acrchaoslab.azurecr.io/probe/hello:v1"}]}
    }))
    .unwrap()
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
async fn kube_rs_crud_watch_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, client) = client(dir.path()).await;
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "kube-rs-test"}})).unwrap();
    ns_api.create(&PostParams::default(), &ns).await.expect("create namespace");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-rs-test");

    // watcher sees a pod created after it started (list + watch with resourceVersion).
    let mut stream = watcher(pods.clone(), watcher::Config::default()).applied_objects().boxed();
    pods.create(&PostParams::default(), &pod("p1")).await.expect("create pod");
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(p) = stream.try_next().await.expect("watch stream") {
            if p.metadata.name.as_deref() == Some("p1") {
                return p;
            }
        }
        panic!("watch ended")
    })
    .await
    .expect("watcher saw the pod within 10 s");
    assert!(seen.metadata.uid.is_some(), "server set a uid");
    assert_eq!(seen.status.and_then(|s| s.phase).as_deref(), Some("Pending"));

    // list with a label selector; get.
    let listed = pods.list(&ListParams::default().labels("app=probe")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(pods.list(&ListParams::default().labels("app=other")).await.unwrap().items.is_empty());
    let got = pods.get("p1").await.unwrap();

    // await_condition on a status written through the status subresource (merge patch).
    let waiter = tokio::spawn(await_condition(pods.clone(), "p1", conditions::is_pod_running()));
    pods.patch_status(
        "p1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .expect("patch status");
    let running = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("await_condition finished")
        .unwrap()
        .expect("condition ok");
    assert_eq!(running.and_then(|p| p.status).and_then(|s| s.phase).as_deref(), Some("Running"));

    // strategic merge and server-side apply patches.
    pods.patch(
        "p1",
        &PatchParams::default(),
        &Patch::Strategic(json!({"metadata": {"labels": {"tier": "x"}}})),
    )
    .await
    .expect("strategic merge patch");
    let applied = pods
        .patch(
            "p1",
            &PatchParams::apply("acr-chaos-test").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p1", "annotations": {"a": "b"}}})),
        )
        .await
        .expect("apply patch");
    let labels = applied.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("x"));
    assert_eq!(labels.get("app").map(String::as_str), Some("probe"));

    // replace with the stale resourceVersion from before the patches → 409 Conflict.
    let err = pods.replace("p1", &PostParams::default(), &got).await.expect_err("stale write");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
        }
        other => panic!("expected a 409 Status, got {other:?}"),
    }
    // 404 with the real reason.
    match pods.get("nope").await.expect_err("missing pod") {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.reason, "NotFound");
        }
        other => panic!("expected a 404 Status, got {other:?}"),
    }
    assert!(pods.get_opt("nope").await.unwrap().is_none());

    // delete; await deletion; the namespace takes the rest with it.
    pods.create(&PostParams::default(), &pod("p2")).await.unwrap();
    let uid = pods.get("p1").await.unwrap().metadata.uid.unwrap();
    pods.delete("p1", &DeleteParams::default()).await.expect("delete pod");
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(pods.clone(), "p1", conditions::is_deleted(&uid)),
    )
    .await
    .expect("deleted within 10 s")
    .unwrap();
    ns_api.delete("kube-rs-test", &DeleteParams::default()).await.expect("delete namespace");
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if pods.get_opt("p2").await.map(|p| p.is_none()).unwrap_or(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the namespace's pods went with it");
    lab.shutdown().await;
}

/// kube-rs's typed apps/batch clients against the controllers: a Deployment gets its
/// ReplicaSet (revision 1, pod-template-hash) and pods owned by it; scaling to 0 removes
/// the pods. No kubelet here: pods stay Pending.
#[tokio::test]
async fn kube_rs_deployment_gets_a_replicaset_and_controlled_pods() {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    let dir = tempfile::tempdir().unwrap();
    let (lab, client) = client(dir.path()).await;
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "acrchaoslab.azurecr.io/web:v1"}]}}}
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &d).await.expect("create deployment");
    let within = |s| Duration::from_secs(s);
    let two_pods = tokio::time::timeout(within(10), async {
        loop {
            let l = pods.list(&ListParams::default().labels("app=web")).await.unwrap();
            if l.items.len() == 2 {
                return l.items;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the ReplicaSet created 2 pods");
    let rs = rss.list(&ListParams::default()).await.unwrap().items.remove(0);
    let hash = rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(rs.metadata.name.as_deref(), Some(format!("web-{hash}").as_str()));
    let annotations = rs.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["deployment.kubernetes.io/revision"], "1");
    for p in &two_pods {
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("ReplicaSet", Some(true)));
        assert_eq!(Some(&owner.uid), rs.metadata.uid.as_ref());
    }
    let scaled = tokio::time::timeout(
        within(10),
        await_condition(deployments.clone(), "web", |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| s.replicas == Some(2))
        }),
    )
    .await;
    assert!(scaled.is_ok(), "status.replicas reaches 2");
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 0}})))
        .await
        .expect("scale to 0");
    let none = tokio::time::timeout(within(10), async {
        while !pods.list(&ListParams::default().labels("app=web")).await.unwrap().items.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(none.is_ok(), "scaled down to no pods");
    lab.shutdown().await;
}

#[tokio::test]
async fn kube_rs_job_gets_a_pod_with_its_selector() {
    use k8s_openapi::api::batch::v1::Job;
    let dir = tempfile::tempdir().unwrap();
    let (lab, client) = client(dir.path()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let j: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "acrchaoslab.azurecr.io/web:v1"}]}}}
    }))
    .unwrap();
    let created = jobs.create(&PostParams::default(), &j).await.expect("create job");
    let uid = created.metadata.uid.clone().unwrap();
    let selector = created.spec.as_ref().unwrap().selector.clone().unwrap();
    assert_eq!(selector.match_labels.unwrap()["batch.kubernetes.io/controller-uid"], uid);
    let job_pods = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let l = pods.list(&ListParams::default().labels("job-name=once")).await.unwrap();
            if !l.items.is_empty() {
                return l.items;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the job created its pod");
    assert_eq!(job_pods[0].metadata.owner_references.as_ref().unwrap()[0].uid, uid);
    lab.shutdown().await;
}
