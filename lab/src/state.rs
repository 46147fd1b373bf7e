//! Runtime state of the lab's emulated Azure control plane, shared by the ARM emulator
//! (writes), the Entra ID emulator, the ACR front door and the kubelet emulator (reads).
//!
//! Held as [`SharedState`] (`Arc<RwLock<State>>`). Every query that depends on time uses
//! the state's [`Clock`], so tests can shrink delays with a time scale or jump ahead with
//! [`Clock::advance`]. All ids and names are compared case-insensitively.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::world::{NetworkRuleSet, Principal, TokenPassword, World, roles};

mod registries;
mod role_definitions;
pub use role_definitions::{
    CustomRoleSpec, Permission, RoleDefinition, builtin_roles,
};

/// The state every lab server shares.
pub type SharedState = Arc<RwLock<State>>;

/// Knobs for the emulated control plane.
#[derive(Debug, Clone)]
pub struct StateOptions {
    /// How long a role assignment change takes to affect authorization (as on Azure,
    /// where RBAC is eventually consistent). Multiplied by `time_scale`.
    pub propagation_delay: Duration,
    /// Real delay = configured delay × `time_scale` (1.0 = real timings; 0.01 = 100× faster).
    pub time_scale: f64,
    /// How long an ARM long-running operation stays `InProgress`. Multiplied by `time_scale`.
    pub lro_delay: Duration,
    /// Page size of ARM list responses (a `nextLink` is sent when more remain).
    pub page_size: usize,
}

impl Default for StateOptions {
    fn default() -> Self {
        Self {
            propagation_delay: Duration::from_secs(30),
            time_scale: 1.0,
            lro_delay: Duration::from_secs(2),
            page_size: 100,
        }
    }
}

/// Time source: real monotonic and wall clock plus a manual offset tests can advance.
#[derive(Debug, Clone)]
pub struct Clock {
    offset_nanos: Arc<AtomicU64>,
    time_scale: f64,
}

impl Clock {
    pub fn new(time_scale: f64) -> Self {
        let time_scale = if time_scale.is_finite() && time_scale >= 0.0 { time_scale } else { 1.0 };
        Self { offset_nanos: Arc::new(AtomicU64::new(0)), time_scale }
    }

    fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::Relaxed))
    }

    /// Monotonic now (plus the manual offset).
    pub fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// Wall-clock now (plus the manual offset).
    pub fn utc_now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.offset()).unwrap_or_default()
    }

    /// Jump ahead (tests).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// A configured delay scaled to real time.
    pub fn scaled(&self, configured: Duration) -> Duration {
        configured.mul_f64(self.time_scale)
    }
}

/// A role assignment as the lab holds it, including recently deleted ones (tombstones),
/// which keep counting for authorization until the propagation delay has passed.
#[derive(Debug, Clone)]
pub struct RoleAssignment {
    /// GUID name (lowercase as given by the creator; compared case-insensitively).
    pub name: String,
    /// Scope with a leading slash, as given by the creator.
    pub scope: String,
    /// Full role definition id as sent (`/subscriptions/…/roleDefinitions/{guid}` or tenant form).
    pub role_definition_id: String,
    pub principal_id: String,
    pub principal_type: String,
    pub description: Option<String>,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
    pub created_on: DateTime<Utc>,
    pub updated_on: DateTime<Utc>,
    /// Object id of the principal that created it.
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    /// When it starts counting for authorization (`None`: always has).
    pub effective_from: Option<Instant>,
    /// Set when deleted; it stops counting `propagation_delay` later.
    pub deleted_at: Option<Instant>,
}

impl RoleAssignment {
    /// The role definition GUID (the last path segment), lowercase.
    pub fn role_guid(&self) -> String {
        role_guid_of(&self.role_definition_id)
    }

    /// `/{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub fn id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.scope.trim_end_matches('/'),
            self.name
        )
    }

    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }

    fn counts_at(&self, now: Instant, delay: Duration) -> bool {
        let started = self.effective_from.is_none_or(|from| now >= from);
        let not_gone = self.deleted_at.is_none_or(|gone| now < gone + delay);
        started && not_gone
    }
}

/// The trailing GUID of a role definition id (or the GUID itself), lowercase.
pub fn role_guid_of(role_definition_id: &str) -> String {
    role_definition_id.trim_end_matches('/').rsplit('/').next().unwrap_or("").to_ascii_lowercase()
}

/// Whether `outer` is `inner` or one of its ancestors (ARM scope inheritance),
/// case-insensitively and on path-segment boundaries.
pub fn scope_contains(outer: &str, inner: &str) -> bool {
    let outer = outer.trim_end_matches('/').to_ascii_lowercase();
    let inner = inner.trim_end_matches('/').to_ascii_lowercase();
    if outer.is_empty() {
        return true; // "/" is the root scope
    }
    inner == outer
        || (inner.starts_with(&outer) && inner.as_bytes().get(outer.len()) == Some(&b'/'))
}

/// Registry network settings (ARM `publicNetworkAccess` + `networkRuleSet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryNetwork {
    pub public_network_access: String,
    pub network_rule_set: NetworkRuleSet,
}

/// A registry update accepted by ARM that applies when its async operation succeeds.
#[derive(Debug, Clone)]
pub struct PendingRegistryUpdate {
    pub due: Instant,
    pub network: RegistryNetwork,
}

/// Why the registry firewall refuses a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenyReason {
    #[error("public network access to the registry is disabled")]
    PublicNetworkAccessDisabled,
    #[error("client with IP '{0}' is not allowed by the registry's network rules")]
    NotInIpRules(IpAddr),
}

/// An ACR repository-scoped token (token + scope map collapsed into one).
#[derive(Debug, Clone)]
pub struct RegistryToken {
    pub name: String,
    /// Repositories it may pull: exact names, `prefix/*`, or `*`.
    pub repositories: Vec<String>,
    /// `enabled` | `disabled`.
    pub status: String,
    pub creation_date: DateTime<Utc>,
    pub passwords: Vec<TokenPassword>,
}

impl RegistryToken {
    pub fn allows_repository(&self, repository: &str) -> bool {
        self.repositories.iter().any(|pattern| repository_matches(pattern, repository))
    }
}

fn repository_matches(pattern: &str, repository: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(prefix) => {
            repository.len() > prefix.len() + 1
                && repository[..prefix.len()].eq_ignore_ascii_case(prefix)
                && repository.as_bytes()[prefix.len()] == b'/'
        }
        None => pattern.eq_ignore_ascii_case(repository),
    }
}

/// Why token (Basic) credentials are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("unknown token '{0}'")]
    UnknownToken(String),
    #[error("token '{0}' is disabled")]
    Disabled(String),
    #[error("wrong password for token '{0}'")]
    WrongPassword(String),
    #[error("password '{password}' of token '{token}' expired at {expiry}")]
    Expired { token: String, password: String, expiry: DateTime<Utc> },
    #[error("token '{token}' has no access to repository '{repository}'")]
    RepositoryNotAllowed { token: String, repository: String },
}

/// NSG security rule properties (ARM camelCase shape, §5 of azure-rest.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRuleProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port_range: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_port_ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port_range: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_port_ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_address_prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_address_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_address_prefixes: Vec<String>,
    pub access: String,
    pub priority: i32,
    pub direction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
}

/// An NSG security rule held by the lab.
#[derive(Debug, Clone)]
pub struct SecurityRule {
    pub name: String,
    pub etag: String,
    pub properties: SecurityRuleProperties,
}

/// An ARM long-running operation (polled through `Azure-AsyncOperation` or `Location`).
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub start_time: DateTime<Utc>,
    pub due: Instant,
    /// Body of the final `200` on the `Location` poll (generateCredentials); `None` → `204`/status.
    pub result: Option<serde_json::Value>,
}

/// Key the Entra ID emulator signs access tokens with (ES256).
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// SubjectPublicKeyInfo PEM, for anyone who wants to verify tokens out of process.
    pub public_pem: String,
    /// Uncompressed EC point (`04 || x || y`), for the JWKS document.
    pub public_raw: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh P-256 key.
    pub fn generate() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("P-256 key generation with aws-lc-rs");
        let public_pem = pair.public_key_pem();
        // PKCS#8 DER for signing; the raw uncompressed point for verifying (aws-lc-rs).
        let encoding = EncodingKey::from_ec_der(&pair.serialize_der());
        let decoding = DecodingKey::from_ec_der(pair.public_key_raw());
        let kid = uuid::Uuid::new_v4().simple().to_string();
        let public_raw = pair.public_key_raw().to_vec();
        Self { kid, encoding, decoding, public_pem, public_raw }
    }
}

/// The cluster's service-account token issuer (see `entra_workload`).
#[derive(Debug)]
pub struct WorkloadIssuer {
    /// The GUID in the issuer URL.
    pub id: String,
    pub key: SigningKey,
}

/// The emulated control plane's state.
#[derive(Debug)]
pub struct State {
    /// The world as loaded (static facts: ids, names, the cluster, images, the private registry).
    pub world: World,
    pub options: StateOptions,
    pub clock: Clock,
    /// Principals (service principals and managed identities) known to Entra ID.
    pub principals: Vec<Principal>,
    /// Role assignments, including deleted ones still propagating.
    pub role_assignments: Vec<RoleAssignment>,
    /// Built-in and custom role definitions (ARM authorizes with their permissions).
    pub role_definitions: Vec<RoleDefinition>,
    /// Registry network settings in force (see also `pending_registry_updates`).
    pub registry_network: RegistryNetwork,
    pub pending_registry_updates: Vec<PendingRegistryUpdate>,
    pub tokens: Vec<RegistryToken>,
    /// Tokens of the world's team registry (see [`State::tokens_of`]).
    pub team_tokens: Vec<RegistryToken>,
    pub nsg_rules: Vec<SecurityRule>,
    /// Long-running operations by id (lowercase).
    pub operations: HashMap<String, Operation>,
    /// Ports of the registry front door(s) on 127.0.0.1, registered by the Lab builder;
    /// an NSG outbound deny towards the registry drops TCP to these ports.
    pub registry_ports: Vec<u16>,
    /// The address those front doors listen on (`LabBuilder::listen`, default 127.0.0.1).
    pub registry_ip: IpAddr,
    /// Key the Entra ID emulator signs with and the ARM emulator / ACR front door verify.
    pub signing_key: SigningKey,
    /// The cluster's OIDC issuer (workload identity): its id in the issuer URL and the
    /// key that signs projected service-account tokens.
    pub workload_issuer: WorkloadIssuer,
    /// Public base URL of the ARM emulator (for `nextLink`, `Azure-AsyncOperation`, `Location`);
    /// when `None`, URLs are built from the request's `Host` header.
    pub arm_base_url: Option<String>,
    /// Issuer host used in Entra tokens (`https://login.microsoftonline.com` style, no slash).
    pub authority_host: Option<String>,
    /// The kubeconfig `listClusterUserCredential` returns (the lab's API server), set once
    /// the Kubernetes API emulator runs.
    pub cluster_user_kubeconfig: Option<String>,
    /// The nftables table holding NSG-derived drop rules, created on demand.
    pub(crate) firewall: Option<crate::nft::NftTable>,
}

impl State {
    pub fn new(world: World, options: StateOptions) -> Self {
        let clock = Clock::new(options.time_scale);
        let now = Utc::now();
        let role_assignments = world
            .role_assignments
            .iter()
            .map(|spec| RoleAssignment {
                name: spec.name.clone(),
                scope: spec.scope.clone(),
                role_definition_id: full_role_definition_id(&world.subscription_id, &spec.role),
                principal_id: spec.principal_id.clone(),
                principal_type: spec.principal_type.clone(),
                description: spec.description.clone(),
                condition: None,
                condition_version: None,
                created_on: now,
                updated_on: now,
                created_by: None,
                updated_by: None,
                effective_from: None,
                deleted_at: None,
            })
            .collect();
        let tokens = registries::tokens_from_spec(&world.registry.tokens, now);
        let team_tokens = world
            .team_registry
            .as_ref()
            .map(|t| registries::tokens_from_spec(&t.tokens, now))
            .unwrap_or_default();
        let registry_network = RegistryNetwork {
            public_network_access: world.registry.public_network_access.clone(),
            network_rule_set: world.registry.network_rule_set.clone(),
        };
        let mut role_definitions = builtin_roles();
        role_definitions.extend(world.custom_roles.iter().map(CustomRoleSpec::definition));
        Self {
            principals: world.principals.clone(),
            role_assignments,
            role_definitions,
            registry_network,
            pending_registry_updates: Vec::new(),
            tokens,
            team_tokens,
            nsg_rules: Vec::new(),
            operations: HashMap::new(),
            registry_ports: Vec::new(),
            registry_ip: IpAddr::from([127, 0, 0, 1]),
            signing_key: SigningKey::generate(),
            workload_issuer: WorkloadIssuer {
                id: uuid::Uuid::new_v4().to_string(),
                key: SigningKey::generate(),
            },
            arm_base_url: None,
            authority_host: None,
            cluster_user_kubeconfig: None,
            firewall: None,
            clock,
            options,
            world,
        }
    }

    /// `State::new` wrapped for sharing.
    pub fn shared(world: World, options: StateOptions) -> SharedState {
        Arc::new(RwLock::new(Self::new(world, options)))
    }

    /// Configured propagation delay scaled to real time.
    pub fn propagation_delay(&self) -> Duration {
        scale(self.options.propagation_delay, self.options.time_scale)
    }

    /// Configured LRO delay scaled to real time.
    pub fn lro_delay(&self) -> Duration {
        scale(self.options.lro_delay, self.options.time_scale)
    }

    // ---- identities -------------------------------------------------------------------

    pub fn principal_by_client_id(&self, client_id: &str) -> Option<&Principal> {
        self.principals.iter().find(|p| p.client_id.eq_ignore_ascii_case(client_id))
    }

    pub fn principal_by_object_id(&self, object_id: &str) -> Option<&Principal> {
        self.principals.iter().find(|p| p.object_id.eq_ignore_ascii_case(object_id))
    }

    /// The kubelet identity's principal (its object id and client id come from the cluster).
    pub fn kubelet_identity(&self) -> &crate::world::Identity {
        &self.world.cluster.kubelet_identity
    }

    // ---- RBAC -------------------------------------------------------------------------

    /// Live (not deleted) role assignments.
    pub fn live_role_assignments(&self) -> impl Iterator<Item = &RoleAssignment> {
        self.role_assignments.iter().filter(|a| a.is_live())
    }

    /// Effective role GUIDs (lowercase, deduplicated) of a principal at a scope, inherited
    /// from parent scopes, honouring the propagation delay.
    pub fn effective_roles(&self, principal_object_id: &str, scope: &str) -> Vec<String> {
        let now = self.clock.now();
        let delay = self.propagation_delay();
        let mut out: Vec<String> = Vec::new();
        for a in &self.role_assignments {
            if a.principal_id.eq_ignore_ascii_case(principal_object_id)
                && scope_contains(&a.scope, scope)
                && a.counts_at(now, delay)
            {
                let guid = a.role_guid();
                if !out.contains(&guid) {
                    out.push(guid);
                }
            }
        }
        out
    }

    /// Whether the principal has any of `role_guids` at `scope` (inherited, propagated).
    pub fn has_any_role(
        &self,
        principal_object_id: &str,
        scope: &str,
        role_guids: &[&str],
    ) -> bool {
        self.effective_roles(principal_object_id, scope)
            .iter()
            .any(|r| role_guids.iter().any(|g| g.eq_ignore_ascii_case(r)))
    }

    /// AcrPull, AcrPush, Contributor or Owner at the registry (not Reader).
    pub fn can_pull(&self, principal_object_id: &str) -> bool {
        self.has_any_role(
            principal_object_id,
            &self.world.registry_id(),
            &[roles::ACR_PULL, roles::ACR_PUSH, roles::CONTRIBUTOR, roles::OWNER],
        )
    }

    /// AcrPush, Contributor or Owner at the registry.
    pub fn can_push(&self, principal_object_id: &str) -> bool {
        self.has_any_role(
            principal_object_id,
            &self.world.registry_id(),
            &[roles::ACR_PUSH, roles::CONTRIBUTOR, roles::OWNER],
        )
    }

    // ---- registry network -------------------------------------------------------------

    /// Registry network settings in force now (accepted updates apply when their
    /// async operation has succeeded).
    pub fn effective_registry_network(&self) -> &RegistryNetwork {
        let now = self.clock.now();
        self.pending_registry_updates
            .iter()
            .rev()
            .find(|p| p.due <= now)
            .map(|p| &p.network)
            .unwrap_or(&self.registry_network)
    }

    /// Fold pending registry updates that are due into `registry_network`.
    pub fn apply_due_registry_updates(&mut self) {
        let now = self.clock.now();
        let (due, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_registry_updates)
            .into_iter()
            .partition(|p| p.due <= now);
        if let Some(last) = due.into_iter().last() {
            self.registry_network = last.network;
        }
        self.pending_registry_updates = pending;
    }

    /// `publicNetworkAccess` + `networkRuleSet` applied to a client address.
    pub fn network_allows(&self, client_ip: IpAddr) -> Result<(), DenyReason> {
        network_allows_with(self.effective_registry_network(), client_ip)
    }

    // ---- registry tokens --------------------------------------------------------------

    pub fn token(&self, name: &str) -> Option<&RegistryToken> {
        self.tokens.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    pub fn token_mut(&mut self, name: &str) -> Option<&mut RegistryToken> {
        self.tokens.iter_mut().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Token (Basic) login: status, password and its expiry. Returns the token.
    pub fn authenticate_token(
        &self,
        token_name: &str,
        password: &str,
    ) -> Result<&RegistryToken, TokenError> {
        self.authenticate_token_in(crate::world::RegistryRef::Main, token_name, password)
    }

    /// Token login plus repository scope.
    pub fn check_token(
        &self,
        token_name: &str,
        password: &str,
        repository: &str,
    ) -> Result<(), TokenError> {
        let token = self.authenticate_token(token_name, password)?;
        if token.allows_repository(repository) {
            Ok(())
        } else {
            Err(TokenError::RepositoryNotAllowed {
                token: token.name.clone(),
                repository: repository.to_string(),
            })
        }
    }
}

/// `publicNetworkAccess` + `networkRuleSet` of `net` applied to a client address.
fn network_allows_with(net: &RegistryNetwork, client_ip: IpAddr) -> Result<(), DenyReason> {
    if net.public_network_access.eq_ignore_ascii_case("Disabled") {
        return Err(DenyReason::PublicNetworkAccessDisabled);
    }
    let rules = &net.network_rule_set;
    if !rules.default_action.eq_ignore_ascii_case("Deny") {
        return Ok(());
    }
    let client = match client_ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(client_ip),
        v4 => v4,
    };
    let allowed = rules.ip_rules.iter().any(|rule| {
        rule.action.eq_ignore_ascii_case("Allow") && ip_rule_matches(&rule.value, client)
    });
    if allowed { Ok(()) } else { Err(DenyReason::NotInIpRules(client)) }
}

/// `configured × time_scale` (a non-finite or negative scale counts as 1).
fn scale(configured: Duration, time_scale: f64) -> Duration {
    let s = if time_scale.is_finite() && time_scale >= 0.0 { time_scale } else { 1.0 };
    configured.mul_f64(s)
}

/// `/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
pub fn full_role_definition_id(subscription_id: &str, role: &str) -> String {
    if role.starts_with('/') {
        role.to_string()
    } else {
        format!(
            "/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"
        )
    }
}

fn ip_rule_matches(value: &str, client: IpAddr) -> bool {
    let value = value.trim();
    if let Ok(net) = value.parse::<ipnet::IpNet>() {
        return net.contains(&client);
    }
    value.parse::<IpAddr>().is_ok_and(|ip| ip == client)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
