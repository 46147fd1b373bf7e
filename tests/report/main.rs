//! The report tests, one binary (one link instead of 4); each module is one
//! former test file.

#[path = "../report_support/mod.rs"]
mod report_support;

mod cli;
mod golden;
mod html;
mod model;
