//! Taking a stack environment's lock: at once, or waiting up to a timeout (`on_wait` is
//! told who holds it, once).

use panka_core::state::{LockError, LockInfo, LockRequest, StateKey, StateLock, acquire_with_wait};
use std::time::Duration;

pub async fn acquire(
    lock: &dyn StateLock,
    key: &StateKey,
    request: &LockRequest,
    timeout: Option<Duration>,
    on_wait: impl FnMut(&LockInfo) + Send,
) -> Result<LockInfo, LockError> {
    match timeout {
        Some(timeout) => acquire_with_wait(lock, key, request, timeout, on_wait).await,
        None => lock.acquire(key, request).await,
    }
}
