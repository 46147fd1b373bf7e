//! A kube-state-metrics style `/metrics` endpoint (Prometheus text format 0.0.4), computed
//! from the API emulator's store at scrape time, for the alerting rules' tests.
//! Plain HTTP on loopback, as a Prometheus scrape target.

use std::fmt::Write as _;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::kube::{Kind, SharedStore, Store};
use crate::server::{Served, serve_http};

/// The Prometheus text exposition content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const PHASES: [&str; 5] = ["Pending", "Succeeded", "Failed", "Unknown", "Running"];

/// Escape a label value (backslash, double quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", esc(v))).collect();
    format!("{{{}}}", inner.join(","))
}

fn s<'a>(o: &'a Value, ptr: &str) -> &'a str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<String>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self { name, help, kind: "gauge", samples: Vec::new() }
    }

    fn counter(name: &'static str, help: &'static str) -> Self {
        Self { name, help, kind: "counter", samples: Vec::new() }
    }

    fn push(&mut self, pairs: &[(&str, &str)], value: impl std::fmt::Display) {
        self.samples.push(format!("{}{} {value}", self.name, labels(pairs)));
    }
}

/// Render the metrics for every pod in `store`.
pub fn render(store: &Store) -> String {
    let (pods, _) = store.list(&Kind::Pod, None, None, None).unwrap_or_default();
    let mut info = Family::new("kube_pod_info", "[STABLE] Information about pod.");
    let mut phase = Family::new("kube_pod_status_phase", "[STABLE] The pods current phase.");
    let mut waiting = Family::new(
        "kube_pod_container_status_waiting",
        "[STABLE] Describes whether the container is currently in waiting state.",
    );
    let mut waiting_reason = Family::new(
        "kube_pod_container_status_waiting_reason",
        "[STABLE] Describes the reason the container is currently in waiting state.",
    );
    let mut running = Family::new(
        "kube_pod_container_status_running",
        "[STABLE] Describes whether the container is currently in running state.",
    );
    let mut terminated_reason = Family::new(
        "kube_pod_container_status_terminated_reason",
        "Describes the reason the container is currently in terminated state.",
    );
    let mut ready = Family::new(
        "kube_pod_container_status_ready",
        "Describes whether the containers readiness check succeeded.",
    );
    let mut restarts = Family::counter(
        "kube_pod_container_status_restarts_total",
        "The number of container restarts per container.",
    );
    let mut cinfo =
        Family::new("kube_pod_container_info", "Information about a container in a pod.");
    for p in &pods {
        let ns = s(p, "/metadata/namespace");
        let name = s(p, "/metadata/name");
        let uid = s(p, "/metadata/uid");
        let owner = p.pointer("/metadata/ownerReferences/0").cloned().unwrap_or(Value::Null);
        info.push(
            &[
                ("namespace", ns),
                ("pod", name),
                ("uid", uid),
                ("host_ip", s(p, "/status/hostIP")),
                ("pod_ip", s(p, "/status/podIP")),
                ("node", s(p, "/spec/nodeName")),
                ("created_by_kind", s(&owner, "/kind")),
                ("created_by_name", s(&owner, "/name")),
                ("priority_class", s(p, "/spec/priorityClassName")),
                (
                    "host_network",
                    if p.pointer("/spec/hostNetwork") == Some(&Value::Bool(true)) {
                        "true"
                    } else {
                        "false"
                    },
                ),
            ],
            1,
        );
        let current = s(p, "/status/phase");
        if !current.is_empty() {
            for ph in PHASES {
                phase.push(
                    &[("namespace", ns), ("pod", name), ("uid", uid), ("phase", ph)],
                    u8::from(ph == current),
                );
            }
        }
        let statuses = p
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for c in &statuses {
            let cname = s(c, "/name");
            let base = [("namespace", ns), ("pod", name), ("uid", uid), ("container", cname)];
            let w = c.pointer("/state/waiting");
            waiting.push(&base, u8::from(w.is_some()));
            running.push(&base, u8::from(c.pointer("/state/running").is_some()));
            ready.push(&base, u8::from(c.get("ready") == Some(&Value::Bool(true))));
            restarts.push(&base, c.get("restartCount").and_then(Value::as_u64).unwrap_or(0));
            let spec_image = p
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|x| s(x, "/name") == cname))
                .map(|x| s(x, "/image"))
                .unwrap_or("");
            let mut l = base.to_vec();
            l.extend([
                ("image_spec", spec_image),
                ("image", s(c, "/image")),
                ("image_id", s(c, "/imageID")),
                ("container_id", s(c, "/containerID")),
            ]);
            cinfo.push(&l, 1);
            let t = s(c, "/state/terminated/reason");
            if !t.is_empty() {
                let mut l = base.to_vec();
                l.push(("reason", t));
                terminated_reason.push(&l, 1);
            }
            let reason = w.map(|w| s(w, "/reason")).unwrap_or("");
            if !reason.is_empty() {
                let mut l = base.to_vec();
                l.push(("reason", reason));
                waiting_reason.push(&l, 1);
            }
        }
    }
    let mut out = String::new();
    for f in
        [info, phase, cinfo, waiting, waiting_reason, running, terminated_reason, ready, restarts]
    {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for line in f.samples {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

async fn scrape(State(store): State<SharedStore>) -> Response {
    ([("content-type", CONTENT_TYPE)], render(&store)).into_response()
}

/// `GET /metrics` over `store`.
pub fn router(store: SharedStore) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(store)
}

/// Serve the metrics endpoint over plain HTTP on `addr` (loopback).
pub async fn serve(store: SharedStore, addr: SocketAddr) -> std::io::Result<Served> {
    serve_http(router(store), addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_waiting_reason_and_phase() {
        let store = Store::new();
        store
            .create(
                &Kind::Pod,
                Some("default"),
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
            )
            .unwrap();
        let text = render(&store);
        assert!(text.contains("kube_pod_status_phase{namespace=\"default\",pod=\"p\""));
        assert!(!text.contains("kube_pod_container_status_waiting{"), "no container statuses yet");
        store
            .update_status(
                &Kind::Pod,
                Some("default"),
                "p",
                json!({"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ErrImage\"Pull"}}}]}),
            )
            .unwrap();
        let text = render(&store);
        let uid = store.get(&Kind::Pod, Some("default"), "p").unwrap()["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains(&format!(
            "kube_pod_container_status_waiting_reason{{namespace=\"default\",pod=\"p\",uid=\"{uid}\",container=\"c\",reason=\"ErrImage\\\"Pull\"}} 1"
        )), "{text}");
        assert!(text.contains(&format!("kube_pod_status_phase{{namespace=\"default\",pod=\"p\",uid=\"{uid}\",phase=\"Pending\"}} 1")));
        assert!(text.contains(&format!("kube_pod_status_phase{{namespace=\"default\",pod=\"p\",uid=\"{uid}\",phase=\"Running\"}} 0")));
        assert!(text.contains(&format!("kube_pod_container_status_running{{namespace=\"default\",pod=\"p\",uid=\"{uid}\",container=\"c\"}} 0")));
    }
}
