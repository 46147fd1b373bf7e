//! What users take beside the binary, each run for real: the CI templates (linted, their
//! shell steps run against the lab), kind/ (its containerd configuration and external
//! cluster mode), the product image (`make image`, pushed, pulled and run through the
//! lab), the in-cluster deployment (applied with kubectl) and the official Azure SDKs as
//! clients of the lab; one binary (one link instead of 5); each module is one former test
//! file.

#[path = "../ci_support/mod.rs"]
mod ci_support;
#[path = "../lab_support/mod.rs"]
mod lab_support;

mod ci_templates;
mod deploy_kubernetes;
mod image;
mod kind_config;
mod sdk_clients;
