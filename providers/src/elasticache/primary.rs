//! The component's primary resource — a replication group, or a single-node cache
//! cluster — found by its recorded id or its name in either mode, and what only its
//! member cluster and parameter group tell.

use super::RedisReconciler;
use super::fields::{LiveFields, to_u32};
use super::names::{Names, cache_id, ids};
use super::versions::normalise_engine_version;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, Endpoint, ReplicationGroup,
};
use panka_core::model::{RedisMode, RedisSpec};
use panka_core::reconcile::{ErrorKind, KnownIds, ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// The component's primary resource.
#[derive(Clone, Debug)]
pub(super) enum Primary {
    Group(ReplicationGroup),
    Cluster(CacheCluster),
}

impl Primary {
    pub(super) fn id(&self) -> &str {
        match self {
            Primary::Group(g) => g.replication_group_id().unwrap_or_default(),
            Primary::Cluster(c) => c.cache_cluster_id().unwrap_or_default(),
        }
    }

    pub(super) fn arn(&self) -> Option<&str> {
        match self {
            Primary::Group(g) => g.arn(),
            Primary::Cluster(c) => c.arn(),
        }
    }

    pub(super) fn status(&self) -> &str {
        match self {
            Primary::Group(g) => g.status(),
            Primary::Cluster(c) => c.cache_cluster_status(),
        }
        .unwrap_or_default()
    }

    pub(super) fn mode(&self) -> RedisMode {
        match self {
            Primary::Group(_) => RedisMode::ReplicationGroup,
            Primary::Cluster(_) => RedisMode::CacheCluster,
        }
    }

    pub(super) fn id_key(&self) -> &'static str {
        id_key(self.mode())
    }

    pub(super) fn what(&self) -> &'static str {
        what(self.mode())
    }
}

pub(super) fn id_key(mode: RedisMode) -> &'static str {
    match mode {
        RedisMode::CacheCluster => ids::CACHE_CLUSTER,
        RedisMode::ReplicationGroup => ids::REPLICATION_GROUP,
    }
}

pub(super) fn what(mode: RedisMode) -> &'static str {
    match mode {
        RedisMode::CacheCluster => "cache cluster",
        RedisMode::ReplicationGroup => "replication group",
    }
}

/// The primary resource with what only its cluster(s) tell.
#[derive(Clone, Debug)]
pub(super) struct Live {
    pub(super) primary: Primary,
    /// A replication group's first member cluster, when it could be described.
    pub(super) member: Option<CacheCluster>,
    /// User-set parameters; `None` when the parameter group is unknown.
    pub(super) parameters: Option<BTreeMap<String, String>>,
}

impl Live {
    /// The cluster that carries engine version, parameter group and subnet group.
    pub(super) fn node(&self) -> Option<&CacheCluster> {
        match &self.primary {
            Primary::Cluster(c) => Some(c),
            Primary::Group(_) => self.member.as_ref(),
        }
    }

    pub(super) fn parameter_group(&self) -> Option<&str> {
        self.node()?
            .cache_parameter_group()?
            .cache_parameter_group_name()
    }

    /// The address clients connect to: the primary endpoint of a replication group, the
    /// node's endpoint of a cache cluster.
    pub(super) fn endpoint(&self) -> Option<&Endpoint> {
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

    pub(super) fn fields(&self) -> LiveFields {
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
                mode: RedisMode::ReplicationGroup,
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
                mode: RedisMode::CacheCluster,
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

impl RedisReconciler {
    /// The primary resource: by the recorded id, else by the deterministic name in either
    /// mode (state may be lost).
    pub(super) async fn locate(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Primary>, ProviderError> {
        if let Some(id) = known.get(ids::REPLICATION_GROUP) {
            return self.locate_mode(RedisMode::ReplicationGroup, id).await;
        }
        if let Some(id) = known.get(ids::CACHE_CLUSTER) {
            return self.locate_mode(RedisMode::CacheCluster, id).await;
        }
        let id = cache_id(ctx);
        match self.locate_mode(RedisMode::ReplicationGroup, &id).await? {
            Some(group) => Ok(Some(group)),
            None => self.locate_mode(RedisMode::CacheCluster, &id).await,
        }
    }

    pub(super) async fn locate_mode(
        &self,
        mode: RedisMode,
        id: &str,
    ) -> Result<Option<Primary>, ProviderError> {
        match mode {
            RedisMode::CacheCluster => Ok(self.describe_cluster(id).await?.map(Primary::Cluster)),
            RedisMode::ReplicationGroup => Ok(self.describe_group(id).await?.map(Primary::Group)),
        }
    }

    /// Adds what only the cache's clusters and parameter group tell.
    pub(super) async fn inspect(&self, primary: Primary) -> Result<Live, ProviderError> {
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

    pub(super) async fn create_primary(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        names: &Names,
        security_group: &str,
        parameter_group: Option<&str>,
    ) -> Result<(), ProviderError> {
        let created = match spec.mode {
            RedisMode::CacheCluster => {
                self.create_cluster(ctx, spec, names, security_group, parameter_group)
                    .await
            }
            RedisMode::ReplicationGroup => {
                self.create_group(ctx, spec, names, security_group, parameter_group)
                    .await
            }
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
}
