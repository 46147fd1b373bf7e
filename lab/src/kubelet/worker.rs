//! One pod worker: a tokio task per pod bound to an emulated node. Each sync resolves
//! pull credentials, walks init containers then containers through the kubelet's
//! `EnsureImageExists` logic (policy, back-off, pull through CRI), records events and
//! writes the pod status; then it sleeps until the next retry. Nothing busy-waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use super::backoff::Backoff;
use super::creds::{self, Credential};
use super::events::{Correlator, EventType, EventWrite, InvolvedObject, Source, apply_bump};
use super::image::{ImageRef, apply_default_tag};
use super::messages as msg;
use super::status::{ContainerState, PodNet, PullPolicy, Slot, pod_status, slots_of};
use super::{Shared, now_ts};
use crate::cri::{PodSandboxConfig, PodSandboxMetadata};
use crate::kube::Kind;

/// Outcome of `EnsureImageExists` for one container.
enum Ensure {
    Ready {
        image_ref: String,
    },
    /// Waiting reason (ErrImagePull, ImagePullBackOff, …), message, next wake.
    Failed {
        reason: &'static str,
        message: String,
        wake: Instant,
    },
}

pub(super) struct PodWorker {
    shared: Arc<Shared>,
    node: usize,
    uid: String,
    ns: String,
    name: String,
    pod: Value,
    slots: Vec<Slot>,
    backoff: Backoff,
    prev_err: HashMap<String, String>,
    correlator: Correlator,
    net: PodNet,
    start_time: String,
    last_status: Option<Value>,
    /// Containers exit 0 once started (see [`runs_to_completion`]).
    completes: bool,
}

/// Nothing is executed, so a container "runs" forever once its image is there. A Job's
/// pod (controlled by a Job, `restartPolicy` Never or OnFailure) is the exception: its
/// containers are reported as exited 0 once started, so Jobs and CronJobs complete. A
/// pull failure still keeps them waiting, as on a real node; bare pods are unchanged.
fn runs_to_completion(pod: &Value) -> bool {
    let policy = pod.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("Always");
    let job_owned = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r["controller"] == true && r["kind"] == "Job"));
    policy != "Always" && job_owned
}

impl PodWorker {
    pub(super) fn new(shared: Arc<Shared>, node: usize, pod: Value, pod_index: u64) -> Self {
        let s = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let backoff = Backoff::new(
            shared.config.scaled(shared.config.profile.image_backoff_initial),
            shared.config.scaled(shared.config.profile.image_backoff_max),
        );
        let net = PodNet {
            host_ip: shared.config.nodes[node].host_ip.clone(),
            pod_ip: format!("10.244.{}.{}", node, 2 + pod_index % 250),
        };
        PodWorker {
            uid: s("/metadata/uid"),
            ns: s("/metadata/namespace"),
            name: s("/metadata/name"),
            slots: slots_of(&pod),
            completes: runs_to_completion(&pod),
            pod,
            shared,
            node,
            backoff,
            prev_err: HashMap::new(),
            correlator: Correlator::new(),
            net,
            start_time: now_ts(),
            last_status: None,
        }
    }

    /// Sync until every container is up (then the task ends; the manager remembers the
    /// pod), or forever with back-off; the manager aborts the task when the pod goes.
    pub(super) async fn run(mut self) {
        loop {
            match self.sync().await {
                Some(wake) => tokio::time::sleep_until(wake.into()).await,
                None => return,
            }
        }
    }

    fn source(&self) -> Source {
        Source {
            component: "kubelet".into(),
            host: self.shared.config.nodes[self.node].name.clone(),
        }
    }

    fn involved(&self, field_path: String) -> InvolvedObject {
        InvolvedObject {
            namespace: self.ns.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            field_path,
        }
    }

    fn event(&mut self, field_path: String, ty: EventType, reason: &str, message: &str) {
        let (obj, src) = (self.involved(field_path), self.source());
        let write = self.correlator.record(&obj, &src, ty, reason, message, Utc::now());
        write_event(&self.shared, &mut self.correlator, write);
    }

    /// Pull secrets of the pod: parsed credentials and the names that could not be read.
    fn pull_secrets(&self) -> (Vec<Credential>, Vec<String>) {
        let mut creds = Vec::new();
        let mut missing = Vec::new();
        let names = self
            .pod
            .pointer("/spec/imagePullSecrets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for n in names {
            let Some(name) = n.get("name").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
                continue;
            };
            match self.shared.store.get(&Kind::Secret, Some(&self.ns), name) {
                Ok(secret) => match creds::parse_pull_secret(&secret) {
                    Ok(c) => creds.extend(c),
                    Err(e) => {
                        tracing::warn!(pod = %self.name, secret = name, "skipping unusable pull secret: {e}")
                    }
                },
                Err(_) => missing.push(name.to_string()),
            }
        }
        (creds, missing)
    }

    /// One sync; `None` when all containers are up.
    async fn sync(&mut self) -> Option<Instant> {
        let (secret_creds, missing) = self.pull_secrets();
        if !missing.is_empty() {
            let m = msg::missing_pull_secrets(&missing);
            self.event(String::new(), EventType::Warning, "FailedToRetrieveImagePullSecret", &m);
        }
        let mut wake: Option<Instant> = None;
        let mut init_blocked = false;
        for i in 0..self.slots.len() {
            if self.slots[i].is_done() {
                continue;
            }
            if !self.slots[i].init && init_blocked {
                self.slots[i].state =
                    ContainerState::Waiting { reason: "PodInitializing".into(), message: None };
                continue;
            }
            match self.ensure_image(i, &secret_creds).await {
                Ensure::Ready { image_ref } => self.start_container(i, image_ref),
                Ensure::Failed { reason, message, wake: w } => {
                    let fp = self.slots[i].field_path();
                    self.event(fp, EventType::Warning, "Failed", &format!("Error: {reason}"));
                    self.slots[i].state =
                        ContainerState::Waiting { reason: reason.into(), message: Some(message) };
                    wake = Some(wake.map_or(w, |x| x.min(w)));
                    if self.slots[i].init {
                        init_blocked = true;
                    }
                }
            }
            if self.slots[i].init && !self.slots[i].is_done() {
                init_blocked = true;
            }
        }
        self.write_status();
        wake
    }

    fn start_container(&mut self, i: usize, image_ref: String) {
        let now = now_ts();
        let fp = self.slots[i].field_path();
        let name = self.slots[i].name.clone();
        self.event(fp.clone(), EventType::Normal, "Created", &format!("Created container: {name}"));
        self.event(fp, EventType::Normal, "Started", &format!("Started container {name}"));
        let slot = &mut self.slots[i];
        slot.container_id = format!("containerd://{}", hex::encode(rand::random::<[u8; 32]>()));
        if slot.image_id.is_empty() {
            slot.image_id = image_ref;
        }
        slot.state = if slot.init || self.completes {
            ContainerState::Terminated {
                reason: "Completed".into(),
                started_at: now.clone(),
                finished_at: now,
            }
        } else {
            ContainerState::Running { started_at: now }
        };
    }

    fn write_status(&mut self) {
        let status = pod_status(
            &self.slots,
            &self.net,
            &self.start_time,
            &now_ts(),
            self.last_status.as_ref(),
        );
        match self.shared.store.update_status(
            &Kind::Pod,
            Some(&self.ns),
            &self.name,
            status.clone(),
        ) {
            Ok(_) => self.last_status = Some(status),
            Err(e) => tracing::debug!(pod = %self.name, "status update failed: {}", e.message),
        }
    }

    /// The kubelet's `EnsureImageExists` for slot `i`.
    async fn ensure_image(&mut self, i: usize, secret_creds: &[Credential]) -> Ensure {
        let cfg = self.shared.config.clone();
        let (resync, followup) = (cfg.scaled(cfg.resync), cfg.scaled(cfg.followup));
        let slot = self.slots[i].clone();
        let fp = slot.field_path();
        let image = slot.image.clone();
        let (spec_image, parsed) = match apply_default_tag(&image) {
            Ok(v) => v,
            Err(e) => {
                let m = msg::invalid_image(&image, &e);
                self.event(fp, EventType::Warning, "InspectFailed", &m);
                return Ensure::Failed {
                    reason: "InvalidImageName",
                    message: m,
                    wake: Instant::now() + resync,
                };
            }
        };
        // imagePullPrecheck: only IfNotPresent and Never look at the runtime first.
        let present = if slot.policy == PullPolicy::Always {
            None
        } else {
            match self.shared.cri.image_status(&spec_image).await {
                Ok(img) => img,
                Err(e) => {
                    // The kubelet quotes the (still empty) image ref here, not the image.
                    let m = msg::inspect_failed("", &e.to_string());
                    self.event(fp, EventType::Warning, "InspectFailed", &m);
                    let wake = Instant::now() + resync;
                    return Ensure::Failed { reason: "ImageInspectError", message: m, wake };
                }
            }
        };
        match (slot.policy, present) {
            (PullPolicy::Never, None) => {
                let m = msg::never_pull(&image);
                self.event(fp, EventType::Warning, "ErrImageNeverPull", &m);
                let wake = Instant::now() + resync;
                return Ensure::Failed { reason: "ErrImageNeverPull", message: m, wake };
            }
            (PullPolicy::Never | PullPolicy::IfNotPresent, Some(img)) => {
                self.event(fp, EventType::Normal, "Pulled", &msg::already_present(&image));
                self.slots[i].image_id =
                    repo_digest(&img.repo_digests, &parsed).unwrap_or(img.id.clone());
                return Ensure::Ready { image_ref: img.id };
            }
            _ => {}
        }
        // backOffKey: pod uid + the image as requested in the spec.
        let key = format!("{}_{}", self.uid, image);
        let now = Instant::now();
        if let Some(end) = self.backoff.window_end(&key, now) {
            self.event(fp, EventType::Normal, "BackOff", &msg::backoff_event(&image));
            let m = msg::backoff_waiting(
                &image,
                self.prev_err.get(&key).map(String::as_str),
                cfg.profile.backoff_message_with_error,
            );
            return Ensure::Failed {
                reason: "ImagePullBackOff",
                message: m,
                wake: end.min(now + resync),
            };
        }
        self.prev_err.remove(&key);
        self.event(fp.clone(), EventType::Normal, "Pulling", &msg::pulling(&image));
        let started = Instant::now();
        let result = self.pull(&spec_image, &parsed, secret_creds).await;
        match result {
            Ok((image_ref, pull_time)) => {
                let status = self.shared.cri.image_status(&spec_image).await.ok().flatten();
                let size = status.as_ref().map_or(0, |s| s.size);
                if let Some(s) = &status {
                    self.slots[i].image_id =
                        repo_digest(&s.repo_digests, &parsed).unwrap_or(image_ref.clone());
                }
                let m = msg::pulled(&image, pull_time, started.elapsed(), size);
                self.event(fp, EventType::Normal, "Pulled", &m);
                Ensure::Ready { image_ref }
            }
            Err(err) => {
                self.event(fp, EventType::Warning, "Failed", &msg::failed_to_pull(&image, &err));
                self.backoff.next(&key, Instant::now());
                self.prev_err.insert(key, err.clone());
                Ensure::Failed {
                    reason: "ErrImagePull",
                    message: err,
                    wake: Instant::now() + followup,
                }
            }
        }
    }

    /// The kubelet's `PullImage`: each matching credential in turn (secrets first, then the
    /// credential provider); anonymous when there is none; errors aggregated.
    async fn pull(
        &self,
        spec_image: &str,
        parsed: &ImageRef,
        secret_creds: &[Credential],
    ) -> Result<(String, Duration), String> {
        let mut creds = creds::lookup(secret_creds, parsed);
        if let Some(p) = &self.shared.config.credential_provider {
            match p.provide(parsed).await {
                Some(Ok(c)) => creds.push(c),
                Some(Err(e)) => creds.extend(creds::after_provider_failure(
                    self.shared.config.profile.credential_provider,
                    &parsed.domain,
                    &e,
                )),
                None => {}
            }
        }
        let sandbox = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: self.name.clone(),
                uid: self.uid.clone(),
                namespace: self.ns.clone(),
                attempt: 0,
            }),
            ..Default::default()
        };
        // Serialized image pulls (the kubelet default): one pull at a time per node.
        let sem = self.shared.pull_slots[self.node].clone();
        let _permit = sem.acquire_owned().await.ok();
        let started = Instant::now();
        let strip = self.shared.config.profile.strip_unknown_rpc_prefix;
        let cri = &self.shared.cri;
        if creds.is_empty() {
            return cri
                .pull_image(spec_image, None, Some(sandbox))
                .await
                .map(|r| (r, started.elapsed()))
                .map_err(|e| msg::cri_error_text(&e, strip));
        }
        let mut errs = Vec::new();
        for c in &creds {
            match cri.pull_image(spec_image, Some(c.to_auth()), Some(sandbox.clone())).await {
                Ok(r) => return Ok((r, started.elapsed())),
                Err(e) => errs.push(msg::cri_error_text(&e, strip)),
            }
        }
        Err(msg::aggregate(&errs))
    }
}

/// `<domain>/<path>@sha256:…` for this image, from the runtime's repo digests.
fn repo_digest(digests: &[String], parsed: &ImageRef) -> Option<String> {
    let name = parsed.name();
    digests
        .iter()
        .find(|d| d.split('@').next() == Some(name.as_str()))
        .cloned()
        .or_else(|| digests.first().cloned())
}

/// Perform an event write; a vanished aggregated event is created afresh.
pub(super) fn write_event(shared: &Shared, correlator: &mut Correlator, write: EventWrite) {
    match write {
        EventWrite::Create(ev) => {
            let ns = ev["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
            if let Err(e) = shared.store.create(&Kind::Event, Some(&ns), ev) {
                tracing::debug!("event create failed: {}", e.message);
            }
        }
        EventWrite::Bump { namespace, name, count, last } => {
            let updated =
                shared.store.get(&Kind::Event, Some(&namespace), &name).and_then(|mut ev| {
                    apply_bump(&mut ev, count, &last);
                    shared.store.update(&Kind::Event, Some(&namespace), &name, ev)
                });
            if updated.is_err() {
                correlator.forget(&name);
            }
        }
    }
}
