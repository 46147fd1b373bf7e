//! Per-registry queries: the world's main registry (the one the cluster is attached to)
//! and its optional team registry each have their own tokens, role scope and network
//! settings. The main registry's network settings change through ARM (with pending
//! updates); the team registry's stay as its world spec says.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::{DenyReason, RegistryNetwork, RegistryToken, State, TokenError, constant_time_eq};
use crate::world::{RegistryRef, TokenSpec, roles};

/// Runtime tokens from a registry spec's `tokens`.
pub(super) fn tokens_from_spec(specs: &[TokenSpec], now: DateTime<Utc>) -> Vec<RegistryToken> {
    specs
        .iter()
        .map(|t| RegistryToken {
            name: t.name.clone(),
            repositories: t.repositories.clone(),
            status: t.status.to_ascii_lowercase(),
            creation_date: now,
            passwords: t.passwords.clone(),
        })
        .collect()
}

impl State {
    /// The tokens of a registry (empty for a team registry the world does not have).
    pub fn tokens_of(&self, r: RegistryRef) -> &[RegistryToken] {
        match r {
            RegistryRef::Main => &self.tokens,
            RegistryRef::Team => &self.team_tokens,
        }
    }

    fn tokens_of_mut(&mut self, r: RegistryRef) -> &mut Vec<RegistryToken> {
        match r {
            RegistryRef::Main => &mut self.tokens,
            RegistryRef::Team => &mut self.team_tokens,
        }
    }

    pub fn token_in(&self, r: RegistryRef, name: &str) -> Option<&RegistryToken> {
        self.tokens_of(r).iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    pub fn token_in_mut(&mut self, r: RegistryRef, name: &str) -> Option<&mut RegistryToken> {
        self.tokens_of_mut(r).iter_mut().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Token (Basic) login at a registry: status, password and its expiry.
    pub fn authenticate_token_in(
        &self,
        r: RegistryRef,
        token_name: &str,
        password: &str,
    ) -> Result<&RegistryToken, TokenError> {
        let token = self
            .token_in(r, token_name)
            .ok_or_else(|| TokenError::UnknownToken(token_name.to_string()))?;
        if !token.status.eq_ignore_ascii_case("enabled") {
            return Err(TokenError::Disabled(token.name.clone()));
        }
        let matching = token
            .passwords
            .iter()
            .find(|p| constant_time_eq(p.value.as_bytes(), password.as_bytes()));
        let Some(pw) = matching else {
            return Err(TokenError::WrongPassword(token.name.clone()));
        };
        if let Some(expiry) = pw.expiry
            && self.clock.utc_now() >= expiry
        {
            return Err(TokenError::Expired {
                token: token.name.clone(),
                password: pw.name.clone(),
                expiry,
            });
        }
        Ok(token)
    }

    /// AcrPull, AcrPush, Contributor or Owner at the registry (inherited, propagated).
    pub fn can_pull_in(&self, r: RegistryRef, principal_object_id: &str) -> bool {
        self.world.registry_id_of(r).is_some_and(|id| {
            self.has_any_role(
                principal_object_id,
                &id,
                &[roles::ACR_PULL, roles::ACR_PUSH, roles::CONTRIBUTOR, roles::OWNER],
            )
        })
    }

    /// AcrPush, Contributor or Owner at the registry.
    pub fn can_push_in(&self, r: RegistryRef, principal_object_id: &str) -> bool {
        self.world.registry_id_of(r).is_some_and(|id| {
            self.has_any_role(
                principal_object_id,
                &id,
                &[roles::ACR_PUSH, roles::CONTRIBUTOR, roles::OWNER],
            )
        })
    }

    /// The registry firewall of a registry applied to a client address.
    pub fn network_allows_in(&self, r: RegistryRef, client_ip: IpAddr) -> Result<(), DenyReason> {
        match r {
            RegistryRef::Main => self.network_allows(client_ip),
            RegistryRef::Team => match &self.world.team_registry {
                None => Ok(()),
                Some(spec) => super::network_allows_with(
                    &RegistryNetwork {
                        public_network_access: spec.public_network_access.clone(),
                        network_rule_set: spec.network_rule_set.clone(),
                    },
                    client_ip,
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateOptions;
    use crate::world::World;

    #[test]
    fn team_registry_has_its_own_tokens_and_roles() {
        let st = State::new(World::default_world(), StateOptions::default());
        let kubelet = st.world.cluster.kubelet_identity.object_id.clone();
        assert!(st.can_pull_in(RegistryRef::Main, &kubelet), "attached to the main registry");
        assert!(!st.can_pull_in(RegistryRef::Team, &kubelet), "not attached to the team one");
        assert!(st.token_in(RegistryRef::Team, "acr-chaos-probe").is_some());
        assert!(st.token_in(RegistryRef::Main, "acr-chaos-probe").is_none());
        assert!(st.token_in(RegistryRef::Team, "probe-pull").is_none());
        let pw = &st.token_in(RegistryRef::Team, "acr-chaos-probe").unwrap().passwords[0].value;
        assert!(st.authenticate_token_in(RegistryRef::Team, "acr-chaos-probe", pw).is_ok());
        assert!(matches!(
            st.authenticate_token_in(RegistryRef::Main, "acr-chaos-probe", pw),
            Err(TokenError::UnknownToken(_))
        ));
        assert!(st.network_allows_in(RegistryRef::Team, "10.0.0.1".parse().unwrap()).is_ok());
    }
}
