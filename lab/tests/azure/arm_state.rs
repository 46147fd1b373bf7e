//! Runtime state: scope inheritance, propagation delay, firewall, tokens.

use std::net::IpAddr;
use std::time::Duration;

use acr_chaos_lab::state::*;
use acr_chaos_lab::world::{World, roles};

fn state(delay_secs: u64) -> State {
    State::new(
        World::default_world(),
        StateOptions { propagation_delay: Duration::from_secs(delay_secs), ..Default::default() },
    )
}

#[test]
fn scope_inheritance_is_segment_wise_and_case_insensitive() {
    assert!(scope_contains("/subscriptions/A", "/SUBSCRIPTIONS/a/resourceGroups/rg"));
    assert!(scope_contains(
        "/subscriptions/a/resourceGroups/rg",
        "/subscriptions/a/resourcegroups/RG"
    ));
    assert!(!scope_contains(
        "/subscriptions/a/resourceGroups/rg",
        "/subscriptions/a/resourceGroups/rg2"
    ));
    assert!(!scope_contains(
        "/subscriptions/a/resourceGroups/rg/x",
        "/subscriptions/a/resourceGroups/rg"
    ));
}

#[test]
fn kubelet_can_pull_and_deletion_lags_by_propagation_delay() {
    let mut s = state(10);
    let kubelet = s.world.cluster.kubelet_identity.object_id.to_uppercase();
    assert!(s.can_pull(&kubelet));
    let now = s.clock.now();
    for a in &mut s.role_assignments {
        if a.principal_id.eq_ignore_ascii_case(&kubelet) {
            a.deleted_at = Some(now);
        }
    }
    assert!(s.can_pull(&kubelet), "deleted assignment still counts during propagation");
    s.clock.advance(Duration::from_secs(11));
    assert!(!s.can_pull(&kubelet));
}

#[test]
fn reader_cannot_pull_and_new_assignment_waits() {
    let mut s = state(5);
    let p = "11111111-0000-4000-8000-000000000001";
    let registry = s.world.registry_id();
    let now = s.clock.now();
    let mut a = s.role_assignments[0].clone();
    a.principal_id = p.into();
    a.scope = registry.clone();
    a.role_definition_id = roles::READER.into();
    a.name = "r1".into();
    s.role_assignments.push(a.clone());
    assert!(!s.can_pull(p));
    a.role_definition_id = roles::ACR_PULL.into();
    a.name = "r2".into();
    a.effective_from = Some(now + s.propagation_delay());
    s.role_assignments.push(a);
    assert!(!s.can_pull(p));
    s.clock.advance(Duration::from_secs(6));
    assert!(s.can_pull(p));
    assert_eq!(s.effective_roles(p, &registry).len(), 2);
}

#[test]
fn firewall_rules() {
    let mut s = state(0);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(s.network_allows(ip), Ok(()));
    s.registry_network.network_rule_set.default_action = "Deny".into();
    assert_eq!(s.network_allows(ip), Err(DenyReason::NotInIpRules(ip)));
    s.registry_network
        .network_rule_set
        .ip_rules
        .push(acr_chaos_lab::world::IpRule { action: "Allow".into(), value: "127.0.0.0/8".into() });
    assert_eq!(s.network_allows(ip), Ok(()));
    s.registry_network.public_network_access = "Disabled".into();
    assert_eq!(s.network_allows(ip), Err(DenyReason::PublicNetworkAccessDisabled));
}

#[test]
fn tokens_status_expiry_and_scope() {
    let mut s = state(0);
    let pw = "lab-token-password-1-not-a-secret";
    assert_eq!(s.check_token("PROBE-PULL", pw, "probe/hello"), Ok(()));
    assert!(matches!(
        s.check_token("probe-pull", pw, "team-a/api"),
        Err(TokenError::RepositoryNotAllowed { .. })
    ));
    assert!(matches!(
        s.check_token("probe-pull", "nope", "probe/hello"),
        Err(TokenError::WrongPassword(_))
    ));
    assert!(matches!(s.check_token("nope", pw, "probe/hello"), Err(TokenError::UnknownToken(_))));
    let expiry = s.clock.utc_now() + chrono::Duration::seconds(5);
    s.token_mut("probe-pull").unwrap().passwords[0].expiry = Some(expiry);
    assert_eq!(s.check_token("probe-pull", pw, "probe/hello"), Ok(()));
    s.clock.advance(Duration::from_secs(6));
    assert!(matches!(
        s.check_token("probe-pull", pw, "probe/hello"),
        Err(TokenError::Expired { .. })
    ));
    s.token_mut("probe-pull").unwrap().status = "disabled".into();
    assert!(matches!(s.check_token("probe-pull", pw, "probe/hello"), Err(TokenError::Disabled(_))));
}

#[test]
fn repository_patterns() {
    let t = |p: &str| RegistryToken {
        name: "t".into(),
        repositories: vec![p.into()],
        status: "enabled".into(),
        creation_date: chrono::Utc::now(),
        passwords: vec![],
    };
    let repository_matches = |p: &str, r: &str| t(p).allows_repository(r);
    assert!(repository_matches("*", "a/b"));
    assert!(repository_matches("probe/*", "probe/hello"));
    assert!(!repository_matches("probe/*", "probes/hello"));
    assert!(repository_matches("Probe/Hello", "probe/hello"));
}
