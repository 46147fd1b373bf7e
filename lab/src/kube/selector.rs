//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field selectors
//! (`=`, `==`, `!=` over dotted paths such as `metadata.name`, `involvedObject.kind`).

use serde_json::Value;

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<LabelReq>,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for term in split_top_level(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            reqs.push(parse_label_term(term)?);
        }
        Ok(Self { reqs })
    }

    /// Does an object (whose `metadata.labels` are read) match?
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63 && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn bad_label(term: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: {why} in label selector term {term:?}; valid forms are \
         key=value, key==value, key!=value, key in (a,b), key notin (a,b), key, !key"
    ))
}

fn parse_label_term(term: &str) -> Result<LabelReq, ApiError> {
    if let Some(k) = term.strip_prefix('!') {
        let k = k.trim();
        if !valid_key(k) {
            return Err(bad_label(term, "invalid label key"));
        }
        return Ok(LabelReq::NotExists(k.to_string()));
    }
    for (op, neg) in [(" notin ", true), (" in ", false)] {
        if let Some(idx) = term.find(op) {
            let k = term[..idx].trim();
            let rest = term[idx + op.len()..].trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| bad_label(term, "expected a parenthesised value set"))?;
            if !valid_key(k) {
                return Err(bad_label(term, "invalid label key"));
            }
            let vals: Vec<String> =
                inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
            if vals.iter().any(|v| !valid_value(v)) {
                return Err(bad_label(term, "invalid label value"));
            }
            return Ok(if neg {
                LabelReq::NotIn(k.to_string(), vals)
            } else {
                LabelReq::In(k.to_string(), vals)
            });
        }
    }
    for (op, kind) in [("!=", 2u8), ("==", 1), ("=", 1)] {
        if let Some(idx) = term.find(op) {
            let k = term[..idx].trim();
            let v = term[idx + op.len()..].trim();
            if !valid_key(k) {
                return Err(bad_label(term, "invalid label key"));
            }
            if !valid_value(v) {
                return Err(bad_label(term, "invalid label value"));
            }
            return Ok(if kind == 2 {
                LabelReq::NotEq(k.to_string(), v.to_string())
            } else {
                LabelReq::Eq(k.to_string(), v.to_string())
            });
        }
    }
    if !valid_key(term) {
        return Err(bad_label(term, "invalid label key"));
    }
    Ok(LabelReq::Exists(term.to_string()))
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// Fields the emulator can select on (besides `metadata.name` and `metadata.namespace`).
pub const SUPPORTED_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.kind",
    "involvedObject.uid",
    "involvedObject.fieldPath",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "regarding.name",
    "regarding.namespace",
    "regarding.kind",
    "regarding.uid",
    "spec.nodeName",
    "spec.unschedulable",
    "spec.serviceAccountName",
    "spec.holderIdentity",
    "status.phase",
    "type",
    "reason",
    "source",
    "reportingComponent",
];

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for term in s.split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let (k, neg, v) = if let Some((k, v)) = term.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}' (expected field=value, \
                     field==value or field!=value)"
                )));
            };
            let k = k.trim();
            if !SUPPORTED_FIELDS.contains(&k) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k} (supported: {})",
                    SUPPORTED_FIELDS.join(", ")
                )));
            }
            reqs.push((k.to_string(), neg, v.trim().to_string()));
        }
        Ok(Self { reqs })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(k, neg, v)| {
            let actual = field_value(obj, k);
            (actual == *v) != *neg
        })
    }

}

/// The string value of a dotted field path; missing fields read as "".
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Object(o) if path == "source" => {
            o.get("component").and_then(Value::as_str).unwrap_or("").to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_ops() {
        let o = obj(json!({"app": "web", "tier": "fe"}));
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web,db)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("missing!=x", true),
            ("app=web,tier in (fe)", true),
            ("app=web,tier=be", false),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&o), want, "{sel}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn field_ops() {
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=p").unwrap().matches(&o));
        assert!(FieldSelector::parse("status.phase!=Pending").unwrap().matches(&o));
        assert!(!FieldSelector::parse("metadata.namespace==x").unwrap().matches(&o));
        assert!(FieldSelector::parse("spec.nodeName=").unwrap().matches(&o));
        let e = FieldSelector::parse("spec.bogus=1").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("field label not supported: spec.bogus"));
    }
}
