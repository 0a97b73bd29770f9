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
//!
//! One module per AWS resource: `replication_group`, `cache_cluster` (the two modes,
//! behind `primary`), `subnet_group`, `parameter_group`, `security_groups`; `names`,
//! `versions` and `fields` are pure; `observe` is `read`, `readiness` the probe and the
//! waits, `deletion` the primary's deletion, `ownership` the checks before anything
//! changes. This file is the reconciler and its flows.

mod cache_cluster;
mod deletion;
mod fields;
mod names;
mod observe;
mod ownership;
mod parameter_group;
mod primary;
mod readiness;
mod replication_group;
mod security_groups;
mod status;
mod subnet_group;
mod tagged;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod versions;

pub use deletion::final_snapshot_name;
pub use fields::desired_fields;
pub use names::{Names, cache_id, ids, outputs, parameter_group_name};
pub use readiness::readiness;
pub use versions::{engine_family, normalise_engine_version};

use std::time::Duration;

use async_trait::async_trait;
use panka_core::drift::{Owner, TaggedResource};
use panka_core::model::RedisSpec;
use panka_core::progress;
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, FieldChange, Inputs, KindReconciler, KnownIds, LiveStatus, Observed,
    ProviderError, Readiness, ResourceContext,
};
use serde_json::Value;

use crate::aws::AwsClients;
use crate::network;
use crate::shared::ownership::recorded;
use fields::{Modification, check_in_place, check_spec};
use primary::{Primary, id_key, what};
use readiness::Goal;

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Creating or deleting a replication group takes 5 to 15 minutes.
const DEFAULT_WAIT_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Network interfaces of a deleted cache linger for minutes and hold its security group.
const DEFAULT_SECURITY_GROUP_PATIENCE: Duration = Duration::from_secs(10 * 60);

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
}

pub(super) fn description(ctx: &ResourceContext) -> String {
    format!("panka {}/{} {}", ctx.stack, ctx.environment, ctx.id)
}

#[async_trait]
impl KindReconciler for RedisReconciler {
    type Spec = RedisSpec;

    fn normalise(&self, _ctx: &ResourceContext, spec: &RedisSpec, _inputs: &Inputs) -> Value {
        desired_fields(spec)
    }

    fn field_change(&self, path: &str) -> FieldChange {
        if fields::REPLACE_FIELDS.contains(&path.split('.').next().unwrap_or(path)) {
            FieldChange::Replace
        } else {
            FieldChange::InPlace
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
        if !recorded(known, primary.id_key(), primary.id()) {
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
        spec: &RedisSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
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
        let (group, client_group) = self
            .ensure_security_groups(ctx, &net.vpc_id, &names, spec.port)
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
        spec: &RedisSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
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
            if !recorded(known, primary.id_key(), primary.id()) {
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
        let ours = recorded(known, ids::SUBNET_GROUP, subnet_group);
        self.delete_subnet_group(ctx, subnet_group, ours).await?;
        let vpc_id = match known.get(ids::VPC) {
            Some(vpc) => vpc.clone(),
            None => {
                network::resolve(&self.ec2, ctx.network.as_ref())
                    .await?
                    .vpc_id
            }
        };
        self.delete_security_groups(ctx, known, &vpc_id, &names)
            .await
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        self.probe(ctx, known).await
    }

    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        self.live(ctx, known).await
    }

    async fn tagged(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        self.tagged_primaries(owner).await
    }
}
