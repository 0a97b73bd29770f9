//! Helpers shared by the integration tests. Each `tests/*.rs` that needs them declares
//! `mod support;`.

// Every test binary compiles this whole module but uses only part of it.
#![allow(dead_code)]

pub mod moto;
pub mod proxy;
