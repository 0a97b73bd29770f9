//! The AWS SDK configuration and clients of one run, built in this one place: once for
//! each region the run uses (the stack's, and a backend's own when the configuration
//! names another), then shared by the state store, the lock, the reconcilers, the
//! preflights, status, logs and drift.

use crate::config::Config;
use crate::settings::ProcessEnv;
use panka_providers::aws::{AwsClients, AwsSettings, SdkConfig, load_sdk_config};
use panka_providers::reconcilers::Reconcilers;
use std::sync::Arc;

/// What the configuration and the command line say about AWS, and the clients built
/// from it so far.
pub struct Aws {
    default_region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    /// One entry per distinct settings (in practice: per region); a handful at most.
    built: tokio::sync::Mutex<Vec<(AwsSettings, SdkConfig, AwsClients)>>,
}

impl Aws {
    /// From the configuration and `--endpoint-url` (else `AWS_ENDPOINT_URL`); nothing is
    /// loaded until clients are asked for.
    pub fn new(config: &Config, endpoint_url: Option<&String>) -> Self {
        Aws {
            default_region: config.aws_region.clone(),
            profile: config.aws_profile.clone(),
            endpoint_url: endpoint_url.cloned(),
            built: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// The configured region (`aws.region`), used when nothing names another.
    pub fn default_region(&self) -> Option<&String> {
        self.default_region.as_ref()
    }

    /// The settings for `region` (a resource's own region), else the configured one.
    pub fn settings(&self, region: Option<&String>) -> AwsSettings {
        AwsSettings {
            region: region.or(self.default_region.as_ref()).cloned(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    /// The SDK configuration and clients for `region`, built on first use.
    pub async fn for_region(&self, region: Option<&String>) -> (SdkConfig, AwsClients) {
        let settings = self.settings(region);
        // Held across the load so two tasks asking for one region build it once.
        let mut built = self.built.lock().await;
        if let Some((_, sdk, clients)) = built.iter().find(|(s, _, _)| *s == settings) {
            return (sdk.clone(), clients.clone());
        }
        let sdk = load_sdk_config(&settings).await;
        let clients = AwsClients::new(&sdk, &settings);
        built.push((settings, sdk.clone(), clients.clone()));
        (sdk, clients)
    }

    /// The clients for `region` (see [`Aws::for_region`]).
    pub async fn clients(&self, region: Option<&String>) -> AwsClients {
        self.for_region(region).await.1
    }

    /// The reconcilers for the stack's region, over this run's clients.
    pub async fn reconcilers(&self, region: &str) -> Arc<Reconcilers> {
        Arc::new(Reconcilers::new(
            &self.clients(Some(&region.to_string())).await,
        ))
    }

    /// `env` with `who` set to the caller's AWS identity: STS `GetCallerIdentity`, asked
    /// once per run before the lock is taken, so the lock, the deployment record and the
    /// report name the same person. When STS cannot answer (offline, no credentials)
    /// `$USER@host` stays; `PANKA_USER` wins over both.
    pub async fn as_caller(&self, env: &ProcessEnv, region: &str) -> ProcessEnv {
        if env.who_is_explicit {
            return env.clone();
        }
        let (sdk, _) = self.for_region(Some(&region.to_string())).await;
        env.with_caller(panka_providers::identity::caller_name(&sdk).await.ok())
    }
}

/// Reconcilers that never reach AWS: enough to plan from recorded state
/// (`--refresh=false`), which needs only their normalisation.
pub fn offline_reconcilers(region: &str) -> Arc<Reconcilers> {
    Arc::new(Reconcilers::new(&AwsClients::offline(region)))
}
