//! Ownership (the policy of [`crate::shared::ownership`]): ElastiCache resources carry
//! the component's tags, read with ListTagsForResource by ARN (a resource without an ARN
//! has none); before a create, every resource under the component's names must be its
//! own, or nothing changes.

use super::RedisReconciler;
use super::names::{Names, wanted_parameter_group};
use super::primary::Primary;
use crate::naming;
use crate::sdk_error::provider_error;
use crate::shared::ownership::check_owned;
use crate::shared::security_groups;
use crate::shared::subnet_group::SubnetGroupApi;
use aws_sdk_elasticache::types::Tag;
use panka_core::model::RedisSpec;
use panka_core::reconcile::{ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// The component's ownership tags, as ElastiCache takes them.
pub(super) fn aws_tags(ctx: &ResourceContext) -> Vec<Tag> {
    naming::tags(ctx)
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// The tags of the resource `arn`; none without an ARN.
pub(super) async fn tags_of(
    elasticache: &aws_sdk_elasticache::Client,
    arn: Option<&str>,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let Some(arn) = arn else {
        return Ok(BTreeMap::new());
    };
    let out = elasticache
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

impl RedisReconciler {
    /// `Foreign` unless the resource carries this component's tags.
    pub(super) async fn ensure_owned(
        &self,
        ctx: &ResourceContext,
        what: &str,
        name: &str,
        arn: Option<&str>,
    ) -> Result<(), ProviderError> {
        check_owned(ctx, what, name, &tags_of(&self.elasticache, arn).await?)
    }

    /// Every resource with one of this component's names must be its own, checked before
    /// anything is created so that a refusal changes nothing. Returns the primary resource
    /// when it exists (to adopt).
    pub(super) async fn preflight(
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
        let subnet_groups = self.subnet_groups();
        if let Some(group) = subnet_groups.find(&names.subnet_group).await? {
            let tags = subnet_groups
                .tags(&names.subnet_group, group.arn.as_deref())
                .await?;
            check_owned(ctx, "cache subnet group", &names.subnet_group, &tags)?;
        }
        if let Some(name) = wanted_parameter_group(ctx, spec)
            && let Some(group) = self.describe_parameter_group(&name).await?
        {
            self.ensure_owned(ctx, "cache parameter group", &name, group.arn())
                .await?;
        }
        security_groups::check_available(
            &self.ec2,
            ctx,
            vpc_id,
            &[&names.client_security_group, &names.security_group],
        )
        .await?;
        Ok(existing)
    }
}

#[cfg(test)]
mod tests {
    use crate::elasticache::RedisReconciler;
    use crate::elasticache::testing::*;
    use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_elasticache::types::Tag;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::reconcile::{ErrorKind, Inputs, Reconciler};

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
}
