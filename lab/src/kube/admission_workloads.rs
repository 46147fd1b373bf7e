//! Defaulting and validation of the workload kinds (apps/v1 Deployment and ReplicaSet,
//! batch/v1 Job and CronJob) as their registry strategies do on create: defaults, a
//! selector that must select the template's labels, the Job's generated selector.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::kind::Kind;

fn set_default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.to_string(), v);
    }
}

fn object_at<'a>(v: &'a mut Value, ptr: &str) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for part in ptr.split('/').filter(|p| !p.is_empty()) {
        if !cur.get(part).is_some_and(Value::is_object) {
            cur[part] = json!({});
        }
        cur = &mut cur[part];
    }
    cur.as_object_mut().expect("object")
}

/// Go's `%#v` of a `map[string]string`, as quoted in the API server's message.
fn go_map(m: &Map<String, Value>) -> String {
    let body: Vec<String> =
        m.iter().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or(""))).collect();
    format!("map[string]string{{{}}}", body.join(", "))
}

/// The pod template defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`).
pub(super) fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let image = c["image"].as_str().unwrap_or("").to_string();
            if let Some(m) = c.as_object_mut() {
                let policy = super::admission::default_pull_policy(&image);
                set_default(m, "imagePullPolicy", json!(policy));
                set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(m, "terminationMessagePolicy", json!("File"));
                set_default(m, "resources", json!({}));
            }
        }
    }
}

fn invalid(kind: Kind, name: &str, field: &str, detail: &str) -> ApiError {
    ApiError::invalid(kind.kind_name(), kind.group(), name, field, detail)
}

/// Template checks shared by every workload: containers with images, template defaults.
fn template(kind: Kind, name: &str, obj: &mut Value, at: &str) -> Result<(), ApiError> {
    let field = at.trim_start_matches('/').replace('/', ".");
    let containers = obj.pointer(&format!("{at}/spec/containers")).and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        return Err(invalid(kind, name, &format!("{field}.spec.containers"), "Required value"));
    };
    for (i, c) in containers.iter().enumerate() {
        for f in ["name", "image"] {
            if c.get(f).and_then(Value::as_str).unwrap_or("").is_empty() {
                let path = format!("{field}.spec.containers[{i}].{f}");
                return Err(invalid(kind, name, &path, "Required value"));
            }
        }
    }
    default_pod_spec(object_at(obj, &format!("{at}/spec")));
    Ok(())
}

/// apps/v1: a selector is required and must select the template's labels.
fn selector_selects_template(kind: Kind, name: &str, obj: &Value) -> Result<(), ApiError> {
    let sel = obj.pointer("/spec/selector").filter(|s| {
        s.get("matchLabels").and_then(Value::as_object).is_some_and(|m| !m.is_empty())
            || s.get("matchExpressions").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
    });
    let Some(sel) = sel else {
        return Err(invalid(kind, name, "spec.selector", "Required value"));
    };
    let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object).cloned();
    let labels = labels.unwrap_or_default();
    let matches = super::controllers::selector_matches(sel, &Value::Object(labels.clone()));
    if !matches {
        return Err(invalid(
            kind,
            name,
            "spec.template.metadata.labels",
            &format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                go_map(&labels)
            ),
        ));
    }
    Ok(())
}

pub(super) fn prepare(kind: Kind, name: &str, obj: &mut Value) -> Result<(), ApiError> {
    match kind {
        Kind::Deployment => {
            template(kind, name, obj, "/spec/template")?;
            selector_selects_template(kind, name, obj)?;
            let spec = object_at(obj, "/spec");
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = object_at(obj, "/spec/strategy");
            set_default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let ru = object_at(obj, "/spec/strategy/rollingUpdate");
                set_default(ru, "maxSurge", json!("25%"));
                set_default(ru, "maxUnavailable", json!("25%"));
            }
        }
        Kind::ReplicaSet => {
            template(kind, name, obj, "/spec/template")?;
            selector_selects_template(kind, name, obj)?;
            set_default(object_at(obj, "/spec"), "replicas", json!(1));
        }
        Kind::Job => prepare_job(name, obj)?,
        Kind::CronJob => {
            let schedule = obj.pointer("/spec/schedule").and_then(Value::as_str).unwrap_or("");
            if schedule.is_empty() {
                return Err(invalid(kind, name, "spec.schedule", "Required value"));
            }
            if let Err(e) = super::controllers::parse_schedule(schedule) {
                let detail = format!("Invalid value: {schedule:?}: {e}");
                return Err(invalid(kind, name, "spec.schedule", &detail));
            }
            template(kind, name, obj, "/spec/jobTemplate/spec/template")?;
            check_restart_policy(kind, name, obj, "/spec/jobTemplate/spec/template/spec")?;
            let spec = object_at(obj, "/spec");
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
        }
        _ => {}
    }
    Ok(())
}

fn check_restart_policy(kind: Kind, name: &str, obj: &Value, at: &str) -> Result<(), ApiError> {
    let policy = obj.pointer(&format!("{at}/restartPolicy")).and_then(Value::as_str);
    if matches!(policy, Some("OnFailure" | "Never")) {
        return Ok(());
    }
    let field = format!("{}.restartPolicy", at.trim_start_matches('/').replace('/', "."));
    let detail = match policy {
        Some(p) => format!("Unsupported value: {p:?}: supported values: \"OnFailure\", \"Never\""),
        None => "Required value: valid values: \"OnFailure\", \"Never\"".into(),
    };
    Err(invalid(kind, name, &field, &detail))
}

/// The Job strategy: defaults, and (unless `manualSelector`) a selector on the Job's own
/// uid with the matching template labels (`generateSelector`).
fn prepare_job(name: &str, obj: &mut Value) -> Result<(), ApiError> {
    let kind = Kind::Job;
    // restartPolicy has no default for a Job template: check before the pod defaults.
    check_restart_policy(kind, name, obj, "/spec/template/spec")?;
    template(kind, name, obj, "/spec/template")?;
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    let manual = obj.pointer("/spec/manualSelector") == Some(&Value::Bool(true));
    if !manual && !uid.is_empty() {
        let labels = object_at(obj, "/spec/template/metadata/labels");
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", uid.as_str()),
            ("batch.kubernetes.io/job-name", name),
            ("controller-uid", uid.as_str()),
            ("job-name", name),
        ] {
            labels.insert(k.into(), json!(v));
        }
        obj["spec"]["selector"] =
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    } else if manual {
        selector_selects_template(kind, name, obj)?;
    }
    let template_labels = obj.pointer("/spec/template/metadata/labels").cloned();
    let meta = object_at(obj, "/metadata");
    if meta.get("labels").and_then(Value::as_object).is_none_or(Map::is_empty)
        && let Some(l) = template_labels
    {
        meta.insert("labels".into(), l);
    }
    let spec = object_at(obj, "/spec");
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(labels: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "c", "image": "r.io/web:v1"}]}}}})
    }

    #[test]
    fn deployment_defaults_and_selector_check() {
        let mut d = deployment(json!({"app": "web"}));
        prepare(Kind::Deployment, "web", &mut d).unwrap();
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        let mut bad = deployment(json!({"app": "other"}));
        let e = prepare(Kind::Deployment, "web", &mut bad).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("`selector` does not match template `labels`"), "{}", e.message);
    }

    #[test]
    fn job_gets_a_uid_selector_and_needs_a_restart_policy() {
        let mut j = json!({"metadata": {"name": "once", "uid": "u-1"}, "spec": {"template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "r.io/x:v1"}]}}}});
        prepare(Kind::Job, "once", &mut j).unwrap();
        assert_eq!(
            j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u-1"
        );
        assert_eq!(j["spec"]["template"]["metadata"]["labels"]["job-name"], "once");
        assert_eq!(
            (j["spec"]["completions"].as_i64(), j["spec"]["backoffLimit"].as_i64()),
            (Some(1), Some(6))
        );
        let mut always = json!({"metadata": {"name": "a"}, "spec": {"template": {
            "spec": {"containers": [{"name": "c", "image": "r.io/x:v1"}]}}}});
        let e = prepare(Kind::Job, "a", &mut always).unwrap_err();
        assert!(
            e.message.contains("spec.template.spec.restartPolicy: Required value"),
            "{}",
            e.message
        );
    }
}
