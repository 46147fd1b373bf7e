//! Watch fan-out: the events a watcher receives, the bounded change history used to
//! resume a watch from a resourceVersion, and view conversion (events.k8s.io/v1).

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::super::error::ApiError;
use super::super::kind::Kind;
use super::super::selector::{FieldSelector, LabelSelector};
use super::{Inner, Store, WATCH_BUFFER};

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
pub(super) enum Change {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug)]
pub(super) struct HistoryEntry {
    pub(super) rv: u64,
    pub(super) kind: Kind,
    pub(super) ns: String,
    pub(super) change: Change,
    pub(super) obj: Value,
    pub(super) prev: Option<Value>,
}

pub(super) struct Watcher {
    pub(super) kind: Kind,
    pub(super) ns: Option<String>,
    pub(super) labels: LabelSelector,
    pub(super) fields: FieldSelector,
    pub(super) tx: mpsc::Sender<WatchEvent>,
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
pub(super) fn present(kind: Kind, o: &Value) -> Value {
    if kind == Kind::EventV1 { event_v1(o) } else { o.clone() }
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

impl Inner {
    pub(super) fn record(
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
            if w.tx.is_closed() {
                return false;
            }
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
}

impl Store {
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
