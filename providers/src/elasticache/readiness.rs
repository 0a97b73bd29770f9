//! Readiness: what a status means (one probe, for `poll_ready`), and the bounded waits
//! `update` and `delete` own (until available, until gone).

use super::RedisReconciler;
use super::names::cache_id;
use super::primary::what;
use panka_core::model::RedisMode;
use panka_core::progress;
use panka_core::reconcile::{ErrorKind, KnownIds, ProviderError, Readiness, ResourceContext};
use std::time::Duration;

/// One probe's reading of a replication group or cache cluster status.
pub fn readiness(what: &str, id: &str, status: &str) -> Readiness {
    match status {
        "available" => Readiness::Ready,
        "create-failed" | "restore-failed" | "incompatible-network" | "incompatible-parameters" => {
            Readiness::Failed {
                reason: format!("{what} {id} is {status}"),
            }
        }
        "deleting" | "deleted" => Readiness::Failed {
            reason: format!("{what} {id} is being deleted"),
        },
        "" => Readiness::Waiting {
            detail: format!("{what} {id} reports no status yet"),
            progress: None,
        },
        other => Readiness::Waiting {
            detail: format!("{what} {id} is {other}"),
            progress: None,
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Goal {
    Available,
    Gone,
}

impl RedisReconciler {
    /// `poll_ready`: the cache's status now.
    pub(super) async fn probe(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        match self.locate(ctx, known).await? {
            Some(primary) => {
                let ready = readiness(primary.what(), primary.id(), primary.status());
                let step = format!("Waiting for the {} to be available", primary.what());
                match &ready {
                    Readiness::Waiting { .. } => progress::waiting(&step, primary.status(), None),
                    Readiness::Ready => progress::finish(&step),
                    Readiness::Failed { .. } => {}
                }
                Ok(ready)
            }
            None => Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "no replication group or cache cluster {} exists",
                    cache_id(ctx)
                ),
            )),
        }
    }

    /// Polls until the cache is available or gone, bounded by `wait_deadline`.
    pub(super) async fn wait_for(
        &self,
        mode: RedisMode,
        id: &str,
        goal: Goal,
    ) -> Result<(), ProviderError> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.wait_deadline;
        loop {
            let status = self
                .locate_mode(mode, id)
                .await?
                .map(|p| p.status().to_string());
            match (goal, status.as_deref()) {
                (Goal::Gone, None) | (Goal::Available, Some("available")) => return Ok(()),
                (Goal::Available, None) => {
                    return Err(ProviderError::new(
                        ErrorKind::NotFound,
                        format!("{} {id} disappeared while panka waited for it", what(mode)),
                    ));
                }
                (Goal::Available, Some(status)) => {
                    if let Readiness::Failed { reason } = readiness(what(mode), id, status) {
                        return Err(ProviderError::new(ErrorKind::Other, reason));
                    }
                }
                (Goal::Gone, Some(_)) => {}
            }
            if tokio::time::Instant::now() + self.poll_interval > deadline {
                return Err(timeout(
                    mode,
                    id,
                    goal,
                    status.as_deref(),
                    started.elapsed(),
                ));
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}

fn timeout(
    mode: RedisMode,
    id: &str,
    goal: Goal,
    status: Option<&str>,
    waited: Duration,
) -> ProviderError {
    let status = status.unwrap_or("gone");
    let (target, hint) = match goal {
        Goal::Available => (
            "available",
            "AWS is still working on it; run the command again to go on waiting",
        ),
        Goal::Gone => (
            "deleted",
            "the deletion goes on in AWS; run the command again to finish removing the \
             subnet group and security groups once it is gone",
        ),
    };
    ProviderError::new(
        ErrorKind::TimedOut,
        format!(
            "{} {id} is still `{status}` after {}s of waiting to be {target}",
            what(mode),
            waited.as_secs()
        ),
    )
    .with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elasticache::testing::*;
    use aws_sdk_elasticache::config::retry::RetryConfig;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::reconcile::Reconciler;

    #[test]
    fn statuses_map_to_readiness() {
        assert_eq!(
            readiness("replication group", "x", "available"),
            Readiness::Ready
        );
        for waiting in ["creating", "modifying", "snapshotting", ""] {
            assert!(
                matches!(
                    readiness("replication group", "x", waiting),
                    Readiness::Waiting { .. }
                ),
                "{waiting}"
            );
        }
        for failed in ["create-failed", "deleting", "incompatible-network"] {
            assert!(
                matches!(
                    readiness("replication group", "x", failed),
                    Readiness::Failed { .. }
                ),
                "{failed}"
            );
        }
    }

    #[tokio::test]
    async fn poll_ready_follows_creating_to_available() {
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .output(|| groups_out(group("creating", 2, "cache.t3.micro", true)))
            .output(|| groups_out(group("available", 2, "cache.t3.micro", true)))
            .build();
        let ec = mock_client!(aws_sdk_elasticache, [&describe]);
        let r = RedisReconciler::new(ec, ec2_unused());
        let first = r.poll_ready(&ctx(), &known()).await.expect("probe");
        assert!(
            matches!(&first, Readiness::Waiting { detail, .. } if detail.contains("creating")),
            "{first:?}"
        );
        assert_eq!(
            r.poll_ready(&ctx(), &known()).await.expect("probe"),
            Readiness::Ready
        );
    }

    #[tokio::test]
    async fn poll_ready_reports_a_failed_creation() {
        let describe = describe_group("create-failed", 2, "cache.t3.micro");
        let ec = mock_client!(aws_sdk_elasticache, [&describe]);
        let r = RedisReconciler::new(ec, ec2_unused());
        let probe = r.poll_ready(&ctx(), &known()).await.expect("probe");
        assert!(
            matches!(&probe, Readiness::Failed { reason } if reason.contains("create-failed")),
            "{probe:?}"
        );
    }

    const THROTTLED: &str = "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
        <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
        <RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>";

    fn quick_retries(
        config: aws_sdk_elasticache::config::Builder,
    ) -> aws_sdk_elasticache::config::Builder {
        config.retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
    }

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .http_status(400, Some(THROTTLED.to_string()))
            .output(|| groups_out(group("available", 2, "cache.t3.micro", true)))
            .build();
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe],
            quick_retries
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        assert_eq!(
            r.poll_ready(&ctx(), &known()).await.expect("probe"),
            Readiness::Ready
        );
        assert_eq!(describe.num_calls(), 2);
    }

    #[tokio::test]
    async fn throttling_that_persists_is_classified() {
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .http_status(400, Some(THROTTLED.to_string()))
            .repeatedly()
            .build();
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe],
            quick_retries
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        let err = r.poll_ready(&ctx(), &known()).await.expect_err("throttled");
        assert_eq!(err.kind, ErrorKind::Throttled);
        assert!(err.message.contains("Rate exceeded"), "{}", err.message);
        assert_eq!(
            describe.num_calls(),
            3,
            "the SDK's standard retry tries three times"
        );
    }
}
