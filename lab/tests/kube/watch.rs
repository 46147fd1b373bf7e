//! Watch semantics of the API emulator: list-then-watch from a resourceVersion, bookmarks,
//! timeoutSeconds, 410 Expired for a compacted version, selector transitions, and the
//! in-process store watch the kubelet emulator uses.

use std::time::Duration;

use acr_chaos_lab::kube::{Kind, Store, WatchEvent};
use serde_json::json;

use crate::kube_support::{Api, pod};

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn list_then_watch_from_resource_version() {
    let api = Api::start().await;
    api.post("/api/v1/namespaces/default/pods", &pod("before", "img")).await;
    let (_, list) = api.get("/api/v1/namespaces/default/pods").await;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let mut w = api
        .watch(&format!(
            "/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
        ))
        .await;
    api.post("/api/v1/namespaces/default/pods", &pod("after", "img")).await;
    let ev = w.next_change(T).await;
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(
        ev["object"]["metadata"]["name"], "after",
        "events before the list RV are not replayed"
    );
    api.patch(
        "/api/v1/namespaces/default/pods/after/status",
        "application/merge-patch+json",
        r#"{"status":{"phase":"Running"}}"#,
    )
    .await;
    let ev = w.next_change(T).await;
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["status"]["phase"], "Running");
    let mod_rv: u64 =
        ev["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    api.delete("/api/v1/namespaces/default/pods/after").await;
    let ev = w.next_change(T).await;
    assert_eq!(ev["type"], "DELETED");
    let del_rv: u64 =
        ev["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(del_rv > mod_rv);
    // An idle watch gets bookmarks whose version covers what was delivered.
    let bm = w.next_within(T).await.unwrap();
    assert_eq!(bm["type"], "BOOKMARK");
    assert_eq!(bm["object"]["kind"], "Pod");
    let bm_rv: u64 = bm["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(bm_rv >= del_rv);
    // Other namespaces' changes do not show up.
    api.post("/api/v1/namespaces", &json!({"metadata": {"name": "other"}})).await;
    api.post("/api/v1/namespaces/other/pods", &pod("elsewhere", "img")).await;
    api.post("/api/v1/namespaces/default/pods", &pod("here", "img")).await;
    let ev = w.next_change(T).await;
    assert_eq!(ev["object"]["metadata"]["name"], "here");
}

#[tokio::test]
async fn watch_without_version_starts_with_current_state_and_times_out() {
    let api = Api::start().await;
    api.post("/api/v1/namespaces/default/pods", &pod("a", "img")).await;
    let started = std::time::Instant::now();
    let mut w = api
        .watch(
            "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&allowWatchBookmarks=true",
        )
        .await;
    let ev = w.next_within(T).await.unwrap();
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "a");
    let mut last = None;
    while let Some(ev) = w.next_within(T).await {
        last = Some(ev);
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "ended after {:?}", started.elapsed());
    assert_eq!(last.unwrap()["type"], "BOOKMARK", "a bookmark is sent at timeout");
}

#[tokio::test]
async fn compacted_resource_version_gives_410_expired() {
    let api = Api::start_with(Store::with_history(5), Duration::from_secs(60)).await;
    let (_, first) = api
        .post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "c0"}}))
        .await;
    let old_rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    for i in 1..10 {
        api.post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": format!("c{i}")}}),
        )
        .await;
    }
    let mut w = api
        .watch(&format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old_rv}"))
        .await;
    let ev = w.next_within(T).await.unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["kind"], "Status");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(ev["object"]["message"].as_str().unwrap().starts_with("too old resource version"));
    assert!(w.next_within(T).await.is_none(), "stream ends after the error");
    // A recent version still works.
    let (_, l) = api.get("/api/v1/namespaces/default/configmaps").await;
    let rv = l["metadata"]["resourceVersion"].as_str().unwrap();
    let mut w = api
        .watch(&format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"))
        .await;
    api.post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "new"}})).await;
    assert_eq!(w.next_change(T).await["object"]["metadata"]["name"], "new");
}

#[tokio::test]
async fn send_initial_events_ends_with_annotated_bookmark() {
    let api = Api::start().await;
    api.post("/api/v1/namespaces/default/pods", &pod("a", "img")).await;
    let mut w = api
        .watch("/api/v1/namespaces/default/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
        .await;
    assert_eq!(w.next_within(T).await.unwrap()["type"], "ADDED");
    let bm = w.next_within(T).await.unwrap();
    assert_eq!(bm["type"], "BOOKMARK");
    assert_eq!(bm["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

#[tokio::test]
async fn label_selector_watch_sees_objects_enter_and_leave() {
    let api = Api::start().await;
    api.post("/api/v1/namespaces/default/pods", &pod("p", "img")).await;
    let (_, l) = api.get("/api/v1/namespaces/default/pods").await;
    let rv = l["metadata"]["resourceVersion"].as_str().unwrap();
    let mut w = api
        .watch(&format!(
            "/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}&labelSelector=run%3Dx"
        ))
        .await;
    let path = "/api/v1/namespaces/default/pods/p";
    api.patch(path, "application/merge-patch+json", r#"{"metadata":{"labels":{"run":"x"}}}"#).await;
    assert_eq!(w.next_change(T).await["type"], "ADDED");
    api.patch(path, "application/merge-patch+json", r#"{"metadata":{"annotations":{"a":"1"}}}"#)
        .await;
    assert_eq!(w.next_change(T).await["type"], "MODIFIED");
    api.patch(path, "application/merge-patch+json", r#"{"metadata":{"labels":{"run":null}}}"#)
        .await;
    assert_eq!(w.next_change(T).await["type"], "DELETED");
}

#[tokio::test]
async fn table_watch_for_kubectl() {
    let api = Api::start().await;
    let r = api
        .req(reqwest::Method::GET, "/api/v1/namespaces/default/pods?watch=1")
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        .send()
        .await
        .unwrap();
    let mut r = r;
    api.post("/api/v1/namespaces/default/pods", &pod("t", "img")).await;
    let chunk = tokio::time::timeout(T, r.chunk()).await.unwrap().unwrap().unwrap();
    let ev: serde_json::Value = serde_json::from_slice(&chunk).unwrap();
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["kind"], "Table");
    assert_eq!(ev["object"]["rows"][0]["cells"][0], "t");
}

#[tokio::test]
async fn store_watch_in_process() {
    let store = Store::new();
    let mut rx =
        store.watch(&Kind::Pod, Some("default"), None, None, Some("spec.nodeName=node-1")).unwrap();
    let mut p = pod("p", "img");
    p["spec"]["nodeName"] = json!("node-1");
    store.create(&Kind::Pod, Some("default"), p).unwrap();
    store.create(&Kind::Pod, Some("default"), pod("unbound", "img")).unwrap();
    let ev = tokio::time::timeout(T, rx.recv()).await.unwrap().unwrap();
    let WatchEvent::Added(o) = ev else { panic!("expected Added, got {ev:?}") };
    assert_eq!(o["metadata"]["name"], "p");
    let updated =
        store.update_status(&Kind::Pod, Some("default"), "p", json!({"phase": "Running"})).unwrap();
    assert_eq!(updated["status"]["phase"], "Running");
    assert_eq!(updated["spec"]["nodeName"], "node-1");
    let ev = tokio::time::timeout(T, rx.recv()).await.unwrap().unwrap();
    assert!(matches!(&ev, WatchEvent::Modified(o) if o["status"]["phase"] == "Running"), "{ev:?}");
    // resourceVersions increase monotonically across kinds.
    let a: u64 = store.resource_version().parse().unwrap();
    store.create(&Kind::ConfigMap, Some("default"), json!({"metadata": {"name": "c"}})).unwrap();
    let b: u64 = store.resource_version().parse().unwrap();
    assert_eq!(b, a + 1);
    // A no-op status write changes nothing and sends nothing.
    let same =
        store.update_status(&Kind::Pod, Some("default"), "p", json!({"phase": "Running"})).unwrap();
    assert_eq!(same["metadata"]["resourceVersion"], updated["metadata"]["resourceVersion"]);
    assert!(rx.try_recv().is_err());
    assert!(store.watch(&Kind::Pod, None, Some("abc"), None, None).is_err());
    assert_eq!(store.watch(&Kind::Pod, None, None, Some("a in b"), None).unwrap_err().code, 400);
    drop(rx);
    assert_eq!(store.watcher_count(), 0);
}

#[tokio::test]
async fn concurrent_updates_conflict_exactly_once() {
    let store = Store::new();
    store
        .create(
            &Kind::ConfigMap,
            Some("default"),
            json!({"metadata": {"name": "c"}, "data": {"n": "0"}}),
        )
        .unwrap();
    let base = store.get(&Kind::ConfigMap, Some("default"), "c").unwrap();
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut obj = base.clone();
        obj["data"]["n"] = json!((i + 1).to_string()); // never a no-op write
        handles.push(std::thread::spawn(move || {
            store.update(&Kind::ConfigMap, Some("default"), "c", obj)
        }));
    }
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one writer with the same resourceVersion wins");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.code == 409 && e.reason == "Conflict")
    );
}

#[tokio::test]
async fn huge_timeout_seconds_is_clamped() {
    let api = Api::start().await;
    let mut w = api
        .watch("/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=18446744073709551615")
        .await;
    api.post("/api/v1/namespaces/default/pods", &pod("x", "img")).await;
    assert_eq!(w.next_change(T).await["type"], "ADDED");
}
