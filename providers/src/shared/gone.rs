//! A resource that is already gone: a delete of it is done, a look-up finds nothing.

use panka_core::reconcile::{ErrorKind, ProviderError};

/// `Ok(Some(value))`, `Ok(None)` for an error of kind [`ErrorKind::NotFound`], else the
/// error.
pub(crate) fn none_if_gone<T>(
    result: Result<T, ProviderError>,
) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A delete (or any step) whose resource is already gone has nothing left to do.
pub(crate) fn done_if_gone<T>(result: Result<T, ProviderError>) -> Result<(), ProviderError> {
    none_if_gone(result).map(|_| ())
}

/// Gives `error` the kind `kind` when `when`: for service codes the shared classification
/// does not know, recognised by the SDK's typed faults (`CacheSubnetGroupInUse`, …).
pub(crate) fn with_kind(mut error: ProviderError, kind: ErrorKind, when: bool) -> ProviderError {
    if when {
        error.kind = kind;
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_is_done_and_other_errors_stay() {
        let gone = || ProviderError::new(ErrorKind::NotFound, "gone");
        assert_eq!(none_if_gone::<u8>(Err(gone())).expect("none"), None);
        assert_eq!(none_if_gone(Ok(1)).expect("some"), Some(1));
        assert!(done_if_gone::<()>(Err(gone())).is_ok());
        let denied = done_if_gone::<()>(Err(ProviderError::new(ErrorKind::AccessDenied, "no")));
        assert_eq!(denied.expect_err("kept").kind, ErrorKind::AccessDenied);
        let busy = with_kind(
            ProviderError::new(ErrorKind::Other, "x"),
            ErrorKind::Conflict,
            true,
        );
        assert_eq!(busy.kind, ErrorKind::Conflict);
        let kept = with_kind(
            ProviderError::new(ErrorKind::Other, "x"),
            ErrorKind::Conflict,
            false,
        );
        assert_eq!(kept.kind, ErrorKind::Other);
    }
}
