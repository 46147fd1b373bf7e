//! pull-secret-expired: generate ACR token credentials (generateCredentials) that expire
//! shortly, write them as a dockerconfigjson Secret in the run namespace, wait for the
//! expiry, then probe with that secret. Undo: delete the Secret. Use a token dedicated
//! to acr-chaos: its `password2` is regenerated. Expected: `unauthorized-credentials`.
//! The token lives in the target's registry, or in `registry_id` (a registry the cluster
//! is not attached to: on the attached one the kubelet's node identity masks the fault).

use super::permissions::{Need, Purpose, run_secret_needs};
use super::{Ctx, Env, Fault, FaultError, Lock, Phase, ProbePlan, Undo};
use crate::clients::kube::{docker_config_secret, label_value};
use crate::scenario::FaultKind;
use async_trait::async_trait;
use std::time::Duration;

#[derive(Debug)]
pub struct PullSecretExpired {
    pub token: String,
    pub expiry: Duration,
    /// ARM id of the registry holding the token; `None`: the target's registry.
    pub registry_id: Option<String>,
}

const PASSWORD_NAME: &str = "password2";

impl PullSecretExpired {
    fn registry_id<'a>(&'a self, env: &'a Env) -> &'a str {
        self.registry_id.as_deref().unwrap_or(&env.registry_id)
    }
    fn token_id(&self, env: &Env) -> String {
        format!("{}/tokens/{}", self.registry_id(env), self.token)
    }
    /// The login server of the token's registry (the target's is resolved at connect).
    async fn login_server(&self, ctx: &Ctx<'_>) -> Result<String, FaultError> {
        let known = match &self.registry_id {
            None => ctx.env.registry_login_server.clone(),
            Some(id) => ctx
                .arm
                .get_registry(id)
                .await?
                .pointer("/properties/loginServer")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        };
        known.ok_or(FaultError::Precondition {
            fault: FaultKind::PullSecretExpired,
            message: format!(
                "the login server of registry {} is unknown",
                self.registry_id(ctx.env)
            ),
        })
    }
    fn secret_name(&self) -> String {
        label_value(&format!("acr-chaos-expired-{}", self.token.to_ascii_lowercase()))
    }
}

#[async_trait]
impl Fault for PullSecretExpired {
    fn kind(&self) -> FaultKind {
        FaultKind::PullSecretExpired
    }
    fn masked_by_node_credentials(&self) -> bool {
        true
    }
    fn locks(&self, env: &Env) -> Vec<Lock> {
        // regenerating a token password is a registry-wide change for that token
        vec![Lock::Registry(
            format!("{}#token={}", self.registry_id(env), self.token).to_ascii_lowercase(),
        )]
    }
    fn arm_ids(&self, env: &Env) -> Vec<String> {
        vec![self.token_id(env)]
    }
    fn required_permissions(&self, env: &Env) -> Vec<Need> {
        let r = self.registry_id(env);
        let mut v = vec![
            Need::arm("Microsoft.ContainerRegistry/registries/tokens/read", r, Purpose::Read),
            Need::arm(
                "Microsoft.ContainerRegistry/registries/generateCredentials/action",
                r,
                Purpose::Change,
            ),
        ];
        if self.registry_id.is_some() {
            v.push(Need::arm("Microsoft.ContainerRegistry/registries/read", r, Purpose::Read));
        }
        v.extend(run_secret_needs(&env.run_namespace));
        v
    }
    fn describe(&self, env: &Env) -> Vec<String> {
        vec![
            format!(
                "POST {}/generateCredentials?api-version=2025-04-01 {{tokenId: {}, name: {PASSWORD_NAME}, expiry: now+{:?}}}",
                self.registry_id(env),
                self.token_id(env),
                self.expiry
            ),
            format!(
                "create Secret {}/{} (kubernetes.io/dockerconfigjson, the generated credentials); wait for the expiry; undo: delete the Secret",
                env.run_namespace,
                self.secret_name()
            ),
        ]
    }
    fn probe(&self, _env: &Env, base: &ProbePlan, phase: Phase) -> ProbePlan {
        match phase {
            Phase::Faulted => {
                ProbePlan { image: base.image.clone(), pull_secrets: vec![self.secret_name()] }
            }
            _ => base.clone(),
        }
    }
    async fn snapshot(&self, ctx: &Ctx<'_>) -> Result<Vec<Undo>, FaultError> {
        let id = self.token_id(ctx.env);
        if ctx.arm.get_registry_token(&id).await?.is_none() {
            return Err(FaultError::Precondition {
                fault: FaultKind::PullSecretExpired,
                message: format!("ACR token {id} does not exist"),
            });
        }
        Ok(vec![Undo::DeleteSecret {
            namespace: ctx.env.run_namespace.clone(),
            name: self.secret_name(),
        }])
    }
    async fn inject(&self, ctx: &Ctx<'_>, _snapshot: &[Undo]) -> Result<Vec<String>, FaultError> {
        let server = self.login_server(ctx).await?;
        let valid_for = super::scaled(self.expiry, ctx.env);
        let expiry = chrono::Utc::now()
            + chrono::Duration::from_std(valid_for).unwrap_or(chrono::Duration::seconds(5));
        let creds = ctx
            .arm
            .generate_credentials(
                self.registry_id(ctx.env),
                &self.token_id(ctx.env),
                expiry,
                PASSWORD_NAME,
            )
            .await?;
        let secret = docker_config_secret(
            &self.secret_name(),
            &server,
            &creds.username,
            creds.password.expose(),
            &ctx.env.run_id,
        );
        ctx.kube.put_secret(&ctx.env.run_namespace, &secret).await?;
        // the credentials must really be expired before the probe uses them
        let left = (expiry - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(left + Duration::from_millis(1500)).await;
        Ok(vec![format!(
            "generated {PASSWORD_NAME} of token {} expiring at {}, stored in Secret {}/{}; expired",
            self.token,
            expiry.to_rfc3339(),
            ctx.env.run_namespace,
            self.secret_name()
        )])
    }
}
