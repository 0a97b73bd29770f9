//! Bounded waits for deletions to finish (a draining service, a load balancer going
//! away). Readiness waits belong to the engine; these are the few that `delete` owns.

use panka_core::reconcile::{ErrorKind, ProviderError};
use std::future::Future;
use std::time::Duration;

/// How often to look and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    pub interval: Duration,
    pub patience: Duration,
}

/// Calls `probe` every `interval` until it answers `true`, for at most `patience`.
///
/// Errors: the probe's own, or `TimedOut` when the time is up.
pub async fn wait_until<F, Fut>(wait: Wait, what: &str, mut probe: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, ProviderError>>,
{
    let deadline = tokio::time::Instant::now() + wait.patience;
    loop {
        if probe().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() + wait.interval > deadline {
            return Err(ProviderError::new(
                ErrorKind::TimedOut,
                format!(
                    "gave up waiting for {what} after {}s",
                    wait.patience.as_secs()
                ),
            )
            .with_hint("AWS is still working on it; run the command again to resume"));
        }
        tokio::time::sleep(wait.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gives_up_after_its_patience() {
        let wait = Wait {
            interval: Duration::from_millis(5),
            patience: Duration::from_millis(22),
        };
        let mut calls = 0;
        let err = wait_until(wait, "nothing", || {
            calls += 1;
            async { Ok(false) }
        })
        .await
        .expect_err("times out");
        assert_eq!(err.kind, ErrorKind::TimedOut);
        assert!((2..=5).contains(&calls), "{calls} looks");
        let mut n = 0;
        wait_until(wait, "the third look", || {
            n += 1;
            let done = n == 3;
            async move { Ok(done) }
        })
        .await
        .expect("succeeds");
    }
}
