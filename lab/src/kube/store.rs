//! The object store behind the API emulator: objects are `serde_json::Value`, one global
//! monotonically increasing resourceVersion, a bounded event history for watches.
//!
//! The kubelet emulator uses this in-process (`create`, `get`, `list`, `update_status`,
//! `watch`); the HTTP layer (`super::api`) maps requests onto the same calls.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use parking_lot::RwLock;
use rand::Rng as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::admission;
use super::error::ApiError;
use super::kind::Kind;
use super::patch::{self, PatchType};
use super::selector::{FieldSelector, LabelSelector};

/// One watch notification, as sent on the wire (`{"type": "ADDED", "object": …}`).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    Added(Value),
    Modified(Value),
    Deleted(Value),
    /// A progress notification carrying a resourceVersion.
    Bookmark(String),
    /// A `Status` object (e.g. 410 Expired).
    Error(Value),
}

impl WatchEvent {
    /// The wire form; `kind` is needed to build a bookmark object.
    pub fn to_json(&self, kind: Kind) -> Value {
        match self {
            WatchEvent::Added(o) => json!({"type": "ADDED", "object": o}),
            WatchEvent::Modified(o) => json!({"type": "MODIFIED", "object": o}),
            WatchEvent::Deleted(o) => json!({"type": "DELETED", "object": o}),
            WatchEvent::Bookmark(rv) => json!({"type": "BOOKMARK", "object": {
                "kind": kind.kind_name(),
                "apiVersion": kind.api_version(),
                "metadata": {"resourceVersion": rv},
            }}),
            WatchEvent::Error(s) => json!({"type": "ERROR", "object": s}),
        }
    }

    /// The resourceVersion this event carries, if any.
    pub fn resource_version(&self) -> Option<u64> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => rv_of(o),
            WatchEvent::Bookmark(rv) => rv.parse().ok(),
            WatchEvent::Error(_) => None,
        }
    }
}

fn rv_of(o: &Value) -> Option<u64> {
    o.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|s| s.parse().ok())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug)]
struct HistoryEntry {
    rv: u64,
    kind: Kind,
    ns: String,
    change: Change,
    obj: Value,
    prev: Option<Value>,
}

struct Watcher {
    kind: Kind,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    tx: mpsc::Sender<WatchEvent>,
}

type Key = (Kind, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<HistoryEntry>,
    /// Highest resourceVersion that has been dropped from `history`.
    compacted: u64,
    watchers: Vec<Watcher>,
}

/// Default number of change events kept for watch resumption.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Live-event buffer per watcher; a watcher that falls this far behind is closed
/// (the client re-watches, as with a real API server).
pub const WATCH_BUFFER: usize = 4096;

/// The in-memory object store. Cheap to share: `Store::new()` returns an `Arc`.
pub struct Store {
    inner: RwLock<Inner>,
    history_cap: usize,
}

pub type SharedStore = Arc<Store>;

/// The RFC 3339 timestamp format Kubernetes uses (second precision, `Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Convert a stored core/v1 Event to its events.k8s.io/v1 form.
fn event_v1(o: &Value) -> Value {
    let mut out = json!({
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": o["metadata"],
        "regarding": o["involvedObject"],
        "note": o["message"],
        "reason": o["reason"],
        "type": o["type"],
        "action": o.get("action").cloned().unwrap_or(Value::Null),
        "eventTime": o.get("eventTime").cloned().unwrap_or(Value::Null),
        "reportingController": o.get("reportingComponent").cloned()
            .unwrap_or_else(|| o.pointer("/source/component").cloned().unwrap_or(Value::Null)),
        "reportingInstance": o.get("reportingInstance").cloned()
            .unwrap_or_else(|| o.pointer("/source/host").cloned().unwrap_or(Value::Null)),
        "deprecatedSource": o.get("source").cloned().unwrap_or(Value::Null),
        "deprecatedFirstTimestamp": o.get("firstTimestamp").cloned().unwrap_or(Value::Null),
        "deprecatedLastTimestamp": o.get("lastTimestamp").cloned().unwrap_or(Value::Null),
        "deprecatedCount": o.get("count").cloned().unwrap_or(Value::Null),
    });
    if let Some(m) = out.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    out
}

/// The object as presented for `kind` (a view kind converts; others are returned as-is).
fn present(kind: Kind, o: &Value) -> Value {
    if kind == Kind::EventV1 { event_v1(o) } else { o.clone() }
}

fn meta_str<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

impl Inner {
    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(
        &mut self,
        cap: usize,
        kind: Kind,
        ns: &str,
        change: Change,
        obj: &Value,
        prev: Option<Value>,
    ) {
        let rv = self.rv;
        // Fan out to live watchers first; drop those that are closed or too slow.
        self.watchers.retain(|w| {
            if w.kind.storage() != kind {
                return true;
            }
            if let Some(wns) = &w.ns
                && wns != ns
            {
                return true;
            }
            match watcher_event(w, change, obj, prev.as_ref()) {
                None => !w.tx.is_closed(),
                Some(ev) => w.tx.try_send(ev).is_ok(),
            }
        });
        self.history.push_back(HistoryEntry {
            rv,
            kind,
            ns: ns.to_string(),
            change,
            obj: obj.clone(),
            prev,
        });
        while self.history.len() > cap {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.contains_key(&(Kind::Namespace, String::new(), ns.to_string()))
    }
}

/// What a watcher should see for one change, given its selectors.
fn watcher_event(
    w: &Watcher,
    change: Change,
    obj: &Value,
    prev: Option<&Value>,
) -> Option<WatchEvent> {
    let m = |o: &Value| {
        let p = present(w.kind, o);
        (w.labels.matches(&p) && w.fields.matches(&p)).then_some(p)
    };
    match change {
        Change::Added => m(obj).map(WatchEvent::Added),
        Change::Deleted => m(obj).map(WatchEvent::Deleted),
        Change::Modified => {
            let was = prev.is_some_and(|p| m(p).is_some());
            match (m(obj), was) {
                (Some(o), true) => Some(WatchEvent::Modified(o)),
                (Some(o), false) => Some(WatchEvent::Added(o)),
                (None, true) => Some(WatchEvent::Deleted(present(w.kind, obj))),
                (None, false) => None,
            }
        }
    }
}

impl Store {
    /// A store holding the namespaces `default`, `kube-system`, `kube-public` and
    /// `kube-node-lease`, each with its `default` service account.
    pub fn new() -> SharedStore {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// As `new`, keeping `history` change events for watch resumption.
    pub fn with_history(history: usize) -> SharedStore {
        let s = Store {
            inner: RwLock::new(Inner {
                rv: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 0,
                watchers: Vec::new(),
            }),
            history_cap: history.max(1),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            s.create(&Kind::Namespace, None, json!({"metadata": {"name": ns}}))
                .expect("bootstrap namespace");
        }
        Arc::new(s)
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> String {
        self.inner.read().rv.to_string()
    }

    /// Number of stored objects of a kind (all namespaces).
    pub fn count(&self, kind: &Kind) -> usize {
        let k = kind.storage();
        self.inner.read().objects.keys().filter(|(kk, _, _)| *kk == k).count()
    }

    fn key(kind: Kind, namespace: Option<&str>, name: &str) -> Result<Key, ApiError> {
        let ns = if kind.namespaced() {
            namespace
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{} is namespaced: a namespace is required",
                        kind.plural()
                    ))
                })?
                .to_string()
        } else {
            String::new()
        };
        Ok((kind.storage(), ns, name.to_string()))
    }

    fn writable(kind: Kind) -> Result<(), ApiError> {
        if kind.read_only() {
            Err(ApiError::method_not_allowed(format!(
                "{}.{} is a read-only view; write core/v1 events instead",
                kind.plural(),
                kind.group()
            )))
        } else {
            Ok(())
        }
    }

    /// Create an object. Fills `generateName`, `uid`, `creationTimestamp`,
    /// `resourceVersion`, `generation` and kind defaults; the namespace must exist.
    pub fn create(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        obj: Value,
    ) -> Result<Value, ApiError> {
        self.create_opts(kind, namespace, obj, false)
    }

    /// `create` with `dry_run`: validate and return the result, store nothing.
    pub fn create_opts(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let kind = *kind;
        Self::writable(kind)?;
        if !obj.is_object() {
            return Err(ApiError::bad_request(format!(
                "the body of a {} create must be a JSON object",
                kind.kind_name()
            )));
        }
        check_type(kind, &obj)?;
        obj["kind"] = json!(kind.kind_name());
        obj["apiVersion"] = json!(kind.api_version());
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let ns = if kind.namespaced() {
            let body_ns = meta_str(&obj, "namespace").to_string();
            let ns = match namespace {
                Some(n) if !n.is_empty() => n.to_string(),
                _ if !body_ns.is_empty() => body_ns.clone(),
                _ => "default".to_string(),
            };
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            obj["metadata"]["namespace"] = json!(ns);
            Some(ns)
        } else {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            None
        };
        let mut name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let gen_name = meta_str(&obj, "generateName").to_string();
            if gen_name.is_empty() {
                return Err(ApiError::invalid(
                    kind.kind_name(),
                    kind.group(),
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
            name = format!("{gen_name}{}", random_suffix());
            obj["metadata"]["name"] = json!(name);
        }
        admission::validate_name(kind, &name)?;

        let mut inner = self.inner.write();
        if let Some(ns) = &ns
            && !inner.namespace_exists(ns)
        {
            return Err(ApiError::not_found("", "namespaces", ns));
        }
        if let Some(ns) = &ns
            && inner
                .objects
                .get(&(Kind::Namespace, String::new(), ns.clone()))
                .is_some_and(|n| n.pointer("/status/phase") == Some(&json!("Terminating")))
        {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    kind.plural()
                ),
            ));
        }
        let key = Self::key(kind, ns.as_deref(), &name)?;
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(kind.group(), kind.plural(), &name));
        }
        {
            let objects = &inner.objects;
            let ns_s = ns.clone().unwrap_or_default();
            let lookup = |sa: &str| {
                objects.get(&(Kind::ServiceAccount, ns_s.clone(), sa.to_string())).cloned()
            };
            admission::prepare_create(kind, &name, &mut obj, &lookup)?;
        }
        {
            let meta = obj["metadata"].as_object_mut().expect("metadata");
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            meta.remove("deletionTimestamp");
            if matches!(kind, Kind::Pod | Kind::Namespace | Kind::Lease)
                || obj.get("spec").is_some()
            {
                obj["metadata"]["generation"] = json!(1);
            }
        }
        if dry_run {
            obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            return Ok(obj);
        }
        let rv = inner.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key, obj.clone());
        inner.record(
            self.history_cap,
            kind.storage(),
            ns.as_deref().unwrap_or(""),
            Change::Added,
            &obj,
            None,
        );
        drop(inner);
        if kind == Kind::Namespace {
            // The service-account controller's job, done synchronously.
            let _ = self.create(
                &Kind::ServiceAccount,
                Some(&name),
                json!({"metadata": {"name": "default"}}),
            );
            if let Ok(ns_obj) = self.get(&Kind::Namespace, None, &name) {
                return Ok(ns_obj);
            }
        }
        Ok(obj)
    }

    /// Get one object.
    pub fn get(&self, kind: &Kind, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let key = Self::key(*kind, namespace, name)?;
        self.inner
            .read()
            .objects
            .get(&key)
            .map(|o| present(*kind, o))
            .ok_or_else(|| ApiError::not_found(kind.group(), kind.plural(), name))
    }

    /// List objects (all namespaces when `namespace` is `None`), with selectors. Returns
    /// the items and the list's resourceVersion.
    pub fn list(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<(Vec<Value>, String), ApiError> {
        let labels = LabelSelector::parse(label_selector.unwrap_or(""))?;
        let fields = FieldSelector::parse(field_selector.unwrap_or(""))?;
        let storage = kind.storage();
        let inner = self.inner.read();
        let ns = namespace.filter(|n| !n.is_empty() && kind.namespaced());
        let items = inner
            .objects
            .iter()
            .filter(|((k, kns, _), _)| *k == storage && ns.is_none_or(|n| n == kns))
            .map(|(_, o)| present(*kind, o))
            .filter(|o| labels.matches(o) && fields.matches(o))
            .collect();
        Ok((items, inner.rv.to_string()))
    }

    /// Replace an object (PUT). A non-empty `metadata.resourceVersion` that is not the
    /// current one gives 409 Conflict. The status of pods and namespaces is kept (it
    /// belongs to the `/status` subresource).
    pub fn update(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        self.write(*kind, namespace, name, obj, WriteMode::Main, false)
    }

    /// Replace only `status`, unconditionally (what the kubelet emulator uses).
    pub fn update_status(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        status: Value,
    ) -> Result<Value, ApiError> {
        let cur = self.get(&kind.storage(), namespace, name)?;
        let mut obj = cur;
        obj["status"] = status;
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        self.write(*kind, namespace, name, obj, WriteMode::Status, false)
    }

    /// PUT on `/status`: `obj` is a full object; only its status is taken, with the
    /// resourceVersion check.
    pub fn replace_status(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        self.write(*kind, namespace, name, obj, WriteMode::Status, dry_run)
    }

    /// Full-object PUT with `dry_run`.
    pub fn update_opts(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        self.write(*kind, namespace, name, obj, WriteMode::Main, dry_run)
    }

    /// Patch an object.
    pub fn patch(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
    ) -> Result<Value, ApiError> {
        self.patch_opts(kind, namespace, name, patch_type, patch, false, false)
    }

    /// Patch with options: `status` patches the `/status` subresource; `dry_run` stores
    /// nothing. Server-side apply (`PatchType::Apply`) creates an absent object.
    #[allow(clippy::too_many_arguments)]
    pub fn patch_opts(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        status: bool,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        Self::writable(*kind)?;
        // Retry on a concurrent write between our read and our write (the patch itself
        // carries no resourceVersion unless the client put one in).
        for _ in 0..16 {
            let cur = match self.get(kind, namespace, name) {
                Ok(c) => c,
                Err(e) if e.code == 404 && patch_type == PatchType::Apply && !status => {
                    let mut obj = patch.clone();
                    if !obj.get("metadata").is_some_and(Value::is_object) {
                        obj["metadata"] = json!({});
                    }
                    obj["metadata"]["name"] = json!(name);
                    return self.create_opts(kind, namespace, obj, dry_run);
                }
                Err(e) => return Err(e),
            };
            let cur_rv = meta_str(&cur, "resourceVersion").to_string();
            let mut new = patch::apply(&cur, patch_type, patch)?;
            if !new.is_object() {
                return Err(ApiError::bad_request("the patch did not produce an object"));
            }
            // A resourceVersion in the patch is a precondition; otherwise pin ours.
            let patched_rv = meta_str(&new, "resourceVersion").to_string();
            if patched_rv.is_empty() || patched_rv == cur_rv {
                new["metadata"]["resourceVersion"] = json!(cur_rv);
            }
            let explicit = !patched_rv.is_empty() && patched_rv != cur_rv;
            let mode = if status { WriteMode::Status } else { WriteMode::Main };
            match self.write(*kind, namespace, name, new, mode, dry_run) {
                Err(e) if e.reason == "Conflict" && !explicit => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(kind.group(), kind.plural(), name))
    }

    fn write(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        mode: WriteMode,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        Self::writable(kind)?;
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        check_type(kind, &obj)?;
        let body_name = meta_str(&obj, "name");
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let key = Self::key(kind, namespace, name)?;
        if kind.namespaced() {
            let body_ns = meta_str(&obj, "namespace");
            if !body_ns.is_empty() && body_ns != key.1 {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let mut inner = self.inner.write();
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(kind.group(), kind.plural(), name));
        };
        let want_rv = meta_str(&obj, "resourceVersion");
        if !want_rv.is_empty() && want_rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(kind.group(), kind.plural(), name));
        }
        let mut new = match mode {
            WriteMode::Main => {
                if matches!(kind, Kind::Pod | Kind::Namespace) {
                    obj["status"] = old.get("status").cloned().unwrap_or(Value::Null);
                    if obj["status"].is_null()
                        && let Some(m) = obj.as_object_mut()
                    {
                        m.remove("status");
                    }
                }
                obj
            }
            WriteMode::Status => {
                let mut n = old.clone();
                n["status"] = obj.get("status").cloned().unwrap_or(json!({}));
                n
            }
        };
        new["kind"] = json!(kind.kind_name());
        new["apiVersion"] = json!(kind.api_version());
        if kind == Kind::Secret {
            admission::normalize_secret(name, &mut new)?;
        }
        // Immutable metadata comes from the stored object.
        {
            let old_meta = old["metadata"].as_object().cloned().unwrap_or_default();
            if !new.get("metadata").is_some_and(Value::is_object) {
                new["metadata"] = json!({});
            }
            let meta = new["metadata"].as_object_mut().expect("metadata");
            for f in ["uid", "creationTimestamp", "name", "namespace", "deletionTimestamp"] {
                match old_meta.get(f) {
                    Some(v) => meta.insert(f.into(), v.clone()),
                    None => meta.remove(f),
                };
            }
            if let Some(g) = old_meta.get("generation").and_then(Value::as_i64) {
                let spec_changed = old.get("spec") != new.get("spec");
                new["metadata"]["generation"] = json!(if spec_changed { g + 1 } else { g });
            }
        }
        if kind == Kind::Namespace
            && let Some(m) = new["metadata"].as_object_mut()
        {
            let labels = m.entry("labels").or_insert_with(|| json!({}));
            if labels.is_object() {
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
        }
        let unchanged = strip_rv(&old) == strip_rv(&new);
        if dry_run || unchanged {
            // A no-op write keeps the resourceVersion and sends no event, as the real server.
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            return Ok(present(kind, &new));
        }
        let rv = inner.next_rv();
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key.clone(), new.clone());
        inner.record(self.history_cap, kind.storage(), &key.1, Change::Modified, &new, Some(old));
        Ok(present(kind, &new))
    }

    /// Delete an object and return its last state. Deleting a namespace marks it
    /// `Terminating`, deletes everything in it, then removes it; the Terminating namespace
    /// is returned.
    pub fn delete(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        self.delete_opts(kind, namespace, name, false)
    }

    /// `delete` with `dry_run`.
    pub fn delete_opts(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let kind = *kind;
        Self::writable(kind)?;
        let key = Self::key(kind, namespace, name)?;
        let mut inner = self.inner.write();
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(kind.group(), kind.plural(), name));
        };
        if dry_run {
            return Ok(old);
        }
        let cap = self.history_cap;
        if kind == Kind::Namespace {
            let mut term = old.clone();
            term["status"]["phase"] = json!("Terminating");
            term["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            let rv = inner.next_rv();
            term["metadata"]["resourceVersion"] = json!(rv.to_string());
            inner.objects.insert(key.clone(), term.clone());
            inner.record(cap, Kind::Namespace, "", Change::Modified, &term, Some(old));
            let children: Vec<Key> = inner
                .objects
                .keys()
                .filter(|(k, ns, _)| *k != Kind::Namespace && ns == name)
                .cloned()
                .collect();
            for ck in children {
                if let Some(mut o) = inner.objects.remove(&ck) {
                    let rv = inner.next_rv();
                    o["metadata"]["resourceVersion"] = json!(rv.to_string());
                    inner.record(cap, ck.0, &ck.1, Change::Deleted, &o, None);
                }
            }
            let mut gone = inner.objects.remove(&key).unwrap_or_else(|| term.clone());
            let rv = inner.next_rv();
            gone["metadata"]["resourceVersion"] = json!(rv.to_string());
            inner.record(cap, Kind::Namespace, "", Change::Deleted, &gone, None);
            return Ok(term);
        }
        let mut o = inner.objects.remove(&key).unwrap_or(old);
        let rv = inner.next_rv();
        o["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.record(cap, kind.storage(), &key.1, Change::Deleted, &o, None);
        Ok(present(kind, &o))
    }

    /// Watch changes. `since_rv` `None`/`"0"`/`""`: synthetic `Added` for every current
    /// match, then live changes. A resourceVersion: every change after it (410 `Expired`
    /// if it was compacted away), then live changes. Bookmarks are the caller's job
    /// (see `resource_version`); the channel closes if the receiver falls behind.
    pub fn watch(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        since_rv: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<mpsc::Receiver<WatchEvent>, ApiError> {
        let kind = *kind;
        let labels = LabelSelector::parse(label_selector.unwrap_or(""))?;
        let fields = FieldSelector::parse(field_selector.unwrap_or(""))?;
        let ns = namespace.filter(|n| !n.is_empty() && kind.namespaced()).map(str::to_string);
        let since = match since_rv.filter(|s| !s.is_empty() && *s != "0") {
            None => None,
            Some(s) => Some(s.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resourceVersion {s:?}: expected a decimal resourceVersion from a previous response"
                ))
            })?),
        };
        let mut inner = self.inner.write();
        let storage = kind.storage();
        let mut w = Watcher { kind, ns, labels, fields, tx: mpsc::channel(1).0 };
        let mut backlog: Vec<WatchEvent> = Vec::new();
        match since {
            None => {
                for ((k, kns, _), o) in &inner.objects {
                    if *k == storage && w.ns.as_ref().is_none_or(|n| n == kns) {
                        let p = present(kind, o);
                        if w.labels.matches(&p) && w.fields.matches(&p) {
                            backlog.push(WatchEvent::Added(p));
                        }
                    }
                }
            }
            Some(rv) => {
                if rv < inner.compacted {
                    return Err(ApiError::gone(&rv.to_string(), inner.compacted + 1));
                }
                for e in inner.history.iter().filter(|e| e.rv > rv) {
                    if e.kind == storage
                        && w.ns.as_ref().is_none_or(|n| *n == e.ns)
                        && let Some(ev) = watcher_event(&w, e.change, &e.obj, e.prev.as_ref())
                    {
                        backlog.push(ev);
                    }
                }
            }
        }
        let (tx, rx) = mpsc::channel(backlog.len() + WATCH_BUFFER);
        for ev in backlog {
            tx.try_send(ev).expect("sized for backlog");
        }
        w.tx = tx;
        inner.watchers.push(w);
        Ok(rx)
    }

    /// Number of live watchers (for tests and benches).
    pub fn watcher_count(&self) -> usize {
        let mut inner = self.inner.write();
        inner.watchers.retain(|w| !w.tx.is_closed());
        inner.watchers.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Main,
    Status,
}

fn strip_rv(o: &Value) -> Value {
    let mut c = o.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    c
}

fn check_type(kind: Kind, obj: &Value) -> Result<(), ApiError> {
    let k = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if (!k.is_empty() && k != kind.kind_name()) || (!av.is_empty() && av != kind.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) and kind ({k}) do not match the resource {} ({}, kind {})",
            kind.plural(),
            kind.api_version(),
            kind.kind_name()
        )));
    }
    Ok(())
}
