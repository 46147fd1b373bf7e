//! acr-detach: what `az aks update --detach-acr` does — delete the kubelet identity's
//! AcrPull assignment(s) at the registry scope (inherited ones are kept). Undo:
//! re-create each under its original name and properties (guide sample 1).
//! Expected cause: `unauthorized-anonymous`.

use super::role_assignment_delete::{delete_assignments, find_assignments};
use super::{Ctx, Env, Fault, FaultError, Lock, Undo};
use crate::clients::arm::ACR_PULL_ROLE;
use async_trait::async_trait;

pub struct AcrDetach;

#[async_trait]
impl Fault for AcrDetach {
    fn kind(&self) -> &'static str {
        "acr-detach"
    }
    fn locks(&self, env: &Env) -> Vec<Lock> {
        let mut l = vec![Lock::Registry(env.registry_id.to_ascii_lowercase())];
        if let Some(k) = &env.kubelet_object_id {
            l.push(Lock::Identity(k.to_ascii_lowercase()));
        }
        l
    }
    fn arm_ids(&self, env: &Env) -> Vec<String> {
        vec![env.registry_id.clone()]
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        vec![format!(
            "DELETE {}/providers/Microsoft.Authorization/roleAssignments/<each AcrPull assignment of the kubelet identity {} at the registry scope> (api-version 2022-04-01); undo: PUT the same name and properties",
            env.registry_id,
            env.kubelet_object_id.as_deref().unwrap_or("<from managedClusters GET>")
        )]
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        let kubelet = ctx.env.kubelet_object_id.clone().ok_or(FaultError::Precondition {
            fault: "acr-detach",
            message: "the kubelet identity of the cluster is unknown".into(),
        })?;
        let found = find_assignments(ctx, &ctx.env.registry_id, &kubelet, ACR_PULL_ROLE).await?;
        if found.is_empty() {
            return Err(FaultError::Precondition {
                fault: "acr-detach",
                message: format!(
                    "the registry is not attached: kubelet identity {kubelet} holds no AcrPull at {}",
                    ctx.env.registry_id
                ),
            });
        }
        Ok(found)
    }
    async fn inject(&self, ctx: &Ctx<'_>, snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        delete_assignments(ctx, snapshot).await
    }
}
