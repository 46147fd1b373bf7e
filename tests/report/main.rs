//! The report tests (JUnit, summary, HTML, golden reports, the CLI) and `diff`/`baseline
//! accept` on recorded runs, one binary (one link instead of 5); each module is one
//! former test file.

#[path = "../report_support/mod.rs"]
mod report_support;

mod cli;
mod diff;
mod golden;
mod html;
mod model;
