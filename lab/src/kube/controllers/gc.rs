//! The garbage collector's background cascade: when an owner goes, what it controlled
//! goes too (Deployment → ReplicaSets → Pods, CronJob → Jobs → Pods); a dependent that
//! has other owners only loses the reference.

use serde_json::{Value, json};

use super::util::s;
use crate::kube::{Kind, SharedStore};

/// Kinds that can have dependents, and the kinds their dependents are.
pub(super) fn dependent_kinds(owner: Kind) -> &'static [Kind] {
    match owner {
        Kind::Deployment => &[Kind::ReplicaSet],
        Kind::ReplicaSet | Kind::Job => &[Kind::Pod],
        Kind::CronJob => &[Kind::Job],
        _ => &[],
    }
}

/// Delete (or release) the dependents of the deleted `owner`.
pub(super) fn owner_deleted(store: &SharedStore, kind: Kind, owner: &Value) {
    let (uid, ns) = (s(owner, "/metadata/uid"), s(owner, "/metadata/namespace"));
    if uid.is_empty() {
        return;
    }
    for dep_kind in dependent_kinds(kind) {
        let Ok((items, _)) = store.list(dep_kind, Some(ns), None, None) else { continue };
        for mut o in items {
            let refs = o.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned();
            let Some(refs) = refs.filter(|r| r.iter().any(|r| r["uid"] == uid)) else { continue };
            let name = s(&o, "/metadata/name").to_string();
            let others: Vec<Value> = refs.iter().filter(|r| r["uid"] != uid).cloned().collect();
            let was_controller = refs.iter().any(|r| r["uid"] == uid && r["controller"] == true);
            if was_controller || others.is_empty() {
                if let Err(e) = store.delete(dep_kind, Some(ns), &name) {
                    tracing::debug!(name, "garbage collection: {}", e.message);
                }
            } else {
                o["metadata"]["ownerReferences"] = json!(others);
                let _ = store.update(dep_kind, Some(ns), &name, o);
            }
        }
    }
}
