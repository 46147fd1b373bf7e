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

mod delete;
mod fanout;

pub use fanout::WatchEvent;
use fanout::{Change, HistoryEntry, Watcher, present};

use super::admission;
use super::error::ApiError;
use super::kind::Kind;
use super::patch::{self, PatchType};
use super::selector::{FieldSelector, LabelSelector};

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

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("history_cap", &self.history_cap).finish_non_exhaustive()
    }
}

/// The RFC 3339 timestamp format Kubernetes uses (second precision, `Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn meta_str<'a>(o: &'a Value, field: &str) -> &'a str {
    o.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

impl Inner {
    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.contains_key(&(Kind::Namespace, String::new(), ns.to_string()))
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
        // The uid first: the Job strategy builds its selector from it.
        obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
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
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            meta.remove("deletionTimestamp");
            if matches!(kind, Kind::Pod | Kind::Namespace | Kind::Lease | Kind::Node)
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
            .filter_map(|(_, o)| {
                // Views convert first (selectors see the view's fields); stored kinds are
                // matched in place and only matches are cloned.
                if *kind != storage {
                    let p = present(*kind, o);
                    (labels.matches(&p) && fields.matches(&p)).then_some(p)
                } else {
                    (labels.matches(o) && fields.matches(o)).then(|| o.clone())
                }
            })
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
    #[expect(
        clippy::too_many_arguments,
        reason = "the object's coordinates plus the API server's PATCH options, one to one"
    )]
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
            check_type(*kind, &new)?;
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
                if kind.has_status_subresource() {
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
    for field in ["metadata", "spec", "status", "data", "stringData", "involvedObject"] {
        if let Some(v) = obj.get(field)
            && !v.is_object()
            && !v.is_null()
        {
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: field {field} must be an object, got {v}",
                kind.kind_name(),
                kind.version(),
                kind.kind_name()
            )));
        }
    }
    for ptr in ["/metadata/labels", "/metadata/annotations"] {
        if let Some(v) = obj.pointer(ptr)
            && !(v.is_null() || v.as_object().is_some_and(|m| m.values().all(Value::is_string)))
        {
            return Err(ApiError::bad_request(format!(
                "{} cannot be handled: {} must be an object of strings",
                kind.kind_name(),
                ptr.trim_start_matches('/').replace('/', ".")
            )));
        }
    }
    Ok(())
}
