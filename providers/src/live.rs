//! Live status of recorded components, for `panka status`: one cheap probe per kind
//! (ECS running/desired and ALB target health, the RDS instance status, the SQS queue's
//! attributes, the Redis replication group or cluster status).
//!
//! Unlike a reconciler's `read`, nothing here normalises fields or checks ownership: the
//! component is already in state, and the question is only "is it there and serving?".
//! Resources are found by the physical ids recorded in state first and by the
//! deterministic names second, exactly as the reconcilers find them.

use crate::aws::AwsClients;
use crate::reconcilers::Reconcilers;
use panka_core::model::ComponentKind;
use panka_core::reconcile::{KnownIds, ProviderError, ResourceContext};
use std::sync::Arc;

/// What `status` shows for one component.
pub use panka_core::reconcile::LiveStatus;

/// How the targets of a load balancer's target group are doing, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetCounts {
    pub healthy: u32,
    pub unhealthy: u32,
    /// Registering (`initial`) or leaving (`draining`).
    pub changing: u32,
    /// `unused`/`unavailable`: registered but not in service.
    pub other: u32,
}

impl TargetCounts {
    pub fn total(&self) -> u32 {
        self.healthy + self.unhealthy + self.changing + self.other
    }
}

/// The ECS service as `status` judges it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceCounts {
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    /// A deployment is rolling out (more than one deployment, or the primary one is
    /// still in progress).
    pub rolling_out: bool,
    /// The last rollout failed (the circuit breaker rolled it back).
    pub rollout_failed: bool,
}

/// A MicroService: `running/desired running`; healthy when every desired task runs and,
/// behind a load balancer, at least as many targets as desired tasks pass the health
/// check.
pub fn microservice_status(service: ServiceCounts, targets: Option<TargetCounts>) -> LiveStatus {
    let ServiceCounts {
        desired, running, ..
    } = service;
    let mut notes = Vec::new();
    let mut healthy = desired > 0 && running >= desired;
    if desired == 0 {
        notes.push("scaled to 0 tasks".to_string());
    } else if running < desired {
        notes.push(format!("{running} of {desired} tasks running"));
    }
    if service.pending > 0 {
        notes.push(format!("{} pending", service.pending));
    }
    if let Some(t) = targets {
        let wanted = u32::try_from(desired).unwrap_or(0);
        if t.healthy < wanted {
            healthy = false;
        }
        let mut text = format!("{}/{} targets healthy", t.healthy, t.total());
        if t.total() == 0 {
            text.push_str(" (none registered)");
        } else if t.unhealthy > 0 {
            text.push_str(&format!(", {} failing the health check", t.unhealthy));
        } else if t.changing > 0 {
            text.push_str(&format!(", {} registering or draining", t.changing));
        }
        notes.push(text);
    }
    if service.rollout_failed {
        notes.push("the last deployment failed and was rolled back".into());
    } else if service.rolling_out {
        notes.push("deployment in progress".into());
    }
    LiveStatus {
        status: format!("{running}/{desired} running"),
        healthy,
        detail: notes.join("; "),
    }
}

/// RDS instance states in which the database serves connections.
const RDS_SERVING: &[&str] = &[
    "available",
    "backing-up",
    "storage-optimization",
    "modifying",
    "configuring-enhanced-monitoring",
    "configuring-log-exports",
    "configuring-iam-database-auth",
];

pub fn rds_status(status: &str, detail: String) -> LiveStatus {
    LiveStatus {
        status: status.to_string(),
        healthy: RDS_SERVING.contains(&status),
        detail,
    }
}

/// ElastiCache states in which the cache serves connections.
const REDIS_SERVING: &[&str] = &["available", "modifying", "snapshotting"];

pub fn redis_status(status: &str, detail: String) -> LiveStatus {
    LiveStatus {
        status: status.to_string(),
        healthy: REDIS_SERVING.contains(&status),
        detail,
    }
}

/// An existing queue is `active`; the detail counts its messages (and the dead-letter
/// queue's, which usually means something failed to process them).
pub fn sqs_status(waiting: u64, in_flight: u64, dead_letters: Option<u64>) -> LiveStatus {
    let mut detail = format!("{waiting} waiting, {in_flight} in flight");
    if let Some(dead) = dead_letters {
        detail.push_str(&format!(", {dead} in the dead-letter queue"));
    }
    LiveStatus {
        status: "active".into(),
        healthy: true,
        detail,
    }
}

/// Reads live status with the process's clients: each kind's reconciler reads its own
/// (`Reconciler::live_status`).
#[derive(Clone)]
pub struct LiveReader {
    reconcilers: Arc<Reconcilers>,
}

impl LiveReader {
    pub fn new(clients: &AwsClients) -> Self {
        LiveReader {
            reconcilers: Arc::new(Reconcilers::new(clients)),
        }
    }

    /// The live status of one component. A resource that is gone is a `missing` status,
    /// not an error; errors are AWS failures (credentials, network, permissions).
    pub async fn read(
        &self,
        ctx: &ResourceContext,
        kind: ComponentKind,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        self.reconcilers
            .for_kind(kind)
            .live_status(ctx, known)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(desired: i32, running: i32) -> ServiceCounts {
        ServiceCounts {
            desired,
            running,
            ..ServiceCounts::default()
        }
    }

    #[test]
    fn a_service_is_healthy_when_every_task_runs_and_its_targets_pass() {
        let targets = TargetCounts {
            healthy: 2,
            ..TargetCounts::default()
        };
        let status = microservice_status(service(2, 2), Some(targets));
        assert_eq!(status.status, "2/2 running");
        assert!(status.healthy);
        assert_eq!(status.detail, "2/2 targets healthy");

        let no_lb = microservice_status(service(2, 2), None);
        assert!(no_lb.healthy);
        assert_eq!(no_lb.detail, "");
    }

    #[test]
    fn missing_tasks_failing_targets_and_zero_replicas_are_unhealthy() {
        let short = microservice_status(service(3, 1), None);
        assert_eq!(short.status, "1/3 running");
        assert!(!short.healthy);
        assert_eq!(short.detail, "1 of 3 tasks running");

        let failing = TargetCounts {
            healthy: 1,
            unhealthy: 1,
            ..TargetCounts::default()
        };
        let status = microservice_status(service(2, 2), Some(failing));
        assert!(!status.healthy);
        assert_eq!(
            status.detail,
            "1/2 targets healthy, 1 failing the health check"
        );

        let none = microservice_status(service(2, 2), Some(TargetCounts::default()));
        assert!(!none.healthy);
        assert_eq!(none.detail, "0/0 targets healthy (none registered)");

        let zero = microservice_status(service(0, 0), None);
        assert!(!zero.healthy);
        assert_eq!(zero.detail, "scaled to 0 tasks");
    }

    #[test]
    fn rollouts_are_mentioned() {
        let rolling = ServiceCounts {
            rolling_out: true,
            ..service(2, 2)
        };
        assert_eq!(
            microservice_status(rolling, None).detail,
            "deployment in progress"
        );
        let failed = ServiceCounts {
            rollout_failed: true,
            ..service(2, 2)
        };
        assert_eq!(
            microservice_status(failed, None).detail,
            "the last deployment failed and was rolled back"
        );
    }

    #[test]
    fn databases_and_caches_serve_in_some_states_only() {
        assert!(rds_status("available", String::new()).healthy);
        assert!(rds_status("backing-up", String::new()).healthy);
        assert!(!rds_status("creating", String::new()).healthy);
        assert!(!rds_status("stopped", String::new()).healthy);
        assert!(redis_status("available", String::new()).healthy);
        assert!(!redis_status("create-failed", String::new()).healthy);
    }

    #[test]
    fn queues_count_their_messages() {
        let status = sqs_status(12, 3, Some(1));
        assert_eq!(status.status, "active");
        assert!(status.healthy);
        assert_eq!(
            status.detail,
            "12 waiting, 3 in flight, 1 in the dead-letter queue"
        );
    }
}
