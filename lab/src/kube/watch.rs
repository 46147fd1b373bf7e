//! Streaming watch responses: newline-delimited JSON events, periodic BOOKMARKs, a final
//! BOOKMARK at `timeoutSeconds`, and an `ERROR` event with a 410 `Expired` Status for a
//! compacted resourceVersion (as the real API server answers a watch).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::error::ApiError;
use super::kind::Kind;
use super::store::{SharedStore, WatchEvent};
use super::table;

/// Parameters of one watch request.
#[derive(Debug, Clone)]
pub struct WatchParams {
    pub namespace: Option<String>,
    pub resource_version: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub send_initial_events: bool,
    pub bookmark_interval: Duration,
    /// Encode objects as one-row `Table`s (kubectl `get -w`), rows carrying this much
    /// of the object.
    pub table: Option<table::IncludeObject>,
}

/// Encodes events for one stream (tracks whether table headers were sent).
struct Encoder {
    kind: Kind,
    table: Option<table::IncludeObject>,
    headers_sent: bool,
}

impl Encoder {
    fn encode(&mut self, ev: &WatchEvent) -> Bytes {
        let mut v = ev.to_json(self.kind);
        if let Some(include) = self.table
            && let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = ev
        {
            let one = std::slice::from_ref(o);
            v["object"] = table::table_with(self.kind, one, None, !self.headers_sent, include);
            self.headers_sent = true;
        }
        line(&v)
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// Start a watch and return the streaming response (or an error for a bad request).
pub fn respond(store: SharedStore, kind: Kind, p: WatchParams) -> Result<Response, ApiError> {
    let mut initial: Vec<Value> = Vec::new();
    let mut initial_rv = None;
    let since = if p.send_initial_events {
        let (items, rv) = store.list(
            &kind,
            p.namespace.as_deref(),
            p.label_selector.as_deref(),
            p.field_selector.as_deref(),
        )?;
        initial = items;
        initial_rv = Some(rv.clone());
        Some(rv)
    } else {
        p.resource_version.clone()
    };
    let (out_tx, out_rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let rx = match store.watch(
        &kind,
        p.namespace.as_deref(),
        since.as_deref(),
        p.label_selector.as_deref(),
        p.field_selector.as_deref(),
    ) {
        Ok(rx) => Some(rx),
        Err(e) if e.code == 410 => {
            let ev = WatchEvent::Error(e.to_status()).to_json(kind);
            let _ = out_tx.try_send(Ok(line(&ev)));
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(rx) = rx {
        tokio::spawn(pump(store, kind, p, rx, out_tx, initial, initial_rv));
    }
    let body = Body::from_stream(ReceiverStream::new(out_rx));
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(body)
        .expect("static response parts"))
}

async fn pump(
    store: SharedStore,
    kind: Kind,
    p: WatchParams,
    mut rx: mpsc::Receiver<WatchEvent>,
    out: mpsc::Sender<Result<Bytes, Infallible>>,
    initial: Vec<Value>,
    initial_rv: Option<String>,
) {
    let mut last_sent: u64 = 0;
    let mut enc = Encoder { kind, table: p.table, headers_sent: false };
    for o in initial {
        if out.send(Ok(enc.encode(&WatchEvent::Added(o)))).await.is_err() {
            return;
        }
    }
    if let Some(rv) = initial_rv {
        let mut bm = WatchEvent::Bookmark(rv.clone()).to_json(kind);
        bm["object"]["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        if out.send(Ok(line(&bm))).await.is_err() {
            return;
        }
        last_sent = rv.parse().unwrap_or(0);
    }
    let deadline = tokio::time::Instant::now() + p.timeout;
    let mut tick = tokio::time::interval(p.bookmark_interval);
    tick.reset();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => {
                    if let Some(rv) = ev.resource_version() {
                        last_sent = last_sent.max(rv);
                    }
                    if out.send(Ok(enc.encode(&ev))).await.is_err() {
                        return;
                    }
                }
                // The store dropped us (we fell behind): end the response; clients re-watch.
                None => return,
            },
            _ = tick.tick(), if p.bookmarks => {
                if !bookmark(&store, &mut enc, &mut rx, &out, &mut last_sent).await {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                if p.bookmarks {
                    let _ = bookmark(&store, &mut enc, &mut rx, &out, &mut last_sent).await;
                }
                return;
            }
            _ = out.closed() => return,
        }
    }
}

/// Send a bookmark whose resourceVersion covers everything delivered so far: the store's
/// version is read first (every change up to it is already queued for us), the queue is
/// drained, then the bookmark goes out.
async fn bookmark(
    store: &SharedStore,
    enc: &mut Encoder,
    rx: &mut mpsc::Receiver<WatchEvent>,
    out: &mpsc::Sender<Result<Bytes, Infallible>>,
    last_sent: &mut u64,
) -> bool {
    let snapshot: u64 = store.resource_version().parse().unwrap_or(0);
    while let Ok(ev) = rx.try_recv() {
        if let Some(rv) = ev.resource_version() {
            *last_sent = (*last_sent).max(rv);
        }
        if out.send(Ok(enc.encode(&ev))).await.is_err() {
            return false;
        }
    }
    *last_sent = (*last_sent).max(snapshot);
    let bm = WatchEvent::Bookmark(last_sent.to_string()).to_json(enc.kind);
    out.send(Ok(line(&bm))).await.is_ok()
}
