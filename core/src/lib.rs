//! panka's core: the stack model, validation, the dependency graph, and (in later
//! stages) plan and engine. Depends on no AWS crate by construction.

pub mod cost;
pub mod desired;
pub mod diag;
pub mod drift;
pub mod engine;
pub mod graph;
pub mod interp;
pub mod kinds;
pub mod loader;
pub mod model;
pub mod names;
pub mod naming;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod read;
pub mod reconcile;
pub mod recorded;
pub mod repo_path;
pub mod secret_keys;
pub mod source;
pub mod state;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod validate;
pub mod yaml;
