//! What the controllers share: reading fields, owner references, label selectors, pod
//! readiness, conditions, events and the lab clock.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::kube::{ApiError, Kind, SharedStore};

pub(super) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn int(v: &Value, ptr: &str, default: i64) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(default)
}

pub(super) fn now_ts() -> String {
    ts(Utc::now())
}

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn parse_ts(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v).ok().map(|t| t.with_timezone(&Utc))
}

/// The controller owner reference of `o`: (kind, name, uid).
pub(super) fn controller_of(o: &Value) -> Option<(&str, &str, &str)> {
    o.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| (s(r, "/kind"), s(r, "/name"), s(r, "/uid")))
}

/// Is `o` controlled by the object with this uid?
pub(super) fn controlled_by(o: &Value, uid: &str) -> bool {
    controller_of(o).is_some_and(|(_, _, u)| u == uid)
}

/// The owner reference a controller puts on what it creates.
pub(super) fn owner_ref(kind: Kind, owner: &Value) -> Value {
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind_name(),
        "name": s(owner, "/metadata/name"),
        "uid": s(owner, "/metadata/uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// A `metav1.LabelSelector` object as the string form the store's selector parses;
/// `None` for an empty or missing selector (which selects nothing for a controller).
pub(super) fn selector_string(sel: &Value) -> Option<String> {
    let mut terms = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            terms.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = s(e, "/key");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        terms.push(match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        });
    }
    (!terms.is_empty()).then(|| terms.join(","))
}

/// Pods in `ns` that `sel` selects and the owner with `uid` controls.
pub(super) fn owned_pods(store: &SharedStore, ns: &str, sel: &str, uid: &str) -> Vec<Value> {
    store
        .list(&Kind::Pod, Some(ns), Some(sel), None)
        .map(|(pods, _)| pods.into_iter().filter(|p| controlled_by(p, uid)).collect())
        .unwrap_or_default()
}

/// Not finished and not being deleted (`controller.IsPodActive`).
pub(super) fn pod_active(p: &Value) -> bool {
    !matches!(s(p, "/status/phase"), "Succeeded" | "Failed")
        && p.pointer("/metadata/deletionTimestamp").is_none()
}

fn ready_since(p: &Value) -> Option<&str> {
    p.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .map(|c| s(c, "/lastTransitionTime"))
}

pub(super) fn pod_ready(p: &Value) -> bool {
    ready_since(p).is_some()
}

/// `podutil.IsPodAvailable`: ready for at least `min_ready`. `Err(wait)` when ready
/// but not yet for long enough.
pub(super) fn pod_available(p: &Value, min_ready: Duration) -> Result<bool, Duration> {
    let Some(since) = ready_since(p) else { return Ok(false) };
    if min_ready.is_zero() {
        return Ok(true);
    }
    let Some(t) = parse_ts(since) else { return Ok(true) };
    let elapsed = (Utc::now() - t).to_std().unwrap_or_default();
    if elapsed >= min_ready { Ok(true) } else { Err(min_ready - elapsed) }
}

/// Set condition `c` (by `type`) in `conds`: an unchanged status keeps its
/// `lastTransitionTime`, an unchanged reason and message keep `lastUpdateTime`.
pub(super) fn set_condition(conds: &mut Vec<Value>, mut c: Value) {
    if let Some(old) = conds.iter_mut().find(|o| o["type"] == c["type"]) {
        if old["status"] == c["status"] {
            c["lastTransitionTime"] = old["lastTransitionTime"].clone();
            if old["reason"] == c["reason"] && old["message"] == c["message"] {
                if old.get("lastUpdateTime").is_some() {
                    c["lastUpdateTime"] = old["lastUpdateTime"].clone();
                }
                if old.get("lastProbeTime").is_some() {
                    c["lastProbeTime"] = old["lastProbeTime"].clone();
                }
            }
        }
        *old = c;
    } else {
        conds.push(c);
    }
}

pub(super) fn conditions_of(o: &Value) -> Vec<Value> {
    o.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default()
}

pub(super) fn has_condition(o: &Value, ty: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

/// Write `status` when it differs from the stored one (a no-op write sends no event).
pub(super) fn write_status(store: &SharedStore, kind: Kind, o: &Value, status: Value) {
    if o.get("status") == Some(&status) {
        return;
    }
    let (ns, name) = (s(o, "/metadata/namespace"), s(o, "/metadata/name"));
    let ns = kind.namespaced().then_some(ns);
    if let Err(e) = store.update_status(&kind, ns, name, status) {
        tracing::debug!(kind = kind.kind_name(), name, "status update failed: {}", e.message);
    }
}

/// An Event about `o` from `component` (the controllers' recorder).
pub(super) fn event(
    store: &SharedStore,
    kind: Kind,
    o: &Value,
    warning: bool,
    reason: &str,
    message: &str,
    component: &str,
) {
    let now = Utc::now();
    let ns = s(o, "/metadata/namespace");
    let ns = if ns.is_empty() { "default" } else { ns };
    let name = s(o, "/metadata/name");
    let nanos = now.timestamp_nanos_opt().unwrap_or_default() as u64;
    let ev = json!({
        "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": ns},
        "involvedObject": {
            "apiVersion": kind.api_version(), "kind": kind.kind_name(), "namespace": ns,
            "name": name, "uid": s(o, "/metadata/uid"),
            "resourceVersion": s(o, "/metadata/resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": if warning { "Warning" } else { "Normal" },
        "source": {"component": component},
        "firstTimestamp": ts(now),
        "lastTimestamp": ts(now),
        "count": 1,
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": "",
    });
    if let Err(e) = store.create(&Kind::Event, Some(ns), ev) {
        tracing::debug!(reason, "controller event not written: {}", e.message);
    }
}

/// Create a pod from a template for owner `owner` of `kind`, named `<prefix><random>`.
pub(super) fn create_pod(
    store: &SharedStore,
    kind: Kind,
    owner: &Value,
    template: &Value,
    prefix: &str,
) -> Result<Value, ApiError> {
    let ns = s(owner, "/metadata/namespace");
    let mut meta = json!({
        "generateName": prefix,
        "namespace": ns,
        "ownerReferences": [owner_ref(kind, owner)],
    });
    for f in ["labels", "annotations"] {
        if let Some(v) = template.pointer(&format!("/metadata/{f}")).filter(|v| v.is_object()) {
            meta[f] = v.clone();
        }
    }
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    store.create(&Kind::Pod, Some(ns), pod)
}

/// Scale a lab duration (a real controller's seconds) by the lab's time scale.
pub(super) fn scaled(secs: f64, time_scale: f64) -> Duration {
    Duration::from_secs_f64((secs * time_scale).max(0.0))
}

/// The lab clock: real time, sped up by 1/`time_scale` from `epoch` on (so a CronJob
/// scheduled every minute runs every 0.6 s at time scale 0.01).
#[derive(Debug, Clone, Copy)]
pub(super) struct LabClock {
    epoch: DateTime<Utc>,
    time_scale: f64,
}

impl LabClock {
    pub(super) fn new(time_scale: f64) -> Self {
        LabClock { epoch: Utc::now(), time_scale }
    }

    /// Lab time of the real instant `t`.
    pub(super) fn lab_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let real = (t - self.epoch).num_milliseconds() as f64;
        self.epoch + chrono::Duration::milliseconds((real / self.time_scale) as i64)
    }

    /// When the lab clock started (lab and real time agree there).
    pub(super) fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.lab_time(Utc::now())
    }

    /// Real duration until lab time `t`.
    pub(super) fn real_until(&self, t: DateTime<Utc>) -> Duration {
        let lab = (t - self.now()).num_milliseconds().max(0) as f64;
        Duration::from_millis((lab * self.time_scale).ceil() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_strings() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "gone", "operator": "DoesNotExist"}]});
        assert_eq!(selector_string(&sel).unwrap(), "app=web,tier in (a,b),!gone");
        assert_eq!(selector_string(&json!({})), None);
    }

    #[test]
    fn conditions_keep_times_when_unchanged() {
        let mut cs = vec![json!({"type": "Available", "status": "True", "reason": "R",
            "message": "m", "lastUpdateTime": "t0", "lastTransitionTime": "t0"})];
        set_condition(
            &mut cs,
            json!({"type": "Available", "status": "True", "reason": "R", "message": "m",
            "lastUpdateTime": "t1", "lastTransitionTime": "t1"}),
        );
        assert_eq!(cs[0]["lastUpdateTime"], "t0");
        set_condition(
            &mut cs,
            json!({"type": "Available", "status": "True", "reason": "S", "message": "m",
            "lastUpdateTime": "t2", "lastTransitionTime": "t2"}),
        );
        assert_eq!(
            (cs[0]["lastUpdateTime"].as_str(), cs[0]["lastTransitionTime"].as_str()),
            (Some("t2"), Some("t0"))
        );
    }

    #[test]
    fn lab_clock_runs_faster() {
        let c = LabClock::new(0.01);
        let later = c.epoch + chrono::Duration::seconds(1);
        assert_eq!((c.lab_time(later) - c.epoch).num_seconds(), 100);
    }
}
