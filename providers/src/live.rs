//! Live status of recorded components, for `panka status`: one cheap probe per kind
//! (ECS running/desired and ALB target health, the RDS instance status, the SQS queue's
//! attributes, the Redis replication group or cluster status).
//!
//! Unlike a reconciler's `read`, nothing here normalises fields or checks ownership: the
//! component is already in state, and the question is only "is it there and serving?".
//! Resources are found by the physical ids recorded in state first and by the
//! deterministic names second, exactly as the reconcilers find them.

use crate::aws::AwsClients;
use crate::elasticache::{self, ids as cache_ids};
use crate::microservice::names::{Names, ids as ms_ids};
use crate::naming::{self, limits};
use crate::sdk_error::provider_error;
use aws_sdk_ecs::types::DeploymentRolloutState;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use aws_sdk_sqs::types::QueueAttributeName;
use panka_core::model::ComponentKind;
use panka_core::reconcile::{ErrorKind, KnownIds, ProviderError, ResourceContext};
use serde::Serialize;

/// What `status` shows for one component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveStatus {
    /// Short, as the walkthrough's box shows it: `2/2 running`, `available`, `active`,
    /// `missing`.
    pub status: String,
    /// Serving as intended: every desired task running and its targets healthy, the
    /// database or cache in a serving state, the queue present.
    pub healthy: bool,
    /// One line that explains `status`; empty when there is nothing to add.
    pub detail: String,
}

impl LiveStatus {
    fn missing(what: &str, name: &str) -> Self {
        LiveStatus {
            status: "missing".into(),
            healthy: false,
            detail: format!("{what} {name} does not exist (deleted outside panka?)"),
        }
    }
}

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

/// Reads live status with the process's clients.
#[derive(Clone, Debug)]
pub struct LiveReader {
    ecs: aws_sdk_ecs::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    rds: aws_sdk_rds::Client,
    sqs: aws_sdk_sqs::Client,
    elasticache: aws_sdk_elasticache::Client,
}

impl LiveReader {
    pub fn new(clients: &AwsClients) -> Self {
        LiveReader {
            ecs: clients.ecs.clone(),
            elbv2: clients.elasticloadbalancingv2.clone(),
            rds: clients.rds.clone(),
            sqs: clients.sqs.clone(),
            elasticache: clients.elasticache.clone(),
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
        match kind {
            ComponentKind::MicroService => self.microservice(ctx, known).await,
            ComponentKind::Rds => self.database(ctx, known).await,
            ComponentKind::Sqs => self.queue(ctx, known).await,
            ComponentKind::ElastiCacheRedis => self.cache(ctx, known).await,
        }
    }

    async fn microservice(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        let names = Names::with_known(ctx, known);
        let described = match self
            .ecs
            .describe_services()
            .cluster(&names.cluster)
            .services(&names.service)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = provider_error(
                    &format!("cannot describe ECS service {}", names.service),
                    &e,
                );
                if err.kind == ErrorKind::NotFound {
                    return Ok(LiveStatus::missing("ECS cluster", &names.cluster));
                }
                return Err(err);
            }
        };
        let Some(service) = described
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
        else {
            return Ok(LiveStatus::missing("ECS service", &names.service));
        };
        let deployments = service.deployments();
        let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
        let counts = ServiceCounts {
            desired: service.desired_count(),
            running: service.running_count(),
            pending: service.pending_count(),
            rolling_out: deployments.len() > 1
                || primary.and_then(|d| d.rollout_state())
                    == Some(&DeploymentRolloutState::InProgress),
            rollout_failed: primary.and_then(|d| d.rollout_state())
                == Some(&DeploymentRolloutState::Failed),
        };
        // The group the service actually registers with wins over the recorded one.
        let target_group = service
            .load_balancers()
            .iter()
            .find_map(|lb| lb.target_group_arn())
            .or_else(|| known.get(ms_ids::TARGET_GROUP_ARN).map(String::as_str))
            .filter(|arn| !arn.is_empty());
        let targets = match target_group {
            Some(arn) => Some(self.target_counts(arn).await?),
            None => None,
        };
        Ok(microservice_status(counts, targets))
    }

    async fn target_counts(&self, target_group_arn: &str) -> Result<TargetCounts, ProviderError> {
        let out = self
            .elbv2
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot read the target health of {target_group_arn}"),
                    &e,
                )
            })?;
        let mut counts = TargetCounts::default();
        for description in out.target_health_descriptions() {
            match description.target_health().and_then(|h| h.state()) {
                Some(TargetHealthStateEnum::Healthy) => counts.healthy += 1,
                Some(TargetHealthStateEnum::Unhealthy)
                | Some(TargetHealthStateEnum::UnhealthyDraining) => counts.unhealthy += 1,
                Some(TargetHealthStateEnum::Initial) | Some(TargetHealthStateEnum::Draining) => {
                    counts.changing += 1
                }
                _ => counts.other += 1,
            }
        }
        Ok(counts)
    }

    async fn database(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        let identifier = known
            .get(crate::rds::ID_INSTANCE)
            .cloned()
            .unwrap_or_else(|| naming::physical(ctx, "", limits::RDS_IDENTIFIER));
        let instance = match self
            .rds
            .describe_db_instances()
            .db_instance_identifier(&identifier)
            .send()
            .await
        {
            Ok(out) => out.db_instances().first().cloned(),
            Err(e) => {
                let err = provider_error(&format!("cannot describe DB instance {identifier}"), &e);
                if err.kind != ErrorKind::NotFound {
                    return Err(err);
                }
                None
            }
        };
        let Some(instance) = instance else {
            return Ok(LiveStatus::missing("DB instance", &identifier));
        };
        let detail = [
            instance.db_instance_class().map(str::to_string),
            instance
                .engine()
                .map(|e| format!("{e} {}", instance.engine_version().unwrap_or_default())),
            instance
                .multi_az()
                .filter(|m| *m)
                .map(|_| "multi-AZ".into()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        Ok(rds_status(
            instance.db_instance_status().unwrap_or("unknown"),
            detail.trim().to_string(),
        ))
    }

    async fn queue(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        let url = match known.get("queue_url") {
            Some(url) => Some(url.clone()),
            None => self.queue_url_by_name(ctx).await?,
        };
        let Some(url) = url else {
            return Ok(LiveStatus::missing(
                "SQS queue",
                &naming::sqs_queue(ctx, "", false),
            ));
        };
        let Some((waiting, in_flight)) = self.message_counts(&url).await? else {
            return Ok(LiveStatus::missing("SQS queue", &url));
        };
        let dead = match known.get("dlq_url") {
            Some(dlq) => self.message_counts(dlq).await?.map(|(w, f)| w + f),
            None => None,
        };
        Ok(sqs_status(waiting, in_flight, dead))
    }

    /// The queue's URL by its deterministic name, standard or FIFO; `None` when neither
    /// exists.
    async fn queue_url_by_name(
        &self,
        ctx: &ResourceContext,
    ) -> Result<Option<String>, ProviderError> {
        for fifo in [false, true] {
            let name = naming::sqs_queue(ctx, "", fifo);
            match self.sqs.get_queue_url().queue_name(&name).send().await {
                Ok(out) => return Ok(out.queue_url().map(str::to_string)),
                Err(e) => {
                    let err = provider_error(&format!("cannot look up SQS queue {name}"), &e);
                    if err.kind != ErrorKind::NotFound {
                        return Err(err);
                    }
                }
            }
        }
        Ok(None)
    }

    /// Messages waiting and in flight; `None` when the queue does not exist.
    async fn message_counts(&self, url: &str) -> Result<Option<(u64, u64)>, ProviderError> {
        let out = match self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = provider_error(
                    &format!("cannot read the attributes of SQS queue {url}"),
                    &e,
                );
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let count = |name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Some((
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )))
    }

    async fn cache(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        if let Some(id) = known.get(cache_ids::REPLICATION_GROUP) {
            return Ok(self
                .replication_group(id)
                .await?
                .unwrap_or_else(|| LiveStatus::missing("replication group", id)));
        }
        if let Some(id) = known.get(cache_ids::CACHE_CLUSTER) {
            return Ok(self
                .cache_cluster(id)
                .await?
                .unwrap_or_else(|| LiveStatus::missing("cache cluster", id)));
        }
        let id = elasticache::cache_id(ctx);
        if let Some(status) = self.replication_group(&id).await? {
            return Ok(status);
        }
        Ok(self
            .cache_cluster(&id)
            .await?
            .unwrap_or_else(|| LiveStatus::missing("replication group", &id)))
    }

    async fn replication_group(&self, id: &str) -> Result<Option<LiveStatus>, ProviderError> {
        let out = match self
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = provider_error(&format!("cannot describe replication group {id}"), &e);
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(out.replication_groups().first().map(|group| {
            let nodes = group.member_clusters().len();
            let detail = format!(
                "{nodes} node{}{}",
                if nodes == 1 { "" } else { "s" },
                group
                    .cache_node_type()
                    .map(|t| format!(" × {t}"))
                    .unwrap_or_default()
            );
            redis_status(group.status().unwrap_or("unknown"), detail)
        }))
    }

    async fn cache_cluster(&self, id: &str) -> Result<Option<LiveStatus>, ProviderError> {
        let out = match self
            .elasticache
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = provider_error(&format!("cannot describe cache cluster {id}"), &e);
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(out.cache_clusters().first().map(|cluster| {
            let nodes = cluster.num_cache_nodes().unwrap_or(0);
            let detail = format!(
                "{nodes} node{}{}",
                if nodes == 1 { "" } else { "s" },
                cluster
                    .cache_node_type()
                    .map(|t| format!(" × {t}"))
                    .unwrap_or_default()
            );
            redis_status(cluster.cache_cluster_status().unwrap_or("unknown"), detail)
        }))
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
