//! Readiness: one probe of the instance's status, reported as the progress of the wait
//! for `available`.

use super::RdsReconciler;
use super::names::Names;
use panka_core::progress;
use panka_core::reconcile::{KnownIds, ProviderError, Readiness, ResourceContext};

/// The progress step of the wait for the instance (`available`).
const INSTANCE_WAIT: &str = "Waiting for the DB instance to be available";

/// What an instance status means for a deployment waiting on it.
fn readiness(status: &str, progress: Option<u8>) -> Readiness {
    let failed = |why: &str| Readiness::Failed {
        reason: format!("the DB instance is {status}: {why}"),
    };
    match status {
        // Storage optimisation runs while the instance serves.
        "available" | "storage-optimization" => Readiness::Ready,
        "failed" => failed("RDS could not recover it; see its events in the RDS console"),
        "storage-full" => {
            failed("raise allocatedGB, or set maxAllocatedGB for storage autoscaling")
        }
        "restore-error" => failed("RDS could not restore it"),
        "insufficient-capacity" => {
            failed("AWS has no capacity for this instance class in the zone; try another class")
        }
        "stopped" | "stopping" => failed("start it (aws rds start-db-instance) and apply again"),
        "deleting" => failed("it is being deleted"),
        s if s.starts_with("inaccessible-encryption-credentials") => {
            failed("RDS cannot use its KMS key; re-enable the key or restore its grants")
        }
        s if s.starts_with("incompatible-") => {
            failed("RDS cannot apply its settings; see its events in the RDS console")
        }
        other => Readiness::Waiting {
            detail: other.to_string(),
            progress,
        },
    }
}

impl RdsReconciler {
    /// `poll_ready`: the instance's status now.
    pub(super) async fn probe(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        let names = Names::new(ctx, known)?;
        Ok(match self.describe_instance(&names.instance).await? {
            Some(instance) => {
                let ready = readiness(
                    instance.db_instance_status().unwrap_or("unknown"),
                    instance.percent_progress().and_then(|p| p.parse().ok()),
                );
                match &ready {
                    Readiness::Waiting {
                        detail,
                        progress: percent,
                    } => progress::waiting(INSTANCE_WAIT, detail.clone(), *percent),
                    Readiness::Ready => progress::finish(INSTANCE_WAIT),
                    Readiness::Failed { .. } => {}
                }
                ready
            }
            None => Readiness::Failed {
                reason: format!(
                    "DB instance {} does not exist: it was deleted while panka waited for it",
                    names.instance
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::testing::{ctx, described, not_found, reconciler};
    use aws_smithy_mocks::mock;
    use panka_core::reconcile::Reconciler;

    #[tokio::test]
    async fn poll_follows_creating_backing_up_available() {
        let rule = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(described("creating"))
            .output(described("backing-up"))
            .output(described("available"))
            .build();
        let r = reconciler(&[&rule]);
        let known = KnownIds::new();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(r.poll_ready(&ctx(false), &known).await.unwrap());
        }
        assert_eq!(
            seen,
            [
                Readiness::Waiting {
                    detail: "creating".into(),
                    progress: None
                },
                Readiness::Waiting {
                    detail: "backing-up".into(),
                    progress: None
                },
                Readiness::Ready,
            ]
        );
    }

    #[tokio::test]
    async fn failed_states_are_failures() {
        for status in [
            "failed",
            "incompatible-parameters",
            "storage-full",
            "inaccessible-encryption-credentials",
        ] {
            let rule =
                mock!(aws_sdk_rds::Client::describe_db_instances).then_output(described(status));
            let r = reconciler(&[&rule]);
            match r.poll_ready(&ctx(false), &KnownIds::new()).await.unwrap() {
                Readiness::Failed { reason } => assert!(reason.contains(status), "{reason}"),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn an_instance_gone_while_waiting_is_a_clear_failure() {
        let rule = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(described("creating"))
            .error(not_found)
            .build();
        let r = reconciler(&[&rule]);
        let first = r.poll_ready(&ctx(false), &KnownIds::new()).await.unwrap();
        assert!(matches!(first, Readiness::Waiting { .. }), "{first:?}");
        match r.poll_ready(&ctx(false), &KnownIds::new()).await.unwrap() {
            Readiness::Failed { reason } => {
                assert!(
                    reason.contains("does not exist") && reason.contains("email-service-database"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
