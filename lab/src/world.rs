//! The lab's world: the Azure resources it emulates, loaded from a YAML world file
//! (`lab/world.default.yaml` ships) and held at run time in [`State`] behind
//! `Arc<RwLock<_>>`. The ARM emulator mutates it; the ACR front door, the Entra ID
//! emulator and the kubelet emulator read it. Nothing here does I/O except [`World::load`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Built-in role definition GUIDs (the same in every tenant).
pub mod roles {
    pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
    pub const ACR_PUSH: &str = "8311e382-0749-4cb8-b61a-304f252e45ec";
    pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
    pub const ACR_DELETE: &str = "c2f4ef07-c644-48eb-af81-4b1b4947fb11";
}

/// The world file (YAML). Field names are camelCase in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct World {
    pub tenant_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    #[serde(default = "default_location")]
    pub location: String,
    pub registry: RegistrySpec,
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub principals: Vec<Principal>,
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignmentSpec>,
    pub nsg: NsgSpec,
    pub private_registry: PrivateRegistrySpec,
    /// A second ACR in the resource group that the cluster is NOT attached to (a team's
    /// registry pulled with ACR token credentials in a pull secret): the kubelet identity
    /// has no role there, so only a pod's pull secret can pull from it.
    #[serde(default)]
    pub team_registry: Option<RegistrySpec>,
    /// Custom role definitions in `az role definition create` JSON form (PascalCase
    /// fields: `Name`, `Actions`, `NotActions`, `AssignableScopes`, optional `Id`);
    /// role assignments name them by `Id` (or the GUID derived from the name).
    #[serde(default)]
    pub custom_roles: Vec<crate::state::CustomRoleSpec>,
}

/// Which of the world's registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistryRef {
    /// `registry`: the one the cluster is attached to.
    Main,
    /// `teamRegistry`: not attached.
    Team,
}

fn default_location() -> String {
    "westeurope".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrySpec {
    /// Registry resource name (5-50 alphanumerics).
    pub name: String,
    /// Login server host name as clients see it, e.g. `acrchaoslab.azurecr.io`.
    pub login_server: String,
    #[serde(default = "default_sku")]
    pub sku: String,
    #[serde(default = "enabled")]
    pub public_network_access: String,
    #[serde(default)]
    pub network_rule_set: NetworkRuleSet,
    /// Repository-scoped tokens (ACR "tokens" + scope maps).
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
    /// Images the lab builds and pushes at start-up: `repo:tag`.
    pub images: Vec<String>,
}

fn default_sku() -> String {
    "Premium".into()
}
fn enabled() -> String {
    "Enabled".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkRuleSet {
    #[serde(default = "allow")]
    pub default_action: String,
    #[serde(default)]
    pub ip_rules: Vec<IpRule>,
}

impl Default for NetworkRuleSet {
    fn default() -> Self {
        Self { default_action: allow(), ip_rules: vec![] }
    }
}

fn allow() -> String {
    "Allow".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpRule {
    #[serde(default = "allow")]
    pub action: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSpec {
    pub name: String,
    /// Repositories this token may pull (`*` for all).
    pub repositories: Vec<String>,
    #[serde(default = "enabled")]
    pub status: String,
    /// Passwords: name (`password1`/`password2`) -> value and optional expiry.
    #[serde(default)]
    pub passwords: Vec<TokenPassword>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenPassword {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub expiry: Option<DateTime<Utc>>,
    #[serde(default)]
    pub creation_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    pub node_resource_group: String,
    pub kubelet_identity: Identity,
    /// Node names the kubelet emulator runs.
    #[serde(default = "default_nodes")]
    pub nodes: Vec<String>,
}

fn default_nodes() -> Vec<String> {
    vec!["aks-nodepool1-00000000-vmss000000".into()]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    pub client_id: String,
    pub object_id: String,
    pub resource_id: String,
}

/// An Entra ID principal (service principal or managed identity).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Principal {
    pub display_name: String,
    pub client_id: String,
    pub object_id: String,
    /// Client secret (service principals); none for managed identities.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_expires: Option<DateTime<Utc>>,
    #[serde(default = "service_principal")]
    pub principal_type: String,
    /// Federated identity credentials (workload identity): a token from `issuer` for
    /// `subject` and one of `audiences` signs in as this principal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_credentials: Vec<FederatedCredential>,
}

/// A federated identity credential (`az identity federated-credential create` /
/// an app registration's `federatedIdentityCredentials`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredential {
    pub name: String,
    /// The token issuer; absent: the lab cluster's own OIDC issuer (its URL has the
    /// lab's port in it, so a world file cannot spell it).
    #[serde(default)]
    pub issuer: Option<String>,
    /// e.g. `system:serviceaccount:acr-chaos:acr-chaos`.
    pub subject: String,
    #[serde(default = "exchange_audiences")]
    pub audiences: Vec<String>,
}

fn exchange_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".into()]
}

fn service_principal() -> String {
    "ServicePrincipal".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignmentSpec {
    /// GUID name of the assignment.
    pub name: String,
    /// Full ARM scope, leading slash, e.g. `/subscriptions/…/resourceGroups/…`.
    pub scope: String,
    /// Role definition GUID (see [`roles`]).
    pub role: String,
    pub principal_id: String,
    #[serde(default = "service_principal")]
    pub principal_type: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NsgSpec {
    pub name: String,
    #[serde(default)]
    pub resource_group: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivateRegistrySpec {
    /// Host name clients use, e.g. `registry.hub.lab`.
    pub host: String,
    /// Private repositories with images to seed (`repo:tag`).
    pub images: Vec<String>,
    pub username: String,
    pub password: String,
}

impl World {
    /// Parse a world file.
    pub fn from_yaml(text: &str) -> Result<World, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }

    /// Load and validate a world file. Errors name `file:line:column` (parse errors) or
    /// the offending field (semantic errors) and say what would be valid.
    pub fn load(path: &std::path::Path) -> Result<World, crate::lab::LabError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| crate::lab::LabError::Io { path: path.to_path_buf(), source })?;
        let world = Self::from_yaml(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{shown}:{}:{}", l.line(), l.column()))
                .unwrap_or(shown.clone());
            crate::lab::LabError::World { path: at, message: e.to_string() }
        })?;
        world.validate().map_err(|message| crate::lab::LabError::World { path: shown, message })?;
        Ok(world)
    }

    /// Semantic checks beyond the YAML shape; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let guid = |field: &str, v: &str| {
            if uuid::Uuid::try_parse(v).is_ok() && v.len() == 36 {
                Ok(())
            } else {
                Err(format!(
                    "{field}: '{v}' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
                ))
            }
        };
        guid("tenantId", &self.tenant_id)?;
        guid("subscriptionId", &self.subscription_id)?;
        let name = &self.registry.name;
        if !(5..=50).contains(&name.len()) || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("registry.name: '{name}' must be 5-50 letters or digits"));
        }
        let one_of = |field: String, v: &str, allowed: &[&str]| {
            if allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                Err(format!("{field}: '{v}' is not one of {}", allowed.join(", ")))
            }
        };
        one_of("registry.sku".into(), &self.registry.sku, &["Basic", "Standard", "Premium"])?;
        one_of(
            "registry.publicNetworkAccess".into(),
            &self.registry.public_network_access,
            &["Enabled", "Disabled"],
        )?;
        let rules = &self.registry.network_rule_set;
        one_of(
            "registry.networkRuleSet.defaultAction".into(),
            &rules.default_action,
            &["Allow", "Deny"],
        )?;
        for (i, r) in rules.ip_rules.iter().enumerate() {
            let ok = r.value.parse::<std::net::Ipv4Addr>().is_ok()
                || r.value.parse::<ipnet::Ipv4Net>().is_ok();
            if !ok {
                return Err(format!(
                    "registry.networkRuleSet.ipRules[{i}].value: '{}' is not an IPv4 address or CIDR",
                    r.value
                ));
            }
        }
        for (i, t) in self.registry.tokens.iter().enumerate() {
            one_of(format!("registry.tokens[{i}].status"), &t.status, &["enabled", "disabled"])?;
            for (j, p) in t.passwords.iter().enumerate() {
                one_of(
                    format!("registry.tokens[{i}].passwords[{j}].name"),
                    &p.name,
                    &["password1", "password2"],
                )?;
            }
        }
        if let Some(team) = &self.team_registry {
            let n = &team.name;
            if !(5..=50).contains(&n.len()) || !n.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("teamRegistry.name: '{n}' must be 5-50 letters or digits"));
            }
            if n.eq_ignore_ascii_case(name)
                || team.login_server.eq_ignore_ascii_case(&self.registry.login_server)
            {
                return Err(format!(
                    "teamRegistry: '{n}' ({}) must differ from registry '{name}' ({})",
                    team.login_server, self.registry.login_server
                ));
            }
            for (i, t) in team.tokens.iter().enumerate() {
                one_of(
                    format!("teamRegistry.tokens[{i}].status"),
                    &t.status,
                    &["enabled", "disabled"],
                )?;
                for (j, p) in t.passwords.iter().enumerate() {
                    one_of(
                        format!("teamRegistry.tokens[{i}].passwords[{j}].name"),
                        &p.name,
                        &["password1", "password2"],
                    )?;
                }
            }
        }
        let k = &self.cluster.kubelet_identity;
        guid("cluster.kubeletIdentity.clientId", &k.client_id)?;
        guid("cluster.kubeletIdentity.objectId", &k.object_id)?;
        for (i, p) in self.principals.iter().enumerate() {
            guid(&format!("principals[{i}].clientId"), &p.client_id)?;
            guid(&format!("principals[{i}].objectId"), &p.object_id)?;
        }
        let sub_prefix = format!("/subscriptions/{}", self.subscription_id).to_ascii_lowercase();
        for (i, a) in self.role_assignments.iter().enumerate() {
            guid(&format!("roleAssignments[{i}].name"), &a.name)?;
            guid(&format!("roleAssignments[{i}].role"), a.role.rsplit('/').next().unwrap_or(""))?;
            let scope = a.scope.to_ascii_lowercase();
            if !(scope == sub_prefix || scope.starts_with(&format!("{sub_prefix}/"))) {
                return Err(format!(
                    "roleAssignments[{i}].scope: '{}' must be '{sub_prefix}' or below it",
                    a.scope
                ));
            }
        }
        Ok(())
    }

    /// The default world shipped with the lab.
    pub fn default_world() -> World {
        Self::from_yaml(include_str!("../world.default.yaml")).expect("shipped world file parses")
    }

    pub fn registry_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{}",
            self.subscription_id, self.resource_group, self.registry.name
        )
    }

    /// The spec of a registry (`None`: the world has no team registry).
    pub fn registry_spec(&self, r: RegistryRef) -> Option<&RegistrySpec> {
        match r {
            RegistryRef::Main => Some(&self.registry),
            RegistryRef::Team => self.team_registry.as_ref(),
        }
    }

    /// The ARM id of a registry (both live in the world's resource group).
    pub fn registry_id_of(&self, r: RegistryRef) -> Option<String> {
        self.registry_spec(r).map(|spec| {
            format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{}",
                self.subscription_id, self.resource_group, spec.name
            )
        })
    }

    /// The registry with this resource name (case-insensitive).
    pub fn registry_named(&self, name: &str) -> Option<RegistryRef> {
        [RegistryRef::Main, RegistryRef::Team]
            .into_iter()
            .find(|r| self.registry_spec(*r).is_some_and(|s| s.name.eq_ignore_ascii_case(name)))
    }

    pub fn cluster_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerService/managedClusters/{}",
            self.subscription_id, self.resource_group, self.cluster.name
        )
    }

    pub fn nsg_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkSecurityGroups/{}",
            self.subscription_id,
            self.nsg.resource_group.as_deref().unwrap_or(&self.cluster.node_resource_group),
            self.nsg.name
        )
    }
}

// Secrets (client secrets, token passwords, registry passwords) never show in Debug output.
impl std::fmt::Debug for TokenPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPassword")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("expiry", &self.expiry)
            .field("creation_time", &self.creation_time)
            .finish()
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("display_name", &self.display_name)
            .field("client_id", &self.client_id)
            .field("object_id", &self.object_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_expires", &self.secret_expires)
            .field("principal_type", &self.principal_type)
            .field("federated_credentials", &self.federated_credentials)
            .finish()
    }
}

impl std::fmt::Debug for PrivateRegistrySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateRegistrySpec")
            .field("host", &self.host)
            .field("images", &self.images)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}
