//! Kubernetes API emulator: an in-memory object store with watches, and (in `api`) the
//! HTTP API that kubectl and kube-rs talk to. Objects are plain `serde_json::Value`s.
//!
//! In-process (the kubelet emulator):
//! ```no_run
//! # use acr_chaos_lab::kube::{Kind, Store, WatchEvent};
//! # use serde_json::json;
//! # async fn f() -> Result<(), acr_chaos_lab::kube::ApiError> {
//! let store = Store::new(); // namespaces default, kube-system, kube-public, kube-node-lease
//! let (pods, rv) = store.list(&Kind::Pod, None, None, Some("spec.nodeName=node-1"))?;
//! let mut rx = store.watch(&Kind::Pod, None, Some(&rv), None, Some("spec.nodeName=node-1"))?;
//! while let Some(ev) = rx.recv().await {
//!     if let WatchEvent::Added(p) | WatchEvent::Modified(p) = ev {
//!         let name = p["metadata"]["name"].as_str().unwrap_or_default().to_string();
//!         store.update_status(&Kind::Pod, Some("default"), &name, json!({"phase": "Running"}))?;
//!     }
//! }
//! // `None` from `recv()`: the watcher fell more than `store::WATCH_BUFFER` events
//! // behind and was closed; list and watch again (as a real client does).
//! # Ok(()) }
//! ```
//!
//! Over HTTPS: [`KubeApiServer::start`] (or [`LabKube`] inside a `Lab`) serves
//! discovery, OpenAPI documents, CRUD, patches and watches with bearer-token auth and
//! writes a kubeconfig (context `aks-chaos-lab`).

pub mod admission;
mod admission_workloads;
pub mod api;
pub mod bench;
pub mod controllers;
pub mod discovery;
pub mod error;
pub mod kind;
pub mod logs;
pub mod openapi;
pub mod patch;
pub mod proto;
mod proto_workloads;
pub mod rbac;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod watch;

#[cfg(feature = "testing")]
pub use api::ApiOptions;
pub use controllers::{ControllerOptions, Controllers};
pub use error::ApiError;
pub use kind::Kind;
pub use server::{KubeServerError, LabKube};
#[cfg(feature = "testing")]
pub use server::{KubeApiServer, write_kubeconfig};
pub use store::{SharedStore, Store, WatchEvent};
