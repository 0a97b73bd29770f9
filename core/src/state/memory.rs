//! In-memory state store and lock: the fakes the engine's tests run against. They keep
//! the same contract as the real backends (the conformance suite proves it).

use super::*;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemoryStore {
    states: Mutex<BTreeMap<StateKey, (StateDocument, u64)>>,
    records: Mutex<BTreeMap<StateKey, BTreeMap<String, DeploymentRecord>>>,
    writes: Mutex<u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> StateError {
    StateError::backend("in-memory store poisoned by a panicking test")
}

#[async_trait]
impl StateStore for MemoryStore {
    fn location(&self, key: &StateKey) -> String {
        format!("memory://{}", layout::state_path("", key))
    }

    async fn read(&self, key: &StateKey) -> Result<Option<VersionedState>, StateError> {
        let states = self.states.lock().map_err(|_| poisoned())?;
        Ok(states.get(key).map(|(state, v)| VersionedState {
            state: state.clone(),
            version: Version(v.to_string()),
        }))
    }

    async fn write(
        &self,
        key: &StateKey,
        state: &StateDocument,
        expected: Option<&Version>,
    ) -> Result<Version, StateError> {
        let mut states = self.states.lock().map_err(|_| poisoned())?;
        let current = states.get(key).map(|(_, v)| Version(v.to_string()));
        if current.as_ref() != expected {
            return Err(StateError::Conflict {
                key: key.clone(),
                expected: expected
                    .map(|v| v.0.clone())
                    .unwrap_or_else(|| "no state".into()),
                found: current.map(|v| v.0).unwrap_or_else(|| "no state".into()),
            });
        }
        let mut writes = self.writes.lock().map_err(|_| poisoned())?;
        *writes += 1;
        states.insert(key.clone(), (state.clone(), *writes));
        Ok(Version(writes.to_string()))
    }

    async fn put_deployment(
        &self,
        key: &StateKey,
        record: &DeploymentRecord,
    ) -> Result<(), StateError> {
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        records
            .entry(key.clone())
            .or_default()
            .insert(record.file_name(), record.clone());
        Ok(())
    }

    async fn deployments_by_id(
        &self,
        key: &StateKey,
        ids: &BTreeSet<String>,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let records = self.records.lock().map_err(|_| poisoned())?;
        Ok(records
            .get(key)
            .map(|r| {
                r.values()
                    .filter(|r| ids.contains(&r.id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn list_keys(&self) -> Result<Vec<StateKey>, StateError> {
        let states = self.states.lock().map_err(|_| poisoned())?;
        Ok(states.keys().cloned().collect())
    }

    async fn list_deployments(
        &self,
        key: &StateKey,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let records = self.records.lock().map_err(|_| poisoned())?;
        Ok(records
            .get(key)
            .map(|r| r.values().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}

/// In-memory lock; tests plant stale or live holders with [`MemoryLock::plant`].
#[derive(Default)]
pub struct MemoryLock {
    items: Mutex<BTreeMap<String, LockInfo>>,
}

impl MemoryLock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts a lock item as an operator would by hand (tests plant stale locks this way).
    pub fn plant(&self, key: &StateKey, info: LockInfo) {
        if let Ok(mut items) = self.items.lock() {
            items.insert(key.lock_id(), info);
        }
    }
}

fn lock_poisoned() -> LockError {
    LockError::backend("in-memory lock poisoned by a panicking test")
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

#[async_trait]
impl StateLock for MemoryLock {
    fn location(&self, key: &StateKey) -> String {
        format!("memory://{}", key.lock_id())
    }

    async fn acquire(&self, key: &StateKey, request: &LockRequest) -> Result<LockInfo, LockError> {
        let mut items = self.items.lock().map_err(|_| lock_poisoned())?;
        let now = now();
        if let Some(holder) = items.get(&key.lock_id())
            && holder.expires_at > now.as_second()
        {
            return Err(LockError::Held {
                key: key.clone(),
                holder: holder.clone(),
            });
        }
        let info = request.to_info(now);
        items.insert(key.lock_id(), info.clone());
        Ok(info)
    }

    async fn renew(
        &self,
        key: &StateKey,
        id: &str,
        lease: Duration,
    ) -> Result<LockInfo, LockError> {
        let mut items = self.items.lock().map_err(|_| lock_poisoned())?;
        match items.get_mut(&key.lock_id()) {
            Some(holder) if holder.id == id => {
                holder.expires_at = now().as_second() + lease.as_secs() as i64;
                Ok(holder.clone())
            }
            _ => Err(LockError::Lost {
                key: key.clone(),
                id: id.to_string(),
            }),
        }
    }

    async fn release(&self, key: &StateKey, id: &str) -> Result<(), LockError> {
        let mut items = self.items.lock().map_err(|_| lock_poisoned())?;
        match items.get(&key.lock_id()) {
            None => Ok(()),
            Some(holder) if holder.id == id => {
                items.remove(&key.lock_id());
                Ok(())
            }
            Some(holder) => Err(LockError::IdMismatch {
                key: key.clone(),
                given: id.to_string(),
                holder: holder.clone(),
            }),
        }
    }

    async fn status(&self, key: &StateKey) -> Result<Option<LockInfo>, LockError> {
        let items = self.items.lock().map_err(|_| lock_poisoned())?;
        Ok(items.get(&key.lock_id()).cloned())
    }
}
