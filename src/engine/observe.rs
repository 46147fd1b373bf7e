//! Observing probes through watches: a probe pod and its events are folded into an
//! [`Observation`] every time either changes; the caller's condition decides when to
//! stop. No sleep-polling: the only timers are the stage deadlines.

use crate::classify::Cause;
use crate::clients::kube::{Kube, ProbeUpdate};
use crate::events::Observation;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as K8sEvent, Pod};
use std::time::Duration;
use tokio::time::Instant;

/// What a probe's watch has seen so far.
#[derive(Debug, Default, Clone)]
pub struct ProbeState {
    pub pod: Option<Pod>,
    /// Events by uid (or name), in first-seen order.
    pub events: Vec<K8sEvent>,
}

impl ProbeState {
    pub fn apply(&mut self, u: ProbeUpdate) {
        match u {
            ProbeUpdate::Pod(p) => self.pod = Some(*p),
            ProbeUpdate::Event(e) => {
                let key = |e: &K8sEvent| e.metadata.uid.clone().or(e.metadata.name.clone());
                match self.events.iter_mut().find(|x| key(x) == key(&e)) {
                    Some(x) => *x = *e,
                    None => self.events.push(*e),
                }
            }
        }
    }

    /// True when the probe container runs (or ran) — the image was pulled.
    pub fn running(&self) -> bool {
        let Some(st) = self.pod.as_ref().and_then(|p| p.status.as_ref()) else {
            return false;
        };
        let cs_running = st.container_statuses.iter().flatten().any(|c| {
            c.state.as_ref().is_some_and(|s| s.running.is_some() || s.terminated.is_some())
        });
        cs_running || matches!(st.phase.as_deref(), Some("Running") | Some("Succeeded"))
    }
}

/// Fold a probe's state into the event-stream form, classifying the failure message.
pub fn observation(namespace: &str, name: &str, image: &str, st: &ProbeState) -> Observation {
    let waiting = st
        .pod
        .as_ref()
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.as_ref());
    let waiting_reason = waiting.and_then(|w| w.reason.clone());
    let pull_failure = st
        .events
        .iter()
        .rev()
        .filter(|e| e.reason.as_deref() == Some("Failed"))
        .filter_map(|e| e.message.clone())
        .find(|m| m.starts_with("Failed to pull image"));
    let message = pull_failure
        .or_else(|| waiting.and_then(|w| w.message.clone()).filter(|m| !m.trim().is_empty()));
    let mut texts: Vec<String> = message.iter().cloned().collect();
    texts.extend(
        st.events
            .iter()
            .filter(|e| {
                matches!(
                    e.reason.as_deref(),
                    Some("FailedToRetrieveImagePullSecret") | Some("InspectFailed")
                )
            })
            .filter_map(|e| e.message.clone()),
    );
    let mut causes: Vec<Cause> = Vec::new();
    for t in &texts {
        for c in crate::classify::classify(t) {
            if !causes.contains(&c) {
                causes.push(c);
            }
        }
    }
    let mut event_reasons = Vec::new();
    for e in &st.events {
        if let Some(r) = &e.reason
            && event_reasons.last() != Some(r)
        {
            event_reasons.push(r.clone());
        }
    }
    Observation {
        pod: name.to_string(),
        namespace: namespace.to_string(),
        image: image.to_string(),
        waiting_reason,
        message,
        causes,
        event_reasons,
        running: st.running(),
    }
}

/// What the condition says after each change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Keep watching.
    Keep,
    /// Done: the goal is met.
    Stop,
    /// Keep watching, but stop (as met) at this instant at the latest.
    SettleBy(Instant),
    /// This probe cannot reach the goal any more: make a fresh one.
    Recreate,
}

/// How a watch ended.
#[derive(Debug)]
pub enum WatchEnd {
    /// The condition held.
    Met(Observation),
    /// The condition asked for a fresh probe.
    Recreate(Observation),
    /// The deadline passed; the last observation.
    Deadline(Observation),
    /// The run was interrupted.
    Interrupted(Observation),
}

/// Watch probe `ns/name` until `cond(state, observation)` holds, `deadline` passes or
/// `cancel` flips to true. `on_change` sees each new observation.
#[expect(
    clippy::too_many_arguments,
    reason = "the probe's identity, the deadline, the cancel signal and two callbacks: a struct would only rename them"
)]
pub async fn watch_until(
    kube: &Kube,
    ns: &str,
    name: &str,
    image: &str,
    deadline: Instant,
    cancel: &mut tokio::sync::watch::Receiver<bool>,
    mut on_change: impl FnMut(&Observation),
    mut cond: impl FnMut(&ProbeState, &Observation) -> Step,
) -> WatchEnd {
    let mut stream = Box::pin(kube.watch_probe(ns, name));
    let mut st = ProbeState::default();
    let mut last = observation(ns, name, image, &st);
    let mut settle: Option<Instant> = None;
    loop {
        if *cancel.borrow() {
            return WatchEnd::Interrupted(last);
        }
        let until = settle.map_or(deadline, |s| s.min(deadline));
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {
                return if settle.is_some_and(|s| s <= deadline) {
                    WatchEnd::Met(last)
                } else {
                    WatchEnd::Deadline(last)
                };
            }
            _ = cancel.changed() => return WatchEnd::Interrupted(last),
            item = stream.next() => match item {
                None => {
                    // the watcher never ends by itself; treat as a transient gap
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    stream = Box::pin(kube.watch_probe(ns, name));
                }
                Some(Err(e)) => tracing::debug!(error = %e, "probe watch error (the watcher retries)"),
                Some(Ok(u)) => {
                    st.apply(u);
                    let obs = observation(ns, name, image, &st);
                    if obs != last {
                        on_change(&obs);
                        last = obs;
                    }
                    match cond(&st, &last) {
                        Step::Keep => {}
                        Step::Stop => return WatchEnd::Met(last),
                        Step::Recreate => return WatchEnd::Recreate(last),
                        Step::SettleBy(t) => {
                            if settle.is_none() {
                                settle = Some(t);
                            }
                        }
                    }
                }
            }
        }
    }
}
