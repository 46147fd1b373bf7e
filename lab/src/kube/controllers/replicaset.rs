//! The ReplicaSet controller (`pkg/controller/replicaset`): keeps `spec.replicas` active
//! pods from the template, owned with `controller: true`; deletes surplus pods
//! least-ready first; reports replicas, ready and available counts.

use std::time::Duration;

use serde_json::{Value, json};

use super::Ctx;
use super::util::{
    controller_of, create_pod, event, int, owned_pods, pod_active, pod_available, pod_ready, s,
    selector_string, set_condition, write_status,
};
use crate::kube::Kind;

const COMPONENT: &str = "replicaset-controller";

/// One sync; `Some(d)`: sync again after `d` (a pod becomes available after
/// `minReadySeconds`).
pub(super) fn sync(ctx: &Ctx, ns: &str, name: &str) -> Option<Duration> {
    let store = &ctx.store;
    let rs = store.get(&Kind::ReplicaSet, Some(ns), name).ok()?;
    if rs.pointer("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    let sel = selector_string(rs.pointer("/spec/selector").unwrap_or(&Value::Null))?;
    let uid = s(&rs, "/metadata/uid").to_string();
    adopt_orphans(ctx, &rs, ns, &sel);
    let pods = owned_pods(store, ns, &sel, &uid);
    let active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let want = int(&rs, "/spec/replicas", 1).max(0) as usize;
    let mut failure = None;
    if active.len() < want {
        for _ in active.len()..want {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            match create_pod(store, Kind::ReplicaSet, &rs, &template, &format!("{name}-")) {
                Ok(p) => {
                    let m = format!("Created pod: {}", s(&p, "/metadata/name"));
                    event(store, Kind::ReplicaSet, &rs, false, "SuccessfulCreate", &m, COMPONENT);
                }
                Err(e) => {
                    let m = format!("Error creating: {}", e.message);
                    event(store, Kind::ReplicaSet, &rs, true, "FailedCreate", &m, COMPONENT);
                    failure = Some(e.message);
                    break;
                }
            }
        }
    } else if active.len() > want {
        let mut victims = active.clone();
        victims.sort_by_key(|p| deletion_rank(p));
        for p in victims.into_iter().take(active.len() - want) {
            let pname = s(p, "/metadata/name");
            if store.delete(&Kind::Pod, Some(ns), pname).is_ok() {
                let m = format!("Deleted pod: {pname}");
                event(store, Kind::ReplicaSet, &rs, false, "SuccessfulDelete", &m, COMPONENT);
            }
        }
    }
    let pods = owned_pods(store, ns, &sel, &uid);
    update_status(ctx, &rs, &pods, failure)
}

/// Pods matching the selector with no controller are adopted (`ClaimPods`).
fn adopt_orphans(ctx: &Ctx, rs: &Value, ns: &str, sel: &str) {
    let Ok((pods, _)) = ctx.store.list(&Kind::Pod, Some(ns), Some(sel), None) else { return };
    for mut p in pods.into_iter().filter(|p| controller_of(p).is_none() && pod_active(p)) {
        let refs = p["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
        let mut refs = refs;
        refs.push(super::util::owner_ref(Kind::ReplicaSet, rs));
        p["metadata"]["ownerReferences"] = json!(refs);
        let pname = s(&p, "/metadata/name").to_string();
        let _ = ctx.store.update(&Kind::Pod, Some(ns), &pname, p);
    }
}

/// `getPodsToDelete` order: unassigned, then pending, then not ready, newest first.
fn deletion_rank(p: &Value) -> (bool, u8, bool, std::cmp::Reverse<String>) {
    let phase = match s(p, "/status/phase") {
        "Pending" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    (
        !s(p, "/spec/nodeName").is_empty(),
        phase,
        pod_ready(p),
        std::cmp::Reverse(s(p, "/metadata/creationTimestamp").to_string()),
    )
}

fn update_status(
    ctx: &Ctx,
    rs: &Value,
    pods: &[Value],
    failure: Option<String>,
) -> Option<Duration> {
    let min_ready = ctx.scaled(int(rs, "/spec/minReadySeconds", 0) as f64);
    let active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let mut available = 0;
    let mut recheck: Option<Duration> = None;
    for p in &active {
        match pod_available(p, min_ready) {
            Ok(true) => available += 1,
            Ok(false) => {}
            Err(wait) => recheck = Some(recheck.map_or(wait, |r| r.min(wait))),
        }
    }
    let mut conditions = super::util::conditions_of(rs);
    match failure {
        Some(m) => set_condition(
            &mut conditions,
            json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                   "message": m, "lastTransitionTime": super::util::now_ts()}),
        ),
        None => conditions.retain(|c| c["type"] != "ReplicaFailure"),
    }
    let mut status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": active.len(),
        "readyReplicas": active.iter().filter(|p| pod_ready(p)).count(),
        "availableReplicas": available,
        "observedGeneration": int(rs, "/metadata/generation", 1),
    });
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    write_status(&ctx.store, Kind::ReplicaSet, rs, status);
    recheck
}
