//! The single-node cache cluster (`cluster.mode: cache-cluster`): no replicas, no
//! encryption at rest (CreateCacheCluster has no such option).

use super::RedisReconciler;
use super::fields::{Modification, to_i32};
use super::names::Names;
use super::ownership::aws_tags;
use crate::describe::{self, Missing};
use crate::sdk_error::provider_error;
use crate::shared::gone::{done_if_gone, with_kind};
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersError;
use aws_sdk_elasticache::types::CacheCluster;
use panka_core::model::RedisSpec;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};

impl RedisReconciler {
    pub(super) async fn describe_cluster(
        &self,
        id: &str,
    ) -> Result<Option<CacheCluster>, ProviderError> {
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

    pub(super) async fn create_cluster(
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
                with_kind(
                    provider_error(&format!("cannot create cache cluster {}", names.cache), &e),
                    ErrorKind::AlreadyExists,
                    raced,
                )
            })
    }

    pub(super) async fn modify_cluster(
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

    /// Asks for the cluster's deletion (with `final_snapshot` when given); gone is done,
    /// and a cluster in the middle of a change is a `Conflict` (tried again).
    pub(super) async fn delete_cluster(
        &self,
        id: &str,
        final_snapshot: Option<String>,
    ) -> Result<(), ProviderError> {
        let deleted = self
            .elasticache
            .delete_cache_cluster()
            .cache_cluster_id(id)
            .set_final_snapshot_identifier(final_snapshot)
            .send()
            .await;
        done_if_gone(deleted.map_err(|e| {
            let fault = e.as_service_error();
            let gone = fault.is_some_and(|s| s.is_cache_cluster_not_found_fault());
            let busy = fault.is_some_and(|s| s.is_invalid_cache_cluster_state_fault());
            let error = provider_error(&format!("cannot delete cache cluster {id}"), &e);
            with_kind(
                with_kind(error, ErrorKind::NotFound, gone),
                ErrorKind::Conflict,
                busy,
            )
        }))
    }
}
