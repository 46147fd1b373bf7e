//! Observe the target's environment once, before the first fault: the API server's
//! version, every node's `nodeInfo` and AKS labels, and the managed cluster's and the
//! registry's ARM settings. A fact that cannot be read is listed in
//! [`Environment::unavailable`]; observing never fails a run.

use super::connect::Connected;
use crate::environment::{
    ClusterFacts, Environment, KubernetesFacts, LABEL_NODE_IMAGE, LABELS_POOL, NodeFacts,
    PoolFacts, RegistryFacts,
};
use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

/// Read the environment of the target behind `c` (`registry_id`, `cluster_id`: ARM ids).
pub async fn observe(c: &Connected, registry_id: &str, cluster_id: &str) -> Environment {
    // Four independent reads: asked at once, they cost one round trip, not four.
    let (info, nodes, cluster, registry) = tokio::join!(
        c.kube.server_info(),
        c.kube.list_nodes(),
        c.arm.get_managed_cluster(cluster_id),
        c.arm.get_registry(registry_id),
    );
    let mut env = Environment::default();
    match info {
        Ok(i) => {
            env.kubernetes =
                Some(KubernetesFacts { server_version: i.git_version, platform: i.platform })
        }
        Err(e) => env.unavailable.push(format!("kubernetes version: {e}")),
    }
    match nodes {
        Ok(nodes) => {
            env.nodes = nodes.iter().map(node_facts).collect();
            env.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Err(e) => env.unavailable.push(format!("nodes: {e}")),
    }
    match cluster {
        Ok(v) => env.cluster = Some(cluster_facts(&v)),
        Err(e) => env.unavailable.push(format!("managed cluster: {e}")),
    }
    match registry {
        Ok(v) => env.registry = Some(registry_facts(&v)),
        Err(e) => env.unavailable.push(format!("registry: {e}")),
    }
    env
}

/// A node's `nodeInfo`, pool and node image.
pub fn node_facts(n: &Node) -> NodeFacts {
    let info = n.status.as_ref().and_then(|s| s.node_info.as_ref());
    let labels = n.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).cloned();
    NodeFacts {
        name: n.metadata.name.clone().unwrap_or_default(),
        kubelet_version: info.map(|i| i.kubelet_version.clone()).unwrap_or_default(),
        container_runtime_version: info
            .map(|i| i.container_runtime_version.clone())
            .unwrap_or_default(),
        os_image: info.map(|i| i.os_image.clone()).unwrap_or_default(),
        kernel_version: info.map(|i| i.kernel_version.clone()).unwrap_or_default(),
        architecture: info.map(|i| i.architecture.clone()).unwrap_or_default(),
        pool: LABELS_POOL.iter().find_map(|k| label(k)),
        node_image: label(LABEL_NODE_IMAGE),
    }
}

fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(Value::as_str).map(str::to_string)
}

/// Versions and pools of a `managedClusters` GET.
pub fn cluster_facts(v: &Value) -> ClusterFacts {
    let pools = v
        .pointer("/properties/agentPoolProfiles")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| PoolFacts {
                    name: str_at(p, "/name").unwrap_or_default(),
                    orchestrator_version: str_at(p, "/currentOrchestratorVersion")
                        .or_else(|| str_at(p, "/orchestratorVersion")),
                    node_image_version: str_at(p, "/nodeImageVersion"),
                    os_sku: str_at(p, "/osSKU"),
                    vm_size: str_at(p, "/vmSize"),
                })
                .collect()
        })
        .unwrap_or_default();
    ClusterFacts {
        kubernetes_version: str_at(v, "/properties/kubernetesVersion"),
        current_kubernetes_version: str_at(v, "/properties/currentKubernetesVersion"),
        sku_tier: str_at(v, "/sku/tier"),
        pools,
    }
}

/// SKU and network settings of a `registries` GET (nothing else: no keys, no tokens).
pub fn registry_facts(v: &Value) -> RegistryFacts {
    let count = |p: &str| v.pointer(p).and_then(Value::as_array).map_or(0, Vec::len);
    RegistryFacts {
        login_server: str_at(v, "/properties/loginServer"),
        sku: str_at(v, "/sku/name"),
        public_network_access: str_at(v, "/properties/publicNetworkAccess"),
        network_default_action: str_at(v, "/properties/networkRuleSet/defaultAction"),
        ip_rules: count("/properties/networkRuleSet/ipRules"),
        network_rule_bypass: str_at(v, "/properties/networkRuleBypassOptions"),
        private_endpoints: count("/properties/privateEndpointConnections"),
        anonymous_pull_enabled: v
            .pointer("/properties/anonymousPullEnabled")
            .and_then(Value::as_bool),
        data_endpoint_enabled: v
            .pointer("/properties/dataEndpointEnabled")
            .and_then(Value::as_bool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_aks_shapes() {
        let cluster = json!({"sku": {"tier": "Standard"}, "properties": {
            "kubernetesVersion": "1.32", "currentKubernetesVersion": "1.32.4",
            "agentPoolProfiles": [{"name": "np1", "orchestratorVersion": "1.32",
              "currentOrchestratorVersion": "1.32.4",
              "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202511.07.0", "osSKU": "Ubuntu"}]}});
        let c = cluster_facts(&cluster);
        assert_eq!(c.current_kubernetes_version.as_deref(), Some("1.32.4"));
        assert_eq!(c.pools[0].orchestrator_version.as_deref(), Some("1.32.4"));
        let reg = json!({"sku": {"name": "Premium"}, "properties": {"publicNetworkAccess": "Enabled",
            "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"value": "1.2.3.4"}]}}});
        let r = registry_facts(&reg);
        assert_eq!((r.sku.as_deref(), r.ip_rules), (Some("Premium"), 1));
        assert_eq!(r.network_default_action.as_deref(), Some("Deny"));
    }
}
