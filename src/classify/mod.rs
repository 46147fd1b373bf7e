//! Message → causes (signatures.md §5). Owned by the classifier work.
pub mod cli;
