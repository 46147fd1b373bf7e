//! Protobuf bodies of the workloads kubectl's typed commands send (`kubectl create
//! deployment|job|cronjob`): a table per message of k8s.io/api's generated.proto with the
//! fields those commands and common manifests use. A field not in the tables is refused
//! (415, naming the message and field number) unless it holds its zero value, never
//! dropped.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::proto::{Field, entry, fields, object_meta, string};

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    StrList,
    StrMap,
    /// `k8s.io.apimachinery.pkg.util.intstr.IntOrString`.
    IntOrStr,
    Meta,
    Msg(&'static Msg),
    MsgList(&'static Msg),
}

pub(super) struct Msg {
    name: &'static str,
    fields: &'static [(u32, &'static str, Ty)],
}

static LOCAL_REF: Msg = Msg { name: "LocalObjectReference", fields: &[(1, "name", Ty::Str)] };
static REQUIREMENT: Msg = Msg {
    name: "LabelSelectorRequirement",
    fields: &[(1, "key", Ty::Str), (2, "operator", Ty::Str), (3, "values", Ty::StrList)],
};
static SELECTOR: Msg = Msg {
    name: "LabelSelector",
    fields: &[(1, "matchLabels", Ty::StrMap), (2, "matchExpressions", Ty::MsgList(&REQUIREMENT))],
};
static PORT: Msg = Msg {
    name: "ContainerPort",
    fields: &[
        (1, "name", Ty::Str),
        (2, "hostPort", Ty::Int),
        (3, "containerPort", Ty::Int),
        (4, "protocol", Ty::Str),
        (5, "hostIP", Ty::Str),
    ],
};
static ENV: Msg = Msg { name: "EnvVar", fields: &[(1, "name", Ty::Str), (2, "value", Ty::Str)] };
/// kubectl sends `resources: {}`; quantities are not decoded.
static RESOURCES: Msg = Msg { name: "ResourceRequirements", fields: &[] };
static CONTAINER: Msg = Msg {
    name: "Container",
    fields: &[
        (1, "name", Ty::Str),
        (2, "image", Ty::Str),
        (3, "command", Ty::StrList),
        (4, "args", Ty::StrList),
        (5, "workingDir", Ty::Str),
        (6, "ports", Ty::MsgList(&PORT)),
        (7, "env", Ty::MsgList(&ENV)),
        (8, "resources", Ty::Msg(&RESOURCES)),
        (13, "terminationMessagePath", Ty::Str),
        (14, "imagePullPolicy", Ty::Str),
        (16, "stdin", Ty::Bool),
        (17, "stdinOnce", Ty::Bool),
        (18, "tty", Ty::Bool),
        (20, "terminationMessagePolicy", Ty::Str),
    ],
};
static POD_SPEC: Msg = Msg {
    name: "PodSpec",
    fields: &[
        (2, "containers", Ty::MsgList(&CONTAINER)),
        (3, "restartPolicy", Ty::Str),
        (4, "terminationGracePeriodSeconds", Ty::Int),
        (5, "activeDeadlineSeconds", Ty::Int),
        (6, "dnsPolicy", Ty::Str),
        (7, "nodeSelector", Ty::StrMap),
        (8, "serviceAccountName", Ty::Str),
        (9, "serviceAccount", Ty::Str),
        (15, "imagePullSecrets", Ty::MsgList(&LOCAL_REF)),
        (19, "schedulerName", Ty::Str),
        (20, "initContainers", Ty::MsgList(&CONTAINER)),
    ],
};
static POD_TEMPLATE: Msg = Msg {
    name: "PodTemplateSpec",
    fields: &[(1, "metadata", Ty::Meta), (2, "spec", Ty::Msg(&POD_SPEC))],
};
static ROLLING: Msg = Msg {
    name: "RollingUpdateDeployment",
    fields: &[(1, "maxUnavailable", Ty::IntOrStr), (2, "maxSurge", Ty::IntOrStr)],
};
static STRATEGY: Msg = Msg {
    name: "DeploymentStrategy",
    fields: &[(1, "type", Ty::Str), (2, "rollingUpdate", Ty::Msg(&ROLLING))],
};
static DEPLOYMENT_SPEC: Msg = Msg {
    name: "DeploymentSpec",
    fields: &[
        (1, "replicas", Ty::Int),
        (2, "selector", Ty::Msg(&SELECTOR)),
        (3, "template", Ty::Msg(&POD_TEMPLATE)),
        (4, "strategy", Ty::Msg(&STRATEGY)),
        (5, "minReadySeconds", Ty::Int),
        (6, "revisionHistoryLimit", Ty::Int),
        (7, "paused", Ty::Bool),
        (9, "progressDeadlineSeconds", Ty::Int),
    ],
};
static JOB_SPEC: Msg = Msg {
    name: "JobSpec",
    fields: &[
        (1, "parallelism", Ty::Int),
        (2, "completions", Ty::Int),
        (3, "activeDeadlineSeconds", Ty::Int),
        (4, "selector", Ty::Msg(&SELECTOR)),
        (5, "manualSelector", Ty::Bool),
        (6, "template", Ty::Msg(&POD_TEMPLATE)),
        (7, "backoffLimit", Ty::Int),
        (8, "ttlSecondsAfterFinished", Ty::Int),
        (9, "completionMode", Ty::Str),
        (10, "suspend", Ty::Bool),
    ],
};
static JOB_TEMPLATE: Msg = Msg {
    name: "JobTemplateSpec",
    fields: &[(1, "metadata", Ty::Meta), (2, "spec", Ty::Msg(&JOB_SPEC))],
};
static CRONJOB_SPEC: Msg = Msg {
    name: "CronJobSpec",
    fields: &[
        (1, "schedule", Ty::Str),
        (2, "startingDeadlineSeconds", Ty::Int),
        (3, "concurrencyPolicy", Ty::Str),
        (4, "suspend", Ty::Bool),
        (5, "jobTemplate", Ty::Msg(&JOB_TEMPLATE)),
        (6, "successfulJobsHistoryLimit", Ty::Int),
        (7, "failedJobsHistoryLimit", Ty::Int),
        (8, "timeZone", Ty::Str),
    ],
};

fn refused(msg: &str, n: u32) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the emulator does not decode protobuf field {n} of {msg}; send application/json \
             (kubectl apply -f does)"
        ),
    )
}

fn int_or_str(b: &[u8]) -> Result<Value, ApiError> {
    let (mut ty, mut int, mut s) = (0, 0i64, String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(v)) => ty = v,
            (2, Field::Varint(v)) => int = v as i64,
            (3, Field::Bytes(x)) => s = string(x)?,
            _ => return Err(refused("IntOrString", n)),
        }
    }
    Ok(if ty == 1 { json!(s) } else { json!(int as i32) })
}

fn decode_msg(msg: &Msg, b: &[u8]) -> Result<Value, ApiError> {
    let mut out = Map::new();
    for (n, f) in fields(b)? {
        // Go's protobuf writes non-pointer fields even at their zero value (an empty
        // nodeName, hostNetwork false): zero is what JSON leaves out, so it is skipped.
        let zero = matches!(f, Field::Varint(0)) || matches!(f, Field::Bytes(b) if b.is_empty());
        let Some((_, key, ty)) = msg.fields.iter().find(|(k, _, _)| *k == n) else {
            if zero {
                continue;
            }
            return Err(refused(msg.name, n));
        };
        if zero && matches!(ty, Ty::Str) {
            continue;
        }
        let key = (*key).to_string();
        match (*ty, f) {
            (Ty::Int, Field::Varint(v)) => {
                out.insert(key, json!(v as i64 as i32));
            }
            (Ty::Bool, Field::Varint(v)) => {
                out.insert(key, json!(v != 0));
            }
            (Ty::Str, Field::Bytes(x)) => {
                out.insert(key, json!(string(x)?));
            }
            (Ty::StrList, Field::Bytes(x)) => push(&mut out, key, json!(string(x)?)),
            (Ty::StrMap, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                let m = out.entry(key).or_insert_with(|| json!({}));
                m[k] = json!(string(&v)?);
            }
            (Ty::IntOrStr, Field::Bytes(x)) => {
                out.insert(key, int_or_str(x)?);
            }
            (Ty::Meta, Field::Bytes(x)) => {
                out.insert(key, object_meta(x)?);
            }
            (Ty::Msg(m), Field::Bytes(x)) => {
                out.insert(key, decode_msg(m, x)?);
            }
            (Ty::MsgList(m), Field::Bytes(x)) => push(&mut out, key, decode_msg(m, x)?),
            _ => return Err(refused(msg.name, n)),
        }
    }
    Ok(Value::Object(out))
}

fn push(out: &mut Map<String, Value>, key: String, v: Value) {
    let l = out.entry(key).or_insert_with(|| json!([]));
    if let Some(a) = l.as_array_mut() {
        a.push(v);
    }
}

/// The spec message of a workload kind, if decoded here.
pub(super) fn spec_of(api_version: &str, kind: &str) -> Option<&'static Msg> {
    match (api_version, kind) {
        ("apps/v1", "Deployment") => Some(&DEPLOYMENT_SPEC),
        ("batch/v1", "Job") => Some(&JOB_SPEC),
        ("batch/v1", "CronJob") => Some(&CRONJOB_SPEC),
        _ => None,
    }
}

/// Decode a workload object (`metadata` = 1, `spec` = 2; a status is ignored).
pub(super) fn decode(api_version: &str, kind: &str, spec: &'static Msg, raw: &[u8]) -> Result<Value, ApiError> {
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(x)) => obj["metadata"] = object_meta(x)?,
            (2, Field::Bytes(x)) => obj["spec"] = decode_msg(spec, x)?,
            (3, _) => {}
            _ => return Err(refused(kind, n)),
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(n: u32, b: &[u8]) -> Vec<u8> {
        let mut o = vec![((n << 3) | 2) as u8, b.len() as u8];
        o.extend_from_slice(b);
        o
    }

    fn varint(n: u32, v: u8) -> Vec<u8> {
        vec![(n << 3) as u8, v]
    }

    #[test]
    fn decodes_a_deployment_and_refuses_unknown_fields() {
        let container = [ld(1, b"web"), ld(2, b"r.io/web:v1"), ld(5, b""), ld(8, b"")].concat();
        let pod_spec = [ld(2, &container), ld(10, b""), varint(11, 0)].concat();
        let labels = ld(1, &[ld(1, b"app"), ld(2, b"web")].concat());
        let template = [ld(1, &ld(11, &[ld(1, b"app"), ld(2, b"web")].concat())), ld(2, &pod_spec)];
        let spec = [varint(1, 2), ld(2, &labels), ld(3, &template.concat())].concat();
        let raw = [ld(1, &ld(1, b"web")), ld(2, &spec)].concat();
        let d = decode("apps/v1", "Deployment", &DEPLOYMENT_SPEC, &raw).unwrap();
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!((c["name"].as_str(), c["image"].as_str()), (Some("web"), Some("r.io/web:v1")));
        assert!(c.get("workingDir").is_none() && d["spec"]["template"]["spec"].get("nodeName").is_none());
        let odd = [ld(1, &ld(1, b"web")), ld(2, &ld(8, b"x"))].concat();
        let e = decode("apps/v1", "Deployment", &DEPLOYMENT_SPEC, &odd).unwrap_err();
        assert_eq!(e.code, 415);
        assert!(e.message.contains("field 8 of DeploymentSpec"), "{}", e.message);
    }
}
