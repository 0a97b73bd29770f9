//! IAM is eventually consistent: a task execution role created a moment ago may not yet be
//! assumable by ECS, which then refuses CreateService, UpdateService or
//! RegisterTaskDefinition with an `InvalidParameterException` saying it was "unable to
//! assume the role" (or, in a new account, the ECS service-linked role). AWS documents
//! this as a delay of some seconds; these calls are retried with backoff, bounded, and
//! only for that error — any other answer goes back to the caller at once.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use std::future::Future;
use std::time::Duration;

/// How long a new role may take to become usable before the error is the caller's.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The retry schedule: `first` after the first refusal, doubling up to `max`, and no new
/// attempt that would start after `patience`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub patience: Duration,
}

/// Whether ECS refused because it could not assume a role (yet).
pub fn role_not_assumable<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    let Some(service) = err.as_service_error() else {
        return false;
    };
    let message = service.message().unwrap_or_default().to_ascii_lowercase();
    matches!(
        service.code(),
        Some("InvalidParameterException" | "ClientException")
    ) && message.contains("assume")
        && message.contains("role")
}

/// Runs `call` until it answers something other than [`role_not_assumable`], or until
/// `backoff.patience` is used up; returns the last answer.
pub async fn retry<T, E, F, Fut>(backoff: Backoff, mut call: F) -> Result<T, SdkError<E>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let deadline = tokio::time::Instant::now() + backoff.patience;
    let mut delay = backoff.first;
    loop {
        match call().await {
            Err(err)
                if role_not_assumable(&err) && tokio::time::Instant::now() + delay <= deadline =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
            }
            answer => return answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microservice::ecs_service::{self, ServicePlan};
    use crate::microservice::names::Names;
    use crate::microservice::render::tests::ctx;
    use aws_sdk_ecs::error::ErrorMetadata;
    use aws_sdk_ecs::operation::create_service::{CreateServiceError, CreateServiceOutput};
    use aws_sdk_ecs::types::Service;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::reconcile::ErrorKind;

    const NOT_ASSUMABLE: &str = "ECS was unable to assume the role \
        'arn:aws:iam::123456789012:role/api-exec' that was provided for this task. Please \
        verify that the role being passed has the proper trust relationship and permissions \
        and that your IAM user has permissions to pass this role.";

    fn invalid(message: &str) -> CreateServiceError {
        CreateServiceError::generic(
            ErrorMetadata::builder()
                .code("InvalidParameterException")
                .message(message)
                .build(),
        )
    }

    fn backoff() -> Backoff {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(5),
            patience: PATIENCE,
        }
    }

    fn plan() -> ServicePlan {
        ServicePlan {
            task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/api:1".into(),
            desired_count: 2,
            subnets: vec!["subnet-a".into()],
            security_groups: vec!["sg-svc".into()],
            assign_public_ip: true,
            load_balancers: Vec::new(),
            deployment_alarms: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn create_service_is_retried_while_the_role_propagates() {
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .sequence()
            .error(|| invalid(NOT_ASSUMABLE))
            .times(2)
            .output(|| {
                CreateServiceOutput::builder()
                    .service(Service::builder().service_name("api").build())
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rule]);
        let started = tokio::time::Instant::now();
        let created = ecs_service::create(&client, &ctx(), &Names::new(&ctx()), &plan(), backoff())
            .await
            .expect("created on the third attempt");
        assert_eq!(created.service_name(), Some("api"));
        assert_eq!(rule.num_calls(), 3);
        // Paused time: exactly the two backoff sleeps, 1 s then 2 s.
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_not_retried() {
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .sequence()
            .error(|| invalid("subnet-a is not in the VPC of the target group"))
            .output(|| CreateServiceOutput::builder().build())
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rule]);
        let err = ecs_service::create(&client, &ctx(), &Names::new(&ctx()), &plan(), backoff())
            .await
            .expect_err("not a propagation delay");
        assert_eq!(rule.num_calls(), 1, "refused once, not retried");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("not in the VPC"), "{}", err.message);
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_that_never_becomes_assumable_fails_at_the_deadline() {
        let rule = mock!(aws_sdk_ecs::Client::create_service)
            .sequence()
            .error(|| invalid(NOT_ASSUMABLE))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rule]);
        let started = tokio::time::Instant::now();
        let err = ecs_service::create(&client, &ctx(), &Names::new(&ctx()), &plan(), backoff())
            .await
            .expect_err("gives up");
        assert!(err.message.contains("unable to assume"), "{}", err.message);
        assert!(started.elapsed() <= PATIENCE, "{:?}", started.elapsed());
        // 1 + 2 + 4 + 5 + 5 + ... s of backoff within two minutes.
        assert!(rule.num_calls() > 20, "{} attempts", rule.num_calls());
    }
}
