//! End to end on the lab: alert assertions pass because the lab's real Prometheus
//! evaluated the shipped rule over the kube-state-metrics of pods in ErrImagePull (their
//! status written through the lab's API store) and the real Alertmanager received the
//! alert; they resolve after the fix; with the rule deliberately broken (wrong metric
//! name) the assertion fails with a clear message.

use acr_chaos::alerts::{AlertContext, AlertPhase, check_alert, check_phase};
use acr_chaos::clients::alertmanager::AlertmanagerClient;
use acr_chaos::clients::prometheus::PrometheusClient;
use acr_chaos::clients::retry::RetryPolicy;
use acr_chaos::scenario::Alert;
use acr_chaos_lab::Lab;
use acr_chaos_lab::kube::Kind;
use acr_chaos_lab::monitoring::{self, SHIPPED_RULES};
use serde_json::{Value, json};
use std::time::Duration;

fn available(test: &str) -> bool {
    let bins =
        [monitoring::PROMETHEUS_BIN, monitoring::ALERTMANAGER_BIN, "/usr/bin/docker-registry"];
    let missing: Vec<&str> =
        bins.iter().copied().filter(|b| !std::path::Path::new(b).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: {} missing (apt-get install prometheus prometheus-alertmanager docker-registry)",
        missing.join(", ")
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

fn ctx(lab: &Lab, namespace: &str) -> AlertContext {
    let m = lab.monitoring().unwrap();
    let http = reqwest::Client::new();
    let mut c = AlertContext { poll_interval: Duration::from_millis(250), ..Default::default() };
    c.prometheus = Some(
        PrometheusClient::new(http.clone(), &m.prometheus_url())
            .unwrap()
            .with_retry(RetryPolicy::fast()),
    );
    c.alertmanager = Some(
        AlertmanagerClient::new(http, &m.alertmanager_url())
            .unwrap()
            .with_retry(RetryPolicy::fast()),
    );
    c.for_scenario("acr-detach", namespace)
}

fn alerts(deadline: &str) -> Vec<Alert> {
    serde_json::from_value(json!([
        {"kind": "prometheus", "name": "rule-evaluated", "deadline": deadline,
         "query": "ALERTS{alertname=\"KubePodImagePullFailing\",alertstate=\"firing\",namespace=\"${namespace}\"}",
         "resolveAfterRestore": true, "notFiringDuringBaseline": true},
        {"kind": "alertmanager", "name": "alert-received", "deadline": deadline,
         "alertname": "KubePodImagePullFailing", "labels": {"namespace": "${namespace}", "severity": "warning"},
         "resolveAfterRestore": true, "notFiringDuringBaseline": true}
    ]))
    .unwrap()
}

fn put_pod(lab: &Lab, ns: &str, name: &str, status: Value) {
    let store = lab.kube().store();
    if store.get(&Kind::Namespace, None, ns).is_err() {
        store.create(&Kind::Namespace, None, json!({"metadata": {"name": ns}})).unwrap();
    }
    if store.get(&Kind::Pod, Some(ns), name).is_err() {
        store
            .create(&Kind::Pod, Some(ns), json!({"metadata": {"name": name},
                "spec": {"containers": [{"name": "probe", "image": "acrchaoslab.azurecr.io/probe:1"}]}}))
            .unwrap();
    }
    store.update_status(&Kind::Pod, Some(ns), name, status).unwrap();
}

fn running() -> Value {
    json!({"phase": "Running", "containerStatuses": [{"name": "probe", "ready": true, "restartCount": 0,
        "image": "x", "imageID": "x", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]})
}

fn failing(reason: &str) -> Value {
    json!({"phase": "Pending", "containerStatuses": [{"name": "probe", "ready": false, "restartCount": 0,
        "image": "acrchaoslab.azurecr.io/probe:1", "imageID": "",
        "state": {"waiting": {"reason": reason, "message": "failed to fetch anonymous token: unexpected status: 401 Unauthorized"}}}]})
}

async fn start_lab() -> (tempfile::TempDir, Lab) {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::builder()
        .state_dir(dir.path())
        .time_scale(0.01)
        .seed_images(false)
        .monitoring(true)
        .start()
        .await
        .unwrap();
    (dir, lab)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_fires_in_prometheus_and_alertmanager_then_resolves() {
    if !available("alert_fires_in_prometheus_and_alertmanager_then_resolves") {
        return;
    }
    let (_dir, lab) = start_lab().await;
    let ns = "acr-chaos-e2e-acr-detach";
    let c = ctx(&lab, ns);
    let alerts = alerts("60s");

    put_pod(&lab, ns, "probe-baseline-1", running());
    for o in check_phase(&alerts, &c, AlertPhase::Baseline).await {
        assert!(o.passed, "{o:?}");
        assert!(o.name.ends_with("/baseline"));
    }

    put_pod(&lab, ns, "probe-fault-1", failing("ErrImagePull"));
    let out = check_phase(&alerts, &c, AlertPhase::Faulted).await;
    assert_eq!(out.len(), 2);
    for o in &out {
        assert!(o.passed, "{o:?}");
        assert!(o.evidence.contains("probe-fault-1"), "evidence names the pod: {}", o.evidence);
    }
    assert!(out[0].evidence.contains("alertstate=\"firing\""), "{}", out[0].evidence);
    assert!(out[1].evidence.contains("active since"), "{}", out[1].evidence);
    // The real Alertmanager also notified the lab's webhook.
    let m = lab.monitoring().unwrap();
    let notified = m.notifications().alerts("KubePodImagePullFailing", "firing");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut notified = notified;
    while notified.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        notified = m.notifications().alerts("KubePodImagePullFailing", "firing");
    }
    assert_eq!(notified[0]["labels"]["namespace"], ns);

    // The fix: the pod pulls (ImagePullBackOff → Running); both assertions resolve.
    put_pod(&lab, ns, "probe-fault-1", failing("ImagePullBackOff"));
    put_pod(&lab, ns, "probe-fault-1", running());
    for o in check_phase(&alerts, &c, AlertPhase::Restored).await {
        assert!(o.passed, "{o:?}");
        assert!(o.name.ends_with("/resolved"));
    }
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_rule_fails_the_assertion_with_a_clear_message() {
    if !available("broken_rule_fails_the_assertion_with_a_clear_message") {
        return;
    }
    let (_dir, lab) = start_lab().await;
    let m = lab.monitoring().unwrap();
    // A typo in the metric name: the rule is valid PromQL, loads fine, never matches.
    let broken = SHIPPED_RULES.replace(
        "kube_pod_container_status_waiting_reason{",
        "kube_pod_container_status_waiting_reasons{",
    );
    assert_ne!(broken, SHIPPED_RULES);
    m.set_rules(&broken).await.unwrap();
    let ns = "acr-chaos-e2e-broken";
    let c = ctx(&lab, ns);
    put_pod(&lab, ns, "probe-fault-1", failing("ErrImagePull"));
    // The failure is real: kube-state-metrics shows it to Prometheus...
    let metric: Alert = serde_json::from_value(json!({"kind": "prometheus", "name": "metric",
        "deadline": "20s", "query": "kube_pod_container_status_waiting_reason{namespace=\"${namespace}\",reason=\"ErrImagePull\"}"}))
    .unwrap();
    let o = check_alert(&metric, &c, AlertPhase::Faulted).await;
    assert!(o.passed, "{o:?}");
    // ...but the broken rule never fires, far beyond its scaled `for:` (1.2 s).
    let out = check_phase(&alerts("6s"), &c, AlertPhase::Faulted).await;
    for o in &out {
        assert!(!o.passed, "{o:?}");
        let f = o.failure.as_deref().unwrap();
        assert!(f.contains("did not fire within 6s"), "{f}");
        assert!(f.contains("KubePodImagePullFailing"), "{f}");
        assert!(o.checks > 3, "polled: {o:?}");
    }
    let am = out[1].failure.as_deref().unwrap();
    assert!(am.contains("Alertmanager alert") && am.contains("0 alert(s)"), "{am}");
    let prom = out[0].failure.as_deref().unwrap();
    assert!(prom.contains("vector with 0 series"), "{prom}");
    // Repaired: the same assertion passes.
    m.set_rules(SHIPPED_RULES).await.unwrap();
    let out = check_phase(&alerts("30s"), &c, AlertPhase::Faulted).await;
    assert!(out.iter().all(|o| o.passed), "{out:?}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_errors_and_result_types_from_the_real_server() {
    if !available("prometheus_errors_and_result_types_from_the_real_server") {
        return;
    }
    let (_dir, lab) = start_lab().await;
    let c = ctx(&lab, "x");
    let p = c.prometheus.as_ref().unwrap();
    // Invalid PromQL: HTTP 400, errorType bad_data, Prometheus' own parser message.
    let e = p.query("sum(up{").await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    let text = e.to_string();
    assert!(text.contains("bad_data") && text.contains("/api/v1/query"), "{text}");
    // Result types: scalar (non-zero counts as firing), vector, matrix, string.
    let s = p.query("scalar(vector(2))").await.unwrap();
    assert_eq!((s.result_type(), s.len()), ("scalar", 1));
    assert!(p.query("scalar(vector(0))").await.unwrap().is_empty());
    let v = p.query("vector(1)").await.unwrap();
    assert_eq!((v.result_type(), v.len()), ("vector", 1));
    assert!(p.query("absent_metric_acr_chaos").await.unwrap().is_empty());
    let s = p.query("\"hello\"").await.unwrap();
    assert_eq!(s.result_type(), "string");
    // Target discovery and the first scrapes take a few seconds.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let mut m = p.query("up[5m]").await.unwrap();
    while m.is_empty() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        m = p.query("up[5m]").await.unwrap();
    }
    assert_eq!(m.result_type(), "matrix", "{m:?}");
    assert!(!m.is_empty(), "the lab's kube-state-metrics target was scraped: {m:?}");
    // Alertmanager: a label filter with quotes is escaped, not an error.
    let am = c.alertmanager.as_ref().unwrap();
    let none = am.firing("X", &[("pod".to_string(), "a\"b".to_string())].into()).await.unwrap();
    assert!(none.is_empty());
    lab.stop().await;
}
