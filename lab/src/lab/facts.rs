//! The lab's facade towards the product: typed facts about a running lab (ids, endpoints,
//! images, and the credentials the lab hands out), so that nothing outside this crate
//! reads [`Lab::state`](super::Lab) to learn them.

use super::Lab;
use std::path::PathBuf;

/// A user name and password the lab hands out (never printed by `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct LabLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LabLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabLogin").field("username", &self.username).finish_non_exhaustive()
    }
}

/// What a client of a running lab needs: what the emulated Azure world and cluster are
/// called, where they answer, which images to probe, and how to log in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LabFacts {
    pub subscription_id: String,
    pub tenant_id: String,
    pub registry_id: String,
    pub cluster_id: String,
    pub nsg_id: String,
    pub arm_endpoint: String,
    pub authority_host: String,
    pub kubeconfig: PathBuf,
    /// PEM of the lab CA every lab server's certificate chains to.
    pub ca_path: PathBuf,
    /// The attached registry's first image, `login-server/repo:tag`.
    pub acr_image: String,
    /// The private registry (a public registry's private repository) and its login.
    pub private_host: String,
    pub private_image: Option<String>,
    pub private_login: LabLogin,
    /// The team registry (not attached to the cluster): ARM id, login server, first
    /// image, and its first token's name and first password.
    pub team_registry_id: Option<String>,
    pub team_login_server: Option<String>,
    pub team_image: Option<String>,
    pub team_token: Option<LabLogin>,
    /// The service principal allowed to run chaos: client id and secret.
    pub chaos_principal: Option<LabLogin>,
    /// The lab's Prometheus / Alertmanager, when monitoring runs.
    pub prometheus_url: Option<String>,
    pub alertmanager_url: Option<String>,
    /// Real delay = configured delay × this (1.0 = real timings).
    pub time_scale: f64,
}

impl Lab {
    /// The facts of this lab (read once; the world may change afterwards, the facts not).
    pub fn facts(&self) -> LabFacts {
        let st = self.state.read();
        let w = &st.world;
        let nsg_rg = w.nsg.resource_group.clone().unwrap_or_else(|| w.resource_group.clone());
        let first = |host: &str, images: &[String]| images.first().map(|i| format!("{host}/{i}"));
        let team = w.team_registry.as_ref();
        let team_token = st.team_tokens.first().and_then(|t| {
            t.passwords
                .first()
                .map(|p| LabLogin { username: t.name.clone(), password: p.value.clone() })
        });
        LabFacts {
            subscription_id: w.subscription_id.clone(),
            tenant_id: w.tenant_id.clone(),
            registry_id: w.registry_id(),
            cluster_id: w.cluster_id(),
            nsg_id: format!(
                "/subscriptions/{}/resourceGroups/{nsg_rg}/providers/Microsoft.Network/networkSecurityGroups/{}",
                w.subscription_id, w.nsg.name
            ),
            arm_endpoint: self.arm_endpoint(),
            authority_host: self.authority_host(),
            kubeconfig: self.kube.kubeconfig.clone(),
            ca_path: self.ca_path().to_path_buf(),
            acr_image: first(self.login_server(), &w.registry.images).unwrap_or_default(),
            private_host: self.hub_host().to_string(),
            private_image: first(self.hub_host(), &w.private_registry.images),
            private_login: LabLogin {
                username: w.private_registry.username.clone(),
                password: w.private_registry.password.clone(),
            },
            team_registry_id: w.registry_id_of(crate::world::RegistryRef::Team),
            team_login_server: team.map(|t| t.login_server.clone()),
            team_image: team.and_then(|t| first(&t.login_server, &t.images)),
            team_token: team.and(team_token),
            chaos_principal: super::support::find_chaos_principal(&st)
                .map(|p| LabLogin { username: p.client_id, password: p.secret }),
            prometheus_url: self
                .monitoring
                .as_ref()
                .map(crate::monitoring::Monitoring::prometheus_url),
            alertmanager_url: self
                .monitoring
                .as_ref()
                .map(crate::monitoring::Monitoring::alertmanager_url),
            time_scale: st.options.time_scale,
        }
    }
}
