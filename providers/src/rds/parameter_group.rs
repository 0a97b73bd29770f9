//! The DB parameter group (`<base>`, one family): created for the engine's family, its
//! user parameters made exactly the spec's `parameters` ([`ParameterDelta`]), deleted
//! when it is the component's.

use super::RdsReconciler;
use super::names::Names;
use super::ownership::{rds_tags, tags_of};
use crate::describe::{self, Missing};
use crate::sdk_error::provider_error;
use crate::shared::gone::done_if_gone;
use crate::shared::ownership::ensure_ours;
use crate::shared::parameters::{PARAMETERS_PER_CALL, ParameterDelta};
use aws_sdk_rds::operation::describe_db_parameter_groups::DescribeDBParameterGroupsError;
use aws_sdk_rds::types::{ApplyMethod, DbParameterGroup, Parameter};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

impl RdsReconciler {
    pub(super) async fn find_parameter_group(
        &self,
        name: &str,
    ) -> Result<Option<DbParameterGroup>, ProviderError> {
        describe::or_none(
            self.rds
                .describe_db_parameter_groups()
                .db_parameter_group_name(name)
                .send(),
            Missing::Fault(DescribeDBParameterGroupsError::is_db_parameter_group_not_found_fault),
            || format!("cannot describe DB parameter group {name}"),
            |out| out.db_parameter_groups().first().cloned(),
        )
        .await
    }

    pub(super) async fn ensure_parameter_group(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        family: &str,
    ) -> Result<(), ProviderError> {
        let name = &names.parameter_group;
        if let Some(group) = self.find_parameter_group(name).await? {
            let found = group.db_parameter_group_family().unwrap_or_default();
            if found == family {
                return Ok(());
            }
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("DB parameter group {name} is for {found}, but the spec needs {family}"),
            )
            .with_hint("a new engine or major version replaces the database; run plan again to see the replacement"));
        }
        let created = self
            .rds
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(format!("panka: {}", ctx.id))
            .set_tags(Some(rds_tags(ctx)))
            .send()
            .await;
        let (raced, err) = match created {
            Ok(_) => return Ok(()),
            Err(e) => (
                e.as_service_error()
                    .is_some_and(|s| s.is_db_parameter_group_already_exists_fault()),
                provider_error(&format!("cannot create DB parameter group {name}"), &e),
            ),
        };
        if !raced && err.kind != ErrorKind::AlreadyExists {
            return Err(err);
        }
        // Lost a race since the ownership check: the winner is adopted only when it is the
        // component's (the one ownership policy), and only for the same family.
        let Some(group) = self.find_parameter_group(name).await? else {
            return Err(err);
        };
        self.ensure_owned(
            ctx,
            "DB parameter group",
            name,
            group.db_parameter_group_arn(),
        )
        .await?;
        let found = group.db_parameter_group_family().unwrap_or_default();
        if found != family {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("DB parameter group {name} is for {found}, but the spec needs {family}"),
            ));
        }
        Ok(())
    }

    /// Every parameter of the group (`source: None`) or those of one source, all pages.
    async fn describe_parameters(
        &self,
        group: &str,
        source: Option<&str>,
    ) -> Result<Vec<Parameter>, ProviderError> {
        self.rds
            .describe_db_parameters()
            .db_parameter_group_name(group)
            .set_source(source.map(str::to_string))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot read the parameters of DB parameter group {group}"),
                    &e,
                )
            })
    }

    /// The parameters set by the user (panka), by name.
    pub(super) async fn user_parameters(
        &self,
        group: &str,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self
            .describe_parameters(group, Some("user"))
            .await?
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_name()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            })
            .collect())
    }

    /// Makes the group's user parameters exactly `wanted`: sets the changed ones and
    /// resets the ones no longer wanted to the engine's defaults. Static parameters take
    /// effect at the next reboot, dynamic ones at once.
    pub(super) async fn sync_parameters(
        &self,
        group: &str,
        wanted: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let current = self.user_parameters(group).await?;
        let delta = ParameterDelta::between(&current, wanted);
        if delta.is_empty() {
            return Ok(());
        }
        let static_names: Vec<String> = self
            .describe_parameters(group, None)
            .await?
            .iter()
            .filter(|p| p.apply_type() == Some("static"))
            .filter_map(|p| p.parameter_name().map(str::to_string))
            .collect();
        let method = |name: &str| {
            if static_names.iter().any(|s| s == name) {
                ApplyMethod::PendingReboot
            } else {
                ApplyMethod::Immediate
            }
        };
        for chunk in delta.set.chunks(PARAMETERS_PER_CALL) {
            let parameters = chunk
                .iter()
                .map(|&(name, value)| {
                    Parameter::builder()
                        .parameter_name(name)
                        .parameter_value(value)
                        .apply_method(method(name))
                        .build()
                })
                .collect();
            self.rds
                .modify_db_parameter_group()
                .db_parameter_group_name(group)
                .set_parameters(Some(parameters))
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot set parameters of DB parameter group {group}"),
                        &e,
                    )
                })?;
        }
        for chunk in delta.reset.chunks(PARAMETERS_PER_CALL) {
            let parameters = chunk
                .iter()
                .map(|&name| {
                    Parameter::builder()
                        .parameter_name(name)
                        .apply_method(method(name))
                        .build()
                })
                .collect();
            self.rds
                .reset_db_parameter_group()
                .db_parameter_group_name(group)
                .set_parameters(Some(parameters))
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot reset parameters of DB parameter group {group}"),
                        &e,
                    )
                })?;
        }
        Ok(())
    }

    /// Deletes the group when it is the component's (`recorded` in its state, or tagged
    /// as its own); gone is done.
    pub(super) async fn delete_parameter_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
        recorded: bool,
    ) -> Result<(), ProviderError> {
        let what = "DB parameter group";
        let Some(group) = self.find_parameter_group(name).await? else {
            return Ok(());
        };
        let tags = tags_of(&self.rds, what, name, group.db_parameter_group_arn());
        ensure_ours(ctx, what, name, recorded, tags).await?;
        done_if_gone(
            self.rds
                .delete_db_parameter_group()
                .db_parameter_group_name(name)
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot delete {what} {name}"), &e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ctx, reconciler};
    use super::*;
    use aws_sdk_rds::operation::create_db_parameter_group::CreateDBParameterGroupError;
    use aws_sdk_rds::operation::describe_db_parameter_groups::DescribeDbParameterGroupsOutput;
    use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_rds::types::Tag;
    use aws_sdk_rds::types::error::{
        DbParameterGroupAlreadyExistsFault, DbParameterGroupNotFoundFault,
    };
    use aws_smithy_mocks::mock;
    use panka_core::model::ComponentId;
    use panka_core::reconcile::KnownIds;

    #[tokio::test]
    async fn a_group_created_by_someone_else_in_a_race_is_refused() {
        let missing = mock!(aws_sdk_rds::Client::describe_db_parameter_groups).then_error(|| {
            DescribeDBParameterGroupsError::DbParameterGroupNotFoundFault(
                DbParameterGroupNotFoundFault::builder().build(),
            )
        });
        let lost = mock!(aws_sdk_rds::Client::create_db_parameter_group).then_error(|| {
            CreateDBParameterGroupError::DbParameterGroupAlreadyExistsFault(
                DbParameterGroupAlreadyExistsFault::builder().build(),
            )
        });
        let winner = mock!(aws_sdk_rds::Client::describe_db_parameter_groups).then_output(|| {
            DescribeDbParameterGroupsOutput::builder()
                .db_parameter_groups(
                    DbParameterGroup::builder()
                        .db_parameter_group_name("taken")
                        .db_parameter_group_family("postgres15")
                        .db_parameter_group_arn("arn:aws:rds:us-east-1:111122223333:pg:taken")
                        .build(),
                )
                .build()
        });
        // The winner carries another component's tags.
        let other = ResourceContext {
            id: ComponentId::new("billing", "ledger"),
            ..ctx(false)
        };
        let tags = mock!(aws_sdk_rds::Client::list_tags_for_resource).then_output(move || {
            ListTagsForResourceOutput::builder()
                .set_tag_list(Some(
                    other
                        .tags()
                        .into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build()
        });
        let r = reconciler(&[&missing, &lost, &winner, &tags]);
        let names = Names::new(&ctx(false), &KnownIds::new()).expect("names");
        let err = r
            .ensure_parameter_group(&ctx(false), &names, "postgres15")
            .await
            .expect_err("another component's group is not adopted");
        assert_eq!(err.kind, ErrorKind::Foreign, "{err:?}");
        assert!(err.message.contains("billing/ledger"), "{}", err.message);
        assert_eq!(tags.num_calls(), 1);
    }
}
