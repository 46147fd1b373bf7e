//! The shipped scenarios and example target: they load, say what the design says each
//! fault must show, resolve their probe images against the example target, survive a
//! serialize → validate → load round trip, and the shipped JSON Schema is current.

use acr_chaos::classify::Cause;
use acr_chaos::scenario::load::{Loaded, check_text};
use acr_chaos::scenario::schema::{SchemaKind, json_schema};
use acr_chaos::scenario::values::ImageSpec;
use acr_chaos::scenario::{Fault, Scenario, Target, load_path, load_scenarios, load_target};
use rstest::rstest;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn builtin() -> Vec<Scenario> {
    load_scenarios(&[root().join("scenarios")]).unwrap_or_else(|d| {
        panic!(
            "shipped scenarios invalid:\n{}",
            d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
        )
    })
}

fn example_target() -> Target {
    load_target(&root().join("scenarios/targets/aks-example.yaml")).expect("example target")
}

#[rstest]
#[case("acr-detach", "acr-detach", &[Cause::UnauthorizedAnonymous])]
#[case("image-tag-missing", "image-tag-missing", &[Cause::NotFound])]
#[case("role-assignment-delete", "role-assignment-delete", &[Cause::UnauthorizedAnonymous])]
#[case("private-registry-no-secret", "private-registry-no-secret", &[Cause::AccessDenied])]
#[case("registry-firewall-deny", "registry-firewall-deny", &[Cause::ForbiddenNetwork])]
#[case("registry-public-access-disabled", "registry-firewall-deny", &[Cause::ForbiddenNetwork])]
#[case("pull-secret-expired", "pull-secret-expired", &[Cause::UnauthorizedCredentials])]
#[case("pull-secret-wrong", "pull-secret-wrong", &[Cause::UnauthorizedCredentials])]
#[case("pull-secret-missing", "pull-secret-missing", &[Cause::PullSecretMissing, Cause::AccessDenied])]
#[case("network-path-cut", "network-path-cut", &[Cause::NetworkUnreachable])]
fn builtin_scenario_expects_its_cause(
    #[case] name: &str,
    #[case] kind: &str,
    #[case] causes: &[Cause],
) {
    let all = builtin();
    let s = all
        .iter()
        .find(|s| s.name.as_str() == name)
        .unwrap_or_else(|| panic!("no scenario {name}"));
    assert_eq!(s.fault.kind(), kind);
    assert_eq!(s.expect.causes, causes);
    assert!(matches!(s.probe.image, ImageSpec::Alias(_)), "built-ins probe through target aliases");
    assert!(s.description.is_some(), "{name} has a description");
    // The file is named after the scenario.
    assert!(root().join(format!("scenarios/{name}.yaml")).is_file());
}

#[test]
fn tag_message_regex_allows_the_misleading_401() {
    let s = builtin().into_iter().find(|s| s.name.as_str() == "image-tag-missing").unwrap();
    let re = &s.expect.message_regex.as_ref().expect("a regex").0;
    let img = "myacr.azurecr.io/probe/busybox:does-not-exist-acr-chaos";
    let not_found = format!(
        "Failed to pull image \"{img}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": {img}: not found"
    );
    let with_401 = format!(
        "Failed to pull image \"{img}\": [rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized, {not_found}]"
    );
    assert!(re.is_match(&not_found));
    assert!(re.is_match(&with_401));
    assert!(!re.is_match("Back-off pulling image \"x\""));
}

#[test]
fn probe_images_resolve_against_the_example_target() {
    let target = example_target();
    for s in builtin() {
        let image = s.resolve_image(&target).unwrap_or_else(|e| panic!("{e}"));
        match &s.fault {
            Fault::ImageTagMissing(f) => {
                assert_eq!(image, format!("myacr.azurecr.io/probe/busybox:{}", f.tag));
            }
            Fault::PrivateRegistryNoSecret(_)
            | Fault::PullSecretMissing(_)
            | Fault::PullSecretWrong(_) => {
                assert!(image.starts_with("docker.io/"), "{image}");
            }
            // a registry the cluster is not attached to (node credentials mask it elsewhere)
            Fault::PullSecretExpired(f) => {
                assert_eq!(image, "myteamacr.azurecr.io/team/app:1.0");
                let alias = f.registry.as_ref().expect("names its registry").to_string();
                assert!(target.azure.registries.contains_key(&alias), "{alias}");
            }
            _ => assert_eq!(image, "myacr.azurecr.io/probe/busybox:1.36"),
        }
    }
}

#[test]
fn unknown_alias_is_an_error_when_resolving() {
    let mut target = example_target();
    target.probe_images.remove("private");
    let s =
        builtin().into_iter().find(|s| s.name.as_str() == "private-registry-no-secret").unwrap();
    let e = s.resolve_image(&target).unwrap_err().to_string();
    assert!(e.contains("\"private\"") && e.contains("defined: acr"), "{e}");
}

#[test]
fn example_target_fields() {
    let t = example_target();
    assert_eq!(t.name.as_str(), "aks-example");
    assert_eq!(t.namespace_prefix.as_str(), "acr-chaos");
    assert_eq!(t.endpoints.arm.url().host_str(), Some("management.azure.com"));
    assert_eq!(t.timeouts.api_request.get().as_secs(), 30);
    assert!(t.allows_cluster(t.azure.cluster_id.as_str()));
    assert!(t.allows_resource(t.azure.registry_id.as_str()));
    assert!(!t.allows_resource(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/other"
    ));
}

#[test]
fn serialized_files_validate_and_load_back_equal() {
    let loaded = load_path(&[root().join("scenarios")]).expect("valid");
    for s in &loaded.scenarios {
        let yaml = serde_saphyr::to_string(&s.scenario).expect("serialize");
        let mut back = Loaded::default();
        let mut diags = Vec::new();
        check_text(&PathBuf::from("roundtrip.yaml"), &yaml, &mut back, &mut diags);
        assert!(diags.is_empty(), "{yaml}\n{diags:#?}");
        assert_eq!(back.scenarios[0].scenario, s.scenario);
    }
    let t = &loaded.targets[0].target;
    let yaml = serde_saphyr::to_string(t).expect("serialize");
    let mut back = Loaded::default();
    let mut diags = Vec::new();
    check_text(&PathBuf::from("roundtrip.yaml"), &yaml, &mut back, &mut diags);
    assert!(diags.is_empty(), "{yaml}\n{diags:#?}");
    assert_eq!(&back.targets[0].target, t);
}

#[test]
fn shipped_schema_is_current() {
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("scenarios/acr-chaos.schema.json")).expect("read"),
    )
    .expect("JSON");
    assert_eq!(
        shipped,
        json_schema(SchemaKind::All),
        "regenerate: cargo run -q -- schema > scenarios/acr-chaos.schema.json"
    );
}

#[test]
fn documented_scenario_example_is_valid() {
    let doc = std::fs::read_to_string(root().join("docs/scenarios.md")).expect("docs");
    let blocks: Vec<&str> =
        doc.split("```yaml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    let scenario = blocks
        .iter()
        .find(|b| b.starts_with("apiVersion: acr-chaos/v1\nkind: Scenario"))
        .expect("a scenario example in docs/scenarios.md");
    let alerts = blocks.iter().find(|b| b.starts_with("alerts:")).expect("an alerts example");
    let text = scenario.replace("alerts: []", "") + alerts;
    let mut loaded = Loaded::default();
    let mut diags = Vec::new();
    check_text(Path::new("docs/scenarios.md"), &text, &mut loaded, &mut diags);
    assert!(diags.is_empty(), "{text}\n{diags:#?}");
    assert_eq!(loaded.scenarios[0].scenario.alerts.len(), 3);
}
