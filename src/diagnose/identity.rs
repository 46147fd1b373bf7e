//! The `kubelet-identity-role` check: the cluster's kubelet identity
//! (`identityProfile.kubeletidentity`) holds AcrPull or more (AcrPush, Contributor, Owner)
//! on the registry at some scope (registry, resource group, subscription).

use super::{Check, Context, Facts, Status, names};
use crate::clients::arm::{ACR_PULL_ROLE, RoleAssignment};

/// Roles that allow pulling, with their names.
pub const PULL_ROLES: [(&str, &str); 4] = [
    (ACR_PULL_ROLE, "AcrPull"),
    ("8311e382-0749-4cb8-b61a-304f252e45ec", "AcrPush"),
    ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"),
    ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner"),
];

/// The `kubelet-identity-role` check; records the kubelet object id in `facts`.
pub async fn kubelet_role(ctx: &Context, f: &mut Facts) -> Check {
    let name = names::KUBELET_IDENTITY_ROLE;
    let kubelet = match ctx.arm.kubelet_identity(&ctx.cluster_id).await {
        Ok(k) => k,
        Err(e) => {
            return Check::new(name, Status::Unknown, "could not read the kubelet identity")
                .with(format!("GET {}: {e}", ctx.cluster_id));
        }
    };
    f.kubelet_object_id = Some(kubelet.object_id.clone());
    let who = format!("kubelet identity objectId={}", kubelet.object_id);
    if !f.is_target_registry && f.login_server.is_some() {
        return Check::new(
            name,
            Status::Skipped,
            format!("the image is not on the target registry ({})", f.image.host),
        )
        .with(who);
    }
    let filter = format!("principalId eq '{}'", kubelet.object_id);
    let list = match ctx.arm.list_role_assignments(&ctx.registry_id, Some(&filter)).await {
        Ok(l) => l,
        Err(e) => {
            return Check::new(name, Status::Unknown, "could not list role assignments")
                .with(who)
                .with(format!("list at {}: {e}", ctx.registry_id));
        }
    };
    judge(&ctx.registry_id, &kubelet.object_id, &list).with(who)
}

/// The scope of an assignment (its `scope`, else the part of its id before the provider).
pub fn assignment_scope(a: &RoleAssignment) -> String {
    a.properties.scope.clone().unwrap_or_else(|| {
        let lower = a.id.to_ascii_lowercase();
        match lower.find("/providers/microsoft.authorization/roleassignments/") {
            Some(i) => a.id[..i].to_string(),
            None => a.id.clone(),
        }
    })
}

/// Whether `scope` is the registry or one of its parents (case-insensitive).
pub fn covers(scope: &str, registry_id: &str) -> bool {
    let s = scope.trim_end_matches('/').to_ascii_lowercase();
    let r = registry_id.trim_end_matches('/').to_ascii_lowercase();
    s.is_empty() || s == "/" || r == s || r.starts_with(&format!("{s}/"))
}

/// Judge the assignments of `principal` (pure; unit-tested).
pub fn judge(registry_id: &str, principal: &str, list: &[RoleAssignment]) -> Check {
    let name = names::KUBELET_IDENTITY_ROLE;
    let mut evidence = Vec::new();
    let mut granting = Vec::new();
    for a in list.iter().filter(|a| a.properties.principal_id.eq_ignore_ascii_case(principal)) {
        let scope = assignment_scope(a);
        let guid = a.properties.role_guid();
        let role = PULL_ROLES
            .iter()
            .find(|(g, _)| g.eq_ignore_ascii_case(&guid))
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| format!("role {guid}"));
        let applies = covers(&scope, registry_id);
        let pulls = PULL_ROLES.iter().any(|(g, _)| g.eq_ignore_ascii_case(&guid));
        evidence.push(format!(
            "{role} at {scope}{}",
            match (applies, pulls) {
                (true, true) => " (grants pull on the registry)",
                (true, false) => " (does not grant pull)",
                (false, _) => " (another scope: does not apply to the registry)",
            }
        ));
        if applies && pulls {
            granting.push(format!("{role} at {scope}"));
        }
    }
    let mut c = if granting.is_empty() {
        Check::new(
            name,
            Status::Fail,
            "the kubelet identity holds no AcrPull (or AcrPush, Contributor, Owner) on the registry at any scope",
        )
    } else {
        Check::new(
            name,
            Status::Pass,
            format!("the kubelet identity holds {}", granting.join(", ")),
        )
    };
    if evidence.is_empty() {
        evidence
            .push(format!("no role assignment of principal {principal} applies to {registry_id}"));
    }
    c.evidence = evidence;
    c
}
