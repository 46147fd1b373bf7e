//! Kubernetes API emulator: an in-memory object store with watches, and (in `api`) the
//! HTTP API that kubectl and kube-rs talk to. Objects are plain `serde_json::Value`s.

pub mod admission;
pub mod error;
pub mod kind;
pub mod patch;
pub mod selector;
pub mod store;

pub use error::ApiError;
pub use kind::Kind;
pub use patch::PatchType;
pub use store::{SharedStore, Store, WatchEvent};
