//! `ElastiCacheRedis`: a cache subnet group, two security groups, an optional parameter
//! group, and either a replication group (a primary with replicas) or a single-node cache
//! cluster.
//!
//! Least privilege: the cache's group `<base>-redis` admits the Redis port only from the
//! group `<base>-redis-clients`, which has no inbound rules of its own. The clients group is
//! published as the internal output `client_security_group_id`; a dependent that attaches
//! it can reach the cache, and nothing else can.
//!
//! Both modes use the same id (≤ 40 characters, lowercase, no `--`); the physical id's key,
//! `replication_group_id` or `cache_cluster_id`, records which API the cache belongs to, so
//! `read`, `delete` and `poll_ready` ask the right one.
//!
//! Caveats:
//! - `DescribeReplicationGroups` reports neither the engine version nor the parameter
//!   group; both are read from the group's first member cluster. When that cluster cannot
//!   be described (moto does not model member clusters), those fields read as `null`
//!   (unknown) rather than being guessed.
//! - Engine versions compare as `major.minor`: AWS reports `7.0.7` for a cache created as
//!   `7.0`, and resolves `6.x` to the 6.2 line.
//! - `update` waits (bounded by [`RedisReconciler::with_wait_deadline`]) between a replica
//!   count change and a modification, because ElastiCache accepts one change at a time.
//!   Replica counts change immediately even in production: `IncreaseReplicaCount` and
//!   `DecreaseReplicaCount` only support `ApplyImmediately=true`.
//! - The subnet group is put in the environment's private subnets (else its public ones)
//!   and moved there (`ModifyCacheSubnetGroup`) when a create or adoption finds it
//!   elsewhere; a network change alone plans no update of an existing cache.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersError;
use aws_sdk_elasticache::operation::describe_cache_parameter_groups::DescribeCacheParameterGroupsError;
use aws_sdk_elasticache::operation::describe_cache_subnet_groups::DescribeCacheSubnetGroupsError;
use aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsError;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, CacheParameterGroup, CacheSubnetGroup, Endpoint,
    ParameterNameValue, ReplicationGroup, Tag,
};
use panka_core::model::{ComponentKind, ComponentSpec, RedisSpec};
use panka_core::progress;
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, FieldChange, Inputs, KnownIds, Observed, ProviderError, Readiness,
    Reconciler, ResourceContext,
};
use serde_json::{Value, json};

use crate::aws::AwsClients;
use crate::describe::{self, Missing};
use crate::naming::{self, limits};
use crate::network::{self, IngressRule, Source};
use crate::sdk_error::provider_error;

/// `cluster.mode` values of [`RedisSpec`].
pub const MODE_REPLICATION_GROUP: &str = "replication-group";
pub const MODE_CACHE_CLUSTER: &str = "cache-cluster";

/// ElastiCache parameter group names; `naming::limits` has no constant for them yet.
const PARAMETER_GROUP_LIMIT: usize = naming::limits::ELASTICACHE_PARAMETER_GROUP;
/// `ModifyCacheParameterGroup` and `ResetCacheParameterGroup` take at most 20 parameters.
const PARAMETERS_PER_CALL: usize = 20;

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Creating or deleting a replication group takes 5 to 15 minutes.
const DEFAULT_WAIT_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Network interfaces of a deleted cache linger for minutes and hold its security group.
const DEFAULT_SECURITY_GROUP_PATIENCE: Duration = Duration::from_secs(10 * 60);

/// Keys of [`Observed::physical_ids`].
pub mod ids {
    pub const REPLICATION_GROUP: &str = "replication_group_id";
    pub const CACHE_CLUSTER: &str = "cache_cluster_id";
    pub const SUBNET_GROUP: &str = "cache_subnet_group_name";
    pub const PARAMETER_GROUP: &str = "cache_parameter_group_name";
    pub const SECURITY_GROUP: &str = "security_group_id";
    pub const CLIENT_SECURITY_GROUP: &str = "client_security_group_id";
    pub const VPC: &str = "vpc_id";
}

/// Keys of [`Observed::outputs`].
pub mod outputs {
    pub const ENDPOINT: &str = "endpoint";
    pub const PORT: &str = "port";
    pub const ARN: &str = "arn";
    /// Internal: the security group a dependent attaches to reach the cache.
    pub const CLIENT_SECURITY_GROUP: &str = "client_security_group_id";
}

// ---------------------------------------------------------------- names

/// The deterministic names of a component's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The replication group id, or the cache cluster id in `cache-cluster` mode.
    pub cache: String,
    pub subnet_group: String,
    pub security_group: String,
    pub client_security_group: String,
}

impl Names {
    pub fn of(ctx: &ResourceContext) -> Self {
        Names {
            cache: cache_id(ctx),
            subnet_group: naming::elasticache_name(&naming::physical(
                ctx,
                "",
                limits::ELASTICACHE_SUBNET_GROUP,
            )),
            security_group: naming::physical(ctx, "-redis", limits::SECURITY_GROUP),
            client_security_group: naming::physical(ctx, "-redis-clients", limits::SECURITY_GROUP),
        }
    }
}

/// The replication group (or cache cluster) id: at most 40 characters.
pub fn cache_id(ctx: &ResourceContext) -> String {
    naming::elasticache_id(ctx)
}

/// The parameter group of `family`. The family is part of the name so that a major
/// upgrade gets a new group the cache can switch to while the old one still exists.
pub fn parameter_group_name(ctx: &ResourceContext, family: &str) -> String {
    let suffix = format!("-{}", family.replace('.', "-"));
    naming::elasticache_name(&naming::physical(ctx, &suffix, PARAMETER_GROUP_LIMIT))
}

// ---------------------------------------------------------------- engine versions

/// `major.minor` of a Redis version, the precision at which AWS versions are compared.
pub fn normalise_engine_version(version: &str) -> String {
    let version = version.trim();
    // AWS resolves `6.x` to the last Redis 6 line and reports it as 6.2.*.
    if version.eq_ignore_ascii_case("6.x") {
        return "6.2".to_string();
    }
    let is_number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if is_number(major) && is_number(minor) => {
            format!("{major}.{minor}")
        }
        _ => version.to_string(),
    }
}

/// The parameter group family of an engine version (`7.x` → `redis7`, `6.x` → `redis6.x`).
pub fn engine_family(version: &str) -> Option<&'static str> {
    let version = normalise_engine_version(version);
    match version.split('.').next().unwrap_or_default() {
        "7" => Some("redis7"),
        "6" => Some("redis6.x"),
        "5" => Some("redis5.0"),
        "4" => Some("redis4.0"),
        "3" if version == "3.2" => Some("redis3.2"),
        _ => None,
    }
}

// ---------------------------------------------------------------- fields

/// The managed fields of `spec`, normalised as `read` reports them.
pub fn desired_fields(spec: &RedisSpec) -> Value {
    json!({
        "engine_version": normalise_engine_version(&spec.engine_version),
        "mode": spec.mode,
        "node_type": spec.node_type,
        "num_nodes": spec.num_nodes,
        "automatic_failover": spec.automatic_failover,
        "port": spec.port,
        "snapshot_retention_days": spec.snapshot_retention_days,
        "transit_encryption": spec.transit_encryption,
        "at_rest_encryption": spec.at_rest_encryption,
        "parameters": spec.parameters,
    })
}

/// The managed fields as AWS reports them; `None` where it does not say.
#[derive(Clone, Debug, PartialEq)]
struct LiveFields {
    engine_version: Option<String>,
    mode: &'static str,
    node_type: Option<String>,
    num_nodes: u32,
    automatic_failover: bool,
    port: Option<u16>,
    snapshot_retention_days: u32,
    transit_encryption: bool,
    at_rest_encryption: bool,
    parameters: Option<BTreeMap<String, String>>,
}

impl LiveFields {
    fn to_json(&self) -> Value {
        json!({
            "engine_version": self.engine_version,
            "mode": self.mode,
            "node_type": self.node_type,
            "num_nodes": self.num_nodes,
            "automatic_failover": self.automatic_failover,
            "port": self.port,
            "snapshot_retention_days": self.snapshot_retention_days,
            "transit_encryption": self.transit_encryption,
            "at_rest_encryption": self.at_rest_encryption,
            "parameters": self.parameters,
        })
    }
}

fn to_u32(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// One probe's reading of a replication group or cache cluster status.
pub fn readiness(what: &str, id: &str, status: &str) -> Readiness {
    match status {
        "available" => Readiness::Ready,
        "create-failed" | "restore-failed" | "incompatible-network" | "incompatible-parameters" => {
            Readiness::Failed {
                reason: format!("{what} {id} is {status}"),
            }
        }
        "deleting" | "deleted" => Readiness::Failed {
            reason: format!("{what} {id} is being deleted"),
        },
        "" => Readiness::Waiting {
            detail: format!("{what} {id} reports no status yet"),
            progress: None,
        },
        other => Readiness::Waiting {
            detail: format!("{what} {id} is {other}"),
            progress: None,
        },
    }
}

// ---------------------------------------------------------------- live resources

/// The component's primary resource.
#[derive(Clone, Debug)]
enum Primary {
    Group(ReplicationGroup),
    Cluster(CacheCluster),
}

impl Primary {
    fn id(&self) -> &str {
        match self {
            Primary::Group(g) => g.replication_group_id().unwrap_or_default(),
            Primary::Cluster(c) => c.cache_cluster_id().unwrap_or_default(),
        }
    }

    fn arn(&self) -> Option<&str> {
        match self {
            Primary::Group(g) => g.arn(),
            Primary::Cluster(c) => c.arn(),
        }
    }

    fn status(&self) -> &str {
        match self {
            Primary::Group(g) => g.status(),
            Primary::Cluster(c) => c.cache_cluster_status(),
        }
        .unwrap_or_default()
    }

    fn mode(&self) -> &'static str {
        match self {
            Primary::Group(_) => MODE_REPLICATION_GROUP,
            Primary::Cluster(_) => MODE_CACHE_CLUSTER,
        }
    }

    fn id_key(&self) -> &'static str {
        id_key(self.mode())
    }

    fn what(&self) -> &'static str {
        what(self.mode())
    }
}

fn id_key(mode: &str) -> &'static str {
    if mode == MODE_CACHE_CLUSTER {
        ids::CACHE_CLUSTER
    } else {
        ids::REPLICATION_GROUP
    }
}

fn what(mode: &str) -> &'static str {
    if mode == MODE_CACHE_CLUSTER {
        "cache cluster"
    } else {
        "replication group"
    }
}

/// The primary resource with what only its cluster(s) tell.
#[derive(Clone, Debug)]
struct Live {
    primary: Primary,
    /// A replication group's first member cluster, when it could be described.
    member: Option<CacheCluster>,
    /// User-set parameters; `None` when the parameter group is unknown.
    parameters: Option<BTreeMap<String, String>>,
}

impl Live {
    /// The cluster that carries engine version, parameter group and subnet group.
    fn node(&self) -> Option<&CacheCluster> {
        match &self.primary {
            Primary::Cluster(c) => Some(c),
            Primary::Group(_) => self.member.as_ref(),
        }
    }

    fn parameter_group(&self) -> Option<&str> {
        self.node()?
            .cache_parameter_group()?
            .cache_parameter_group_name()
    }

    /// The address clients connect to: the primary endpoint of a replication group, the
    /// node's endpoint of a cache cluster.
    fn endpoint(&self) -> Option<&Endpoint> {
        match &self.primary {
            Primary::Group(g) => g
                .node_groups()
                .first()
                .and_then(|n| n.primary_endpoint())
                .or(g.configuration_endpoint()),
            Primary::Cluster(c) => c
                .cache_nodes()
                .first()
                .and_then(|n| n.endpoint())
                .or(c.configuration_endpoint()),
        }
    }

    fn fields(&self) -> LiveFields {
        let engine_version = self
            .node()
            .and_then(|n| n.engine_version())
            .map(normalise_engine_version);
        let port = self
            .endpoint()
            .and_then(|e| e.port())
            .and_then(|p| u16::try_from(p).ok());
        match &self.primary {
            Primary::Group(g) => LiveFields {
                engine_version,
                mode: MODE_REPLICATION_GROUP,
                node_type: g.cache_node_type().map(str::to_string),
                num_nodes: u32::try_from(g.member_clusters().len()).unwrap_or(u32::MAX),
                automatic_failover: matches!(
                    g.automatic_failover(),
                    Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
                ),
                port,
                snapshot_retention_days: to_u32(g.snapshot_retention_limit()).unwrap_or(0),
                transit_encryption: g.transit_encryption_enabled().unwrap_or(false),
                at_rest_encryption: g.at_rest_encryption_enabled().unwrap_or(false),
                parameters: self.parameters.clone(),
            },
            Primary::Cluster(c) => LiveFields {
                engine_version,
                mode: MODE_CACHE_CLUSTER,
                node_type: c.cache_node_type().map(str::to_string),
                num_nodes: to_u32(c.num_cache_nodes()).unwrap_or(1),
                automatic_failover: false,
                port,
                snapshot_retention_days: to_u32(c.snapshot_retention_limit()).unwrap_or(0),
                transit_encryption: c.transit_encryption_enabled().unwrap_or(false),
                at_rest_encryption: c.at_rest_encryption_enabled().unwrap_or(false),
                parameters: self.parameters.clone(),
            },
        }
    }
}

/// What `update` changes with ModifyReplicationGroup / ModifyCacheCluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Modification {
    node_type: Option<String>,
    engine_version: Option<String>,
    automatic_failover: Option<bool>,
    snapshot_retention_days: Option<u32>,
    parameter_group: Option<String>,
}

impl Modification {
    fn between(spec: &RedisSpec, current: &LiveFields, parameter_group: Option<String>) -> Self {
        let wanted_version = normalise_engine_version(&spec.engine_version);
        Modification {
            node_type: (current.node_type.as_deref() != Some(spec.node_type.as_str()))
                .then(|| spec.node_type.clone()),
            // An unknown live version is left alone rather than "changed" to itself.
            engine_version: current
                .engine_version
                .as_ref()
                .filter(|v| **v != wanted_version)
                .map(|_| spec.engine_version.clone()),
            automatic_failover: (current.mode == MODE_REPLICATION_GROUP
                && current.automatic_failover != spec.automatic_failover)
                .then_some(spec.automatic_failover),
            snapshot_retention_days: (current.snapshot_retention_days
                != spec.snapshot_retention_days)
                .then_some(spec.snapshot_retention_days),
            parameter_group,
        }
    }

    fn is_empty(&self) -> bool {
        *self == Modification::default()
    }
}

// ---------------------------------------------------------------- helpers

fn redis_spec(spec: &ComponentSpec) -> Result<&RedisSpec, ProviderError> {
    match spec {
        ComponentSpec::ElastiCacheRedis(redis) => Ok(redis),
        other => Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "the ElastiCacheRedis reconciler was given a {:?} spec",
                other.kind()
            ),
        )),
    }
}

/// What AWS would reject, said before anything is created.
fn check_spec(spec: &RedisSpec) -> Result<(), ProviderError> {
    let invalid = |message: &str, hint: &str| {
        Err(ProviderError::new(ErrorKind::Invalid, message).with_hint(hint))
    };
    if spec.mode == MODE_CACHE_CLUSTER && spec.at_rest_encryption {
        return invalid(
            "a `cache-cluster` cannot encrypt at rest: CreateCacheCluster has no such option",
            "set `atRestEncryption: false`, or use `cluster.mode: replication-group` \
             (a one-node replication group encrypts at rest)",
        );
    }
    if spec.mode == MODE_CACHE_CLUSTER && spec.num_nodes != 1 {
        return invalid(
            "a `cache-cluster` has exactly one node",
            "use `cluster.mode: replication-group` for replicas",
        );
    }
    if spec.automatic_failover && spec.num_nodes < 2 {
        return invalid(
            "automatic failover needs at least 2 nodes",
            "set `numNodes: 2` or more",
        );
    }
    if !spec.parameters.is_empty() && engine_family(&spec.engine_version).is_none() {
        return invalid(
            &format!(
                "no parameter group family is known for Redis {}",
                spec.engine_version
            ),
            "use engine version 4.0, 5.0, 6.x or 7.x, or remove `parameters`",
        );
    }
    Ok(())
}

/// Fields that only a replacement changes, checked so that `update` never pretends.
fn check_in_place(spec: &RedisSpec, current: &LiveFields) -> Result<(), ProviderError> {
    let mut fixed = Vec::new();
    if current.port.is_some_and(|p| p != spec.port) {
        fixed.push("port");
    }
    if current.transit_encryption != spec.transit_encryption {
        fixed.push("transit_encryption");
    }
    if current.at_rest_encryption != spec.at_rest_encryption {
        fixed.push("at_rest_encryption");
    }
    if fixed.is_empty() {
        return Ok(());
    }
    Err(ProviderError::new(
        ErrorKind::Invalid,
        format!("{} cannot change in place", fixed.join(", ")),
    )
    .with_hint("these fields replace the cache; plan again to see the replacement"))
}

fn description(ctx: &ResourceContext) -> String {
    format!("panka {}/{} {}", ctx.stack, ctx.environment, ctx.id)
}

fn aws_tags(ctx: &ResourceContext) -> Vec<Tag> {
    naming::tags(ctx)
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

fn foreign(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    found: &BTreeMap<String, String>,
) -> ProviderError {
    ProviderError::new(
        ErrorKind::Foreign,
        naming::foreign_reason(ctx, what, name, found),
    )
    .with_hint(format!(
        "rename or delete that {what}; panka changes only resources it created"
    ))
}

/// Whether state already recorded `value` under `key`, which vouches for ownership.
fn vouched(known: &KnownIds, key: &str, value: &str) -> bool {
    known.get(key).is_some_and(|v| v == value)
}

/// Sets the kind of an error the shared classification does not know (ElastiCache codes
/// such as `CacheClusterAlreadyExists` or `CacheSubnetGroupInUse`).
fn reclassify(mut error: ProviderError, kind: ErrorKind, when: bool) -> ProviderError {
    if when {
        error.kind = kind;
    }
    error
}

/// `<id>-final-<UTC timestamp>`: unique per deletion, and a valid snapshot name.
pub fn final_snapshot_name(id: &str, now: jiff::Timestamp) -> String {
    format!("{id}-final-{}", now.strftime("%Y%m%d%H%M%S"))
}

fn parameter_values<'a>(
    names: impl Iterator<Item = (&'a String, Option<&'a String>)>,
) -> Vec<ParameterNameValue> {
    names
        .map(|(name, value)| {
            ParameterNameValue::builder()
                .parameter_name(name)
                .set_parameter_value(value.cloned())
                .build()
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    Available,
    Gone,
}

// ---------------------------------------------------------------- the reconciler

/// The reconciler of `ElastiCacheRedis` components.
#[derive(Clone, Debug)]
pub struct RedisReconciler {
    elasticache: aws_sdk_elasticache::Client,
    ec2: aws_sdk_ec2::Client,
    /// Time between two probes while waiting for a state.
    poll_interval: Duration,
    /// How long one wait (until available, until gone) may take.
    wait_deadline: Duration,
    /// How long a security group still held by lingering interfaces is retried.
    security_group_patience: Duration,
}

impl RedisReconciler {
    pub fn new(elasticache: aws_sdk_elasticache::Client, ec2: aws_sdk_ec2::Client) -> Self {
        RedisReconciler {
            elasticache,
            ec2,
            poll_interval: DEFAULT_POLL_INTERVAL,
            wait_deadline: DEFAULT_WAIT_DEADLINE,
            security_group_patience: DEFAULT_SECURITY_GROUP_PATIENCE,
        }
    }

    pub fn from_clients(clients: &AwsClients) -> Self {
        Self::new(clients.elasticache.clone(), clients.ec2.clone())
    }

    /// Time between two probes while waiting (default 15 s).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long one wait may take before it is an error (default 30 min).
    pub fn with_wait_deadline(mut self, deadline: Duration) -> Self {
        self.wait_deadline = deadline;
        self
    }

    /// How long deleting a security group is retried while it is in use (default 10 min).
    pub fn with_security_group_patience(mut self, patience: Duration) -> Self {
        self.security_group_patience = patience;
        self
    }

    // ------------------------------------------------------------ describing

    async fn describe_group(&self, id: &str) -> Result<Option<ReplicationGroup>, ProviderError> {
        describe::or_none(
            self.elasticache
                .describe_replication_groups()
                .replication_group_id(id)
                .send(),
            Missing::Fault(DescribeReplicationGroupsError::is_replication_group_not_found_fault),
            || format!("cannot describe replication group {id}"),
            |out| out.replication_groups().first().cloned(),
        )
        .await
    }

    async fn describe_cluster(&self, id: &str) -> Result<Option<CacheCluster>, ProviderError> {
        describe::or_none(
            self.elasticache
                .describe_cache_clusters()
                .cache_cluster_id(id)
                .show_cache_node_info(true)
                .send(),
            Missing::Fault(DescribeCacheClustersError::is_cache_cluster_not_found_fault),
            || format!("cannot describe cache cluster {id}"),
            |out| out.cache_clusters().first().cloned(),
        )
        .await
    }

    async fn describe_subnet_group(
        &self,
        name: &str,
    ) -> Result<Option<CacheSubnetGroup>, ProviderError> {
        describe::or_none(
            self.elasticache
                .describe_cache_subnet_groups()
                .cache_subnet_group_name(name)
                .send(),
            Missing::Fault(DescribeCacheSubnetGroupsError::is_cache_subnet_group_not_found_fault),
            || format!("cannot describe cache subnet group {name}"),
            |out| out.cache_subnet_groups().first().cloned(),
        )
        .await
    }

    async fn describe_parameter_group(
        &self,
        name: &str,
    ) -> Result<Option<CacheParameterGroup>, ProviderError> {
        describe::or_none(
            self.elasticache
                .describe_cache_parameter_groups()
                .cache_parameter_group_name(name)
                .send(),
            Missing::Fault(
                DescribeCacheParameterGroupsError::is_cache_parameter_group_not_found_fault,
            ),
            || format!("cannot describe cache parameter group {name}"),
            |out| out.cache_parameter_groups().first().cloned(),
        )
        .await
    }

    /// The parameters set by the user (not the engine defaults) in group `name`.
    async fn user_parameters(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let mut parameters = BTreeMap::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .elasticache
                .describe_cache_parameters()
                .cache_parameter_group_name(name)
                .source("user")
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| {
                    provider_error(&format!("cannot read the parameters of {name}"), &e)
                })?;
            for p in out.parameters() {
                if let (Some(key), Some(value)) = (p.parameter_name(), p.parameter_value()) {
                    parameters.insert(key.to_string(), value.to_string());
                }
            }
            match out.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(parameters),
            }
        }
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .elasticache
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot read the tags of {arn}"), &e))?;
        Ok(out
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    /// `Foreign` unless the resource carries this component's tags.
    async fn ensure_owned(
        &self,
        ctx: &ResourceContext,
        what: &str,
        name: &str,
        arn: Option<&str>,
    ) -> Result<(), ProviderError> {
        let found = match arn {
            Some(arn) => self.tags(arn).await?,
            None => BTreeMap::new(),
        };
        if naming::owned_by(ctx, &found) {
            Ok(())
        } else {
            Err(foreign(ctx, what, name, &found))
        }
    }

    /// The primary resource: by the recorded id, else by the deterministic name in either
    /// mode (state may be lost).
    async fn locate(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Primary>, ProviderError> {
        if let Some(id) = known.get(ids::REPLICATION_GROUP) {
            return self.locate_mode(MODE_REPLICATION_GROUP, id).await;
        }
        if let Some(id) = known.get(ids::CACHE_CLUSTER) {
            return self.locate_mode(MODE_CACHE_CLUSTER, id).await;
        }
        let id = cache_id(ctx);
        match self.locate_mode(MODE_REPLICATION_GROUP, &id).await? {
            Some(group) => Ok(Some(group)),
            None => self.locate_mode(MODE_CACHE_CLUSTER, &id).await,
        }
    }

    async fn locate_mode(&self, mode: &str, id: &str) -> Result<Option<Primary>, ProviderError> {
        if mode == MODE_CACHE_CLUSTER {
            Ok(self.describe_cluster(id).await?.map(Primary::Cluster))
        } else {
            Ok(self.describe_group(id).await?.map(Primary::Group))
        }
    }

    /// Adds what only the cache's clusters and parameter group tell.
    async fn inspect(&self, primary: Primary) -> Result<Live, ProviderError> {
        let member = match &primary {
            Primary::Group(g) => match g.member_clusters().first() {
                Some(id) => self.describe_cluster(id).await?,
                None => None,
            },
            Primary::Cluster(_) => None,
        };
        let mut live = Live {
            primary,
            member,
            parameters: None,
        };
        live.parameters = match live.parameter_group().map(str::to_string) {
            None => None,
            Some(name) if name.starts_with("default.") => Some(BTreeMap::new()),
            Some(name) => Some(self.user_parameters(&name).await?),
        };
        Ok(live)
    }

    /// Physical ids besides the primary's: recorded ones first, then what AWS says.
    async fn supporting_ids(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        live: &Live,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let names = Names::of(ctx);
        let mut found = BTreeMap::new();
        found.insert(
            live.primary.id_key().to_string(),
            live.primary.id().to_string(),
        );
        let subnet_group = live
            .node()
            .and_then(|n| n.cache_subnet_group_name())
            .map(str::to_string)
            .or_else(|| known.get(ids::SUBNET_GROUP).cloned())
            .unwrap_or(names.subnet_group.clone());
        found.insert(ids::SUBNET_GROUP.to_string(), subnet_group);
        let parameter_group = match live.parameter_group() {
            Some(name) if !name.starts_with("default.") => Some(name.to_string()),
            Some(_) => None,
            None => known.get(ids::PARAMETER_GROUP).cloned(),
        };
        if let Some(name) = parameter_group {
            found.insert(ids::PARAMETER_GROUP.to_string(), name);
        }
        let network_keys = [ids::VPC, ids::SECURITY_GROUP, ids::CLIENT_SECURITY_GROUP];
        if network_keys.iter().all(|k| known.contains_key(*k)) {
            for key in network_keys {
                if let Some(value) = known.get(key) {
                    found.insert(key.to_string(), value.clone());
                }
            }
            return Ok(found);
        }
        let vpc_id = match known.get(ids::VPC) {
            Some(vpc) => vpc.clone(),
            None => {
                network::resolve(&self.ec2, ctx.network.as_ref())
                    .await?
                    .vpc_id
            }
        };
        for (key, name) in [
            (ids::SECURITY_GROUP, &names.security_group),
            (ids::CLIENT_SECURITY_GROUP, &names.client_security_group),
        ] {
            if let Some(group) = network::find_security_group(&self.ec2, &vpc_id, name).await? {
                found.insert(key.to_string(), group.id);
            }
        }
        found.insert(ids::VPC.to_string(), vpc_id);
        Ok(found)
    }

    fn observe(live: &Live, physical_ids: BTreeMap<String, String>) -> Observed {
        let mut outs = BTreeMap::new();
        if let Some(endpoint) = live.endpoint() {
            if let Some(address) = endpoint.address() {
                outs.insert(outputs::ENDPOINT.to_string(), address.to_string());
            }
            if let Some(port) = endpoint.port() {
                outs.insert(outputs::PORT.to_string(), port.to_string());
            }
        }
        if let Some(arn) = live.primary.arn() {
            outs.insert(outputs::ARN.to_string(), arn.to_string());
        }
        if let Some(group) = physical_ids.get(ids::CLIENT_SECURITY_GROUP) {
            outs.insert(outputs::CLIENT_SECURITY_GROUP.to_string(), group.clone());
        }
        Observed {
            physical_ids,
            fields: live.fields().to_json(),
            outputs: outs,
        }
    }

    // ------------------------------------------------------------ waiting

    /// Polls until the cache is available or gone, bounded by `wait_deadline`.
    async fn wait_for(&self, mode: &str, id: &str, goal: Goal) -> Result<(), ProviderError> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.wait_deadline;
        loop {
            let status = self
                .locate_mode(mode, id)
                .await?
                .map(|p| p.status().to_string());
            match (goal, status.as_deref()) {
                (Goal::Gone, None) | (Goal::Available, Some("available")) => return Ok(()),
                (Goal::Available, None) => {
                    return Err(ProviderError::new(
                        ErrorKind::NotFound,
                        format!("{} {id} disappeared while panka waited for it", what(mode)),
                    ));
                }
                (Goal::Available, Some(status)) => {
                    if let Readiness::Failed { reason } = readiness(what(mode), id, status) {
                        return Err(ProviderError::new(ErrorKind::Other, reason));
                    }
                }
                (Goal::Gone, Some(_)) => {}
            }
            if tokio::time::Instant::now() + self.poll_interval > deadline {
                return Err(timeout(
                    mode,
                    id,
                    goal,
                    status.as_deref(),
                    started.elapsed(),
                ));
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    // ------------------------------------------------------------ creating

    /// Every resource with one of this component's names must be its own, checked before
    /// anything is created so that a refusal changes nothing. Returns the primary resource
    /// when it exists (to adopt).
    async fn preflight(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        vpc_id: &str,
        spec: &RedisSpec,
    ) -> Result<Option<Primary>, ProviderError> {
        let existing = self.locate_mode(spec.mode, &names.cache).await?;
        if let Some(primary) = &existing {
            self.ensure_owned(ctx, primary.what(), primary.id(), primary.arn())
                .await?;
        }
        if let Some(group) = self.describe_subnet_group(&names.subnet_group).await? {
            self.ensure_owned(ctx, "cache subnet group", &names.subnet_group, group.arn())
                .await?;
        }
        if let Some(name) = wanted_parameter_group(ctx, spec)
            && let Some(group) = self.describe_parameter_group(&name).await?
        {
            self.ensure_owned(ctx, "cache parameter group", &name, group.arn())
                .await?;
        }
        for name in [&names.client_security_group, &names.security_group] {
            if let Some(group) = network::find_security_group(&self.ec2, vpc_id, name).await?
                && !naming::owned_by(ctx, &group.tags)
            {
                return Err(foreign(ctx, "security group", name, &group.tags));
            }
        }
        Ok(existing)
    }

    async fn ensure_subnet_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
        subnet_ids: &[String],
    ) -> Result<(), ProviderError> {
        if let Some(group) = self.describe_subnet_group(name).await? {
            return self
                .converge_subnet_group(ctx, name, &group, subnet_ids)
                .await;
        }
        let created = self
            .elasticache
            .create_cache_subnet_group()
            .cache_subnet_group_name(name)
            .cache_subnet_group_description(description(ctx))
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .set_tags(Some(aws_tags(ctx)))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another apply won the race: fine if it was this component's.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_cache_subnet_group_already_exists_fault()) =>
            {
                let arn = self
                    .describe_subnet_group(name)
                    .await?
                    .and_then(|g| g.arn().map(str::to_string));
                self.ensure_owned(ctx, "cache subnet group", name, arn.as_deref())
                    .await
            }
            Err(e) => Err(provider_error(
                &format!("cannot create cache subnet group {name}"),
                &e,
            )),
        }
    }

    /// An existing (adopted or earlier) subnet group whose subnets are not the wanted ones
    /// is changed in place: the cache's nodes stay where they are until replaced, and new
    /// nodes go into the wanted subnets.
    async fn converge_subnet_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
        group: &CacheSubnetGroup,
        subnet_ids: &[String],
    ) -> Result<(), ProviderError> {
        let mut current: Vec<&str> = group
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier())
            .collect();
        current.sort_unstable();
        let mut wanted: Vec<&str> = subnet_ids.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        if current == wanted {
            return Ok(());
        }
        self.ensure_owned(ctx, "cache subnet group", name, group.arn())
            .await?;
        self.elasticache
            .modify_cache_subnet_group()
            .cache_subnet_group_name(name)
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                provider_error(
                    &format!(
                        "cannot move cache subnet group {name} from {} to {}",
                        current.join(", "),
                        wanted.join(", ")
                    ),
                    &e,
                )
            })
    }

    /// Creates (or adopts) the parameter group and makes its user parameters exactly
    /// `spec.parameters`. `None` when the spec sets none.
    async fn ensure_parameter_group(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
    ) -> Result<Option<String>, ProviderError> {
        let (Some(name), Some(family)) = (
            wanted_parameter_group(ctx, spec),
            engine_family(&spec.engine_version),
        ) else {
            return Ok(None);
        };
        match self.describe_parameter_group(&name).await? {
            Some(group) => {
                self.ensure_owned(ctx, "cache parameter group", &name, group.arn())
                    .await?;
            }
            None => {
                let created = self
                    .elasticache
                    .create_cache_parameter_group()
                    .cache_parameter_group_name(&name)
                    .cache_parameter_group_family(family)
                    .description(description(ctx))
                    .set_tags(Some(aws_tags(ctx)))
                    .send()
                    .await;
                if let Err(e) = created {
                    let raced = e
                        .as_service_error()
                        .is_some_and(|s| s.is_cache_parameter_group_already_exists_fault());
                    if !raced {
                        return Err(provider_error(
                            &format!("cannot create cache parameter group {name}"),
                            &e,
                        ));
                    }
                }
            }
        }
        self.set_parameters(&name, &spec.parameters).await?;
        Ok(Some(name))
    }

    async fn set_parameters(
        &self,
        name: &str,
        wanted: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let current = self.user_parameters(name).await?;
        let stale = parameter_values(
            current
                .keys()
                .filter(|k| !wanted.contains_key(*k))
                .map(|k| (k, None)),
        );
        for chunk in stale.chunks(PARAMETERS_PER_CALL) {
            self.elasticache
                .reset_cache_parameter_group()
                .cache_parameter_group_name(name)
                .set_parameter_name_values(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot reset parameters of {name}"), &e))?;
        }
        let changed = parameter_values(
            wanted
                .iter()
                .filter(|(k, v)| current.get(*k) != Some(*v))
                .map(|(k, v)| (k, Some(v))),
        );
        for chunk in changed.chunks(PARAMETERS_PER_CALL) {
            self.elasticache
                .modify_cache_parameter_group()
                .cache_parameter_group_name(name)
                .set_parameter_name_values(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot set parameters of {name}"), &e))?;
        }
        Ok(())
    }

    async fn create_primary(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        names: &Names,
        security_group: &str,
        parameter_group: Option<&str>,
    ) -> Result<(), ProviderError> {
        let created = if spec.mode == MODE_CACHE_CLUSTER {
            self.create_cluster(ctx, spec, names, security_group, parameter_group)
                .await
        } else {
            self.create_group(ctx, spec, names, security_group, parameter_group)
                .await
        };
        match created {
            Err(e) if e.kind == ErrorKind::AlreadyExists => {
                // Another apply won the race: adopt it if it is this component's.
                match self.locate_mode(spec.mode, &names.cache).await? {
                    Some(p) => self.ensure_owned(ctx, p.what(), p.id(), p.arn()).await,
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    async fn create_group(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        names: &Names,
        security_group: &str,
        parameter_group: Option<&str>,
    ) -> Result<(), ProviderError> {
        let failover = spec.automatic_failover && spec.num_nodes > 1;
        self.elasticache
            .create_replication_group()
            .replication_group_id(&names.cache)
            .replication_group_description(description(ctx))
            .engine("redis")
            .engine_version(&spec.engine_version)
            .cache_node_type(&spec.node_type)
            .num_cache_clusters(to_i32(spec.num_nodes))
            .automatic_failover_enabled(failover)
            .multi_az_enabled(failover)
            .port(i32::from(spec.port))
            .cache_subnet_group_name(&names.subnet_group)
            .security_group_ids(security_group)
            .transit_encryption_enabled(spec.transit_encryption)
            .at_rest_encryption_enabled(spec.at_rest_encryption)
            .snapshot_retention_limit(to_i32(spec.snapshot_retention_days))
            .set_cache_parameter_group_name(parameter_group.map(str::to_string))
            .set_tags(Some(aws_tags(ctx)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                provider_error(
                    &format!("cannot create replication group {}", names.cache),
                    &e,
                )
            })
    }

    async fn create_cluster(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        names: &Names,
        security_group: &str,
        parameter_group: Option<&str>,
    ) -> Result<(), ProviderError> {
        self.elasticache
            .create_cache_cluster()
            .cache_cluster_id(&names.cache)
            .engine("redis")
            .engine_version(&spec.engine_version)
            .cache_node_type(&spec.node_type)
            .num_cache_nodes(1)
            .port(i32::from(spec.port))
            .cache_subnet_group_name(&names.subnet_group)
            .security_group_ids(security_group)
            .transit_encryption_enabled(spec.transit_encryption)
            .snapshot_retention_limit(to_i32(spec.snapshot_retention_days))
            .set_cache_parameter_group_name(parameter_group.map(str::to_string))
            .set_tags(Some(aws_tags(ctx)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let raced = e
                    .as_service_error()
                    .is_some_and(|s| s.is_cache_cluster_already_exists_fault());
                reclassify(
                    provider_error(&format!("cannot create cache cluster {}", names.cache), &e),
                    ErrorKind::AlreadyExists,
                    raced,
                )
            })
    }

    // ------------------------------------------------------------ updating

    /// The parameter group the cache must switch to, if any: ours when the spec sets
    /// parameters, else the family's default when a custom group is in use.
    async fn parameter_group_change(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        live: &Live,
    ) -> Result<Option<String>, ProviderError> {
        let in_use = live.parameter_group();
        let wanted = match self.ensure_parameter_group(ctx, spec).await? {
            Some(ours) => ours,
            None => match (in_use, engine_family(&spec.engine_version)) {
                (Some(current), Some(family)) if !current.starts_with("default.") => {
                    format!("default.{family}")
                }
                _ => return Ok(None),
            },
        };
        Ok((in_use != Some(wanted.as_str())).then_some(wanted))
    }

    async fn update_group(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        id: &str,
        current: &LiveFields,
        modification: Modification,
    ) -> Result<(), ProviderError> {
        let (have, want) = (current.num_nodes, spec.num_nodes);
        // Replicas first when adding (failover needs them), last when removing (failover
        // must be off before the group shrinks to one node).
        if want > have {
            self.change_replica_count(id, want, true).await?;
            self.wait_for(MODE_REPLICATION_GROUP, id, Goal::Available)
                .await?;
        }
        if !modification.is_empty() {
            self.modify_group(ctx, id, &modification).await?;
            if want < have {
                self.wait_for(MODE_REPLICATION_GROUP, id, Goal::Available)
                    .await?;
            }
        }
        if want < have {
            self.change_replica_count(id, want, false).await?;
        }
        Ok(())
    }

    async fn change_replica_count(
        &self,
        id: &str,
        nodes: u32,
        increase: bool,
    ) -> Result<(), ProviderError> {
        let replicas = to_i32(nodes.saturating_sub(1));
        // Both calls support only ApplyImmediately=true.
        if increase {
            self.elasticache
                .increase_replica_count()
                .replication_group_id(id)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| provider_error(&format!("cannot add replicas to {id}"), &e))
        } else {
            self.elasticache
                .decrease_replica_count()
                .replication_group_id(id)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| provider_error(&format!("cannot remove replicas from {id}"), &e))
        }
    }

    async fn modify_group(
        &self,
        ctx: &ResourceContext,
        id: &str,
        m: &Modification,
    ) -> Result<(), ProviderError> {
        self.elasticache
            .modify_replication_group()
            .replication_group_id(id)
            .set_cache_node_type(m.node_type.clone())
            .set_engine_version(m.engine_version.clone())
            .set_automatic_failover_enabled(m.automatic_failover)
            .set_multi_az_enabled(m.automatic_failover)
            .set_snapshot_retention_limit(m.snapshot_retention_days.map(to_i32))
            .set_cache_parameter_group_name(m.parameter_group.clone())
            // Production changes wait for the maintenance window.
            .apply_immediately(!ctx.production)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(&format!("cannot modify replication group {id}"), &e))
    }

    async fn modify_cluster(
        &self,
        ctx: &ResourceContext,
        id: &str,
        m: &Modification,
    ) -> Result<(), ProviderError> {
        if m.is_empty() {
            return Ok(());
        }
        self.elasticache
            .modify_cache_cluster()
            .cache_cluster_id(id)
            .set_cache_node_type(m.node_type.clone())
            .set_engine_version(m.engine_version.clone())
            .set_snapshot_retention_limit(m.snapshot_retention_days.map(to_i32))
            .set_cache_parameter_group_name(m.parameter_group.clone())
            .apply_immediately(!ctx.production)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(&format!("cannot modify cache cluster {id}"), &e))
    }

    // ------------------------------------------------------------ deleting

    async fn delete_primary(
        &self,
        primary: &Primary,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let (mode, id) = (primary.mode(), primary.id());
        match primary.status() {
            // An earlier run asked already.
            "deleting" => {}
            // ElastiCache refuses to delete while a change is in progress.
            "creating" | "modifying" | "snapshotting" => {
                self.wait_for(mode, id, Goal::Available).await?;
                self.request_deletion(primary, options).await?;
            }
            _ => self.request_deletion(primary, options).await?,
        }
        self.wait_for(mode, id, Goal::Gone).await
    }

    async fn request_deletion(
        &self,
        primary: &Primary,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let id = primary.id();
        let snapshot = options
            .final_snapshot
            .then(|| final_snapshot_name(id, jiff::Timestamp::now()));
        match primary {
            Primary::Group(_) => match self
                .elasticache
                .delete_replication_group()
                .replication_group_id(id)
                .set_final_snapshot_identifier(snapshot)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_replication_group_not_found_fault()) =>
                {
                    Ok(())
                }
                Err(e) => Err(provider_error(
                    &format!("cannot delete replication group {id}"),
                    &e,
                )),
            },
            Primary::Cluster(_) => match self
                .elasticache
                .delete_cache_cluster()
                .cache_cluster_id(id)
                .set_final_snapshot_identifier(snapshot)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_cache_cluster_not_found_fault()) =>
                {
                    Ok(())
                }
                Err(e) => {
                    let busy = e
                        .as_service_error()
                        .is_some_and(|s| s.is_invalid_cache_cluster_state_fault());
                    Err(reclassify(
                        provider_error(&format!("cannot delete cache cluster {id}"), &e),
                        ErrorKind::Conflict,
                        busy,
                    ))
                }
            },
        }
    }

    async fn delete_parameter_group(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        name: &str,
    ) -> Result<(), ProviderError> {
        let Some(group) = self.describe_parameter_group(name).await? else {
            return Ok(());
        };
        if !vouched(known, ids::PARAMETER_GROUP, name) {
            self.ensure_owned(ctx, "cache parameter group", name, group.arn())
                .await?;
        }
        match self
            .elasticache
            .delete_cache_parameter_group()
            .cache_parameter_group_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_cache_parameter_group_not_found_fault()) =>
            {
                Ok(())
            }
            Err(e) => {
                let busy = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_cache_parameter_group_state_fault());
                Err(reclassify(
                    provider_error(&format!("cannot delete cache parameter group {name}"), &e),
                    ErrorKind::Conflict,
                    busy,
                ))
            }
        }
    }

    async fn delete_subnet_group(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        name: &str,
    ) -> Result<(), ProviderError> {
        let Some(group) = self.describe_subnet_group(name).await? else {
            return Ok(());
        };
        if !vouched(known, ids::SUBNET_GROUP, name) {
            self.ensure_owned(ctx, "cache subnet group", name, group.arn())
                .await?;
        }
        match self
            .elasticache
            .delete_cache_subnet_group()
            .cache_subnet_group_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_cache_subnet_group_not_found_fault()) =>
            {
                Ok(())
            }
            Err(e) => {
                let busy = e
                    .as_service_error()
                    .is_some_and(|s| s.is_cache_subnet_group_in_use());
                Err(reclassify(
                    provider_error(&format!("cannot delete cache subnet group {name}"), &e),
                    ErrorKind::Conflict,
                    busy,
                ))
            }
        }
    }

    async fn delete_security_group(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        vpc_id: &str,
        key: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        let Some(group) = network::find_security_group(&self.ec2, vpc_id, name).await? else {
            return Ok(());
        };
        if !vouched(known, key, &group.id) && !naming::owned_by(ctx, &group.tags) {
            return Err(foreign(ctx, "security group", name, &group.tags));
        }
        network::delete_security_group(&self.ec2, vpc_id, name, self.security_group_patience).await
    }
}

/// The parameter group `spec` asks for, by name; `None` without parameters.
fn wanted_parameter_group(ctx: &ResourceContext, spec: &RedisSpec) -> Option<String> {
    if spec.parameters.is_empty() {
        return None;
    }
    engine_family(&spec.engine_version).map(|family| parameter_group_name(ctx, family))
}

fn timeout(
    mode: &str,
    id: &str,
    goal: Goal,
    status: Option<&str>,
    waited: Duration,
) -> ProviderError {
    let status = status.unwrap_or("gone");
    let (target, hint) = match goal {
        Goal::Available => (
            "available",
            "AWS is still working on it; run the command again to go on waiting",
        ),
        Goal::Gone => (
            "deleted",
            "the deletion goes on in AWS; run the command again to finish removing the \
             subnet group and security groups once it is gone",
        ),
    };
    ProviderError::new(
        ErrorKind::TimedOut,
        format!(
            "{} {id} is still `{status}` after {}s of waiting to be {target}",
            what(mode),
            waited.as_secs()
        ),
    )
    .with_hint(hint)
}

#[async_trait]
impl Reconciler for RedisReconciler {
    fn kind(&self) -> ComponentKind {
        ComponentKind::ElastiCacheRedis
    }

    fn normalise(&self, _ctx: &ResourceContext, spec: &ComponentSpec, _inputs: &Inputs) -> Value {
        match spec {
            ComponentSpec::ElastiCacheRedis(redis) => desired_fields(redis),
            _ => Value::Null,
        }
    }

    fn field_change(&self, path: &str) -> FieldChange {
        match path.split('.').next().unwrap_or(path) {
            "mode" | "port" | "transit_encryption" | "at_rest_encryption" => FieldChange::Replace,
            _ => FieldChange::InPlace,
        }
    }

    async fn read(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        let Some(primary) = self.locate(ctx, known).await? else {
            return Ok(None);
        };
        if !vouched(known, primary.id_key(), primary.id()) {
            self.ensure_owned(ctx, primary.what(), primary.id(), primary.arn())
                .await?;
        }
        let live = self.inspect(primary).await?;
        let physical_ids = self.supporting_ids(ctx, known, &live).await?;
        Ok(Some(Self::observe(&live, physical_ids)))
    }

    async fn create(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let spec = redis_spec(spec)?;
        check_spec(spec)?;
        let names = Names::of(ctx);
        let net = network::resolve(&self.ec2, ctx.network.as_ref()).await?;
        let mut existing = self.preflight(ctx, &names, &net.vpc_id, spec).await?;
        if let Some(primary) = existing.take_if(|p| p.status() == "deleting") {
            // The previous incarnation (a replacement) must be gone before the name is free.
            self.wait_for(primary.mode(), primary.id(), Goal::Gone)
                .await?;
        }
        let step = progress::step("Creating security groups");
        let client_group = network::ensure_security_group(
            &self.ec2,
            ctx,
            &net.vpc_id,
            &names.client_security_group,
            &format!("Clients of Redis {}", names.cache),
            &[],
        )
        .await?;
        let group = network::ensure_security_group(
            &self.ec2,
            ctx,
            &net.vpc_id,
            &names.security_group,
            &format!(
                "Redis {}: port {} from its clients only",
                names.cache, spec.port
            ),
            &[IngressRule {
                port: spec.port,
                source: Source::Group(client_group.clone()),
            }],
        )
        .await?;
        step.done();
        let step = progress::step("Creating cache subnet group");
        self.ensure_subnet_group(ctx, &names.subnet_group, &net.private_subnet_ids)
            .await?;
        step.done();
        let step = progress::step("Creating parameter group");
        let parameter_group = self.ensure_parameter_group(ctx, spec).await?;
        step.done();
        if existing.is_none() {
            let step = progress::step(format!("Creating {}", what(spec.mode)));
            self.create_primary(ctx, spec, &names, &group, parameter_group.as_deref())
                .await?;
            step.done();
        }
        let mut known = KnownIds::from([
            (id_key(spec.mode).to_string(), names.cache.clone()),
            (ids::SUBNET_GROUP.to_string(), names.subnet_group.clone()),
            (ids::SECURITY_GROUP.to_string(), group),
            (ids::CLIENT_SECURITY_GROUP.to_string(), client_group),
            (ids::VPC.to_string(), net.vpc_id),
        ]);
        if let Some(name) = parameter_group {
            known.insert(ids::PARAMETER_GROUP.to_string(), name);
        }
        self.read(ctx, &known).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "{} {} vanished right after it was created",
                    what(spec.mode),
                    names.cache
                ),
            )
        })
    }

    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let spec = redis_spec(spec)?;
        check_spec(spec)?;
        let id = cache_id(ctx);
        let Some(primary) = self.locate_mode(spec.mode, &id).await? else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("{} {id} does not exist", what(spec.mode)),
            )
            .with_hint("a change of `cluster.mode` replaces the cache; plan again"));
        };
        let live = self.inspect(primary).await?;
        let current = live.fields();
        check_in_place(spec, &current)?;
        let parameter_group = self.parameter_group_change(ctx, spec, &live).await?;
        let modification = Modification::between(spec, &current, parameter_group);
        match live.primary {
            Primary::Group(_) => {
                self.update_group(ctx, spec, &id, &current, modification)
                    .await?
            }
            Primary::Cluster(_) => self.modify_cluster(ctx, &id, &modification).await?,
        }
        let known = KnownIds::from([(id_key(spec.mode).to_string(), id.clone())]);
        self.read(ctx, &known).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("{} {id} vanished during the update", what(spec.mode)),
            )
        })
    }

    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let names = Names::of(ctx);
        let mut parameter_group = known.get(ids::PARAMETER_GROUP).cloned();
        if let Some(primary) = self.locate(ctx, known).await? {
            // Never delete what cannot be shown to be this component's.
            if !vouched(known, primary.id_key(), primary.id()) {
                self.ensure_owned(ctx, primary.what(), primary.id(), primary.arn())
                    .await?;
            }
            let live = self.inspect(primary).await?;
            if parameter_group.is_none() {
                parameter_group = live
                    .parameter_group()
                    .filter(|name| !name.starts_with("default."))
                    .map(str::to_string);
            }
            self.delete_primary(&live.primary, options).await?;
        }
        if let Some(name) = parameter_group {
            self.delete_parameter_group(ctx, known, &name).await?;
        }
        let subnet_group = known.get(ids::SUBNET_GROUP).unwrap_or(&names.subnet_group);
        self.delete_subnet_group(ctx, known, subnet_group).await?;
        let vpc_id = match known.get(ids::VPC) {
            Some(vpc) => vpc.clone(),
            None => {
                network::resolve(&self.ec2, ctx.network.as_ref())
                    .await?
                    .vpc_id
            }
        };
        // The cache's group first: its rule names the clients group, which holds it.
        self.delete_security_group(
            ctx,
            known,
            &vpc_id,
            ids::SECURITY_GROUP,
            &names.security_group,
        )
        .await?;
        self.delete_security_group(
            ctx,
            known,
            &vpc_id,
            ids::CLIENT_SECURITY_GROUP,
            &names.client_security_group,
        )
        .await
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        match self.locate(ctx, known).await? {
            Some(primary) => {
                let ready = readiness(primary.what(), primary.id(), primary.status());
                let step = format!("Waiting for the {} to be available", primary.what());
                match &ready {
                    Readiness::Waiting { .. } => progress::waiting(&step, primary.status(), None),
                    Readiness::Ready => progress::finish(&step),
                    Readiness::Failed { .. } => {}
                }
                Ok(ready)
            }
            None => Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "no replication group or cache cluster {} exists",
                    cache_id(ctx)
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_security_groups::{
        DescribeSecurityGroupsInput, DescribeSecurityGroupsOutput,
    };
    use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
    use aws_sdk_elasticache::config::retry::RetryConfig;
    use aws_sdk_elasticache::operation::create_cache_parameter_group::CreateCacheParameterGroupOutput;
    use aws_sdk_elasticache::operation::create_cache_subnet_group::CreateCacheSubnetGroupOutput;
    use aws_sdk_elasticache::operation::create_replication_group::CreateReplicationGroupOutput;
    use aws_sdk_elasticache::operation::decrease_replica_count::DecreaseReplicaCountOutput;
    use aws_sdk_elasticache::operation::delete_cache_subnet_group::DeleteCacheSubnetGroupOutput;
    use aws_sdk_elasticache::operation::delete_replication_group::DeleteReplicationGroupOutput;
    use aws_sdk_elasticache::operation::describe_cache_clusters::{
        DescribeCacheClustersError, DescribeCacheClustersOutput,
    };
    use aws_sdk_elasticache::operation::describe_cache_parameter_groups::{
        DescribeCacheParameterGroupsError, DescribeCacheParameterGroupsOutput,
    };
    use aws_sdk_elasticache::operation::describe_cache_parameters::DescribeCacheParametersOutput;
    use aws_sdk_elasticache::operation::describe_cache_subnet_groups::{
        DescribeCacheSubnetGroupsError, DescribeCacheSubnetGroupsOutput,
    };
    use aws_sdk_elasticache::operation::describe_replication_groups::{
        DescribeReplicationGroupsError, DescribeReplicationGroupsOutput,
    };
    use aws_sdk_elasticache::operation::increase_replica_count::IncreaseReplicaCountOutput;
    use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_elasticache::operation::modify_cache_parameter_group::ModifyCacheParameterGroupOutput;
    use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
    use aws_sdk_elasticache::types::error::{
        CacheClusterNotFoundFault, CacheParameterGroupNotFoundFault, CacheSubnetGroupNotFoundFault,
        ReplicationGroupNotFoundFault,
    };
    use aws_sdk_elasticache::types::{CacheParameterGroupStatus, NodeGroup, Parameter};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use panka_core::model::ComponentId;

    type Ec = aws_sdk_elasticache::Client;
    type Ec2 = aws_sdk_ec2::Client;

    const VPC: &str = "vpc-0a1b2c";
    const ACCOUNT: &str = "111122223333";

    fn ctx() -> ResourceContext {
        ResourceContext {
            stack: "shop".into(),
            environment: "development".into(),
            id: ComponentId::new("web", "cache"),
            region: "us-east-1".into(),
            production: false,
            network: None,
        }
    }

    fn spec(num_nodes: u32, node_type: &str) -> RedisSpec {
        RedisSpec {
            engine_version: "7.0".into(),
            mode: MODE_REPLICATION_GROUP,
            node_type: node_type.into(),
            num_nodes,
            automatic_failover: num_nodes > 1,
            port: 6379,
            snapshot_retention_days: 1,
            transit_encryption: true,
            at_rest_encryption: true,
            parameters: BTreeMap::new(),
            num_nodes_span: None,
        }
    }

    fn component(spec: RedisSpec) -> ComponentSpec {
        ComponentSpec::ElastiCacheRedis(spec)
    }

    fn id() -> String {
        cache_id(&ctx())
    }

    fn group_sg() -> String {
        format!("sg-{}", Names::of(&ctx()).security_group)
    }

    fn client_sg() -> String {
        format!("sg-{}", Names::of(&ctx()).client_security_group)
    }

    /// State as `create` records it: no lookups beyond the cache itself.
    fn known() -> KnownIds {
        let names = Names::of(&ctx());
        KnownIds::from([
            (ids::REPLICATION_GROUP.to_string(), id()),
            (ids::SUBNET_GROUP.to_string(), names.subnet_group),
            (ids::SECURITY_GROUP.to_string(), group_sg()),
            (ids::CLIENT_SECURITY_GROUP.to_string(), client_sg()),
            (ids::VPC.to_string(), VPC.to_string()),
        ])
    }

    /// A replication group as AWS describes one (engine version only on its members).
    fn group(status: &str, members: usize, node_type: &str, failover: bool) -> ReplicationGroup {
        let id = id();
        let mut builder = ReplicationGroup::builder()
            .replication_group_id(&id)
            .status(status)
            .cache_node_type(node_type)
            .automatic_failover(if failover {
                AutomaticFailoverStatus::Enabled
            } else {
                AutomaticFailoverStatus::Disabled
            })
            .snapshot_retention_limit(1)
            .transit_encryption_enabled(true)
            .at_rest_encryption_enabled(true)
            .arn(format!(
                "arn:aws:elasticache:us-east-1:{ACCOUNT}:replicationgroup:{id}"
            ))
            .node_groups(
                NodeGroup::builder()
                    .node_group_id("0001")
                    .primary_endpoint(
                        Endpoint::builder()
                            .address(format!("master.{id}.x1y2z3.use1.cache.amazonaws.com"))
                            .port(6379)
                            .build(),
                    )
                    .build(),
            );
        for i in 1..=members {
            builder = builder.member_clusters(format!("{id}-{i:03}"));
        }
        builder.build()
    }

    fn member(version: &str, parameter_group: &str) -> CacheCluster {
        CacheCluster::builder()
            .cache_cluster_id(format!("{}-001", id()))
            .engine_version(version)
            .cache_subnet_group_name(Names::of(&ctx()).subnet_group)
            .cache_parameter_group(
                CacheParameterGroupStatus::builder()
                    .cache_parameter_group_name(parameter_group)
                    .build(),
            )
            .build()
    }

    fn groups_out(group: ReplicationGroup) -> DescribeReplicationGroupsOutput {
        DescribeReplicationGroupsOutput::builder()
            .replication_groups(group)
            .build()
    }

    fn describe_group(status: &'static str, members: usize, node_type: &'static str) -> Rule {
        mock!(Ec::describe_replication_groups)
            .then_output(move || groups_out(group(status, members, node_type, members > 1)))
    }

    fn describe_member(version: &'static str) -> Rule {
        mock!(Ec::describe_cache_clusters).then_output(move || {
            DescribeCacheClustersOutput::builder()
                .cache_clusters(member(version, "default.redis7"))
                .build()
        })
    }

    fn group_not_found() -> DescribeReplicationGroupsError {
        DescribeReplicationGroupsError::ReplicationGroupNotFoundFault(
            ReplicationGroupNotFoundFault::builder().build(),
        )
    }

    fn fast(reconciler: RedisReconciler) -> RedisReconciler {
        reconciler
            .with_poll_interval(Duration::from_millis(1))
            .with_wait_deadline(Duration::from_millis(200))
            .with_security_group_patience(Duration::from_millis(10))
    }

    /// The name in a DescribeSecurityGroups `group-name` filter.
    fn group_name_filter(req: &DescribeSecurityGroupsInput) -> String {
        req.filters()
            .iter()
            .find(|f| f.name() == Some("group-name"))
            .and_then(|f| f.values().first())
            .cloned()
            .unwrap_or_default()
    }

    fn owned_ec2_tags() -> Vec<aws_sdk_ec2::types::Tag> {
        ctx()
            .tags()
            .into_iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
            .collect()
    }

    /// EC2 with a default VPC of two subnets and this component's two security groups.
    fn ec2_with_groups() -> (Ec2, Rule, Arc<Mutex<Vec<String>>>) {
        let vpcs = mock!(Ec2::describe_vpcs).then_output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(
                    aws_sdk_ec2::types::Vpc::builder()
                        .vpc_id(VPC)
                        .is_default(true)
                        .build(),
                )
                .build()
        });
        let subnets = mock!(Ec2::describe_subnets).then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(
                    aws_sdk_ec2::types::Subnet::builder()
                        .subnet_id("subnet-a")
                        .vpc_id(VPC)
                        .build(),
                )
                .subnets(
                    aws_sdk_ec2::types::Subnet::builder()
                        .subnet_id("subnet-b")
                        .vpc_id(VPC)
                        .build(),
                )
                .build()
        });
        let groups = mock!(Ec2::describe_security_groups).then_compute_output(|req| {
            let name = group_name_filter(req);
            DescribeSecurityGroupsOutput::builder()
                .security_groups(
                    aws_sdk_ec2::types::SecurityGroup::builder()
                        .group_id(format!("sg-{name}"))
                        .group_name(name)
                        .vpc_id(VPC)
                        .set_tags(Some(owned_ec2_tags()))
                        .build(),
                )
                .build()
        });
        let deleted = Arc::new(Mutex::new(Vec::<String>::new()));
        let order = deleted.clone();
        let delete = mock!(Ec2::delete_security_group)
            .match_requests(move |req| {
                if let (Ok(mut seen), Some(id)) = (order.lock(), req.group_id()) {
                    seen.push(id.to_string());
                }
                true
            })
            .then_output(|| {
                aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput::builder()
                    .build()
            });
        let client = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&vpcs, &subnets, &groups, &delete]
        );
        (client, delete, deleted)
    }

    /// EC2 that must not be called.
    fn ec2_unused() -> Ec2 {
        mock_client!(aws_sdk_ec2, RuleMode::MatchAny, Vec::<&Rule>::new())
    }

    // ------------------------------------------------------------ pure parts

    /// `validate` finds components that would share a name from the core's list.
    #[test]
    fn every_shared_name_is_one_validate_checks_for_collisions() {
        let ctx = ctx();
        let names = Names::of(&ctx);
        let spec = ComponentSpec::ElastiCacheRedis(spec(2, "cache.t3.micro"));
        let checked: Vec<String> = panka_core::naming::physical_names(&ctx, &spec)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        for name in [
            &names.cache,
            &names.subnet_group,
            &names.security_group,
            &names.client_security_group,
        ] {
            assert!(checked.contains(name), "{name} is not checked: {checked:?}");
        }
    }

    #[test]
    fn names_follow_elasticache_rules() {
        let long = ResourceContext {
            stack: "notification-platform".into(),
            environment: "production".into(),
            id: ComponentId::new("email-service", "session-cache"),
            ..ctx()
        };
        for c in [ctx(), long.clone()] {
            let id = cache_id(&c);
            assert!(id.len() <= 40, "{id}");
            assert!(id.starts_with(|ch: char| ch.is_ascii_lowercase()), "{id}");
            assert!(!id.contains("--") && !id.ends_with('-'), "{id}");
            assert_eq!(id, id.to_ascii_lowercase());
        }
        assert_eq!(cache_id(&ctx()), "shop-development-web-cache");
        assert_eq!(cache_id(&long), cache_id(&long), "deterministic");
        let names = Names::of(&ctx());
        assert_eq!(names.security_group, "shop-development-web-cache-redis");
        assert_eq!(
            names.client_security_group,
            "shop-development-web-cache-redis-clients"
        );
        assert_eq!(names.subnet_group, "shop-development-web-cache");
        assert_eq!(
            parameter_group_name(&ctx(), "redis6.x"),
            "shop-development-web-cache-redis6-x"
        );
        assert_eq!(naming::elasticache_name("Ab--c-"), "ab-c");
    }

    #[test]
    fn engine_versions_compare_at_minor_precision() {
        assert_eq!(normalise_engine_version("7.0"), "7.0");
        assert_eq!(normalise_engine_version("7.0.7"), "7.0");
        assert_eq!(normalise_engine_version("6.x"), "6.2");
        assert_eq!(normalise_engine_version("6.2.6"), "6.2");
        assert_eq!(normalise_engine_version("latest"), "latest");
        assert_eq!(engine_family("7.1"), Some("redis7"));
        assert_eq!(engine_family("6.x"), Some("redis6.x"));
        assert_eq!(engine_family("6.0"), Some("redis6.x"));
        assert_eq!(engine_family("5.0.6"), Some("redis5.0"));
        assert_eq!(engine_family("3.2.10"), Some("redis3.2"));
        assert_eq!(engine_family("2.8"), None);
    }

    #[test]
    fn replacements_are_declared() {
        let r = RedisReconciler::new(
            mock_client!(aws_sdk_elasticache, Vec::<&Rule>::new()),
            ec2_unused(),
        );
        for path in ["mode", "port", "transit_encryption", "at_rest_encryption"] {
            assert_eq!(r.field_change(path), FieldChange::Replace, "{path}");
        }
        for path in [
            "engine_version",
            "node_type",
            "num_nodes",
            "automatic_failover",
            "snapshot_retention_days",
            "parameters.maxmemory-policy",
        ] {
            assert_eq!(r.field_change(path), FieldChange::InPlace, "{path}");
        }
        assert_eq!(r.kind(), ComponentKind::ElastiCacheRedis);
    }

    #[test]
    fn statuses_map_to_readiness() {
        assert_eq!(
            readiness("replication group", "x", "available"),
            Readiness::Ready
        );
        for waiting in ["creating", "modifying", "snapshotting", ""] {
            assert!(
                matches!(
                    readiness("replication group", "x", waiting),
                    Readiness::Waiting { .. }
                ),
                "{waiting}"
            );
        }
        for failed in ["create-failed", "deleting", "incompatible-network"] {
            assert!(
                matches!(
                    readiness("replication group", "x", failed),
                    Readiness::Failed { .. }
                ),
                "{failed}"
            );
        }
    }

    #[test]
    fn specs_aws_would_reject_are_refused_first() {
        let mut cluster = spec(1, "cache.t3.micro");
        cluster.mode = MODE_CACHE_CLUSTER;
        let err = check_spec(&cluster).expect_err("a cache cluster cannot encrypt at rest");
        assert_eq!(err.kind, ErrorKind::Invalid);
        cluster.at_rest_encryption = false;
        assert!(check_spec(&cluster).is_ok());
        let mut old = spec(2, "cache.t3.micro");
        old.engine_version = "2.8".into();
        old.parameters
            .insert("maxmemory-policy".into(), "allkeys-lru".into());
        assert_eq!(
            check_spec(&old).map_err(|e| e.kind),
            Err(ErrorKind::Invalid)
        );
    }

    #[test]
    fn final_snapshots_are_named_by_time() {
        let at: jiff::Timestamp = "2026-11-27T08:15:30Z".parse().expect("a timestamp");
        assert_eq!(
            final_snapshot_name("shop-dev-web-cache", at),
            "shop-dev-web-cache-final-20261127081530"
        );
    }

    // ------------------------------------------------------------ read

    #[tokio::test]
    async fn reading_back_an_available_group_shows_no_change() {
        let describe = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe, &member]
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        let observed = r
            .read(&ctx(), &known())
            .await
            .expect("read")
            .expect("exists");
        let wanted = component(spec(2, "cache.t3.micro"));
        assert_eq!(
            observed.fields,
            r.normalise(&ctx(), &wanted, &Inputs::default())
        );
        assert_eq!(observed.outputs[outputs::PORT], "6379");
        assert_eq!(
            observed.outputs[outputs::CLIENT_SECURITY_GROUP],
            client_sg()
        );
        assert!(observed.outputs[outputs::ENDPOINT].starts_with("master."));
        assert!(observed.outputs[outputs::ARN].ends_with(&format!(":replicationgroup:{}", id())));
        assert_eq!(observed.physical_ids, known());
    }

    #[tokio::test]
    async fn user_parameters_are_read_from_a_custom_group() {
        let pg = parameter_group_name(&ctx(), "redis7");
        let describe = describe_group("available", 2, "cache.t3.micro");
        let pg_for_member = pg.clone();
        let member = mock!(Ec::describe_cache_clusters).then_output(move || {
            DescribeCacheClustersOutput::builder()
                .cache_clusters(member("7.0.7", &pg_for_member))
                .build()
        });
        let pg_for_params = pg.clone();
        let parameters = mock!(Ec::describe_cache_parameters)
            .match_requests(move |req| {
                req.cache_parameter_group_name() == Some(pg_for_params.as_str())
                    && req.source() == Some("user")
            })
            .then_output(|| {
                DescribeCacheParametersOutput::builder()
                    .parameters(
                        Parameter::builder()
                            .parameter_name("maxmemory-policy")
                            .parameter_value("allkeys-lru")
                            .build(),
                    )
                    .build()
            });
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe, &member, &parameters]
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        let observed = r
            .read(&ctx(), &known())
            .await
            .expect("read")
            .expect("exists");
        let mut wanted = spec(2, "cache.t3.micro");
        wanted
            .parameters
            .insert("maxmemory-policy".into(), "allkeys-lru".into());
        assert_eq!(observed.fields, desired_fields(&wanted));
        assert_eq!(observed.physical_ids[ids::PARAMETER_GROUP], pg);
    }

    #[tokio::test]
    async fn read_of_a_missing_cache_is_none() {
        let group = mock!(Ec::describe_replication_groups).then_error(group_not_found);
        let cluster = mock!(Ec::describe_cache_clusters).then_error(|| {
            DescribeCacheClustersError::CacheClusterNotFoundFault(
                CacheClusterNotFoundFault::builder().build(),
            )
        });
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&group, &cluster]
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        assert_eq!(r.read(&ctx(), &KnownIds::new()).await.expect("read"), None);
        assert_eq!(
            (group.num_calls(), cluster.num_calls()),
            (1, 1),
            "both modes are looked up"
        );
    }

    // ------------------------------------------------------------ create

    #[tokio::test]
    async fn create_refuses_another_components_cache_and_changes_nothing() {
        let (ec2, _, _) = ec2_with_groups();
        let describe = describe_group("available", 2, "cache.t3.micro");
        let tags = mock!(Ec::list_tags_for_resource).then_output(|| {
            let mut other = ctx().tags();
            other.insert("panka:component".into(), "web/sessions".into());
            ListTagsForResourceOutput::builder()
                .set_tag_list(Some(
                    other
                        .into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build()
        });
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe, &tags]
        );
        let r = RedisReconciler::new(ec, ec2);
        let err = r
            .create(
                &ctx(),
                &component(spec(2, "cache.t3.micro")),
                &Inputs::default(),
            )
            .await
            .expect_err("foreign");
        assert_eq!(err.kind, ErrorKind::Foreign);
        assert!(err.message.contains("web/sessions"), "{}", err.message);
    }

    #[tokio::test]
    async fn create_sends_the_whole_spec_and_a_parameter_group() {
        let names = Names::of(&ctx());
        let pg = parameter_group_name(&ctx(), "redis7");
        // EC2: the default VPC, no groups yet, then the two groups and one rule.
        let vpcs = mock!(Ec2::describe_vpcs).then_output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(aws_sdk_ec2::types::Vpc::builder().vpc_id(VPC).build())
                .build()
        });
        let subnets = mock!(Ec2::describe_subnets).then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(
                    aws_sdk_ec2::types::Subnet::builder()
                        .subnet_id("subnet-b")
                        .build(),
                )
                .subnets(
                    aws_sdk_ec2::types::Subnet::builder()
                        .subnet_id("subnet-a")
                        .build(),
                )
                .build()
        });
        let no_groups = mock!(Ec2::describe_security_groups)
            .then_output(|| DescribeSecurityGroupsOutput::builder().build());
        let create_sg = mock!(Ec2::create_security_group).then_compute_output(|req| {
            CreateSecurityGroupOutput::builder()
                .group_id(format!("sg-{}", req.group_name().unwrap_or_default()))
                .build()
        });
        let (want_port_from, want_on) = (client_sg(), group_sg());
        let authorize = mock!(Ec2::authorize_security_group_ingress)
            .match_requests(move |req| {
                let rule = &req.ip_permissions()[0];
                req.group_id() == Some(want_on.as_str())
                    && req.ip_permissions().len() == 1
                    && rule.from_port() == Some(6379)
                    && rule.to_port() == Some(6379)
                    && rule.ip_ranges().is_empty()
                    && rule.user_id_group_pairs()[0].group_id() == Some(want_port_from.as_str())
            })
            .then_output(|| {
                aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput::builder().build()
            });
        let ec2 = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&vpcs, &subnets, &no_groups, &create_sg, &authorize]
        );

        // ElastiCache: nothing exists, then everything is created, then read back.
        let groups = mock!(Ec::describe_replication_groups)
            .sequence()
            .error(group_not_found)
            .output(|| groups_out(group("creating", 2, "cache.t3.micro", true)))
            .build();
        let subnet_groups = mock!(Ec::describe_cache_subnet_groups)
            .sequence()
            .error(|| {
                DescribeCacheSubnetGroupsError::CacheSubnetGroupNotFoundFault(
                    CacheSubnetGroupNotFoundFault::builder().build(),
                )
            })
            .times(2)
            .build();
        let sg_subnets = names.subnet_group.clone();
        let create_subnet_group = mock!(Ec::create_cache_subnet_group)
            .match_requests(move |req| {
                req.cache_subnet_group_name() == Some(sg_subnets.as_str())
                    && req.subnet_ids() == ["subnet-a", "subnet-b"]
                    && req.tags().len() == 4
            })
            .then_output(|| CreateCacheSubnetGroupOutput::builder().build());
        let parameter_groups = mock!(Ec::describe_cache_parameter_groups)
            .sequence()
            .error(|| {
                DescribeCacheParameterGroupsError::CacheParameterGroupNotFoundFault(
                    CacheParameterGroupNotFoundFault::builder().build(),
                )
            })
            .times(2)
            .output(|| DescribeCacheParameterGroupsOutput::builder().build())
            .build();
        let pg_create = pg.clone();
        let create_pg = mock!(Ec::create_cache_parameter_group)
            .match_requests(move |req| {
                req.cache_parameter_group_name() == Some(pg_create.as_str())
                    && req.cache_parameter_group_family() == Some("redis7")
            })
            .then_output(|| CreateCacheParameterGroupOutput::builder().build());
        let pg_member = pg.clone();
        let parameters = mock!(Ec::describe_cache_parameters)
            .sequence()
            .output(|| DescribeCacheParametersOutput::builder().build())
            .output(|| {
                DescribeCacheParametersOutput::builder()
                    .parameters(
                        Parameter::builder()
                            .parameter_name("maxmemory-policy")
                            .parameter_value("allkeys-lru")
                            .build(),
                    )
                    .build()
            })
            .build();
        let set_parameters = mock!(Ec::modify_cache_parameter_group)
            .match_requests(|req| {
                let p = req.parameter_name_values();
                p.len() == 1
                    && p[0].parameter_name() == Some("maxmemory-policy")
                    && p[0].parameter_value() == Some("allkeys-lru")
            })
            .then_output(|| ModifyCacheParameterGroupOutput::builder().build());
        let (rg_id, rg_pg, rg_subnets, rg_sg) =
            (id(), pg.clone(), names.subnet_group.clone(), group_sg());
        let create_group = mock!(Ec::create_replication_group)
            .match_requests(move |req| {
                req.replication_group_id() == Some(rg_id.as_str())
                    && req.engine() == Some("redis")
                    && req.engine_version() == Some("7.0")
                    && req.cache_node_type() == Some("cache.t3.micro")
                    && req.num_cache_clusters() == Some(2)
                    && req.automatic_failover_enabled() == Some(true)
                    && req.multi_az_enabled() == Some(true)
                    && req.port() == Some(6379)
                    && req.cache_subnet_group_name() == Some(rg_subnets.as_str())
                    && req.security_group_ids() == [rg_sg.clone()]
                    && req.transit_encryption_enabled() == Some(true)
                    && req.at_rest_encryption_enabled() == Some(true)
                    && req.snapshot_retention_limit() == Some(1)
                    && req.cache_parameter_group_name() == Some(rg_pg.as_str())
                    && req.tags().iter().any(|t| {
                        t.key() == Some("panka:component") && t.value() == Some("web/cache")
                    })
            })
            .then_output(|| CreateReplicationGroupOutput::builder().build());
        let read_member = mock!(Ec::describe_cache_clusters).then_output(move || {
            DescribeCacheClustersOutput::builder()
                .cache_clusters(member("7.0.7", &pg_member))
                .build()
        });
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::MatchAny,
            [
                &groups,
                &subnet_groups,
                &create_subnet_group,
                &parameter_groups,
                &create_pg,
                &parameters,
                &set_parameters,
                &create_group,
                &read_member
            ]
        );
        let r = RedisReconciler::new(ec, ec2);
        let mut wanted = spec(2, "cache.t3.micro");
        wanted
            .parameters
            .insert("maxmemory-policy".into(), "allkeys-lru".into());
        let observed = r
            .create(&ctx(), &component(wanted.clone()), &Inputs::default())
            .await
            .expect("create");
        for (rule, name) in [
            (&create_subnet_group, "CreateCacheSubnetGroup"),
            (&create_pg, "CreateCacheParameterGroup"),
            (&set_parameters, "ModifyCacheParameterGroup"),
            (&create_group, "CreateReplicationGroup"),
            (&authorize, "AuthorizeSecurityGroupIngress"),
        ] {
            assert_eq!(rule.num_calls(), 1, "{name}");
        }
        assert_eq!(
            create_sg.num_calls(),
            2,
            "the cache's group and its clients' group"
        );
        assert_eq!(observed.fields, desired_fields(&wanted));
        assert_eq!(
            observed.outputs[outputs::CLIENT_SECURITY_GROUP],
            client_sg()
        );
        assert_eq!(observed.physical_ids[ids::PARAMETER_GROUP], pg);
    }

    // ------------------------------------------------------------ update

    fn modify_rule(node_type: &'static str, immediately: bool) -> Rule {
        mock!(Ec::modify_replication_group)
            .match_requests(move |req| {
                req.cache_node_type() == Some(node_type)
                    && req.apply_immediately() == Some(immediately)
                    && req.engine_version().is_none()
                    && req.automatic_failover_enabled().is_none()
                    && req.snapshot_retention_limit().is_none()
                    && req.cache_parameter_group_name().is_none()
            })
            .then_output(|| ModifyReplicationGroupOutput::builder().build())
    }

    #[tokio::test]
    async fn update_changes_the_node_type_immediately_outside_production() {
        for production in [false, true] {
            let (ec2, _, _) = ec2_with_groups();
            let before = describe_group("available", 2, "cache.t3.micro");
            let member = describe_member("7.0.7");
            let modify = modify_rule("cache.t3.small", !production);
            let after = describe_group("modifying", 2, "cache.t3.small");
            let member_after = describe_member("7.0.7");
            let ec = mock_client!(
                aws_sdk_elasticache,
                RuleMode::Sequential,
                [&before, &member, &modify, &after, &member_after]
            );
            let r = fast(RedisReconciler::new(ec, ec2));
            let c = ResourceContext {
                production,
                ..ctx()
            };
            let observed = r
                .update(
                    &c,
                    &component(spec(2, "cache.t3.small")),
                    &Inputs::default(),
                )
                .await
                .expect("update");
            assert_eq!(modify.num_calls(), 1, "production={production}");
            assert_eq!(observed.fields["node_type"], "cache.t3.small");
            assert_eq!(
                observed.outputs[outputs::CLIENT_SECURITY_GROUP],
                client_sg()
            );
        }
    }

    #[tokio::test]
    async fn update_adds_a_replica_then_modifies() {
        let (ec2, _, _) = ec2_with_groups();
        let before = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let increase = mock!(Ec::increase_replica_count)
            .match_requests(|req| {
                req.replication_group_id() == Some(id().as_str())
                    && req.new_replica_count() == Some(2)
                    && req.apply_immediately() == Some(true)
            })
            .then_output(|| IncreaseReplicaCountOutput::builder().build());
        let busy = describe_group("modifying", 3, "cache.t3.micro");
        let ready = describe_group("available", 3, "cache.t3.micro");
        let modify = modify_rule("cache.t3.small", true);
        let after = describe_group("modifying", 3, "cache.t3.small");
        let member_after = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [
                &before,
                &member,
                &increase,
                &busy,
                &ready,
                &modify,
                &after,
                &member_after
            ]
        );
        let r = fast(RedisReconciler::new(ec, ec2));
        let wanted = component(spec(3, "cache.t3.small"));
        let observed = r
            .update(&ctx(), &wanted, &Inputs::default())
            .await
            .expect("update");
        assert_eq!(
            (increase.num_calls(), busy.num_calls(), modify.num_calls()),
            (1, 1, 1)
        );
        assert_eq!(observed.fields["num_nodes"], 3);
    }

    #[tokio::test]
    async fn update_turns_failover_off_before_removing_replicas() {
        let (ec2, _, _) = ec2_with_groups();
        let before = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let modify = mock!(Ec::modify_replication_group)
            .match_requests(|req| {
                req.automatic_failover_enabled() == Some(false)
                    && req.multi_az_enabled() == Some(false)
                    && req.cache_node_type().is_none()
            })
            .then_output(|| ModifyReplicationGroupOutput::builder().build());
        let ready = describe_group("available", 2, "cache.t3.micro");
        let decrease = mock!(Ec::decrease_replica_count)
            .match_requests(|req| {
                req.new_replica_count() == Some(0) && req.apply_immediately() == Some(true)
            })
            .then_output(|| DecreaseReplicaCountOutput::builder().build());
        let after = describe_group("modifying", 1, "cache.t3.micro");
        let member_after = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [
                &before,
                &member,
                &modify,
                &ready,
                &decrease,
                &after,
                &member_after
            ]
        );
        let r = fast(RedisReconciler::new(ec, ec2));
        r.update(
            &ctx(),
            &component(spec(1, "cache.t3.micro")),
            &Inputs::default(),
        )
        .await
        .expect("update");
        assert_eq!((modify.num_calls(), decrease.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn update_refuses_fields_that_need_a_replacement() {
        let before = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&before, &member]
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        let mut wanted = spec(2, "cache.t3.micro");
        wanted.port = 6380;
        let err = r
            .update(&ctx(), &component(wanted), &Inputs::default())
            .await
            .expect_err("replace");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("port"), "{}", err.message);
    }

    // ------------------------------------------------------------ readiness

    #[tokio::test]
    async fn poll_ready_follows_creating_to_available() {
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .output(|| groups_out(group("creating", 2, "cache.t3.micro", true)))
            .output(|| groups_out(group("available", 2, "cache.t3.micro", true)))
            .build();
        let ec = mock_client!(aws_sdk_elasticache, [&describe]);
        let r = RedisReconciler::new(ec, ec2_unused());
        let first = r.poll_ready(&ctx(), &known()).await.expect("probe");
        assert!(
            matches!(&first, Readiness::Waiting { detail, .. } if detail.contains("creating")),
            "{first:?}"
        );
        assert_eq!(
            r.poll_ready(&ctx(), &known()).await.expect("probe"),
            Readiness::Ready
        );
    }

    #[tokio::test]
    async fn poll_ready_reports_a_failed_creation() {
        let describe = describe_group("create-failed", 2, "cache.t3.micro");
        let ec = mock_client!(aws_sdk_elasticache, [&describe]);
        let r = RedisReconciler::new(ec, ec2_unused());
        let probe = r.poll_ready(&ctx(), &known()).await.expect("probe");
        assert!(
            matches!(&probe, Readiness::Failed { reason } if reason.contains("create-failed")),
            "{probe:?}"
        );
    }

    const THROTTLED: &str = "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
        <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
        <RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>";

    fn quick_retries(
        config: aws_sdk_elasticache::config::Builder,
    ) -> aws_sdk_elasticache::config::Builder {
        config.retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
    }

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .http_status(400, Some(THROTTLED.to_string()))
            .output(|| groups_out(group("available", 2, "cache.t3.micro", true)))
            .build();
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe],
            quick_retries
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        assert_eq!(
            r.poll_ready(&ctx(), &known()).await.expect("probe"),
            Readiness::Ready
        );
        assert_eq!(describe.num_calls(), 2);
    }

    #[tokio::test]
    async fn throttling_that_persists_is_classified() {
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .http_status(400, Some(THROTTLED.to_string()))
            .repeatedly()
            .build();
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe],
            quick_retries
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        let err = r.poll_ready(&ctx(), &known()).await.expect_err("throttled");
        assert_eq!(err.kind, ErrorKind::Throttled);
        assert!(err.message.contains("Rate exceeded"), "{}", err.message);
        assert_eq!(
            describe.num_calls(),
            3,
            "the SDK's standard retry tries three times"
        );
    }

    // ------------------------------------------------------------ delete

    #[tokio::test]
    async fn delete_takes_a_final_snapshot_waits_and_removes_the_rest() {
        let (ec2, delete_sg, deleted) = ec2_with_groups();
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .output(|| groups_out(group("available", 2, "cache.t3.micro", true)))
            .output(|| groups_out(group("deleting", 2, "cache.t3.micro", true)))
            .error(group_not_found)
            .build();
        let member = describe_member("7.0.7");
        let prefix = format!("{}-final-", id());
        let delete = mock!(Ec::delete_replication_group)
            .match_requests(move |req| {
                req.replication_group_id() == Some(id().as_str())
                    && req
                        .final_snapshot_identifier()
                        .is_some_and(|s| s.starts_with(&prefix) && s.len() == prefix.len() + 14)
            })
            .then_output(|| DeleteReplicationGroupOutput::builder().build());
        let subnet_groups = mock!(Ec::describe_cache_subnet_groups).then_output(|| {
            DescribeCacheSubnetGroupsOutput::builder()
                .cache_subnet_groups(
                    CacheSubnetGroup::builder()
                        .cache_subnet_group_name(Names::of(&ctx()).subnet_group)
                        .build(),
                )
                .build()
        });
        let delete_subnets = mock!(Ec::delete_cache_subnet_group)
            .then_output(|| DeleteCacheSubnetGroupOutput::builder().build());
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::MatchAny,
            [&describe, &member, &delete, &subnet_groups, &delete_subnets]
        );
        let r = fast(RedisReconciler::new(ec, ec2));
        let options = DeleteOptions {
            final_snapshot: true,
            ..DeleteOptions::default()
        };
        r.delete(&ctx(), &known(), options).await.expect("delete");
        assert_eq!((delete.num_calls(), describe.num_calls()), (1, 3));
        assert_eq!(delete_subnets.num_calls(), 1);
        assert_eq!(delete_sg.num_calls(), 2, "both security groups");
        let order = deleted.lock().map(|d| d.clone()).unwrap_or_default();
        assert_eq!(
            order,
            [group_sg(), client_sg()],
            "the cache's group, whose rule holds the clients' group, goes first"
        );
    }

    #[tokio::test]
    async fn delete_gives_up_at_the_deadline_and_keeps_the_rest() {
        let describe = mock!(Ec::describe_replication_groups)
            .sequence()
            .output(|| groups_out(group("deleting", 2, "cache.t3.micro", true)))
            .repeatedly()
            .build();
        let member = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::MatchAny,
            [&describe, &member]
        );
        let r = fast(RedisReconciler::new(ec, ec2_unused()));
        let err = r
            .delete(&ctx(), &known(), DeleteOptions::default())
            .await
            .expect_err("still deleting");
        assert_eq!(err.kind, ErrorKind::TimedOut);
        assert!(err.message.contains("still `deleting`"), "{}", err.message);
        assert!(err.hint.is_some());
    }

    #[tokio::test]
    async fn delete_of_nothing_succeeds() {
        let group = mock!(Ec::describe_replication_groups).then_error(group_not_found);
        let cluster = mock!(Ec::describe_cache_clusters).then_error(|| {
            DescribeCacheClustersError::CacheClusterNotFoundFault(
                CacheClusterNotFoundFault::builder().build(),
            )
        });
        let subnet_groups = mock!(Ec::describe_cache_subnet_groups).then_error(|| {
            DescribeCacheSubnetGroupsError::CacheSubnetGroupNotFoundFault(
                CacheSubnetGroupNotFoundFault::builder().build(),
            )
        });
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::MatchAny,
            [&group, &cluster, &subnet_groups]
        );
        let vpcs = mock!(Ec2::describe_vpcs).then_output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(aws_sdk_ec2::types::Vpc::builder().vpc_id(VPC).build())
                .build()
        });
        let subnets = mock!(Ec2::describe_subnets).then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(
                    aws_sdk_ec2::types::Subnet::builder()
                        .subnet_id("subnet-a")
                        .build(),
                )
                .subnets(
                    aws_sdk_ec2::types::Subnet::builder()
                        .subnet_id("subnet-b")
                        .build(),
                )
                .build()
        });
        let no_groups = mock!(Ec2::describe_security_groups)
            .then_output(|| DescribeSecurityGroupsOutput::builder().build());
        let ec2 = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&vpcs, &subnets, &no_groups]
        );
        let r = fast(RedisReconciler::new(ec, ec2));
        r.delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
            .await
            .expect("nothing to delete is success");
    }
}
