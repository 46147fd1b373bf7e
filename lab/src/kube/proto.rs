//! Decoding the Kubernetes protobuf envelope for the few request bodies kubectl sends as
//! `application/vnd.kubernetes.protobuf` (typed clients: `create namespace`,
//! `create secret …`, `create configmap`, `create serviceaccount`; the workloads in
//! `super::proto_workloads`). A hand-written
//! wire-format reader (no protoc); responses are always JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::error::ApiError;

const MAGIC: &[u8] = b"k8s\0";

fn err(what: &str) -> ApiError {
    ApiError::bad_request(format!("error decoding protobuf request body: {what}"))
}

pub(super) enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &[u8], pos: &mut usize) -> Result<u64, ApiError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or_else(|| err("truncated varint"))?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(err("varint too long"))
}

pub(super) fn fields(b: &[u8]) -> Result<Vec<(u32, Field<'_>)>, ApiError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let tag = varint(b, &mut pos)?;
        let num = u32::try_from(tag >> 3).map_err(|_| err("bad field number"))?;
        match tag & 7 {
            0 => out.push((num, Field::Varint(varint(b, &mut pos)?))),
            2 => {
                let len = usize::try_from(varint(b, &mut pos)?).map_err(|_| err("bad length"))?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= b.len())
                    .ok_or_else(|| err("truncated field"))?;
                out.push((num, Field::Bytes(&b[pos..end])));
                pos = end;
            }
            1 => pos += 8,
            5 => pos += 4,
            w => return Err(err(&format!("unsupported wire type {w}"))),
        }
    }
    Ok(out)
}

pub(super) fn string(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| err("string field is not UTF-8"))
}

/// A map entry message `{key = 1; value = 2}`.
pub(super) fn entry(b: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let mut k = String::new();
    let mut v = Vec::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = string(x)?,
            (2, Field::Bytes(x)) => v = x.to_vec(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn put_map(obj: &mut Map<String, Value>, key: &str, k: String, v: Value) {
    let m = obj.entry(key.to_string()).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        m.insert(k, v);
    }
}

pub(super) fn object_meta(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                m.insert("name".into(), json!(string(x)?));
            }
            (2, Field::Bytes(x)) => {
                m.insert("generateName".into(), json!(string(x)?));
            }
            (3, Field::Bytes(x)) => {
                m.insert("namespace".into(), json!(string(x)?));
            }
            (6, Field::Bytes(x)) => {
                m.insert("resourceVersion".into(), json!(string(x)?));
            }
            (11, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                put_map(&mut m, "labels", k, json!(string(&v)?));
            }
            (12, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                put_map(&mut m, "annotations", k, json!(string(&v)?));
            }
            (14, Field::Bytes(x)) => {
                let l = m.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(a) = l.as_array_mut() {
                    a.push(json!(string(x)?));
                }
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn names(b: &[u8]) -> Result<Value, ApiError> {
    let mut name = String::new();
    for (n, f) in fields(b)? {
        if let (1, Field::Bytes(x)) = (n, f) {
            name = string(x)?;
        }
    }
    Ok(json!({"name": name}))
}

/// Decode a `k8s\0`-prefixed protobuf body into the JSON form of the object.
/// `SelfSubjectAccessReview` / `SelfSubjectRulesReview` (kubectl auth can-i): the spec's
/// string fields, per k8s.io/api/authorization/v1/generated.proto.
fn self_review(kind: &str, raw: &[u8]) -> Result<Value, ApiError> {
    let strings = |b: &[u8], names: &[(u32, &str)]| -> Result<Value, ApiError> {
        let mut m = Map::new();
        for (n, f) in fields(b)? {
            if let (Some((_, name)), Field::Bytes(x)) = (names.iter().find(|(k, _)| *k == n), f) {
                m.insert((*name).to_string(), json!(string(x)?));
            }
        }
        Ok(Value::Object(m))
    };
    let mut spec = Map::new();
    for (n, f) in fields(raw)? {
        let (2, Field::Bytes(x)) = (n, f) else { continue };
        for (n2, f2) in fields(x)? {
            let Field::Bytes(y) = f2 else { continue };
            match (kind, n2) {
                ("SelfSubjectAccessReview", 1) => {
                    let names = [
                        (1, "namespace"),
                        (2, "verb"),
                        (3, "group"),
                        (4, "version"),
                        (5, "resource"),
                        (6, "subresource"),
                        (7, "name"),
                    ];
                    spec.insert("resourceAttributes".into(), strings(y, &names)?);
                }
                ("SelfSubjectAccessReview", 2) => {
                    let names = [(1, "path"), (2, "verb")];
                    spec.insert("nonResourceAttributes".into(), strings(y, &names)?);
                }
                ("SelfSubjectRulesReview", 1) => {
                    spec.insert("namespace".into(), json!(string(y)?));
                }
                _ => {}
            }
        }
    }
    Ok(json!({"apiVersion": "authorization.k8s.io/v1", "kind": kind, "metadata": {}, "spec": spec}))
}

pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body.strip_prefix(MAGIC).ok_or_else(|| err("missing k8s protobuf magic"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n2, f2) in fields(tm)? {
                    match (n2, f2) {
                        (1, Field::Bytes(x)) => api_version = string(x)?,
                        (2, Field::Bytes(x)) => kind = string(x)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    if api_version == "authorization.k8s.io/v1" {
        return self_review(&kind, raw);
    }
    if let Some(spec) = super::proto_workloads::spec_of(&api_version, &kind) {
        return super::proto_workloads::decode(&api_version, &kind, spec, raw);
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let supported = matches!(
        (api_version.as_str(), kind.as_str()),
        ("v1", "Namespace" | "Secret" | "ConfigMap" | "ServiceAccount")
    );
    if !supported {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the emulator decodes protobuf only for v1 Namespace, Secret, ConfigMap and \
                 ServiceAccount, apps/v1 Deployment, batch/v1 Job and CronJob (got {api_version} \
                 {kind}); send application/json"
            ),
        ));
    }
    for (n, f) in fields(raw)? {
        let x = match f {
            Field::Bytes(x) => x,
            Field::Varint(v) => {
                let key = match (kind.as_str(), n) {
                    ("Secret", 5) | ("ConfigMap", 4) => Some("immutable"),
                    ("ServiceAccount", 4) => Some("automountServiceAccountToken"),
                    _ => None,
                };
                if let Some(key) = key {
                    obj.insert(key.into(), json!(v != 0));
                }
                continue;
            }
        };
        match (kind.as_str(), n) {
            (_, 1) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            ("Namespace", 2) => {
                let mut fins = Vec::new();
                for (n2, f2) in fields(x)? {
                    if let (1, Field::Bytes(s)) = (n2, f2) {
                        fins.push(json!(string(s)?));
                    }
                }
                obj.insert("spec".into(), json!({"finalizers": fins}));
            }
            ("Secret", 2) => {
                let (k, v) = entry(x)?;
                put_map(&mut obj, "data", k, json!(B64.encode(v)));
            }
            ("Secret", 3) => {
                obj.insert("type".into(), json!(string(x)?));
            }
            ("Secret", 4) | ("ConfigMap", 2) => {
                let (k, v) = entry(x)?;
                let key = if kind == "Secret" { "stringData" } else { "data" };
                put_map(&mut obj, key, k, json!(string(&v)?));
            }
            ("ConfigMap", 3) => {
                let (k, v) = entry(x)?;
                put_map(&mut obj, "binaryData", k, json!(B64.encode(v)));
            }
            ("ServiceAccount", 3) => {
                let l = obj.entry("imagePullSecrets").or_insert_with(|| json!([]));
                if let Some(a) = l.as_array_mut() {
                    a.push(names(x)?);
                }
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(n: u32, b: &[u8]) -> Vec<u8> {
        let mut o = vec![((n << 3) | 2) as u8, b.len() as u8];
        o.extend_from_slice(b);
        o
    }

    #[test]
    fn decodes_secret() {
        let meta = [ld(1, b"s"), ld(3, b"ns")].concat();
        let data = [ld(1, b".dockerconfigjson"), ld(2, b"{}")].concat();
        let raw = [ld(1, &meta), ld(2, &data), ld(3, b"kubernetes.io/dockerconfigjson")].concat();
        let tm = [ld(1, b"v1"), ld(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), ld(1, &tm), ld(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["metadata"]["name"], "s");
        assert_eq!(v["data"][".dockerconfigjson"], "e30=");
        assert_eq!(v["type"], "kubernetes.io/dockerconfigjson");
        assert!(decode(b"junk").is_err());
    }

    #[test]
    fn decodes_self_subject_access_review() {
        let attrs = [ld(1, b"chaos"), ld(2, b"list"), ld(5, b"pods")].concat();
        let raw = ld(2, &ld(1, &attrs));
        let tm = [ld(1, b"authorization.k8s.io/v1"), ld(2, b"SelfSubjectAccessReview")].concat();
        let v = decode(&[MAGIC.to_vec(), ld(1, &tm), ld(2, &raw)].concat()).unwrap();
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "chaos", "verb": "list", "resource": "pods"})
        );
    }
}
