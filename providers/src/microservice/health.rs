//! The readiness path asked over the load balancer: after ECS reports the rollout done, a
//! plain `GET <path>` on the ALB's listener must answer 2xx before the change counts as
//! finished — the proof that the load balancer routes to a healthy task, which ECS's own
//! view (tasks running) does not give.
//!
//! One request per probe, with its own timeout; the engine repeats probes and owns the
//! overall deadline. A load balancer that cannot be reached from here at all (its name
//! does not resolve, the connection is refused or never made — an internal ALB, a
//! network without a route, an emulator such as moto) is skipped rather than failed:
//! the check is extra assurance, and ECS's readiness already held.
//!
//! HTTP only: panka's listener is always HTTP (the spec has no certificate), so there is
//! no TLS here.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// How long one request may take, from name resolution to the status line.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer read while looking for its status line.
const MAX_HEAD: usize = 8 * 1024;

/// How requests are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// Limit of one request (resolution, connection and the answer's first line).
    pub timeout: Duration,
    /// Connect here instead of resolving the load balancer's name; the `Host` header still
    /// names the load balancer. For tests, and for reaching an ALB through a tunnel.
    pub connect_to: Option<SocketAddr>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            timeout: DEFAULT_TIMEOUT,
            connect_to: None,
        }
    }
}

/// What to ask: `GET http://host:port/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The load balancer's DNS name.
    pub host: String,
    /// The listener's port.
    pub port: u16,
    /// The readiness path (the target group's health check path).
    pub path: String,
}

impl Target {
    fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One request's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The status code of the answer.
    Status(u16),
    /// Connected, but no usable answer in time (or not HTTP): worth retrying.
    NoAnswer(String),
    /// Nothing to talk to from here: the name does not resolve, the connection is
    /// refused or not made in time.
    Unreachable(String),
}

/// What one answer means for the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Keep waiting; the detail says why (`GET /health/ready → 503, retrying`).
    Retry(String),
    /// The check cannot be made from here; the detail says why.
    Skip(String),
}

/// Judges an answer to `GET target.path`.
pub fn verdict(target: &Target, answer: &Answer) -> Verdict {
    match answer {
        Answer::Status(code) if (200..300).contains(code) => Verdict::Healthy,
        Answer::Status(code) => Verdict::Retry(format!("GET {} → {code}, retrying", target.path)),
        Answer::NoAnswer(why) => Verdict::Retry(format!("GET {}: {why}, retrying", target.path)),
        Answer::Unreachable(why) => Verdict::Skip(format!("GET {} skipped: {why}", target.path)),
    }
}

/// Sends `GET target.path` and reads the status line, within `check.timeout`.
pub async fn get(target: &Target, check: &HttpCheck) -> Answer {
    let deadline = Instant::now() + check.timeout;
    let seconds = check.timeout.as_secs_f64();
    let addresses: Vec<SocketAddr> = match check.connect_to {
        Some(address) => vec![address],
        None => {
            let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
            match timeout_at(deadline, lookup).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(err)) => {
                    return Answer::Unreachable(format!(
                        "{} does not resolve ({err})",
                        target.host
                    ));
                }
                Err(_) => {
                    return Answer::Unreachable(format!(
                        "{} did not resolve within {seconds}s",
                        target.host
                    ));
                }
            }
        }
    };
    if addresses.is_empty() {
        return Answer::Unreachable(format!("{} does not resolve", target.host));
    }
    let mut stream = None;
    let mut failure = String::new();
    // An ALB's name resolves to one address per zone; any of them will do.
    for address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(connected)) => {
                stream = Some(connected);
                break;
            }
            Ok(Err(err)) => failure = format!("cannot connect to {address} ({err})"),
            Err(_) => {
                failure = format!("no connection to {address} within {seconds}s");
                break;
            }
        }
    }
    let Some(mut stream) = stream else {
        return Answer::Unreachable(failure);
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: panka/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.host_header(),
        env!("CARGO_PKG_VERSION"),
    );
    match timeout_at(deadline, exchange(&mut stream, &request)).await {
        Ok(Ok(status)) => Answer::Status(status),
        Ok(Err(why)) => Answer::NoAnswer(why),
        Err(_) => Answer::NoAnswer(format!("no answer within {seconds}s")),
    }
}

/// Writes the request and reads up to the end of the status line.
async fn exchange(stream: &mut TcpStream, request: &str) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|err| format!("cannot send the request ({err})"))?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0_u8; 512];
    loop {
        if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
            return status_of(&head[..end]);
        }
        if head.len() > MAX_HEAD {
            return status_of(&head[..MAX_HEAD]);
        }
        let read = stream
            .read(&mut buffer)
            .await
            .map_err(|err| format!("the connection failed ({err})"))?;
        if read == 0 {
            if head.is_empty() {
                return Err("the connection closed without an answer".to_string());
            }
            return status_of(&head);
        }
        head.extend_from_slice(&buffer[..read]);
    }
}

/// The code of a status line such as `HTTP/1.1 503 Service Unavailable`.
fn status_of(line: &[u8]) -> Result<u16, String> {
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(version), Some(code))
            if version.starts_with("HTTP/") && (100..600).contains(&code) =>
        {
            Ok(code)
        }
        _ => Err(format!(
            "not an HTTP answer: {:?}",
            line.chars().take(60).collect::<String>()
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    /// A local HTTP server answering its n-th request with `statuses[n]` (the last one
    /// from then on); `None` accepts and never answers. Returns its address and the
    /// number of requests seen so far.
    pub(crate) async fn server(statuses: Vec<Option<u16>>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let status = statuses.get(n).or(statuses.last()).copied().flatten();
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let Some(status) = status else {
                    // Never answer, and keep the connection open.
                    held.push(socket);
                    continue;
                };
                // Anything but the expected request is answered 400, which fails the test.
                let head = String::from_utf8_lossy(&request).to_string();
                let expected = head.starts_with("GET /health/ready HTTP/1.1\r\n")
                    && head.contains("\r\nHost: api.example.test:8080\r\n");
                let status = if expected { status } else { 400 };
                let answer = format!(
                    "HTTP/1.1 {status} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (address, seen)
    }

    pub(crate) fn target() -> Target {
        Target {
            host: "api.example.test".into(),
            port: 8080,
            path: "/health/ready".into(),
        }
    }

    pub(crate) fn through(address: SocketAddr) -> HttpCheck {
        HttpCheck {
            timeout: Duration::from_millis(500),
            connect_to: Some(address),
        }
    }

    #[tokio::test]
    async fn unhealthy_then_healthy() {
        let (address, seen) = server(vec![Some(503), Some(200)]).await;
        let check = through(address);
        let first = get(&target(), &check).await;
        assert_eq!(first, Answer::Status(503));
        assert_eq!(
            verdict(&target(), &first),
            Verdict::Retry("GET /health/ready → 503, retrying".into())
        );
        let second = get(&target(), &check).await;
        assert_eq!(second, Answer::Status(200));
        assert_eq!(verdict(&target(), &second), Verdict::Healthy);
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_hits_the_request_deadline() {
        let (address, _) = server(vec![None]).await;
        let answer = get(&target(), &through(address)).await;
        assert_eq!(answer, Answer::NoAnswer("no answer within 0.5s".into()));
        assert_eq!(
            verdict(&target(), &answer),
            Verdict::Retry("GET /health/ready: no answer within 0.5s, retrying".into())
        );
    }

    #[tokio::test]
    async fn refused_and_unresolvable_are_skipped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let refused = get(&target(), &through(address)).await;
        assert!(
            matches!(&refused, Answer::Unreachable(why) if why.starts_with(&format!("cannot connect to {address}"))),
            "{refused:?}"
        );
        assert_eq!(
            verdict(&target(), &refused),
            Verdict::Skip(format!(
                "GET /health/ready skipped: {}",
                match &refused {
                    Answer::Unreachable(why) => why.clone(),
                    _ => String::new(),
                }
            ))
        );

        // `.invalid` never resolves (RFC 6761).
        let nowhere = Target {
            host: "panka-alb.invalid".into(),
            port: 80,
            path: "/health/ready".into(),
        };
        let answer = get(&nowhere, &HttpCheck::default()).await;
        let Answer::Unreachable(why) = &answer else {
            panic!("{answer:?}");
        };
        assert!(why.starts_with("panka-alb.invalid"), "{why}");
        assert!(matches!(verdict(&nowhere, &answer), Verdict::Skip(note)
                if note.starts_with("GET /health/ready skipped: panka-alb.invalid")),);
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 204 No Content"), Ok(204));
        assert_eq!(status_of(b"HTTP/1.0 500"), Ok(500));
        assert!(status_of(b"SSH-2.0-OpenSSH").is_err());
        assert!(status_of(b"HTTP/1.1 abc").is_err());
    }
}

/// `poll_ready` of the reconciler: ECS's readiness first, then the readiness path over the
/// load balancer; and the engine's deadline on a path that never answers 2xx.
#[cfg(test)]
mod poll_tests {
    use super::tests::{server, through};
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
        Action, ActionTypeEnum, Listener, LoadBalancer, TargetGroup,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::engine::{
        Event, EventSink, ExecOptions, Job, OnFailure, Outcome, ReconcilerSet, execute,
    };
    use panka_core::model::{ComponentKind, ComponentSpec};
    use panka_core::plan::Action as PlanAction;
    use panka_core::reconcile::{
        DeleteOptions, FieldChange, Inputs, KnownIds, LiveStatus, Observed, ProviderError,
        Readiness, Reconciler, ResourceContext,
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

    /// ELBv2: the ALB `api.example.test`, its listener on 8080 forwarding to the target
    /// group, which checks `/health/ready`.
    fn elbv2() -> aws_sdk_elasticloadbalancingv2::Client {
        let lb = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_load_balancers)
            .then_output(|| {
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
        let tg = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups).then_output(
            || {
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
            },
        );
        let listener = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners)
            .then_output(|| {
                DescribeListenersOutput::builder()
                    .listeners(
                        Listener::builder()
                            .listener_arn("arn:listener")
                            .port(8080)
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
        r.elbv2 = elbv2();
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
        let Readiness::Waiting { detail, .. } =
            r.poll_ready(&ctx(), &known()).await.expect("probe")
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

    /// Creates instantly; readiness is the real reconciler's.
    struct Instant(MicroServiceReconciler);

    #[async_trait]
    impl Reconciler for Instant {
        fn kind(&self) -> ComponentKind {
            ComponentKind::MicroService
        }
        fn normalise(
            &self,
            _: &ResourceContext,
            _: &ComponentSpec,
            _: &Inputs,
        ) -> serde_json::Value {
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
}
