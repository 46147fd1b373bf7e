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
        Kind::PersistentVolumeClaim => vec![
            name_col(),
            col("Status", "string", "", 0, "The phase of the claim"),
            col("Volume", "string", "", 0, "The volume bound to the claim"),
            col("Capacity", "string", "", 0, "The capacity of the bound volume"),
            col("Access Modes", "string", "", 0, "The access modes of the claim"),
            col("StorageClass", "string", "", 0, "The storage class of the claim"),
            col("VolumeAttributesClass", "string", "", 0, "The volume attributes class"),
            age_col(),
            col("VolumeMode", "string", "", 1, "Filesystem or Block"),
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
        Kind::Deployment => workload_cols(&[
            ("Ready", "Number of the pod with ready state"),
            (
                "Up-to-date",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            (
                "Available",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
        ]),
        Kind::ReplicaSet => workload_cols(&[
            ("Desired", "Number of desired pods."),
            ("Current", "Number of actual pods."),
            ("Ready", "Number of ready pods."),
        ]),
        Kind::Job => workload_cols(&[
            ("Status", "Status of the job."),
            ("Completions", "The completion status of the job."),
            ("Duration", "Time required to complete the job."),
        ]),
        Kind::CronJob => vec![
            name_col(),
            col("Schedule", "string", "", 0, "The schedule in Cron format."),
            col("Timezone", "string", "", 0, "The time zone name for the given schedule."),
            col("Suspend", "boolean", "", 0, "Whether the cron job is suspended."),
            col("Active", "integer", "", 0, "Number of currently running jobs."),
            col(
                "Last Schedule",
                "string",
                "",
                0,
                "Information when was the last time the job was successfully scheduled.",
            ),
            age_col(),
            col("Containers", "string", "", 1, "Names of each container in the template."),
            col("Images", "string", "", 1, "Images referenced by each container in the template."),
            col("Selector", "string", "", 1, "Selector of the jobs the cron job creates."),
        ],
        Kind::SelfSubjectAccessReview | Kind::SelfSubjectRulesReview => vec![name_col(), age_col()],
        Kind::Role | Kind::ClusterRole => vec![
            name_col(),
            col("Created At", "date", "", 0, "Time at which the role was created."),
        ],
        Kind::RoleBinding | Kind::ClusterRoleBinding => vec![
            name_col(),
            col("Role", "string", "", 0, "Role referenced by this binding."),
            age_col(),
            col("Users", "string", "", 1, "Users in the binding."),
            col("Groups", "string", "", 1, "Groups in the binding."),
            col("ServiceAccounts", "string", "", 1, "ServiceAccounts in the binding."),
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

/// Name, the kind's own columns, Age, then the wide Containers/Images/Selector columns.
fn workload_cols(own: &[(&str, &str)]) -> Vec<Value> {
    let mut v = vec![name_col()];
    v.extend(own.iter().map(|(n, d)| col(n, "string", "", 0, d)));
    v.push(age_col());
    v.push(col("Containers", "string", "", 1, "Names of each container in the template."));
    v.push(col("Images", "string", "", 1, "Images referenced by each container in the template."));
    v.push(col("Selector", "string", "", 1, "The label selector of the pods."));
    v
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
        Kind::PersistentVolumeClaim => {
            let modes = o
                .pointer("/status/accessModes")
                .and_then(Value::as_array)
                .map(|m| m.iter().filter_map(Value::as_str).map(access_mode).collect::<Vec<_>>())
                .unwrap_or_default()
                .join(",");
            vec![
                json!(name),
                json!(s(o, "/status/phase")),
                json!(s(o, "/spec/volumeName")),
                json!(s(o, "/status/capacity/storage")),
                json!(modes),
                json!(or_unset(s(o, "/spec/storageClassName"))),
                json!(or_unset(s(o, "/spec/volumeAttributesClassName"))),
                json!(age),
                json!(s(o, "/spec/volumeMode")),
            ]
        }
        Kind::Lease => vec![json!(name), json!(or_none(s(o, "/spec/holderIdentity"))), json!(age)],
        Kind::Node => node_cells(o, name, age),
        Kind::Deployment => {
            let want = int(o, "/spec/replicas", 1);
            let mut c = vec![
                json!(name),
                json!(format!("{}/{want}", int(o, "/status/readyReplicas", 0))),
                json!(int(o, "/status/updatedReplicas", 0)),
                json!(int(o, "/status/availableReplicas", 0)),
            ];
            c.extend(template_cells(o, "/spec/template/spec", age));
            c
        }
        Kind::ReplicaSet => {
            let mut c = vec![
                json!(name),
                json!(int(o, "/spec/replicas", 1)),
                json!(int(o, "/status/replicas", 0)),
                json!(int(o, "/status/readyReplicas", 0)),
            ];
            c.extend(template_cells(o, "/spec/template/spec", age));
            c
        }
        Kind::Job => {
            let mut c = vec![
                json!(name),
                json!(job_status(o)),
                json!(format!(
                    "{}/{}",
                    int(o, "/status/succeeded", 0),
                    int(o, "/spec/completions", 1)
                )),
                json!(job_duration(o)),
            ];
            c.extend(template_cells(o, "/spec/template/spec", age));
            c
        }
        Kind::CronJob => {
            let mut c = vec![
                json!(name),
                json!(s(o, "/spec/schedule")),
                json!(or_none(s(o, "/spec/timeZone"))),
                json!(o.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false)),
                json!(len_of(o, "/status/active")),
                json!(match s(o, "/status/lastScheduleTime") {
                    "" => "<none>".to_string(),
                    t => human_age(t),
                }),
            ];
            c.extend(template_cells(o, "/spec/jobTemplate/spec/template/spec", age));
            c
        }
        Kind::Role | Kind::ClusterRole => {
            vec![json!(name), json!(s(o, "/metadata/creationTimestamp"))]
        }
        Kind::SelfSubjectAccessReview | Kind::SelfSubjectRulesReview => {
            vec![json!(name), json!(age)]
        }
        Kind::RoleBinding | Kind::ClusterRoleBinding => binding_cells(o, name, age),
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

fn int(o: &Value, ptr: &str, default: i64) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(default)
}

/// Age, then the wide Containers/Images/Selector cells of a pod template at `spec`.
fn template_cells(o: &Value, spec: &str, age: String) -> Vec<Value> {
    let cs = o
        .pointer(&format!("{spec}/containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let join = |f: &str| cs.iter().map(|c| s(c, f).to_string()).collect::<Vec<_>>().join(",");
    let selector = o
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            let mut v: Vec<String> =
                m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
            v.sort();
            v.join(",")
        })
        .unwrap_or_default();
    vec![json!(age), json!(join("/name")), json!(join("/image")), json!(or_none(&selector))]
}

fn job_status(o: &Value) -> String {
    let conds = o.pointer("/status/conditions").and_then(Value::as_array);
    let has =
        |t: &str| conds.is_some_and(|c| c.iter().any(|c| c["type"] == t && c["status"] == "True"));
    if has("Complete") {
        "Complete".into()
    } else if has("Failed") {
        "Failed".into()
    } else if o.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        "Suspended".into()
    } else {
        "Running".into()
    }
}

fn job_duration(o: &Value) -> String {
    let parse = |p: &str| chrono::DateTime::parse_from_rfc3339(s(o, p)).ok();
    let Some(start) = parse("/status/startTime") else {
        return String::new();
    };
    let end = parse("/status/completionTime")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    let secs = (end - start.with_timezone(&chrono::Utc)).num_seconds().max(0);
    if secs < 120 { format!("{secs}s") } else { format!("{}m", secs / 60) }
}

fn binding_cells(o: &Value, name: String, age: String) -> Vec<Value> {
    let subjects = o.pointer("/subjects").and_then(Value::as_array).cloned().unwrap_or_default();
    let of = |k: &str| {
        let v: Vec<String> = subjects
            .iter()
            .filter(|x| x["kind"] == k)
            .map(|x| match (k, s(x, "/namespace")) {
                ("ServiceAccount", ns) if !ns.is_empty() => format!("{ns}/{}", s(x, "/name")),
                _ => s(x, "/name").to_string(),
            })
            .collect();
        v.join(", ")
    };
    vec![
        json!(name),
        json!(format!("{}/{}", s(o, "/roleRef/kind"), s(o, "/roleRef/name"))),
        json!(age),
        json!(of("User")),
        json!(of("Group")),
        json!(of("ServiceAccount")),
    ]
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

/// What each row carries in `object` (`?includeObject=`; the server's default is
/// `Metadata`). kubectl asks for `Object` when it must read fields itself
/// (`--sort-by`, `-o custom-columns`, `--show-labels` on some kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parse the query value as the API server does (empty means the default).
    pub fn from_query(v: Option<&str>) -> Result<IncludeObject, super::ApiError> {
        match v.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(super::ApiError::bad_request(format!(
                "invalid includeObject {other:?}: supported values: \"None\", \"Metadata\", \"Object\""
            ))),
        }
    }

    fn row_object(self, kind: Kind, o: &Value) -> Option<Value> {
        match self {
            IncludeObject::None => None,
            IncludeObject::Metadata => Some(partial_metadata(o)),
            IncludeObject::Object => {
                let mut full = o.clone();
                full["kind"] = json!(kind.kind_name());
                full["apiVersion"] = json!(kind.api_version());
                Some(full)
            }
        }
    }
}

/// A `Table` for `items`; `rv` is set for lists. `headers: false` omits the column
/// definitions (watch events after the first, as the real server does).
pub fn table_with(
    kind: Kind,
    items: &[Value],
    rv: Option<&str>,
    headers: bool,
    include: IncludeObject,
) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(kind, o)});
            if let Some(obj) = include.row_object(kind, o) {
                row["object"] = obj;
            }
            row
        })
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
pub fn table(kind: Kind, items: &[Value], rv: Option<&str>, include: IncludeObject) -> Value {
    table_with(kind, items, rv, true, include)
}

/// kubectl's short form of a PVC access mode.
fn access_mode(m: &str) -> &str {
    match m {
        "ReadWriteOnce" => "RWO",
        "ReadOnlyMany" => "ROX",
        "ReadWriteMany" => "RWX",
        "ReadWriteOncePod" => "RWOP",
        other => other,
    }
}

fn or_unset(v: &str) -> &str {
    if v.is_empty() { "<unset>" } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_status_prefers_waiting_reason() {
        let p = json!({"status": {"phase": "Pending", "containerStatuses": [
            {"name": "c", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}});
        assert_eq!(pod_status(&p), "ImagePullBackOff");
        let t = table(Kind::Pod, std::slice::from_ref(&p), Some("5"), IncludeObject::Metadata);
        assert_eq!(t["rows"][0]["cells"][2], "ImagePullBackOff");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let full = table(Kind::Pod, std::slice::from_ref(&p), None, IncludeObject::Object);
        assert_eq!(full["rows"][0]["object"]["kind"], "Pod");
        assert_eq!(full["rows"][0]["object"]["status"]["phase"], "Pending");
        let none = table(Kind::Pod, &[p], None, IncludeObject::None);
        assert!(none["rows"][0].get("object").is_none());
        assert!(IncludeObject::from_query(Some("Everything")).is_err());
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
