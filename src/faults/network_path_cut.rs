//! network-path-cut: an NSG outbound Deny rule towards the registry (service tag
//! `AzureContainerRegistry`, TCP 443) on the node subnet's NSG. Undo: delete the rule.
//! Expected cause: `network-unreachable`.

use super::permissions::{Need, Purpose};
use super::{Ctx, Env, Fault, FaultError, Lock, Undo};
use crate::scenario::FaultKind;
use async_trait::async_trait;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct NetworkPathCut {
    pub rule_name: String,
    pub priority: u16,
}

impl NetworkPathCut {
    fn rule_id(&self, env: &Env) -> String {
        format!(
            "{}/securityRules/{}",
            env.nsg_id.as_deref().unwrap_or("<target azure.nsgId>"),
            self.rule_name
        )
    }
    fn body(&self) -> Value {
        json!({ "properties": {
            "description": "acr-chaos: cut the path to the registry (delete me if left behind)",
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "443",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "AzureContainerRegistry",
            "access": "Deny",
            "priority": self.priority,
            "direction": "Outbound"
        }})
    }
}

#[async_trait]
impl Fault for NetworkPathCut {
    fn kind(&self) -> FaultKind {
        FaultKind::NetworkPathCut
    }
    fn locks(&self, env: &Env) -> Vec<Lock> {
        vec![
            Lock::Nsg(env.nsg_id.clone().unwrap_or_default().to_ascii_lowercase()),
            Lock::Registry(env.registry_id.to_ascii_lowercase()),
        ]
    }
    fn arm_ids(&self, env: &Env) -> Vec<String> {
        vec![self.rule_id(env)]
    }
    fn required_permissions(&self, env: &Env) -> Vec<Need> {
        let nsg = env.nsg_id.clone().unwrap_or_else(|| "<target azure.nsgId>".into());
        let rules = "Microsoft.Network/networkSecurityGroups/securityRules";
        vec![
            Need::arm(&format!("{rules}/read"), &nsg, Purpose::Read),
            Need::arm(&format!("{rules}/write"), &nsg, Purpose::Change),
            Need::arm(&format!("{rules}/delete"), &nsg, Purpose::Undo),
            // PUT and DELETE are long-running operations, polled (Azure-AsyncOperation or
            // Location, whichever ARM sends) until they finish
            Need::arm("Microsoft.Network/locations/operations/read", &nsg, Purpose::Change),
            Need::arm("Microsoft.Network/locations/operations/read", &nsg, Purpose::Undo),
            Need::arm("Microsoft.Network/locations/operationResults/read", &nsg, Purpose::Undo),
        ]
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        vec![format!(
            "PUT {}?api-version=2025-05-01 {}; undo: DELETE the rule",
            self.rule_id(env),
            self.body()
        )]
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        if ctx.env.nsg_id.is_none() {
            return Err(FaultError::Precondition {
                fault: FaultKind::NetworkPathCut,
                message: "the target has no azure.nsgId".into(),
            });
        }
        let id = self.rule_id(ctx.env);
        if ctx.arm.get_security_rule(&id).await?.is_some() {
            return Err(FaultError::Precondition {
                fault: FaultKind::NetworkPathCut,
                message: format!("security rule {id} already exists; refusing to overwrite it"),
            });
        }
        Ok(vec![Undo::DeleteSecurityRule { rule_id: id }])
    }
    async fn inject(&self, ctx: &Ctx<'_>, _snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        let id = self.rule_id(ctx.env);
        ctx.arm.put_security_rule(&id, &self.body()).await?;
        Ok(vec![format!(
            "PUT {id} (Outbound Deny TCP 443 to AzureContainerRegistry, priority {})",
            self.priority
        )])
    }
}
