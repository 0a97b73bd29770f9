//! Errors the user can act on: a message and, where one helps, a hint.

use panka_core::reconcile::ProviderError;
use panka_core::state::{LockError, StateError};
use panka_providers::bootstrap::BootstrapError;
use std::fmt;

/// A failure caused by the user's input or environment, printed as `error:` with an
/// optional `hint:` line. Anything else reaching `main` is printed with its cause chain.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The message prefixed with what was being done (`cannot read x from AWS: …`); the
    /// hint stays the cause's.
    pub fn doing(mut self, doing: impl fmt::Display) -> Self {
        self.message = format!("{doing}: {}", self.message);
        self
    }

    /// `message` with the hint its source gave, if any.
    fn with_hint(message: String, hint: Option<String>) -> Self {
        UserError { message, hint }
    }
}

// The conversions below are the one place each library error becomes something to print:
// its message as the library words it, its hint from whoever knows what to do (the
// backend holding the state, the AWS error mapping). They are written with
// `map_err(UserError::from)`: a bare `?` into `anyhow` would keep the library error and
// lose the hint.

impl From<StateError> for UserError {
    fn from(e: StateError) -> Self {
        let hint = e.hint().map(str::to_string);
        UserError::with_hint(e.to_string(), hint)
    }
}

impl From<LockError> for UserError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Backend { message, hint } => UserError::with_hint(message, hint),
            other => UserError::new(other.to_string()),
        }
    }
}

impl From<ProviderError> for UserError {
    fn from(e: ProviderError) -> Self {
        let hint = e.hint.clone();
        UserError::with_hint(e.to_string(), hint)
    }
}

impl From<BootstrapError> for UserError {
    fn from(e: BootstrapError) -> Self {
        let hint = e.hint();
        UserError::with_hint(e.to_string(), hint)
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}
