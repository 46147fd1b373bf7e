//! End to end on the lab through the real binary (every built-in scenario, kills and
//! `recover`, `lab up` with least privilege, baseline diffs, the pre-upgrade walk-through,
//! the torture test) and kube-rs against the lab's Kubernetes API, one binary (one link
//! instead of 7); each module is one former test file. The lab tests run one at a time
//! (`lab_support::SERIAL`). `make torture` runs `torture::` alone.

#[path = "../lab_support/mod.rs"]
mod lab_support;

mod e2e_diff;
mod e2e_lab;
mod e2e_lab_up;
mod lab_kube_rs;
mod recovery_lab;
mod torture;
mod upgrade_lab;
