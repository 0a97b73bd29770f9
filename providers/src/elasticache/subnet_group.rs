//! The cache subnet group, in the environment's private subnets (else its public ones):
//! ElastiCache's calls for the shared owned-subnet-group steps
//! ([`crate::shared::subnet_group`]). A group found elsewhere is moved
//! (`ModifyCacheSubnetGroup`) by a create or an adoption.

use super::RedisReconciler;
use super::ownership::{aws_tags, tags_of};
use crate::describe::{self, Missing};
use crate::sdk_error::provider_error;
use crate::shared::gone::with_kind;
use crate::shared::subnet_group::{self, SubnetGroup, SubnetGroupApi};
use aws_sdk_elasticache::operation::describe_cache_subnet_groups::DescribeCacheSubnetGroupsError;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// ElastiCache's cache subnet groups.
pub(super) struct CacheSubnetGroups<'a> {
    elasticache: &'a aws_sdk_elasticache::Client,
}

impl RedisReconciler {
    pub(super) fn subnet_groups(&self) -> CacheSubnetGroups<'_> {
        CacheSubnetGroups {
            elasticache: &self.elasticache,
        }
    }

    /// Creates the group in `subnet_ids`, or moves the component's group there.
    pub(super) async fn ensure_subnet_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
        subnet_ids: &[String],
    ) -> Result<(), ProviderError> {
        subnet_group::ensure(&self.subnet_groups(), ctx, name, subnet_ids).await
    }

    /// Deletes the group when it is the component's (`recorded` in its state, or tagged
    /// as its own).
    pub(super) async fn delete_subnet_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
        recorded: bool,
    ) -> Result<(), ProviderError> {
        subnet_group::delete(&self.subnet_groups(), ctx, name, recorded)
            .await
            .map(|_| ())
    }
}

impl SubnetGroupApi for CacheSubnetGroups<'_> {
    const WHAT: &'static str = "cache subnet group";

    async fn find(&self, name: &str) -> Result<Option<SubnetGroup>, ProviderError> {
        describe::or_none(
            self.elasticache
                .describe_cache_subnet_groups()
                .cache_subnet_group_name(name)
                .send(),
            Missing::Fault(DescribeCacheSubnetGroupsError::is_cache_subnet_group_not_found_fault),
            || format!("cannot describe cache subnet group {name}"),
            |out| {
                out.cache_subnet_groups().first().map(|g| {
                    SubnetGroup::new(
                        g.subnets().iter().filter_map(|s| s.subnet_identifier()),
                        g.arn(),
                        g.vpc_id(),
                    )
                })
            },
        )
        .await
    }

    async fn tags(
        &self,
        _name: &str,
        arn: Option<&str>,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        tags_of(self.elasticache, arn).await
    }

    async fn create(
        &self,
        ctx: &ResourceContext,
        name: &str,
        subnet_ids: &[String],
        doing: &str,
    ) -> Result<(), ProviderError> {
        self.elasticache
            .create_cache_subnet_group()
            .cache_subnet_group_name(name)
            .cache_subnet_group_description(super::description(ctx))
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .set_tags(Some(aws_tags(ctx)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let raced = e
                    .as_service_error()
                    .is_some_and(|s| s.is_cache_subnet_group_already_exists_fault());
                with_kind(provider_error(doing, &e), ErrorKind::AlreadyExists, raced)
            })
    }

    async fn modify(
        &self,
        name: &str,
        subnet_ids: &[String],
        doing: &str,
    ) -> Result<(), ProviderError> {
        self.elasticache
            .modify_cache_subnet_group()
            .cache_subnet_group_name(name)
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(doing, &e))
    }

    async fn delete(&self, name: &str, doing: &str) -> Result<(), ProviderError> {
        self.elasticache
            .delete_cache_subnet_group()
            .cache_subnet_group_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let fault = e.as_service_error();
                let gone = fault.is_some_and(|s| s.is_cache_subnet_group_not_found_fault());
                let busy = fault.is_some_and(|s| s.is_cache_subnet_group_in_use());
                let error = with_kind(provider_error(doing, &e), ErrorKind::NotFound, gone);
                with_kind(error, ErrorKind::Conflict, busy)
            })
    }
}
