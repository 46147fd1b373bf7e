//! Minting a least-privileged chaos runner: an Entra service principal holding the
//! documented custom role (docs/acr-chaos-role.json) at the registry's and the node
//! resource group, and a Kubernetes ServiceAccount bound to exactly the documented
//! ClusterRole and Role (docs/acr-chaos-rbac.yaml), with its own kubeconfig. Tests take
//! one permission away to prove acr-chaos refuses before its first change.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{ChaosPrincipal, Lab, LabError};
use crate::kube::Kind;
use crate::state::{CustomRoleSpec, RoleAssignment, full_role_definition_id};
use crate::world::Principal;

/// The documented custom role, as `az role definition create` takes it.
pub const DOCUMENTED_ROLE_JSON: &str = include_str!("../../../docs/acr-chaos-role.json");
/// The documented Kubernetes RBAC (ClusterRole, Role and example bindings).
pub const DOCUMENTED_RBAC_YAML: &str = include_str!("../../../docs/acr-chaos-rbac.yaml");

/// What a runner is granted.
#[derive(Debug, Clone)]
pub struct RunnerSpec {
    /// Name of the principal, the ServiceAccount and (suffix of) the roles.
    pub name: String,
    pub role: CustomRoleSpec,
    /// `ClusterRole` and `Role` objects (JSON); bindings to the runner are made here.
    pub kube_roles: Vec<Value>,
    /// Namespace of the Role, its binding and the ServiceAccount (the journal namespace).
    pub namespace: String,
}

impl RunnerSpec {
    /// Exactly what docs/acr-chaos-role.json and docs/acr-chaos-rbac.yaml grant.
    pub fn documented(name: &str, namespace: &str) -> Self {
        let role: CustomRoleSpec =
            serde_json::from_str(DOCUMENTED_ROLE_JSON).expect("docs/acr-chaos-role.json parses");
        let kube_roles = yaml_documents(DOCUMENTED_RBAC_YAML)
            .into_iter()
            .filter(|d| matches!(d["kind"].as_str(), Some("ClusterRole" | "Role")))
            .collect();
        RunnerSpec { name: name.to_string(), role, kube_roles, namespace: namespace.to_string() }
    }

    /// The same without one ARM action.
    pub fn without_action(mut self, action: &str) -> Self {
        self.role.actions.retain(|a| !a.eq_ignore_ascii_case(action));
        self
    }

    /// The same without one verb on one resource (in every rule naming it).
    pub fn without_kube_verb(mut self, resource: &str, verb: &str) -> Self {
        for role in &mut self.kube_roles {
            let Some(rules) = role["rules"].as_array_mut() else { continue };
            let mut split = Vec::new();
            for rule in rules.iter_mut() {
                let names = |k: &str| -> Vec<String> {
                    rule[k]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                        .unwrap_or_default()
                };
                let (resources, verbs) = (names("resources"), names("verbs"));
                if !resources.iter().any(|r| r == resource) || !verbs.iter().any(|v| v == verb) {
                    continue;
                }
                // keep the verb for the rule's other resources
                let others: Vec<&String> = resources.iter().filter(|r| *r != resource).collect();
                if !others.is_empty() {
                    let mut copy = rule.clone();
                    copy["resources"] = json!(others);
                    split.push(copy);
                }
                rule["resources"] = json!([resource]);
                rule["verbs"] = json!(verbs.iter().filter(|v| *v != verb).collect::<Vec<_>>());
            }
            rules.extend(split);
        }
        self
    }

    /// `(resource, verb)` pairs the Kubernetes roles grant (for tests taking one away).
    pub fn kube_grants(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for role in &self.kube_roles {
            for rule in role["rules"].as_array().into_iter().flatten() {
                for r in rule["resources"].as_array().into_iter().flatten() {
                    for v in rule["verbs"].as_array().into_iter().flatten() {
                        let pair = (
                            r.as_str().unwrap_or("").to_string(),
                            v.as_str().unwrap_or("").to_string(),
                        );
                        if !out.contains(&pair) {
                            out.push(pair);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Split a multi-document YAML text into JSON values (empty documents dropped).
pub fn yaml_documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            if let Ok(v) = serde_saphyr::from_str::<Value>(&cur)
                && v.is_object()
            {
                docs.push(v);
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs
}

/// A minted runner: its Azure credentials and its kubeconfig.
#[derive(Debug, Clone)]
pub struct Runner {
    pub principal: ChaosPrincipal,
    pub kubeconfig: PathBuf,
    /// GUID of its custom role definition.
    pub role_guid: String,
}

fn random_secret() -> String {
    use rand::Rng as _;
    let mut b = [0u8; 24];
    rand::rng().fill(&mut b);
    format!("lab-runner-{}", hex::encode(b))
}

fn kube_err(what: &str) -> impl FnOnce(crate::kube::ApiError) -> LabError + '_ {
    move |e| LabError::Option(format!("minting the runner: {what}: {e}"))
}

impl Lab {
    /// Mint a runner holding exactly `spec`: a service principal with the custom role
    /// assigned (effective at once) at the registry's and the node resource group, and a
    /// ServiceAccount bound to the Kubernetes roles, with `<state-dir>/kubeconfig-<name>`.
    pub fn mint_runner(&self, spec: &RunnerSpec) -> Result<Runner, LabError> {
        let principal = self.mint_arm_principal(spec);
        let kubeconfig = self.mint_kube_identity(spec)?;
        let role_guid = {
            let mut role = spec.role.clone();
            role.name = format!("{} ({})", spec.role.name, spec.name);
            role.guid()
        };
        Ok(Runner { principal, kubeconfig, role_guid })
    }

    fn mint_arm_principal(&self, spec: &RunnerSpec) -> ChaosPrincipal {
        let mut st = self.state.write();
        let (sub, rg) = (st.world.subscription_id.clone(), st.world.resource_group.clone());
        let node_rg = st.world.cluster.node_resource_group.clone();
        let scopes: Vec<String> = [rg, node_rg]
            .iter()
            .map(|g| format!("/subscriptions/{sub}/resourceGroups/{g}"))
            .collect();
        let mut role = spec.role.clone();
        role.name = format!("{} ({})", spec.role.name, spec.name);
        role.id = None;
        role.assignable_scopes = scopes.clone();
        let def = role.definition();
        st.role_definitions.retain(|d| d.guid != def.guid);
        st.role_definitions.push(def.clone());
        let p = ChaosPrincipal {
            client_id: uuid::Uuid::new_v4().to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
            secret: random_secret(),
        };
        st.principals.push(Principal {
            display_name: spec.name.clone(),
            client_id: p.client_id.clone(),
            object_id: p.object_id.clone(),
            secret: Some(p.secret.clone()),
            secret_expires: None,
            principal_type: "ServicePrincipal".into(),
            federated_credentials: Vec::new(),
        });
        let now = st.clock.utc_now();
        for scope in scopes {
            st.role_assignments.push(RoleAssignment {
                name: uuid::Uuid::new_v4().to_string(),
                scope,
                role_definition_id: full_role_definition_id(&sub, &def.guid),
                principal_id: p.object_id.clone(),
                principal_type: "ServicePrincipal".into(),
                description: Some(format!("acr-chaos lab runner {}", spec.name)),
                condition: None,
                condition_version: None,
                created_on: now,
                updated_on: now,
                created_by: None,
                updated_by: None,
                effective_from: None,
                deleted_at: None,
            });
        }
        p
    }

    fn mint_kube_identity(&self, spec: &RunnerSpec) -> Result<PathBuf, LabError> {
        let api = &self.kube.api;
        let store = api.store.clone();
        let token = api
            .mint_service_account_token(&spec.namespace, &spec.name)
            .map_err(kube_err("token"))?;
        let subject =
            json!([{"kind": "ServiceAccount", "name": spec.name, "namespace": spec.namespace}]);
        for role in &spec.kube_roles {
            let base = role["metadata"]["name"].as_str().unwrap_or("role");
            let name = format!("{base}-{}", spec.name);
            let mut r = role.clone();
            r["metadata"] = json!({"name": name});
            let cluster = role["kind"] == "ClusterRole";
            let ns = (!cluster).then_some(spec.namespace.as_str());
            let (role_kind, binding_kind) = if cluster {
                (Kind::ClusterRole, Kind::ClusterRoleBinding)
            } else {
                (Kind::Role, Kind::RoleBinding)
            };
            let _ = store.delete(&role_kind, ns, &name);
            store.create(&role_kind, ns, r).map_err(kube_err("role"))?;
            let binding = json!({
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"], "name": name},
                "subjects": subject,
            });
            let _ = store.delete(&binding_kind, ns, &name);
            store.create(&binding_kind, ns, binding).map_err(kube_err("binding"))?;
        }
        let path = self.state_dir().join(format!("kubeconfig-{}", spec.name));
        api.write_kubeconfig_with(&path, &token)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_spec_and_removals() {
        let s = RunnerSpec::documented("r", "acr-chaos-system");
        assert_eq!(s.kube_roles.len(), 2, "ClusterRole and Role");
        assert!(s.kube_grants().contains(&("configmaps".into(), "delete".into())));
        let without = s.clone().without_kube_verb("pods", "watch");
        let g = without.kube_grants();
        assert!(!g.contains(&("pods".into(), "watch".into())));
        assert!(g.contains(&("pods".into(), "list".into())), "other verbs kept");
        let mut shared = s.clone();
        shared.kube_roles =
            vec![json!({"kind": "ClusterRole", "metadata": {"name": "x"}, "rules": [
            {"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "watch"]}]})];
        let g = shared.without_kube_verb("pods", "watch").kube_grants();
        assert!(!g.contains(&("pods".into(), "watch".into())));
        assert!(g.contains(&("secrets".into(), "watch".into())), "other resources keep it");
        assert!(g.contains(&("pods".into(), "get".into())));
        let a = s.without_action("Microsoft.Authorization/roleAssignments/write");
        assert!(!a.role.actions.iter().any(|x| x.ends_with("roleAssignments/write")));
    }
}
