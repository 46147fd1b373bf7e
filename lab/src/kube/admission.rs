//! Defaulting, validation and admission on create/update: what the real API server's
//! registry strategies and the ServiceAccount / DefaultTolerationSeconds admission plugins
//! do for the kinds the emulator serves.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::kind::Kind;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label)
}

/// Validate `metadata.name` for a kind (namespaces: DNS-1123 label; others: subdomain).
pub fn validate_name(kind: Kind, name: &str) -> Result<(), ApiError> {
    let (ok, msg) = if kind == Kind::Namespace {
        (is_label(name), DNS1123_LABEL_MSG)
    } else {
        (is_subdomain(name), DNS1123_SUBDOMAIN_MSG)
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            kind.kind_name(),
            kind.group(),
            name,
            "metadata.name",
            &format!("Invalid value: \"{name}\": {msg}"),
        ))
    }
}

/// The kubelet/API default pull policy: `Always` for `:latest` or no tag, else `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = Value::Object(Map::new());
    }
    v[key].as_object_mut().expect("object")
}

fn set_default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.to_string(), v);
    }
}

/// Kind-specific defaulting and validation before a create. `sa_pull_secrets` is the
/// `imagePullSecrets` of the pod's service account (`None`: the account does not exist).
pub fn prepare_create(
    kind: Kind,
    name: &str,
    obj: &mut Value,
    sa_lookup: &dyn Fn(&str) -> Option<Value>,
) -> Result<(), ApiError> {
    match kind {
        Kind::Namespace => {
            let spec = obj_mut(obj, "spec");
            set_default(spec, "finalizers", json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
            let labels = obj_mut(obj_mut_meta(obj), "labels");
            labels.insert("kubernetes.io/metadata.name".into(), Value::String(name.to_string()));
        }
        Kind::Pod => prepare_pod(name, obj, sa_lookup)?,
        Kind::Deployment | Kind::ReplicaSet | Kind::Job | Kind::CronJob => {
            super::admission_workloads::prepare(kind, name, obj)?
        }
        Kind::Secret => normalize_secret(name, obj)?,
        // No volume controller in the lab: a claim stays Pending, as with no provisioner.
        Kind::PersistentVolumeClaim => {
            let spec = obj_mut(obj, "spec");
            set_default(spec, "volumeMode", json!("Filesystem"));
            obj["status"] = json!({"phase": "Pending"});
        }
        _ => {}
    }
    Ok(())
}

fn obj_mut_meta(obj: &mut Value) -> &mut Value {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    &mut obj["metadata"]
}

fn prepare_pod(
    name: &str,
    obj: &mut Value,
    sa_lookup: &dyn Fn(&str) -> Option<Value>,
) -> Result<(), ApiError> {
    let invalid = |field: &str, detail: &str| ApiError::invalid("Pod", "", name, field, detail);
    let containers =
        obj.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    if containers.is_empty() {
        return Err(invalid("spec.containers", "Required value"));
    }
    let mut seen = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
        if cname.is_empty() {
            return Err(invalid(&format!("spec.containers[{i}].name"), "Required value"));
        }
        if !is_label(cname) {
            return Err(invalid(
                &format!("spec.containers[{i}].name"),
                &format!("Invalid value: \"{cname}\": {DNS1123_LABEL_MSG}"),
            ));
        }
        if seen.contains(&cname) {
            return Err(invalid(
                &format!("spec.containers[{i}].name"),
                &format!("Duplicate value: \"{cname}\""),
            ));
        }
        seen.push(cname);
        if c.get("image").and_then(Value::as_str).unwrap_or("").is_empty() {
            return Err(invalid(&format!("spec.containers[{i}].image"), "Required value"));
        }
    }
    let spec = obj_mut(obj, "spec");
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "priority", json!(0));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_default(spec, "serviceAccountName", json!("default"));
    let sa = spec["serviceAccountName"].as_str().unwrap_or("default").to_string();
    set_default(spec, "serviceAccount", json!(sa));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                let image = c["image"].as_str().unwrap_or("").to_string();
                if let Some(m) = c.as_object_mut() {
                    set_default(m, "imagePullPolicy", json!(default_pull_policy(&image)));
                    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
                    set_default(m, "terminationMessagePolicy", json!("File"));
                    set_default(m, "resources", json!({}));
                }
            }
        }
    }
    // DefaultTolerationSeconds admission.
    let tols = spec.entry("tolerations").or_insert_with(|| Value::Array(Vec::new()));
    if let Some(t) = tols.as_array_mut() {
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            if !t.iter().any(|x| x["key"] == key) {
                t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    // ServiceAccount admission: the account must exist; its imagePullSecrets are copied
    // into a pod that names none.
    let Some(account) = sa_lookup(&sa) else {
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "pods \"{name}\" is forbidden: error looking up service account {ns}/{sa}: \
                 serviceaccount \"{sa}\" not found"
            ),
        )
        .with_details("", "pods", name));
    };
    let spec = obj_mut(obj, "spec");
    let has_secrets =
        spec.get("imagePullSecrets").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if !has_secrets
        && let Some(ips) = account.get("imagePullSecrets").and_then(Value::as_array)
        && !ips.is_empty()
    {
        spec.insert("imagePullSecrets".into(), Value::Array(ips.clone()));
    }
    let status = obj_mut(obj, "status");
    set_default(status, "phase", json!("Pending"));
    set_default(status, "qosClass", json!("BestEffort"));
    Ok(())
}

/// Fold `stringData` into base64 `data`, default `type`, validate typed secrets.
pub fn normalize_secret(name: &str, obj: &mut Value) -> Result<(), ApiError> {
    let m = obj.as_object_mut().expect("object");
    let string_data = m.remove("stringData");
    if !m.get("data").is_some_and(Value::is_object) {
        m.insert("data".into(), json!({}));
    }
    let data = m["data"].as_object_mut().expect("object");
    for (k, v) in data.iter() {
        let s = v.as_str().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Secret in version \"v1\" cannot be handled as a Secret: data[{k}] must be a base64 string"
            ))
        })?;
        if B64.decode(s).is_err() {
            return Err(ApiError::bad_request(format!(
                "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{k}]"
            )));
        }
    }
    if let Some(Value::Object(sd)) = string_data {
        for (k, v) in sd {
            let s = v.as_str().unwrap_or("").to_string();
            data.insert(k, Value::String(B64.encode(s)));
        }
    }
    set_default(m, "type", json!("Opaque"));
    if m["type"] == "kubernetes.io/dockerconfigjson" {
        let invalid =
            |field: &str, detail: &str| ApiError::invalid("Secret", "", name, field, detail);
        let raw = m["data"]
            .get(".dockerconfigjson")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("data[.dockerconfigjson]", "Required value"))?;
        let bytes = B64.decode(raw).unwrap_or_default();
        if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
            return Err(invalid(
                "data[.dockerconfigjson]",
                &format!("Invalid value: \"<secret contents redacted>\": {e}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("r.azurecr.io:443/app"), "Always");
        assert_eq!(default_pull_policy("r.azurecr.io/app:v1"), "IfNotPresent");
        assert_eq!(default_pull_policy("app@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn names() {
        assert!(validate_name(Kind::Pod, "a.b-c").is_ok());
        assert!(validate_name(Kind::Namespace, "a.b").is_err());
        let e = validate_name(Kind::Pod, "Bad").unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("Pod \"Bad\" is invalid: metadata.name: Invalid value"));
    }

    #[test]
    fn secret_string_data() {
        let mut s = json!({"stringData": {"k": "v"}, "data": {"a": "YQ=="}});
        normalize_secret("s", &mut s).unwrap();
        assert_eq!(s["data"]["k"], "dg==");
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
        let mut bad = json!({"type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "{"}});
        assert_eq!(normalize_secret("s", &mut bad).unwrap_err().code, 422);
    }
}
