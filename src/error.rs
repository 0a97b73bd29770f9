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
// backend holding the state, the AWS error mapping). Write `map_err(UserError::from)`
// (or `.doing(..)` on it) to add context; a bare `?` into `anyhow` keeps the library
// error, and [`hint_of`] still finds its hint, so neither way loses it.

/// The hint of an error that reached `main`: a [`UserError`]'s, or that of the library
/// error a bare `?` carried there.
pub fn hint_of(err: &anyhow::Error) -> Option<String> {
    if let Some(user) = err.downcast_ref::<UserError>() {
        return user.hint.clone();
    }
    if let Some(provider) = err.downcast_ref::<ProviderError>() {
        return provider.hint.clone();
    }
    if let Some(state) = err.downcast_ref::<StateError>() {
        return state.hint().map(str::to_string);
    }
    if let Some(LockError::Backend { hint, .. }) = err.downcast_ref::<LockError>() {
        return hint.clone();
    }
    err.downcast_ref::<BootstrapError>()
        .and_then(BootstrapError::hint)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use panka_core::reconcile::ErrorKind;

    #[test]
    fn a_library_error_keeps_its_hint_however_it_reached_main() {
        let provider = || {
            ProviderError::new(ErrorKind::Foreign, "queue q is someone's").with_hint("rename it")
        };
        let through_question_mark = anyhow::Error::from(provider());
        assert_eq!(
            hint_of(&through_question_mark).as_deref(),
            Some("rename it")
        );
        let converted = anyhow::Error::from(UserError::from(provider()).doing("cannot apply"));
        assert_eq!(hint_of(&converted).as_deref(), Some("rename it"));
        assert_eq!(converted.to_string(), "cannot apply: queue q is someone's");
        assert_eq!(hint_of(&anyhow::anyhow!("plain")), None);
    }
}
