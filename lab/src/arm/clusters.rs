//! `Microsoft.ContainerService/managedClusters` GET (azure-rest.md §4): the cluster with
//! `identityProfile.kubeletidentity`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{ArmError, ArmResult, Ctx, json_response, method_not_allowed, unknown_path};
use crate::state::State;

const KIND: &str = "Microsoft.ContainerService/managedClusters";

/// `segs`: `[Microsoft.ContainerService, managedClusters, {name}]`.
pub(super) fn route(state: &mut State, ctx: &Ctx, segs: &[&str]) -> ArmResult {
    let (kind, name) = match segs {
        [_, kind, name] => (kind, name),
        [_, kind, name, action] if action.eq_ignore_ascii_case("listClusterUserCredential") => {
            return list_user_credential(state, ctx, kind, name);
        }
        _ => return Err(unknown_path(ctx)),
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
                "oidcIssuerProfile": {
                    "enabled": true,
                    "issuerURL": crate::entra::workload::issuer_url(state),
                },
                "securityProfile": { "workloadIdentity": { "enabled": true } },
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

/// `POST …/managedClusters/{name}/listClusterUserCredential` (what `az aks
/// get-credentials` calls): the lab API server's kubeconfig, base64, as `clusterUser`.
fn list_user_credential(state: &State, ctx: &Ctx, kind: &str, name: &str) -> ArmResult {
    let w = &state.world;
    if !kind.eq_ignore_ascii_case("managedClusters") {
        return Err(unknown_path(ctx));
    }
    if !name.eq_ignore_ascii_case(&w.cluster.name) {
        return Err(ArmError::resource_not_found(KIND, name, &w.resource_group));
    }
    if ctx.method != Method::POST {
        return Err(method_not_allowed(ctx));
    }
    let id = w.cluster_id();
    ctx.authorize(
        state,
        &id,
        "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
    )?;
    use base64::Engine as _;
    let kubeconfig = state.cluster_user_kubeconfig.clone().unwrap_or_default();
    let value = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
    Ok(json_response(
        StatusCode::OK,
        json!({ "kubeconfigs": [ { "name": "clusterUser", "value": value } ] }),
    ))
}
