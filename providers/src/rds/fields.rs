//! The managed fields of an RDS component, as `normalise` (from the spec) and `read` (from
//! the live instance) return them, and the in-place changes between two of them.

use super::storage::{Allocated, autoscaling_limit, effective_iops, gb, requested_iops};
use super::versions::major_version;
use super::{DEFAULT_BACKUP_WINDOW, DEFAULT_MAINTENANCE_WINDOW};
use aws_sdk_rds::types::DbInstance;
use panka_core::model::{ClosedSet, RdsSpec};
use panka_core::reconcile::ResourceContext;
use serde::Serialize;
use std::collections::BTreeMap;

/// The managed fields of an RDS component, as `normalise` and `read` return them.
/// The password is not one of them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct Fields {
    pub(super) engine: String,
    pub(super) engine_major_version: String,
    pub(super) engine_version: String,
    pub(super) instance_class: String,
    pub(super) storage_type: String,
    pub(super) allocated_gb: Allocated,
    pub(super) max_allocated_gb: Option<u32>,
    pub(super) iops: Option<u32>,
    pub(super) multi_az: bool,
    pub(super) publicly_accessible: bool,
    pub(super) database_name: String,
    pub(super) username: String,
    pub(super) port: u16,
    pub(super) backup_retention_days: u32,
    pub(super) backup_window: String,
    pub(super) maintenance_window: String,
    pub(super) deletion_protection: bool,
    pub(super) storage_encrypted: bool,
    pub(super) parameters: BTreeMap<String, String>,
}

impl Fields {
    pub(super) fn to_json(&self) -> serde_json::Value {
        // A struct of strings, numbers and a string map always serialises.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

pub(super) fn desired_fields(ctx: &ResourceContext, spec: &RdsSpec) -> Fields {
    Fields {
        engine: spec.engine.to_string(),
        engine_major_version: major_version(spec.engine.as_str(), &spec.engine_version),
        engine_version: spec.engine_version.clone(),
        instance_class: spec.instance_class.clone(),
        storage_type: spec.storage_type.to_string(),
        allocated_gb: Allocated::wanted(spec.allocated_gb, spec.max_allocated_gb),
        max_allocated_gb: autoscaling_limit(spec.max_allocated_gb, spec.allocated_gb),
        iops: effective_iops(spec.storage_type.as_str(), spec.allocated_gb, spec.iops),
        multi_az: spec.multi_az,
        publicly_accessible: spec.publicly_accessible,
        database_name: spec.database_name.clone(),
        username: spec.username.clone(),
        port: spec.port,
        backup_retention_days: spec.backup_retention_days,
        backup_window: spec
            .backup_window
            .clone()
            .unwrap_or_else(|| DEFAULT_BACKUP_WINDOW.to_string()),
        maintenance_window: spec
            .maintenance_window
            .as_deref()
            .unwrap_or(DEFAULT_MAINTENANCE_WINDOW)
            .to_ascii_lowercase(),
        deletion_protection: spec.deletion_protection.unwrap_or(ctx.production),
        storage_encrypted: true,
        parameters: spec.parameters.clone(),
    }
}

/// The live fields. Changes pending for the maintenance window count as made: they are
/// scheduled, and showing them again on every plan until the window would invite a
/// second, identical change. `floor`: the storage the last apply asked for, when it
/// turned storage autoscaling on ([`super::ID_ALLOCATED_FLOOR_GB`]).
pub(super) fn live_fields(
    instance: &DbInstance,
    parameters: BTreeMap<String, String>,
    floor: Option<u32>,
) -> Fields {
    let pending = instance.pending_modified_values();
    let engine = instance.engine().unwrap_or_default();
    let engine_version = pending
        .and_then(|p| p.engine_version())
        .or(instance.engine_version())
        .unwrap_or_default();
    let storage_type = pending
        .and_then(|p| p.storage_type())
        .or(instance.storage_type())
        .unwrap_or_default();
    let allocated_gb = gb(pending
        .and_then(|p| p.allocated_storage())
        .or(instance.allocated_storage()));
    let max_allocated = instance.max_allocated_storage().map(|m| gb(Some(m)));
    let iops = pending
        .and_then(|p| p.iops())
        .or(instance.iops())
        .map(|i| gb(Some(i)));
    let port = pending
        .and_then(|p| p.port())
        .or(instance.endpoint().and_then(|e| e.port()))
        .or(instance.db_instance_port().filter(|&p| p > 0))
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    Fields {
        engine: engine.to_string(),
        engine_major_version: major_version(engine, engine_version),
        engine_version: engine_version.to_string(),
        instance_class: pending
            .and_then(|p| p.db_instance_class())
            .or(instance.db_instance_class())
            .unwrap_or_default()
            .to_string(),
        storage_type: storage_type.to_string(),
        allocated_gb: Allocated::live(allocated_gb, max_allocated, floor),
        max_allocated_gb: autoscaling_limit(max_allocated, floor.unwrap_or(allocated_gb)),
        iops: effective_iops(storage_type, allocated_gb, iops),
        multi_az: pending
            .and_then(|p| p.multi_az())
            .or(instance.multi_az())
            .unwrap_or(false),
        publicly_accessible: instance.publicly_accessible().unwrap_or(false),
        database_name: instance.db_name().unwrap_or_default().to_string(),
        username: instance.master_username().unwrap_or_default().to_string(),
        port,
        backup_retention_days: gb(pending
            .and_then(|p| p.backup_retention_period())
            .or(instance.backup_retention_period())),
        backup_window: instance
            .preferred_backup_window()
            .unwrap_or_default()
            .to_string(),
        maintenance_window: instance
            .preferred_maintenance_window()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        deletion_protection: instance.deletion_protection().unwrap_or(false),
        storage_encrypted: instance.storage_encrypted().unwrap_or(false),
        parameters,
    }
}

/// Fields that only a new database can change (`field_change` says `Replace` for them).
pub(super) const REPLACE_FIELDS: &[&str] = &[
    "engine",
    "engine_major_version",
    "database_name",
    "username",
    "storage_encrypted",
];

pub(super) fn replacement_needed(current: &Fields, desired: &Fields) -> Vec<&'static str> {
    let (current, desired) = (current.to_json(), desired.to_json());
    REPLACE_FIELDS
        .iter()
        .copied()
        .filter(|field| current.get(field) != desired.get(field))
        .collect()
}

/// What one ModifyDBInstance changes; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Changes {
    pub(super) instance_class: Option<String>,
    pub(super) engine_version: Option<String>,
    pub(super) storage_type: Option<String>,
    pub(super) allocated_gb: Option<u32>,
    pub(super) max_allocated_gb: Option<u32>,
    pub(super) iops: Option<u32>,
    pub(super) multi_az: Option<bool>,
    pub(super) publicly_accessible: Option<bool>,
    pub(super) port: Option<u16>,
    pub(super) backup_retention_days: Option<u32>,
    pub(super) backup_window: Option<String>,
    pub(super) maintenance_window: Option<String>,
    pub(super) deletion_protection: Option<bool>,
    pub(super) parameter_group: Option<String>,
    pub(super) security_group: Option<String>,
}

impl Changes {
    pub(super) fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// The in-place changes that take `current` to `desired`.
pub(super) fn changes(current: &Fields, desired: &Fields) -> Changes {
    fn changed<T: PartialEq + Clone>(current: &T, desired: &T) -> Option<T> {
        (current != desired).then(|| desired.clone())
    }
    let allocated_gb = current.allocated_gb.change_to(&desired.allocated_gb);
    let storage_changed = current.storage_type != desired.storage_type || allocated_gb.is_some();
    let iops = if current.iops != desired.iops
        || (storage_changed && desired.storage_type.starts_with("io"))
    {
        requested_iops(&desired.storage_type, desired.allocated_gb.gb, desired.iops)
    } else {
        None
    };
    Changes {
        instance_class: changed(&current.instance_class, &desired.instance_class),
        engine_version: changed(&current.engine_version, &desired.engine_version),
        storage_type: changed(&current.storage_type, &desired.storage_type),
        allocated_gb,
        max_allocated_gb: changed(&current.max_allocated_gb, &desired.max_allocated_gb)
            .map(|max| max.unwrap_or(desired.allocated_gb.gb)),
        iops,
        multi_az: changed(&current.multi_az, &desired.multi_az),
        publicly_accessible: changed(&current.publicly_accessible, &desired.publicly_accessible),
        port: changed(&current.port, &desired.port),
        backup_retention_days: changed(
            &current.backup_retention_days,
            &desired.backup_retention_days,
        ),
        backup_window: changed(&current.backup_window, &desired.backup_window),
        maintenance_window: changed(&current.maintenance_window, &desired.maintenance_window),
        deletion_protection: changed(&current.deletion_protection, &desired.deletion_protection),
        parameter_group: None,
        security_group: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rds::testing::{ctx, spec};
    use aws_sdk_rds::types::{Endpoint, PendingModifiedValues};

    #[test]
    fn pending_modifications_count_as_made() {
        let live = DbInstance::builder()
            .engine("postgres")
            .engine_version("15.4")
            .db_instance_class("db.t3.small")
            .storage_type("gp3")
            .allocated_storage(20)
            .endpoint(Endpoint::builder().address("h").port(5432).build())
            .pending_modified_values(
                PendingModifiedValues::builder()
                    .db_instance_class("db.t3.medium")
                    .allocated_storage(50)
                    .build(),
            )
            .build();
        let fields = live_fields(&live, BTreeMap::new(), None);
        assert_eq!(
            (
                fields.instance_class.as_str(),
                fields.allocated_gb.gb,
                fields.port
            ),
            ("db.t3.medium", 50, 5432)
        );
    }

    #[test]
    fn changes_hold_only_what_differs() {
        let current = desired_fields(&ctx(false), &spec());
        let mut wanted = spec();
        wanted.instance_class = "db.t3.medium".into();
        wanted.allocated_gb = 50;
        let found = changes(&current, &desired_fields(&ctx(false), &wanted));
        assert_eq!(
            found,
            Changes {
                instance_class: Some("db.t3.medium".into()),
                allocated_gb: Some(50),
                ..Changes::default()
            },
            "the baseline IOPS stays implicit"
        );
        let mut autoscaled = spec();
        autoscaled.max_allocated_gb = Some(100);
        let on = desired_fields(&ctx(false), &autoscaled);
        assert_eq!(changes(&current, &on).max_allocated_gb, Some(100));
        assert_eq!(
            changes(&on, &current).max_allocated_gb,
            Some(20),
            "off is max = allocated"
        );
    }

    #[test]
    fn autoscaled_storage_compares_by_range() {
        let mut autoscaled = spec();
        autoscaled.max_allocated_gb = Some(100);
        let desired = desired_fields(&ctx(false), &autoscaled);
        assert_eq!(desired.to_json()["allocated_gb"], "20-100 (autoscaled)");
        assert_eq!(desired.to_json()["max_allocated_gb"], 100);
        let grown = |gb: i32| {
            DbInstance::builder()
                .engine("postgres")
                .engine_version("15.4")
                .storage_type("gp3")
                .allocated_storage(gb)
                .max_allocated_storage(100)
                .build()
        };
        for gb in [20, 35, 100] {
            let live = live_fields(&grown(gb), BTreeMap::new(), Some(20));
            assert_eq!(
                live.to_json()["allocated_gb"],
                desired.to_json()["allocated_gb"],
                "{gb} GB is within 20-100"
            );
            assert_eq!(live.max_allocated_gb, Some(100));
            let storage = changes(&live, &desired);
            assert_eq!(
                (storage.allocated_gb, storage.max_allocated_gb, storage.iops),
                (None, None, None),
                "{gb} GB"
            );
        }
        // Above the limit (raised by hand): a plain number, and nothing to shrink.
        let above = live_fields(&grown(150), BTreeMap::new(), Some(20));
        assert_eq!(above.to_json()["allocated_gb"], 150);
        assert_eq!(changes(&above, &desired).allocated_gb, None);

        // A floor raised above the live size is a change that grows the volume.
        let mut raised = autoscaled.clone();
        raised.allocated_gb = 50;
        let raised = desired_fields(&ctx(false), &raised);
        let live = live_fields(&grown(35), BTreeMap::new(), Some(20));
        assert_eq!(changes(&live, &raised).allocated_gb, Some(50));
        // Below the live size it changes nothing in AWS.
        let live = live_fields(&grown(60), BTreeMap::new(), Some(50));
        assert_eq!(
            live.to_json()["allocated_gb"],
            raised.to_json()["allocated_gb"]
        );

        // Without a recorded floor the live size is the floor.
        let adopted = live_fields(&grown(35), BTreeMap::new(), None);
        assert_eq!(adopted.to_json()["allocated_gb"], "35-100 (autoscaled)");
    }

    #[test]
    fn replace_only_fields_are_caught_before_an_update() {
        let current = desired_fields(&ctx(false), &spec());
        let mut major = spec();
        major.engine_version = "16.1".into();
        let major = desired_fields(&ctx(false), &major);
        assert_eq!(
            replacement_needed(&current, &major),
            ["engine_major_version"]
        );
        let mut minor = spec();
        minor.engine_version = "15.5".into();
        let minor = desired_fields(&ctx(false), &minor);
        assert!(replacement_needed(&current, &minor).is_empty());
        assert_eq!(
            changes(&current, &minor).engine_version.as_deref(),
            Some("15.5")
        );
    }
}
