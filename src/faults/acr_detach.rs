//! acr-detach: what `az aks update --detach-acr` does — delete the kubelet identity's
//! AcrPull assignment(s) at the registry scope (inherited ones are kept). Undo:
//! re-create each under its original name and properties (guide sample 1).
//! Expected cause: `unauthorized-anonymous`.

use super::permissions::{Need, role_assignment_delete_needs};
use super::role_assignment_delete::{delete_assignments, find_assignments};
use super::{Ctx, Env, Fault, FaultError, Lock, Undo};
use crate::clients::arm::ACR_PULL_ROLE;
use crate::scenario::FaultKind;
use async_trait::async_trait;

#[derive(Debug)]
pub struct AcrDetach {
    /// ARM id of the registry to detach (`registry:` alias resolved); `None`: the
    /// target's registry.
    pub registry_id: Option<String>,
}

impl AcrDetach {
    fn registry<'a>(&'a self, env: &'a Env) -> &'a str {
        self.registry_id.as_deref().unwrap_or(&env.registry_id)
    }
}

#[async_trait]
impl Fault for AcrDetach {
    fn kind(&self) -> FaultKind {
        FaultKind::AcrDetach
    }
    fn locks(&self, env: &Env) -> Vec<Lock> {
        let mut l = vec![Lock::Registry(self.registry(env).to_ascii_lowercase())];
        if let Some(k) = &env.kubelet_object_id {
            l.push(Lock::Identity(k.to_ascii_lowercase()));
        }
        l
    }
    fn arm_ids(&self, env: &Env) -> Vec<String> {
        vec![self.registry(env).to_owned()]
    }
    fn required_permissions(&self, env: &Env) -> Vec<Need> {
        role_assignment_delete_needs(&env.registry_id)
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        vec![format!(
            "DELETE {}/providers/Microsoft.Authorization/roleAssignments/<each AcrPull assignment of the kubelet identity {} at the registry scope> (api-version 2022-04-01); undo: PUT the same name and properties",
            self.registry(env),
            env.kubelet_object_id.as_deref().unwrap_or("<from managedClusters GET>")
        )]
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        let kubelet = ctx.env.kubelet_object_id.clone().ok_or(FaultError::Precondition {
            fault: FaultKind::AcrDetach,
            message: "the kubelet identity of the cluster is unknown".into(),
        })?;
        let registry = self.registry(ctx.env);
        let found = find_assignments(ctx, registry, &kubelet, ACR_PULL_ROLE).await?;
        if found.is_empty() {
            return Err(FaultError::Precondition {
                fault: FaultKind::AcrDetach,
                message: format!(
                    "the registry is not attached: kubelet identity {kubelet} holds no AcrPull at {registry}"
                ),
            });
        }
        Ok(found)
    }
    async fn inject(&self, ctx: &Ctx<'_>, snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        delete_assignments(ctx, snapshot).await
    }
}
