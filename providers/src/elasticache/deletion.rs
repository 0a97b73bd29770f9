//! Deleting the primary resource: a cache in the middle of a change is waited for first
//! (ElastiCache refuses to delete it), a final snapshot is taken unless told otherwise,
//! and the wait until it is gone is bounded.

use super::RedisReconciler;
use super::primary::Primary;
use super::readiness::Goal;
use panka_core::reconcile::{DeleteOptions, ProviderError};

/// `<id>-final-<UTC timestamp>`: unique per deletion, and a valid snapshot name.
pub fn final_snapshot_name(id: &str, now: jiff::Timestamp) -> String {
    format!("{id}-final-{}", now.strftime("%Y%m%d%H%M%S"))
}

impl RedisReconciler {
    pub(super) async fn delete_primary(
        &self,
        primary: &Primary,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let (mode, id) = (primary.mode(), primary.id());
        match primary.status() {
            // An earlier run asked already.
            "deleting" => {}
            // ElastiCache refuses to delete while a change is in progress.
            "creating" | "modifying" | "snapshotting" => {
                self.wait_for(mode, id, Goal::Available).await?;
                self.request_deletion(primary, options).await?;
            }
            _ => self.request_deletion(primary, options).await?,
        }
        self.wait_for(mode, id, Goal::Gone).await
    }

    async fn request_deletion(
        &self,
        primary: &Primary,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let id = primary.id();
        let snapshot = options
            .final_snapshot
            .then(|| final_snapshot_name(id, jiff::Timestamp::now()));
        match primary {
            Primary::Group(_) => self.delete_group(id, snapshot).await,
            Primary::Cluster(_) => self.delete_cluster(id, snapshot).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_snapshots_are_named_by_time() {
        let at: jiff::Timestamp = "2026-11-27T08:15:30Z".parse().expect("a timestamp");
        assert_eq!(
            final_snapshot_name("shop-dev-web-cache", at),
            "shop-dev-web-cache-final-20261127081530"
        );
    }
}
