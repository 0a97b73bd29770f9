//! The MicroService kind: a container image run as an ECS Fargate service, behind an
//! Application Load Balancer when it has an `http` port.
//!
//! What one component becomes (product.md): the stack's shared ECS cluster (created when
//! missing, never deleted here), a CloudWatch log group, a task execution role allowed
//! exactly its log group, secrets and ECR repository, two security groups (`-alb` open on
//! the listener port, `-svc` open to the ALB only), the ALB with its target group and
//! listener, a task definition revision, the ECS service, and CPU target tracking when
//! autoscaling is on.
//!
//! - [`render`]: the task definition, pure (snapshot-tested);
//! - [`fields`]: the normalised fields shared by `normalise` and `read`;
//! - one module per AWS resource, each with find/ensure/delete;
//! - [`readiness`]: one probe of the rollout, a circuit-breaker rollback being a failure.

mod alb;
mod autoscaling;
mod cluster;
mod converge;
mod ecs_service;
pub mod fields;
mod iam;
mod logs;
pub mod names;
mod observe;
mod ownership;
mod readiness;
pub mod render;
mod secret_arns;
mod task_definition;
mod wait;

use crate::aws::AwsClients;
use crate::naming;
use crate::network;
use names::{Names, ids};
use panka_core::model::{ComponentKind, ComponentSpec, MicroServiceSpec};
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, FieldChange, Inputs, KnownIds, Observed, ProviderError, Readiness,
    Reconciler, ResourceContext,
};
use std::time::Duration;
use wait::Wait;

/// Reconciles MicroService components.
///
/// `poll_interval` and `patience` bound the waits `delete` owns (a draining service, a
/// load balancer going away, security groups whose network interfaces linger).
#[derive(Clone, Debug)]
pub struct MicroServiceReconciler {
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub poll_interval: Duration,
    pub patience: Duration,
}

impl MicroServiceReconciler {
    pub fn new(clients: &AwsClients) -> Self {
        MicroServiceReconciler {
            ecs: clients.ecs.clone(),
            elbv2: clients.elasticloadbalancingv2.clone(),
            iam: clients.iam.clone(),
            logs: clients.cloudwatchlogs.clone(),
            ec2: clients.ec2.clone(),
            secretsmanager: clients.secretsmanager.clone(),
            autoscaling: clients.applicationautoscaling.clone(),
            poll_interval: Duration::from_secs(5),
            patience: Duration::from_secs(15 * 60),
        }
    }

    fn wait(&self) -> Wait {
        Wait {
            interval: self.poll_interval,
            patience: self.patience,
        }
    }

    /// The task execution role's inline policy, decoded (for inspection and tests).
    pub async fn execution_policy(
        &self,
        ctx: &ResourceContext,
    ) -> Result<Option<serde_json::Value>, ProviderError> {
        let names = Names::new(ctx);
        iam::policy(&self.iam, &names.execution_role, &names.execution_policy).await
    }

    /// Deletes a security group of this component; gone or foreign is left alone.
    async fn delete_own_security_group(
        &self,
        ctx: &ResourceContext,
        vpc_id: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        match network::find_security_group(&self.ec2, vpc_id, name).await? {
            Some(group) if naming::owned_by(ctx, &group.tags) => {
                network::delete_security_group(&self.ec2, vpc_id, name, self.patience).await
            }
            _ => Ok(()),
        }
    }
}

fn microservice(spec: &ComponentSpec) -> Result<&MicroServiceSpec, ProviderError> {
    match spec {
        ComponentSpec::MicroService(spec) => Ok(spec),
        other => Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "the MicroService reconciler was given a {:?} spec",
                other.kind()
            ),
        )),
    }
}

#[async_trait::async_trait]
impl Reconciler for MicroServiceReconciler {
    fn kind(&self) -> ComponentKind {
        ComponentKind::MicroService
    }

    fn normalise(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> serde_json::Value {
        match spec {
            ComponentSpec::MicroService(spec) => {
                serde_json::to_value(fields::from_spec(ctx, spec, inputs))
                    .unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }

    /// Task definition revisions roll, so nearly everything changes in place; an ALB's
    /// scheme and a target group's port cannot change.
    fn field_change(&self, path: &str) -> FieldChange {
        match path {
            "load_balancer.internal" | "load_balancer.container_port" => FieldChange::Replace,
            _ => FieldChange::InPlace,
        }
    }

    async fn read(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        self.observe(ctx, known).await
    }

    async fn create(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.converge(ctx, microservice(spec)?, inputs).await
    }

    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.converge(ctx, microservice(spec)?, inputs).await
    }

    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        _options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let names = Names::with_known(ctx, known);
        let wait = self.wait();
        autoscaling::remove(&self.autoscaling, &names).await?;
        ecs_service::delete(&self.ecs, ctx, &names, wait).await?;
        alb::delete(
            &self.elbv2,
            ctx,
            &names.load_balancer,
            &names.target_group,
            wait,
        )
        .await?;
        task_definition::deregister_family(&self.ecs, &names.family).await?;
        logs::delete(&self.logs, ctx, &names.log_group).await?;
        iam::delete(&self.iam, ctx, &names.execution_role).await?;
        let vpc_id = match network::resolve(&self.ec2, ctx.network.as_ref()).await {
            Ok(net) => net.vpc_id,
            // No network, no security groups in it.
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // The service's group first: its rules name the load balancer's.
        self.delete_own_security_group(ctx, &vpc_id, &names.service_security_group)
            .await?;
        self.delete_own_security_group(ctx, &vpc_id, &names.alb_security_group)
            .await
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        let names = Names::with_known(ctx, known);
        let expected = known.get(ids::TASK_DEFINITION_ARN).map(String::as_str);
        readiness::probe(&self.ecs, &names, expected).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reconciler whose ECS client is `ecs` and whose other clients answer nothing.
    pub(crate) fn reconciler_with_ecs(ecs: aws_sdk_ecs::Client) -> MicroServiceReconciler {
        macro_rules! idle {
            ($krate:ident) => {
                $krate::Client::from_conf($krate::Config::builder().with_test_defaults_v2().build())
            };
        }
        MicroServiceReconciler {
            ecs,
            elbv2: idle!(aws_sdk_elasticloadbalancingv2),
            iam: idle!(aws_sdk_iam),
            logs: idle!(aws_sdk_cloudwatchlogs),
            ec2: idle!(aws_sdk_ec2),
            secretsmanager: idle!(aws_sdk_secretsmanager),
            autoscaling: idle!(aws_sdk_applicationautoscaling),
            poll_interval: Duration::from_millis(1),
            patience: Duration::from_millis(50),
        }
    }

    #[test]
    fn only_the_scheme_and_the_target_port_force_a_replacement() {
        let r = reconciler_with_ecs(idle_ecs());
        assert_eq!(
            r.field_change("load_balancer.internal"),
            FieldChange::Replace
        );
        assert_eq!(
            r.field_change("load_balancer.container_port"),
            FieldChange::Replace
        );
        for path in [
            "image",
            "environment.QUEUE_URL",
            "health_check.path",
            "load_balancer.listener_port",
            "replicas",
        ] {
            assert_eq!(r.field_change(path), FieldChange::InPlace, "{path}");
        }
    }

    fn idle_ecs() -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::Config::builder()
                .with_test_defaults_v2()
                .build(),
        )
    }
}
