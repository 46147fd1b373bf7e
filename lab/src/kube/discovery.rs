//! Discovery documents: `/version`, `/api`, `/apis` and per-group-version resource lists
//! (the OpenAPI documents are in [`super::openapi`]).

use serde_json::{Value, json};

use super::kind::Kind;

/// The Kubernetes version the emulator claims.
pub const GIT_VERSION: &str = "v1.33.2";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-06-17T00:00:00Z",
        "goVersion": "go1.24.4",
        "compiler": "gc",
        "platform": format!("linux/{}", go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`: the core APIVersions.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str) -> Value {
    let gv = format!("{group}/v1");
    json!({
        "name": group,
        "versions": [{"groupVersion": gv, "version": "v1"}],
        "preferredVersion": {"groupVersion": gv, "version": "v1"},
    })
}

/// `/apis`: the APIGroupList (non-core groups).
pub fn group_list() -> Value {
    let groups: Vec<Value> = Kind::group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, _)| group_json(g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`: one APIGroup, if served.
pub fn group(group: &str) -> Option<Value> {
    Kind::group_versions().into_iter().any(|(g, _)| g == group && !g.is_empty()).then(|| {
        let mut g = group_json(group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

/// `/api/v1` or `/apis/<group>/<version>`: the APIResourceList, if served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<Kind> =
        Kind::ALL.into_iter().filter(|k| k.group() == group && k.version() == version).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for k in kinds {
        let mut r = json!({
            "name": k.plural(),
            "singularName": k.singular(),
            "namespaced": k.namespaced(),
            "kind": k.kind_name(),
            "verbs": k.verbs(),
        });
        if !k.short_names().is_empty() {
            r["shortNames"] = json!(k.short_names());
        }
        if !k.categories().is_empty() {
            r["categories"] = json!(k.categories());
        }
        resources.push(r);
        if k == Kind::Pod {
            resources.push(json!({
                "name": "pods/log", "singularName": "", "namespaced": true,
                "kind": "Pod", "verbs": ["get"],
            }));
        }
        if k.has_status_subresource() {
            resources.push(json!({
                "name": format!("{}/status", k.plural()),
                "singularName": "",
                "namespaced": k.namespaced(),
                "kind": k.kind_name(),
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resources_have_short_names() {
        let l = resource_list("", "v1").unwrap();
        let rs = l["resources"].as_array().unwrap();
        let pods = rs.iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert!(rs.iter().any(|r| r["name"] == "pods/status"));
        assert!(resource_list("events.k8s.io", "v1").is_some());
        assert!(resource_list("apps", "v1").is_some());
        assert!(resource_list("policy", "v1").is_none());
        let groups = group_list();
        let names: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["name"].as_str())
            .collect();
        for g in
            ["apps", "batch", "coordination.k8s.io", "events.k8s.io", "rbac.authorization.k8s.io"]
        {
            assert!(names.contains(&g), "{g} missing from {names:?}");
        }
    }
}
