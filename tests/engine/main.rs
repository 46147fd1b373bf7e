//! The engine and the scenario loader without a cluster: the ARM client against a local
//! ARM server, the Kubernetes client against tower-test mocks, the stage order with fake
//! faults and probers, `run --dry-run`/guard rails/`recover` through the real binary,
//! `validate` on bad input and the shipped scenarios; one binary (one link instead of 6);
//! each module is one former test file.

mod engine_arm;
mod engine_cli;
mod engine_kube;
mod engine_stages;
mod validate;
mod validate_builtin;
