//! `poll_ready` of the reconciler: ECS's readiness first, then the readiness path over the
//! load balancer; and the engine's deadline on a path that never answers 2xx.

use super::tests::{server, through, tls_server, trusting};
use crate::microservice::MicroServiceReconciler;
use crate::microservice::names::{Names, ids};
use crate::microservice::render::tests::{ctx, spec};
use async_trait::async_trait;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};
use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Listener, LoadBalancer, ProtocolEnum, TargetGroup,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use panka_core::engine::{
    Event, EventSink, ExecOptions, Job, OnFailure, Outcome, ReconcilerSet, execute,
};
use panka_core::model::{ComponentKind, ComponentSpec};
use panka_core::plan::Action as PlanAction;
use panka_core::reconcile::{
    DeleteOptions, FieldChange, Inputs, KnownIds, LiveStatus, Observed, ProviderError, Readiness,
    Reconciler, ResourceContext,
};
use panka_core::state::{FencedState, LockRequest, MemoryStore, StateKey};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/api/1";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/api/1";

fn known() -> KnownIds {
    KnownIds::from([
        (ids::TASK_DEFINITION_ARN.to_string(), TD.to_string()),
        (ids::LOAD_BALANCER_ARN.to_string(), LB.to_string()),
        (ids::TARGET_GROUP_ARN.to_string(), TG.to_string()),
    ])
}

/// ECS: the rollout of `TD` completed with `running` of 2 tasks, on every probe.
fn ecs(running: i32) -> aws_sdk_ecs::Client {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
        let state = if running == 2 {
            DeploymentRolloutState::Completed
        } else {
            DeploymentRolloutState::InProgress
        };
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name(Names::new(&ctx()).service)
                    .status("ACTIVE")
                    .task_definition(TD)
                    .deployments(
                        Deployment::builder()
                            .status("PRIMARY")
                            .task_definition(TD)
                            .rollout_state(state)
                            .running_count(running)
                            .desired_count(2)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    // The apply screen lists the service's tasks while it waits: none here.
    let tasks = mock!(aws_sdk_ecs::Client::list_tasks)
        .then_output(|| aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder().build());
    mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&rule, &tasks])
}

/// ELBv2: the ALB `api.example.test`, its listener on 8080 (speaking `protocol`)
/// forwarding to the target group, which checks `/health/ready`.
fn elbv2(protocol: ProtocolEnum) -> aws_sdk_elasticloadbalancingv2::Client {
    let lb =
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_load_balancers).then_output(|| {
            DescribeLoadBalancersOutput::builder()
                .load_balancers(
                    LoadBalancer::builder()
                        .load_balancer_arn(LB)
                        .load_balancer_name("api")
                        .dns_name("api.example.test")
                        .build(),
                )
                .build()
        });
    let tg =
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups).then_output(|| {
            DescribeTargetGroupsOutput::builder()
                .target_groups(
                    TargetGroup::builder()
                        .target_group_arn(TG)
                        .target_group_name("api")
                        .port(8080)
                        .health_check_path("/health/ready")
                        .load_balancer_arns(LB)
                        .build(),
                )
                .build()
        });
    let listener =
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners).then_output(move || {
            DescribeListenersOutput::builder()
                .listeners(
                    Listener::builder()
                        .listener_arn("arn:listener")
                        .port(8080)
                        .protocol(protocol.clone())
                        .default_actions(
                            Action::builder()
                                .r#type(ActionTypeEnum::Forward)
                                .target_group_arn(TG)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    // …and the targets registering with the load balancer: none registered yet.
    let targets = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .then_output(|| {
            aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput::builder()
                .build()
        });
    mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [&lb, &tg, &listener, &targets]
    )
}

fn reconciler(running: i32, address: SocketAddr) -> MicroServiceReconciler {
    let mut r = crate::microservice::tests::reconciler_with_ecs(ecs(running));
    r.elbv2 = elbv2(ProtocolEnum::Http);
    r.health = through(address);
    r
}

fn waiting(detail: &str) -> Readiness {
    Readiness::Waiting {
        detail: detail.into(),
        progress: None,
    }
}

#[tokio::test]
async fn ready_only_once_the_readiness_path_answers_2xx() {
    let (address, seen) = server(vec![Some(503), Some(200)]).await;
    let r = reconciler(2, address);
    assert_eq!(
        r.poll_ready(&ctx(), &known()).await.expect("probe"),
        waiting("GET /health/ready → 503, retrying")
    );
    assert_eq!(
        r.poll_ready(&ctx(), &known()).await.expect("probe"),
        Readiness::Ready
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn no_request_before_ecs_is_ready_nor_without_a_load_balancer() {
    let (address, seen) = server(vec![Some(200)]).await;
    let rolling = reconciler(1, address);
    assert_eq!(
        rolling.poll_ready(&ctx(), &known()).await.expect("probe"),
        Readiness::Waiting {
            detail: "1/2 tasks running".into(),
            progress: Some(50)
        }
    );
    let no_alb = KnownIds::from([(ids::TASK_DEFINITION_ARN.to_string(), TD.to_string())]);
    assert_eq!(
        reconciler(2, address)
            .poll_ready(&ctx(), &no_alb)
            .await
            .expect("probe"),
        Readiness::Ready
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "nothing was asked over HTTP"
    );
}

#[tokio::test]
async fn an_unreachable_load_balancer_is_skipped_with_a_note() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = closed.local_addr().expect("address");
    drop(closed);
    let r = reconciler(2, address);
    let Readiness::Waiting { detail, .. } = r.poll_ready(&ctx(), &known()).await.expect("probe")
    else {
        panic!("the skip is said once");
    };
    assert!(
        detail.starts_with(&format!(
            "GET /health/ready skipped: cannot connect to {address}"
        )),
        "{detail}"
    );
    assert_eq!(
        r.poll_ready(&ctx(), &known()).await.expect("probe"),
        Readiness::Ready
    );
}

#[tokio::test]
async fn an_https_listener_is_checked_over_tls() {
    let (address, seen) = tls_server(vec![Some(200)]).await;
    let mut r = reconciler(2, address);
    r.elbv2 = elbv2(ProtocolEnum::Https);
    r.health = trusting(address);
    assert_eq!(
        r.poll_ready(&ctx(), &known()).await.expect("probe"),
        Readiness::Ready
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_fails_readiness_at_once() {
    let (address, _) = tls_server(vec![Some(200)]).await;
    let mut r = reconciler(2, address);
    r.elbv2 = elbv2(ProtocolEnum::Https);
    // `through`: the platform's roots, which do not trust the test's self-signed
    // certificate.
    let readiness = r.poll_ready(&ctx(), &known()).await.expect("probe");
    let Readiness::Failed { reason } = &readiness else {
        panic!("not skipped, not waited on: {readiness:?}");
    };
    assert!(
        reason.starts_with(
            "GET /health/ready: TLS with api.example.test failed: invalid peer certificate"
        ),
        "{reason}"
    );
}

/// Creates instantly; readiness is the real reconciler's.
struct Instant(MicroServiceReconciler);

#[async_trait]
impl Reconciler for Instant {
    fn kind(&self) -> ComponentKind {
        ComponentKind::MicroService
    }
    fn normalise(&self, _: &ResourceContext, _: &ComponentSpec, _: &Inputs) -> serde_json::Value {
        serde_json::json!({})
    }
    fn field_change(&self, _: &str) -> FieldChange {
        FieldChange::InPlace
    }
    async fn read(
        &self,
        _: &ResourceContext,
        _: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        Ok(None)
    }
    async fn create(
        &self,
        _: &ResourceContext,
        _: &ComponentSpec,
        _: &Inputs,
    ) -> Result<Observed, ProviderError> {
        Ok(Observed {
            physical_ids: known(),
            ..Observed::default()
        })
    }
    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.create(ctx, spec, inputs).await
    }
    async fn delete(
        &self,
        _: &ResourceContext,
        _: &KnownIds,
        _: DeleteOptions,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        self.0.poll_ready(ctx, known).await
    }
    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        self.0.live_status(ctx, known).await
    }
    async fn tagged(
        &self,
        owner: &panka_core::drift::Owner,
    ) -> Result<Vec<panka_core::drift::TaggedResource>, ProviderError> {
        self.0.tagged(owner).await
    }
}

struct Set(Instant);
impl ReconcilerSet for Set {
    fn for_kind(&self, _: ComponentKind) -> &dyn Reconciler {
        &self.0
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);
impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}

#[tokio::test]
async fn a_path_that_never_answers_2xx_fails_the_change_at_the_deadline() {
    let (address, seen) = server(vec![Some(503)]).await;
    let store = MemoryStore::new();
    let key = StateKey::new("notification-platform", "development");
    let lock = LockRequest {
        who: "t@h".into(),
        operation: "apply".into(),
        lease: Duration::from_secs(60),
    }
    .to_info(jiff::Timestamp::now());
    let mut state = FencedState::open(&store, &key, &lock, jiff::Timestamp::now())
        .await
        .expect("open");
    let job = Job {
        ctx: ctx(),
        kind: ComponentKind::MicroService,
        action: PlanAction::Create,
        wave: 1,
        depends_on: Vec::new(),
        desired: Some(ComponentSpec::MicroService(spec())),
        env_refs: Vec::new(),
        reads_outputs_of: Vec::new(),
        config_files: BTreeMap::new(),
    };
    let options = ExecOptions {
        parallelism: 1,
        on_failure: OnFailure::Stop,
        ready_timeout: Duration::from_millis(300),
        poll_interval: Duration::from_millis(20),
        deployment_id: "d-1".into(),
        delete_options: DeleteOptions::default(),
    };
    let events = Arc::new(Recorder::default());
    let (_cancel, cancelled) = tokio::sync::watch::channel(false);
    let outcome = execute(
        vec![job],
        Arc::new(Set(Instant(reconciler(2, address)))),
        &mut state,
        &options,
        events.clone(),
        cancelled,
    )
    .await;
    let Outcome::Failed { failed, .. } = outcome else {
        panic!("the change must fail, got {outcome:?}");
    };
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].1.contains("was not ready after")
            && failed[0].1.contains("(GET /health/ready → 503, retrying)"),
        "{}",
        failed[0].1
    );
    let details: Vec<String> = events
        .0
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e {
            Event::Waiting { detail, .. } => Some(detail),
            _ => None,
        })
        .collect();
    assert!(!details.is_empty());
    assert!(
        details
            .iter()
            .all(|d| d == "GET /health/ready → 503, retrying"),
        "{details:?}"
    );
    assert!(seen.load(Ordering::SeqCst) >= 2, "it kept asking");
}
