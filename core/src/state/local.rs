//! The embedded default backend: files under `.panka/` in the deployment repo.
//!
//! State is written atomically (temporary file, fsync, rename, fsync of the folder) and
//! conditionally: the check of the stored serial and the rename happen under an OS lock
//! on a sidecar file, so two processes cannot interleave. The lock is an OS file lock
//! (released by the OS when its process dies) plus a holder file with product.md's
//! attributes, which `lock status` reads.

use super::*;
use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// `.panka/` of the deployment repo that holds `stack_dir`: the nearest parent with a
/// `stacks/` folder, else the stack folder's parent.
pub fn default_root(stack_dir: &Path) -> PathBuf {
    let repo = stack_dir
        .ancestors()
        .skip(1)
        .find(|d| d.join("stacks").is_dir() && stack_dir.starts_with(d.join("stacks")))
        .or_else(|| stack_dir.parent())
        .unwrap_or(stack_dir);
    repo.join(".panka")
}

/// panka replaces local files atomically, so a broken one was changed by something else.
const CORRUPT_HINT: &str = "restore the file from a backup, or move it aside to start from an empty state (`panka drift` then lists what it tracked as orphans)";

fn io_error(what: &str, path: &Path, err: std::io::Error) -> StateError {
    StateError::backend(format!("cannot {what} {}: {err}", path.display()))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        uuid::Uuid::new_v4()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable only once the folder itself is synced.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Blocks on an exclusive OS lock of `path` (a short critical section).
fn exclusive(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
}

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    fn state_file(&self, key: &StateKey) -> PathBuf {
        self.root.join(layout::state_path("", key))
    }

    fn read_file(&self, key: &StateKey) -> Result<Option<StateDocument>, StateError> {
        let path = self.state_file(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &path, e)),
        };
        super::decode_state(&bytes).map(Some).map_err(|problem| {
            StateError::undecodable(key, path.display().to_string(), problem, CORRUPT_HINT)
        })
    }
}

#[async_trait]
impl StateStore for LocalStore {
    fn location(&self, key: &StateKey) -> String {
        self.state_file(key).display().to_string()
    }

    async fn read(&self, key: &StateKey) -> Result<Option<VersionedState>, StateError> {
        Ok(self.read_file(key)?.map(|state| VersionedState {
            version: Version(state.serial.to_string()),
            state,
        }))
    }

    async fn write(
        &self,
        key: &StateKey,
        state: &StateDocument,
        expected: Option<&Version>,
    ) -> Result<Version, StateError> {
        let path = self.state_file(key);
        let guard_path = path.with_extension("json.lock");
        let _guard = exclusive(&guard_path).map_err(|e| io_error("lock", &guard_path, e))?;
        let current = self.read_file(key)?.map(|s| Version(s.serial.to_string()));
        if current.as_ref() != expected {
            return Err(StateError::Conflict {
                key: key.clone(),
                expected: expected
                    .map(|v| format!("serial {}", v.0))
                    .unwrap_or_else(|| "no state".into()),
                found: current
                    .map(|v| format!("serial {}", v.0))
                    .unwrap_or_else(|| "no state".into()),
            });
        }
        let new_version = Version(state.serial.to_string());
        if current.as_ref() == Some(&new_version) {
            return Err(StateError::backend(format!(
                "refusing to write serial {} over itself: every write must increase the serial",
                state.serial
            )));
        }
        let bytes =
            serde_json::to_vec_pretty(state).map_err(|e| StateError::backend(e.to_string()))?;
        write_atomically(&path, &bytes).map_err(|e| io_error("write", &path, e))?;
        Ok(new_version)
    }

    async fn put_deployment(
        &self,
        key: &StateKey,
        record: &DeploymentRecord,
    ) -> Result<(), StateError> {
        let path = self
            .root
            .join(layout::deployments_dir("", key))
            .join(record.file_name());
        let bytes =
            serde_json::to_vec_pretty(record).map_err(|e| StateError::backend(e.to_string()))?;
        write_atomically(&path, &bytes).map_err(|e| io_error("write", &path, e))
    }

    async fn list_keys(&self) -> Result<Vec<StateKey>, StateError> {
        let sub_dirs = |dir: &Path| -> Result<Vec<(String, std::path::PathBuf)>, StateError> {
            match std::fs::read_dir(dir) {
                Ok(entries) => Ok(entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
                    .filter(|(name, _)| !name.starts_with('.'))
                    .collect()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(io_error("list", dir, e)),
            }
        };
        let mut keys = Vec::new();
        for (stack, stack_dir) in sub_dirs(&self.root.join("stacks"))? {
            for (environment, env_dir) in sub_dirs(&stack_dir)? {
                if env_dir.join("state.json").is_file() {
                    keys.push(StateKey::new(stack.clone(), environment));
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn list_deployments(
        &self,
        key: &StateKey,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let dir = self.root.join(layout::deployments_dir("", key));
        let mut names = record_names(&dir)?;
        names.sort_unstable_by(|a, b| b.cmp(a));
        names
            .into_iter()
            .take(limit)
            .map(|name| read_record(key, &dir.join(name)))
            .collect()
    }

    async fn deployments_by_id(
        &self,
        key: &StateKey,
        ids: &BTreeSet<String>,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let dir = self.root.join(layout::deployments_dir("", key));
        record_names(&dir)?
            .into_iter()
            .filter(|name| layout::record_id_of(name).is_some_and(|id| ids.contains(id)))
            .map(|name| read_record(key, &dir.join(name)))
            .collect()
    }
}

/// The record files in `dir` (none when it does not exist), unsorted.
fn record_names(dir: &Path) -> Result<Vec<String>, StateError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error("list", dir, e)),
    }
}

fn read_record(key: &StateKey, path: &Path) -> Result<DeploymentRecord, StateError> {
    let bytes = std::fs::read(path).map_err(|e| io_error("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
        key: key.clone(),
        location: path.display().to_string(),
        reason: e.to_string(),
        hint: CORRUPT_HINT.to_string(),
    })
}

/// OS file lock plus holder file.
pub struct LocalLock {
    root: PathBuf,
    /// Open lock files of the locks this process holds, by lock id. The OS lock lives as
    /// long as the handle.
    held: Mutex<HashMap<String, File>>,
}

impl LocalLock {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalLock {
            root: root.into(),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn lock_file(&self, key: &StateKey) -> PathBuf {
        self.root
            .join(layout::environment_dir("", key))
            .join("lock")
    }

    fn holder_file(&self, key: &StateKey) -> PathBuf {
        self.root
            .join(layout::environment_dir("", key))
            .join("lock.json")
    }

    fn read_holder(&self, key: &StateKey) -> Result<Option<LockInfo>, LockError> {
        let path = self.holder_file(key);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                LockError::backend(format!("{} is not a lock holder file: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LockError::backend(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn write_holder(&self, key: &StateKey, info: &LockInfo) -> Result<(), LockError> {
        let path = self.holder_file(key);
        let bytes =
            serde_json::to_vec_pretty(info).map_err(|e| LockError::backend(e.to_string()))?;
        write_atomically(&path, &bytes)
            .map_err(|e| LockError::backend(format!("cannot write {}: {e}", path.display())))
    }

    /// Tries the OS lock; `Ok(None)` when another handle (process) holds it.
    fn try_os_lock(&self, key: &StateKey) -> Result<Option<File>, LockError> {
        let path = self.lock_file(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| LockError::backend(format!("cannot create {}: {e}", dir.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| LockError::backend(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(LockError::backend(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }

    /// Simulates another process holding `info` (tests): writes the holder file and,
    /// when the lease is live, keeps an OS lock on a separate handle.
    pub fn plant(&self, key: &StateKey, info: &LockInfo) -> Result<(), LockError> {
        if info.expires_at > jiff::Timestamp::now().as_second() {
            let file = self
                .try_os_lock(key)?
                .ok_or_else(|| LockError::backend("cannot plant a lock over a live one"))?;
            if let Ok(mut held) = self.held.lock() {
                held.insert(format!("planted:{}", info.id), file);
            }
        }
        self.write_holder(key, info)
    }
}

fn poisoned() -> LockError {
    LockError::backend("local lock table poisoned by a panic")
}

#[async_trait]
impl StateLock for LocalLock {
    fn location(&self, key: &StateKey) -> String {
        self.lock_file(key).display().to_string()
    }

    async fn acquire(&self, key: &StateKey, request: &LockRequest) -> Result<LockInfo, LockError> {
        // Taking the lock and writing the holder file is one step for other acquirers,
        // so a loser never reads the holder file of the previous holder.
        let guard_path = self.lock_file(key).with_extension("guard");
        let _guard = exclusive(&guard_path).map_err(|e| {
            LockError::backend(format!("cannot lock {}: {e}", guard_path.display()))
        })?;
        let Some(file) = self.try_os_lock(key)? else {
            let holder = self.read_holder(key)?.unwrap_or_else(|| LockInfo {
                id: "unknown".into(),
                who: "another panka process".into(),
                operation: "unknown".into(),
                created: String::new(),
                expires_at: 0,
            });
            return Err(LockError::Held {
                key: key.clone(),
                holder,
            });
        };
        // The OS lock is ours: any holder file left behind belongs to a process that
        // died, whatever its expiry says.
        let info = request.to_info(jiff::Timestamp::now());
        self.write_holder(key, &info)?;
        self.held
            .lock()
            .map_err(|_| poisoned())?
            .insert(info.id.clone(), file);
        Ok(info)
    }

    async fn renew(
        &self,
        key: &StateKey,
        id: &str,
        lease: Duration,
    ) -> Result<LockInfo, LockError> {
        let ours = self.held.lock().map_err(|_| poisoned())?.contains_key(id);
        match self.read_holder(key)? {
            Some(mut holder) if ours && holder.id == id => {
                holder.expires_at = jiff::Timestamp::now().as_second() + lease.as_secs() as i64;
                self.write_holder(key, &holder)?;
                Ok(holder)
            }
            _ => Err(LockError::Lost {
                key: key.clone(),
                id: id.to_string(),
            }),
        }
    }

    async fn release(&self, key: &StateKey, id: &str) -> Result<(), LockError> {
        let holder = self.read_holder(key)?;
        match holder {
            Some(holder) if holder.id != id => {
                return Err(LockError::IdMismatch {
                    key: key.clone(),
                    given: id.to_string(),
                    holder,
                });
            }
            Some(_) => {
                let mut held = self.held.lock().map_err(|_| poisoned())?;
                let ours = held
                    .remove(id)
                    .or_else(|| held.remove(&format!("planted:{id}")));
                if ours.is_none() && self.try_os_lock(key)?.is_none() {
                    return Err(LockError::backend(format!(
                        "the lock on {key} is held by a running panka process; stop that process instead"
                    )));
                }
                let path = self.holder_file(key);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(LockError::backend(format!(
                            "cannot remove {}: {e}",
                            path.display()
                        )));
                    }
                }
                drop(ours);
            }
            None => {}
        }
        Ok(())
    }

    async fn status(&self, key: &StateKey) -> Result<Option<LockInfo>, LockError> {
        let holder = self.read_holder(key)?;
        if holder.is_none() {
            return Ok(None);
        }
        // A holder file without a live OS lock was left by a process that died.
        let held_here = {
            let held = self.held.lock().map_err(|_| poisoned())?;
            holder.as_ref().is_some_and(|h| {
                held.contains_key(&h.id) || held.contains_key(&format!("planted:{}", h.id))
            })
        };
        if held_here || self.try_os_lock(key)?.is_none() {
            Ok(holder)
        } else {
            Ok(None)
        }
    }
}
