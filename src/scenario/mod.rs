//! Scenario and target files: model, loading, validation, schema.
pub mod cli;
