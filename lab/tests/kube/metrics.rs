//! The kube-state-metrics style endpoint, scraped over HTTP like Prometheus does.

use acr_chaos_lab::kube::{Kind, Store};
use serde_json::json;

#[tokio::test]
async fn scrape_reflects_store_at_scrape_time() {
    let store = Store::new();
    let served =
        acr_chaos_lab::metrics::serve(store.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("{}/metrics", served.url("http"));
    let scrape = || async {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4")
        );
        r.text().await.unwrap()
    };
    let empty = scrape().await;
    assert!(empty.contains("# TYPE kube_pod_container_status_waiting_reason gauge"));
    assert!(!empty.contains("kube_pod_info{"));
    let p = store
        .create(
            &Kind::Pod,
            Some("default"),
            json!({"metadata": {"name": "probe"}, "spec": {"nodeName": "aks-nodepool1-0",
                   "containers": [{"name": "c", "image": "acrchaoslab.azurecr.io/app:v1"}]}}),
        )
        .unwrap();
    let uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    store
        .update_status(
            &Kind::Pod,
            Some("default"),
            "probe",
            json!({"phase": "Pending", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
                   "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}),
        )
        .unwrap();
    let text = scrape().await;
    let base = format!("namespace=\"default\",pod=\"probe\",uid=\"{uid}\"");
    for want in [
        format!(
            "kube_pod_container_status_waiting_reason{{{base},container=\"c\",reason=\"ImagePullBackOff\"}} 1"
        ),
        format!("kube_pod_container_status_waiting{{{base},container=\"c\"}} 1"),
        format!("kube_pod_container_status_running{{{base},container=\"c\"}} 0"),
        format!("kube_pod_status_phase{{{base},phase=\"Pending\"}} 1"),
        format!("kube_pod_status_phase{{{base},phase=\"Running\"}} 0"),
        format!("kube_pod_container_status_ready{{{base},container=\"c\"}} 0"),
        format!("kube_pod_container_status_restarts_total{{{base},container=\"c\"}} 0"),
        format!(
            "kube_pod_container_info{{{base},container=\"c\",image_spec=\"acrchaoslab.azurecr.io/app:v1\","
        ),
    ] {
        assert!(text.contains(&want), "missing {want} in\n{text}");
    }
    assert!(text.contains("kube_pod_info{") && text.contains("node=\"aks-nodepool1-0\""));
    assert!(text.contains("# TYPE kube_pod_container_status_restarts_total counter"));
    store
        .update_status(
            &Kind::Pod,
            Some("default"),
            "probe",
            json!({"phase": "Running", "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0,
                   "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}),
        )
        .unwrap();
    let text = scrape().await;
    assert!(!text.contains("kube_pod_container_status_waiting_reason{"), "{text}");
    assert!(
        text.contains(&format!("kube_pod_container_status_running{{{base},container=\"c\"}} 1"))
    );
    assert!(text.contains(&format!("kube_pod_status_phase{{{base},phase=\"Running\"}} 1")));
}

/// The exposition passes Prometheus' own parser and linter (`promtool check metrics`).
#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("promtool (Debian package prometheus) is required in CI");
        }
        eprintln!("SKIPPED: promtool_accepts_the_exposition: /usr/bin/promtool not found");
        return;
    }
    let store = Store::new();
    store
        .create(
            &Kind::Pod,
            Some("default"),
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}),
        )
        .unwrap();
    store
        .update_status(
            &Kind::Pod,
            Some("default"),
            "p",
            json!({"phase": "Pending", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 2,
                   "state": {"waiting": {"reason": "ErrImagePull", "message": "quote \" and \\ backslash"}}}]}),
        )
        .unwrap();
    let text = acr_chaos_lab::metrics::render(&store);
    use std::io::Write as _;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
