//! Node registration, as a real kubelet does at start (`pkg/kubelet/kubelet_node_status.go`
//! `registerWithAPIServer`; `nodestatus.NodeInfo` fills `status.nodeInfo` from cAdvisor's
//! machine info and the runtime's CRI `Version`): one Node object per emulated node.
//!
//! What the lab runs for real is reported as it is: the container runtime version comes
//! from containerd's CRI `Version` answer (`containerd://<version>`, the kubelet's own
//! format), the OS image from the host's `/etc/os-release` and the kernel from
//! `/proc/sys/kernel/osrelease` (containerd runs on this host). The kubelet version is
//! what the emulator claims to be.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::NodeConfig;
use crate::kube::{ApiError, Kind, SharedStore};

/// `status.nodeInfo` fields the emulator fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `kubeletVersion` (and `kubeProxyVersion`): what the emulator claims (`v1.33.2`).
    pub kubelet_version: String,
    /// `containerRuntimeVersion`: `<runtimeName>://<runtimeVersion>` from CRI `Version`.
    pub container_runtime_version: String,
    /// `osImage`: the host's `PRETTY_NAME`.
    pub os_image: String,
    /// `kernelVersion`: the host's kernel release.
    pub kernel_version: String,
    pub architecture: String,
}

impl NodeInfo {
    /// The host's facts, the runtime's CRI `Version` answer, and the claimed kubelet version.
    pub fn host(kubelet_version: &str, runtime_name: &str, runtime_version: &str) -> NodeInfo {
        NodeInfo {
            kubelet_version: kubelet_version.to_string(),
            container_runtime_version: format!("{runtime_name}://{runtime_version}"),
            os_image: os_image(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
            kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            architecture: go_arch().to_string(),
        }
    }
}

/// `PRETTY_NAME` of an os-release file (cAdvisor's source for `osImage`), else `Linux`.
fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "Linux".to_string())
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The Node object a kubelet registers for `node`.
pub fn node_object(node: &NodeConfig, info: &NodeInfo) -> Value {
    let mut labels: BTreeMap<String, String> = node.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), node.name.clone());
    labels.entry("kubernetes.io/arch".into()).or_insert_with(|| info.architecture.clone());
    labels.entry("kubernetes.io/os".into()).or_insert_with(|| "linux".into());
    let now = super::now_ts();
    json!({
        "metadata": { "name": node.name, "labels": labels },
        "spec": {},
        "status": {
            "addresses": [
                { "type": "InternalIP", "address": node.host_ip },
                { "type": "Hostname", "address": node.name },
            ],
            "conditions": conditions(&now),
            "capacity": host_capacity(),
            "allocatable": host_capacity(),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "kubeletVersion": info.kubelet_version,
                "kubeProxyVersion": info.kubelet_version,
                "containerRuntimeVersion": info.container_runtime_version,
                "osImage": info.os_image,
                "kernelVersion": info.kernel_version,
                "operatingSystem": "linux",
                "architecture": info.architecture,
                "machineID": read_trimmed("/etc/machine-id"),
                "systemUUID": read_trimmed("/sys/class/dmi/id/product_uuid"),
                "bootID": read_trimmed("/proc/sys/kernel/random/boot_id"),
            },
        },
    })
}

/// The four conditions a healthy kubelet posts (`nodestatus` setters), in its order.
fn conditions(now: &str) -> Value {
    let c = |ty: &str, status: &str, reason: &str, message: &str| {
        json!({"type": ty, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!([
        c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        c("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ])
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The host's CPUs and memory (cAdvisor's machine info), 110 pods (the kubelet default).
fn host_capacity() -> Value {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mem_kib = read_trimmed("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    json!({"cpu": cpus.to_string(), "memory": format!("{mem_kib}Ki"), "pods": "110"})
}

/// Register every node (an existing Node of the same name is replaced, as a restarted
/// kubelet updates its status).
pub fn register(
    store: &SharedStore,
    nodes: &[NodeConfig],
    info: &NodeInfo,
) -> Result<(), ApiError> {
    for n in nodes {
        let _ = store.delete(&Kind::Node, None, &n.name);
        store.create(&Kind::Node, None, node_object(n, info))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_image_is_the_pretty_name() {
        let rel = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(os_image(rel), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(os_image(""), "Linux");
    }

    #[test]
    fn node_carries_node_info_and_labels() {
        let info = NodeInfo::host("v1.33.2", "containerd", "1.6.20~ds1");
        assert_eq!(info.container_runtime_version, "containerd://1.6.20~ds1");
        let n = node_object(&NodeConfig::aks("aks-nodepool1-0", 0), &info);
        assert_eq!(n["status"]["nodeInfo"]["kubeletVersion"], "v1.33.2");
        assert_eq!(n["status"]["nodeInfo"]["containerRuntimeVersion"], "containerd://1.6.20~ds1");
        assert_eq!(n["metadata"]["labels"]["agentpool"], "nodepool1");
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/hostname"], "aks-nodepool1-0");
        let types: Vec<&str> = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]);
        assert!(n["status"]["capacity"]["memory"].as_str().unwrap().ends_with("Ki"));
    }
}
