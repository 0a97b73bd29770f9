//! The cache parameter group `<base>-<family>`, only when the spec sets `parameters`: the
//! family is part of the name, so a major upgrade gets a new group the cache can switch
//! to while the old one still exists. Its user parameters are made exactly the spec's
//! ([`ParameterDelta`]); without parameters the cache uses the family's default group.

use super::RedisReconciler;
use super::description;
use super::names::{ids, wanted_parameter_group};
use super::ownership::{aws_tags, tags_of};
use super::primary::Live;
use super::versions::engine_family;
use crate::describe::{self, Missing};
use crate::sdk_error::provider_error;
use crate::shared::gone::{done_if_gone, with_kind};
use crate::shared::ownership::{ensure_ours, recorded};
use crate::shared::parameters::{PARAMETERS_PER_CALL, ParameterDelta};
use aws_sdk_elasticache::operation::describe_cache_parameter_groups::DescribeCacheParameterGroupsError;
use aws_sdk_elasticache::types::{CacheParameterGroup, ParameterNameValue};
use panka_core::model::RedisSpec;
use panka_core::reconcile::{ErrorKind, KnownIds, ProviderError, ResourceContext};
use std::collections::BTreeMap;

fn parameter_values<'a>(
    names: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<ParameterNameValue> {
    names
        .map(|(name, value)| {
            ParameterNameValue::builder()
                .parameter_name(name)
                .set_parameter_value(value.map(str::to_string))
                .build()
        })
        .collect()
}

impl RedisReconciler {
    pub(super) async fn describe_parameter_group(
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
    pub(super) async fn user_parameters(
        &self,
        name: &str,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let parameters = self
            .elasticache
            .describe_cache_parameters()
            .cache_parameter_group_name(name)
            .source("user")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error(&format!("cannot read the parameters of {name}"), &e))?;
        Ok(parameters
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_name()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            })
            .collect())
    }

    /// Creates (or adopts) the parameter group and makes its user parameters exactly
    /// `spec.parameters`. `None` when the spec sets none.
    pub(super) async fn ensure_parameter_group(
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
                    let err =
                        provider_error(&format!("cannot create cache parameter group {name}"), &e);
                    if !raced {
                        return Err(err);
                    }
                    // Lost a race since the lookup: the winner is adopted only when it is
                    // the component's (the one ownership policy).
                    let group = self.describe_parameter_group(&name).await?.ok_or(err)?;
                    self.ensure_owned(ctx, "cache parameter group", &name, group.arn())
                        .await?;
                }
            }
        }
        self.set_parameters(&name, &spec.parameters).await?;
        Ok(Some(name))
    }

    /// Makes the group's user parameters exactly `wanted`: the ones no longer wanted are
    /// reset to the engine's defaults, then the new and changed ones are set.
    async fn set_parameters(
        &self,
        name: &str,
        wanted: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let current = self.user_parameters(name).await?;
        let delta = ParameterDelta::between(&current, wanted);
        let stale = parameter_values(delta.reset.iter().map(|&k| (k, None)));
        for chunk in stale.chunks(PARAMETERS_PER_CALL) {
            self.elasticache
                .reset_cache_parameter_group()
                .cache_parameter_group_name(name)
                .set_parameter_name_values(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot reset parameters of {name}"), &e))?;
        }
        let changed = parameter_values(delta.set.iter().map(|&(k, v)| (k, Some(v))));
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

    /// The parameter group the cache must switch to, if any: ours when the spec sets
    /// parameters, else the family's default when a custom group is in use.
    pub(super) async fn parameter_group_change(
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

    /// Deletes the group when it is the component's (recorded in `known`, or tagged as
    /// its own); gone is done, and a group still in use is a `Conflict`.
    pub(super) async fn delete_parameter_group(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        name: &str,
    ) -> Result<(), ProviderError> {
        let what = "cache parameter group";
        let Some(group) = self.describe_parameter_group(name).await? else {
            return Ok(());
        };
        let ours = recorded(known, ids::PARAMETER_GROUP, name);
        ensure_ours(
            ctx,
            what,
            name,
            ours,
            tags_of(&self.elasticache, group.arn()),
        )
        .await?;
        let deleted = self
            .elasticache
            .delete_cache_parameter_group()
            .cache_parameter_group_name(name)
            .send()
            .await;
        done_if_gone(deleted.map_err(|e| {
            let fault = e.as_service_error();
            let gone = fault.is_some_and(|s| s.is_cache_parameter_group_not_found_fault());
            let busy = fault.is_some_and(|s| s.is_invalid_cache_parameter_group_state_fault());
            let error = provider_error(&format!("cannot delete {what} {name}"), &e);
            with_kind(
                with_kind(error, ErrorKind::NotFound, gone),
                ErrorKind::Conflict,
                busy,
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::elasticache::testing::*;
    use crate::elasticache::{RedisReconciler, desired_fields, ids, parameter_group_name};
    use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput;
    use aws_sdk_elasticache::operation::describe_cache_parameters::DescribeCacheParametersOutput;
    use aws_sdk_elasticache::types::Parameter;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::reconcile::Reconciler;

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
}
