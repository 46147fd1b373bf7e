//! pull-secret-missing: the probe references a Secret that does not exist. Nothing in
//! the cluster changes; the kubelet warns `FailedToRetrieveImagePullSecret` and the pull
//! fails with its own cause. Expected causes: `pull-secret-missing` (+ the pull's).

use super::permissions::Need;
use super::{Ctx, Env, Fault, FaultError, Phase, ProbePlan, Undo};
use crate::scenario::FaultKind;
use async_trait::async_trait;

#[derive(Debug)]
pub struct PullSecretMissing {
    pub secret: String,
}

#[async_trait]
impl Fault for PullSecretMissing {
    fn kind(&self) -> FaultKind {
        FaultKind::PullSecretMissing
    }
    fn masked_by_node_credentials(&self) -> bool {
        true
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
            "probe in {} with imagePullSecrets [{}] (a Secret that does not exist); no cluster change",
            env.run_namespace, self.secret
        )]
    }
    /// Faulted: the scenario's secrets plus the missing one (the target's private-registry
    /// secret dropped). Baseline and recovery (the fix): without the missing reference,
    /// with the private-registry secret when the target has one.
    fn probe(&self, env: &Env, base: &ProbePlan, phase: Phase) -> ProbePlan {
        let mut p = base.clone();
        p.pull_secrets.retain(|s| s != &self.secret);
        match phase {
            Phase::Faulted => {
                if let Some(private) = &env.private_registry_secret {
                    p.pull_secrets.retain(|s| s != private);
                }
                p.pull_secrets.push(self.secret.clone());
            }
            _ => {
                if let Some(private) = &env.private_registry_secret
                    && !p.pull_secrets.contains(private)
                {
                    p.pull_secrets.push(private.clone());
                }
            }
        }
        p
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        let ns = &ctx.env.run_namespace;
        if ctx.kube.get_secret(ns, &self.secret).await?.is_some() {
            return Err(FaultError::Precondition {
                fault: FaultKind::PullSecretMissing,
                message: format!("Secret {ns}/{} exists; pick a name that does not", self.secret),
            });
        }
        Ok(vec![])
    }
    async fn inject(&self, _ctx: &Ctx<'_>, _snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        Ok(vec![format!("probe references missing Secret {}", self.secret)])
    }
}
