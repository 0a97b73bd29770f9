//! The ECS cluster shared by every MicroService of a stack and environment. A component
//! creates it when missing and never deletes it (destroying the environment does).

use crate::naming::environment_tags;
use crate::sdk_error::provider_error;
use aws_sdk_ecs::types::{ClusterField, Tag};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;

/// Creates the cluster `name` when there is no active one; returns its ARN.
///
/// Errors: `Foreign` when an active cluster of that name is not this stack's and
/// environment's.
pub async fn ensure(
    client: &aws_sdk_ecs::Client,
    ctx: &ResourceContext,
    name: &str,
) -> Result<String, ProviderError> {
    let out = client
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot look up ECS cluster {name}"), &e))?;
    if let Some(cluster) = out.clusters().iter().find(|c| c.status() == Some("ACTIVE")) {
        let found: BTreeMap<String, String> = cluster
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        let wanted = environment_tags(ctx);
        if !wanted.iter().all(|(k, v)| found.get(k) == Some(v)) {
            return Err(ProviderError::new(
                ErrorKind::Foreign,
                format!(
                    "ECS cluster {name} exists but is not the cluster panka made for {}/{}",
                    ctx.stack, ctx.environment
                ),
            )
            .with_hint("rename or delete that cluster; panka changes only resources it created"));
        }
        return Ok(cluster.cluster_arn().unwrap_or(name).to_string());
    }
    // CreateCluster is idempotent: a concurrent creator gets the same cluster back.
    let out = client
        .create_cluster()
        .cluster_name(name)
        .set_tags(Some(
            environment_tags(ctx)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot create ECS cluster {name}"), &e))?;
    Ok(out
        .cluster()
        .and_then(|c| c.cluster_arn())
        .unwrap_or(name)
        .to_string())
}
