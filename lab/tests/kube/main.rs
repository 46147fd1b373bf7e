//! The Kubernetes API emulator (HTTP verbs, watches, controllers, metrics, the bench
//! entry points), the real kubectl against it, the API as mounted in a running lab, and
//! the lab's Prometheus + Alertmanager on its metrics, one binary (one link instead of
//! 8); each module is one former test file.

#[path = "../acr_common/mod.rs"]
mod acr_common;
#[path = "../kube_support/mod.rs"]
mod kube_support;
#[path = "../kubectl_support/mod.rs"]
mod kubectl_support;

mod api;
mod bench;
mod controllers;
mod kubectl;
mod lab;
mod metrics;
mod monitoring;
mod watch;
