//! Kubernetes API emulator: an in-memory object store with watches, and (in `api`) the
//! HTTP API that kubectl and kube-rs talk to. Objects are plain `serde_json::Value`s.

pub mod admission;
pub mod api;
pub mod bench;
pub mod discovery;
pub mod error;
pub mod kind;
pub mod patch;
pub mod proto;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod watch;

pub use api::{ApiOptions, router};
pub use error::ApiError;
pub use kind::Kind;
pub use patch::PatchType;
pub use server::{
    CONTEXT, KubeApiServer, KubeServerError, LabKube, kubeconfig_yaml, write_kubeconfig,
};
pub use store::{SharedStore, Store, WatchEvent};
