//! The diagnose tests, one binary (one link instead of 3); each module is one
//! former test file.

mod checks;
mod cli;
mod lab;
