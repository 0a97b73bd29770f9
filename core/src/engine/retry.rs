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

/// How many times one step (a create, update or delete) is tried. A MicroService's create
/// makes a dozen writes; when several of their answers are lost, each costs one try (the
/// fault test that loses the first answer of every write needs five), so one more is left
/// as margin.
pub const STEP_ATTEMPTS: u32 = 6;
/// The wait before the second try; doubled before each further one, up to
/// [`MAX_BACKOFF`]. A step that keeps failing gives up after 23 s of waiting.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How many readiness polls in a row may fail with a retryable error before the change
/// fails; the wait goes on after fewer.
pub const POLL_ERRORS_TOLERATED: u32 = 5;

/// Whether trying again can succeed: transient failures and throttling pass with time, and
/// "already exists" means an earlier attempt did the work (the next one adopts it).
/// Foreign resources, bad input, missing permissions and conflicts are final, and so is a
/// wait that ran out of time (`TimedOut`): trying again would only wait as long again.
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

/// The wait after failed try number `attempt` (from 1).
pub fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2_u32.saturating_pow(attempt.saturating_sub(1)))
        .min(MAX_BACKOFF)
}

/// Runs `step` up to [`STEP_ATTEMPTS`] times while it fails with an error
/// [`worth_retrying`], with exponential backoff; each retry
/// is reported as a `Waiting` event naming the error.
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
                let backoff = backoff(attempt);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ComponentId;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Events(Mutex<Vec<Event>>);

    impl EventSink for Events {
        fn emit(&self, event: Event) {
            if let Ok(mut events) = self.0.lock() {
                events.push(event);
            }
        }
    }

    fn ctx() -> ResourceContext {
        ResourceContext {
            stack: "shop".into(),
            environment: "development".into(),
            id: ComponentId::new("orders", "queue"),
            region: "us-east-1".into(),
            production: false,
            network: None,
            domain: None,
        }
    }

    /// A step that fails with `failures` in order, then succeeds; returns its call count.
    async fn run_step(
        failures: &[ErrorKind],
        events: &Events,
    ) -> (Result<u32, ProviderError>, u32) {
        let calls = Mutex::new(0_u32);
        let result = with_retries(&ctx(), events, || {
            let call = {
                let mut calls = calls.lock().expect("calls");
                *calls += 1;
                *calls
            };
            let failure = failures.get(call as usize - 1).copied();
            async move {
                match failure {
                    Some(kind) => Err(ProviderError::new(kind, format!("failure {call}"))),
                    None => Ok(call),
                }
            }
        })
        .await;
        let calls = *calls.lock().expect("calls");
        (result, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn already_exists_after_a_lost_answer_is_tried_again() {
        let events = Events::default();
        let start = tokio::time::Instant::now();
        let (result, calls) = run_step(&[ErrorKind::AlreadyExists], &events).await;
        assert_eq!(result, Ok(2));
        assert_eq!(calls, 2);
        assert_eq!(start.elapsed(), FIRST_BACKOFF);
        let events = events.0.lock().expect("events");
        assert!(
            matches!(&events[..], [Event::Waiting { detail, .. }] if detail.contains("failure 1")),
            "{events:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_tried_six_times_with_backoff() {
        let events = Events::default();
        let start = tokio::time::Instant::now();
        let (result, calls) = run_step(&[ErrorKind::Transient; 9], &events).await;
        assert_eq!(result.map_err(|e| e.message), Err("failure 6".to_string()));
        assert_eq!(calls, STEP_ATTEMPTS);
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4 + 8 + 8));
        assert_eq!(backoff(9), MAX_BACKOFF);
        let (result, calls) =
            run_step(&[ErrorKind::Throttled, ErrorKind::Transient], &events).await;
        assert_eq!((result, calls), (Ok(3), 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_ran_out_is_not_tried_again() {
        let events = Events::default();
        let calls = Mutex::new(0_u32);
        let result: Result<(), ProviderError> = with_retries(&ctx(), &events, || {
            if let Ok(mut calls) = calls.lock() {
                *calls += 1;
            }
            async {
                tokio::time::sleep(Duration::from_secs(30 * 60)).await;
                Err(ProviderError::new(
                    ErrorKind::TimedOut,
                    "still deleting after 30 minutes",
                ))
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(*calls.lock().expect("calls"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn final_failures_are_not_tried_again() {
        for kind in [
            ErrorKind::Invalid,
            ErrorKind::Foreign,
            ErrorKind::AccessDenied,
            ErrorKind::Conflict,
            ErrorKind::NotFound,
            ErrorKind::Other,
            ErrorKind::TimedOut,
        ] {
            let events = Events::default();
            let (result, calls) = run_step(&[kind], &events).await;
            assert_eq!(result.map_err(|e| e.kind), Err(kind));
            assert_eq!(calls, 1, "{kind:?}");
            assert!(events.0.lock().expect("events").is_empty());
        }
    }
}
