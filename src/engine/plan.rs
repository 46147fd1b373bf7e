//! Planning: scenario files + target → resolved [`ScenarioPlan`]s and their faults;
//! guard rails (every ARM id and the cluster must be allowlisted); conflict-aware
//! scheduling (scenarios sharing a registry, identity or NSG lock run one at a time).

use super::scenario::{Expectation, ScenarioPlan};
use crate::faults::{self, Env, Fault, Lock, ProbePlan};
use crate::scenario::{Scenario, Target, values::ImageSpec};
use std::collections::{BTreeSet, HashSet};
use std::future::Future;

/// A scenario ready to run.
#[derive(Debug)]
pub struct Planned {
    pub plan: ScenarioPlan,
    pub fault: Box<dyn Fault>,
}

/// Why a scenario cannot be planned against a target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error(
        "scenario {scenario}: probe image alias target:{alias} is not in target {target}'s probeImages (defined: {defined})"
    )]
    UnknownProbeImage { scenario: String, alias: String, target: String, defined: String },
    #[error("scenario {scenario}: fault {kind}: {source}")]
    Fault {
        scenario: String,
        kind: faults::FaultKind,
        #[source]
        source: Box<faults::FaultError>,
    },
}

/// Resolve one scenario against the target.
pub fn plan(s: &Scenario, t: &Target) -> Result<Planned, PlanError> {
    let image = match &s.probe.image {
        ImageSpec::Reference(r) => r.to_string(),
        ImageSpec::Alias(a) => t.probe_images.get(a).map(|i| i.to_string()).ok_or_else(|| {
            PlanError::UnknownProbeImage {
                scenario: s.name.to_string(),
                alias: a.clone(),
                target: t.name.to_string(),
                defined: t.probe_images.keys().cloned().collect::<Vec<_>>().join(", "),
            }
        })?,
    };
    let plan = ScenarioPlan {
        name: s.name.to_string(),
        description: s.description.clone().unwrap_or_default(),
        tags: s.tags.iter().map(|t| t.to_string()).collect(),
        probe: ProbePlan {
            image,
            pull_secrets: s.probe.pull_secrets.iter().map(|p| p.to_string()).collect(),
        },
        node_selector: s.probe.node_selector.clone(),
        expect: Expectation {
            waiting_reasons: s
                .expect
                .waiting_reasons
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            causes: s.expect.causes.clone(),
            message_regex: s.expect.message_regex.as_ref().map(|r| r.0.clone()),
            deadline: s.expect.deadline.into(),
        },
        recovery_deadline: s.recovery.deadline.into(),
        alerts: s.alerts.clone(),
    };
    let registries = t.azure.registries.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
    let fault = faults::for_scenario(&s.fault, &registries).map_err(|source| PlanError::Fault {
        scenario: s.name.to_string(),
        kind: s.fault.kind(),
        source: Box::new(source),
    })?;
    Ok(Planned { plan, fault })
}

/// Guard rails: the cluster and every ARM id the scenarios change must be allowlisted.
/// Returns every refusal (empty = allowed).
pub fn guard(t: &Target, env: &Env, planned: &[Planned]) -> Vec<String> {
    let mut refusals = Vec::new();
    if !t.allows_cluster(&env.cluster_id) {
        refusals
            .push(format!("cluster {} is not in the target's allowlist.clusters", env.cluster_id));
    }
    for p in planned {
        for id in p.fault.arm_ids(env) {
            if !t.allows_resource(&id) {
                refusals.push(format!(
                    "scenario {} would change {id}, which is not in the target's allowlist.resources",
                    p.plan.name
                ));
            }
        }
    }
    refusals
}

/// Run `jobs` with at most `parallel` at a time; two jobs whose lock sets intersect never
/// overlap. Whenever a job ends, the first waiting jobs (in input order) whose locks are
/// free start. Results come back in input order.
pub async fn schedule<T, F, Fut>(parallel: usize, jobs: Vec<(BTreeSet<Lock>, F)>) -> Vec<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let parallel = parallel.max(1);
    let n = jobs.len();
    let mut pending: Vec<Option<(usize, BTreeSet<Lock>, F)>> =
        jobs.into_iter().enumerate().map(|(i, (l, f))| Some((i, l, f))).collect();
    let mut held: HashSet<Lock> = HashSet::new();
    let mut running = tokio::task::JoinSet::new();
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    loop {
        for slot in pending.iter_mut() {
            if running.len() >= parallel {
                break;
            }
            let free =
                slot.as_ref().is_some_and(|(_, locks, _)| locks.iter().all(|l| !held.contains(l)));
            if free && let Some((i, locks, job)) = slot.take() {
                held.extend(locks.iter().cloned());
                running.spawn(async move { (i, locks, job().await) });
            }
        }
        match running.join_next().await {
            None => break,
            Some(Ok((i, locks, out))) => {
                for l in &locks {
                    held.remove(l);
                }
                results[i] = Some(out);
            }
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    results.into_iter().map(|r| r.expect("every job ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn conflicting_jobs_never_overlap() {
        let log: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let reg = || BTreeSet::from([Lock::Registry("r".into())]);
        let mk =
            |name: &'static str, locks: BTreeSet<Lock>, log: Arc<std::sync::Mutex<Vec<String>>>| {
                (locks, move || async move {
                    log.lock().unwrap().push(format!("start {name}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    log.lock().unwrap().push(format!("end {name}"));
                    name
                })
            };
        let jobs = vec![
            mk("a", reg(), log.clone()),
            mk("b", reg(), log.clone()),
            mk("c", BTreeSet::new(), log.clone()),
        ];
        let out = schedule(3, jobs).await;
        assert_eq!(out, vec!["a", "b", "c"]);
        let l = log.lock().unwrap().clone();
        let pos = |s: &str| l.iter().position(|x| x == s).unwrap();
        assert!(pos("end a") < pos("start b"), "{l:?}");
        assert!(pos("start c") < pos("end a"), "namespace-local job ran side by side: {l:?}");
    }

    #[tokio::test]
    async fn serial_when_parallel_is_one() {
        let log: Arc<std::sync::Mutex<Vec<u32>>> = Arc::default();
        let jobs: Vec<_> = (0..3u32)
            .map(|i| {
                let log = log.clone();
                (BTreeSet::new(), move || async move {
                    log.lock().unwrap().push(i);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    log.lock().unwrap().push(i);
                })
            })
            .collect();
        schedule(1, jobs).await;
        assert_eq!(*log.lock().unwrap(), vec![0, 0, 1, 1, 2, 2]);
    }
}
