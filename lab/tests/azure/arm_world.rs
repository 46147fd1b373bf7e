//! World file loading: the shipped default is valid; errors name file:line:column or the field.

use acr_chaos_lab::world::World;

fn load(text: &str) -> Result<World, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.yaml");
    std::fs::write(&path, text).unwrap();
    World::load(&path).map_err(|e| e.to_string().replace(&path.display().to_string(), "FILE"))
}

const DEFAULT: &str = include_str!("../../world.default.yaml");

#[test]
fn default_world_loads_and_validates() {
    let w = load(DEFAULT).unwrap();
    w.validate().unwrap();
    assert_eq!(w.registry.name, "acrchaoslab");
    // The pieces the lab needs: kubelet identity attached, a runner with a secret and
    // Owner on the RG, an expired secret, a token.
    let kubelet = &w.cluster.kubelet_identity;
    assert!(w.principals.iter().any(|p| p.object_id == kubelet.object_id));
    assert!(
        w.role_assignments
            .iter()
            .any(|a| a.principal_id == kubelet.object_id && a.scope == w.registry_id())
    );
    assert!(w.principals.iter().any(|p| p.secret.is_some() && p.secret_expires.is_none()));
    assert!(w.principals.iter().any(|p| p.secret_expires.is_some()));
    assert!(!w.registry.tokens.is_empty());
}

#[test]
fn parse_errors_name_file_line_and_column() {
    let bad = DEFAULT.replacen("location: westeurope", "location: westeurope\nbogusField: 1", 1);
    let err = load(&bad).unwrap_err();
    let line = bad.lines().position(|l| l.starts_with("bogusField")).unwrap() + 1;
    assert!(err.contains(&format!("FILE:{line}:1")), "{err}");
    assert!(err.contains("unknown field `bogusField`"), "{err}");
}

#[test]
fn semantic_errors_name_the_field() {
    let cases = [
        ("name: acrchaoslab", "name: a-b", "registry.name"),
        (
            "publicNetworkAccess: Enabled",
            "publicNetworkAccess: Sometimes",
            "registry.publicNetworkAccess",
        ),
        ("defaultAction: Allow", "defaultAction: Block", "registry.networkRuleSet.defaultAction"),
        ("status: enabled", "status: paused", "registry.tokens[0].status"),
        (
            "name: 0f2a8d54-0000-4000-8000-0000000acd01",
            "name: not-a-guid",
            "roleAssignments[0].name",
        ),
        (
            "scope: /subscriptions/00000000-0000-4000-8000-0000000c4a05/resourceGroups/rg-acr-chaos-lab\n",
            "scope: /subscriptions/11111111-0000-4000-8000-0000000c4a05/resourceGroups/rg-acr-chaos-lab\n",
            "roleAssignments[1].scope",
        ),
    ];
    for (from, to, field) in cases {
        assert!(DEFAULT.contains(from), "{from}");
        let err = load(&DEFAULT.replacen(from, to, 1)).unwrap_err();
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = World::load(std::path::Path::new("/nonexistent/world.yaml")).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/world.yaml"), "{err}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let w = World::default_world();
    let state = acr_chaos_lab::state::State::new(w.clone(), Default::default());
    let dump = format!("{w:?} {state:?}");
    for secret in [
        "lab-runner-secret-not-a-real-secret",
        "lab-expired-secret-not-a-real-secret",
        "lab-token-password-1-not-a-secret",
        "lab-hub-password-not-a-secret",
    ] {
        assert!(!dump.contains(secret), "{secret} leaked into Debug output");
    }
    assert!(dump.contains("<redacted>"));
}
