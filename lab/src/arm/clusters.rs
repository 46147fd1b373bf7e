//! `Microsoft.ContainerService/managedClusters` GET (azure-rest.md §4): the cluster with
//! `identityProfile.kubeletidentity`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{ArmError, ArmResult, Ctx, json_response, method_not_allowed, unknown_path};
use crate::state::State;

const KIND: &str = "Microsoft.ContainerService/managedClusters";

/// `segs`: `[Microsoft.ContainerService, managedClusters, {name}]`.
pub(super) fn route(state: &mut State, ctx: &Ctx, segs: &[&str]) -> ArmResult {
    let [_, kind, name] = segs else {
        return Err(unknown_path(ctx));
    };
    if !kind.eq_ignore_ascii_case("managedClusters") {
        return Err(unknown_path(ctx));
    }
    let w = &state.world;
    if !name.eq_ignore_ascii_case(&w.cluster.name) {
        return Err(ArmError::resource_not_found(KIND, name, &w.resource_group));
    }
    if ctx.method != Method::GET {
        return Err(method_not_allowed(ctx));
    }
    let id = w.cluster_id();
    ctx.authorize(state, &id, "Microsoft.ContainerService/managedClusters/read")?;
    let k = &w.cluster.kubelet_identity;
    Ok(json_response(
        StatusCode::OK,
        json!({
            "id": id,
            "name": w.cluster.name,
            "type": KIND,
            "location": w.location,
            "sku": { "name": "Base", "tier": "Free" },
            "identity": {
                "type": "SystemAssigned",
                "principalId": "00000000-0000-4000-8000-00000000c0c0",
                "tenantId": w.tenant_id,
            },
            "properties": {
                "provisioningState": "Succeeded",
                "powerState": { "code": "Running" },
                "kubernetesVersion": "1.33.2",
                "currentKubernetesVersion": "1.33.2",
                "dnsPrefix": w.cluster.name,
                "fqdn": format!("{}-lab.hcp.{}.azmk8s.io", w.cluster.name, w.location),
                "nodeResourceGroup": w.cluster.node_resource_group,
                "servicePrincipalProfile": { "clientId": "msi" },
                "agentPoolProfiles": [ {
                    "name": "nodepool1", "count": w.cluster.nodes.len(), "vmSize": "Standard_D2s_v5",
                    "osType": "Linux", "mode": "System", "type": "VirtualMachineScaleSets",
                    "provisioningState": "Succeeded",
                } ],
                "identityProfile": {
                    "kubeletidentity": {
                        "resourceId": k.resource_id,
                        "clientId": k.client_id,
                        "objectId": k.object_id,
                    }
                },
                "enableRBAC": true,
            }
        }),
    ))
}
