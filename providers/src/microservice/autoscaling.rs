//! Application Auto Scaling of the service's desired count: a scalable target between
//! `minReplicas` and `maxReplicas` and one CPU target-tracking policy.

use super::fields::AutoscalingField;
use super::names::Names;
use crate::sdk_error::{Failure, provider_error};
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};

type Client = aws_sdk_applicationautoscaling::Client;

/// Seconds between scaling steps: out quickly, in slowly so a short dip does not cut
/// capacity that a burst needs a moment later.
const SCALE_OUT_COOLDOWN: i32 = 60;
const SCALE_IN_COOLDOWN: i32 = 300;

fn i32_of(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn build_error(e: aws_sdk_applicationautoscaling::error::BuildError) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!("cannot build the scaling policy: {e}"),
    )
}

/// Makes the scaling target and policy match `wanted`, or removes them for `None`.
pub async fn ensure(
    client: &Client,
    ctx: &ResourceContext,
    names: &Names,
    wanted: Option<&AutoscalingField>,
) -> Result<(), ProviderError> {
    let Some(wanted) = wanted else {
        return remove(client, names).await;
    };
    let resource_id = names.scaling_resource_id();
    client
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(i32_of(wanted.min_replicas))
        .max_capacity(i32_of(wanted.max_replicas))
        .set_tags(Some(ctx.tags().into_iter().collect()))
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot register the scaling target of {}", names.service),
                &e,
            )
        })?;
    let configuration = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(f64::from(wanted.target_cpu_percent))
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
                .build()
                .map_err(build_error)?,
        )
        .scale_out_cooldown(SCALE_OUT_COOLDOWN)
        .scale_in_cooldown(SCALE_IN_COOLDOWN)
        .build()
        .map_err(build_error)?;
    client
        .put_scaling_policy()
        .policy_name(&names.scaling_policy)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(configuration)
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot put scaling policy {}", names.scaling_policy),
                &e,
            )
        })?;
    Ok(())
}

/// Application Auto Scaling reports a missing target or policy as `ObjectNotFoundException`
/// or, for deregistration, as a `ValidationException` saying so.
fn is_gone<E>(err: &aws_sdk_applicationautoscaling::error::SdkError<E>) -> bool
where
    E: aws_sdk_applicationautoscaling::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = Failure::from_sdk(err);
    failure.is_code("ObjectNotFoundException")
        || (failure.is_code("ValidationException")
            && failure.service_message.as_deref().is_some_and(|m| {
                m.starts_with("No scalable target") || m.starts_with("No scaling policy")
            }))
}

/// Deletes the policy and deregisters the target; gone is fine.
pub async fn remove(client: &Client, names: &Names) -> Result<(), ProviderError> {
    let resource_id = names.scaling_resource_id();
    // Deregistering the target deletes its policies in AWS, but not in every emulator.
    if let Err(e) = client
        .delete_scaling_policy()
        .policy_name(&names.scaling_policy)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        && !is_gone(&e)
    {
        return Err(provider_error(
            &format!("cannot delete scaling policy {}", names.scaling_policy),
            &e,
        ));
    }
    if let Err(e) = client
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        && !is_gone(&e)
    {
        return Err(provider_error(
            &format!("cannot deregister the scaling target of {}", names.service),
            &e,
        ));
    }
    Ok(())
}

/// The scaling target's bounds and the CPU target, or `None` without a target. A target
/// without panka's policy reads as a target of 0 %, which shows as a change.
pub async fn read(
    client: &Client,
    names: &Names,
) -> Result<Option<AutoscalingField>, ProviderError> {
    let resource_id = names.scaling_resource_id();
    let targets = client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot read the scaling target of {}", names.service),
                &e,
            )
        })?;
    let Some(target) = targets.scalable_targets().first() else {
        return Ok(None);
    };
    let policies = client
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_names(&names.scaling_policy)
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot read scaling policy {}", names.scaling_policy),
                &e,
            )
        })?;
    let target_cpu = policies
        .scaling_policies()
        .iter()
        .find(|p| p.policy_name() == names.scaling_policy)
        .and_then(|p| p.target_tracking_scaling_policy_configuration())
        .map(|c| c.target_value().round() as u32)
        .unwrap_or(0);
    Ok(Some(AutoscalingField {
        min_replicas: u32::try_from(target.min_capacity()).unwrap_or(0),
        max_replicas: u32::try_from(target.max_capacity()).unwrap_or(0),
        target_cpu_percent: target_cpu,
    }))
}
