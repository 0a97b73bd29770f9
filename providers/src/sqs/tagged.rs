//! The queues carrying a stack+environment's tags, for `drift`'s orphan report.

use super::SqsReconciler;
use crate::orphans::{Listed, owned_by_tags};
use crate::sdk_error::provider_error;
use panka_core::drift::{Owner, TaggedResource};
use panka_core::reconcile::ProviderError;

impl SqsReconciler {
    pub(super) async fn tagged_queues(
        &self,
        owner: &Owner,
    ) -> Result<Vec<TaggedResource>, ProviderError> {
        // Queue names start with `<stack>-<env>-` (names are cut at their end), so the
        // prefix narrows the listing without missing any of ours.
        let prefix = format!("{}-{}-", owner.stack, owner.environment);
        let urls: Vec<String> = self
            .sqs
            .list_queues()
            .queue_name_prefix(&prefix)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error("cannot list SQS queues", &e))?;
        let listed = urls
            .into_iter()
            .map(|url| Listed {
                id: url.clone(),
                aliases: vec![url.rsplit('/').next().unwrap_or_default().to_string()],
                tags_by: url,
            })
            .collect();
        owned_by_tags(owner, "sqs_queue", listed, |url| async move {
            self.tags(&url).await
        })
        .await
    }
}
