//! Probing: create a probe pod, watch it, re-probe with a fresh pod when the current one
//! can no longer show what we wait for (RBAC and token caches make real faults and
//! restores take effect late). Behind the [`Prober`] trait so the stage order can be
//! tested without a cluster.

use super::observe::{Step, WatchEnd, watch_until};
use crate::clients::kube::{Kube, ProbeSpec, label_value};
use crate::events::Observation;
use crate::faults::ProbePlan;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// What a probe waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// The image pulls (container Running).
    Pulls,
    /// The pull fails; `causes` are the expected ones (used to settle early).
    Fails { causes: Vec<crate::classify::Cause> },
    /// Whichever comes first: the image pulls, or the pull fails with a message. The
    /// observation tells which (`waiting_reason` is `None` when it pulled).
    Settles,
}

/// One probe request.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub namespace: String,
    /// Pod name prefix; attempts get `-1`, `-2`...
    pub name: String,
    pub plan: ProbePlan,
    pub node_selector: BTreeMap<String, String>,
    pub run_id: String,
    pub scenario: String,
    pub goal: Goal,
    pub deadline: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeEnd {
    Met,
    Deadline,
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub end: ProbeEnd,
    pub observation: Observation,
    pub elapsed: Duration,
    pub attempts: u32,
}

/// Callbacks while probing (events are emitted by the engine through these).
pub trait ProbeListener: Send {
    fn created(&mut self, pod: &str, namespace: &str, image: &str);
    fn observed(&mut self, obs: &Observation);
}

#[async_trait]
pub trait Prober: Send + Sync + std::fmt::Debug {
    /// Prepare the scenario namespace, copying `secrets` from the source namespace.
    async fn prepare(
        &self,
        namespace: &str,
        run_id: &str,
        secrets: &[String],
    ) -> Result<(), String>;
    async fn probe(
        &self,
        req: ProbeRequest,
        cancel: tokio::sync::watch::Receiver<bool>,
        listener: &mut dyn ProbeListener,
    ) -> Result<ProbeResult, String>;
    async fn cleanup(&self, namespace: &str) -> Result<(), String>;
}

/// The real prober on a Kubernetes cluster.
#[derive(Debug)]
pub struct KubeProber {
    pub kube: Kube,
    /// Where pull secrets named by scenarios and the target live.
    pub secret_source_namespace: String,
    /// How long a failure is watched for the expected causes to show before settling.
    pub settle: Duration,
    /// The least time between two probe pods of one request. While a fault has not yet
    /// taken effect (RBAC and token caches: minutes on Azure) every probe pulls fine and
    /// is replaced; this keeps that from becoming a pod (and pull) storm on the cluster.
    pub reprobe_interval: Duration,
}

/// The default least time between re-probes on a real cluster (scaled on the lab).
pub const REPROBE_INTERVAL: Duration = Duration::from_secs(5);

fn failing(obs: &Observation) -> bool {
    obs.waiting_reason.is_some() && obs.message.is_some() && !obs.causes.is_empty()
}

#[async_trait]
#[expect(
    clippy::too_many_lines,
    reason = "`probe` is one watch loop over a pod's phases; not split yet"
)]
impl Prober for KubeProber {
    async fn prepare(
        &self,
        namespace: &str,
        run_id: &str,
        secrets: &[String],
    ) -> Result<(), String> {
        self.kube
            .ensure_namespace(namespace, run_id)
            .await
            .map_err(|e| format!("create namespace {namespace}: {e}"))?;
        for s in secrets {
            let src = self
                .kube
                .get_secret(&self.secret_source_namespace, s)
                .await
                .map_err(|e| format!("read Secret {}/{s}: {e}", self.secret_source_namespace))?
                .ok_or_else(|| {
                    format!(
                        "pull secret {s} not found in namespace {} (acr-chaos copies pull secrets from there)",
                        self.secret_source_namespace
                    )
                })?;
            let mut copy = src.clone();
            copy.metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(s.clone()),
                labels: Some(crate::clients::kube::labels(run_id, None)),
                ..Default::default()
            };
            self.kube
                .put_secret(namespace, &copy)
                .await
                .map_err(|e| format!("copy Secret {s} into {namespace}: {e}"))?;
        }
        Ok(())
    }

    async fn probe(
        &self,
        req: ProbeRequest,
        mut cancel: tokio::sync::watch::Receiver<bool>,
        listener: &mut dyn ProbeListener,
    ) -> Result<ProbeResult, String> {
        let start = Instant::now();
        let deadline = start + req.deadline;
        let mut attempt = 0u32;
        let mut last_created: Option<Instant> = None;
        loop {
            attempt += 1;
            if let Some(last) = last_created {
                // Pacing between re-probes (not polling: each probe is watched).
                let at = (last + self.reprobe_interval).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = cancel.changed() => {}
                }
            }
            last_created = Some(Instant::now());
            let name = label_value(&format!("{}-{attempt}", req.name));
            let spec = ProbeSpec {
                name: name.clone(),
                namespace: req.namespace.clone(),
                image: req.plan.image.clone(),
                pull_secrets: req.plan.pull_secrets.clone(),
                node_selector: req.node_selector.clone(),
                run_id: req.run_id.clone(),
                scenario: req.scenario.clone(),
            };
            self.kube
                .create_probe(&spec)
                .await
                .map_err(|e| format!("create probe pod {}/{name}: {e}", req.namespace))?;
            listener.created(&name, &req.namespace, &req.plan.image);
            let settle = self.settle;
            let goal = req.goal.clone();
            let end = watch_until(
                &self.kube,
                &req.namespace,
                &name,
                &req.plan.image,
                deadline,
                &mut cancel,
                |o| listener.observed(o),
                |st, obs| match &goal {
                    Goal::Pulls if st.running() => Step::Stop,
                    Goal::Pulls if obs.waiting_reason.as_deref() == Some("ImagePullBackOff") => {
                        Step::Recreate
                    }
                    Goal::Pulls => Step::Keep,
                    Goal::Fails { .. } if st.running() => Step::Recreate,
                    Goal::Fails { causes } if failing(obs) => {
                        if causes.iter().all(|c| obs.causes.contains(c)) {
                            Step::Stop
                        } else {
                            Step::SettleBy(Instant::now() + settle)
                        }
                    }
                    Goal::Fails { .. } => Step::Keep,
                    Goal::Settles if st.running() => Step::Stop,
                    Goal::Settles if obs.waiting_reason.is_some() && obs.message.is_some() => {
                        Step::Stop
                    }
                    Goal::Settles => Step::Keep,
                },
            )
            .await;
            let (pe, obs) = match end {
                WatchEnd::Met(o) => (ProbeEnd::Met, o),
                WatchEnd::Deadline(o) => (ProbeEnd::Deadline, o),
                WatchEnd::Interrupted(o) => (ProbeEnd::Interrupted, o),
                WatchEnd::Recreate(_) => {
                    let _ = self.kube.delete_pod(&req.namespace, &name).await;
                    continue;
                }
            };
            if pe != ProbeEnd::Met {
                let _ = self.kube.delete_pod(&req.namespace, &name).await;
            }
            return Ok(ProbeResult {
                end: pe,
                observation: obs,
                elapsed: start.elapsed(),
                attempts: attempt,
            });
        }
    }

    async fn cleanup(&self, namespace: &str) -> Result<(), String> {
        self.kube
            .delete_namespace(namespace)
            .await
            .map_err(|e| format!("delete namespace {namespace}: {e}"))
    }
}
