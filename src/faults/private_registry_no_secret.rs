//! private-registry-no-secret: probe a private repository on an external registry
//! without imagePullSecrets (guide sample 4); the fix is adding the secret, which the
//! recovery probe does. Expected cause: `access-denied`.

use super::permissions::Need;
use super::{Ctx, Env, Fault, FaultError, Phase, ProbePlan, Undo};
use crate::scenario::FaultKind;
use async_trait::async_trait;

#[derive(Debug)]
pub struct PrivateRegistryNoSecret;

#[async_trait]
impl Fault for PrivateRegistryNoSecret {
    fn kind(&self) -> FaultKind {
        FaultKind::PrivateRegistryNoSecret
    }
    fn locks(&self, _env: &Env) -> Vec<super::Lock> {
        vec![]
    }
    fn arm_ids(&self, _env: &Env) -> Vec<String> {
        vec![]
    }
    fn required_permissions(&self, env: &Env) -> Vec<Need> {
        let _ = env;
        Vec::new()
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        vec![format!(
            "probe in {} without imagePullSecrets; recovery probe adds Secret {}; no cluster change",
            env.run_namespace,
            env.private_registry_secret.as_deref().unwrap_or("<target privateRegistry.secretName>")
        )]
    }
    fn probe(&self, env: &Env, base: &ProbePlan, phase: Phase) -> ProbePlan {
        let mut p = base.clone();
        match phase {
            Phase::Faulted => p.pull_secrets.clear(),
            _ => {
                if let Some(s) = &env.private_registry_secret
                    && !p.pull_secrets.contains(s)
                {
                    p.pull_secrets.push(s.clone());
                }
            }
        }
        p
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        if ctx.env.private_registry_secret.is_none() {
            return Err(FaultError::Precondition {
                fault: FaultKind::PrivateRegistryNoSecret,
                message: "the target has no privateRegistry".into(),
            });
        }
        Ok(vec![])
    }
    async fn inject(&self, _ctx: &Ctx<'_>, _snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        Ok(vec!["probe without imagePullSecrets".into()])
    }
}
