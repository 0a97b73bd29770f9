//! A held lock renews itself, and notices when it was taken over.

use panka_core::state::{HeldLock, LockRequest, MemoryLock, StateKey, StateLock};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renews_while_held_and_reports_a_takeover() {
    let lock = Arc::new(MemoryLock::new());
    let key = StateKey::new("shop", "development");
    let lease = Duration::from_secs(3);
    let request = LockRequest {
        who: "alice@laptop".into(),
        operation: "apply".into(),
        lease,
    };
    let info = lock.acquire(&key, &request).await.expect("acquire");
    let held = HeldLock::start(lock.clone(), key.clone(), info.clone(), lease);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let renewed = lock.status(&key).await.expect("status").expect("held");
    assert_eq!(renewed.id, info.id);
    assert!(
        renewed.expires_at > info.expires_at,
        "the heartbeat extended the lease"
    );
    assert!(!held.is_lost());

    // Someone takes the lock over (as after an expired lease): the next beat notices.
    let mut other = request.to_info(jiff::Timestamp::now());
    other.who = "bob@ci".into();
    lock.plant(&key, other.clone());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        held.is_lost(),
        "renewal fails once the lock belongs to someone else"
    );
    assert!(
        held.release().await.is_err(),
        "releasing someone else's lock is refused"
    );
    assert_eq!(
        lock.status(&key).await.expect("status").map(|h| h.who),
        Some("bob@ci".to_string())
    );
}
