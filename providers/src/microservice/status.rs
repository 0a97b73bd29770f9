//! What `status` shows of a service: its tasks, its rollout and its targets' health.

use super::MicroServiceReconciler;
use super::names::{Names, ids as ms_ids};
use crate::live::{ServiceCounts, TargetCounts, microservice_status};
use crate::sdk_error::provider_error;
use aws_sdk_ecs::types::DeploymentRolloutState;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use panka_core::reconcile::{ErrorKind, KnownIds, LiveStatus, ProviderError, ResourceContext};

impl MicroServiceReconciler {
    pub(crate) async fn live(
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
}
