//! image-tag-missing: probe a tag that does not exist in an attached registry (guide
//! sample 2). Nothing changes. Expected cause: `not-found` (a 401 may show beside it).

use super::permissions::Need;
use super::{Ctx, Env, Fault, FaultError, Phase, ProbePlan, Undo, with_tag};
use crate::scenario::FaultKind;
use async_trait::async_trait;

#[derive(Debug)]
pub struct ImageTagMissing {
    pub tag: String,
}

#[async_trait]
impl Fault for ImageTagMissing {
    fn kind(&self) -> FaultKind {
        FaultKind::ImageTagMissing
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
            "probe in {} with tag {:?} (does not exist); no cluster change",
            env.run_namespace, self.tag
        )]
    }
    fn probe(&self, _env: &Env, base: &ProbePlan, phase: Phase) -> ProbePlan {
        match phase {
            Phase::Faulted => ProbePlan {
                image: with_tag(&base.image, &self.tag),
                pull_secrets: base.pull_secrets.clone(),
            },
            _ => base.clone(),
        }
    }
    async fn snapshot(&self, _ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        Ok(vec![])
    }
    async fn inject(&self, _ctx: &Ctx<'_>, _snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        Ok(vec![format!("probe uses missing tag {}", self.tag)])
    }
}
