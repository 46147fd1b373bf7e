//! Kubelet emulator (see ../../shared/reference/signatures.md §2).

pub mod backoff;
pub mod image;
pub mod messages;
