//! Pod status as the kubelet reports it, built from the worker's per-container state.
//! Nothing is executed: a container whose image was pulled is reported `running`.

use serde_json::{Value, json};

/// One container's state, as the worker tracks it.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    /// Init containers "complete" once their image is there.
    Terminated {
        reason: String,
        started_at: String,
        finished_at: String,
    },
}

/// A container slot of the pod spec.
#[derive(Debug, Clone)]
pub struct Slot {
    pub name: String,
    /// The image exactly as written in the spec.
    pub image: String,
    pub init: bool,
    pub policy: PullPolicy,
    pub state: ContainerState,
    /// `<repo>@sha256:…` once pulled.
    pub image_id: String,
    pub container_id: String,
}

impl Slot {
    pub fn field_path(&self) -> String {
        if self.init {
            format!("spec.initContainers{{{}}}", self.name)
        } else {
            format!("spec.containers{{{}}}", self.name)
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, ContainerState::Running { .. } | ContainerState::Terminated { .. })
    }
}

/// `imagePullPolicy`, defaulted as the API server does (`Always` for `:latest` or no tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn from_spec(value: Option<&str>, image: &str) -> PullPolicy {
        match value {
            Some("Always") => PullPolicy::Always,
            Some("IfNotPresent") => PullPolicy::IfNotPresent,
            Some("Never") => PullPolicy::Never,
            _ => {
                let last = image.rsplit('/').next().unwrap_or(image);
                let tag =
                    if image.contains('@') { None } else { last.split_once(':').map(|(_, t)| t) };
                match tag {
                    None | Some("latest") if !image.contains('@') => PullPolicy::Always,
                    _ => PullPolicy::IfNotPresent,
                }
            }
        }
    }
}

/// Slots for a pod spec: init containers, then containers.
pub fn slots_of(pod: &Value) -> Vec<Slot> {
    let mut out = Vec::new();
    for (field, init) in [("initContainers", true), ("containers", false)] {
        for c in
            pod.pointer(&format!("/spec/{field}")).and_then(Value::as_array).into_iter().flatten()
        {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
            out.push(Slot {
                name: c.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                policy: PullPolicy::from_spec(
                    c.get("imagePullPolicy").and_then(Value::as_str),
                    &image,
                ),
                image,
                init,
                state: ContainerState::Waiting {
                    reason: "ContainerCreating".into(),
                    message: None,
                },
                image_id: String::new(),
                container_id: String::new(),
            });
        }
    }
    out
}

fn state_json(s: &ContainerState) -> Value {
    match s {
        ContainerState::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        ContainerState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        ContainerState::Terminated { reason, started_at, finished_at } => json!({"terminated": {
            "exitCode": 0, "reason": reason, "startedAt": started_at, "finishedAt": finished_at,
        }}),
    }
}

fn container_status(s: &Slot) -> Value {
    let running = matches!(s.state, ContainerState::Running { .. });
    let mut v = json!({
        "name": s.name,
        "state": state_json(&s.state),
        "lastState": {},
        "ready": running,
        "restartCount": 0,
        "image": s.image,
        "imageID": s.image_id,
        "started": running,
    });
    if !s.container_id.is_empty() {
        v["containerID"] = json!(s.container_id);
    }
    v
}

fn condition(
    ty: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: &str,
) -> Value {
    let mut c = json!({
        "type": ty,
        "status": if ok { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": now,
    });
    if !ok {
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
    }
    c
}

/// Keep `lastTransitionTime` of conditions whose status did not change.
fn keep_transitions(new: &mut [Value], old: Option<&Value>) {
    let Some(old) = old.and_then(|s| s.get("conditions")).and_then(Value::as_array) else { return };
    for c in new.iter_mut() {
        if let Some(o) = old.iter().find(|o| o["type"] == c["type"] && o["status"] == c["status"]) {
            c["lastTransitionTime"] = o["lastTransitionTime"].clone();
        }
    }
}

/// Network identity of the pod (made up; nothing is networked).
#[derive(Debug, Clone)]
pub struct PodNet {
    pub host_ip: String,
    pub pod_ip: String,
}

/// The full `status` of a pod.
pub fn pod_status(
    slots: &[Slot],
    net: &PodNet,
    start_time: &str,
    now: &str,
    old: Option<&Value>,
) -> Value {
    let unready: Vec<&str> =
        slots.iter().filter(|s| !s.init && !s.is_done()).map(|s| s.name.as_str()).collect();
    let uninit: Vec<&str> =
        slots.iter().filter(|s| s.init && !s.is_done()).map(|s| s.name.as_str()).collect();
    let all_running = unready.is_empty() && slots.iter().any(|s| !s.init);
    // Every container exited 0 (a Job's pod): Succeeded, not ready with PodCompleted.
    let succeeded = all_running
        && slots
            .iter()
            .filter(|s| !s.init)
            .all(|s| matches!(s.state, ContainerState::Terminated { .. }));
    // Go prints a []string as [a b].
    let unready_msg = format!("containers with unready status: [{}]", unready.join(" "));
    let (ready, not_ready_reason, not_ready_msg) = if succeeded {
        (false, "PodCompleted", None)
    } else {
        (all_running, "ContainersNotReady", Some(unready_msg))
    };
    let mut conditions = vec![
        condition("PodReadyToStartContainers", !succeeded, None, None, now),
        condition(
            "Initialized",
            uninit.is_empty(),
            Some("ContainersNotInitialized"),
            Some(format!("containers with incomplete status: [{}]", uninit.join(" "))),
            now,
        ),
        condition("Ready", ready, Some(not_ready_reason), not_ready_msg.clone(), now),
        condition("ContainersReady", ready, Some(not_ready_reason), not_ready_msg, now),
        condition("PodScheduled", true, None, None, now),
    ];
    keep_transitions(&mut conditions, old);
    let mut status = json!({
        "phase": match (succeeded, all_running) {
            (true, _) => "Succeeded",
            (false, true) => "Running",
            _ => "Pending",
        },
        "conditions": conditions,
        "hostIP": net.host_ip,
        "hostIPs": [{"ip": net.host_ip}],
        "podIP": net.pod_ip,
        "podIPs": [{"ip": net.pod_ip}],
        "startTime": start_time,
        "qosClass": "BestEffort",
        "containerStatuses": slots.iter().filter(|s| !s.init).map(container_status).collect::<Vec<_>>(),
    });
    let init: Vec<Value> = slots.iter().filter(|s| s.init).map(container_status).collect();
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_defaults_like_the_api_server() {
        assert_eq!(PullPolicy::from_spec(None, "a.io/x"), PullPolicy::Always);
        assert_eq!(PullPolicy::from_spec(None, "a.io/x:latest"), PullPolicy::Always);
        assert_eq!(PullPolicy::from_spec(None, "a.io:5000/x"), PullPolicy::Always);
        assert_eq!(PullPolicy::from_spec(None, "a.io/x:v1"), PullPolicy::IfNotPresent);
        assert_eq!(PullPolicy::from_spec(None, "a.io/x@sha256:00"), PullPolicy::IfNotPresent);
        assert_eq!(PullPolicy::from_spec(Some("Never"), "a.io/x"), PullPolicy::Never);
    }

    #[test]
    fn pending_with_waiting_reason_then_running() {
        let pod = json!({"spec": {"containers": [{"name": "c", "image": "a.io/x:v1"}], "initContainers": [{"name": "i", "image": "a.io/y:v1"}]}});
        let mut slots = slots_of(&pod);
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0].field_path(), "spec.initContainers{i}");
        assert_eq!(slots[1].field_path(), "spec.containers{c}");
        let net = PodNet { host_ip: "10.224.0.4".into(), pod_ip: "10.244.0.9".into() };
        slots[1].state =
            ContainerState::Waiting { reason: "ErrImagePull".into(), message: Some("boom".into()) };
        let st = pod_status(&slots, &net, "t0", "t1", None);
        assert_eq!(st["phase"], "Pending");
        assert_eq!(st["containerStatuses"][0]["state"]["waiting"]["reason"], "ErrImagePull");
        assert_eq!(st["containerStatuses"][0]["state"]["waiting"]["message"], "boom");
        assert_eq!(st["conditions"][2]["message"], "containers with unready status: [c]");
        assert_eq!(st["conditions"][1]["status"], "False");
        slots[0].state = ContainerState::Terminated {
            reason: "Completed".into(),
            started_at: "t".into(),
            finished_at: "t".into(),
        };
        slots[1].state = ContainerState::Running { started_at: "t2".into() };
        let st2 = pod_status(&slots, &net, "t0", "t2", Some(&st));
        assert_eq!(st2["phase"], "Running");
        assert_eq!(st2["containerStatuses"][0]["ready"], true);
        assert_eq!(st2["conditions"][2]["status"], "True");
        // Unchanged conditions keep their transition time.
        assert_eq!(st2["conditions"][0]["lastTransitionTime"], "t1");
        assert_eq!(st2["conditions"][2]["lastTransitionTime"], "t2");
    }
}
