//! Authentication of bearer tokens to users and Kubernetes RBAC authorization, as the
//! real API server's RBAC authorizer decides: a request is allowed when a ClusterRoleBinding
//! (anywhere) or a RoleBinding (in the request's namespace) binds a subject matching the
//! user to a ClusterRole/Role with a rule matching the verb, API group, resource
//! (`resource/subresource`), and resource name. The lab's admin token is in
//! `system:masters` (allowed everything, as on AKS with the admin kubeconfig). Every
//! authenticated user may use discovery (`system:discovery`) and self reviews
//! (`system:basic-user`).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{Value, json};

use super::error::ApiError;
use super::kind::Kind;
use super::store::SharedStore;

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn admin() -> Self {
        UserInfo {
            name: "masterclient".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    /// A ServiceAccount's user, with the groups the token authenticator gives it.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// Bearer tokens known to the API server, besides its admin token.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Arc<RwLock<HashMap<String, UserInfo>>>);

impl Tokens {
    pub fn insert(&self, token: String, user: UserInfo) {
        self.0.write().insert(token, user);
    }

    pub fn lookup(&self, token: &str) -> Option<UserInfo> {
        self.0.read().get(token).cloned()
    }
}

/// What a request asks to do (the authorizer's attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Set for non-resource requests (`/api`, `/version`, …).
    pub path: Option<String>,
}

impl Attributes {
    pub fn resource(verb: &str, kind: Kind, ns: Option<&str>, name: Option<&str>) -> Self {
        Attributes {
            verb: verb.into(),
            group: kind.group().into(),
            resource: kind.plural().into(),
            subresource: String::new(),
            namespace: ns.unwrap_or("").into(),
            name: name.unwrap_or("").into(),
            path: None,
        }
    }

    /// The API server's Forbidden message.
    pub fn forbidden(&self, user: &UserInfo) -> ApiError {
        if let Some(path) = &self.path {
            return ApiError::new(
                403,
                "Forbidden",
                format!("forbidden: User \"{}\" cannot {} path \"{path}\"", user.name, self.verb),
            );
        }
        let res = if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        };
        let qualified =
            if self.group.is_empty() { res.clone() } else { format!("{res}.{}", self.group) };
        let subject = if self.name.is_empty() {
            format!("{qualified} is forbidden")
        } else {
            format!("{qualified} \"{}\" is forbidden", self.name)
        };
        let scope = if self.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{}\"", self.namespace)
        };
        let mut e = ApiError::new(
            403,
            "Forbidden",
            format!(
                "{subject}: User \"{}\" cannot {} resource \"{res}\" in API group \"{}\" {scope}",
                user.name, self.verb, self.group
            ),
        );
        e = e.with_details(&self.group, &self.resource, &self.name);
        e
    }
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether one PolicyRule allows the request (as rbac/v1 `RuleAllows`).
pub fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strs(rule, "verbs");
    if !has(&verbs, &a.verb) {
        return false;
    }
    if let Some(path) = &a.path {
        return strs(rule, "nonResourceURLs").iter().any(|u| {
            u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
        });
    }
    if !has(&strs(rule, "apiGroups"), &a.group) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resources = strs(rule, "resources");
    let res_ok = resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
    });
    if !res_ok {
        return false;
    }
    let names = strs(rule, "resourceNames");
    names.is_empty() || (!a.name.is_empty() && names.contains(&a.name))
}

/// Rules every authenticated user has (system:discovery, system:basic-user,
/// system:public-info-viewer).
pub fn default_rules() -> Vec<Value> {
    vec![
        json!({"verbs": ["get"], "nonResourceURLs": [
            "/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/",
            "/healthz", "/livez", "/readyz"]}),
        json!({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}),
    ]
}

fn subject_matches(s: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = s["name"].as_str().unwrap_or("");
    match s["kind"].as_str().unwrap_or("") {
        "User" => name == user.name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = s["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// The rules bound to `user` that apply in `namespace` ("" = cluster-wide bindings only).
pub fn rules_for(store: &SharedStore, user: &UserInfo, namespace: &str) -> Vec<Value> {
    let mut rules = default_rules();
    let role_rules = |kind: Kind, ns: Option<&str>, name: &str| -> Vec<Value> {
        store
            .get(&kind, ns, name)
            .ok()
            .and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    };
    let bound = |b: &Value, bns: &str| {
        b.get("subjects")
            .and_then(Value::as_array)
            .is_some_and(|ss| ss.iter().any(|s| subject_matches(s, user, bns)))
    };
    if let Ok((crbs, _)) = store.list(&Kind::ClusterRoleBinding, None, None, None) {
        for b in crbs.iter().filter(|b| bound(b, "")) {
            if b["roleRef"]["kind"] == "ClusterRole" {
                let name = b["roleRef"]["name"].as_str().unwrap_or("");
                rules.extend(role_rules(Kind::ClusterRole, None, name));
            }
        }
    }
    if !namespace.is_empty()
        && let Ok((rbs, _)) = store.list(&Kind::RoleBinding, Some(namespace), None, None)
    {
        for b in rbs.iter().filter(|b| bound(b, namespace)) {
            let name = b["roleRef"]["name"].as_str().unwrap_or("");
            rules.extend(match b["roleRef"]["kind"].as_str() {
                Some("ClusterRole") => role_rules(Kind::ClusterRole, None, name),
                Some("Role") => role_rules(Kind::Role, Some(namespace), name),
                _ => Vec::new(),
            });
        }
    }
    rules
}

/// Whether `user` may do `a`.
pub fn allowed(store: &SharedStore, user: &UserInfo, a: &Attributes) -> bool {
    user.is_admin() || rules_for(store, user, &a.namespace).iter().any(|r| rule_allows(r, a))
}

/// `SelfSubjectAccessReview` status for `spec`.
pub fn access_review(store: &SharedStore, user: &UserInfo, review: &Value) -> Value {
    let spec = &review["spec"];
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let attrs = if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        Attributes {
            verb: s(r, "verb"),
            group: s(r, "group"),
            resource: s(r, "resource"),
            subresource: s(r, "subresource"),
            namespace: s(r, "namespace"),
            name: s(r, "name"),
            path: None,
        }
    } else {
        let n = &spec["nonResourceAttributes"];
        Attributes {
            verb: s(n, "verb"),
            group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: Some(s(n, "path")),
        }
    };
    let ok = allowed(store, user, &attrs);
    let mut out = review.clone();
    out["apiVersion"] = json!("authorization.k8s.io/v1");
    out["kind"] = json!("SelfSubjectAccessReview");
    if !out.get("metadata").is_some_and(Value::is_object) {
        out["metadata"] = json!({});
    }
    out["metadata"]["creationTimestamp"] = Value::Null;
    out["status"] = if ok {
        json!({"allowed": true, "reason": if user.is_admin() { "system:masters" } else { "RBAC: allowed" }})
    } else {
        json!({"allowed": false})
    };
    out
}

/// `SelfSubjectRulesReview` status for `spec.namespace`.
pub fn rules_review(store: &SharedStore, user: &UserInfo, review: &Value) -> Value {
    let ns = review["spec"]["namespace"].as_str().unwrap_or("");
    let rules = if user.is_admin() {
        vec![
            json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
            json!({"verbs": ["*"], "nonResourceURLs": ["*"]}),
        ]
    } else {
        rules_for(store, user, ns)
    };
    let (non, res): (Vec<Value>, Vec<Value>) =
        rules.into_iter().partition(|r| r.get("nonResourceURLs").is_some());
    let mut out = review.clone();
    out["apiVersion"] = json!("authorization.k8s.io/v1");
    out["kind"] = json!("SelfSubjectRulesReview");
    if !out.get("metadata").is_some_and(Value::is_object) {
        out["metadata"] = json!({});
    }
    out["metadata"]["creationTimestamp"] = Value::Null;
    out["status"] = json!({"resourceRules": res, "nonResourceRules": non, "incomplete": false});
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::Store;

    fn attrs(verb: &str, kind: Kind, ns: &str, name: &str) -> Attributes {
        let ns = (!ns.is_empty()).then_some(ns);
        let name = (!name.is_empty()).then_some(name);
        Attributes::resource(verb, kind, ns, name)
    }

    #[test]
    fn role_binding_grants_only_its_namespace_and_verbs() {
        let store = Store::new();
        store.create(&Kind::Namespace, None, json!({"metadata": {"name": "apps"}})).unwrap();
        store
            .create(
                &Kind::Role,
                Some("apps"),
                json!({"metadata": {"name": "cm"}, "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create"]},
                    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["s1"]}]}),
            )
            .unwrap();
        store
            .create(
                &Kind::RoleBinding,
                Some("apps"),
                json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
                       "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "apps"}]}),
            )
            .unwrap();
        let u = UserInfo::service_account("apps", "runner");
        assert!(allowed(&store, &u, &attrs("get", Kind::ConfigMap, "apps", "x")));
        assert!(allowed(&store, &u, &attrs("create", Kind::ConfigMap, "apps", "")));
        assert!(!allowed(&store, &u, &attrs("delete", Kind::ConfigMap, "apps", "x")));
        assert!(!allowed(&store, &u, &attrs("get", Kind::ConfigMap, "default", "x")));
        assert!(allowed(&store, &u, &attrs("get", Kind::Secret, "apps", "s1")));
        assert!(!allowed(&store, &u, &attrs("get", Kind::Secret, "apps", "s2")));
        assert!(!allowed(&store, &u, &attrs("list", Kind::Secret, "apps", "")));
        let other = UserInfo::service_account("apps", "other");
        assert!(!allowed(&store, &other, &attrs("get", Kind::ConfigMap, "apps", "x")));
        assert!(allowed(&store, &UserInfo::admin(), &attrs("delete", Kind::Namespace, "", "apps")));
        let e = attrs("list", Kind::Secret, "apps", "").forbidden(&u);
        assert_eq!(
            e.message,
            "secrets is forbidden: User \"system:serviceaccount:apps:runner\" cannot list resource \"secrets\" in API group \"\" in the namespace \"apps\""
        );
    }

    #[test]
    fn cluster_role_binding_and_wildcards() {
        let store = Store::new();
        store
            .create(
                &Kind::ClusterRole,
                None,
                json!({"metadata": {"name": "ns"}, "rules": [
                    {"apiGroups": ["*"], "resources": ["namespaces"], "verbs": ["*"]},
                    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]}),
            )
            .unwrap();
        store
            .create(
                &Kind::ClusterRoleBinding,
                None,
                json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ns"},
                       "subjects": [{"kind": "Group", "name": "system:serviceaccounts:ci"}]}),
            )
            .unwrap();
        let u = UserInfo::service_account("ci", "any");
        assert!(allowed(&store, &u, &attrs("delete", Kind::Namespace, "", "x")));
        let mut log = attrs("get", Kind::Pod, "default", "p");
        log.subresource = "log".into();
        assert!(allowed(&store, &u, &log));
        assert!(!allowed(&store, &u, &attrs("get", Kind::Pod, "default", "p")));
        let review = access_review(
            &store,
            &u,
            &json!({"spec": {"resourceAttributes": {"verb": "create", "resource": "namespaces"}}}),
        );
        assert_eq!(review["status"]["allowed"], true);
        let rr = rules_review(&store, &u, &json!({"spec": {"namespace": "default"}}));
        assert!(rr["status"]["resourceRules"].as_array().unwrap().len() >= 2);
    }
}
