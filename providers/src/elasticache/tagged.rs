//! The replication groups and cache clusters (the primary resource of either mode)
//! carrying a stack+environment's tags, for `drift`'s orphan report.

use super::RedisReconciler;
use super::ownership::tags_of;
use crate::orphans::{Listed, owned_by_tags};
use crate::sdk_error::provider_error;
use crate::shared::gone::none_if_gone;
use panka_core::drift::{Owner, TaggedResource};
use panka_core::reconcile::ProviderError;

impl RedisReconciler {
    pub(super) async fn tagged_primaries(
        &self,
        owner: &Owner,
    ) -> Result<Vec<TaggedResource>, ProviderError> {
        let (groups, clusters) =
            tokio::try_join!(self.tagged_groups(owner), self.tagged_clusters(owner))?;
        Ok(groups.into_iter().chain(clusters).collect())
    }

    async fn tagged_groups(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        let groups: Vec<_> = self
            .elasticache
            .describe_replication_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error("cannot list ElastiCache replication groups", &e))?;
        let listed = groups
            .iter()
            .filter_map(|group| {
                let arn = group.arn()?.to_string();
                Some(Listed {
                    id: group.replication_group_id()?.to_string(),
                    aliases: vec![arn.clone()],
                    tags_by: arn,
                })
            })
            .collect();
        owned_by_tags(
            owner,
            "elasticache_replication_group",
            listed,
            |arn| async move { none_if_gone(tags_of(&self.elasticache, Some(&arn)).await) },
        )
        .await
    }

    async fn tagged_clusters(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        let clusters: Vec<_> = self
            .elasticache
            .describe_cache_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error("cannot list ElastiCache cache clusters", &e))?;
        let listed = clusters
            .iter()
            // A replication group's members are found through their group.
            .filter(|cluster| cluster.replication_group_id().is_none())
            .filter_map(|cluster| {
                let arn = cluster.arn()?.to_string();
                Some(Listed {
                    id: cluster.cache_cluster_id()?.to_string(),
                    aliases: vec![arn.clone()],
                    tags_by: arn,
                })
            })
            .collect();
        owned_by_tags(
            owner,
            "elasticache_cache_cluster",
            listed,
            |arn| async move { none_if_gone(tags_of(&self.elasticache, Some(&arn)).await) },
        )
        .await
    }
}
