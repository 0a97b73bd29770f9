//! What the RDS tests share: the walkthrough's database, and a reconciler on mock clients.

use super::RdsReconciler;
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::types::DbInstance;
use aws_sdk_rds::types::error::DbInstanceNotFoundFault;
use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use panka_core::model::{ComponentId, Engine, RdsSpec, StorageType};
use panka_core::reconcile::ResourceContext;
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) fn ctx(production: bool) -> ResourceContext {
    ResourceContext {
        stack: "notification-platform".into(),
        environment: if production {
            "production"
        } else {
            "development"
        }
        .into(),
        id: ComponentId::new("email-service", "database"),
        region: "us-east-1".into(),
        production,
        network: None,
        domain: None,
    }
}

pub(crate) fn spec() -> RdsSpec {
    RdsSpec {
        engine: Engine::Postgres,
        engine_version: "15.4".into(),
        instance_class: "db.t3.small".into(),
        storage_type: StorageType::Gp3,
        allocated_gb: 20,
        max_allocated_gb: None,
        iops: None,
        multi_az: false,
        publicly_accessible: false,
        database_name: "emaildb".into(),
        username: "dbadmin".into(),
        port: 5432,
        password_secret: "/stacks/notification-platform/email-service/db-password".into(),
        password_key: None,
        backup_retention_days: 7,
        backup_window: None,
        maintenance_window: Some("Sun:04:00-Sun:04:30".into()),
        deletion_protection: None,
        parameters: BTreeMap::new(),
        spans: Default::default(),
    }
}

pub(crate) fn instance(status: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier("notification-platform-development-email-service-database")
        .db_instance_status(status)
        .build()
}

pub(crate) fn reconciler(rules: &[&Rule]) -> RdsReconciler {
    let rds = mock_client!(aws_sdk_rds, RuleMode::Sequential, rules.iter().copied());
    let none: [&Rule; 0] = [];
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, none);
    let sm = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, none);
    let mut reconciler = RdsReconciler::from_clients(rds, ec2, sm);
    reconciler.delete_poll_interval = Duration::from_millis(1);
    reconciler
}

pub(crate) fn described(
    status: &'static str,
) -> impl Fn() -> DescribeDbInstancesOutput + Send + Sync + 'static {
    move || {
        DescribeDbInstancesOutput::builder()
            .db_instances(instance(status))
            .build()
    }
}

pub(crate) fn not_found() -> DescribeDBInstancesError {
    DescribeDBInstancesError::DbInstanceNotFoundFault(
        DbInstanceNotFoundFault::builder()
            .message(
                "DBInstance notification-platform-development-email-service-database not found.",
            )
            .build(),
    )
}
