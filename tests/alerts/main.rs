//! The alerts tests, one binary (one link instead of 4); each module is one
//! former test file.

#[path = "../lab_support/mod.rs"]
mod lab_support;

mod docs;
mod e2e;
mod lab;
mod loganalytics;
