//! registry-firewall-deny: PATCH the registry's `networkRuleSet.defaultAction=Deny`
//! (selected networks, optional allowed IPs) or `publicNetworkAccess=Disabled`.
//! Undo: PATCH back the exact prior values. Expected cause: `forbidden-network`.

use super::permissions::{Need, Purpose};
use super::{Ctx, Env, Fault, FaultError, Lock, Undo};
use crate::scenario::FaultKind;
use async_trait::async_trait;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct RegistryFirewallDeny {
    pub public_access_disabled: bool,
    pub allow_ips: Vec<String>,
}

impl RegistryFirewallDeny {
    fn body(&self) -> Value {
        if self.public_access_disabled {
            json!({ "properties": { "publicNetworkAccess": "Disabled" } })
        } else {
            let rules: Vec<Value> =
                self.allow_ips.iter().map(|ip| json!({ "action": "Allow", "value": ip })).collect();
            json!({ "properties": { "networkRuleSet": { "defaultAction": "Deny", "ipRules": rules } } })
        }
    }
}

#[async_trait]
impl Fault for RegistryFirewallDeny {
    fn kind(&self) -> FaultKind {
        FaultKind::RegistryFirewallDeny
    }
    fn locks(&self, env: &Env) -> Vec<Lock> {
        vec![Lock::Registry(env.registry_id.to_ascii_lowercase())]
    }
    fn arm_ids(&self, env: &Env) -> Vec<String> {
        vec![env.registry_id.clone()]
    }
    fn required_permissions(&self, env: &Env) -> Vec<Need> {
        let r = &env.registry_id;
        vec![
            Need::arm("Microsoft.ContainerRegistry/registries/read", r, Purpose::Read),
            Need::arm("Microsoft.ContainerRegistry/registries/write", r, Purpose::Change),
            Need::arm("Microsoft.ContainerRegistry/registries/write", r, Purpose::Undo),
            // the PATCH is a long-running operation, polled until it succeeds
            Need::arm(
                "Microsoft.ContainerRegistry/registries/operationStatuses/read",
                r,
                Purpose::Change,
            ),
            Need::arm(
                "Microsoft.ContainerRegistry/registries/operationStatuses/read",
                r,
                Purpose::Undo,
            ),
        ]
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        vec![format!(
            "PATCH {}?api-version=2025-04-01 {}; undo: PATCH the prior networkRuleSet and publicNetworkAccess",
            env.registry_id,
            self.body()
        )]
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        let r = ctx.arm.get_registry(&ctx.env.registry_id).await?;
        let nrs = r
            .pointer("/properties/networkRuleSet")
            .cloned()
            .unwrap_or_else(|| json!({ "defaultAction": "Allow", "ipRules": [] }));
        let pna = r
            .pointer("/properties/publicNetworkAccess")
            .cloned()
            .unwrap_or_else(|| json!("Enabled"));
        Ok(vec![Undo::PatchRegistry {
            registry_id: ctx.env.registry_id.clone(),
            network_rule_set: nrs,
            public_network_access: pna,
        }])
    }
    async fn inject(&self, ctx: &Ctx<'_>, _snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        let body = self.body();
        ctx.arm.patch_registry(&ctx.env.registry_id, &body).await?;
        Ok(vec![format!("PATCH {} {body}", ctx.env.registry_id)])
    }
}
