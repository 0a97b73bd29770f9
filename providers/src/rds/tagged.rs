//! The instances carrying a stack+environment's tags, for `drift`'s orphan report.

use super::RdsReconciler;
use crate::sdk_error::provider_error;
use panka_core::drift::{Owner, TaggedResource};
use panka_core::reconcile::ProviderError;
use std::collections::BTreeMap;

impl RdsReconciler {
    pub(super) async fn tagged_instances(
        &self,
        owner: &Owner,
    ) -> Result<Vec<TaggedResource>, ProviderError> {
        // DescribeDBInstances carries each instance's tags: no tag read per instance.
        let instances = self
            .rds
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error("cannot list RDS instances", &e))?;
        let mut found = Vec::new();
        for instance in &instances {
            let tags: BTreeMap<String, String> = instance
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            let id = instance
                .db_instance_identifier()
                .unwrap_or_default()
                .to_string();
            let aliases = instance
                .db_instance_arn()
                .map(str::to_string)
                .into_iter()
                .collect();
            found.extend(owner.resource("rds_instance", id, aliases, &tags));
        }
        Ok(found)
    }
}
