//! Kubelet emulator (see ../../shared/reference/signatures.md §2).

pub mod backoff;
pub mod creds;
pub mod events;
pub mod image;
pub mod messages;
pub mod status;
