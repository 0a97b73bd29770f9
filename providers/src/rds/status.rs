//! What `status` shows of a database: its state, class, engine and Multi-AZ.

use super::RdsReconciler;
use crate::live::rds_status;
use crate::naming::{self, limits};
use crate::sdk_error::provider_error;
use panka_core::reconcile::{ErrorKind, KnownIds, LiveStatus, ProviderError, ResourceContext};

impl RdsReconciler {
    pub(crate) async fn live(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        let identifier = known
            .get(super::ID_INSTANCE)
            .cloned()
            .unwrap_or_else(|| naming::physical(ctx, "", limits::RDS_IDENTIFIER));
        let instance = match self
            .rds
            .describe_db_instances()
            .db_instance_identifier(&identifier)
            .send()
            .await
        {
            Ok(out) => out.db_instances().first().cloned(),
            Err(e) => {
                let err = provider_error(&format!("cannot describe DB instance {identifier}"), &e);
                if err.kind != ErrorKind::NotFound {
                    return Err(err);
                }
                None
            }
        };
        let Some(instance) = instance else {
            return Ok(LiveStatus::missing("DB instance", &identifier));
        };
        let detail = [
            instance.db_instance_class().map(str::to_string),
            instance
                .engine()
                .map(|e| format!("{e} {}", instance.engine_version().unwrap_or_default())),
            instance
                .multi_az()
                .filter(|m| *m)
                .map(|_| "multi-AZ".into()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        Ok(rds_status(
            instance.db_instance_status().unwrap_or("unknown"),
            detail.trim().to_string(),
        ))
    }
}
