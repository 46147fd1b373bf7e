//! The kubelet emulator over the in-process store and a real containerd pulling from a
//! plain docker-registry: Running with Pulling/Pulled, ErrImagePull → ImagePullBackOff with
//! containerd's NotFound text and the back-off intervals, missing pull secret, policy
//! Never, invalid names, scheduling by nodeSelector, deletion stopping the worker.
//! Needs root + Debian containerd and docker-registry (loud SKIP otherwise).

use std::time::{Duration, Instant};

use acr_chaos_lab::containerd::{Containerd, ContainerdOptions, RegistryHost};
use acr_chaos_lab::kube::{Kind, SharedStore, Store, WatchEvent};
use acr_chaos_lab::kubelet::{Kubelet, KubeletConfig, NodeConfig};
use serde_json::{Value, json};

use crate::containerd_support::{
    PlainRegistry, REGISTRY_BIN, events_of, prerequisites, push_image, wait_pod, waiting,
};

const HOST: &str = "registry.plain.lab";
const SCALE: f64 = 0.02; // 10 s back-off → 200 ms

struct Env {
    _tmp: tempfile::TempDir,
    _reg: PlainRegistry,
    _ctd: Containerd,
    store: SharedStore,
    _kubelet: Kubelet,
}

async fn env(ns: &str) -> Option<Env> {
    if !prerequisites("kubelet_plain", &[acr_chaos_lab::containerd::CONTAINERD_BIN, REGISTRY_BIN]) {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = PlainRegistry::start(tmp.path()).await;
    push_image(&reg.url(), "probe/hello", "v1", "hello").await;
    let host = RegistryHost {
        host: HOST.into(),
        endpoint: format!("http://127.0.0.1:{}", reg.port),
        ca_file: None,
        plain_http: true,
    };
    let ctd = Containerd::start(ContainerdOptions::new(tmp.path()).host(host)).await.unwrap();
    let store = Store::new();
    store.create(&Kind::Namespace, None, json!({"metadata": {"name": ns}})).unwrap();
    let mut cfg =
        KubeletConfig::new(vec![NodeConfig::aks("aks-nodepool1-00000000-vmss000000", 0), {
            let mut n = NodeConfig::aks("aks-gpupool-00000000-vmss000000", 1);
            n.labels.insert("accelerator".into(), "gpu".into());
            n
        }]);
    cfg.time_scale = SCALE;
    let kubelet = Kubelet::start(store.clone(), ctd.cri().await.unwrap(), cfg).unwrap();
    Some(Env { _tmp: tmp, _reg: reg, _ctd: ctd, store, _kubelet: kubelet })
}

fn pod(name: &str, image: &str, extra: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "probe", "image": image, "imagePullPolicy": "Always"}]},
    });
    if let (Some(spec), Some(extra)) = (p["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    p
}

fn has_event(evs: &[Value], reason: &str, message: &str) -> bool {
    evs.iter().any(|e| e["reason"] == reason && e["message"] == message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_image_runs_and_secret_policy_name_and_selector_paths() {
    let ns = "plain-ok";
    let Some(env) = env(ns).await else { return };
    let s = &env.store;
    let image = format!("{HOST}/probe/hello:v1");
    s.create(&Kind::Pod, Some(ns), pod("good", &image, json!({}))).unwrap();
    let p = wait_pod(s, ns, "good", "Running", |p| p["status"]["phase"] == "Running").await;
    let cs = &p["status"]["containerStatuses"][0];
    assert_eq!(cs["ready"], true);
    assert!(cs["state"]["running"]["startedAt"].is_string());
    assert!(
        cs["imageID"].as_str().unwrap().starts_with(&format!("{HOST}/probe/hello@sha256:")),
        "{cs}"
    );
    assert_eq!(p["spec"]["nodeName"], "aks-nodepool1-00000000-vmss000000");
    let evs = events_of(s, ns, "good");
    let reasons: Vec<&str> = evs.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["Scheduled", "Pulling", "Pulled", "Created", "Started"], "{evs:#?}");
    assert!(has_event(&evs, "Pulling", &format!("Pulling image \"{image}\"")));
    let pulled = evs.iter().find(|e| e["reason"] == "Pulled").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pulled.starts_with(&format!("Successfully pulled image \"{image}\" in ")), "{pulled}");
    assert!(
        pulled.contains(" including waiting). Image size: ") && pulled.ends_with(" bytes."),
        "{pulled}"
    );
    assert_eq!(evs[1]["involvedObject"]["fieldPath"], "spec.containers{probe}");
    assert_eq!(evs[1]["source"]["host"], "aks-nodepool1-00000000-vmss000000");

    // IfNotPresent on a present image: no pull. Missing pull secret: warning, still pulls.
    let mut p2 = pod("cached", &image, json!({"imagePullSecrets": [{"name": "nope"}]}));
    p2["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    s.create(&Kind::Pod, Some(ns), p2).unwrap();
    wait_pod(s, ns, "cached", "Running", |p| p["status"]["phase"] == "Running").await;
    let evs = events_of(s, ns, "cached");
    assert!(
        has_event(
            &evs,
            "Pulled",
            &format!("Container image \"{image}\" already present on machine")
        ),
        "{evs:#?}"
    );
    assert!(has_event(
        &evs,
        "FailedToRetrieveImagePullSecret",
        "Unable to retrieve some image pull secrets (nope); attempting to pull the image may not succeed."
    ));
    assert!(!evs.iter().any(|e| e["reason"] == "Pulling"));

    // Never + absent image.
    let mut p3 = pod("never", &format!("{HOST}/probe/absent:v9"), json!({}));
    p3["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
    s.create(&Kind::Pod, Some(ns), p3).unwrap();
    let p = wait_pod(s, ns, "never", "ErrImageNeverPull", |p| waiting(p).0 == "ErrImageNeverPull")
        .await;
    assert_eq!(
        waiting(&p).1,
        format!(
            "Container image \"{HOST}/probe/absent:v9\" is not present with pull policy of Never"
        )
    );

    // Invalid image name.
    s.create(&Kind::Pod, Some(ns), pod("badname", "registry.plain.lab/Probe/Hello:v1", json!({})))
        .unwrap();
    let p = wait_pod(s, ns, "badname", "InvalidImageName", |p| waiting(p).0 == "InvalidImageName")
        .await;
    assert!(waiting(&p).1.starts_with("Failed to apply default image tag \"registry.plain.lab/Probe/Hello:v1\": couldn't parse image name"));
    assert!(has_event(&events_of(s, ns, "badname"), "Failed", "Error: InvalidImageName"));

    // Init containers complete first; a failing init container keeps the others waiting.
    let mut p4 = pod("init-ok", &image, json!({}));
    p4["spec"]["initContainers"] =
        json!([{"name": "setup", "image": image, "imagePullPolicy": "IfNotPresent"}]);
    s.create(&Kind::Pod, Some(ns), p4).unwrap();
    let p = wait_pod(s, ns, "init-ok", "Running", |p| p["status"]["phase"] == "Running").await;
    assert_eq!(
        p["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    let mut p5 = pod("init-bad", &image, json!({}));
    p5["spec"]["initContainers"] =
        json!([{"name": "setup", "image": format!("{HOST}/probe/hello:nope")}]);
    s.create(&Kind::Pod, Some(ns), p5).unwrap();
    let p = wait_pod(s, ns, "init-bad", "init ErrImagePull", |p| {
        p["status"]["initContainerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull"
    })
    .await;
    assert_eq!(waiting(&p).0, "PodInitializing");
    assert_eq!(
        p["status"]["conditions"][1]["message"],
        "containers with incomplete status: [setup]"
    );
    let evs = events_of(s, ns, "init-bad");
    assert!(evs.iter().any(|e| e["involvedObject"]["fieldPath"] == "spec.initContainers{setup}"
        && e["reason"] == "Pulling"));

    // nodeSelector picks the matching node; an impossible one is unschedulable.
    s.create(
        &Kind::Pod,
        Some(ns),
        pod("gpu", &image, json!({"nodeSelector": {"accelerator": "gpu"}})),
    )
    .unwrap();
    let p = wait_pod(s, ns, "gpu", "Running", |p| p["status"]["phase"] == "Running").await;
    assert_eq!(p["spec"]["nodeName"], "aks-gpupool-00000000-vmss000000");
    s.create(
        &Kind::Pod,
        Some(ns),
        pod("nowhere", &image, json!({"nodeSelector": {"zone": "mars"}})),
    )
    .unwrap();
    let p = wait_pod(s, ns, "nowhere", "Unschedulable", |p| {
        p["status"]["conditions"][0]["reason"] == "Unschedulable"
    })
    .await;
    assert!(p["spec"]["nodeName"].is_null());
    assert!(events_of(s, ns, "nowhere").iter().any(|e| e["reason"] == "FailedScheduling"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tag_backs_off_with_kubelet_events_and_intervals() {
    let ns = "plain-backoff";
    let Some(env) = env(ns).await else { return };
    let s = &env.store;
    let mut ev_rx = s.watch(&Kind::Event, Some(ns), None, None, None).unwrap();
    let image = format!("{HOST}/probe/hello:missing");
    s.create(&Kind::Pod, Some(ns), pod("p", &image, json!({}))).unwrap();
    // Follow events as they are written: (time, reason, message, count).
    let mut log: Vec<(Instant, String, String, u64)> = Vec::new();
    let mut reasons_seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while log.iter().filter(|e| e.2.starts_with("Failed to pull image")).count() < 4 {
        let ev = tokio::time::timeout_at(deadline.into(), ev_rx.recv())
            .await
            .expect("events keep coming")
            .unwrap();
        let (WatchEvent::Added(e) | WatchEvent::Modified(e)) = ev else { continue };
        let st = s.get(&Kind::Pod, Some(ns), "p").unwrap();
        let r = waiting(&st).0;
        if !r.is_empty() && reasons_seen.last() != Some(&r) {
            reasons_seen.push(r);
        }
        log.push((
            Instant::now(),
            e["reason"].as_str().unwrap().into(),
            e["message"].as_str().unwrap().into(),
            e["count"].as_u64().unwrap(),
        ));
    }
    let err = format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
    );
    // First occurrences, in order (signatures.md §2).
    let mut firsts: Vec<(String, String)> = Vec::new();
    for (_, r, m, _) in &log {
        if !firsts.iter().any(|(r2, m2)| r2 == r && m2 == m) {
            firsts.push((r.clone(), m.clone()));
        }
    }
    let expect = [
        (
            "Scheduled",
            "Successfully assigned plain-backoff/p to aks-nodepool1-00000000-vmss000000"
                .to_string(),
        ),
        ("Pulling", format!("Pulling image \"{image}\"")),
        ("Failed", format!("Failed to pull image \"{image}\": {err}")),
        ("Failed", "Error: ErrImagePull".to_string()),
        ("BackOff", format!("Back-off pulling image \"{image}\"")),
        ("Failed", "Error: ImagePullBackOff".to_string()),
    ];
    let got: Vec<(&str, &str)> = firsts.iter().map(|(r, m)| (r.as_str(), m.as_str())).collect();
    let want: Vec<(&str, &str)> = expect.iter().map(|(r, m)| (*r, m.as_str())).collect();
    assert_eq!(got, want);
    // Aggregation: repeated Pulling bumps count of one Event object.
    let pulling_counts: Vec<u64> = log.iter().filter(|e| e.1 == "Pulling").map(|e| e.3).collect();
    assert_eq!(pulling_counts, vec![1, 2, 3, 4]);
    let evs = events_of(s, ns, "p");
    assert_eq!(evs.iter().filter(|e| e["reason"] == "Pulling").count(), 1);
    // Back-off: failure k → next pull after 10 s·2^k (scaled).
    let fails: Vec<Instant> =
        log.iter().filter(|e| e.2.starts_with("Failed to pull")).map(|e| e.0).collect();
    let pulls: Vec<Instant> = log.iter().filter(|e| e.1 == "Pulling").map(|e| e.0).collect();
    for k in 0..3 {
        let gap = pulls[k + 1].duration_since(fails[k]);
        let want = Duration::from_secs(10 * (1 << k)).mul_f64(SCALE);
        assert!(
            gap >= want.mul_f64(0.9) && gap <= want.mul_f64(1.25) + Duration::from_millis(250),
            "gap {k}: {gap:?}, want {want:?}"
        );
    }
    // Waiting reasons: ErrImagePull, then ImagePullBackOff with the >= 1.32 message.
    // (The pod is sampled when each event arrives, so under load the first ErrImagePull
    // can already have turned into ImagePullBackOff: look for the transition anywhere.)
    assert!(
        reasons_seen.windows(2).any(|w| w == ["ErrImagePull", "ImagePullBackOff"]),
        "{reasons_seen:?}"
    );
    assert!(
        reasons_seen.iter().all(|r| r == "ErrImagePull" || r == "ImagePullBackOff"),
        "{reasons_seen:?}"
    );
    let p = wait_pod(s, ns, "p", "back-off", |p| waiting(p).0 == "ImagePullBackOff").await;
    assert_eq!(waiting(&p).1, format!("Back-off pulling image \"{image}\": ErrImagePull: {err}"));
    assert_eq!(p["status"]["phase"], "Pending");

    // Deleting the pod stops its worker: no new events afterwards.
    s.delete(&Kind::Pod, Some(ns), "p").unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before: Vec<(String, u64)> = events_of(s, ns, "p")
        .iter()
        .map(|e| (e["reason"].as_str().unwrap().to_string(), e["count"].as_u64().unwrap()))
        .collect();
    tokio::time::sleep(Duration::from_secs(10).mul_f64(SCALE * 4.0)).await;
    let after: Vec<(String, u64)> = events_of(s, ns, "p")
        .iter()
        .map(|e| (e["reason"].as_str().unwrap().to_string(), e["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(before, after);
}

/// 1,000 pods on one node: one sleeping task each, no busy loops; all reach Running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_pods_reach_running() {
    let ns = "plain-many";
    let Some(env) = env(ns).await else { return };
    let s = &env.store;
    let image = format!("{HOST}/probe/hello:v1");
    // Pull once; the rest find it present (IfNotPresent).
    s.create(&Kind::Pod, Some(ns), pod("warm", &image, json!({}))).unwrap();
    wait_pod(s, ns, "warm", "Running", |p| p["status"]["phase"] == "Running").await;
    let started = Instant::now();
    for i in 0..1000 {
        let mut p = pod(&format!("p{i}"), &image, json!({}));
        p["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
        s.create(&Kind::Pod, Some(ns), p).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (pods, _) = s.list(&Kind::Pod, Some(ns), None, Some("status.phase=Running")).unwrap();
        if pods.len() == 1001 {
            break;
        }
        assert!(Instant::now() < deadline, "only {} of 1001 pods running", pods.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("1,000 pods Running in {:?}", started.elapsed());
}
