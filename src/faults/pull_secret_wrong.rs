//! pull-secret-wrong: replace the password in a dockerconfigjson pull secret of the run
//! namespace (the target's private-registry secret unless named), after backing the
//! original up as Secret `acr-chaos-backup-<name>`. Undo: restore the original bytes.
//! Expected cause: `unauthorized-credentials`.

use super::permissions::{Need, run_secret_needs};
use super::{Ctx, Env, Fault, FaultError, Phase, ProbePlan, Undo};
use crate::clients::kube::label_value;
use crate::scenario::FaultKind;
use async_trait::async_trait;
use k8s_openapi::ByteString;

#[derive(Debug)]
pub struct PullSecretWrong {
    pub secret: Option<String>,
}

impl PullSecretWrong {
    fn name(&self, env: &Env) -> Option<String> {
        self.secret.clone().or_else(|| env.private_registry_secret.clone())
    }
    fn backup(name: &str) -> String {
        label_value(&format!("acr-chaos-backup-{name}"))
    }
}

/// Rewrite every password (and `auth`) in a dockerconfigjson document.
pub fn corrupt_docker_config(raw: &[u8], wrong: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let mut v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let auths = v.get_mut("auths")?.as_object_mut()?;
    for (_, entry) in auths.iter_mut() {
        let user = entry
            .get("username")
            .and_then(|u| u.as_str())
            .map(str::to_string)
            .or_else(|| {
                let a = entry.get("auth")?.as_str()?;
                let d = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
                String::from_utf8(d).ok()?.split(':').next().map(str::to_string)
            })
            .unwrap_or_default();
        let obj = entry.as_object_mut()?;
        obj.insert("username".into(), user.clone().into());
        obj.insert("password".into(), wrong.into());
        obj.insert(
            "auth".into(),
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{wrong}")).into(),
        );
    }
    serde_json::to_vec(&v).ok()
}

#[async_trait]
impl Fault for PullSecretWrong {
    fn kind(&self) -> FaultKind {
        FaultKind::PullSecretWrong
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
        run_secret_needs(&env.run_namespace)
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        let name = self.name(env).unwrap_or_else(|| "<target privateRegistry.secretName>".into());
        vec![
            format!(
                "copy Secret {0}/{name} to {0}/{1} (backup)",
                env.run_namespace,
                Self::backup(&name)
            ),
            format!(
                "replace Secret {}/{name}: every password in .dockerconfigjson set to a wrong value; undo: restore from the backup",
                env.run_namespace
            ),
        ]
    }
    fn probe(&self, env: &Env, base: &ProbePlan, _phase: Phase) -> ProbePlan {
        let mut p = base.clone();
        if let Some(n) = self.name(env)
            && !p.pull_secrets.contains(&n)
        {
            p.pull_secrets.push(n);
        }
        p
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        let ns = &ctx.env.run_namespace;
        let name = self.name(ctx.env).ok_or(FaultError::Precondition {
            fault: FaultKind::PullSecretWrong,
            message: "no secret named and the target has no privateRegistry.secretName".into(),
        })?;
        let cur =
            ctx.kube.get_secret(ns, &name).await?.ok_or_else(|| FaultError::Precondition {
                fault: FaultKind::PullSecretWrong,
                message: format!("Secret {ns}/{name} does not exist"),
            })?;
        let backup = Self::backup(&name);
        let mut b = cur.clone();
        b.metadata.name = Some(backup.clone());
        b.metadata.labels = Some(crate::clients::kube::labels(&ctx.env.run_id, None));
        ctx.kube.put_secret(ns, &b).await?;
        Ok(vec![Undo::RestoreSecret { namespace: ns.clone(), name, backup }])
    }
    async fn inject(&self, ctx: &Ctx<'_>, _snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        let ns = &ctx.env.run_namespace;
        let name = self.name(ctx.env).unwrap_or_default();
        let mut s =
            ctx.kube.get_secret(ns, &name).await?.ok_or_else(|| FaultError::Precondition {
                fault: FaultKind::PullSecretWrong,
                message: format!("Secret {ns}/{name} disappeared"),
            })?;
        let data = s.data.get_or_insert_default();
        let raw = data.get(".dockerconfigjson").map(|b| b.0.clone()).unwrap_or_default();
        let wrong = format!("acr-chaos-wrong-{}", uuid::Uuid::new_v4().simple());
        let new = corrupt_docker_config(&raw, &wrong).ok_or(FaultError::Precondition {
            fault: FaultKind::PullSecretWrong,
            message: format!("Secret {ns}/{name} holds no valid .dockerconfigjson"),
        })?;
        data.insert(".dockerconfigjson".into(), ByteString(new));
        ctx.kube.put_secret(ns, &s).await?;
        Ok(vec![format!("replaced the passwords in Secret {ns}/{name}")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupts_every_password() {
        let raw =
            br#"{"auths":{"r.io":{"username":"u","password":"right","auth":"dTpyaWdodA=="}}}"#;
        let out = corrupt_docker_config(raw, "bad").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["auths"]["r.io"]["password"], "bad");
        assert_eq!(v["auths"]["r.io"]["auth"], "dTpiYWQ=");
        assert!(corrupt_docker_config(b"nope", "x").is_none());
    }
}
