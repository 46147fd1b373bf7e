//! The classify tests, one binary (one link instead of 3); each module is one
//! former test file.

mod captured;
mod cli;
mod rules;
