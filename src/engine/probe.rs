//! Probing: create a probe pod, watch it, re-probe with a fresh pod when the current one
//! can no longer show what we wait for (RBAC and token caches make real faults and
//! restores take effect late). Behind the [`Prober`] trait so the stage order can be
//! tested without a cluster.

use super::observe::{Step, WatchEnd, watch_until};
use crate::clients::ClientError;
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

/// Why a probe (or the namespace around it) could not be set up or torn down. A probe
/// that ran but did not see what it waited for is not an error: see [`ProbeEnd`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    #[error("create namespace {namespace}: {source}")]
    CreateNamespace {
        namespace: String,
        #[source]
        source: ClientError,
    },
    #[error("read Secret {namespace}/{secret}: {source}")]
    ReadSecret {
        namespace: String,
        secret: String,
        #[source]
        source: ClientError,
    },
    #[error(
        "pull secret {secret} not found in namespace {namespace} (acr-chaos copies pull secrets from there)"
    )]
    SecretMissing { namespace: String, secret: String },
    #[error("copy Secret {secret} into {namespace}: {source}")]
    CopySecret {
        namespace: String,
        secret: String,
        #[source]
        source: ClientError,
    },
    #[error("create probe pod {namespace}/{pod}: {source}")]
    CreatePod {
        namespace: String,
        pod: String,
        #[source]
        source: ClientError,
    },
    #[error("delete namespace {namespace}: {source}")]
    DeleteNamespace {
        namespace: String,
        #[source]
        source: ClientError,
    },
    /// What another prober (a test double) reports.
    #[error("{0}")]
    Other(String),
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
    ) -> Result<(), ProbeError>;
    async fn probe(
        &self,
        req: ProbeRequest,
        cancel: tokio::sync::watch::Receiver<bool>,
        listener: &mut dyn ProbeListener,
    ) -> Result<ProbeResult, ProbeError>;
    async fn cleanup(&self, namespace: &str) -> Result<(), ProbeError>;
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

impl KubeProber {
    /// One probe pod, watched until it meets the goal, the deadline passes or the run is
    /// cancelled. `None`: this pod can no longer show the goal; it was deleted, make a
    /// fresh one.
    async fn attempt(
        &self,
        req: &ProbeRequest,
        attempt: u32,
        deadline: Instant,
        cancel: &mut tokio::sync::watch::Receiver<bool>,
        listener: &mut dyn ProbeListener,
    ) -> Result<Option<(ProbeEnd, Observation)>, ProbeError> {
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
        self.kube.create_probe(&spec).await.map_err(|source| ProbeError::CreatePod {
            namespace: req.namespace.clone(),
            pod: name.clone(),
            source,
        })?;
        listener.created(&name, &req.namespace, &req.plan.image);
        let end = watch_until(
            &self.kube,
            &req.namespace,
            &name,
            &req.plan.image,
            deadline,
            cancel,
            |o| listener.observed(o),
            |st, obs| next_step(&req.goal, self.settle, st.running(), obs),
        )
        .await;
        let (pe, obs) = match end {
            WatchEnd::Met(o) => (ProbeEnd::Met, o),
            WatchEnd::Deadline(o) => (ProbeEnd::Deadline, o),
            WatchEnd::Interrupted(o) => (ProbeEnd::Interrupted, o),
            WatchEnd::Recreate(_) => {
                let _ = self.kube.delete_pod(&req.namespace, &name).await;
                return Ok(None);
            }
        };
        if pe != ProbeEnd::Met {
            let _ = self.kube.delete_pod(&req.namespace, &name).await;
        }
        Ok(Some((pe, obs)))
    }
}

/// What a probe pod's latest state means for `goal`.
fn next_step(goal: &Goal, settle: Duration, running: bool, obs: &Observation) -> Step {
    match goal {
        Goal::Pulls if running => Step::Stop,
        Goal::Pulls if obs.waiting_reason.as_deref() == Some("ImagePullBackOff") => Step::Recreate,
        Goal::Pulls => Step::Keep,
        Goal::Fails { .. } if running => Step::Recreate,
        Goal::Fails { causes } if failing(obs) => {
            if causes.iter().all(|c| obs.causes.contains(c)) {
                Step::Stop
            } else {
                Step::SettleBy(Instant::now() + settle)
            }
        }
        Goal::Fails { .. } => Step::Keep,
        Goal::Settles if running => Step::Stop,
        Goal::Settles if obs.waiting_reason.is_some() && obs.message.is_some() => Step::Stop,
        Goal::Settles => Step::Keep,
    }
}

#[async_trait]
impl Prober for KubeProber {
    async fn prepare(
        &self,
        namespace: &str,
        run_id: &str,
        secrets: &[String],
    ) -> Result<(), ProbeError> {
        self.kube.ensure_namespace(namespace, run_id).await.map_err(|source| {
            ProbeError::CreateNamespace { namespace: namespace.into(), source }
        })?;
        let from = &self.secret_source_namespace;
        for s in secrets {
            let src = self
                .kube
                .get_secret(from, s)
                .await
                .map_err(|source| ProbeError::ReadSecret {
                    namespace: from.clone(),
                    secret: s.clone(),
                    source,
                })?
                .ok_or_else(|| ProbeError::SecretMissing {
                    namespace: from.clone(),
                    secret: s.clone(),
                })?;
            let mut copy = src.clone();
            copy.metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(s.clone()),
                labels: Some(crate::clients::kube::labels(run_id, None)),
                ..Default::default()
            };
            self.kube.put_secret(namespace, &copy).await.map_err(|source| {
                ProbeError::CopySecret { namespace: namespace.into(), secret: s.clone(), source }
            })?;
        }
        Ok(())
    }

    async fn probe(
        &self,
        req: ProbeRequest,
        mut cancel: tokio::sync::watch::Receiver<bool>,
        listener: &mut dyn ProbeListener,
    ) -> Result<ProbeResult, ProbeError> {
        let start = Instant::now();
        let deadline = start + req.deadline;
        let mut attempt = 0u32;
        let mut last_created: Option<Instant> = None;
        loop {
            if let Some(last) = last_created {
                // Pacing between re-probes (not polling: each probe is watched).
                let at = (last + self.reprobe_interval).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = cancel.changed() => {}
                }
            }
            last_created = Some(Instant::now());
            attempt += 1;
            let watched = self.attempt(&req, attempt, deadline, &mut cancel, listener).await?;
            let Some((end, observation)) = watched else { continue };
            return Ok(ProbeResult {
                end,
                observation,
                elapsed: start.elapsed(),
                attempts: attempt,
            });
        }
    }

    async fn cleanup(&self, namespace: &str) -> Result<(), ProbeError> {
        self.kube
            .delete_namespace(namespace)
            .await
            .map_err(|source| ProbeError::DeleteNamespace { namespace: namespace.into(), source })
    }
}
