//! Helpers shared by panka-core's integration tests, written once: `use crate::support::…`.

// The CLI's tests include this file too (`tests/it/support/mod.rs`); each binary uses part.
#[allow(dead_code)]
pub mod files;
