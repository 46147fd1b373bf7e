//! The lab's real Prometheus + Alertmanager: the shipped rule fires for a pod waiting in
//! ErrImagePull (status written through the API emulator's store, scraped from the
//! kube-state-metrics endpoint), Alertmanager notifies the lab's webhook, and the alert
//! resolves once the pod runs. The lab's rules file is the shipped PrometheusRule's.

use std::time::{Duration, Instant};

use acr_chaos_lab::Lab;
use acr_chaos_lab::kube::Kind;
use acr_chaos_lab::monitoring::{self, SHIPPED_RULES};
use serde_json::{Value, json};

fn require(test: &str) -> bool {
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

async fn lab(test: &str) -> Option<(tempfile::TempDir, Lab)> {
    if !require(test) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::builder()
        .state_dir(dir.path())
        .time_scale(0.01)
        .seed_images(false)
        .monitoring(true)
        .start()
        .await
        .unwrap();
    Some((dir, lab))
}

async fn query(url: &str, q: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{url}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn wait_for<F: FnMut() -> Fut, Fut: Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut f: F,
) {
    let began = Instant::now();
    while !f().await {
        assert!(began.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pod(lab: &Lab, name: &str, status: Value) {
    let store = lab.kube().store();
    if store.get(&Kind::Pod, Some("default"), name).is_err() {
        store
            .create(
                &Kind::Pod,
                Some("default"),
                json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "probe", "image": "acrchaoslab.azurecr.io/probe:missing"}]}}),
            )
            .unwrap();
    }
    store.update_status(&Kind::Pod, Some("default"), name, status).unwrap();
}

fn waiting(reason: &str) -> Value {
    json!({"phase": "Pending", "containerStatuses": [{"name": "probe", "ready": false, "restartCount": 0,
        "image": "acrchaoslab.azurecr.io/probe:missing", "imageID": "",
        "state": {"waiting": {"reason": reason, "message": "failed to pull"}}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_rule_fires_notifies_and_resolves() {
    let Some((_dir, lab)) = lab("shipped_rule_fires_notifies_and_resolves").await else { return };
    let m = lab.monitoring().expect("monitoring started");
    eprintln!("figure: lab with monitoring started in {:?}", lab.started_in());
    let env = lab.env_vars();
    assert!(
        env.iter().any(|(k, v)| *k == "ACR_CHAOS_LAB_PROMETHEUS_URL" && *v == m.prometheus_url())
    );
    assert!(
        env.iter()
            .any(|(k, v)| *k == "ACR_CHAOS_LAB_ALERTMANAGER_URL" && *v == m.alertmanager_url())
    );

    // Healthy first: nothing firing.
    pod(
        &lab,
        "healthy",
        json!({"phase": "Running", "containerStatuses": [{"name": "probe", "ready": true, "restartCount": 0, "image": "x", "imageID": "x", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}),
    );
    let url = m.prometheus_url();
    wait_for("the kube-state-metrics target is scraped", Duration::from_secs(20), || async {
        let v = query(&url, "up{job=\"kube-state-metrics\"} == 1").await;
        v["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    })
    .await;
    let alerts = query(&url, "ALERTS").await;
    assert_eq!(alerts["data"]["result"], json!([]), "{alerts}");

    // The pod fails to pull: the rule goes pending, then firing, and Alertmanager
    // notifies the webhook with the pod's labels.
    let began = Instant::now();
    pod(&lab, "broken", waiting("ErrImagePull"));
    wait_for("ALERTS firing", Duration::from_secs(30), || async {
        let v = query(
            &url,
            "ALERTS{alertname=\"KubePodImagePullFailing\",alertstate=\"firing\",pod=\"broken\"}",
        )
        .await;
        v["data"]["result"].as_array().is_some_and(|r| r.len() == 1)
    })
    .await;
    let fired_after = began.elapsed();
    eprintln!(
        "figure: ErrImagePull -> ALERTS firing in {fired_after:?} (for: 1.2 s, interval {:?})",
        m.interval()
    );
    // `for:` is 2m × 0.01 = 1.2 s: it cannot fire before that.
    assert!(fired_after >= Duration::from_millis(1200), "fired after {fired_after:?}");
    wait_for("webhook notified (firing)", Duration::from_secs(30), || async {
        !m.notifications().alerts("KubePodImagePullFailing", "firing").is_empty()
    })
    .await;
    let n = m.notifications().alerts("KubePodImagePullFailing", "firing");
    assert_eq!(n[0]["labels"]["pod"], "broken", "{n:?}");
    assert_eq!(n[0]["labels"]["reason"], "ErrImagePull");
    assert_eq!(n[0]["labels"]["severity"], "warning");
    assert!(n[0]["annotations"]["summary"].as_str().unwrap().contains("default/broken"), "{n:?}");
    let am: Value = reqwest::get(format!(
        "{}/api/v2/alerts?filter=alertname%3D%22KubePodImagePullFailing%22&active=true",
        m.alertmanager_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(am[0]["status"]["state"], "active", "{am}");

    // Fixed: the alert resolves, and Alertmanager says so.
    let fixed = Instant::now();
    pod(
        &lab,
        "broken",
        json!({"phase": "Running", "containerStatuses": [{"name": "probe", "ready": true, "restartCount": 0, "image": "x", "imageID": "x", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}),
    );
    wait_for("ALERTS gone", Duration::from_secs(30), || async {
        let v = query(&url, "ALERTS{alertname=\"KubePodImagePullFailing\"}").await;
        v["data"]["result"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    wait_for("webhook notified (resolved)", Duration::from_secs(30), || async {
        !m.notifications().alerts("KubePodImagePullFailing", "resolved").is_empty()
    })
    .await;
    eprintln!("figure: Running -> resolved notification in {:?}", fixed.elapsed());
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_rules_are_the_shipped_rules() {
    let Some((_dir, lab)) = lab("lab_rules_are_the_shipped_rules").await else { return };
    let m = lab.monitoring().unwrap();
    let running: Value =
        serde_json::from_str(&std::fs::read_to_string(m.rules_path()).unwrap()).unwrap();
    let shipped: Value = serde_saphyr::from_str(SHIPPED_RULES).unwrap();
    assert_eq!(shipped["kind"], "PrometheusRule");
    assert_eq!(shipped["apiVersion"], "monitoring.coreos.com/v1");
    let (a, b) = (&running["groups"], &shipped["spec"]["groups"]);
    assert_eq!(a.as_array().unwrap().len(), b.as_array().unwrap().len());
    for (ga, gb) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
        assert_eq!(ga["name"], gb["name"]);
        for (ra, rb) in ga["rules"].as_array().unwrap().iter().zip(gb["rules"].as_array().unwrap())
        {
            for key in ["alert", "expr", "labels", "annotations"] {
                assert_eq!(ra[key], rb[key], "{key} differs");
            }
            let scaled = monitoring::parse_duration(ra["for"].as_str().unwrap()).unwrap();
            let real = monitoring::parse_duration(rb["for"].as_str().unwrap()).unwrap();
            assert_eq!(scaled, real.mul_f64(0.01));
        }
    }
    // Prometheus itself loaded them (its rules API lists the shipped alert).
    let rules: Value = reqwest::get(format!("{}/api/v1/rules", m.prometheus_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = rules.to_string();
    assert!(
        text.contains("KubePodImagePullFailing") && text.contains("KubePodInvalidImageName"),
        "{text}"
    );
    lab.stop().await;
}
