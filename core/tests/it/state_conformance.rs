//! The conformance suite on the in-memory and local backends.

use panka_core::state::local::{LocalLock, LocalStore};
use panka_core::state::{MemoryLock, MemoryStore};
use panka_core::testing::{LocalPlanter, MemoryPlanter, lock_conformance, state_store_conformance};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    state_store_conformance(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_lock_conforms() {
    let lock = Arc::new(MemoryLock::new());
    lock_conformance(lock.clone(), Arc::new(MemoryPlanter(lock))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    state_store_conformance(Arc::new(LocalStore::new(dir.path().join(".panka")))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_lock_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = Arc::new(LocalLock::new(dir.path().join(".panka")));
    lock_conformance(lock.clone(), Arc::new(LocalPlanter(lock))).await;
}

#[test]
fn local_root_is_the_deployment_repo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = dir.path().join("stacks/notification-platform");
    std::fs::create_dir_all(&stack).expect("mkdir");
    assert_eq!(
        panka_core::state::local::default_root(&stack),
        dir.path().join(".panka")
    );
    let loose = dir.path().join("fixtures/notification-platform");
    std::fs::create_dir_all(&loose).expect("mkdir");
    assert_eq!(
        panka_core::state::local::default_root(&loose),
        dir.path().join("fixtures/.panka")
    );
}
