//! Ownership (the policy of [`crate::shared::ownership`]): RDS resources carry the
//! component's tags, read with ListTagsForResource by ARN; before a create or update, every
//! resource under the component's names must be its own, or nothing changes.

use super::RdsReconciler;
use super::names::Names;
use crate::naming;
use crate::sdk_error::provider_error;
use crate::shared::ownership::check_owned;
use crate::shared::security_groups;
use crate::shared::subnet_group::SubnetGroupApi;
use aws_sdk_rds::types::{DbInstance, Tag};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// The component's ownership tags, as RDS takes them.
pub(super) fn rds_tags(ctx: &ResourceContext) -> Vec<Tag> {
    naming::tags(ctx)
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// The tags of the `what` called `name`, by the ARN RDS reported for it.
pub(super) async fn tags_of(
    rds: &aws_sdk_rds::Client,
    what: &str,
    name: &str,
    arn: Option<&str>,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let arn = arn.ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Other,
            format!("RDS returned no ARN for {what} {name}"),
        )
    })?;
    let out = rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot read the tags of {what} {name}"), &e))?;
    Ok(out
        .tag_list()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

impl RdsReconciler {
    /// `Foreign` unless the resource carries this component's tags.
    pub(super) async fn ensure_owned(
        &self,
        ctx: &ResourceContext,
        what: &str,
        name: &str,
        arn: Option<&str>,
    ) -> Result<(), ProviderError> {
        check_owned(ctx, what, name, &tags_of(&self.rds, what, name, arn).await?)
    }

    /// Looks at every resource the component would use and refuses, before anything
    /// changes, when one of them belongs to something else. Returns the instance.
    pub(super) async fn check_ownership(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        vpc_id: &str,
    ) -> Result<Option<DbInstance>, ProviderError> {
        let instance = self.describe_instance(&names.instance).await?;
        if let Some(found) = &instance {
            self.ensure_owned(ctx, "DB instance", &names.instance, found.db_instance_arn())
                .await?;
        }
        let subnet_groups = self.subnet_groups();
        if let Some(group) = subnet_groups.find(&names.subnet_group).await? {
            let tags = subnet_groups
                .tags(&names.subnet_group, group.arn.as_deref())
                .await?;
            check_owned(ctx, "DB subnet group", &names.subnet_group, &tags)?;
        }
        if let Some(group) = self.find_parameter_group(&names.parameter_group).await? {
            self.ensure_owned(
                ctx,
                "DB parameter group",
                &names.parameter_group,
                group.db_parameter_group_arn(),
            )
            .await?;
        }
        security_groups::check_available(
            &self.ec2,
            ctx,
            vpc_id,
            &[&names.db_security_group, &names.client_security_group],
        )
        .await?;
        Ok(instance)
    }
}
