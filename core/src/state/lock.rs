//! The lock that serialises mutating commands on one stack and environment.

use super::{StateDocument, StateError, StateKey, StateStore, Version, VersionedState};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Default lease: a holder that stops renewing frees the lock after this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3600);

/// Who holds a lock, in product.md's attribute names (also the DynamoDB item's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock id, a UUID.
    #[serde(rename = "ID")]
    pub id: String,
    /// `user@host`.
    #[serde(rename = "Who")]
    pub who: String,
    /// `apply`, `destroy`, `rollback`, …
    #[serde(rename = "Operation")]
    pub operation: String,
    /// RFC 3339.
    #[serde(rename = "Created")]
    pub created: String,
    /// Epoch seconds; the lock is free from then on unless renewed.
    #[serde(rename = "ExpiresAt")]
    pub expires_at: i64,
}

impl LockInfo {
    pub fn expires_at_rfc3339(&self) -> String {
        jiff::Timestamp::from_second(self.expires_at)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| self.expires_at.to_string())
    }

    /// `who` `operation` since `created` until `expires` (lock `id`).
    pub fn describe(&self) -> String {
        format!(
            "{} ({}) since {}, until {} — lock id {}",
            self.who,
            self.operation,
            self.created,
            self.expires_at_rfc3339(),
            self.id
        )
    }
}

/// What a new holder says about itself.
#[derive(Clone, Debug)]
pub struct LockRequest {
    pub who: String,
    pub operation: String,
    pub lease: Duration,
}

impl LockRequest {
    /// A fresh lock for `now`.
    pub fn to_info(&self, now: jiff::Timestamp) -> LockInfo {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            who: self.who.clone(),
            operation: self.operation.clone(),
            created: super::rfc3339(now),
            expires_at: now.as_second() + self.lease.as_secs() as i64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds a live lock.
    #[error("{key} is locked by {}", .holder.describe())]
    Held { key: StateKey, holder: LockInfo },
    /// Renewal or release by a process whose lock expired and was taken over (or removed).
    #[error("the lock on {key} is no longer held by this run (lock id {id})")]
    Lost { key: StateKey, id: String },
    /// `unlock` with an id that is not the holder's.
    #[error("the lock on {key} has id {}, not {given}", .holder.id)]
    IdMismatch {
        key: StateKey,
        given: String,
        holder: LockInfo,
    },
    /// Nothing to unlock.
    #[error("{key} is not locked")]
    NotLocked { key: StateKey },
    #[error("{message}")]
    Backend {
        message: String,
        hint: Option<String>,
    },
}

impl LockError {
    pub fn backend(message: impl Into<String>) -> Self {
        LockError::Backend {
            message: message.into(),
            hint: None,
        }
    }
}

/// Implemented by the DynamoDB lock (providers), the local file lock and the in-memory
/// fake. Expiry is decided by each call against the current time, never by a background
/// cleanup (DynamoDB's TTL deletes items late).
#[async_trait]
pub trait StateLock: Send + Sync {
    /// Where the lock lives, for messages.
    fn location(&self, key: &StateKey) -> String;

    /// Takes the lock if it is free or expired. Errors: [`LockError::Held`] with the holder.
    async fn acquire(&self, key: &StateKey, request: &LockRequest) -> Result<LockInfo, LockError>;

    /// Extends the lease of the lock `id`. Errors: [`LockError::Lost`] when `id` no longer
    /// holds it.
    async fn renew(&self, key: &StateKey, id: &str, lease: Duration)
    -> Result<LockInfo, LockError>;

    /// Releases the lock `id`; releasing a lock that is already gone is not an error.
    /// Errors: [`LockError::IdMismatch`] when someone else holds it.
    async fn release(&self, key: &StateKey, id: &str) -> Result<(), LockError>;

    /// The current holder, if any (expired locks are reported with their expiry).
    async fn status(&self, key: &StateKey) -> Result<Option<LockInfo>, LockError>;
}

/// Waits for the lock up to `timeout`, with exponential backoff and jitter, calling
/// `on_wait` once with the holder when it first has to wait.
pub async fn acquire_with_wait(
    lock: &dyn StateLock,
    key: &StateKey,
    request: &LockRequest,
    timeout: Duration,
    mut on_wait: impl FnMut(&LockInfo) + Send,
) -> Result<LockInfo, LockError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(250);
    let mut told = false;
    loop {
        match lock.acquire(key, request).await {
            Err(LockError::Held { key, holder }) => {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(LockError::Held { key, holder });
                }
                if !told {
                    on_wait(&holder);
                    told = true;
                }
                let jitter =
                    Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 2);
                let sleep = (delay + jitter).min(deadline - now);
                tokio::time::sleep(sleep).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// A held lock that renews itself every third of its lease until released. When a
/// renewal fails (the lease expired and someone took over), [`HeldLock::is_lost`] turns
/// true and state writes fenced by this lock fail.
pub struct HeldLock {
    pub info: LockInfo,
    key: StateKey,
    lock: Arc<dyn StateLock>,
    lost: Arc<AtomicBool>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl HeldLock {
    /// Starts renewing `info` (already acquired) in the background.
    pub fn start(lock: Arc<dyn StateLock>, key: StateKey, info: LockInfo, lease: Duration) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = {
            let (lock, key, id, lost) = (lock.clone(), key.clone(), info.id.clone(), lost.clone());
            let every = (lease / 3).max(Duration::from_secs(1));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match lock.renew(&key, &id, lease).await {
                        Ok(_) => {}
                        Err(LockError::Lost { .. }) | Err(LockError::IdMismatch { .. }) => {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A transient failure: the next beat tries again well before expiry.
                        Err(_) => {}
                    }
                }
            })
        };
        HeldLock {
            info,
            key,
            lock,
            lost,
            heartbeat: Some(heartbeat),
        }
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and releases the lock.
    pub async fn release(mut self) -> Result<(), LockError> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        self.lock.release(&self.key, &self.info.id).await
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

/// State access for the holder of a lock: reads once, then every save is conditional on
/// the version this holder last wrote.
///
/// Fencing: [`FencedState::open`] writes the state once, stamped with the lock id, right
/// after the lock was taken. A previous holder whose lease expired still names the older
/// version in its writes, so they fail with [`StateError::Conflict`] from then on.
pub struct FencedState<'a> {
    store: &'a dyn StateStore,
    key: StateKey,
    lock_id: String,
    version: Version,
    pub state: StateDocument,
    /// Whether a state existed before this run (false on the first deployment).
    pub existed: bool,
}

impl<'a> FencedState<'a> {
    pub async fn open(
        store: &'a dyn StateStore,
        key: &StateKey,
        lock: &LockInfo,
        now: jiff::Timestamp,
    ) -> Result<FencedState<'a>, StateError> {
        let current = store.read(key).await?;
        let existed = current.is_some();
        let (mut state, expected) = match current {
            Some(VersionedState { state, version }) => (state, Some(version)),
            None => (StateDocument::new(&key.stack, &key.environment, now), None),
        };
        state.serial += 1;
        state.lock_id = Some(lock.id.clone());
        state.updated_at = super::rfc3339(now);
        let version = store.write(key, &state, expected.as_ref()).await?;
        Ok(FencedState {
            store,
            key: key.clone(),
            lock_id: lock.id.clone(),
            version,
            state,
            existed,
        })
    }

    /// Writes the current `state` (serial + 1) if nobody else wrote since.
    pub async fn save(&mut self, now: jiff::Timestamp) -> Result<(), StateError> {
        let mut next = self.state.clone();
        next.serial += 1;
        next.lock_id = Some(self.lock_id.clone());
        next.updated_at = super::rfc3339(now);
        self.version = self
            .store
            .write(&self.key, &next, Some(&self.version))
            .await?;
        self.state = next;
        Ok(())
    }
}
