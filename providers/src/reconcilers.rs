//! One reconciler per component kind, built once from the process's clients and
//! dispatched with a `match`, so adding a kind is a compile error until it is handled.

use crate::aws::AwsClients;
use crate::elasticache::RedisReconciler;
use crate::microservice::MicroServiceReconciler;
use crate::rds::RdsReconciler;
use crate::sqs::SqsReconciler;
use panka_core::model::ComponentKind;
use panka_core::reconcile::{FieldChange, Reconciler};

pub struct Reconcilers {
    microservice: MicroServiceReconciler,
    rds: RdsReconciler,
    sqs: SqsReconciler,
    redis: RedisReconciler,
}

impl Reconcilers {
    pub fn new(clients: &AwsClients) -> Self {
        Reconcilers {
            microservice: MicroServiceReconciler::new(clients),
            rds: RdsReconciler::new(clients),
            sqs: SqsReconciler::new(clients.sqs.clone()),
            redis: RedisReconciler::from_clients(clients),
        }
    }

    pub fn for_kind(&self, kind: ComponentKind) -> &dyn Reconciler {
        match kind {
            ComponentKind::MicroService => &self.microservice,
            ComponentKind::Rds => &self.rds,
            ComponentKind::Sqs => &self.sqs,
            ComponentKind::ElastiCacheRedis => &self.redis,
        }
    }

    /// The planner's rule: whether a change of `path` in a `kind` updates in place.
    pub fn field_change(&self, kind: ComponentKind, path: &str) -> FieldChange {
        self.for_kind(kind).field_change(path)
    }
}

impl panka_core::engine::ReconcilerSet for Reconcilers {
    fn for_kind(&self, kind: ComponentKind) -> &dyn Reconciler {
        Reconcilers::for_kind(self, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsSettings;

    #[tokio::test]
    async fn every_kind_has_its_reconciler() {
        let settings = AwsSettings {
            region: Some("us-east-1".into()),
            profile: None,
            endpoint_url: Some("http://127.0.0.1:9".into()),
        };
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .empty_test_environment()
            .load()
            .await;
        let reconcilers = Reconcilers::new(&AwsClients::new(&sdk, &settings));
        for kind in ComponentKind::ALL {
            assert_eq!(reconcilers.for_kind(kind).kind(), kind);
        }
        assert_eq!(
            reconcilers.field_change(ComponentKind::Sqs, "fifo"),
            FieldChange::Replace
        );
        assert_eq!(
            reconcilers.field_change(ComponentKind::Sqs, "visibility_timeout_seconds"),
            FieldChange::InPlace
        );
    }
}
