//! State, history and locks: the documents panka keeps per stack and environment, and
//! the traits the S3/DynamoDB (providers) and local/in-memory (here) backends implement.
//!
//! Guarantees every implementation gives (checked by [`crate::testing`]'s conformance
//! suite when the `test-util` feature is on):
//! - a state write is conditional on the version the writer read; a lost race is
//!   [`StateError::Conflict`], never a silent overwrite;
//! - a lock is taken only when nobody holds a live one; the loser learns who holds it;
//! - renewal and release succeed only for the holder's lock id.

mod document;
pub mod layout;
pub mod local;
mod lock;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
#[cfg(any(test, feature = "test-util"))]
pub use memory::{MemoryLock, MemoryStore};

pub use document::*;
pub use lock::*;

use async_trait::async_trait;
use std::collections::BTreeSet;
use std::fmt;

/// RFC 3339 in whole seconds (`2026-11-27T09:20:32Z`), as every record shows times.
/// RFC 3339 to the millisecond (`2024-01-15T17:05:23.456Z`): a deployment's start, so
/// that deployments started within the same second still sort in the order they ran.
pub fn rfc3339_millis(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.as_millisecond())
        .unwrap_or(t)
        .to_string()
}

pub fn rfc3339(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// Which state: one per stack and environment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateKey {
    pub stack: String,
    pub environment: String,
}

impl StateKey {
    pub fn new(stack: impl Into<String>, environment: impl Into<String>) -> Self {
        StateKey {
            stack: stack.into(),
            environment: environment.into(),
        }
    }

    /// The DynamoDB `LockID` of product.md: `stack:<stack>:env:<env>`.
    pub fn lock_id(&self) -> String {
        format!("stack:{}:env:{}", self.stack, self.environment)
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stack, self.environment)
    }
}

/// An opaque version of a stored state: the S3 ETag, or the serial for local and
/// in-memory stores. Writes name the version they replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(pub String);

/// A state as read, with the version a conditional write must name.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionedState {
    pub state: StateDocument,
    pub version: Version,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The stored state is not the version the writer read: another writer got there
    /// first (or a lock holder fenced this one out).
    #[error(
        "state of {key} changed since it was read (expected {expected}, found {found}); another panka run wrote it"
    )]
    Conflict {
        key: StateKey,
        expected: String,
        found: String,
    },
    /// The stored document cannot be read as state. `hint` says how to recover with the
    /// backend that holds it (a versioned bucket, a local file).
    #[error("state of {key} at {location} is not a valid panka state: {reason}")]
    Corrupt {
        key: StateKey,
        location: String,
        reason: String,
        hint: String,
    },
    /// The stored state is of a format this binary does not read (a newer panka wrote
    /// it). Refused before any lock, AWS call or write, so nothing it holds is lost.
    #[error(
        "state of {key} at {location} has format_version {found}; this panka reads format_version {}",
        readable_versions()
    )]
    UnknownVersion {
        key: StateKey,
        location: String,
        found: String,
    },
    /// The backend failed (I/O, permissions, network); `message` carries the whole cause.
    #[error("{message}")]
    Backend {
        message: String,
        hint: Option<String>,
    },
}

fn readable_versions() -> String {
    document::READABLE_STATE_VERSIONS
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl StateError {
    /// The error for stored state bytes that [`document::decode_state`] refused;
    /// `corrupt_hint` is the backend's way back to a good state.
    pub fn undecodable(
        key: &StateKey,
        location: String,
        problem: document::DecodeProblem,
        corrupt_hint: &str,
    ) -> Self {
        match problem {
            document::DecodeProblem::Corrupt(reason) => StateError::Corrupt {
                key: key.clone(),
                location,
                reason,
                hint: corrupt_hint.to_string(),
            },
            document::DecodeProblem::UnknownVersion(found) => StateError::UnknownVersion {
                key: key.clone(),
                location,
                found,
            },
        }
    }

    pub fn backend(message: impl Into<String>) -> Self {
        StateError::Backend {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            StateError::Backend { hint, .. } => hint.as_deref(),
            StateError::Conflict { .. } => Some("run the command again; it reads the newer state"),
            StateError::Corrupt { hint, .. } => Some(hint),
            StateError::UnknownVersion { .. } => Some(
                "a newer panka wrote this state: run that version (or newer); nothing was read from AWS or changed",
            ),
        }
    }
}

/// Where states and deployment records are kept.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Human-readable location for messages, e.g. `s3://bucket/prefix`.
    fn location(&self, key: &StateKey) -> String;

    /// The current state, or `None` before the first write.
    async fn read(&self, key: &StateKey) -> Result<Option<VersionedState>, StateError>;

    /// Writes `state` if the stored version is still `expected` (`None`: only if no state
    /// exists yet). Returns the new version.
    ///
    /// Errors: [`StateError::Conflict`] when another write happened in between.
    async fn write(
        &self,
        key: &StateKey,
        state: &StateDocument,
        expected: Option<&Version>,
    ) -> Result<Version, StateError>;

    /// Creates or replaces the record of one deployment (written at start, updated at
    /// the end; records are never deleted).
    async fn put_deployment(
        &self,
        key: &StateKey,
        record: &DeploymentRecord,
    ) -> Result<(), StateError>;

    /// The records of the deployments named in `ids` that exist, in no particular order.
    /// Only those records are read (records are found by name), so commands that need
    /// the records behind the current state do not read the whole history.
    async fn deployments_by_id(
        &self,
        key: &StateKey,
        ids: &BTreeSet<String>,
    ) -> Result<Vec<DeploymentRecord>, StateError>;

    /// Every stack and environment that has a state, sorted (`drift --all`).
    async fn list_keys(&self) -> Result<Vec<StateKey>, StateError>;

    /// Deployment records, newest first, at most `limit`.
    async fn list_deployments(
        &self,
        key: &StateKey,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, StateError>;
}
