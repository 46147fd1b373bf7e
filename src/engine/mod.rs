//! The engine: the only code that knows the order of stages. Per scenario: preflight,
//! journal, inject, observe, assert, restore, recover, clean up — emitting
//! [`crate::events`] all along. See ../shared/design/architecture.md §2–4.

pub mod bench;
pub mod cli;
pub mod connect;
pub mod environment;
pub mod holder;
pub mod journal;
#[cfg(feature = "lab")]
pub mod lab;
pub mod lease;
pub mod observe;
pub mod permissions;
pub mod plan;
pub mod probe;
pub mod recover;
pub mod scenario;
pub mod signals;
