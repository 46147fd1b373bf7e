//! The lab's kube-controller-manager: the Deployment, ReplicaSet, Job and CronJob
//! controllers, the garbage collector's background cascade and the root-ca-cert-publisher,
//! in-process on the [`Store`](super::Store).
//!
//! One task watches the kinds involved and marks what changed (and the controller owner of
//! what changed) dirty; each dirty object is synced level-triggered, from the store as it
//! is, so a lost event costs nothing but a later sync. Pods the controllers create are
//! plain pods: the kubelet emulator binds and pulls them like any other, so a pull fault
//! shows on a Deployment's pods exactly as on a bare pod.
//!
//! Durations (`minReadySeconds`, `progressDeadlineSeconds`, `activeDeadlineSeconds`) are
//! multiplied by the lab's time scale, and CronJob schedules run on a lab clock sped up by
//! its inverse.

mod cronjob;
mod deployment;
mod gc;
mod job;
mod replicaset;
pub mod rootca;
mod util;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Kind, SharedStore, WatchEvent};

pub(crate) use cronjob::parse_schedule;

/// Does the `metav1.LabelSelector` object `sel` select `labels`? (An empty selector
/// selects nothing here: controllers refuse it.)
pub(crate) fn selector_matches(sel: &serde_json::Value, labels: &serde_json::Value) -> bool {
    let Some(text) = util::selector_string(sel) else { return false };
    let Ok(parsed) = super::selector::LabelSelector::parse(&text) else { return false };
    parsed.matches(&serde_json::json!({"metadata": {"labels": labels}}))
}

/// Settings of the controllers.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// The lab's time scale (0.01: a 600 s progress deadline lasts 6 s).
    pub time_scale: f64,
    /// The cluster CA (PEM) published as ConfigMap `kube-root-ca.crt` in every namespace.
    pub root_ca_pem: Option<String>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions { time_scale: 1.0, root_ca_pem: None }
    }
}

/// The running controllers; dropping the handle stops them.
#[derive(Debug)]
pub struct Controllers {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Controllers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The kinds watched (owners, their dependents, and what the publisher keeps).
const WATCHED: [Kind; 7] = [
    Kind::Deployment,
    Kind::ReplicaSet,
    Kind::Pod,
    Kind::Job,
    Kind::CronJob,
    Kind::Namespace,
    Kind::ConfigMap,
];

impl Controllers {
    /// Start on `store` (needs a tokio runtime).
    pub fn start(store: SharedStore, mut opts: ControllerOptions) -> Controllers {
        if !(opts.time_scale.is_finite() && opts.time_scale > 0.0) {
            opts.time_scale = 1.0;
        }
        let (tx, rx) = mpsc::channel(4096);
        let mut tasks: Vec<JoinHandle<()>> =
            WATCHED.iter().map(|k| tokio::spawn(forward(store.clone(), *k, tx.clone()))).collect();
        let ctx = Ctx { clock: util::LabClock::new(opts.time_scale), store, opts };
        let manager =
            Manager { ctx, dirty: BTreeSet::new(), timers: BTreeMap::new(), due: HashMap::new() };
        tasks.push(tokio::spawn(manager.run(rx)));
        Controllers { tasks }
    }
}

/// List then watch one kind, forwarding every change; start over when the watch closes.
async fn forward(store: SharedStore, kind: Kind, tx: mpsc::Sender<(Kind, WatchEvent)>) {
    loop {
        let (items, rv) = match store.list(&kind, None, None, None) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(kind = kind.kind_name(), "controllers: list failed: {}", e.message);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for o in items {
            if tx.send((kind, WatchEvent::Added(o))).await.is_err() {
                return;
            }
        }
        let Ok(mut rx) = store.watch(&kind, None, Some(&rv), None, None) else { continue };
        while let Some(ev) = rx.recv().await {
            if tx.send((kind, ev)).await.is_err() {
                return;
            }
        }
    }
}

pub(crate) struct Ctx {
    store: SharedStore,
    opts: ControllerOptions,
    clock: util::LabClock,
}

impl Ctx {
    /// A controller's seconds on the lab's scale.
    fn scaled(&self, secs: f64) -> Duration {
        util::scaled(secs, self.opts.time_scale)
    }
}

/// (kind, namespace, name); a namespace's key names it in `name`.
type Key = (Kind, String, String);

struct Manager {
    ctx: Ctx,
    dirty: BTreeSet<Key>,
    timers: BTreeMap<Instant, BTreeSet<Key>>,
    /// Each key's one pending timer (the latest sync decides when the next is due).
    due: HashMap<Key, Instant>,
}

impl Manager {
    async fn run(mut self, mut rx: mpsc::Receiver<(Kind, WatchEvent)>) {
        loop {
            let next_timer = self.timers.keys().next().copied();
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some((kind, ev)) => self.on_event(kind, ev),
                    None => return,
                },
                () = sleep_until(next_timer), if next_timer.is_some() => self.fire_timers(),
            }
            while let Ok((kind, ev)) = rx.try_recv() {
                self.on_event(kind, ev);
            }
            for key in std::mem::take(&mut self.dirty) {
                let after = self.reconcile(&key);
                self.schedule(key, after);
            }
        }
    }

    fn schedule(&mut self, key: Key, after: Option<Duration>) {
        if let Some(at) = self.due.remove(&key)
            && let Some(keys) = self.timers.get_mut(&at)
        {
            keys.remove(&key);
            if keys.is_empty() {
                self.timers.remove(&at);
            }
        }
        if let Some(after) = after {
            let at = Instant::now() + after;
            self.timers.entry(at).or_default().insert(key.clone());
            self.due.insert(key, at);
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let later = self.timers.split_off(&(now + Duration::from_nanos(1)));
        for (_, keys) in std::mem::replace(&mut self.timers, later) {
            for k in &keys {
                self.due.remove(k);
            }
            self.dirty.extend(keys);
        }
    }

    fn mark(&mut self, kind: Kind, ns: &str, name: &str) {
        if !name.is_empty() {
            self.dirty.insert((kind, ns.to_string(), name.to_string()));
        }
    }

    /// Mark the controller owner of `o`, if it is one of ours.
    fn mark_owner(&mut self, o: &serde_json::Value) {
        let ns = util::s(o, "/metadata/namespace").to_string();
        if let Some((kind, name, _)) = util::controller_of(o) {
            let kind = match kind {
                "ReplicaSet" => Kind::ReplicaSet,
                "Deployment" => Kind::Deployment,
                "Job" => Kind::Job,
                "CronJob" => Kind::CronJob,
                _ => return,
            };
            let name = name.to_string();
            self.mark(kind, &ns, &name);
        }
    }

    fn on_event(&mut self, kind: Kind, ev: WatchEvent) {
        let (o, deleted) = match ev {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => (o, false),
            WatchEvent::Deleted(o) => (o, true),
            WatchEvent::Bookmark(_) | WatchEvent::Error(_) => return,
        };
        let ns = util::s(&o, "/metadata/namespace").to_string();
        let name = util::s(&o, "/metadata/name").to_string();
        if deleted {
            gc::owner_deleted(&self.ctx.store, kind, &o);
        }
        match kind {
            Kind::Namespace if !deleted => self.mark(Kind::Namespace, "", &name),
            Kind::ConfigMap if rootca::is_published(&o) => self.mark(Kind::Namespace, "", &ns),
            Kind::Pod => self.mark_owner(&o),
            Kind::ReplicaSet | Kind::Job | Kind::Deployment | Kind::CronJob => {
                if !deleted {
                    self.mark(kind, &ns, &name);
                }
                self.mark_owner(&o);
            }
            _ => {}
        }
    }

    fn reconcile(&self, (kind, ns, name): &Key) -> Option<Duration> {
        let ctx = &self.ctx;
        match kind {
            Kind::ReplicaSet => replicaset::sync(ctx, ns, name),
            Kind::Deployment => deployment::sync(ctx, ns, name),
            Kind::Job => job::sync(ctx, ns, name),
            Kind::CronJob => cronjob::sync(ctx, ns, name),
            Kind::Namespace => {
                rootca::sync(ctx, name);
                None
            }
            _ => None,
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
