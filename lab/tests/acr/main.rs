//! The ACR front door and the data plane over a started lab (real docker-registry, real
//! containerd for `ctr` pulls), one binary (one link instead of 3); each module is one
//! former test file.

#[path = "../acr_common/mod.rs"]
mod acr_common;

mod front_door;
mod pull_ctr;
mod team;
