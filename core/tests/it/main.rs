//! panka-core's integration tests, as one test binary: the executor on fakes (`engine`,
//! `heartbeat`), the walkthrough resolved (`resolve`), environment domains and service hosts
//! (`domain`), the state conformance suite on memory and local files, the files panka reads (`repo_files`), physical-name collisions, and the
//! loader under mutation (`robustness`, `fuzz_loader`: `PANKA_FUZZ_CASES`, `PANKA_FUZZ_SEED`).
//! `cargo test -p panka-core --test it MODULE` runs one of them.
//!
//! Tests run on parallel threads of this one process: none may set process-wide state.

mod support;

mod domain;
mod engine;
mod fuzz_loader;
mod heartbeat;
mod name_collisions;
mod repo_files;
mod resolve;
mod robustness;
mod state_conformance;
mod yaml_limits;
