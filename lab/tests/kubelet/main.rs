//! The node: containerd's CRI and `ctr` pulls through the ACR front door, the kubelet
//! emulator pulling through containerd (plain registry, the ACR front door, release
//! profiles, mounted in the lab) and a user's workloads through the real kubectl, one
//! binary (one link instead of 7); each module is one former test file. Needs root +
//! Debian containerd and docker-registry (loud SKIP, or a failure under CI=true). The
//! NSG pull test waits out containerd's dial timeouts (about a minute) while the others
//! run beside it.

#[path = "../acr_common/mod.rs"]
mod acr_common;
#[path = "../containerd_support/mod.rs"]
mod containerd_support;
#[path = "../kubectl_support/mod.rs"]
mod kubectl_support;

mod acr;
mod containerd_cri;
mod lab;
mod plain;
mod profiles;
mod pull_ctr;
mod workloads;
