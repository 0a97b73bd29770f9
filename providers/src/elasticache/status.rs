//! What `status` shows of a cache: its state, nodes and node type.

use super::RedisReconciler;
use super::ids as cache_ids;
use crate::live::redis_status;
use crate::sdk_error::provider_error;
use panka_core::reconcile::{ErrorKind, KnownIds, LiveStatus, ProviderError, ResourceContext};

impl RedisReconciler {
    pub(crate) async fn live(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        if let Some(id) = known.get(cache_ids::REPLICATION_GROUP) {
            return Ok(self
                .replication_group(id)
                .await?
                .unwrap_or_else(|| LiveStatus::missing("replication group", id)));
        }
        if let Some(id) = known.get(cache_ids::CACHE_CLUSTER) {
            return Ok(self
                .cache_cluster(id)
                .await?
                .unwrap_or_else(|| LiveStatus::missing("cache cluster", id)));
        }
        let id = super::cache_id(ctx);
        if let Some(status) = self.replication_group(&id).await? {
            return Ok(status);
        }
        Ok(self
            .cache_cluster(&id)
            .await?
            .unwrap_or_else(|| LiveStatus::missing("replication group", &id)))
    }

    async fn replication_group(&self, id: &str) -> Result<Option<LiveStatus>, ProviderError> {
        let out = match self
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = provider_error(&format!("cannot describe replication group {id}"), &e);
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(out.replication_groups().first().map(|group| {
            let nodes = group.member_clusters().len();
            let detail = format!(
                "{nodes} node{}{}",
                if nodes == 1 { "" } else { "s" },
                group
                    .cache_node_type()
                    .map(|t| format!(" × {t}"))
                    .unwrap_or_default()
            );
            redis_status(group.status().unwrap_or("unknown"), detail)
        }))
    }

    async fn cache_cluster(&self, id: &str) -> Result<Option<LiveStatus>, ProviderError> {
        let out = match self
            .elasticache
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = provider_error(&format!("cannot describe cache cluster {id}"), &e);
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(out.cache_clusters().first().map(|cluster| {
            let nodes = cluster.num_cache_nodes().unwrap_or(0);
            let detail = format!(
                "{nodes} node{}{}",
                if nodes == 1 { "" } else { "s" },
                cluster
                    .cache_node_type()
                    .map(|t| format!(" × {t}"))
                    .unwrap_or_default()
            );
            redis_status(cluster.cache_cluster_status().unwrap_or("unknown"), detail)
        }))
    }
}
