//! role-assignment-delete: delete a chosen assignment (principal, role, scope: registry,
//! resource group, subscription or an ARM id). Undo: re-create it under the same name
//! with the same properties (guide sample 3). Expected cause: `unauthorized-anonymous`.

use super::permissions::{Need, role_assignment_delete_needs};
use super::{Ctx, Env, Fault, FaultError, Lock, Undo};
use crate::clients::arm::role_assignment_id;
use crate::scenario::FaultKind;
use crate::scenario::values::Scope;
use async_trait::async_trait;

#[derive(Debug)]
pub struct RoleAssignmentDelete {
    /// Object id; `None` = the kubelet identity.
    pub principal: Option<String>,
    pub role_guid: String,
    pub role_name: String,
    pub scope: Scope,
}

impl RoleAssignmentDelete {
    fn scope_id(&self, env: &Env) -> String {
        match &self.scope {
            Scope::Registry => env.registry_id.clone(),
            Scope::ResourceGroup => env.registry_resource_group(),
            Scope::Subscription => env.subscription_scope(),
            Scope::Id(id) => id.to_string(),
        }
    }
    fn principal_id(&self, env: &Env) -> String {
        self.principal
            .clone()
            .or_else(|| env.kubelet_object_id.clone())
            .unwrap_or_else(|| "<kubelet identity>".into())
    }
}

/// The assignments of `principal` with role `role_guid` exactly at `scope`, as undos.
pub async fn find_assignments(
    ctx: &Ctx<'_>,
    scope: &str,
    principal: &str,
    role_guid: &str,
) -> Result<Vec<Undo>, FaultError> {
    let filter = format!("principalId eq '{principal}'");
    let list = ctx.arm.list_role_assignments(scope, Some(&filter)).await?;
    Ok(list
        .into_iter()
        .filter(|a| {
            a.properties.principal_id.eq_ignore_ascii_case(principal)
                && a.properties.role_guid() == role_guid.to_ascii_lowercase()
                && a.properties.scope.as_deref().is_none_or(|s| {
                    s.trim_end_matches('/').eq_ignore_ascii_case(scope.trim_end_matches('/'))
                })
        })
        .map(|a| {
            let mut properties = a.properties.clone();
            properties.scope = None;
            Undo::CreateRoleAssignment {
                scope: scope.to_string(),
                name: a.name.clone(),
                properties,
            }
        })
        .collect())
}

/// Delete every assignment named in `snapshot`.
pub async fn delete_assignments(
    ctx: &Ctx<'_>,
    snapshot: &[Undo],
) -> Result<Vec<String>, FaultError> {
    let mut done = Vec::new();
    for u in snapshot {
        if let Undo::CreateRoleAssignment { scope, name, .. } = u {
            let id = role_assignment_id(scope, name);
            ctx.arm.delete_role_assignment(&id).await?;
            done.push(format!("DELETE {id}"));
        }
    }
    Ok(done)
}

#[async_trait]
impl Fault for RoleAssignmentDelete {
    fn kind(&self) -> FaultKind {
        FaultKind::RoleAssignmentDelete
    }
    fn locks(&self, env: &Env) -> Vec<Lock> {
        vec![
            Lock::Identity(self.principal_id(env).to_ascii_lowercase()),
            Lock::Registry(env.registry_id.to_ascii_lowercase()),
        ]
    }
    fn arm_ids(&self, env: &Env) -> Vec<String> {
        vec![self.scope_id(env)]
    }
    fn required_permissions(&self, env: &Env) -> Vec<Need> {
        role_assignment_delete_needs(&self.scope_id(env))
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        let scope = self.scope_id(env);
        vec![format!(
            "DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/<each assignment of principal {} with role {} at this scope> (api-version 2022-04-01); undo: PUT the same name and properties",
            self.principal_id(env),
            self.role_name
        )]
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        let principal =
            self.principal.clone().or_else(|| ctx.env.kubelet_object_id.clone()).ok_or(
                FaultError::Precondition {
                    fault: FaultKind::RoleAssignmentDelete,
                    message: "the kubelet identity of the cluster is unknown".into(),
                },
            )?;
        let scope = self.scope_id(ctx.env);
        let found = find_assignments(ctx, &scope, &principal, &self.role_guid).await?;
        if found.is_empty() {
            return Err(FaultError::Precondition {
                fault: FaultKind::RoleAssignmentDelete,
                message: format!(
                    "principal {principal} holds no {} assignment at {scope}: nothing to delete",
                    self.role_name
                ),
            });
        }
        Ok(found)
    }
    async fn inject(&self, ctx: &Ctx<'_>, snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        delete_assignments(ctx, snapshot).await
    }
}
