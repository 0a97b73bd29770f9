//! The component's CloudWatch log group, where the awslogs driver writes.

use crate::sdk_error::provider_error;
use crate::shared::gone::done_if_gone;
use crate::shared::ownership::check_owned;
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroup {
    pub name: String,
    /// The group's ARN without the `:*` that DescribeLogGroups appends to `arn`.
    pub arn: String,
    /// `None`: kept forever.
    pub retention_days: Option<u32>,
}

impl LogGroup {
    /// The resource covering the group's streams, for IAM policies.
    pub fn streams_arn(&self) -> String {
        format!("{}:*", self.arn)
    }
}

/// The log group `name`, if it exists.
pub async fn find(
    client: &aws_sdk_cloudwatchlogs::Client,
    name: &str,
) -> Result<Option<LogGroup>, ProviderError> {
    let out = client
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot look up log group {name}"), &e))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .map(|g| LogGroup {
            name: name.to_string(),
            arn: g
                .log_group_arn()
                .map(str::to_string)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
                .unwrap_or_default(),
            retention_days: g.retention_in_days().and_then(|d| u32::try_from(d).ok()),
        }))
}

pub async fn tags(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &LogGroup,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(&group.arn)
        .send()
        .await
        .map_err(|e| {
            provider_error(
                &format!("cannot read the tags of log group {}", group.name),
                &e,
            )
        })?;
    Ok(out
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// Creates or adopts the log group and sets its retention.
pub async fn ensure(
    client: &aws_sdk_cloudwatchlogs::Client,
    ctx: &ResourceContext,
    name: &str,
    retention_days: u32,
) -> Result<LogGroup, ProviderError> {
    let group = match find(client, name).await? {
        Some(group) => {
            check_owned(ctx, "log group", name, &tags(client, &group).await?)?;
            group
        }
        None => {
            if let Err(e) = client
                .create_log_group()
                .log_group_name(name)
                .set_tags(Some(ctx.tags().into_iter().collect()))
                .send()
                .await
            {
                let err = provider_error(&format!("cannot create log group {name}"), &e);
                // Another run created it in between; it is checked below like any other.
                if err.kind != ErrorKind::AlreadyExists {
                    return Err(err);
                }
            }
            let group = find(client, name).await?.ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Transient,
                    format!("log group {name} was created but cannot be found yet"),
                )
            })?;
            check_owned(ctx, "log group", name, &tags(client, &group).await?)?;
            group
        }
    };
    if group.retention_days == Some(retention_days) {
        return Ok(group);
    }
    client
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(i32::try_from(retention_days).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|e| {
            provider_error(&format!("cannot set the retention of log group {name}"), &e)
        })?;
    Ok(LogGroup {
        retention_days: Some(retention_days),
        ..group
    })
}

/// Deletes the log group (the logs of a destroyed component go with it); gone is fine.
/// The caller checked that the group is the component's (`check_ownership`).
pub async fn delete(
    client: &aws_sdk_cloudwatchlogs::Client,
    name: &str,
) -> Result<(), ProviderError> {
    done_if_gone(
        client
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot delete log group {name}"), &e)),
    )
}
