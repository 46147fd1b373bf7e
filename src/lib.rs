//! acr-chaos: chaos and conformance tests for the AKS → ACR image-pull path.
//!
//! Flow (one direction, see the design): scenario files → [`scenario`] (load, validate)
//! → [`engine`] (plan, inject via [`faults`], observe, assert via [`classify`], restore,
//! recover) → [`events`] → [`report`]. Only [`clients`] knows URLs.

pub mod alerts;
pub mod classify;
pub mod cli;
pub mod clients;
pub mod diagnose;
pub mod diff;
pub mod engine;
pub mod environment;
pub mod events;
pub mod exit;
pub mod faults;
pub mod report;
pub mod scenario;

pub use exit::ExitCode;
