//! The MicroService kind: a container image run as an ECS Fargate service, behind an
//! Application Load Balancer when it has an `http` port.
//!
//! What one component becomes (product.md): the stack's shared ECS cluster (created when
//! missing, never deleted here), a CloudWatch log group, a task execution role allowed
//! exactly its log group, secrets and ECR repository, a task role (the application's
//! credentials) with the grants of what it references, two security groups (`-alb` open on
//! the listener port, `-svc` open to the ALB only), the ALB with its target group and
//! listener, a task definition revision, the ECS service, and CPU target tracking when
//! autoscaling is on.
//!
//! - [`render`]: the task definition, pure (snapshot-tested);
//! - [`fields`]: the normalised fields shared by `normalise` and `read`;
//! - one module per AWS resource, each with find/ensure/delete;
//! - [`readiness`]: one probe of the rollout, a circuit-breaker rollback being a failure;
//!   then [`health`]: `GET <readiness path>` over the load balancer must answer 2xx;
//! - `role_propagation`: ECS calls retried while a new execution role is not assumable.

mod alarms;
mod alb;
mod autoscaling;
mod cluster;
mod converge;
mod ecs_service;
pub mod fields;
pub mod health;
pub mod https;
mod iam;
mod logs;
pub mod names;
mod observe;
mod readiness;
pub mod render;
mod role_propagation;
mod secret_arns;
mod status;
mod tagged;
mod task_definition;
mod wait;

use crate::aws::AwsClients;
use crate::network;
use crate::shared::security_groups;
use names::{Names, ids};
use panka_core::drift::{Owner, TaggedResource};
use panka_core::model::MicroServiceSpec;
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, FieldChange, Inputs, KindReconciler, KnownIds, LiveStatus, Observed,
    ProviderError, Readiness, ResourceContext,
};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wait::Wait;

/// The progress steps of a MicroService's readiness.
const TASKS_WAIT: &str = "Waiting for tasks to start";
const HEALTH_CHECKS: &str = "Running health checks";
const REGISTERING: &str = "Registering with load balancer";

/// Reconciles MicroService components.
///
/// `poll_interval` and `patience` bound the waits `delete` owns (a draining service, a
/// load balancer going away, security groups whose network interfaces linger);
/// `poll_interval` also paces the retries while a new IAM role propagates. `health` is how
/// readiness asks the load balancer for the readiness path.
#[derive(Clone, Debug)]
pub struct MicroServiceReconciler {
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub poll_interval: Duration,
    pub patience: Duration,
    pub health: health::HttpCheck,
    /// Rollouts (service and task definition) whose HTTP check was found impossible
    /// and said so once; the next probe of the same rollout then passes without it.
    skipped_checks: Arc<Mutex<BTreeSet<String>>>,
    /// Held while a service changes the load balancer its environment shares (see
    /// `https::shared`).
    shared_lock: Arc<tokio::sync::Mutex<()>>,
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
            acm: clients.acm.clone(),
            route53: clients.route53.clone(),
            cloudwatch: clients.cloudwatch.clone(),
            poll_interval: Duration::from_secs(5),
            patience: Duration::from_secs(15 * 60),
            health: health::HttpCheck::default(),
            skipped_checks: Arc::default(),
            shared_lock: Arc::default(),
        }
    }

    fn wait(&self) -> Wait {
        Wait {
            interval: self.poll_interval,
            patience: self.patience,
        }
    }

    /// Retries of ECS calls refused while a new execution role propagates: from one
    /// second (or the poll interval, when shorter) up to the poll interval between tries.
    fn role_backoff(&self) -> role_propagation::Backoff {
        role_propagation::Backoff {
            first: self.poll_interval.min(Duration::from_secs(1)),
            max: self.poll_interval,
            patience: role_propagation::PATIENCE.min(self.patience),
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

    /// The task role's inline policy, decoded (for inspection and tests).
    pub async fn task_policy(
        &self,
        ctx: &ResourceContext,
    ) -> Result<Option<serde_json::Value>, ProviderError> {
        let names = Names::new(ctx);
        iam::policy(&self.iam, &names.task_role, &names.task_policy).await
    }

    /// Where the readiness path answers over the load balancer: its DNS name, the
    /// listener's port and the target group's health check path. `None` without a load
    /// balancer (or when part of it is gone, which `read` reports).
    async fn health_target(
        &self,
        known: &KnownIds,
    ) -> Result<Option<health::Target>, ProviderError> {
        let (Some(lb_arn), Some(tg_arn)) = (
            known.get(ids::LOAD_BALANCER_ARN),
            known.get(ids::TARGET_GROUP_ARN),
        ) else {
            return Ok(None);
        };
        let (alb, target_group, listener) = tokio::try_join!(
            alb::load_balancer_by_arn(&self.elbv2, lb_arn),
            alb::target_group_by_arn(&self.elbv2, tg_arn),
            alb::listener_for(&self.elbv2, lb_arn, tg_arn),
        )?;
        let (Some(alb), Some(tg)) = (alb, target_group) else {
            return Ok(None);
        };
        if alb.dns_name.is_empty() {
            return Ok(None);
        }
        // On the environment's domain: HTTPS, asking for the service's first host.
        if let Some(https_listener) = https::routes::https_listener(&self.elbv2, &alb.arn).await?
            && let Some(rule) =
                https::routes::rule_for(&self.elbv2, &https_listener.arn, &tg.arn).await?
            && let Some(host) = rule.hosts.first()
        {
            return Ok(Some(health::Target {
                scheme: health::Scheme::Https,
                host: host.clone(),
                address: alb.dns_name,
                port: https::routes::HTTPS_PORT,
                path: tg.health.path,
            }));
        }
        Ok(match listener {
            Some(listener) => Some(health::Target {
                scheme: if listener.https {
                    health::Scheme::Https
                } else {
                    health::Scheme::Http
                },
                host: alb.dns_name.clone(),
                address: alb.dns_name,
                port: listener.port,
                path: tg.health.path,
            }),
            _ => None,
        })
    }

    /// ECS's readiness, then the readiness path over the load balancer; both reported as
    /// progress steps.
    async fn readiness(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        let names = Names::with_known(ctx, known);
        let expected = known.get(ids::TASK_DEFINITION_ARN).map(String::as_str);
        let (ecs, service) = readiness::probe(&self.ecs, &names, expected).await?;
        let ecs = match ecs {
            Readiness::Failed { reason } => Readiness::Failed {
                reason: self.name_firing_alarms(service.as_ref(), reason).await,
            },
            other => other,
        };
        if panka_core::progress::is_reporting() {
            self.report_tasks(&names).await;
        }
        if let Readiness::Waiting { detail, progress } = &ecs {
            panka_core::progress::waiting(TASKS_WAIT, detail.clone(), *progress);
        }
        if ecs != Readiness::Ready {
            return Ok(ecs);
        }
        panka_core::progress::finish(TASKS_WAIT);
        if panka_core::progress::is_reporting()
            && let Some(target_group) = known.get(ids::TARGET_GROUP_ARN)
        {
            self.report_targets(target_group).await;
        }
        let Some(target) = self.health_target(known).await? else {
            return Ok(Readiness::Ready);
        };
        let answer = health::get(&target, &self.health).await;
        let verdict = health::verdict(&target, &answer);
        let status = match &verdict {
            health::Verdict::Healthy => format!("GET {}: healthy", target.path),
            health::Verdict::Retry(detail)
            | health::Verdict::Skip(detail)
            | health::Verdict::Fail(detail) => detail.clone(),
        };
        panka_core::progress::waiting(HEALTH_CHECKS, status, None);
        let ready = match verdict {
            health::Verdict::Healthy => Readiness::Ready,
            health::Verdict::Retry(detail) => Readiness::Waiting {
                detail,
                progress: None,
            },
            health::Verdict::Fail(reason) => Readiness::Failed { reason },
            health::Verdict::Skip(note) => {
                // Said once as progress, so the skip is visible; passed on the next probe.
                let rollout = format!("{}@{}", names.service, expected.unwrap_or_default());
                let first = self
                    .skipped_checks
                    .lock()
                    .map(|mut seen| seen.insert(rollout))
                    .unwrap_or(false);
                if first {
                    Readiness::Waiting {
                        detail: note,
                        progress: None,
                    }
                } else {
                    Readiness::Ready
                }
            }
        };
        if ready == Readiness::Ready {
            panka_core::progress::finish(HEALTH_CHECKS);
        }
        Ok(ready)
    }

    /// A failed rollout's reason, with the deployment alarms in the ALARM state named
    /// first: ECS rolled back because of them (its own reason does not name them). Only
    /// the alarms the service lists are asked about; reading them is best effort, since
    /// the rollout failed either way.
    async fn name_firing_alarms(
        &self,
        service: Option<&aws_sdk_ecs::types::Service>,
        reason: String,
    ) -> String {
        let watched = service
            .and_then(ecs_service::live_deployment_alarms)
            .unwrap_or_default();
        if watched.is_empty() {
            return reason;
        }
        match alarms::firing(&self.cloudwatch, &watched).await {
            Ok(firing) if !firing.is_empty() => {
                let named: Vec<String> = firing
                    .iter()
                    .map(|(name, why)| {
                        if why.is_empty() {
                            format!("alarm {name}")
                        } else {
                            format!("alarm {name} ({why})")
                        }
                    })
                    .collect();
                format!("rolled back by ECS on {}: {reason}", named.join(", "))
            }
            _ => reason,
        }
    }

    /// Each task of the service and its last status (`PROVISIONING`, `PENDING`,
    /// `RUNNING`), as progress. Only shown: a failed look-up changes nothing about
    /// readiness, which ECS's deployment counts decide.
    async fn report_tasks(&self, names: &Names) {
        let Ok(listed) = self
            .ecs
            .list_tasks()
            .cluster(&names.cluster)
            .service_name(&names.service)
            .send()
            .await
        else {
            return;
        };
        if listed.task_arns().is_empty() {
            return;
        }
        let Ok(described) = self
            .ecs
            .describe_tasks()
            .cluster(&names.cluster)
            .set_tasks(Some(listed.task_arns().to_vec()))
            .send()
            .await
        else {
            return;
        };
        let mut tasks: Vec<_> = described
            .tasks()
            .iter()
            .map(|t| {
                (
                    t.created_at().map(|c| c.as_nanos()),
                    t.task_arn().unwrap_or_default().to_string(),
                    t.last_status().unwrap_or("UNKNOWN").to_string(),
                )
            })
            .collect();
        tasks.sort();
        for (n, (_, _, status)) in tasks.into_iter().enumerate() {
            panka_core::progress::item(TASKS_WAIT, format!("Task {}", n + 1), status);
        }
    }

    /// The targets the service registered in its target group and their health, as
    /// progress; the step ends when every target is healthy. Only shown: the readiness
    /// path over the load balancer decides readiness. No targets (an emulator registers
    /// none): no step.
    async fn report_targets(&self, target_group_arn: &str) {
        let Ok(out) = self
            .elbv2
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
        else {
            return;
        };
        let targets = out.target_health_descriptions();
        if targets.is_empty() {
            return;
        }
        let mut healthy = 0;
        for description in targets {
            let target = description.target();
            let key = format!(
                "Target {}:{}",
                target.and_then(|t| t.id()).unwrap_or("?"),
                target.and_then(|t| t.port()).unwrap_or_default()
            );
            let state = description
                .target_health()
                .and_then(|h| h.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "unknown".to_string());
            if state == "healthy" {
                healthy += 1;
            }
            panka_core::progress::item(REGISTERING, key, state);
        }
        if healthy == targets.len() {
            panka_core::progress::finish(REGISTERING);
        }
    }

    /// Deletes a security group of this component (its id `recorded` in state, or its
    /// tags); gone is done, and one that is not the component's is `Foreign` and stays.
    async fn delete_own_security_group(
        &self,
        ctx: &ResourceContext,
        vpc_id: &str,
        name: &str,
        recorded: Option<&str>,
    ) -> Result<(), ProviderError> {
        security_groups::delete_owned(&self.ec2, ctx, vpc_id, name, recorded, self.patience).await
    }
}

#[async_trait::async_trait]
impl KindReconciler for MicroServiceReconciler {
    type Spec = MicroServiceSpec;

    fn normalise(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        inputs: &Inputs,
    ) -> serde_json::Value {
        serde_json::to_value(fields::from_spec(ctx, spec, inputs))
            .unwrap_or(serde_json::Value::Null)
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
        spec: &MicroServiceSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.converge(ctx, spec, inputs).await
    }

    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &MicroServiceSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.converge(ctx, spec, inputs).await
    }

    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        _options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let names = Names::with_known(ctx, known);
        let vpc_id = match network::resolve(&self.ec2, ctx.network.as_ref()).await {
            Ok(net) => Some(net.vpc_id),
            // No network, no security groups in it.
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        // A resource under these names that is not the component's refuses the whole
        // delete before anything goes.
        self.check_ownership(ctx, &names, vpc_id.as_deref(), known)
            .await?;
        let wait = self.wait();
        autoscaling::remove(&self.autoscaling, &names).await?;
        ecs_service::delete(&self.ecs, &names, wait).await?;
        alarms::delete(&self.cloudwatch, &names.error_rate_alarm).await?;
        // Names first, so none points at a load balancer that is going.
        let zone = match self.zone(ctx.domain.as_ref(), known).await {
            Ok(zone) => zone,
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if let Some(alb) = alb::find_load_balancer(&self.elbv2, &names.load_balancer).await?
            && let Some(tg) = alb::find_target_group(&self.elbv2, &names.target_group).await?
        {
            self.remove_https(ctx, zone.as_ref(), (&alb, &tg.arn), None)
                .await?;
        }
        alb::delete(&self.elbv2, &names.load_balancer, &names.target_group, wait).await?;
        let (certificates, zone) = self.leave_shared(ctx, &names, zone.as_ref()).await?;
        task_definition::deregister_family(&self.ecs, &names.family).await?;
        logs::delete(&self.logs, &names.log_group).await?;
        iam::delete(&self.iam, &names.execution_role).await?;
        iam::delete(&self.iam, &names.task_role).await?;
        if let Some(vpc_id) = &vpc_id {
            // The service's group first: its rules name the load balancers'.
            let recorded = |key: &str| known.get(key).map(String::as_str);
            self.delete_own_security_group(
                ctx,
                vpc_id,
                &names.service_security_group,
                recorded(ids::SERVICE_SECURITY_GROUP_ID),
            )
            .await?;
            self.delete_own_security_group(
                ctx,
                vpc_id,
                &names.alb_security_group,
                recorded(ids::ALB_SECURITY_GROUP_ID),
            )
            .await?;
            // Last: the load balancer's group named it, and clients' tasks had it.
            self.delete_own_security_group(
                ctx,
                vpc_id,
                &names.clients_security_group,
                recorded(ids::CLIENTS_SECURITY_GROUP_ID),
            )
            .await?;
        }
        // The shared load balancer goes with the last service on it.
        self.release_shared(
            ctx,
            &names,
            vpc_id.as_deref(),
            (zone.as_ref(), &certificates),
        )
        .await
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        self.readiness(ctx, known).await
    }

    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        self.live(ctx, known).await
    }

    async fn tagged(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        self.tagged_resources(owner).await
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
            acm: idle!(aws_sdk_acm),
            route53: idle!(aws_sdk_route53),
            cloudwatch: idle!(aws_sdk_cloudwatch),
            poll_interval: Duration::from_millis(1),
            patience: Duration::from_millis(50),
            health: health::HttpCheck::default(),
            skipped_checks: Arc::default(),
            shared_lock: Arc::default(),
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

    /// Collects what a reconciler reports.
    #[derive(Default)]
    struct Collected(Mutex<Vec<panka_core::engine::Event>>);

    impl panka_core::engine::EventSink for Collected {
        fn emit(&self, event: panka_core::engine::Event) {
            if let Ok(mut events) = self.0.lock() {
                events.push(event);
            }
        }
    }

    #[tokio::test]
    async fn each_task_is_shown_with_its_last_status_in_the_order_it_started() {
        use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
        use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
        use aws_sdk_ecs::types::Task;
        use aws_smithy_mocks::{mock, mock_client};
        use panka_core::engine::{Event, StepState};

        let listed = mock!(aws_sdk_ecs::Client::list_tasks).then_output(|| {
            ListTasksOutput::builder()
                .task_arns("arn:task/b")
                .task_arns("arn:task/a")
                .build()
        });
        let described = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
            let task = |arn: &str, secs: i64, status: &str| {
                Task::builder()
                    .task_arn(arn)
                    .created_at(aws_sdk_ecs::primitives::DateTime::from_secs(secs))
                    .last_status(status)
                    .build()
            };
            DescribeTasksOutput::builder()
                .tasks(task("arn:task/a", 20, "PENDING"))
                .tasks(task("arn:task/b", 10, "RUNNING"))
                .build()
        });
        let r = reconciler_with_ecs(mock_client!(aws_sdk_ecs, [&listed, &described]));
        let names = Names::new(&crate::microservice::render::tests::ctx());

        let sink = Arc::new(Collected::default());
        let id = crate::microservice::render::tests::ctx().id;
        panka_core::progress::scope(id, panka_core::plan::Action::Create, sink.clone(), async {
            r.report_tasks(&names).await;
            Ok::<(), ()>(())
        })
        .await
        .expect("reported");
        let items: Vec<(String, String)> = sink
            .0
            .lock()
            .expect("events")
            .iter()
            .filter_map(|e| match e {
                Event::Step {
                    step,
                    state: StepState::Item { key, status },
                    ..
                } if step == TASKS_WAIT => Some((key.clone(), status.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            items,
            [
                ("Task 1".to_string(), "RUNNING".to_string()),
                ("Task 2".to_string(), "PENDING".to_string())
            ]
        );
    }

    /// A rollout ECS rolled back because an alarm went off is a failure naming the alarm
    /// and why it went off (moto drives neither the alarm nor the rollback).
    #[tokio::test]
    async fn a_rollout_rolled_back_on_an_alarm_fails_naming_it() {
        use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
        use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
        use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
        use aws_sdk_ecs::types::{
            Deployment, DeploymentAlarms, DeploymentConfiguration, DeploymentRolloutState, Service,
        };
        use aws_smithy_mocks::{mock, mock_client};

        let ctx = crate::microservice::render::tests::ctx();
        let names = Names::new(&ctx);
        let alarm = names.error_rate_alarm.clone();
        let service = {
            let alarm = alarm.clone();
            let service_name = names.service.clone();
            move || {
                let deployment = Deployment::builder()
                    .status("PRIMARY")
                    .task_definition("arn:td/api:2")
                    .rollout_state(DeploymentRolloutState::Failed)
                    .rollout_state_reason("ECS deployment ecs-svc/1 failed: alarm detected. Rolling back to the last completed deployment.")
                    .build();
                DescribeServicesOutput::builder()
                    .services(
                        Service::builder()
                            .service_name(&service_name)
                            .status("ACTIVE")
                            .deployments(deployment)
                            .deployment_configuration(
                                DeploymentConfiguration::builder()
                                    .alarms(
                                        DeploymentAlarms::builder()
                                            .alarm_names(&alarm)
                                            .alarm_names("checkout-latency")
                                            .enable(true)
                                            .rollback(true)
                                            .build()
                                            .expect("alarms"),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            }
        };
        let described = mock!(aws_sdk_ecs::Client::describe_services)
            .sequence()
            .output(service)
            .repeatedly()
            .build();
        let firing = {
            let alarm = alarm.clone();
            mock!(aws_sdk_cloudwatch::Client::describe_alarms)
                .match_requests(|req| {
                    req.state_value() == Some(&StateValue::Alarm)
                        && req.alarm_names().len() == 2
                })
                .then_output(move || {
                    DescribeAlarmsOutput::builder()
                        .metric_alarms(
                            MetricAlarm::builder()
                                .alarm_name(&alarm)
                                .state_value(StateValue::Alarm)
                                .state_reason("Threshold Crossed: 2 out of the last 3 datapoints were greater than the threshold (10.0)")
                                .build(),
                        )
                        .build()
                })
        };
        let mut r = reconciler_with_ecs(mock_client!(aws_sdk_ecs, [&described]));
        r.cloudwatch = mock_client!(aws_sdk_cloudwatch, [&firing]);
        let known = KnownIds::from([(
            ids::TASK_DEFINITION_ARN.to_string(),
            "arn:td/api:2".to_string(),
        )]);
        let Readiness::Failed { reason } = r.readiness(&ctx, &known).await.expect("probe") else {
            panic!("a rolled-back rollout is a failure");
        };
        assert!(
            reason.starts_with(&format!(
                "rolled back by ECS on alarm {alarm} (Threshold Crossed"
            )),
            "{reason}"
        );
        assert!(
            reason.contains("alarm detected"),
            "ECS's own reason stays: {reason}"
        );
    }

    fn idle_ecs() -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::Config::builder()
                .with_test_defaults_v2()
                .build(),
        )
    }
}
