//! Server-side printing: `meta.k8s.io/v1` `Table` responses, which kubectl asks for on
//! `get` (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). Columns follow the real
//! API server's printers for the kinds served.

use serde_json::{Value, json};

use super::kind::Kind;

fn col(name: &str, ty: &str, format: &str, priority: u8, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn name_col() -> Value {
    col("Name", "string", "name", 0, "Name must be unique within a namespace.")
}

fn age_col() -> Value {
    col(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    )
}

/// Column definitions for a kind.
pub fn columns(kind: Kind) -> Vec<Value> {
    match kind {
        Kind::Pod => vec![
            name_col(),
            col(
                "Ready",
                "string",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
            col(
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted.",
            ),
            age_col(),
            col("IP", "string", "", 1, "IP address allocated to the pod."),
            col("Node", "string", "", 1, "Name of the node the pod is assigned to."),
            col("Nominated Node", "string", "", 1, "Nominated node name."),
            col("Readiness Gates", "string", "", 1, "Pod readiness gates."),
        ],
        Kind::Namespace => vec![
            name_col(),
            col("Status", "string", "", 0, "The status of the namespace"),
            age_col(),
        ],
        Kind::Secret => vec![
            name_col(),
            col("Type", "string", "", 0, "The type of the secret"),
            col("Data", "string", "", 0, "The number of entries in the data"),
            age_col(),
        ],
        Kind::ServiceAccount => vec![
            name_col(),
            col(
                "Secrets",
                "string",
                "",
                0,
                "Secrets is the list of secrets allowed to be used by pods running using this ServiceAccount.",
            ),
            age_col(),
        ],
        Kind::ConfigMap => vec![
            name_col(),
            col("Data", "string", "", 0, "The number of entries in the data"),
            age_col(),
        ],
        Kind::Lease => {
            vec![name_col(), col("Holder", "string", "", 0, "The holder of the lease"), age_col()]
        }
        Kind::Node => vec![
            name_col(),
            col("Status", "string", "", 0, "The status of the node"),
            col("Roles", "string", "", 0, "The roles of the node"),
            age_col(),
            col("Version", "string", "", 0, "Kubelet Version reported by the node."),
            col("Internal-IP", "string", "", 1, "List of internal IPs."),
            col("External-IP", "string", "", 1, "List of external IPs."),
            col("OS-Image", "string", "", 1, "OS Image reported by the node from /etc/os-release."),
            col(
                "Kernel-Version",
                "string",
                "",
                1,
                "Kernel Version reported by the node from 'uname -r'.",
            ),
            col(
                "Container-Runtime",
                "string",
                "",
                1,
                "Container Runtime Version reported by the node (e.g. containerd://1.6.20).",
            ),
        ],
        Kind::Event | Kind::EventV1 => vec![
            col("Last Seen", "string", "", 0, "Time when this Event was last observed."),
            col("Type", "string", "", 0, "Type of this event (Normal, Warning)."),
            col("Reason", "string", "", 0, "Reason why the action was taken."),
            col("Object", "string", "", 0, "The object this Event is about."),
            col("Subobject", "string", "", 1, "The subobject (field path) this Event is about."),
            col("Source", "string", "", 1, "The component reporting this event."),
            col(
                "Message",
                "string",
                "",
                0,
                "A human-readable description of the status of this operation.",
            ),
            col("First Seen", "string", "", 1, "The time at which the event was first recorded."),
            col("Count", "string", "", 1, "The number of times this event has occurred."),
            col("Name", "string", "name", 1, "Name must be unique within a namespace."),
        ],
    }
}

/// kubectl's short human duration (`45s`, `3m20s`, `5h`, `2d`).
pub fn human_age(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60).replace("m0s", "m"),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60).replace("h0m", "h"),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn s<'a>(o: &'a Value, ptr: &str) -> &'a str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn or_none(v: &str) -> String {
    if v.is_empty() { "<none>".into() } else { v.to_string() }
}

fn len_of(o: &Value, ptr: &str) -> usize {
    match o.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// kubectl's pod STATUS column: a waiting/terminated reason wins over the phase.
pub fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let mut reason = s(o, "/status/reason").to_string();
    if reason.is_empty() {
        reason = s(o, "/status/phase").to_string();
    }
    if let Some(cs) = o.pointer("/status/containerStatuses").and_then(Value::as_array) {
        for c in cs.iter().rev() {
            let w = s(c, "/state/waiting/reason");
            let t = s(c, "/state/terminated/reason");
            if !w.is_empty() {
                reason = w.to_string();
            } else if !t.is_empty() {
                reason = t.to_string();
            }
        }
    }
    reason
}

fn cells(kind: Kind, o: &Value) -> Vec<Value> {
    let name = s(o, "/metadata/name").to_string();
    let age = human_age(s(o, "/metadata/creationTimestamp"));
    match kind {
        Kind::Pod => {
            let total = len_of(o, "/spec/containers");
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses.iter().filter_map(|c| c["restartCount"].as_i64()).sum();
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                json!(age),
                json!(or_none(s(o, "/status/podIP"))),
                json!(or_none(s(o, "/spec/nodeName"))),
                json!(or_none(s(o, "/status/nominatedNodeName"))),
                json!("<none>"),
            ]
        }
        Kind::Namespace => vec![json!(name), json!(s(o, "/status/phase")), json!(age)],
        Kind::Secret => {
            vec![json!(name), json!(s(o, "/type")), json!(len_of(o, "/data")), json!(age)]
        }
        Kind::ServiceAccount => vec![json!(name), json!(len_of(o, "/secrets")), json!(age)],
        Kind::ConfigMap => {
            vec![json!(name), json!(len_of(o, "/data") + len_of(o, "/binaryData")), json!(age)]
        }
        Kind::Lease => vec![json!(name), json!(or_none(s(o, "/spec/holderIdentity"))), json!(age)],
        Kind::Node => node_cells(o, name, age),
        Kind::Event | Kind::EventV1 => {
            let (io, note) = if kind == Kind::EventV1 {
                ("/regarding", "/note")
            } else {
                ("/involvedObject", "/message")
            };
            let last =
                [s(o, "/lastTimestamp"), s(o, "/deprecatedLastTimestamp"), s(o, "/eventTime")]
                    .into_iter()
                    .find(|t| !t.is_empty())
                    .unwrap_or(s(o, "/metadata/creationTimestamp"));
            let first = [s(o, "/firstTimestamp"), s(o, "/deprecatedFirstTimestamp")]
                .into_iter()
                .find(|t| !t.is_empty())
                .unwrap_or(last);
            let obj = format!(
                "{}/{}",
                s(o, &format!("{io}/kind")).to_lowercase(),
                s(o, &format!("{io}/name"))
            );
            let count = o
                .get("count")
                .or_else(|| o.get("deprecatedCount"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                json!(human_age(last)),
                json!(s(o, "/type")),
                json!(s(o, "/reason")),
                json!(obj),
                json!(s(o, &format!("{io}/fieldPath"))),
                json!(s(o, "/source/component")),
                json!(s(o, note)),
                json!(human_age(first)),
                json!(count.to_string()),
                json!(name),
            ]
        }
    }
}

fn node_cells(o: &Value, name: String, age: String) -> Vec<Value> {
    let conds = o.pointer("/status/conditions").and_then(Value::as_array);
    let ready = conds
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .map(|c| if c["status"] == "True" { "Ready" } else { "NotReady" })
        .unwrap_or("Unknown");
    let mut status = ready.to_string();
    if o.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<&str> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).collect())
        .unwrap_or_default();
    roles.sort_unstable();
    let addr = |t: &str| {
        o.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["type"] == t))
            .and_then(|x| x["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    vec![
        json!(name),
        json!(status),
        json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }),
        json!(age),
        json!(s(o, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(or_none(s(o, "/status/nodeInfo/osImage"))),
        json!(or_none(s(o, "/status/nodeInfo/kernelVersion"))),
        json!(or_none(s(o, "/status/nodeInfo/containerRuntimeVersion"))),
    ]
}

fn partial_metadata(o: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// A `Table` for `items`; `rv` is set for lists. `headers: false` omits the column
/// definitions (watch events after the first, as the real server does).
pub fn table_with(kind: Kind, items: &[Value], rv: Option<&str>, headers: bool) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| json!({"cells": cells(kind, o), "object": partial_metadata(o)}))
        .collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": if headers { Value::Array(columns(kind)) } else { Value::Null },
        "rows": rows,
    });
    if let Some(rv) = rv {
        t["metadata"]["resourceVersion"] = json!(rv);
    }
    t
}

/// A `Table` with column definitions.
pub fn table(kind: Kind, items: &[Value], rv: Option<&str>) -> Value {
    table_with(kind, items, rv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_status_prefers_waiting_reason() {
        let p = json!({"status": {"phase": "Pending", "containerStatuses": [
            {"name": "c", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}});
        assert_eq!(pod_status(&p), "ImagePullBackOff");
        let t = table(Kind::Pod, &[p], Some("5"));
        assert_eq!(t["rows"][0]["cells"][2], "ImagePullBackOff");
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), columns(Kind::Pod).len());
    }

    #[test]
    fn ages() {
        let ts = (chrono::Utc::now() - chrono::Duration::seconds(200))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        assert_eq!(human_age(&ts), "3m20s");
    }
}
