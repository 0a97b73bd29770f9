//! Helpers shared by the integration tests, written once: `use crate::support::…`.

pub mod cli;
pub mod decode;
pub mod deployment;
// Written once for both packages' tests (panka-core's include it from its own tree); each
// binary uses part of it.
#[allow(dead_code)]
#[path = "../../../core/tests/it/support/files.rs"]
pub mod files;
// Harnesses: their whole API is kept (`MotoServer::log` for a failing test, the proxy's
// statistics, which examples/fault_proxy.rs shares), whether a test calls it today or not.
#[allow(dead_code)]
pub mod moto;
#[allow(dead_code)]
pub mod proxy;
pub mod vpc;
