//! Patch application: JSON merge patch (RFC 7386), JSON patch (RFC 6902), a minimal
//! strategic merge patch, and server-side apply treated as a merge of the given object.

use serde_json::{Map, Value};

use super::error::ApiError;

/// The patch flavours, by request `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchType {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Apply `patch` of type `pt` to `target`, returning the new object.
pub fn apply(target: &Value, pt: PatchType, patch: &Value) -> Result<Value, ApiError> {
    match pt {
        PatchType::Merge | PatchType::Apply => {
            let mut t = target.clone();
            merge_patch(&mut t, patch);
            Ok(t)
        }
        PatchType::StrategicMerge => {
            let mut t = target.clone();
            strategic_merge(&mut t, patch, "")?;
            Ok(t)
        }
        PatchType::Json => json_patch(target, patch),
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The merge key of a list field under strategic merge, by field name.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "secrets"
        | "hostAliases"
        | "readinessGates" => match field {
            "hostAliases" => Some("ip"),
            "readinessGates" => Some("conditionType"),
            _ => Some("name"),
        },
        "volumeMounts" => Some("mountPath"),
        "ports" => Some("containerPort"),
        "conditions" => Some("type"),
        "tolerations" | "finalizers" | "ownerReferences" => None,
        _ => None,
    }
}

fn strategic_merge(target: &mut Value, patch: &Value, field: &str) -> Result<(), ApiError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = p.clone();
            clean.remove("$patch");
            *target = Value::Object(clean);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) if other != "merge" => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type {other:?} at {field:?}; valid: replace, delete, merge"
            )));
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if k.starts_with('$') {
            // $patch handled above; $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList
            // are ordering/pruning hints that this emulator does not need.
            continue;
        }
        if let Some(rest) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let _ = rest;
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (merge_key(k), v) {
            (Some(mk), Value::Array(items)) => {
                let cur = t.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                if !cur.is_array() {
                    *cur = Value::Array(Vec::new());
                }
                merge_list(cur.as_array_mut().expect("array"), items, mk, k)?;
            }
            (_, Value::Object(_)) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(slot, v, k)?;
                if slot.is_null() {
                    t.remove(k);
                }
            }
            (_, Value::Array(items)) => {
                // Lists without a merge key: a `$patch: replace` marker item is dropped,
                // the rest replaces the list (as the real server does for atomic lists).
                let clean: Vec<Value> =
                    items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
                t.insert(k.clone(), Value::Array(clean));
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

fn merge_list(
    cur: &mut Vec<Value>,
    items: &[Value],
    mk: &str,
    field: &str,
) -> Result<(), ApiError> {
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        *cur = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
        return Ok(());
    }
    for item in items {
        let Some(key) = item.get(mk) else {
            return Err(ApiError::bad_request(format!(
                "strategic merge patch: an item of {field} has no merge key {mk:?}"
            )));
        };
        let pos = cur.iter().position(|c| c.get(mk) == Some(key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                cur.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut cur[i], item, field)?,
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item, field)?;
                cur.push(fresh);
            }
        }
    }
    Ok(())
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    let mut doc = target.clone();
    for (i, op) in ops.iter().enumerate() {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("json patch op {i}: missing path")))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| ApiError::bad_request(format!("json patch op {i}: missing value")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request(format!("json patch op {i}: missing from")))
        };
        match name {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let v = remove(&mut doc, from()?)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let v =
                    doc.pointer(from()?).cloned().ok_or_else(|| missing(from().unwrap_or("")))?;
                add(&mut doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: testing value {path} failed"
                        ),
                    ));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "json patch op {i}: unknown op {other:?} (valid: add, remove, replace, move, copy, test)"
                )));
            }
        }
    }
    Ok(doc)
}

fn missing(path: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!(
            "the server rejected our request due to an error in our request: doc is missing path: \"{path}\""
        ),
    )
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn split_parent(path: &str) -> Result<(&str, String), ApiError> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid json pointer {path:?}")))?;
    Ok((&path[..idx], unescape(&path[idx + 1..])))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), ApiError> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (parent, last) = split_parent(path)?;
    let p = doc.pointer_mut(parent).ok_or_else(|| missing(path))?;
    match p {
        Value::Object(o) => {
            o.insert(last, v);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
            } else {
                let i: usize = last.parse().map_err(|_| missing(path))?;
                if i > a.len() {
                    return Err(missing(path));
                }
                a.insert(i, v);
            }
        }
        _ => return Err(missing(path)),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (parent, last) = split_parent(path)?;
    let p = doc.pointer_mut(parent).ok_or_else(|| missing(path))?;
    match p {
        Value::Object(o) => o.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing(path))?;
            if i >= a.len() {
                return Err(missing(path));
            }
            Ok(a.remove(i))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_removes_nulls() {
        let t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let r = apply(&t, PatchType::Merge, &json!({"b": {"c": null, "e": 4}})).unwrap();
        assert_eq!(r, json!({"a": 1, "b": {"d": 3, "e": 4}}));
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let p = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}]}});
        let r = apply(&t, PatchType::StrategicMerge, &p).unwrap();
        assert_eq!(
            r["spec"]["containers"],
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
        );
        let d = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        let r = apply(&r, PatchType::StrategicMerge, &d).unwrap();
        assert_eq!(r["spec"]["containers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn json_patch_ops() {
        let t = json!({"metadata": {"labels": {"a": "1"}}, "l": [1, 2]});
        let p = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "add", "path": "/l/-", "value": 3},
            {"op": "replace", "path": "/l/0", "value": 0},
            {"op": "test", "path": "/l/2", "value": 3}
        ]);
        let r = apply(&t, PatchType::Json, &p).unwrap();
        assert_eq!(r, json!({"metadata": {"labels": {"b": "2"}}, "l": [0, 2, 3]}));
        let e =
            apply(&t, PatchType::Json, &json!([{"op": "remove", "path": "/nope"}])).unwrap_err();
        assert_eq!(e.code, 422);
    }
}
