//! The Deployment controller (`pkg/controller/deployment`): one ReplicaSet per template
//! revision, named `<deployment>-<pod-template-hash>`, a rolling update bounded by
//! `maxSurge`/`maxUnavailable` (or Recreate), revision annotations, history clean-up,
//! and the status and conditions `kubectl rollout status` reads.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::Ctx;
use super::util::{
    conditions_of, controlled_by, event, int, now_ts, owner_ref, parse_ts, s, selector_string,
    set_condition, write_status,
};
use crate::kube::Kind;

const COMPONENT: &str = "deployment-controller";
const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// JSON with object keys sorted, so equal templates hash alike.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove(HASH_LABEL);
    }
    t
}

/// `controller.ComputeHash`: FNV-32a over the template (and the collision count), written
/// with `rand.SafeEncodeString`'s alphabet.
pub(super) fn template_hash(template: &Value, collision_count: i64) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(canonical(&without_hash(template)).as_bytes());
    if collision_count > 0 {
        feed(&(collision_count as u32).to_le_bytes());
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string().bytes().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// `intstr` against `total`: a number, or a percentage rounded up (surge) or down.
fn resolve(v: Option<&Value>, default: &str, total: i64, round_up: bool) -> i64 {
    let v = v.cloned().unwrap_or_else(|| json!(default));
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(p) => {
            let pct: f64 = p.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = pct * total as f64 / 100.0;
            (if round_up { x.ceil() } else { x.floor() }) as i64
        }
        _ => 0,
    }
}

struct Plan {
    replicas: i64,
    max_surge: i64,
    max_unavailable: i64,
    recreate: bool,
}

fn plan(d: &Value) -> Plan {
    let replicas = int(d, "/spec/replicas", 1);
    let recreate = s(d, "/spec/strategy/type") == "Recreate";
    let ru = d.pointer("/spec/strategy/rollingUpdate");
    let mut max_surge = resolve(ru.and_then(|r| r.get("maxSurge")), "25%", replicas, true);
    let mut max_unavailable =
        resolve(ru.and_then(|r| r.get("maxUnavailable")), "25%", replicas, false);
    if max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    max_unavailable = max_unavailable.min(replicas);
    max_surge = max_surge.max(0);
    Plan { replicas, max_surge, max_unavailable, recreate }
}

fn spec_replicas(rs: &Value) -> i64 {
    int(rs, "/spec/replicas", 0)
}

fn status_of(rs: &Value, f: &str) -> i64 {
    int(rs, &format!("/status/{f}"), 0)
}

/// One sync; `Some(d)`: sync again after `d` (the progress deadline).
pub(super) fn sync(ctx: &Ctx, ns: &str, name: &str) -> Option<Duration> {
    let store = &ctx.store;
    let d = store.get(&Kind::Deployment, Some(ns), name).ok()?;
    if d.pointer("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    selector_string(d.pointer("/spec/selector").unwrap_or(&Value::Null))?;
    let uid = s(&d, "/metadata/uid").to_string();
    let (all, _) = store.list(&Kind::ReplicaSet, Some(ns), None, None).ok()?;
    let mut owned: Vec<Value> = all.into_iter().filter(|rs| controlled_by(rs, &uid)).collect();
    owned.sort_by_key(|rs| (revision(rs), s(rs, "/metadata/creationTimestamp").to_string()));
    let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let want = without_hash(&template);
    let paused = d.pointer("/spec/paused") == Some(&Value::Bool(true));
    let mut new_rs = owned
        .iter()
        .find(|rs| rs.pointer("/spec/template").map(without_hash).as_ref() == Some(&want))
        .cloned();
    let mut created = false;
    let max_rev = owned.iter().map(revision).max().unwrap_or(0);
    if new_rs.is_none() && !paused {
        new_rs = Some(create_rs(ctx, &d, &template, max_rev + 1)?);
        created = true;
    } else if let Some(rs) = &new_rs
        && revision(rs) < max_rev
        && !paused
    {
        // A rollback to an older template: it becomes the newest revision.
        new_rs = Some(annotate(ctx, rs, &[(REVISION, (max_rev + 1).to_string())]));
    }
    let new_name = new_rs.as_ref().map(|rs| s(rs, "/metadata/name").to_string());
    let old: Vec<Value> = owned
        .iter()
        .filter(|rs| Some(s(rs, "/metadata/name")) != new_name.as_deref())
        .cloned()
        .collect();
    let p = plan(&d);
    if !paused && let Some(rs) = &new_rs {
        rollout(ctx, &d, &p, rs, &old);
        sync_revision(ctx, &d, rs);
    }
    cleanup(ctx, &d, &uid, new_name.as_deref());
    // Status from the ReplicaSets as they are now.
    let (all, _) = store.list(&Kind::ReplicaSet, Some(ns), None, None).ok()?;
    let owned: Vec<Value> = all.into_iter().filter(|rs| controlled_by(rs, &uid)).collect();
    let new_rs =
        new_name.and_then(|n| owned.iter().find(|rs| s(rs, "/metadata/name") == n).cloned());
    update_status(ctx, &d, &p, &owned, new_rs.as_ref(), created)
}

fn create_rs(ctx: &Ctx, d: &Value, template: &Value, rev: i64) -> Option<Value> {
    let ns = s(d, "/metadata/namespace");
    let mut collisions = int(d, "/status/collisionCount", 0);
    for _ in 0..5 {
        let hash = template_hash(template, collisions);
        let name = format!("{}-{hash}", s(d, "/metadata/name"));
        let mut t = template.clone();
        t["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = d["spec"]["selector"].clone();
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let mut annotations = d
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        annotations.insert(REVISION.into(), json!(rev.to_string()));
        let p = plan(d);
        annotations.insert(DESIRED.into(), json!(p.replicas.to_string()));
        annotations.insert(MAX_REPLICAS.into(), json!((p.replicas + p.max_surge).to_string()));
        let rs = json!({
            "metadata": {
                "name": name, "namespace": ns,
                "labels": t["metadata"]["labels"].clone(),
                "annotations": annotations,
                "ownerReferences": [owner_ref(Kind::Deployment, d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(d, "/spec/minReadySeconds", 0),
                "selector": selector,
                "template": t,
            },
        });
        match ctx.store.create(&Kind::ReplicaSet, Some(ns), rs) {
            Ok(rs) => {
                let m = format!("Created new replica set \"{name}\"");
                tracing::debug!("{m}");
                return Some(rs);
            }
            Err(e) if e.code == 409 => {
                // Same name, other template (or not ours): the hash collided.
                let existing = ctx.store.get(&Kind::ReplicaSet, Some(ns), &name).ok()?;
                if controlled_by(&existing, s(d, "/metadata/uid"))
                    && existing.pointer("/spec/template").map(without_hash)
                        == Some(without_hash(template))
                {
                    return Some(existing);
                }
                collisions += 1;
                let mut st = d.get("status").cloned().unwrap_or(json!({}));
                st["collisionCount"] = json!(collisions);
                write_status(&ctx.store, Kind::Deployment, d, st);
            }
            Err(e) => {
                tracing::debug!(deployment = s(d, "/metadata/name"), "creating RS: {}", e.message);
                return None;
            }
        }
    }
    None
}

fn annotate(ctx: &Ctx, rs: &Value, pairs: &[(&str, String)]) -> Value {
    let mut n = rs.clone();
    for (k, v) in pairs {
        n["metadata"]["annotations"][*k] = json!(v);
    }
    let (ns, name) = (s(rs, "/metadata/namespace"), s(rs, "/metadata/name"));
    ctx.store.update(&Kind::ReplicaSet, Some(ns), name, n).unwrap_or_else(|_| rs.clone())
}

/// Set a ReplicaSet's `spec.replicas` (and the desired/max annotations), with the
/// deployment's `ScalingReplicaSet` event.
fn scale(ctx: &Ctx, d: &Value, p: &Plan, rs: &Value, to: i64) {
    let from = spec_replicas(rs);
    if from == to {
        return;
    }
    let mut n = rs.clone();
    n["spec"]["replicas"] = json!(to);
    n["metadata"]["annotations"][DESIRED] = json!(p.replicas.to_string());
    n["metadata"]["annotations"][MAX_REPLICAS] = json!((p.replicas + p.max_surge).to_string());
    let (ns, name) = (s(rs, "/metadata/namespace"), s(rs, "/metadata/name"));
    if ctx.store.update(&Kind::ReplicaSet, Some(ns), name, n).is_ok() {
        let dir = if to > from { "up" } else { "down" };
        let m = format!("Scaled {dir} replica set {name} from {from} to {to}");
        event(&ctx.store, Kind::Deployment, d, false, "ScalingReplicaSet", &m, COMPONENT);
    }
}

fn rollout(ctx: &Ctx, d: &Value, p: &Plan, new_rs: &Value, old: &[Value]) {
    let old_active: Vec<&Value> = old.iter().filter(|rs| spec_replicas(rs) > 0).collect();
    if p.recreate {
        if !old_active.is_empty() {
            for rs in &old_active {
                scale(ctx, d, p, rs, 0);
            }
            return;
        }
        // New pods only once every old pod is gone.
        if old.iter().any(|rs| status_of(rs, "replicas") > 0) {
            return;
        }
        scale(ctx, d, p, new_rs, p.replicas);
        return;
    }
    // reconcileNewReplicaSet
    let new_count = spec_replicas(new_rs);
    let total: i64 = old.iter().map(spec_replicas).sum::<i64>() + new_count;
    if new_count > p.replicas {
        scale(ctx, d, p, new_rs, p.replicas);
    } else if new_count < p.replicas {
        let max_total = p.replicas + p.max_surge;
        if total < max_total {
            let up = (max_total - total).min(p.replicas - new_count);
            scale(ctx, d, p, new_rs, new_count + up);
        }
    }
    // reconcileOldReplicaSets (the new RS as it was before this sync, as the real one).
    let old_count: i64 = old.iter().map(spec_replicas).sum();
    if old_count == 0 {
        return;
    }
    let new_rs = ctx
        .store
        .get(&Kind::ReplicaSet, Some(s(new_rs, "/metadata/namespace")), s(new_rs, "/metadata/name"))
        .unwrap_or_else(|_| new_rs.clone());
    let all_count = old_count + spec_replicas(&new_rs);
    let min_available = p.replicas - p.max_unavailable;
    let new_unavailable = spec_replicas(&new_rs) - status_of(&new_rs, "availableReplicas");
    let mut budget = all_count - min_available - new_unavailable;
    if budget <= 0 {
        return;
    }
    // Unhealthy old replicas go first, then healthy ones down to minAvailable.
    let mut old_sorted: Vec<&Value> = old_active.clone();
    old_sorted.sort_by_key(|rs| s(rs, "/metadata/creationTimestamp").to_string());
    let mut remaining: Vec<(Value, i64)> =
        old_sorted.iter().map(|rs| ((*rs).clone(), spec_replicas(rs))).collect();
    for (rs, count) in remaining.iter_mut() {
        if budget <= 0 {
            break;
        }
        let unhealthy = *count - status_of(rs, "availableReplicas");
        let down = unhealthy.min(budget).max(0);
        if down > 0 {
            scale(ctx, d, p, rs, *count - down);
            *count -= down;
            budget -= down;
        }
    }
    let available: i64 = old.iter().map(|rs| status_of(rs, "availableReplicas")).sum::<i64>()
        + status_of(&new_rs, "availableReplicas");
    let mut total_down = (available - min_available).min(budget);
    for (rs, count) in remaining.iter() {
        if total_down <= 0 {
            break;
        }
        let down = (*count).min(total_down);
        if down > 0 {
            let cur = ctx
                .store
                .get(&Kind::ReplicaSet, Some(s(rs, "/metadata/namespace")), s(rs, "/metadata/name"))
                .unwrap_or_else(|_| rs.clone());
            scale(ctx, d, p, &cur, count - down);
            total_down -= down;
        }
    }
}

/// The deployment carries its newest ReplicaSet's revision.
fn sync_revision(ctx: &Ctx, d: &Value, new_rs: &Value) {
    let rev = revision(new_rs).to_string();
    if d.pointer("/metadata/annotations").and_then(|a| a.get(REVISION)).and_then(Value::as_str)
        == Some(rev.as_str())
    {
        return;
    }
    let mut n = d.clone();
    n["metadata"]["annotations"][REVISION] = json!(rev);
    let (ns, name) = (s(d, "/metadata/namespace"), s(d, "/metadata/name"));
    let _ = ctx.store.update(&Kind::Deployment, Some(ns), name, n);
}

/// Old ReplicaSets with no pods beyond `revisionHistoryLimit` are deleted, oldest first.
fn cleanup(ctx: &Ctx, d: &Value, uid: &str, new_name: Option<&str>) {
    let limit = int(d, "/spec/revisionHistoryLimit", 10).max(0) as usize;
    let ns = s(d, "/metadata/namespace");
    let Ok((all, _)) = ctx.store.list(&Kind::ReplicaSet, Some(ns), None, None) else { return };
    let mut idle: Vec<Value> = all
        .into_iter()
        .filter(|rs| controlled_by(rs, uid) && Some(s(rs, "/metadata/name")) != new_name)
        .filter(|rs| spec_replicas(rs) == 0 && status_of(rs, "replicas") == 0)
        .collect();
    if idle.len() <= limit {
        return;
    }
    idle.sort_by_key(revision);
    for rs in &idle[..idle.len() - limit] {
        let _ = ctx.store.delete(&Kind::ReplicaSet, Some(ns), s(rs, "/metadata/name"));
    }
}

fn condition(ty: &str, ok: bool, reason: &str, message: String) -> Value {
    let now = now_ts();
    json!({"type": ty, "status": if ok { "True" } else { "False" }, "lastUpdateTime": now,
           "lastTransitionTime": now, "reason": reason, "message": message})
}

fn update_status(
    ctx: &Ctx,
    d: &Value,
    p: &Plan,
    owned: &[Value],
    new_rs: Option<&Value>,
    created: bool,
) -> Option<Duration> {
    let sum = |f: &str| owned.iter().map(|rs| status_of(rs, f)).sum::<i64>();
    let available = sum("availableReplicas");
    let total_spec: i64 = owned.iter().map(spec_replicas).sum();
    let updated = new_rs.map_or(0, |rs| status_of(rs, "replicas"));
    let old_status = d.get("status").cloned().unwrap_or(json!({}));
    let mut status = json!({
        "observedGeneration": int(d, "/metadata/generation", 1),
        "replicas": sum("replicas"),
        "updatedReplicas": updated,
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": (total_spec - available).max(0),
    });
    if let Some(c) = old_status.get("collisionCount") {
        status["collisionCount"] = c.clone();
    }
    let mut conds = conditions_of(d);
    let min_ok = available >= p.replicas - p.max_unavailable;
    set_condition(
        &mut conds,
        if min_ok {
            condition(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        },
    );
    let mut recheck = None;
    if let Some(rs) = new_rs {
        let rs_name = s(rs, "/metadata/name");
        let complete = updated == p.replicas
            && status["replicas"].as_i64() == Some(p.replicas)
            && available >= p.replicas;
        let old_int = |f: &str| int(&old_status, &format!("/{f}"), 0);
        let progressed = updated > old_int("updatedReplicas")
            || status["replicas"].as_i64().unwrap_or(0) - updated
                < old_int("replicas") - old_int("updatedReplicas")
            || sum("readyReplicas") > old_int("readyReplicas")
            || available > old_int("availableReplicas");
        let current = conds.iter().find(|c| c["type"] == "Progressing").cloned();
        let deadline = d.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_i64);
        let msg = |m: &str| m.replace("{}", rs_name);
        let progressing = |reason: &str, m: &str| condition("Progressing", true, reason, msg(m));
        if complete {
            let m = "ReplicaSet \"{}\" has successfully progressed.";
            set_condition(&mut conds, progressing("NewReplicaSetAvailable", m));
        } else if created {
            set_condition(
                &mut conds,
                progressing("NewReplicaSetCreated", "Created new replica set \"{}\""),
            );
        } else if current.is_none() {
            set_condition(
                &mut conds,
                progressing("FoundNewReplicaSet", "Found new replica set \"{}\""),
            );
        } else if progressed {
            // Progress refreshes lastUpdateTime (the deadline's start) even when the
            // reason and message stay.
            let mut c = progressing("ReplicaSetUpdated", "ReplicaSet \"{}\" is progressing.");
            if let Some(cur) = current.as_ref().filter(|c| c["status"] == "True") {
                c["lastTransitionTime"] = cur["lastTransitionTime"].clone();
            }
            conds.retain(|x| x["type"] != "Progressing");
            conds.push(c);
        } else if let Some(secs) = deadline
            && let Some(cur) = conds.iter_mut().find(|x| x["type"] == "Progressing")
            && !matches!(
                cur["reason"].as_str(),
                Some("NewReplicaSetAvailable" | "ProgressDeadlineExceeded")
            )
        {
            let since = parse_ts(s(cur, "/lastUpdateTime")).unwrap_or_else(Utc::now);
            let limit = ctx.scaled(secs as f64);
            let elapsed = (Utc::now() - since).to_std().unwrap_or_default();
            if elapsed >= limit {
                let m = msg("ReplicaSet \"{}\" has timed out progressing.");
                *cur = condition("Progressing", false, "ProgressDeadlineExceeded", m);
            } else {
                recheck = Some(limit - elapsed + Duration::from_millis(5));
            }
        }
        if recheck.is_none()
            && !complete
            && let Some(secs) = deadline
            && conds.iter().any(|x| x["type"] == "Progressing" && x["status"] == "True")
        {
            recheck = Some(ctx.scaled(secs as f64) + Duration::from_millis(5));
        }
    }
    conds.sort_by_key(|c| if c["type"] == "Available" { 0 } else { 1 });
    status["conditions"] = json!(conds);
    write_status(&ctx.store, Kind::Deployment, d, status);
    recheck
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_its_own_label_and_key_order() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}});
        let b = json!({"spec": {"containers": [{"image": "x:1", "name": "c"}]}, "metadata": {"labels": {"app": "web", "pod-template-hash": "zz"}}});
        let h = template_hash(&a, 0);
        assert_eq!(h, template_hash(&b, 0));
        assert!(h.len() <= 10 && h.chars().all(|c| c.is_ascii_alphanumeric()), "{h}");
        assert_ne!(h, template_hash(&a, 1));
        let c = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x:2"}]}});
        assert_ne!(h, template_hash(&c, 0));
    }

    #[test]
    fn surge_rounds_up_and_unavailable_down() {
        let d = json!({"spec": {"replicas": 1}});
        let p = plan(&d);
        assert_eq!((p.max_surge, p.max_unavailable), (1, 0));
        let d = json!({"spec": {"replicas": 10, "strategy": {"rollingUpdate": {"maxSurge": 3, "maxUnavailable": "50%"}}}});
        let p = plan(&d);
        assert_eq!((p.max_surge, p.max_unavailable), (3, 5));
        let d = json!({"spec": {"replicas": 2, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!(plan(&d).max_unavailable, 1);
    }
}
