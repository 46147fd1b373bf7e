//! The acr-chaos lab: an emulated AKS + ACR on one machine, over a real CNCF registry
//! and a real containerd. See ../shared/design/architecture.md §6.

pub mod world;
pub mod state;
pub mod nft;
pub mod entra;
pub mod arm;
pub mod server;
pub mod tls;
pub mod cri;
pub mod containerd;
pub mod kube;
pub mod metrics;
pub mod monitoring;
pub mod jwt;
pub mod registry;
pub mod oci;
pub mod knobs;
pub mod kubelet;
pub mod acr;
pub mod hub;
pub mod lab;
pub mod cli;
pub use lab::{Lab, LabBuilder, LabError};
