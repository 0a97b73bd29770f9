//! The AWS SDK configuration and the service clients, built once per process.
//!
//! The CLI's settings module resolves [`AwsSettings`] from flags, config file and
//! environment, then calls [`load_sdk_config`] once and [`AwsClients::new`] once; every
//! reconciler, the state store and the lock borrow clients from that one [`AwsClients`].
//! Nothing in this module reads environment variables itself: whatever the environment
//! contributes (credentials, `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...) comes in
//! through the standard provider chain of `aws-config`.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_types::service_config::ServiceConfigKey;

/// The loader that [`load_sdk_config_with`] hands to its `customize` step.
pub use aws_config::ConfigLoader;
/// The process's one SDK configuration; re-exported so the binary need not depend on
/// `aws-types`.
pub use aws_types::SdkConfig;

/// The interceptor trait of the SDK's runtime, shared by every `aws-sdk-*` crate.
///
/// Re-exported so that callers of [`AwsClients::with_interceptors`] need not depend on the
/// smithy runtime crates themselves.
pub use aws_sdk_s3::config::Intercept;
/// A type-erased, cloneable [`Intercept`] implementation; build one with
/// `SharedInterceptor::new(my_interceptor)`. The same value can be given to every service
/// client.
pub use aws_sdk_s3::config::SharedInterceptor;

/// What the user chose about AWS, already resolved from flags, config file and environment.
///
/// Plain data: every field left `None` is decided by the standard `aws-config` chain
/// (environment variables, then the shared config files, then instance metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// The region to use, such as `eu-west-1`.
    pub region: Option<String>,
    /// The named profile of the shared config files (`~/.aws/config`) to use.
    pub profile: Option<String>,
    /// One endpoint for every AWS service, for emulators such as moto or LocalStack
    /// (`http://127.0.0.1:5000`). When set, the region only scopes request signing.
    pub endpoint_url: Option<String>,
}

/// Loads the process's one [`SdkConfig`] from `settings` and the standard `aws-config` chain.
///
/// Settings given explicitly win over what the environment and the shared config files say.
///
/// # Errors
///
/// None here: `aws-config` loads lazily, so missing or bad credentials surface on the first
/// SDK call, as that call's error.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    load_sdk_config_with(settings, |loader| loader).await
}

/// Like [`load_sdk_config`], but lets the caller adjust the [`ConfigLoader`] after
/// `settings` are applied and before it loads.
///
/// Meant for tests, which inject fixed credentials and keep the host's environment out:
///
/// ```no_run
/// # async fn example() {
/// use aws_sdk_s3::config::Credentials;
/// use panka_providers::aws::{AwsSettings, load_sdk_config_with};
///
/// let settings = AwsSettings {
///     region: Some("us-east-1".into()),
///     endpoint_url: Some("http://127.0.0.1:5000".into()),
///     ..AwsSettings::default()
/// };
/// let sdk_config = load_sdk_config_with(&settings, |loader| {
///     loader
///         .empty_test_environment()
///         .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
/// })
/// .await;
/// # }
/// ```
pub async fn load_sdk_config_with(
    settings: &AwsSettings,
    customize: impl FnOnce(ConfigLoader) -> ConfigLoader,
) -> SdkConfig {
    with_panka_retries(customize(config_loader(settings)).load().await)
}

/// How many times one AWS call is tried (standard retry mode: exponential backoff with
/// jitter, throttling and 5xx and connection errors retried).
///
/// The SDK's default of 3 leaves 0.8 % of calls failing when 20 % of attempts fail
/// (throttling storms, a flaky network); 5 leaves 0.03 %, and the executor retries a
/// failed change on top. A call that keeps failing still fails within seconds: backoff
/// starts at 1 s and doubles, with jitter.
pub const SDK_MAX_ATTEMPTS: u32 = 5;

/// panka's retry configuration, unless the user (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, the
/// profile's `max_attempts` / `retry_mode`) or the caller chose another one than the SDK's
/// default. Reading `sdk_config` rather than the environment keeps invariant 5: only
/// `aws-config`'s chain looks at the environment.
fn with_panka_retries(sdk_config: SdkConfig) -> SdkConfig {
    if sdk_config.retry_config() != Some(&RetryConfig::standard()) {
        return sdk_config;
    }
    sdk_config
        .into_builder()
        .retry_config(RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS))
        .build()
}

/// The loader with the latest behavior version and every explicit setting applied.
fn config_loader(settings: &AwsSettings) -> ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint_url) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint_url);
    }
    loader
}

/// Every AWS service client panka uses, built once from one [`SdkConfig`].
///
/// Clients are cheap to clone (they share their connection pool and credentials cache),
/// so code that needs one clones the field rather than building a new client.
///
/// To add a service: add a `pub` field holding its client and build it in
/// [`AwsClients::with_interceptors`] from `sdk_config` the same way as `s3`, pushing the
/// same interceptors.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// Amazon S3: the state store. Uses path-style addressing when an endpoint URL is set.
    pub s3: aws_sdk_s3::Client,
    /// Amazon DynamoDB: the state lock.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Amazon SQS: queues.
    pub sqs: aws_sdk_sqs::Client,
    /// Amazon RDS: databases.
    pub rds: aws_sdk_rds::Client,
    /// Amazon ElastiCache: Redis.
    pub elasticache: aws_sdk_elasticache::Client,
    /// Amazon ECS: clusters, task definitions, services.
    pub ecs: aws_sdk_ecs::Client,
    /// Elastic Load Balancing v2: ALBs, target groups, listeners.
    pub elasticloadbalancingv2: aws_sdk_elasticloadbalancingv2::Client,
    /// IAM: task execution roles.
    pub iam: aws_sdk_iam::Client,
    /// CloudWatch Logs: log groups.
    pub cloudwatchlogs: aws_sdk_cloudwatchlogs::Client,
    /// Amazon EC2: VPCs, subnets, security groups.
    pub ec2: aws_sdk_ec2::Client,
    /// Secrets Manager: secret references (never values, except the RDS master password at apply time).
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// Application Auto Scaling: service scaling.
    pub applicationautoscaling: aws_sdk_applicationautoscaling::Client,
    /// Certificate Manager: the certificates of services on the environment's domain.
    pub acm: aws_sdk_acm::Client,
    /// Route 53: the hosted zone's alias and certificate-validation records.
    pub route53: aws_sdk_route53::Client,
    /// CloudWatch: the error-rate alarms ECS rolls deployments back on.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Whether an endpoint URL replaces the AWS endpoints (an emulator is in use).
    endpoint_overridden: bool,
}

impl AwsClients {
    /// Builds every client from `sdk_config`.
    ///
    /// `settings` should be the ones `sdk_config` was loaded from; they only serve to tell
    /// whether an endpoint URL is in use.
    ///
    /// # Path-style S3 addressing
    ///
    /// When an endpoint URL applies to S3 (from `settings.endpoint_url`, from
    /// `sdk_config.endpoint_url()`, or from the S3-specific `AWS_ENDPOINT_URL_S3` or
    /// `[services]` section's `endpoint_url` that `aws-config` loaded), the S3 client
    /// uses path-style addressing: `http://host:port/bucket/key` instead of
    /// `http://bucket.host:port/key`. Emulators such as moto listen on one host name
    /// (`127.0.0.1`) that has no per-bucket subdomains, so virtual-hosted requests would
    /// fail to resolve or reach the wrong bucket; and bucket names with dots
    /// (`team.state`) would form host names that no certificate or resolver covers.
    /// Against real AWS (no endpoint URL) the SDK's default virtual-hosted style is kept.
    pub fn new(sdk_config: &SdkConfig, settings: &AwsSettings) -> Self {
        Self::with_interceptors(sdk_config, settings, &[])
    }

    /// Clients that never reach AWS: every call fails at once, naming the reason. For work
    /// that needs only the reconcilers' pure side (normalising specs for
    /// `plan --refresh=false`): the real clients load the credential chain and a TLS
    /// configuration, which costs a large plan about as much as diffing it.
    pub fn offline(region: &str) -> Self {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .http_client(offline::client())
            // Requests are signed before they reach the connector; nothing is sent.
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::new("offline", "offline", None, None, "panka"),
            ))
            .retry_config(RetryConfig::disabled())
            .build();
        let settings = AwsSettings {
            region: Some(region.to_string()),
            ..AwsSettings::default()
        };
        Self::new(&config, &settings)
    }

    /// Like [`AwsClients::new`], and every client also runs `interceptors` on each request.
    ///
    /// Tests use this to add headers such as moto's `x-moto-account-id`; the same
    /// interceptors are given to every service client.
    pub fn with_interceptors(
        sdk_config: &SdkConfig,
        settings: &AwsSettings,
        interceptors: &[SharedInterceptor],
    ) -> Self {
        let endpoint_overridden =
            settings.endpoint_url.is_some() || sdk_config.endpoint_url().is_some();

        let mut s3 = aws_sdk_s3::config::Builder::from(sdk_config);
        if endpoint_overridden || service_endpoint_url(sdk_config, "S3").is_some() {
            s3 = s3.force_path_style(true);
        }
        for interceptor in interceptors {
            s3.push_interceptor(interceptor.clone());
        }
        let s3 = aws_sdk_s3::Client::from_conf(s3.build());

        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk_config);
        for interceptor in interceptors {
            dynamodb.push_interceptor(interceptor.clone());
        }
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
        let mut elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk_config);
        for interceptor in interceptors {
            elb.push_interceptor(interceptor.clone());
        }
        if endpoint_overridden {
            elb.push_interceptor(SharedInterceptor::new(EmulatorCreatesNotRetried));
        }
        let elasticloadbalancingv2 = aws_sdk_elasticloadbalancingv2::Client::from_conf(elb.build());
        // Every other service: the shared config plus the same interceptors.
        macro_rules! client {
            ($krate:ident) => {{
                let mut builder = $krate::config::Builder::from(sdk_config);
                for interceptor in interceptors {
                    builder.push_interceptor(interceptor.clone());
                }
                $krate::Client::from_conf(builder.build())
            }};
        }

        Self {
            s3,
            dynamodb,
            sqs: client!(aws_sdk_sqs),
            rds: client!(aws_sdk_rds),
            elasticache: client!(aws_sdk_elasticache),
            ecs: client!(aws_sdk_ecs),
            elasticloadbalancingv2,
            iam: client!(aws_sdk_iam),
            cloudwatchlogs: client!(aws_sdk_cloudwatchlogs),
            ec2: client!(aws_sdk_ec2),
            secretsmanager: client!(aws_sdk_secretsmanager),
            applicationautoscaling: client!(aws_sdk_applicationautoscaling),
            acm: client!(aws_sdk_acm),
            route53: client!(aws_sdk_route53),
            cloudwatch: client!(aws_sdk_cloudwatch),
            endpoint_overridden,
        }
    }

    /// Whether an endpoint URL replaces the AWS endpoints for every service, that is,
    /// whether panka talks to an emulator rather than to AWS.
    pub fn endpoint_overridden(&self) -> bool {
        self.endpoint_overridden
    }
}

/// Against an emulator, the SDK does not retry ELBv2's `CreateLoadBalancer` and
/// `CreateListener`.
///
/// AWS documents both as idempotent (a repeated call with the same settings returns what
/// exists), so the SDK may retry them; moto 5.2.1 creates a second load balancer or
/// listener instead, which the fault-injection tests found when an answer was lost after
/// the work was done (docs/reliability.md). Without the SDK's retry, the failure reaches
/// the executor, whose next try of the step looks the resource up by name and adopts it.
#[derive(Debug)]
struct EmulatorCreatesNotRetried;

impl Intercept for EmulatorCreatesNotRetried {
    fn name(&self) -> &'static str {
        "EmulatorCreatesNotRetried"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        use aws_sdk_elasticloadbalancingv2::operation::{
            create_listener::CreateListenerInput, create_load_balancer::CreateLoadBalancerInput,
        };
        let input = context.input();
        if input.downcast_ref::<CreateLoadBalancerInput>().is_some()
            || input.downcast_ref::<CreateListenerInput>().is_some()
        {
            // The operation's own layer: this call only, every attempt of it.
            cfg.interceptor_state()
                .store_put(RetryConfig::standard().with_max_attempts(1));
        }
        Ok(())
    }
}

/// The endpoint URL that `aws-config` found for `service_id` (the SDK's service id, such as
/// `S3`): `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL`, else `endpoint_url` in the
/// profile's `[services]` section or the profile itself. The key is built exactly as the
/// generated SDK config builders build it; `aws-config` appends the service id itself.
fn service_endpoint_url(sdk_config: &SdkConfig, service_id: &str) -> Option<String> {
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk_config.service_config()?.load_config(key)
}

mod offline {
    use aws_smithy_runtime_api::client::http::{
        HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    #[derive(Debug)]
    struct Offline;

    impl HttpConnector for Offline {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let reason = format!(
                "panka made no connection to {}: this command works offline",
                request.uri()
            );
            HttpConnectorFuture::ready(Err(ConnectorError::other(reason.into(), None)))
        }
    }

    pub fn client() -> SharedHttpClient {
        http_client_fn(|_, _| SharedHttpConnector::new(Offline))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_s3::config::{ConfigBag, Credentials, RuntimeComponents};
    use aws_sdk_s3::error::BoxError;
    use aws_types::service_config::LoadServiceConfig;

    use super::*;

    /// Loads a config that sees neither the host's environment nor its `~/.aws` files.
    async fn hermetic_config(settings: &AwsSettings) -> SdkConfig {
        load_sdk_config_with(settings, hermetic).await
    }

    fn hermetic(loader: ConfigLoader) -> ConfigLoader {
        #[allow(deprecated)] // the replacement type lives in aws-runtime, not a dependency
        let files = aws_config::profile::profile_file::ProfileFiles::builder()
            .with_contents(
                aws_config::profile::profile_file::ProfileFileKind::Config,
                "[profile panka-test]\nregion = ap-south-1\n",
            )
            .build();
        loader
            .empty_test_environment()
            .profile_files(files)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "unit"))
            .retry_config(RetryConfig::disabled())
    }

    fn settings(region: &str, endpoint_url: Option<&str>) -> AwsSettings {
        AwsSettings {
            region: Some(region.to_owned()),
            profile: None,
            endpoint_url: endpoint_url.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn calls_are_tried_five_times_unless_configured_otherwise() {
        let settings = settings("eu-west-3", None);
        let default = load_sdk_config_with(&settings, |loader| {
            loader
                .empty_test_environment()
                .credentials_provider(Credentials::new("testing", "testing", None, None, "unit"))
        })
        .await;
        let retry = default.retry_config().expect("retry config");
        assert_eq!(retry.max_attempts(), SDK_MAX_ATTEMPTS);
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);

        let chosen = load_sdk_config_with(&settings, |loader| {
            hermetic(loader).retry_config(RetryConfig::standard().with_max_attempts(2))
        })
        .await;
        assert_eq!(chosen.retry_config().map(|r| r.max_attempts()), Some(2));
    }

    /// Counts the attempts of every request.
    #[derive(Debug, Clone, Default)]
    struct Attempts(Arc<Mutex<u32>>);

    impl Intercept for Attempts {
        fn name(&self) -> &'static str {
            "Attempts"
        }

        fn read_before_attempt(
            &self,
            _context: &BeforeTransmitInterceptorContextRef<'_>,
            _runtime_components: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            *self.0.lock().map_err(|_| "attempts lock poisoned")? += 1;
            Ok(())
        }
    }

    #[tokio::test]
    async fn against_an_emulator_elb_creates_are_tried_once_and_reads_retried() {
        // Nothing listens on port 9: every attempt fails with a retryable I/O error.
        let settings = settings("us-east-1", Some("http://127.0.0.1:9"));
        let config = load_sdk_config_with(&settings, |loader| {
            hermetic(loader).retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
        })
        .await;
        let attempts = Attempts::default();
        let clients = AwsClients::with_interceptors(
            &config,
            &settings,
            &[SharedInterceptor::new(attempts.clone())],
        );
        let elb = &clients.elasticloadbalancingv2;
        let count = |attempts: &Attempts| std::mem::take(&mut *attempts.0.lock().expect("lock"));

        assert!(elb.create_load_balancer().name("a").send().await.is_err());
        assert_eq!(count(&attempts), 1, "CreateLoadBalancer");
        assert!(
            elb.create_listener()
                .load_balancer_arn("arn")
                .send()
                .await
                .is_err()
        );
        assert_eq!(count(&attempts), 1, "CreateListener");
        assert!(elb.describe_load_balancers().send().await.is_err());
        assert_eq!(count(&attempts), 3, "DescribeLoadBalancers");
        assert!(elb.create_target_group().name("t").send().await.is_err());
        assert_eq!(count(&attempts), 3, "CreateTargetGroup is retried");
    }

    #[tokio::test]
    async fn region_and_endpoint_are_applied() {
        let config = hermetic_config(&settings("eu-west-3", Some("http://127.0.0.1:4566"))).await;
        assert_eq!(config.region(), Some(&Region::new("eu-west-3")));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
    }

    #[tokio::test]
    async fn no_endpoint_when_none_is_set() {
        let config = hermetic_config(&settings("eu-west-3", None)).await;
        assert_eq!(config.endpoint_url(), None);
        let clients = AwsClients::new(&config, &settings("eu-west-3", None));
        assert!(!clients.endpoint_overridden());
    }

    #[tokio::test]
    async fn profile_is_applied() {
        let settings = AwsSettings {
            profile: Some("panka-test".to_owned()),
            ..AwsSettings::default()
        };
        let config = hermetic_config(&settings).await;
        assert_eq!(config.region(), Some(&Region::new("ap-south-1")));
    }

    #[tokio::test]
    async fn explicit_region_wins_over_profile() {
        let settings = AwsSettings {
            region: Some("eu-north-1".to_owned()),
            profile: Some("panka-test".to_owned()),
            endpoint_url: None,
        };
        let config = hermetic_config(&settings).await;
        assert_eq!(config.region(), Some(&Region::new("eu-north-1")));
    }

    #[tokio::test]
    async fn clients_take_region_and_endpoint_from_config() {
        let settings = settings("eu-west-3", Some("http://127.0.0.1:4566"));
        let config = hermetic_config(&settings).await;
        let clients = AwsClients::new(&config, &settings);
        assert!(clients.endpoint_overridden());
        assert_eq!(
            clients.s3.config().region(),
            Some(&Region::new("eu-west-3"))
        );
    }

    /// The URI and the headers of a request.
    type Request = (String, Vec<(String, String)>);

    /// Records the URI and headers of the first request, then stops it before it is sent.
    #[derive(Debug, Clone, Default)]
    struct Capture(Arc<Mutex<Option<Request>>>);

    impl Intercept for Capture {
        fn name(&self) -> &'static str {
            "Capture"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _runtime_components: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let request = context.request();
            let headers = request
                .headers()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            let mut slot = self.0.lock().map_err(|_| "capture lock poisoned")?;
            *slot = Some((request.uri().to_owned(), headers));
            Err("captured; not sending".into())
        }
    }

    /// Sends `ListObjectsV2` for `bucket` through clients built for `settings`, and returns
    /// the request that would have gone out.
    async fn captured_list_request(
        settings: &AwsSettings,
        config: &SdkConfig,
        bucket: &str,
    ) -> Request {
        let capture = Capture::default();
        let clients = AwsClients::with_interceptors(
            config,
            settings,
            &[SharedInterceptor::new(capture.clone())],
        );
        let result = clients.s3.list_objects_v2().bucket(bucket).send().await;
        assert!(
            result.is_err(),
            "the capture interceptor stops every request"
        );
        let captured = capture.0.lock().expect("capture lock").take();
        captured.expect("a request reached the capture interceptor")
    }

    #[tokio::test]
    async fn endpoint_url_forces_path_style() {
        let settings = settings("us-east-1", Some("http://127.0.0.1:9"));
        let config = hermetic_config(&settings).await;
        let (uri, _) = captured_list_request(&settings, &config, "team.state.bucket").await;
        assert!(
            uri.starts_with("http://127.0.0.1:9/team.state.bucket"),
            "path-style URI expected, got {uri}"
        );
    }

    #[tokio::test]
    async fn aws_endpoints_keep_virtual_hosted_style() {
        let settings = settings("us-east-1", None);
        let config = hermetic_config(&settings).await;
        let (uri, _) = captured_list_request(&settings, &config, "team-state-bucket").await;
        assert!(
            uri.starts_with("https://team-state-bucket.s3.us-east-1.amazonaws.com"),
            "virtual-hosted URI expected, got {uri}"
        );
    }

    /// A service config source that answers only for S3's endpoint URL, as `aws-config`'s
    /// does when `AWS_ENDPOINT_URL_S3` is set.
    #[derive(Debug)]
    struct S3EndpointOnly;

    impl LoadServiceConfig for S3EndpointOnly {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            (key.service_id() == "S3"
                && key.env() == "AWS_ENDPOINT_URL"
                && key.profile() == "endpoint_url")
                .then(|| "http://127.0.0.1:9".to_owned())
        }
    }

    #[tokio::test]
    async fn service_specific_s3_endpoint_forces_path_style() {
        let settings = settings("us-east-1", None);
        let config = hermetic_config(&settings)
            .await
            .into_builder()
            .service_config(S3EndpointOnly)
            .build();
        let clients = AwsClients::new(&config, &settings);
        assert!(!clients.endpoint_overridden());
        let (uri, _) = captured_list_request(&settings, &config, "team.state.bucket").await;
        assert!(
            uri.starts_with("http://127.0.0.1:9/team.state.bucket"),
            "path-style URI expected, got {uri}"
        );
    }

    /// Adds one header, as the moto test harness does with `x-moto-account-id`.
    #[derive(Debug)]
    struct AddHeader;

    impl Intercept for AddHeader {
        fn name(&self) -> &'static str {
            "AddHeader"
        }

        fn modify_before_signing(
            &self,
            context: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
            _runtime_components: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            context
                .request_mut()
                .headers_mut()
                .insert("x-panka-test", "yes");
            Ok(())
        }
    }

    #[tokio::test]
    async fn interceptors_reach_the_s3_client() {
        let settings = settings("us-east-1", Some("http://127.0.0.1:9"));
        let config = hermetic_config(&settings).await;
        let capture = Capture::default();
        let clients = AwsClients::with_interceptors(
            &config,
            &settings,
            &[
                SharedInterceptor::new(AddHeader),
                SharedInterceptor::new(capture.clone()),
            ],
        );
        let result = clients.s3.list_buckets().send().await;
        assert!(result.is_err());
        let (_, headers) = capture
            .0
            .lock()
            .expect("capture lock")
            .take()
            .expect("a request reached the capture interceptor");
        assert!(
            headers
                .iter()
                .any(|(name, value)| name == "x-panka-test" && value == "yes"),
            "header missing from {headers:?}"
        );
    }

    #[tokio::test]
    async fn interceptors_reach_the_dynamodb_client() {
        let settings = settings("eu-west-3", Some("http://127.0.0.1:9"));
        let config = hermetic_config(&settings).await;
        let capture = Capture::default();
        let clients = AwsClients::with_interceptors(
            &config,
            &settings,
            &[
                SharedInterceptor::new(AddHeader),
                SharedInterceptor::new(capture.clone()),
            ],
        );
        assert_eq!(
            clients.dynamodb.config().region(),
            Some(&Region::new("eu-west-3"))
        );
        let result = clients.dynamodb.list_tables().send().await;
        assert!(result.is_err());
        let (uri, headers) = capture
            .0
            .lock()
            .expect("capture lock")
            .take()
            .expect("a request reached the capture interceptor");
        assert!(uri.starts_with("http://127.0.0.1:9"), "{uri}");
        assert!(
            headers
                .iter()
                .any(|(name, value)| name == "x-panka-test" && value == "yes"),
            "header missing from {headers:?}"
        );
    }

    #[tokio::test]
    async fn offline_clients_build_without_the_chain_and_never_connect() {
        let clients = AwsClients::offline("eu-west-1");
        let err = clients.sqs.list_queues().send().await.expect_err("offline");
        let text = crate::sdk_error::cause_chain(&err);
        assert!(text.contains("works offline"), "{text}");
    }
}
