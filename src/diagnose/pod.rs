//! What the pod shows: the container whose image pull fails (waiting reason and message),
//! the pod's events (field selector `involvedObject.name`/`involvedObject.namespace`)
//! and the causes [`crate::classify`] finds in all of them.

use super::DiagnoseError;
use crate::classify::{Cause, classify};
use crate::clients::kube::Kube;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::api::{Api, ListParams};

/// Waiting reasons of a failing image pull.
pub const PULL_REASONS: [&str; 4] =
    ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"];

/// What was read from the cluster.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub container: String,
    pub image: String,
    pub waiting_reason: Option<String>,
    pub message: Option<String>,
    pub events: Vec<String>,
    pub pull_secrets: Vec<String>,
    pub causes: Vec<Cause>,
}

/// Read the pod and its events.
pub async fn read(kube: &Kube, namespace: &str, name: &str) -> Result<Seen, DiagnoseError> {
    let pods: Api<Pod> = Api::namespaced(kube.client().clone(), namespace);
    let pod =
        pods.get_opt(name).await.map_err(crate::clients::ClientError::from)?.ok_or_else(|| {
            DiagnoseError::PodNotFound { namespace: namespace.into(), name: name.into() }
        })?;
    let events: Api<Event> = Api::namespaced(kube.client().clone(), namespace);
    let lp = ListParams::default()
        .fields(&format!("involvedObject.name={name},involvedObject.namespace={namespace}"));
    let mut evs = events.list(&lp).await.map_err(crate::clients::ClientError::from)?.items;
    evs.retain(|e| e.involved_object.name.as_deref() == Some(name));
    evs.sort_by_key(|e| e.last_timestamp.clone().or_else(|| e.first_timestamp.clone()));
    let messages: Vec<String> = evs.iter().filter_map(|e| e.message.clone()).collect();
    from_parts(&pod, &messages)
        .ok_or(DiagnoseError::NoContainer { namespace: namespace.into(), name: name.into() })
}

/// Pick the failing container and classify the messages (pure; unit-tested).
pub fn from_parts(pod: &Pod, event_messages: &[String]) -> Option<Seen> {
    let spec = pod.spec.as_ref()?;
    let status = pod.status.as_ref();
    let statuses: Vec<&ContainerStatus> = status
        .map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
                .collect()
        })
        .unwrap_or_default();
    let waiting = |c: &&ContainerStatus| c.state.as_ref().and_then(|s| s.waiting.clone());
    let chosen = statuses
        .iter()
        .find(|c| {
            waiting(c).and_then(|w| w.reason).is_some_and(|r| PULL_REASONS.contains(&r.as_str()))
        })
        .or_else(|| statuses.iter().find(|c| waiting(c).is_some()));
    let all_containers: Vec<_> =
        spec.init_containers.iter().flatten().chain(spec.containers.iter()).collect();
    let (container, waiting_state) = match chosen {
        Some(c) => (c.name.clone(), waiting(c)),
        None => (all_containers.first()?.name.clone(), None),
    };
    let image = all_containers
        .iter()
        .find(|c| c.name == container)
        .and_then(|c| c.image.clone())
        .or_else(|| chosen.map(|c| c.image.clone()))
        .unwrap_or_default();
    let mut events: Vec<String> = Vec::new();
    for m in event_messages {
        if !events.contains(m) {
            events.push(m.clone());
        }
    }
    let message = waiting_state.as_ref().and_then(|w| w.message.clone());
    let mut causes: Vec<Cause> = Vec::new();
    for m in message.iter().chain(events.iter()) {
        for c in classify(m) {
            if !causes.contains(&c) {
                causes.push(c);
            }
        }
    }
    Some(Seen {
        container,
        image,
        waiting_reason: waiting_state.and_then(|w| w.reason),
        message,
        events,
        pull_secrets: spec
            .image_pull_secrets
            .iter()
            .flatten()
            .map(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .collect(),
        causes,
    })
}
