//! Environment facts: what a run saw of its target before the first fault (Kubernetes
//! server version, each node's `nodeInfo` and AKS labels, the managed cluster's and the
//! registry's ARM settings). The engine observes them once ([`crate::engine::environment`])
//! and emits them as [`crate::events::EventKind::EnvironmentObserved`]; `report.json`
//! carries them as `environment`, and `acr-chaos diff` compares them ([`Environment::facts`]).
//!
//! Plain data; nothing here may hold a secret (only versions, SKUs and network settings
//! are read from ARM, never keys or credentials).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Node label with the AKS node image (`AKSUbuntu-2204gen2containerd-202511.07.0`).
pub const LABEL_NODE_IMAGE: &str = "kubernetes.azure.com/node-image-version";
/// Node labels naming the AKS agent pool (the first one present wins).
pub const LABELS_POOL: [&str; 2] = ["kubernetes.azure.com/agentpool", "agentpool"];

/// Everything the engine read about the target before the first fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// The API server's `/version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesFacts>,
    /// Every node, sorted by name.
    #[serde(default)]
    pub nodes: Vec<NodeFacts>,
    /// The managed cluster as ARM describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterFacts>,
    /// The target registry as ARM describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryFacts>,
    /// Facts that could not be read, one line each (`nodes: forbidden`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

/// The API server's version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesFacts {
    /// `gitVersion` (`v1.33.2`).
    pub server_version: String,
    /// `platform` (`linux/amd64`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
}

/// One node's `status.nodeInfo` and AKS labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeFacts {
    pub name: String,
    pub kubelet_version: String,
    /// `containerd://1.7.27-1`.
    pub container_runtime_version: String,
    pub os_image: String,
    pub kernel_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    /// The AKS agent pool (`agentpool` label), when the node has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// The AKS node image (`kubernetes.azure.com/node-image-version`), when labelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_image: Option<String>,
}

/// The managed cluster's versions (ARM `managedClusters` GET).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_kubernetes_version: Option<String>,
    /// `sku.tier` (`Free`, `Standard`, `Premium`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_tier: Option<String>,
    #[serde(default)]
    pub pools: Vec<PoolFacts>,
}

/// One agent pool profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolFacts {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_image_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
}

/// The registry's SKU and network settings (ARM `registries` GET).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_server: Option<String>,
    /// `sku.name` (`Basic`, `Standard`, `Premium`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    /// `networkRuleSet.defaultAction` (`Allow`, `Deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_default_action: Option<String>,
    /// How many `networkRuleSet.ipRules` there are.
    #[serde(default)]
    pub ip_rules: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_rule_bypass: Option<String>,
    #[serde(default)]
    pub private_endpoints: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_pull_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_endpoint_enabled: Option<bool>,
}

/// How important a fact is when it changes: versions first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FactGroup {
    Version,
    NodeImage,
    Registry,
    Other,
}

impl Environment {
    /// The facts as `name → value`, for comparing two runs. Node facts are grouped by
    /// pool (node names change when pools are re-imaged): each value lists the distinct
    /// values of the pool's nodes, sorted and joined with `, `.
    #[expect(clippy::too_many_lines, reason = "one line per fact, in the order reports show them")]
    pub fn facts(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        // the group is documentation at the call site; `fact_group` derives it from the key
        let mut put = |k: String, _g: FactGroup, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                out.insert(k, v);
            }
        };
        if let Some(k) = &self.kubernetes {
            put(
                "kubernetes.serverVersion".into(),
                FactGroup::Version,
                Some(k.server_version.clone()),
            );
        }
        for (pool, nodes) in self.nodes_by_pool() {
            let distinct = |f: fn(&NodeFacts) -> Option<String>| {
                let mut v: Vec<String> = nodes.iter().filter_map(|n| f(n)).collect();
                v.sort();
                v.dedup();
                (!v.is_empty()).then(|| v.join(", "))
            };
            let p = format!("nodes[{pool}]");
            use FactGroup::*;
            put(
                format!("{p}.kubeletVersion"),
                Version,
                distinct(|n| Some(n.kubelet_version.clone())),
            );
            put(
                format!("{p}.containerRuntimeVersion"),
                Version,
                distinct(|n| Some(n.container_runtime_version.clone())),
            );
            put(format!("{p}.nodeImage"), NodeImage, distinct(|n| n.node_image.clone()));
            put(format!("{p}.osImage"), NodeImage, distinct(|n| Some(n.os_image.clone())));
            put(
                format!("{p}.kernelVersion"),
                NodeImage,
                distinct(|n| Some(n.kernel_version.clone())),
            );
            put(format!("{p}.count"), Other, Some(nodes.len().to_string()));
        }
        if let Some(c) = &self.cluster {
            put(
                "cluster.kubernetesVersion".into(),
                FactGroup::Version,
                c.kubernetes_version.clone(),
            );
            put(
                "cluster.currentKubernetesVersion".into(),
                FactGroup::Version,
                c.current_kubernetes_version.clone(),
            );
            put("cluster.skuTier".into(), FactGroup::Other, c.sku_tier.clone());
            for p in &c.pools {
                let k = format!("cluster.pools[{}]", p.name);
                put(
                    format!("{k}.orchestratorVersion"),
                    FactGroup::Version,
                    p.orchestrator_version.clone(),
                );
                put(
                    format!("{k}.nodeImageVersion"),
                    FactGroup::NodeImage,
                    p.node_image_version.clone(),
                );
                put(format!("{k}.osSku"), FactGroup::NodeImage, p.os_sku.clone());
                put(format!("{k}.vmSize"), FactGroup::Other, p.vm_size.clone());
            }
        }
        if let Some(r) = &self.registry {
            use FactGroup::Registry as R;
            put("registry.sku".into(), R, r.sku.clone());
            put("registry.publicNetworkAccess".into(), R, r.public_network_access.clone());
            put("registry.networkDefaultAction".into(), R, r.network_default_action.clone());
            put("registry.ipRules".into(), R, Some(r.ip_rules.to_string()));
            put("registry.networkRuleBypass".into(), R, r.network_rule_bypass.clone());
            put("registry.privateEndpoints".into(), R, Some(r.private_endpoints.to_string()));
            put(
                "registry.anonymousPullEnabled".into(),
                R,
                r.anonymous_pull_enabled.map(|b| b.to_string()),
            );
            put(
                "registry.dataEndpointEnabled".into(),
                R,
                r.data_endpoint_enabled.map(|b| b.to_string()),
            );
        }
        out
    }

    fn nodes_by_pool(&self) -> BTreeMap<String, Vec<&NodeFacts>> {
        let mut m: BTreeMap<String, Vec<&NodeFacts>> = BTreeMap::new();
        for n in &self.nodes {
            m.entry(n.pool.clone().unwrap_or_else(|| "-".into())).or_default().push(n);
        }
        m
    }
}

/// The group of a fact named by [`Environment::facts`]: versions sort first.
pub fn fact_group(key: &str) -> FactGroup {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    if key.starts_with("registry.") {
        FactGroup::Registry
    } else if matches!(
        leaf,
        "nodeImage" | "nodeImageVersion" | "osImage" | "kernelVersion" | "osSku"
    ) {
        FactGroup::NodeImage
    } else if leaf.ends_with("Version") {
        FactGroup::Version
    } else {
        FactGroup::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, pool: &str, kubelet: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            kubelet_version: kubelet.into(),
            container_runtime_version: "containerd://1.7.27".into(),
            os_image: "Ubuntu 22.04.5 LTS".into(),
            kernel_version: "5.15.0-1089-azure".into(),
            pool: Some(pool.into()),
            ..NodeFacts::default()
        }
    }

    #[test]
    fn node_facts_are_grouped_by_pool_not_by_node_name() {
        let a = Environment {
            nodes: vec![node("aks-np1-1-vmss000000", "np1", "v1.32.4")],
            ..Environment::default()
        };
        let b = Environment {
            nodes: vec![node("aks-np1-1-vmss000007", "np1", "v1.32.4")],
            ..Environment::default()
        };
        assert_eq!(a.facts(), b.facts());
        let mixed = Environment {
            nodes: vec![node("x", "np1", "v1.33.1"), node("y", "np1", "v1.32.4")],
            ..Environment::default()
        };
        assert_eq!(mixed.facts()["nodes[np1].kubeletVersion"], "v1.32.4, v1.33.1");
        assert_eq!(fact_group("nodes[np1].kubeletVersion"), FactGroup::Version);
        assert_eq!(fact_group("cluster.pools[np1].nodeImageVersion"), FactGroup::NodeImage);
        assert_eq!(fact_group("registry.sku"), FactGroup::Registry);
    }
}
