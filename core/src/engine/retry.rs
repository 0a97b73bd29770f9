//! Trying a reconciler step again when it failed in a way that a second try can fix.
//!
//! The SDK already retries each AWS call (throttling, 5xx, dropped connections). Two
//! failures get past it, and both were found by the fault-injection tests
//! (docs/reliability.md):
//!
//! - a call whose every attempt failed (a burst of throttling or resets);
//! - a create whose answer was lost after AWS did the work: the SDK's retry of the same
//!   call then reads "already exists" (`EntityAlreadyExists`, `InvalidGroup.Duplicate`).
//!
//! Reconcilers look resources up by their deterministic name before creating them and
//! adopt what carries their tags, so running the whole step again is safe and turns the
//! second case into an adoption.

use super::{Event, EventSink};
use crate::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::future::Future;
use std::time::Duration;

/// How many times one step (a create, update or delete) is tried.
pub const STEP_ATTEMPTS: u32 = 3;
/// The wait before the second try; doubled before each further one.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// How many readiness polls in a row may fail with a retryable error before the change
/// fails; the wait goes on after fewer.
pub const POLL_ERRORS_TOLERATED: u32 = 5;

/// Whether trying again can succeed: transient failures and throttling pass with time, and
/// "already exists" means an earlier attempt did the work (the next one adopts it).
/// Foreign resources, bad input, missing permissions and conflicts are final.
pub fn worth_retrying(error: &ProviderError) -> bool {
    matches!(
        error.kind,
        ErrorKind::Transient | ErrorKind::Throttled | ErrorKind::AlreadyExists
    )
}

/// Whether a failed readiness poll can be ignored while the wait goes on.
pub fn poll_error_tolerated(error: &ProviderError) -> bool {
    matches!(error.kind, ErrorKind::Transient | ErrorKind::Throttled)
}

/// Runs `step` up to [`STEP_ATTEMPTS`] times while it fails with an error
/// [`worth_retrying`], with exponential backoff; each retry is reported as a `Waiting`
/// event naming the error.
pub async fn with_retries<T, F, Fut>(
    ctx: &ResourceContext,
    events: &dyn EventSink,
    mut step: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt < STEP_ATTEMPTS && worth_retrying(&error) => {
                let backoff = FIRST_BACKOFF * 2_u32.pow(attempt - 1);
                events.emit(Event::Waiting {
                    component: ctx.id.clone(),
                    detail: format!(
                        "retrying in {}s (attempt {} of {STEP_ATTEMPTS}) after: {error}",
                        backoff.as_secs(),
                        attempt + 1
                    ),
                    progress: None,
                });
                tokio::time::sleep(backoff).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}
