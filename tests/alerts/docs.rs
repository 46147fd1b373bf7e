//! The shipped alerting material stays consistent: KQL queries read the Container
//! insights tables and match KubeEvents on Message, their cause labels are the
//! classifier's cause ids, and the built-in scenarios' alert assertions name alerts the
//! shipped PrometheusRule defines.

use acr_chaos::scenario::{Alert, load_scenarios};
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kql_files() -> Vec<(String, String)> {
    let dir = root().join("docs/alerting/kql");
    let mut v: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "kql"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    v.sort();
    v
}

fn shipped_alert_names() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs/alerting/prometheus-rule.yaml")).unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(doc["kind"], "PrometheusRule");
    doc["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn kql_reads_container_insights_and_matches_events_on_message() {
    let files = kql_files();
    assert!(files.len() >= 2, "{files:?}");
    let mut tables = Vec::new();
    for (path, text) in &files {
        let body: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
        let first = body.iter().find(|l| !l.trim().is_empty()).unwrap().trim();
        assert!(["KubePodInventory", "KubeEvents"].contains(&first), "{path}: starts with {first}");
        tables.push(first.to_string());
        let q = body.join("\n");
        if first == "KubeEvents" {
            assert!(q.contains("Message"), "{path}: KubeEvents must match on Message");
            assert!(!q.contains("Reason =="), "{path}: Reason alone is ambiguous");
        }
        assert!(q.contains("ago("), "{path}: bounded in time");
        assert_eq!(q.matches('(').count(), q.matches(')').count(), "{path}: parentheses");
    }
    assert!(tables.iter().any(|t| t == "KubePodInventory"));
    assert!(tables.iter().any(|t| t == "KubeEvents"));
}

#[test]
fn kql_cause_labels_are_classifier_causes() {
    let ids: Vec<&str> = acr_chaos::classify::Cause::all().iter().map(|c| c.id()).collect();
    let re = regex::Regex::new(r#",\s*"([a-z-]+)",?\s*$"#).unwrap();
    let mut seen = 0;
    for (path, text) in kql_files() {
        for line in
            text.lines().filter(|l| l.contains("Message has") || l.contains("Message startswith"))
        {
            if let Some(c) = re.captures(line) {
                let cause = &c[1];
                seen += 1;
                assert!(
                    ids.contains(&cause) || ["back-off", "other"].contains(&cause),
                    "{path}: {cause} is not a cause id ({ids:?})"
                );
            }
        }
    }
    assert!(seen >= 8, "case() arms found: {seen}");
}

#[test]
fn builtin_scenarios_assert_shipped_alerts() {
    let names = shipped_alert_names();
    assert!(names.contains(&"KubePodImagePullFailing".to_string()), "{names:?}");
    let scenarios = load_scenarios(&[root().join("scenarios")]).unwrap();
    let with_alerts: Vec<_> = scenarios.iter().filter(|s| !s.alerts.is_empty()).collect();
    assert!(with_alerts.len() >= 2, "built-in scenarios with alerts: {}", with_alerts.len());
    let mut resolving = Vec::new();
    for s in with_alerts {
        for a in &s.alerts {
            match a {
                Alert::Alertmanager(am) => {
                    assert!(names.contains(&am.alertname.0), "{}: {}", s.name, am.alertname.0);
                    assert_eq!(
                        am.labels.get("namespace").map(String::as_str),
                        Some("${namespace}")
                    );
                }
                Alert::Prometheus(p) => {
                    let q = &p.query.0;
                    assert!(names.iter().any(|n| q.contains(&format!("alertname=\"{n}\""))), "{q}");
                    assert!(
                        q.contains("namespace=\"${namespace}\""),
                        "scoped to the scenario: {q}"
                    );
                }
                Alert::LogAnalytics(_) => {}
            }
            if a.common().resolve_after_restore {
                resolving.push(s.name.to_string());
            }
        }
    }
    // A probe-only fault's pod never recovers by itself: only infrastructure faults,
    // whose pods pull again after the restore, may assert the resolution.
    assert!(resolving.iter().any(|n| n == "acr-detach"), "{resolving:?}");
    assert!(!resolving.iter().any(|n| n == "image-tag-missing"), "{resolving:?}");
}
