//! Discovery documents: `/version`, `/api`, `/apis`, per-group-version resource lists and
//! minimal OpenAPI v3 documents (enough for kubectl's field-validation probe).

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

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_index() -> Value {
    let mut paths = serde_json::Map::new();
    for (g, v) in Kind::group_versions() {
        let p = openapi_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=acrchaoslab")}),
        );
    }
    json!({"paths": paths})
}

fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `/openapi/v3/<api/v1 | apis/g/v>`: a minimal OpenAPI 3 document listing each resource's
/// operations with `x-kubernetes-group-version-kind` and the `fieldValidation` parameter,
/// which is what kubectl inspects to decide on server-side field validation.
pub fn openapi_v3_doc(rel: &str) -> Option<Value> {
    let (group, version) = if let Some(v) = rel.strip_prefix("api/") {
        ("", v)
    } else {
        let rest = rel.strip_prefix("apis/")?;
        rest.split_once('/')?
    };
    let kinds: Vec<Kind> =
        Kind::ALL.into_iter().filter(|k| k.group() == group && k.version() == version).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for k in kinds {
        let gvk = json!({"group": group, "version": version, "kind": k.kind_name()});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        let op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", k.kind_name()),
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let base = format!("/{}", openapi_path(group, version));
        let item = if k.namespaced() {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", k.plural())
        } else {
            format!("{base}/{}/{{name}}", k.plural())
        };
        let coll = if k.namespaced() {
            format!("{base}/namespaces/{{namespace}}/{}", k.plural())
        } else {
            format!("{base}/{}", k.plural())
        };
        let item_ops = if k.read_only() {
            json!({"get": op("get")})
        } else {
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")})
        };
        let coll_ops = if k.read_only() {
            json!({"get": op("list")})
        } else {
            json!({"get": op("list"), "post": op("post")})
        };
        paths.insert(item, item_ops);
        paths.insert(coll, coll_ops);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
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
        assert!(openapi_v3_doc("apis/coordination.k8s.io/v1").is_some());
    }
}
