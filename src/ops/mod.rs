//! The operations commands are made of (cargo's `ops` under its `commands`): loading a
//! stack, opening its target, the run's AWS clients, planning, the preflights, taking the
//! lock, executing a plan, choosing a rollback's target and checking drift. Commands read
//! arguments, ask and render; these do the work.
//!
//! Dependencies go one way: `commands` → `ops` → `panka-core`/`panka-providers`. Nothing
//! here imports `commands`. Within `ops`: `aws` ← `backend` ← `target` ← `deploy`;
//! `load` ← `target`, `plan`, `preflight`, `drift`; `aws` ← `drift`; `lock` and
//! `rollback` stand alone (no cycles).

pub mod aws;
pub mod backend;
pub mod deploy;
pub mod drift;
pub mod load;
pub mod lock;
pub mod plan;
pub mod preflight;
pub mod rollback;
pub mod target;
