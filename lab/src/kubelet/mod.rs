//! Kubelet emulator: binds pending pods to emulated nodes (the scheduler's part), then
//! per pod resolves pull credentials and pulls every image through containerd's CRI
//! `PullImage`, with the kubelet's events, waiting reasons, back-off and event
//! aggregation (../../shared/reference/signatures.md §2). Containers are NOT executed: a
//! container whose image is present is reported running and ready.
//!
//! Pods are watched in the in-process [`Store`](crate::kube::Store); status and Events are
//! written through it. One tokio task per pod, sleeping between syncs.
//!
//! Timing per failing image: the pull fails (`ErrImagePull`), a follow-up sync 1 s later
//! reports the back-off (`ImagePullBackOff`, as the sandbox's lifecycle event makes a real
//! kubelet do), then a sync every 10 s or when the back-off window ends, whichever is
//! first. All durations are multiplied by `time_scale`.
//!
//! Known simplifications: all nodes share one containerd (an image pulled on one node is
//! present on all); credential-provider answers are not cached; a changed image on a
//! running pod is not rolled; the event correlator de-duplicates identical events but does
//! not combine "similar" ones; pod IPs are made up.

pub mod backoff;
pub mod creds;
pub mod events;
pub mod heartbeat;
pub mod image;
pub mod messages;
pub mod node;
pub mod profile;
pub mod status;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::cri::CriClient;
use crate::kube::{Kind, SharedStore, WatchEvent};
use creds::AcrCredentialProvider;
use events::{Correlator, EventType, InvolvedObject, Source};
pub use profile::{CredentialProviderKind, KubeletProfile};

/// One emulated node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub host_ip: String,
}

impl NodeConfig {
    /// A node with AKS-like labels (`kubernetes.io/hostname`, `os`, `arch`, `agentpool`).
    pub fn aks(name: &str, index: usize) -> NodeConfig {
        let pool = name.split('-').nth(1).unwrap_or("nodepool1").to_string();
        let labels = [
            ("kubernetes.io/hostname", name.to_string()),
            ("kubernetes.io/os", "linux".into()),
            ("kubernetes.io/arch", "amd64".into()),
            ("agentpool", pool.clone()),
            ("kubernetes.azure.com/agentpool", pool),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        NodeConfig { name: name.into(), labels, host_ip: format!("10.224.0.{}", 4 + index) }
    }
}

/// Kubelet emulator settings. Durations are real kubelet values; `time_scale` multiplies
/// them all (0.01 → 10 s back-off becomes 100 ms).
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    pub nodes: Vec<NodeConfig>,
    pub time_scale: f64,
    /// The release played: message wrapping, back-off, credential provider, claimed
    /// version (see [`profile`]).
    pub profile: KubeletProfile,
    /// `serializeImagePulls` (kubelet default true): one pull at a time per node.
    pub serialize_image_pulls: bool,
    pub credential_provider: Option<AcrCredentialProvider>,
    /// Pod worker re-sync after an error (kubelet: 10 s).
    pub resync: Duration,
    /// Delay of the sync that follows a failed pull and reports the back-off (≈ 1 s on a
    /// real node, triggered by the sandbox's lifecycle event).
    pub followup: Duration,
    /// When set, a Node object per node is registered at start with this `nodeInfo`.
    pub node_info: Option<node::NodeInfo>,
}

impl KubeletConfig {
    pub fn new(nodes: Vec<NodeConfig>) -> Self {
        KubeletConfig {
            nodes,
            time_scale: 1.0,
            profile: KubeletProfile::default(),
            serialize_image_pulls: true,
            credential_provider: None,
            resync: Duration::from_secs(10),
            followup: Duration::from_secs(1),
            node_info: None,
        }
    }

    /// Nodes named in the world file, with AKS labels.
    pub fn for_world(world: &crate::world::World) -> Self {
        Self::new(
            world.cluster.nodes.iter().enumerate().map(|(i, n)| NodeConfig::aks(n, i)).collect(),
        )
    }

    pub fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.time_scale.max(0.0))
    }
}

/// Errors of the kubelet emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeletError {
    #[error("kubelet config: {0}")]
    Config(String),
    #[error("kubelet cannot reach containerd's CRI: {0}")]
    Cri(#[from] crate::cri::CriError),
}

pub(crate) struct Shared {
    store: SharedStore,
    cri: CriClient,
    config: KubeletConfig,
    pull_slots: Vec<Arc<Semaphore>>,
}

pub(crate) fn now_ts() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The running emulator. Dropping it stops the watch and every pod worker.
#[derive(Debug)]
pub struct Kubelet {
    manager: JoinHandle<()>,
    /// Node Lease renewal and status reports (when nodes are registered).
    heartbeat: Option<JoinHandle<()>>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.manager.abort();
        if let Some(h) = &self.heartbeat {
            h.abort();
        }
    }
}

impl Kubelet {
    /// Start watching pods in `store`, pulling through `cri`.
    pub fn start(
        store: SharedStore,
        cri: CriClient,
        config: KubeletConfig,
    ) -> Result<Kubelet, KubeletError> {
        if config.nodes.is_empty() {
            return Err(KubeletError::Config("nodes: at least one node is required".into()));
        }
        if !(config.time_scale.is_finite() && config.time_scale > 0.0) {
            return Err(KubeletError::Config(format!(
                "time_scale: expected a number > 0, got {}",
                config.time_scale
            )));
        }
        let mut heartbeat = None;
        if let Some(info) = &config.node_info {
            node::register(&store, &config.nodes, info)
                .map_err(|e| KubeletError::Config(format!("registering nodes: {}", e.message)))?;
            let beat = heartbeat::run(store.clone(), config.nodes.clone(), config.time_scale);
            heartbeat = Some(tokio::spawn(beat));
        }
        let permits = if config.serialize_image_pulls { 1 } else { Semaphore::MAX_PERMITS };
        let pull_slots = config.nodes.iter().map(|_| Arc::new(Semaphore::new(permits))).collect();
        let shared = Arc::new(Shared { store, cri, config, pull_slots });
        let manager = tokio::spawn(
            Manager { shared, workers: HashMap::new(), unschedulable: HashSet::new(), count: 0 }
                .run(),
        );
        Ok(Kubelet { manager, heartbeat })
    }

    /// Stop everything now.
    pub fn shutdown(self) {
        drop(self);
    }

    /// Start the kubelet the way the lab runs it, playing `profile`: the world's nodes, the AKS credential
    /// provider for `*.azurecr.*` (kubelet identity → the Entra emulator's managed-identity
    /// endpoint at `authority_host` → `/oauth2/exchange` on the front door listed for the
    /// login server in `front_doors`), trusting the lab CA `ca_pem`.
    #[expect(
        clippy::too_many_arguments,
        reason = "start-up wiring: the lab-wide pieces the kubelet is built on"
    )]
    pub async fn start_in_lab(
        store: SharedStore,
        containerd: &crate::containerd::Containerd,
        world: &crate::world::World,
        time_scale: f64,
        profile: KubeletProfile,
        authority_host: &str,
        front_doors: HashMap<String, String>,
        ca_pem: &str,
    ) -> Result<Kubelet, KubeletError> {
        let provider = AcrCredentialProvider {
            match_images: ["*.azurecr.io", "*.azurecr.cn", "*.azurecr.de", "*.azurecr.us"]
                .map(String::from)
                .to_vec(),
            imds_url: format!(
                "{}/metadata/identity/oauth2/token",
                authority_host.trim_end_matches('/')
            ),
            client_id: world.cluster.kubelet_identity.client_id.clone(),
            tenant_id: world.tenant_id.clone(),
            endpoints: front_doors,
            http: AcrCredentialProvider::http_client(Some(ca_pem)).map_err(KubeletError::Config)?,
        };
        let cri = containerd.cri().await?;
        let v = cri.version().await?;
        let mut config = KubeletConfig::for_world(world);
        config.time_scale = time_scale;
        config.profile = profile;
        config.credential_provider = Some(provider);
        config.node_info = Some(node::NodeInfo::host(
            config.profile.kubelet_version,
            &v.runtime_name,
            &v.runtime_version,
        ));
        Kubelet::start(store, cri, config)
    }
}

struct Manager {
    shared: Arc<Shared>,
    /// Pod uid → its worker (finished workers stay so the pod is not restarted).
    workers: HashMap<String, JoinHandle<()>>,
    unschedulable: HashSet<String>,
    count: u64,
}

impl Drop for Manager {
    fn drop(&mut self) {
        for (_, w) in self.workers.drain() {
            w.abort();
        }
    }
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

impl Manager {
    async fn run(mut self) {
        loop {
            // List, drop workers of pods that vanished, then watch from the list's version.
            let (pods, rv) = match self.shared.store.list(&Kind::Pod, None, None, None) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("kubelet: listing pods failed: {}", e.message);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let live: HashSet<&str> = pods.iter().map(|p| str_at(p, "/metadata/uid")).collect();
            self.workers.retain(|uid, w| {
                let keep = live.contains(uid.as_str());
                if !keep {
                    w.abort();
                }
                keep
            });
            for p in &pods {
                self.handle(p);
            }
            let mut rx = match self.shared.store.watch(&Kind::Pod, None, Some(&rv), None, None) {
                Ok(rx) => rx,
                Err(e) => {
                    tracing::debug!("kubelet: watch failed ({}), re-listing", e.message);
                    continue;
                }
            };
            while let Some(ev) = rx.recv().await {
                match ev {
                    WatchEvent::Added(p) | WatchEvent::Modified(p) => self.handle(&p),
                    WatchEvent::Deleted(p) => self.stop(str_at(&p, "/metadata/uid")),
                    WatchEvent::Bookmark(_) => {}
                    WatchEvent::Error(_) => break,
                }
            }
            // The channel closed (slow consumer or error): start over with a fresh list.
        }
    }

    fn stop(&mut self, uid: &str) {
        if let Some(w) = self.workers.remove(uid) {
            w.abort();
        }
        self.unschedulable.remove(uid);
    }

    fn handle(&mut self, pod: &Value) {
        let uid = str_at(pod, "/metadata/uid").to_string();
        if uid.is_empty() {
            return;
        }
        if !str_at(pod, "/metadata/deletionTimestamp").is_empty() {
            // Graceful deletion: nothing runs, so the kubelet finalizes at once (as it
            // does with grace period 0 once the containers are gone).
            self.stop(&uid);
            let node = str_at(pod, "/spec/nodeName");
            if self.shared.config.nodes.iter().any(|n| n.name == node) {
                let (ns, name) =
                    (str_at(pod, "/metadata/namespace"), str_at(pod, "/metadata/name"));
                // Precondition on the uid: never delete a newer pod of the same name.
                if let Ok(cur) = self.shared.store.get(&Kind::Pod, Some(ns), name)
                    && str_at(&cur, "/metadata/uid") == uid
                {
                    let _ = self.shared.store.delete(&Kind::Pod, Some(ns), name);
                }
            }
            return;
        }
        if self.workers.contains_key(&uid) {
            return;
        }
        let node_name = str_at(pod, "/spec/nodeName").to_string();
        let pod = if node_name.is_empty() {
            if self.unschedulable.contains(&uid) {
                return;
            }
            match self.schedule(pod) {
                Some(bound) => bound,
                None => {
                    self.unschedulable.insert(uid);
                    return;
                }
            }
        } else {
            pod.clone()
        };
        let node_name = str_at(&pod, "/spec/nodeName");
        let Some(node) = self.shared.config.nodes.iter().position(|n| n.name == node_name) else {
            return; // bound to a node this kubelet does not run
        };
        self.count += 1;
        let worker = worker::PodWorker::new(self.shared.clone(), node, pod, self.count);
        self.workers.insert(uid, tokio::spawn(worker.run()));
    }

    /// Bind to the first node whose labels match `nodeSelector`; Scheduled or
    /// FailedScheduling event from `default-scheduler`.
    fn schedule(&mut self, pod: &Value) -> Option<Value> {
        let ns = str_at(pod, "/metadata/namespace").to_string();
        let name = str_at(pod, "/metadata/name").to_string();
        let selector = pod
            .pointer("/spec/nodeSelector")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let nodes = &self.shared.config.nodes;
        let fits = |n: &NodeConfig| {
            selector.iter().all(|(k, v)| n.labels.get(k).map(String::as_str) == v.as_str())
        };
        let involved = InvolvedObject {
            namespace: ns.clone(),
            name: name.clone(),
            uid: str_at(pod, "/metadata/uid").into(),
            field_path: String::new(),
        };
        let source = Source { component: "default-scheduler".into(), host: String::new() };
        let mut correlator = Correlator::new();
        let Some(node) = nodes.iter().find(|n| fits(n)) else {
            let total = nodes.len();
            let m = format!(
                "0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
            );
            let w = correlator.record(
                &involved,
                &source,
                EventType::Warning,
                "FailedScheduling",
                &m,
                Utc::now(),
            );
            worker::write_event(&self.shared, &mut correlator, w);
            let status = json!({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": m,
                "lastProbeTime": null, "lastTransitionTime": now_ts(),
            }]});
            let _ = self.shared.store.update_status(&Kind::Pod, Some(&ns), &name, status);
            return None;
        };
        let mut bound = None;
        for _ in 0..5 {
            let Ok(mut cur) = self.shared.store.get(&Kind::Pod, Some(&ns), &name) else {
                return None;
            };
            if !str_at(&cur, "/spec/nodeName").is_empty() {
                bound = Some(cur);
                break;
            }
            cur["spec"]["nodeName"] = json!(node.name);
            match self.shared.store.update(&Kind::Pod, Some(&ns), &name, cur) {
                Ok(v) => {
                    bound = Some(v);
                    break;
                }
                Err(e) if e.code == 409 => continue,
                Err(e) => {
                    tracing::warn!(pod = %name, "binding failed: {}", e.message);
                    return None;
                }
            }
        }
        let bound = bound?;
        let m =
            format!("Successfully assigned {ns}/{name} to {}", str_at(&bound, "/spec/nodeName"));
        let w =
            correlator.record(&involved, &source, EventType::Normal, "Scheduled", &m, Utc::now());
        worker::write_event(&self.shared, &mut correlator, w);
        Some(bound)
    }
}
