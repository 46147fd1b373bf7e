//! Node heartbeats as the kubelet sends them (`pkg/kubelet/nodelease`,
//! `kubelet_node_status.go`): each node's Lease in `kube-node-lease` (owned by its Node,
//! `leaseDurationSeconds` 40) renewed every 10 s, and the Node's conditions'
//! `lastHeartbeatTime` refreshed every `nodeStatusReportFrequency` (5 min). Both periods
//! are multiplied by the lab's time scale.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::NodeConfig;
use crate::kube::{Kind, SharedStore};

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: i64 = 40;
const RENEW_INTERVAL: Duration = Duration::from_secs(10);
const STATUS_REPORT: Duration = Duration::from_secs(300);

/// `metav1.MicroTime` as the API writes it.
fn micro_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Create or renew `node`'s Lease.
pub fn renew_lease(store: &SharedStore, node: &str) {
    let ns = Some(LEASE_NAMESPACE);
    match store.get(&Kind::Lease, ns, node) {
        Ok(mut lease) => {
            lease["spec"]["holderIdentity"] = json!(node);
            lease["spec"]["leaseDurationSeconds"] = json!(LEASE_DURATION_SECONDS);
            lease["spec"]["renewTime"] = json!(micro_now());
            if let Err(e) = store.update(&Kind::Lease, ns, node, lease) {
                tracing::debug!(node, "lease renewal failed: {}", e.message);
            }
        }
        Err(_) => {
            let owner = store.get(&Kind::Node, None, node).ok();
            let mut lease = json!({
                "metadata": {"name": node, "namespace": LEASE_NAMESPACE},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                         "renewTime": micro_now()},
            });
            if let Some(n) = owner {
                lease["metadata"]["ownerReferences"] = json!([{
                    "apiVersion": "v1", "kind": "Node", "name": node,
                    "uid": n["metadata"]["uid"].clone(),
                }]);
            }
            if let Err(e) = store.create(&Kind::Lease, ns, lease) {
                tracing::debug!(node, "lease creation failed: {}", e.message);
            }
        }
    }
}

/// Refresh every condition's `lastHeartbeatTime` on `node`'s status.
pub fn report_status(store: &SharedStore, node: &str) {
    let Ok(n) = store.get(&Kind::Node, None, node) else { return };
    let mut status = n.get("status").cloned().unwrap_or(json!({}));
    let now = super::now_ts();
    if let Some(conds) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            c["lastHeartbeatTime"] = json!(now);
        }
    }
    let _ = store.update_status(&Kind::Node, None, node, status);
}

/// Renew leases and report status until aborted.
pub async fn run(store: SharedStore, nodes: Vec<NodeConfig>, time_scale: f64) {
    let renew = RENEW_INTERVAL.mul_f64(time_scale).max(Duration::from_millis(50));
    let report = STATUS_REPORT.mul_f64(time_scale).max(renew);
    let mut last_report = tokio::time::Instant::now();
    loop {
        for n in &nodes {
            renew_lease(&store, &n.name);
        }
        if last_report.elapsed() >= report {
            for n in &nodes {
                report_status(&store, &n.name);
            }
            last_report = tokio::time::Instant::now();
        }
        tokio::time::sleep(renew).await;
    }
}
