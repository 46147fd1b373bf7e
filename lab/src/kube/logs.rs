//! `pods/log`: the API server's checks (`LogLocation`: container choice, host assigned)
//! then the kubelet's (`validateContainerLogStatus`), with their exact messages as 400
//! BadRequest. The kubelet emulator executes nothing, so a started container's log is
//! empty: a real answer for a container that printed nothing.

use std::collections::HashMap;

use serde_json::Value;

use super::error::ApiError;

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Go prints a `[]string` as `[a b]`.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// The container whose log is asked for (the API server's choice and checks).
fn container(pod: &Value, q: &HashMap<String, String>) -> Result<String, ApiError> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
    let (containers, init) = (names(pod, "containers"), names(pod, "initContainers"));
    let chosen = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut m = format!(
                "a container name must be specified for pod {pod_name}, choose one of: {}",
                go_list(&containers)
            );
            if !init.is_empty() {
                m.push_str(&format!(" or one of the init containers: {}", go_list(&init)));
            }
            return Err(ApiError::bad_request(m));
        }
    };
    if !containers.contains(&chosen) && !init.contains(&chosen) {
        return Err(ApiError::bad_request(format!(
            "container {chosen} is not valid for pod {pod_name}"
        )));
    }
    if pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(format!("pod {pod_name} does not have a host assigned")));
    }
    Ok(chosen)
}

/// The kubelet's `validateContainerLogStatus` on the pod's reported status.
fn kubelet_check(pod: &Value, name: &str, previous: bool) -> Result<(), ApiError> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/status/{f}")).and_then(Value::as_array))
        .flatten()
        .find(|c| c["name"] == name);
    let bad = |m: String| Err(ApiError::bad_request(m));
    let Some(cs) = status else {
        return bad(format!("container {name:?} in pod {pod_name:?} is not available"));
    };
    let last_terminated = cs.pointer("/lastState/terminated");
    let state = &cs["state"];
    if previous {
        if last_terminated.and_then(|t| t["containerID"].as_str()).unwrap_or("").is_empty() {
            return bad(format!(
                "previous terminated container {name:?} in pod {pod_name:?} not found"
            ));
        }
        return Ok(());
    }
    if state.get("running").is_some() || state.get("terminated").is_some() {
        return Ok(());
    }
    if last_terminated.is_some() {
        return Ok(());
    }
    match state.pointer("/waiting/reason").and_then(Value::as_str) {
        Some("ErrImagePull") => bad(format!(
            "container {name:?} in pod {pod_name:?} is waiting to start: image can't be pulled"
        )),
        Some("ImagePullBackOff") => bad(format!(
            "container {name:?} in pod {pod_name:?} is waiting to start: trying and failing to pull image"
        )),
        Some(reason) => {
            bad(format!("container {name:?} in pod {pod_name:?} is waiting to start: {reason}"))
        }
        None => bad(format!(
            "container {name:?} in pod {pod_name:?} is waiting to start - no logs yet"
        )),
    }
}

/// The log text of a pod's container (`GET .../pods/<name>/log`), or the error the real
/// API server answers.
pub fn pod_log(pod: &Value, q: &HashMap<String, String>) -> Result<String, ApiError> {
    let name = container(pod, q)?;
    let previous = q.get("previous").is_some_and(|v| v == "true" || v == "1");
    kubelet_check(pod, &name, previous)?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(waiting: &str) -> Value {
        json!({"metadata": {"name": "web-1"}, "spec": {"nodeName": "n0",
            "containers": [{"name": "web"}, {"name": "side"}], "initContainers": [{"name": "init"}]},
            "status": {"containerStatuses": [
                {"name": "web", "state": {"waiting": {"reason": waiting}}},
                {"name": "side", "state": {"running": {}}}]}})
    }

    fn q(c: &str) -> HashMap<String, String> {
        HashMap::from([("container".to_string(), c.to_string())])
    }

    #[test]
    fn messages_are_the_kubelets() {
        let e = pod_log(&pod("ImagePullBackOff"), &q("web")).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "container \"web\" in pod \"web-1\" is waiting to start: trying and failing to pull image"
        );
        let e = pod_log(&pod("ErrImagePull"), &q("web")).unwrap_err();
        assert!(e.message.ends_with("is waiting to start: image can't be pulled"));
        let e = pod_log(&pod("ContainerCreating"), &q("web")).unwrap_err();
        assert!(e.message.ends_with("is waiting to start: ContainerCreating"));
        assert_eq!(pod_log(&pod("x"), &q("side")).unwrap(), "");
        let e = pod_log(&pod("x"), &HashMap::new()).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod web-1, choose one of: [web side] or one of the init containers: [init]"
        );
        let e = pod_log(&pod("x"), &q("nope")).unwrap_err();
        assert_eq!(e.message, "container nope is not valid for pod web-1");
        let mut unbound = pod("x");
        unbound["spec"]["nodeName"] = json!(null);
        let e = pod_log(&unbound, &q("side")).unwrap_err();
        assert_eq!(e.message, "pod web-1 does not have a host assigned");
    }
}
