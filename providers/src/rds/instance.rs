//! The DB instance: described, created (with the master password, in that one request),
//! modified in place, and deleted (deletion protection off only when allowed, a final
//! snapshot unless told otherwise), then waited for until gone.

use super::RdsReconciler;
use super::fields::{Changes, desired_fields};
use super::names::Names;
use super::ownership::rds_tags;
use super::storage::{int, requested_iops};
use crate::describe::{self, Missing};
use crate::sdk_error::provider_error;
use crate::secrets::Password;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::types::DbInstance;
use panka_core::model::{ClosedSet, RdsSpec};
use panka_core::reconcile::{DeleteOptions, ErrorKind, ProviderError, ResourceContext};

impl RdsReconciler {
    pub(super) async fn describe_instance(
        &self,
        identifier: &str,
    ) -> Result<Option<DbInstance>, ProviderError> {
        describe::or_none(
            self.rds
                .describe_db_instances()
                .db_instance_identifier(identifier)
                .send(),
            // A missing instance is `None` however the answer words it.
            Missing::FaultOrNotFound(DescribeDBInstancesError::is_db_instance_not_found_fault),
            || format!("cannot describe DB instance {identifier}"),
            |out| out.db_instances().first().cloned(),
        )
        .await
    }

    pub(super) async fn create_instance(
        &self,
        ctx: &ResourceContext,
        spec: &RdsSpec,
        names: &Names,
        db_security_group: &str,
        password: &Password,
    ) -> Result<(), ProviderError> {
        let desired = desired_fields(ctx, spec);
        let created = self
            .rds
            .create_db_instance()
            .db_instance_identifier(&names.instance)
            .engine(spec.engine.as_str())
            .engine_version(&spec.engine_version)
            // The spec pins the version: an automatic minor upgrade would show as drift
            // that an update could not undo (RDS does not downgrade).
            .auto_minor_version_upgrade(false)
            .db_instance_class(&spec.instance_class)
            .storage_type(spec.storage_type.as_str())
            .allocated_storage(int(spec.allocated_gb))
            .set_max_allocated_storage(desired.max_allocated_gb.map(int))
            .set_iops(
                requested_iops(spec.storage_type.as_str(), spec.allocated_gb, spec.iops).map(int),
            )
            .multi_az(spec.multi_az)
            .publicly_accessible(spec.publicly_accessible)
            .db_name(&spec.database_name)
            .master_username(&spec.username)
            .master_user_password(password.expose())
            .port(i32::from(spec.port))
            .db_subnet_group_name(&names.subnet_group)
            .db_parameter_group_name(&names.parameter_group)
            .vpc_security_group_ids(db_security_group)
            .backup_retention_period(int(spec.backup_retention_days))
            .preferred_backup_window(&desired.backup_window)
            .preferred_maintenance_window(&desired.maintenance_window)
            .deletion_protection(desired.deletion_protection)
            .storage_encrypted(desired.storage_encrypted)
            .copy_tags_to_snapshot(true)
            .set_tags(Some(rds_tags(ctx)))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) => {
                let err =
                    provider_error(&format!("cannot create DB instance {}", names.instance), &e);
                if err.kind != ErrorKind::AlreadyExists {
                    return Err(err);
                }
                // Another apply got there between our look and our create.
                let arn = self
                    .describe_instance(&names.instance)
                    .await?
                    .and_then(|i| i.db_instance_arn().map(str::to_string));
                self.ensure_owned(ctx, "DB instance", &names.instance, arn.as_deref())
                    .await
            }
        }
    }

    pub(super) async fn modify_instance(
        &self,
        identifier: &str,
        changes: &Changes,
        apply_immediately: bool,
    ) -> Result<(), ProviderError> {
        self.rds
            .modify_db_instance()
            .db_instance_identifier(identifier)
            .apply_immediately(apply_immediately)
            .set_db_instance_class(changes.instance_class.clone())
            .set_engine_version(changes.engine_version.clone())
            .set_storage_type(changes.storage_type.clone())
            .set_allocated_storage(changes.allocated_gb.map(int))
            .set_max_allocated_storage(changes.max_allocated_gb.map(int))
            .set_iops(changes.iops.map(int))
            .set_multi_az(changes.multi_az)
            .set_publicly_accessible(changes.publicly_accessible)
            .set_db_port_number(changes.port.map(i32::from))
            .set_backup_retention_period(changes.backup_retention_days.map(int))
            .set_preferred_backup_window(changes.backup_window.clone())
            .set_preferred_maintenance_window(changes.maintenance_window.clone())
            .set_deletion_protection(changes.deletion_protection)
            .set_db_parameter_group_name(changes.parameter_group.clone())
            .set_vpc_security_group_ids(changes.security_group.clone().map(|id| vec![id]))
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot modify DB instance {identifier}"), &e))?;
        Ok(())
    }

    pub(super) async fn described(&self, identifier: &str) -> Result<DbInstance, ProviderError> {
        self.describe_instance(identifier)
            .await?
            .ok_or_else(|| not_found(identifier))
    }

    /// Turns deletion protection off when allowed, then deletes the instance (with a
    /// final snapshot unless told otherwise). An instance already deleting is fine.
    pub(super) async fn delete_instance(
        &self,
        identifier: &str,
        instance: &DbInstance,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        if instance.deletion_protection() == Some(true) {
            if !options.disable_deletion_protection {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("DB instance {identifier} has deletion protection on; it was not deleted"),
                )
                .with_hint("deleting a database is a dangerous operation: run again with --allow-dangerous to turn deletion protection off and delete it"));
            }
            self.rds
                .modify_db_instance()
                .db_instance_identifier(identifier)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot turn off deletion protection of DB instance {identifier}"),
                        &e,
                    )
                })?;
        }
        let request = self
            .rds
            .delete_db_instance()
            .db_instance_identifier(identifier);
        let request = if options.final_snapshot {
            request
                .skip_final_snapshot(false)
                .final_db_snapshot_identifier(final_snapshot_id(identifier))
        } else {
            request.skip_final_snapshot(true)
        };
        let Err(e) = request.send().await else {
            return Ok(());
        };
        let err = provider_error(&format!("cannot delete DB instance {identifier}"), &e);
        match err.kind {
            ErrorKind::NotFound => Ok(()),
            ErrorKind::Conflict => match self.describe_instance(identifier).await? {
                Some(found) if found.db_instance_status() == Some("deleting") => Ok(()),
                None => Ok(()),
                Some(_) => Err(err),
            },
            _ => Err(err),
        }
    }

    /// Waits, bounded, until the instance is gone: its subnet group and security groups
    /// cannot be deleted while it exists.
    pub(super) async fn wait_until_gone(&self, identifier: &str) -> Result<(), ProviderError> {
        let deadline = tokio::time::Instant::now() + self.delete_timeout;
        loop {
            let Some(instance) = self.describe_instance(identifier).await? else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(ProviderError::new(
                    ErrorKind::TimedOut,
                    format!(
                        "DB instance {identifier} is still {} after {} minutes",
                        instance.db_instance_status().unwrap_or("there"),
                        self.delete_timeout.as_secs() / 60
                    ),
                )
                .with_hint("run the command again later: deleting resumes where it stopped"));
            }
            tokio::time::sleep(self.delete_poll_interval).await;
        }
    }
}

pub(super) fn not_found(identifier: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::NotFound,
        format!("DB instance {identifier} does not exist"),
    )
    .with_hint("it was deleted outside panka; run plan again to create it")
}

/// `<identifier>-final-<UTC timestamp>`: unique per deletion, and a valid snapshot name
/// (letters, digits, single hyphens).
fn final_snapshot_id(identifier: &str) -> String {
    format!(
        "{identifier}-final-{}",
        jiff::Timestamp::now().strftime("%Y%m%d%H%M%S")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::testing::{ctx, described, not_found, reconciler};
    use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
    use aws_smithy_mocks::mock;
    use std::time::Duration;

    #[tokio::test]
    async fn production_changes_wait_for_the_maintenance_window() {
        for (production, immediately) in [(true, false), (false, true)] {
            let rule = mock!(aws_sdk_rds::Client::modify_db_instance)
                .match_requests(move |req| {
                    req.apply_immediately() == Some(immediately)
                        && req.db_instance_class() == Some("db.t3.medium")
                        && req.allocated_storage().is_none()
                })
                .then_output(|| ModifyDbInstanceOutput::builder().build());
            let r = reconciler(&[&rule]);
            let changes = Changes {
                instance_class: Some("db.t3.medium".into()),
                ..Changes::default()
            };
            r.modify_instance("db", &changes, !ctx(production).production)
                .await
                .unwrap();
            assert_eq!(rule.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn delete_waits_until_the_instance_is_gone() {
        let rule = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(described("deleting"))
            .times(3)
            .error(not_found)
            .build();
        let r = reconciler(&[&rule]);
        r.wait_until_gone("db").await.unwrap();
        assert_eq!(rule.num_calls(), 4);
    }

    #[tokio::test]
    async fn delete_stops_waiting_at_its_deadline() {
        let rule = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(described("deleting"))
            .repeatedly()
            .build();
        let mut r = reconciler(&[&rule]);
        r.delete_timeout = Duration::from_millis(20);
        let err = r.wait_until_gone("db").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::TimedOut);
        assert!(err.message.contains("still deleting"), "{err}");
    }

    #[test]
    fn final_snapshots_are_valid_names() {
        let id = final_snapshot_id("shop-dev-web-db");
        assert!(id.starts_with("shop-dev-web-db-final-2"), "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
