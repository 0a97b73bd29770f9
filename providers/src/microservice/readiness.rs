//! One readiness probe of a MicroService: how far its PRIMARY deployment got. A
//! circuit-breaker rollback is a failure, never success, even though the rolled-back
//! service ends up stable.

use super::ecs_service;
use super::names::Names;
use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};
use panka_core::reconcile::{ProviderError, Readiness};

/// Whether ECS's wording says the circuit breaker rolled the deployment back.
fn mentions_rollback(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("rolling back") || reason.contains("rolled back") || reason.contains("rollback")
}

/// The newest service event, which usually says why tasks do not start.
fn last_event(service: &Service) -> Option<&str> {
    service.events().first().and_then(|e| e.message())
}

fn failed(service: &Service, reason: String) -> Readiness {
    let reason = match last_event(service) {
        Some(event) if !reason.contains(event) => format!("{reason} (last event: {event})"),
        _ => reason,
    };
    Readiness::Failed { reason }
}

fn deployment_reason(deployment: &Deployment) -> String {
    deployment
        .rollout_state_reason()
        .filter(|r| !r.is_empty())
        .unwrap_or("the deployment failed")
        .to_string()
}

fn waiting(running: i32, desired: i32) -> Readiness {
    let progress = if desired <= 0 {
        100
    } else {
        (i64::from(running.max(0)) * 100 / i64::from(desired)).min(100) as u8
    };
    Readiness::Waiting {
        detail: format!("{running}/{desired} tasks running"),
        progress: Some(progress),
    }
}

/// Readiness of `service` (as DescribeServices returned it; `None` when it is gone) for
/// the task definition panka registered, when known.
pub fn assess(
    name: &str,
    service: Option<&Service>,
    expected_task_definition: Option<&str>,
) -> Readiness {
    let Some(service) = service else {
        return Readiness::Failed {
            reason: format!("ECS service {name} no longer exists"),
        };
    };
    if let Some(status @ ("INACTIVE" | "DRAINING")) = service.status() {
        return Readiness::Failed {
            reason: format!("ECS service {name} is {status}: it was deleted"),
        };
    }
    if let Some(expected) = expected_task_definition
        && let Some(ours) = service.deployments().iter().find(|d| {
            d.task_definition() == Some(expected)
                && d.rollout_state() == Some(&DeploymentRolloutState::Failed)
        })
    {
        return failed(service, deployment_reason(ours));
    }
    let Some(primary) = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
    else {
        return Readiness::Waiting {
            detail: "waiting for ECS to start the deployment".to_string(),
            progress: None,
        };
    };
    if primary.rollout_state() == Some(&DeploymentRolloutState::Failed) {
        return failed(service, deployment_reason(primary));
    }
    if let Some(reason) = primary
        .rollout_state_reason()
        .filter(|r| mentions_rollback(r))
    {
        return failed(
            service,
            format!("the deployment circuit breaker rolled back: {reason}"),
        );
    }
    if let Some(expected) = expected_task_definition
        && primary.task_definition() != Some(expected)
        && service.task_definition() != Some(expected)
    {
        return failed(
            service,
            format!(
                "ECS service {name} runs {}, not {expected}: the deployment was rolled back or replaced",
                primary
                    .task_definition()
                    .unwrap_or("another task definition")
            ),
        );
    }
    let (running, desired) = (primary.running_count(), primary.desired_count());
    let completed = match primary.rollout_state() {
        Some(state) => state == &DeploymentRolloutState::Completed,
        // Without the circuit breaker ECS reports no rollout state: one deployment left.
        None => service.deployments().len() == 1,
    };
    if completed && running == desired {
        Readiness::Ready
    } else {
        waiting(running, desired)
    }
}

/// One DescribeServices and its assessment, with the service as ECS described it (`None`
/// when it is gone). A service or cluster that disappeared is a failure; other errors
/// (after the SDK's retries) are returned for the engine to judge.
pub async fn probe(
    client: &aws_sdk_ecs::Client,
    names: &Names,
    expected_task_definition: Option<&str>,
) -> Result<(Readiness, Option<Service>), ProviderError> {
    let service = ecs_service::describe_any(client, names).await?;
    let readiness = assess(&names.service, service.as_ref(), expected_task_definition);
    Ok((readiness, service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microservice::render::tests::ctx;
    use aws_sdk_ecs::error::ErrorMetadata;
    use aws_sdk_ecs::operation::describe_services::{
        DescribeServicesError, DescribeServicesOutput,
    };
    use aws_sdk_ecs::types::{Failure, ServiceEvent};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const TD_V2: &str = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
    const TD_V1: &str = "arn:aws:ecs:us-east-1:1:task-definition/api:1";

    fn deployment(
        status: &str,
        td: &str,
        state: DeploymentRolloutState,
        reason: &str,
        running: i32,
        desired: i32,
    ) -> Deployment {
        Deployment::builder()
            .id(format!("ecs-svc/{td}"))
            .status(status)
            .task_definition(td)
            .rollout_state(state)
            .rollout_state_reason(reason)
            .running_count(running)
            .desired_count(desired)
            .build()
    }

    fn service(td: &str, deployments: Vec<Deployment>) -> Service {
        Service::builder()
            .service_name(Names::new(&ctx()).service)
            .status("ACTIVE")
            .task_definition(td)
            .set_deployments(Some(deployments))
            .build()
    }

    fn in_progress(running: i32) -> Service {
        service(
            TD_V2,
            vec![deployment(
                "PRIMARY",
                TD_V2,
                DeploymentRolloutState::InProgress,
                "in progress",
                running,
                2,
            )],
        )
    }

    fn output(service: Service) -> DescribeServicesOutput {
        DescribeServicesOutput::builder().services(service).build()
    }

    #[test]
    fn assessment_follows_the_primary_deployment() {
        assert_eq!(
            assess("api", Some(&in_progress(1)), Some(TD_V2)),
            Readiness::Waiting {
                detail: "1/2 tasks running".into(),
                progress: Some(50)
            }
        );
        let done = service(
            TD_V2,
            vec![deployment(
                "PRIMARY",
                TD_V2,
                DeploymentRolloutState::Completed,
                "done",
                2,
                2,
            )],
        );
        assert_eq!(assess("api", Some(&done), Some(TD_V2)), Readiness::Ready);
        assert_eq!(assess("api", Some(&done), None), Readiness::Ready);
        let short = service(
            TD_V2,
            vec![deployment(
                "PRIMARY",
                TD_V2,
                DeploymentRolloutState::Completed,
                "done",
                1,
                2,
            )],
        );
        assert!(matches!(
            assess("api", Some(&short), Some(TD_V2)),
            Readiness::Waiting { .. }
        ));
        assert!(
            matches!(assess("api", None, Some(TD_V2)), Readiness::Failed { reason } if reason.contains("no longer exists"))
        );
    }

    #[test]
    fn a_service_running_another_definition_was_rolled_back() {
        // The circuit breaker made the old revision PRIMARY again and its reason was
        // already overwritten by a later message.
        let rolled = service(
            TD_V1,
            vec![deployment(
                "PRIMARY",
                TD_V1,
                DeploymentRolloutState::Completed,
                "done",
                2,
                2,
            )],
        );
        let Readiness::Failed { reason } = assess("api", Some(&rolled), Some(TD_V2)) else {
            panic!("a rollback is not success");
        };
        assert!(
            reason.contains(TD_V1) && reason.contains("rolled back"),
            "{reason}"
        );
        // An emulator that keeps the old deployment PRIMARY while the service names the new
        // revision is still converging.
        let lagging = service(
            TD_V2,
            vec![deployment(
                "PRIMARY",
                TD_V1,
                DeploymentRolloutState::InProgress,
                "",
                0,
                2,
            )],
        );
        assert!(matches!(
            assess("api", Some(&lagging), Some(TD_V2)),
            Readiness::Waiting { .. }
        ));
    }

    fn reconciler(ecs: aws_sdk_ecs::Client) -> crate::microservice::MicroServiceReconciler {
        crate::microservice::tests::reconciler_with_ecs(ecs)
    }

    fn known() -> panka_core::reconcile::KnownIds {
        panka_core::reconcile::KnownIds::from([(
            crate::microservice::names::ids::TASK_DEFINITION_ARN.to_string(),
            TD_V2.to_string(),
        )])
    }

    #[tokio::test]
    async fn rollout_goes_from_waiting_to_ready() {
        use panka_core::reconcile::Reconciler;
        let rule = mock!(aws_sdk_ecs::Client::describe_services)
            .sequence()
            .output(|| output(in_progress(0)))
            .output(|| output(in_progress(1)))
            .output(|| {
                output(service(
                    TD_V2,
                    vec![deployment(
                        "PRIMARY",
                        TD_V2,
                        DeploymentRolloutState::Completed,
                        "completed",
                        2,
                        2,
                    )],
                ))
            })
            .build();
        let r = reconciler(mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rule]));
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(r.poll_ready(&ctx(), &known()).await.expect("probe"));
        }
        assert_eq!(
            seen,
            [
                Readiness::Waiting {
                    detail: "0/2 tasks running".into(),
                    progress: Some(0)
                },
                Readiness::Waiting {
                    detail: "1/2 tasks running".into(),
                    progress: Some(50)
                },
                Readiness::Ready,
            ]
        );
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_circuit_breaker_rollback_fails_with_its_reason() {
        use panka_core::reconcile::Reconciler;
        let rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
            let failed = deployment(
                "ACTIVE",
                TD_V2,
                DeploymentRolloutState::Failed,
                "ECS deployment circuit breaker: tasks failed to start.",
                0,
                2,
            );
            let rollback = deployment(
                "PRIMARY",
                TD_V1,
                DeploymentRolloutState::InProgress,
                "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.",
                1,
                2,
            );
            let mut s = service(TD_V1, vec![rollback, failed]);
            s.events = Some(vec![
                ServiceEvent::builder()
                    .message("(service api) failed container health checks.")
                    .build(),
            ]);
            output(s)
        });
        let r = reconciler(mock_client!(aws_sdk_ecs, [&rule]));
        let Readiness::Failed { reason } = r.poll_ready(&ctx(), &known()).await.expect("probe")
        else {
            panic!("a rollback must fail");
        };
        assert!(
            reason.contains("circuit breaker: tasks failed to start"),
            "{reason}"
        );
        assert!(
            reason.contains("failed container health checks"),
            "{reason}"
        );

        // The same without the failed deployment in the list: the rollback's own reason.
        let rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
            output(service(
                TD_V1,
                vec![deployment(
                    "PRIMARY",
                    TD_V1,
                    DeploymentRolloutState::InProgress,
                    "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.",
                    1,
                    2,
                )],
            ))
        });
        let r = reconciler(mock_client!(aws_sdk_ecs, [&rule]));
        assert!(matches!(
            r.poll_ready(&ctx(), &known()).await.expect("probe"),
            Readiness::Failed { reason } if reason.contains("rolling back")
        ));

        // FAILED on the primary itself.
        let rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
            output(service(
                TD_V2,
                vec![deployment(
                    "PRIMARY",
                    TD_V2,
                    DeploymentRolloutState::Failed,
                    "tasks failed to start",
                    0,
                    2,
                )],
            ))
        });
        let r = reconciler(mock_client!(aws_sdk_ecs, [&rule]));
        assert_eq!(
            r.poll_ready(&ctx(), &known()).await.expect("probe"),
            Readiness::Failed {
                reason: "tasks failed to start".into()
            }
        );
    }

    #[tokio::test]
    async fn a_service_that_disappears_fails() {
        use panka_core::reconcile::Reconciler;
        let inactive = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
            let mut s = in_progress(0);
            s.status = Some("INACTIVE".into());
            output(s)
        });
        let missing = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
            DescribeServicesOutput::builder()
                .failures(
                    Failure::builder()
                        .arn("arn:aws:ecs:us-east-1:1:service/api")
                        .reason("MISSING")
                        .build(),
                )
                .build()
        });
        let not_found = mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
            DescribeServicesError::generic(
                ErrorMetadata::builder()
                    .code("ServiceNotFoundException")
                    .message("Service not found.")
                    .build(),
            )
        });
        let no_cluster = mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
            DescribeServicesError::ClusterNotFoundException(
                aws_sdk_ecs::types::error::ClusterNotFoundException::builder()
                    .message("Cluster not found.")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ClusterNotFoundException")
                            .message("Cluster not found.")
                            .build(),
                    )
                    .build(),
            )
        });
        let r = reconciler(mock_client!(
            aws_sdk_ecs,
            RuleMode::Sequential,
            [&inactive, &missing, &not_found, &no_cluster]
        ));
        for expected in [
            "INACTIVE",
            "no longer exists",
            "no longer exists",
            "no longer exists",
        ] {
            match r.poll_ready(&ctx(), &known()).await.expect("probe") {
                Readiness::Failed { reason } => assert!(reason.contains(expected), "{reason}"),
                other => panic!("expected a failure, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_then_the_probe_answers() {
        use panka_core::reconcile::Reconciler;
        let rule = mock!(aws_sdk_ecs::Client::describe_services)
            .sequence()
            .error(|| {
                DescribeServicesError::generic(
                    ErrorMetadata::builder()
                        .code("ThrottlingException")
                        .message("Rate exceeded")
                        .build(),
                )
            })
            .times(2)
            .output(|| output(in_progress(1)))
            .build();
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rule], |c| c
            .retry_config(
                aws_sdk_ecs::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            ));
        let r = reconciler(ecs);
        assert_eq!(
            r.poll_ready(&ctx(), &known()).await.expect("retried"),
            Readiness::Waiting {
                detail: "1/2 tasks running".into(),
                progress: Some(50)
            }
        );
        assert_eq!(rule.num_calls(), 3);

        // Throttled beyond the retries: an error the engine classifies, not a verdict.
        let rule = mock!(aws_sdk_ecs::Client::describe_services)
            .sequence()
            .error(|| {
                DescribeServicesError::generic(
                    ErrorMetadata::builder()
                        .code("ThrottlingException")
                        .message("Rate exceeded")
                        .build(),
                )
            })
            .repeatedly()
            .build();
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rule], |c| c
            .retry_config(
                aws_sdk_ecs::config::retry::RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            ));
        let err = reconciler(ecs)
            .poll_ready(&ctx(), &known())
            .await
            .expect_err("throttled");
        assert_eq!(err.kind, panka_core::reconcile::ErrorKind::Throttled);
    }
}
