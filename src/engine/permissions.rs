//! Least privilege proven before the first change: every permission each planned
//! scenario needs — its fault's change AND its undo (see
//! [`crate::faults::Fault::required_permissions`]) plus what the engine itself does —
//! is checked against what the run's identity holds: on Azure with the permissions API
//! at each scope (`Microsoft.Authorization/permissions`, actions minus notActions), on
//! Kubernetes with SelfSubjectAccessReviews. A missing one refuses the run (exit 2) with
//! a JUnit case per scenario naming the permission, before anything is touched.

use super::connect::Connected;
use super::plan::Planned;
use super::scenario::{SharedSink, scenario_namespace};
use crate::clients::ClientError;
use crate::clients::arm::ArmPermission;
use crate::events::{Event, EventKind, Stage, Verdict};
use crate::faults::Env;
use crate::faults::permissions::{Need, Permission, Purpose};
use crate::scenario::Target;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authorization::v1::ResourceRule;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the engine needs for every scenario, besides the fault's own needs: read the
/// cluster and registry; create and delete the run namespace; probe pods, their events
/// and pull-secret copies in it; the journal ConfigMap, the run Lease and the source
/// pull secrets in the journal namespace.
pub fn engine_needs(target: &Target, env: &Env) -> Vec<Need> {
    let (run, jns) = (Some(env.run_namespace.as_str()), Some(target.journal_namespace.as_str()));
    let mut v = vec![
        Need::arm(
            "Microsoft.ContainerService/managedClusters/read",
            &env.cluster_id,
            Purpose::Read,
        ),
        Need::arm("Microsoft.ContainerRegistry/registries/read", &env.registry_id, Purpose::Read),
        Need::kube("get", "namespaces", None, Purpose::Read),
        Need::kube("create", "namespaces", None, Purpose::Change),
        Need::kube("delete", "namespaces", None, Purpose::Undo),
    ];
    for verb in ["create", "get", "list", "watch", "delete"] {
        v.push(Need::kube(verb, "pods", run, Purpose::Change));
    }
    for verb in ["list", "watch"] {
        v.push(Need::kube(verb, "events", run, Purpose::Read));
    }
    for verb in ["get", "create", "update"] {
        v.push(Need::kube(verb, "secrets", run, Purpose::Change));
    }
    for verb in ["get", "list", "create", "update", "delete"] {
        v.push(Need::kube(verb, "configmaps", jns, Purpose::Undo));
    }
    for verb in ["get", "create", "update", "delete"] {
        v.push(Need {
            permission: Permission::kube(verb, "coordination.k8s.io", "leases", jns),
            purpose: Purpose::Change,
        });
    }
    v.push(Need::kube("get", "secrets", jns, Purpose::Read));
    v
}

/// Every need of every planned scenario, by scenario name.
pub fn plan_needs(
    target: &Target,
    env0: &Env,
    planned: &[Planned],
) -> BTreeMap<String, BTreeSet<Need>> {
    planned
        .iter()
        .map(|p| {
            let mut env = env0.clone();
            env.scenario = p.plan.name.clone();
            env.run_namespace =
                scenario_namespace(target.namespace_prefix.as_str(), &env.run_id, &p.plan.name);
            let mut needs: BTreeSet<Need> = engine_needs(target, &env).into_iter().collect();
            needs.extend(p.fault.required_permissions(&env));
            (p.plan.name.clone(), needs)
        })
        .collect()
}

/// How many permission questions are in flight at once (they are independent).
const CONCURRENT_CHECKS: usize = 8;

/// What the identity holds, asked of the target once per distinct question: one
/// permissions call per ARM scope; on Kubernetes one rules review per namespace, and an
/// access review only for what no listed rule grants (a cluster-scoped permission, or one
/// an authorizer the rules review cannot list may grant). One access review per
/// permission was about twenty round trips per scenario, most of a run's preflight.
#[derive(Default)]
struct Holdings {
    arm: HashMap<String, Vec<ArmPermission>>,
    kube: HashMap<Permission, bool>,
}

type Question<'n> = (&'n str, &'n str, &'n str, Option<&'n str>);

impl Holdings {
    async fn ask(
        c: &Connected,
        needs: &BTreeMap<String, BTreeSet<Need>>,
    ) -> Result<Self, ClientError> {
        let mut scopes = BTreeSet::new();
        let mut questions: BTreeMap<Permission, Question<'_>> = BTreeMap::new();
        for n in needs.values().flatten() {
            match &n.permission {
                Permission::Arm { scope, .. } => {
                    scopes.insert(scope.to_ascii_lowercase());
                }
                p @ Permission::Kube { verb, group, resource, namespace } => {
                    questions.insert(p.clone(), (verb, group, resource, namespace.as_deref()));
                }
            }
        }
        let (arm, kube) = tokio::try_join!(arm_holdings(c, scopes), kube_holdings(c, questions))?;
        Ok(Holdings { arm, kube })
    }

    fn holds(&self, p: &Permission) -> bool {
        match p {
            Permission::Arm { action, scope } => self
                .arm
                .get(&scope.to_ascii_lowercase())
                .is_some_and(|blocks| blocks.iter().any(|b| b.allows(action))),
            Permission::Kube { .. } => self.kube.get(p).copied().unwrap_or(false),
        }
    }
}

async fn arm_holdings(
    c: &Connected,
    scopes: BTreeSet<String>,
) -> Result<HashMap<String, Vec<ArmPermission>>, ClientError> {
    futures::stream::iter(scopes)
        .map(|scope| async move {
            let blocks = c.arm.list_permissions(&scope).await?;
            Ok::<_, ClientError>((scope, blocks))
        })
        .buffer_unordered(CONCURRENT_CHECKS)
        .try_collect()
        .await
}

async fn kube_holdings(
    c: &Connected,
    questions: BTreeMap<Permission, Question<'_>>,
) -> Result<HashMap<Permission, bool>, ClientError> {
    let namespaces: BTreeSet<&str> = questions.values().filter_map(|q| q.3).collect();
    let rules: HashMap<&str, Vec<ResourceRule>> = futures::stream::iter(namespaces)
        .map(|ns| async move { Ok::<_, ClientError>((ns, c.kube.rules_in(ns).await?)) })
        .buffer_unordered(CONCURRENT_CHECKS)
        .try_collect()
        .await?;
    let mut held = HashMap::new();
    let mut open = Vec::new();
    for (p, q @ (verb, group, resource, namespace)) in questions {
        // only a namespace's own review lists the rules that hold in it
        let granted = namespace
            .and_then(|ns| rules.get(ns))
            .is_some_and(|rs| rs.iter().any(|r| rule_grants(r, verb, group, resource)));
        if granted {
            held.insert(p, true);
        } else {
            open.push((p, q));
        }
    }
    let reviewed: Vec<(Permission, bool)> = futures::stream::iter(open)
        .map(|(p, (verb, group, resource, namespace))| async move {
            let ok = c.kube.can_i(verb, group, resource, namespace).await?;
            Ok::<_, ClientError>((p, ok))
        })
        .buffer_unordered(CONCURRENT_CHECKS)
        .try_collect()
        .await?;
    held.extend(reviewed);
    Ok(held)
}

/// Whether an RBAC rule grants `verb` on every object of `resource` in API `group`
/// (a rule limited to some `resourceNames` does not).
fn rule_grants(rule: &ResourceRule, verb: &str, group: &str, resource: &str) -> bool {
    let has = |list: Option<&Vec<String>>, want: &str| {
        list.is_some_and(|l| l.iter().any(|x| x == "*" || x == want))
    };
    rule.resource_names.as_ref().is_none_or(Vec::is_empty)
        && has(Some(&rule.verbs), verb)
        && has(rule.api_groups.as_ref(), group)
        && has(rule.resources.as_ref(), resource)
}

/// Missing permissions per scenario (empty when everything is held).
pub async fn missing(
    c: &Connected,
    needs: &BTreeMap<String, BTreeSet<Need>>,
) -> Result<BTreeMap<String, Vec<Need>>, ClientError> {
    let h = Holdings::ask(c, needs).await?;
    Ok(needs
        .iter()
        .filter_map(|(scenario, ns)| {
            let gone: Vec<Need> = ns.iter().filter(|n| !h.holds(&n.permission)).cloned().collect();
            (!gone.is_empty()).then(|| (scenario.clone(), gone))
        })
        .collect())
}

/// One line per missing permission of a scenario.
pub fn describe_missing(scenario: &str, gone: &[Need]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for n in gone {
        let line = format!(
            "missing permission {} (scenario {scenario} needs it {})",
            n.permission, n.purpose
        );
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

/// The permission check itself failed (the identity's role assignments or RBAC rules
/// could not be read).
#[derive(Debug, thiserror::Error)]
#[error("checking the identity's permissions before the first change: {0}")]
pub struct PermissionCheckError(#[source] pub ClientError);

/// The preflight check. `Ok(false)`: every permission is held, go on. `Ok(true)`:
/// refused — one JUnit error case per scenario that lacks a permission, naming each, and
/// a `run-refused` event; nothing was changed. `Err`: the check itself failed.
pub async fn preflight(
    c: &Connected,
    target: &Target,
    env0: &Env,
    planned: &[Planned],
    sink: &SharedSink,
) -> Result<bool, PermissionCheckError> {
    let needs = plan_needs(target, env0, planned);
    let gone = missing(c, &needs).await.map_err(PermissionCheckError)?;
    if gone.is_empty() {
        return Ok(false);
    }
    for p in planned {
        let name = &p.plan.name;
        sink.emit(Event::scenario(
            name,
            EventKind::ScenarioStarted {
                fault: p.fault.kind().into(),
                description: p.plan.description.clone(),
                tags: p.plan.tags.clone(),
                changes: Vec::new(),
            },
        ));
        let verdict = match gone.get(name) {
            Some(g) => {
                let lines = describe_missing(name, g);
                sink.emit(Event::scenario(
                    name,
                    EventKind::ScenarioError {
                        stage: Stage::Preflight,
                        error: format!("refused before the first change: {}", lines.join("; ")),
                    },
                ));
                Verdict::Error
            }
            None => Verdict::Skipped,
        };
        sink.emit(Event::scenario(name, EventKind::ScenarioFinished { verdict }));
    }
    let missing: Vec<String> =
        gone.iter().flat_map(|(name, g)| describe_missing(name, g)).collect();
    let reason = format!(
        "the run's identity lacks permissions its changes or their undo need; nothing was changed:\n  {}",
        missing.join("\n  ")
    );
    sink.emit(Event::run(EventKind::RunRefused { reason }));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::arm::action_matches;

    #[test]
    fn arm_blocks_subtract_not_actions() {
        let b = ArmPermission {
            actions: vec!["*".into()],
            not_actions: vec!["Microsoft.Authorization/*/Write".into()],
            ..Default::default()
        };
        assert!(b.allows("Microsoft.ContainerRegistry/registries/write"));
        assert!(!b.allows("Microsoft.Authorization/roleAssignments/write"));
        assert!(action_matches("*/read", "Microsoft.Network/networkSecurityGroups/read"));
        assert!(!action_matches("*/read", "Microsoft.Network/networkSecurityGroups/write"));
        assert!(action_matches("microsoft.network/*", "Microsoft.Network/a/b/delete"));
        assert!(!action_matches("Microsoft.Network/a", "Microsoft.Network/a/b"));
    }

    #[test]
    fn missing_lines_name_the_permission_and_why() {
        let gone = vec![Need::arm(
            "Microsoft.Authorization/roleAssignments/write",
            "/subscriptions/s/rg/r",
            Purpose::Undo,
        )];
        let l = describe_missing("acr-detach", &gone);
        assert_eq!(
            l,
            [
                "missing permission Azure 'Microsoft.Authorization/roleAssignments/write' at /subscriptions/s/rg/r (scenario acr-detach needs it to undo the change)"
            ]
        );
    }

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> ResourceRule {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ResourceRule {
            verbs: own(verbs),
            api_groups: Some(own(groups)),
            resources: Some(own(resources)),
            resource_names: (!names.is_empty()).then(|| own(names)),
        }
    }

    #[test]
    fn a_rule_grants_its_verbs_groups_and_resources_and_wildcards() {
        let r = rule(&["get", "create"], &[""], &["configmaps"], &[]);
        assert!(rule_grants(&r, "get", "", "configmaps"));
        assert!(!rule_grants(&r, "delete", "", "configmaps"), "another verb");
        assert!(!rule_grants(&r, "get", "apps", "configmaps"), "another group");
        assert!(!rule_grants(&r, "get", "", "secrets"), "another resource");
        let admin = rule(&["*"], &["*"], &["*"], &[]);
        assert!(rule_grants(&admin, "delete", "coordination.k8s.io", "leases"));
    }

    #[test]
    fn a_rule_limited_to_names_or_subresources_does_not_grant_the_resource() {
        let named = rule(&["get"], &[""], &["secrets"], &["pull"]);
        assert!(!rule_grants(&named, "get", "", "secrets"), "only some objects");
        let sub = rule(&["get"], &[""], &["pods/log"], &[]);
        assert!(!rule_grants(&sub, "get", "", "pods"), "a subresource is not the resource");
        let no_groups = ResourceRule { api_groups: None, ..rule(&["get"], &[], &["pods"], &[]) };
        assert!(!rule_grants(&no_groups, "get", "", "pods"), "no apiGroups grants nothing");
    }
}
