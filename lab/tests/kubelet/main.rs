//! The node: containerd's CRI, the kubelet emulator pulling through it (plain registry,
//! the ACR front door, release profiles, mounted in the lab) and a user's workloads
//! through the real kubectl, one binary (one link instead of 6); each module is one
//! former test file. Needs root + Debian containerd and docker-registry (loud SKIP, or a
//! failure under CI=true).

#[path = "../containerd_support/mod.rs"]
mod containerd_support;
#[path = "../kubectl_support/mod.rs"]
mod kubectl_support;

mod acr;
mod containerd_cri;
mod lab;
mod plain;
mod profiles;
mod workloads;
