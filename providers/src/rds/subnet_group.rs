//! The DB subnet group, in the environment's private subnets: RDS's calls for the shared
//! owned-subnet-group steps ([`crate::shared::subnet_group`]).

use super::RdsReconciler;
use super::ownership::{rds_tags, tags_of};
use crate::describe::{self, Missing};
use crate::sdk_error::provider_error;
use crate::shared::subnet_group::{self, SubnetGroup, SubnetGroupApi};
use aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDBSubnetGroupsError;
use panka_core::reconcile::{ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// RDS's DB subnet groups.
pub(super) struct DbSubnetGroups<'a> {
    rds: &'a aws_sdk_rds::Client,
}

impl RdsReconciler {
    pub(super) fn subnet_groups(&self) -> DbSubnetGroups<'_> {
        DbSubnetGroups { rds: &self.rds }
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

    /// Deletes the group when it is the component's; returns its VPC when it existed.
    pub(super) async fn delete_subnet_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
        recorded: bool,
    ) -> Result<Option<String>, ProviderError> {
        subnet_group::delete(&self.subnet_groups(), ctx, name, recorded).await
    }
}

impl SubnetGroupApi for DbSubnetGroups<'_> {
    const WHAT: &'static str = "DB subnet group";

    async fn find(&self, name: &str) -> Result<Option<SubnetGroup>, ProviderError> {
        describe::or_none(
            self.rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(name)
                .send(),
            Missing::Fault(DescribeDBSubnetGroupsError::is_db_subnet_group_not_found_fault),
            || format!("cannot describe DB subnet group {name}"),
            |out| {
                out.db_subnet_groups().first().map(|g| {
                    SubnetGroup::new(
                        g.subnets().iter().filter_map(|s| s.subnet_identifier()),
                        g.db_subnet_group_arn(),
                        g.vpc_id(),
                    )
                })
            },
        )
        .await
    }

    async fn tags(
        &self,
        name: &str,
        arn: Option<&str>,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        tags_of(self.rds, Self::WHAT, name, arn).await
    }

    async fn create(
        &self,
        ctx: &ResourceContext,
        name: &str,
        subnet_ids: &[String],
        doing: &str,
    ) -> Result<(), ProviderError> {
        self.rds
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(format!("panka: {}", ctx.id))
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .set_tags(Some(rds_tags(ctx)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(doing, &e))
    }

    async fn modify(
        &self,
        name: &str,
        subnet_ids: &[String],
        doing: &str,
    ) -> Result<(), ProviderError> {
        self.rds
            .modify_db_subnet_group()
            .db_subnet_group_name(name)
            .set_subnet_ids(Some(subnet_ids.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(doing, &e))
    }

    async fn delete(&self, name: &str, doing: &str) -> Result<(), ProviderError> {
        self.rds
            .delete_db_subnet_group()
            .db_subnet_group_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(doing, &e))
    }
}
