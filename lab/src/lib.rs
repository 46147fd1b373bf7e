//! The acr-chaos lab: an emulated AKS + ACR on one machine, over a real CNCF registry
//! and a real containerd. See ../shared/design/architecture.md §6.

pub mod acr;
pub mod arm;
mod child;
pub mod cli;
pub mod containerd;
pub mod cri;
pub mod entra;
pub mod hub;
pub mod jwt;
pub mod knobs;
pub mod kube;
pub mod kubelet;
pub mod lab;
pub mod metrics;
pub mod monitoring;
pub mod nft;
pub mod oci;
pub mod registry;
pub mod server;
pub mod state;
pub mod tls;
pub mod world;
pub use lab::{Lab, LabBuilder, LabError, LabFacts, LabLogin};
