//! RDS: one DB instance per component, with its DB subnet group, its parameter group and
//! two security groups — `<base>-db` on the instance, open on the database port only to
//! `<base>-clients`, which has no ingress and which dependent MicroServices attach (its id
//! is the internal output `client_security_group_id`).
//!
//! The master password is read from Secrets Manager when the instance is created and is
//! sent in that one request; it is never stored, returned or printed.
//!
//! Normalised fields fill what AWS fills when the spec is silent, so reading back what was
//! created shows no change: gp3's baseline IOPS, the backup and maintenance windows (panka
//! picks fixed ones rather than letting AWS pick at random), deletion protection from the
//! environment, and storage encryption (always on).

use crate::aws::AwsClients;
use crate::describe::{self, Missing};
use crate::naming::{self, limits};
use crate::network::{self, IngressRule, NetworkInfo, Source};
use crate::sdk_error::provider_error;
use crate::secrets::{self, Password};
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::operation::describe_db_parameter_groups::DescribeDBParameterGroupsError;
use aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDBSubnetGroupsError;
use aws_sdk_rds::types::{
    ApplyMethod, DbInstance, DbParameterGroup, DbSubnetGroup, Parameter, Tag,
};
use panka_core::model::{ComponentKind, ComponentSpec, RdsSpec};
use panka_core::progress;
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, FieldChange, Inputs, KnownIds, Observed, ProviderError, Readiness,
    Reconciler, ResourceContext,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Physical id roles recorded in state.
pub const ID_INSTANCE: &str = "db_instance_identifier";
pub const ID_SUBNET_GROUP: &str = "db_subnet_group";
pub const ID_PARAMETER_GROUP: &str = "db_parameter_group";
pub const ID_SECURITY_GROUP: &str = "security_group_id";
pub const ID_CLIENT_SECURITY_GROUP: &str = "client_security_group_id";
/// Not an AWS id: the `allocatedGB` the last apply asked for, recorded only with storage
/// autoscaling on. A live size is "as asked" anywhere from it up to the limit, and `read`
/// has no spec to take it from.
pub const ID_ALLOCATED_FLOOR_GB: &str = "allocated_gb_floor";

/// Used when the spec sets no window: AWS would otherwise pick one at random, which would
/// show as a change on every plan. Backup before maintenance, both in the UTC night.
pub const DEFAULT_BACKUP_WINDOW: &str = "03:00-03:30";
pub const DEFAULT_MAINTENANCE_WINDOW: &str = "sun:04:00-sun:04:30";

/// ModifyDBParameterGroup and ResetDBParameterGroup take at most 20 parameters a call.
const PARAMETERS_PER_CALL: usize = 20;
/// gp3 volumes below this size get a fixed baseline of IOPS that cannot be changed.
const GP3_BASELINE_LIMIT_GB: u32 = 400;

/// Reads, creates, updates and deletes the resources of RDS components.
pub struct RdsReconciler {
    rds: aws_sdk_rds::Client,
    ec2: aws_sdk_ec2::Client,
    secretsmanager: aws_sdk_secretsmanager::Client,
    /// How often `delete` looks whether the instance is gone before it removes the
    /// subnet group and security groups the instance still uses.
    pub delete_poll_interval: Duration,
    /// How long `delete` waits for the instance to go.
    pub delete_timeout: Duration,
    /// How long deleting a security group waits for the instance's network interfaces.
    pub security_group_patience: Duration,
}

impl RdsReconciler {
    pub fn new(clients: &AwsClients) -> Self {
        Self::from_clients(
            clients.rds.clone(),
            clients.ec2.clone(),
            clients.secretsmanager.clone(),
        )
    }

    pub fn from_clients(
        rds: aws_sdk_rds::Client,
        ec2: aws_sdk_ec2::Client,
        secretsmanager: aws_sdk_secretsmanager::Client,
    ) -> Self {
        RdsReconciler {
            rds,
            ec2,
            secretsmanager,
            delete_poll_interval: Duration::from_secs(10),
            delete_timeout: Duration::from_secs(30 * 60),
            security_group_patience: Duration::from_secs(10 * 60),
        }
    }
}

// ------------------------------------------------------------------------- names

/// The names of a component's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Names {
    instance: String,
    subnet_group: String,
    parameter_group: String,
    db_security_group: String,
    client_security_group: String,
}

impl Names {
    /// The deterministic names, with the ones recorded in state taking precedence.
    fn new(ctx: &ResourceContext, known: &KnownIds) -> Result<Names, ProviderError> {
        let recorded = |role: &str, limit: usize| {
            known
                .get(role)
                .cloned()
                .unwrap_or_else(|| naming::physical(ctx, "", limit))
        };
        let names = Names {
            instance: recorded(ID_INSTANCE, limits::RDS_IDENTIFIER),
            subnet_group: recorded(ID_SUBNET_GROUP, limits::DB_SUBNET_GROUP),
            parameter_group: recorded(ID_PARAMETER_GROUP, limits::DB_PARAMETER_GROUP),
            db_security_group: naming::physical(ctx, "-db", limits::SECURITY_GROUP),
            client_security_group: naming::physical(ctx, "-clients", limits::SECURITY_GROUP),
        };
        check_identifier(&names.instance)?;
        Ok(names)
    }
}

/// RDS identifiers: 1–63 lowercase letters, digits and hyphens, starting with a letter,
/// never `--` nor a hyphen at the end. Names are validated upstream; this guards against
/// a name that would only fail after the subnet and parameter groups were made.
fn check_identifier(identifier: &str) -> Result<(), ProviderError> {
    let valid = (1..=limits::RDS_IDENTIFIER).contains(&identifier.len())
        && identifier.starts_with(|c: char| c.is_ascii_lowercase())
        && identifier
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !identifier.contains("--")
        && !identifier.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("`{identifier}` is not a valid RDS instance identifier"),
        )
        .with_hint("RDS identifiers are lowercase letters, digits and single hyphens, starting with a letter"))
    }
}

// ----------------------------------------------------------------- engine versions

/// The major version RDS groups parameter families by: `15` for postgres 15.4 (`9.6` for
/// PostgreSQL before 10), `8.0` for mysql 8.0.35, `10.11` for mariadb 10.11.6.
pub fn major_version(engine: &str, version: &str) -> String {
    let mut parts = version.split('.');
    let first = parts.next().unwrap_or_default();
    let two_parts = engine != "postgres" || first.parse::<u32>().is_ok_and(|major| major < 10);
    match parts.next() {
        Some(second) if two_parts => format!("{first}.{second}"),
        _ => first.to_string(),
    }
}

/// The parameter group family: `postgres15`, `mysql8.0`, `mariadb10.11`.
pub fn parameter_group_family(engine: &str, version: &str) -> Result<String, ProviderError> {
    let major = major_version(engine, version);
    if !major.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("`{version}` is not a {engine} version"),
        )
        .with_hint("write the full version, such as `15.4` for postgres or `8.0.35` for mysql"));
    }
    Ok(format!("{engine}{major}"))
}

/// The IOPS AWS gives a volume without asking: gp3's baseline.
fn baseline_iops(storage_type: &str, allocated_gb: u32) -> Option<u32> {
    match storage_type {
        "gp3" if allocated_gb < GP3_BASELINE_LIMIT_GB => Some(3000),
        "gp3" => Some(12000),
        _ => None,
    }
}

/// IOPS as AWS reports them: what was asked for, else the baseline.
fn effective_iops(storage_type: &str, allocated_gb: u32, iops: Option<u32>) -> Option<u32> {
    iops.or_else(|| baseline_iops(storage_type, allocated_gb))
}

/// The IOPS to ask for: none when the spec asks for the baseline, which AWS refuses to
/// be asked for explicitly on small gp3 volumes.
fn requested_iops(storage_type: &str, allocated_gb: u32, iops: Option<u32>) -> Option<u32> {
    iops.filter(|&i| Some(i) != baseline_iops(storage_type, allocated_gb))
}

/// Storage autoscaling's limit; a limit equal to the allocation is autoscaling off,
/// which is how the API switches it off.
fn autoscaling_limit(max_allocated_gb: Option<u32>, allocated_gb: u32) -> Option<u32> {
    max_allocated_gb.filter(|&max| max > allocated_gb)
}

/// The floor to record for `spec`: its `allocatedGB` when storage autoscaling is on.
fn autoscaling_floor(spec: &RdsSpec) -> Option<u32> {
    autoscaling_limit(spec.max_allocated_gb, spec.allocated_gb).map(|_| spec.allocated_gb)
}

fn gb(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

// ---------------------------------------------------------------- managed fields

/// Allocated storage as panka manages it.
///
/// With storage autoscaling RDS grows the volume by itself, from the spec's `allocatedGB`
/// up to `maxAllocatedGB`; any live size in that range is what the spec asks for, so both
/// sides normalise to the range (`"20-100 (autoscaled)"`, one leaf in the plan's diff). A
/// live size outside it, or without autoscaling, is the plain number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Allocated {
    /// The size asked for (desired) or the live size (read).
    gb: u32,
    /// `(floor, limit)` while autoscaling covers `gb`.
    autoscaled: Option<(u32, u32)>,
}

impl Allocated {
    fn wanted(allocated_gb: u32, max_allocated_gb: Option<u32>) -> Self {
        Allocated {
            gb: allocated_gb,
            autoscaled: autoscaling_limit(max_allocated_gb, allocated_gb)
                .map(|max| (allocated_gb, max)),
        }
    }

    /// The live size `gb` against the limit RDS reports and the floor the last apply
    /// asked for (the live size itself when unknown).
    fn live(gb: u32, max_allocated_gb: Option<u32>, floor: Option<u32>) -> Self {
        let floor = floor.unwrap_or(gb);
        let autoscaled = autoscaling_limit(max_allocated_gb, floor)
            .filter(|&max| (floor..=max).contains(&gb))
            .map(|max| (floor, max));
        Allocated { gb, autoscaled }
    }

    /// The size to ask RDS for to reach `desired` from `self`, if any. Under autoscaling
    /// only a live size below the wanted floor needs one: above it, RDS grew the volume,
    /// and storage never shrinks.
    fn change_to(&self, desired: &Allocated) -> Option<u32> {
        let needed = match desired.autoscaled {
            Some(_) => self.gb < desired.gb,
            None => self.gb != desired.gb,
        };
        needed.then_some(desired.gb)
    }
}

impl Serialize for Allocated {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.autoscaled {
            Some((floor, max)) => serializer.serialize_str(&format!("{floor}-{max} (autoscaled)")),
            None => serializer.serialize_u32(self.gb),
        }
    }
}

/// The managed fields of an RDS component, as `normalise` and `read` return them.
/// The password is not one of them.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct Fields {
    engine: String,
    engine_major_version: String,
    engine_version: String,
    instance_class: String,
    storage_type: String,
    allocated_gb: Allocated,
    max_allocated_gb: Option<u32>,
    iops: Option<u32>,
    multi_az: bool,
    publicly_accessible: bool,
    database_name: String,
    username: String,
    port: u16,
    backup_retention_days: u32,
    backup_window: String,
    maintenance_window: String,
    deletion_protection: bool,
    storage_encrypted: bool,
    parameters: BTreeMap<String, String>,
}

impl Fields {
    fn to_json(&self) -> serde_json::Value {
        // A struct of strings, numbers and a string map always serialises.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn desired_fields(ctx: &ResourceContext, spec: &RdsSpec) -> Fields {
    Fields {
        engine: spec.engine.to_string(),
        engine_major_version: major_version(spec.engine, &spec.engine_version),
        engine_version: spec.engine_version.clone(),
        instance_class: spec.instance_class.clone(),
        storage_type: spec.storage_type.to_string(),
        allocated_gb: Allocated::wanted(spec.allocated_gb, spec.max_allocated_gb),
        max_allocated_gb: autoscaling_limit(spec.max_allocated_gb, spec.allocated_gb),
        iops: effective_iops(spec.storage_type, spec.allocated_gb, spec.iops),
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
/// turned storage autoscaling on ([`ID_ALLOCATED_FLOOR_GB`]).
fn live_fields(
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

/// Fields that only a new database can change (see [`RdsReconciler::field_change`]).
const REPLACE_FIELDS: &[&str] = &[
    "engine",
    "engine_major_version",
    "database_name",
    "username",
    "storage_encrypted",
];

fn replacement_needed(current: &Fields, desired: &Fields) -> Vec<&'static str> {
    let (current, desired) = (current.to_json(), desired.to_json());
    REPLACE_FIELDS
        .iter()
        .copied()
        .filter(|field| current.get(field) != desired.get(field))
        .collect()
}

/// What one ModifyDBInstance changes; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
struct Changes {
    instance_class: Option<String>,
    engine_version: Option<String>,
    storage_type: Option<String>,
    allocated_gb: Option<u32>,
    max_allocated_gb: Option<u32>,
    iops: Option<u32>,
    multi_az: Option<bool>,
    publicly_accessible: Option<bool>,
    port: Option<u16>,
    backup_retention_days: Option<u32>,
    backup_window: Option<String>,
    maintenance_window: Option<String>,
    deletion_protection: Option<bool>,
    parameter_group: Option<String>,
    security_group: Option<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// The in-place changes that take `current` to `desired`.
fn changes(current: &Fields, desired: &Fields) -> Changes {
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

// -------------------------------------------------------------------- readiness

/// The progress step of the wait for the instance (`available`).
const INSTANCE_WAIT: &str = "Waiting for the DB instance to be available";

/// What an instance status means for a deployment waiting on it.
fn readiness(status: &str, progress: Option<u8>) -> Readiness {
    let failed = |why: &str| Readiness::Failed {
        reason: format!("the DB instance is {status}: {why}"),
    };
    match status {
        // Storage optimisation runs while the instance serves.
        "available" | "storage-optimization" => Readiness::Ready,
        "failed" => failed("RDS could not recover it; see its events in the RDS console"),
        "storage-full" => {
            failed("raise allocatedGB, or set maxAllocatedGB for storage autoscaling")
        }
        "restore-error" => failed("RDS could not restore it"),
        "insufficient-capacity" => {
            failed("AWS has no capacity for this instance class in the zone; try another class")
        }
        "stopped" | "stopping" => failed("start it (aws rds start-db-instance) and apply again"),
        "deleting" => failed("it is being deleted"),
        s if s.starts_with("inaccessible-encryption-credentials") => {
            failed("RDS cannot use its KMS key; re-enable the key or restore its grants")
        }
        s if s.starts_with("incompatible-") => {
            failed("RDS cannot apply its settings; see its events in the RDS console")
        }
        other => Readiness::Waiting {
            detail: other.to_string(),
            progress,
        },
    }
}

// ------------------------------------------------------------------- AWS calls

fn rds_spec(spec: &ComponentSpec) -> Result<&RdsSpec, ProviderError> {
    match spec {
        ComponentSpec::Rds(spec) => Ok(spec),
        other => Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("the RDS reconciler was given a {:?} spec", other.kind()),
        )),
    }
}

fn rds_tags(ctx: &ResourceContext) -> Vec<Tag> {
    naming::tags(ctx)
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

fn foreign(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> ProviderError {
    ProviderError::new(
        ErrorKind::Foreign,
        naming::foreign_reason(ctx, what, name, tags),
    )
    .with_hint(format!(
        "rename or delete that {what}; panka changes only resources it created"
    ))
}

impl RdsReconciler {
    async fn describe_instance(
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

    async fn find_subnet_group(&self, name: &str) -> Result<Option<DbSubnetGroup>, ProviderError> {
        describe::or_none(
            self.rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(name)
                .send(),
            Missing::Fault(DescribeDBSubnetGroupsError::is_db_subnet_group_not_found_fault),
            || format!("cannot describe DB subnet group {name}"),
            |out| out.db_subnet_groups().first().cloned(),
        )
        .await
    }

    async fn find_parameter_group(
        &self,
        name: &str,
    ) -> Result<Option<DbParameterGroup>, ProviderError> {
        describe::or_none(
            self.rds
                .describe_db_parameter_groups()
                .db_parameter_group_name(name)
                .send(),
            Missing::Fault(DescribeDBParameterGroupsError::is_db_parameter_group_not_found_fault),
            || format!("cannot describe DB parameter group {name}"),
            |out| out.db_parameter_groups().first().cloned(),
        )
        .await
    }

    async fn tags_of(
        &self,
        what: &str,
        name: &str,
        arn: Option<&str>,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let arn = arn.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Other,
                format!("RDS returned no ARN for {what} {name}"),
            )
        })?;
        let out = self
            .rds
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| provider_error(&format!("cannot read the tags of {what} {name}"), &e))?;
        Ok(out
            .tag_list()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    async fn ensure_owned(
        &self,
        ctx: &ResourceContext,
        what: &str,
        name: &str,
        arn: Option<&str>,
    ) -> Result<(), ProviderError> {
        let tags = self.tags_of(what, name, arn).await?;
        if naming::owned_by(ctx, &tags) {
            Ok(())
        } else {
            Err(foreign(ctx, what, name, &tags))
        }
    }

    /// Looks at every resource the component would use and refuses, before anything
    /// changes, when one of them belongs to something else. Returns the instance.
    async fn check_ownership(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        vpc_id: &str,
    ) -> Result<Option<DbInstance>, ProviderError> {
        let instance = self.describe_instance(&names.instance).await?;
        if let Some(found) = &instance {
            self.ensure_owned(ctx, "DB instance", &names.instance, found.db_instance_arn())
                .await?;
        }
        if let Some(group) = self.find_subnet_group(&names.subnet_group).await? {
            self.ensure_owned(
                ctx,
                "DB subnet group",
                &names.subnet_group,
                group.db_subnet_group_arn(),
            )
            .await?;
        }
        if let Some(group) = self.find_parameter_group(&names.parameter_group).await? {
            self.ensure_owned(
                ctx,
                "DB parameter group",
                &names.parameter_group,
                group.db_parameter_group_arn(),
            )
            .await?;
        }
        for name in [&names.db_security_group, &names.client_security_group] {
            if let Some(group) = network::find_security_group(&self.ec2, vpc_id, name).await?
                && !naming::owned_by(ctx, &group.tags)
            {
                return Err(foreign(ctx, "security group", name, &group.tags));
            }
        }
        Ok(instance)
    }

    /// The `<base>-clients` group (no ingress) and the `<base>-db` group that admits the
    /// database port from it; returns `(db, clients)` ids.
    async fn ensure_security_groups(
        &self,
        ctx: &ResourceContext,
        network: &NetworkInfo,
        names: &Names,
        port: u16,
    ) -> Result<(String, String), ProviderError> {
        let clients = network::ensure_security_group(
            &self.ec2,
            ctx,
            &network.vpc_id,
            &names.client_security_group,
            &format!("panka: clients of database {}", ctx.id),
            &[],
        )
        .await?;
        let db = network::ensure_security_group(
            &self.ec2,
            ctx,
            &network.vpc_id,
            &names.db_security_group,
            &format!("panka: database {}", ctx.id),
            &[IngressRule {
                port,
                source: Source::Group(clients.clone()),
            }],
        )
        .await?;
        Ok((db, clients))
    }

    async fn ensure_subnet_group(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        network: &NetworkInfo,
    ) -> Result<(), ProviderError> {
        let name = &names.subnet_group;
        match self.find_subnet_group(name).await? {
            Some(group) => {
                let mut current: Vec<&str> = group
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier())
                    .collect();
                current.sort_unstable();
                if current
                    == network
                        .private_subnet_ids
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                {
                    return Ok(());
                }
                self.rds
                    .modify_db_subnet_group()
                    .db_subnet_group_name(name)
                    .set_subnet_ids(Some(network.private_subnet_ids.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        provider_error(
                            &format!("cannot change the subnets of DB subnet group {name}"),
                            &e,
                        )
                    })?;
            }
            None => {
                let created = self
                    .rds
                    .create_db_subnet_group()
                    .db_subnet_group_name(name)
                    .db_subnet_group_description(format!("panka: {}", ctx.id))
                    .set_subnet_ids(Some(network.private_subnet_ids.clone()))
                    .set_tags(Some(rds_tags(ctx)))
                    .send()
                    .await;
                if let Err(e) = created {
                    let err = provider_error(&format!("cannot create DB subnet group {name}"), &e);
                    if err.kind != ErrorKind::AlreadyExists {
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    async fn ensure_parameter_group(
        &self,
        ctx: &ResourceContext,
        names: &Names,
        family: &str,
    ) -> Result<(), ProviderError> {
        let name = &names.parameter_group;
        if let Some(group) = self.find_parameter_group(name).await? {
            let found = group.db_parameter_group_family().unwrap_or_default();
            if found == family {
                return Ok(());
            }
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("DB parameter group {name} is for {found}, but the spec needs {family}"),
            )
            .with_hint("a new engine or major version replaces the database; run plan again to see the replacement"));
        }
        let created = self
            .rds
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(format!("panka: {}", ctx.id))
            .set_tags(Some(rds_tags(ctx)))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = provider_error(&format!("cannot create DB parameter group {name}"), &e);
                if err.kind == ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Every parameter of the group (`source: None`) or those of one source, all pages.
    async fn describe_parameters(
        &self,
        group: &str,
        source: Option<&str>,
    ) -> Result<Vec<Parameter>, ProviderError> {
        let mut parameters = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .rds
                .describe_db_parameters()
                .db_parameter_group_name(group)
                .set_source(source.map(str::to_string))
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot read the parameters of DB parameter group {group}"),
                        &e,
                    )
                })?;
            parameters.extend(out.parameters().iter().cloned());
            match out.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_string()),
                _ => return Ok(parameters),
            }
        }
    }

    /// The parameters set by the user (panka), by name.
    async fn user_parameters(
        &self,
        group: &str,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self
            .describe_parameters(group, Some("user"))
            .await?
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_name()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            })
            .collect())
    }

    /// Makes the group's user parameters exactly `wanted`: sets the changed ones and
    /// resets the ones no longer wanted to the engine's defaults. Static parameters take
    /// effect at the next reboot, dynamic ones at once.
    async fn sync_parameters(
        &self,
        group: &str,
        wanted: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let current = self.user_parameters(group).await?;
        let changed: Vec<(&String, &String)> = wanted
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .collect();
        let removed: Vec<&String> = current
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .collect();
        if changed.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let static_names: Vec<String> = self
            .describe_parameters(group, None)
            .await?
            .iter()
            .filter(|p| p.apply_type() == Some("static"))
            .filter_map(|p| p.parameter_name().map(str::to_string))
            .collect();
        let method = |name: &str| {
            if static_names.iter().any(|s| s == name) {
                ApplyMethod::PendingReboot
            } else {
                ApplyMethod::Immediate
            }
        };
        for chunk in changed.chunks(PARAMETERS_PER_CALL) {
            let parameters = chunk
                .iter()
                .map(|(name, value)| {
                    Parameter::builder()
                        .parameter_name(*name)
                        .parameter_value(*value)
                        .apply_method(method(name))
                        .build()
                })
                .collect();
            self.rds
                .modify_db_parameter_group()
                .db_parameter_group_name(group)
                .set_parameters(Some(parameters))
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot set parameters of DB parameter group {group}"),
                        &e,
                    )
                })?;
        }
        for chunk in removed.chunks(PARAMETERS_PER_CALL) {
            let parameters = chunk
                .iter()
                .map(|name| {
                    Parameter::builder()
                        .parameter_name(*name)
                        .apply_method(method(name))
                        .build()
                })
                .collect();
            self.rds
                .reset_db_parameter_group()
                .db_parameter_group_name(group)
                .set_parameters(Some(parameters))
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot reset parameters of DB parameter group {group}"),
                        &e,
                    )
                })?;
        }
        Ok(())
    }

    async fn create_instance(
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
            .engine(spec.engine)
            .engine_version(&spec.engine_version)
            // The spec pins the version: an automatic minor upgrade would show as drift
            // that an update could not undo (RDS does not downgrade).
            .auto_minor_version_upgrade(false)
            .db_instance_class(&spec.instance_class)
            .storage_type(spec.storage_type)
            .allocated_storage(int(spec.allocated_gb))
            .set_max_allocated_storage(desired.max_allocated_gb.map(int))
            .set_iops(requested_iops(spec.storage_type, spec.allocated_gb, spec.iops).map(int))
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

    async fn modify_instance(
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

    /// The component as `read` returns it, from its described instance.
    async fn observe(
        &self,
        names: &Names,
        instance: &DbInstance,
        floor: Option<u32>,
    ) -> Result<Observed, ProviderError> {
        let parameter_group = instance
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .unwrap_or(&names.parameter_group)
            .to_string();
        let subnet_group = instance
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name())
            .unwrap_or(&names.subnet_group)
            .to_string();
        let parameters = self.user_parameters(&parameter_group).await?;
        let fields = live_fields(instance, parameters, floor);
        let (db_group, client_group) = match instance.db_subnet_group().and_then(|g| g.vpc_id()) {
            Some(vpc_id) => tokio::try_join!(
                network::find_security_group(&self.ec2, vpc_id, &names.db_security_group),
                network::find_security_group(&self.ec2, vpc_id, &names.client_security_group),
            )?,
            None => (None, None),
        };
        let db_group_id = db_group.map(|g| g.id).or_else(|| {
            instance
                .vpc_security_groups()
                .first()
                .and_then(|g| g.vpc_security_group_id())
                .map(str::to_string)
        });
        let client_group_id = client_group.map(|g| g.id);

        let mut physical_ids = BTreeMap::from([
            (ID_INSTANCE.to_string(), names.instance.clone()),
            (ID_SUBNET_GROUP.to_string(), subnet_group),
            (ID_PARAMETER_GROUP.to_string(), parameter_group),
        ]);
        physical_ids.extend(db_group_id.map(|id| (ID_SECURITY_GROUP.to_string(), id)));
        physical_ids.extend(floor.map(|gb| (ID_ALLOCATED_FLOOR_GB.to_string(), gb.to_string())));
        physical_ids.extend(
            client_group_id
                .clone()
                .map(|id| (ID_CLIENT_SECURITY_GROUP.to_string(), id)),
        );

        let mut outputs = BTreeMap::from([("port".to_string(), fields.port.to_string())]);
        outputs.extend(
            instance
                .endpoint()
                .and_then(|e| e.address())
                .map(|address| ("endpoint".to_string(), address.to_string())),
        );
        outputs.extend(
            instance
                .db_instance_arn()
                .map(|arn| ("arn".to_string(), arn.to_string())),
        );
        outputs.extend(client_group_id.map(|id| ("client_security_group_id".to_string(), id)));

        Ok(Observed {
            physical_ids,
            fields: fields.to_json(),
            outputs,
        })
    }

    async fn described(&self, identifier: &str) -> Result<DbInstance, ProviderError> {
        self.describe_instance(identifier)
            .await?
            .ok_or_else(|| not_found(identifier))
    }

    /// Turns deletion protection off when allowed, then deletes the instance (with a
    /// final snapshot unless told otherwise). An instance already deleting is fine.
    async fn delete_instance(
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
    async fn wait_until_gone(&self, identifier: &str) -> Result<(), ProviderError> {
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

    async fn delete_parameter_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
    ) -> Result<(), ProviderError> {
        let Some(group) = self.find_parameter_group(name).await? else {
            return Ok(());
        };
        self.ensure_owned(
            ctx,
            "DB parameter group",
            name,
            group.db_parameter_group_arn(),
        )
        .await?;
        match self
            .rds
            .delete_db_parameter_group()
            .db_parameter_group_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = provider_error(&format!("cannot delete DB parameter group {name}"), &e);
                if err.kind == ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes the subnet group; returns its VPC when it existed.
    async fn delete_subnet_group(
        &self,
        ctx: &ResourceContext,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        let Some(group) = self.find_subnet_group(name).await? else {
            return Ok(None);
        };
        self.ensure_owned(ctx, "DB subnet group", name, group.db_subnet_group_arn())
            .await?;
        if let Err(e) = self
            .rds
            .delete_db_subnet_group()
            .db_subnet_group_name(name)
            .send()
            .await
        {
            let err = provider_error(&format!("cannot delete DB subnet group {name}"), &e);
            if err.kind != ErrorKind::NotFound {
                return Err(err);
            }
        }
        Ok(group.vpc_id().map(str::to_string))
    }

    async fn delete_security_group(
        &self,
        ctx: &ResourceContext,
        vpc_id: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        match network::find_security_group(&self.ec2, vpc_id, name).await? {
            None => Ok(()),
            Some(group) if !naming::owned_by(ctx, &group.tags) => {
                Err(foreign(ctx, "security group", name, &group.tags))
            }
            Some(_) => {
                network::delete_security_group(
                    &self.ec2,
                    vpc_id,
                    name,
                    self.security_group_patience,
                )
                .await
            }
        }
    }
}

fn not_found(identifier: &str) -> ProviderError {
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

#[async_trait::async_trait]
impl Reconciler for RdsReconciler {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Rds
    }

    /// `Null` for a spec of another kind.
    fn normalise(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        _inputs: &Inputs,
    ) -> serde_json::Value {
        match spec {
            ComponentSpec::Rds(spec) => desired_fields(ctx, spec).to_json(),
            _ => serde_json::Value::Null,
        }
    }

    /// A new engine, major version, database name, master username or encryption needs a
    /// new database; everything else (minor version included) changes in place.
    fn field_change(&self, path: &str) -> FieldChange {
        if REPLACE_FIELDS.contains(&path) {
            FieldChange::Replace
        } else {
            FieldChange::InPlace
        }
    }

    async fn read(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        let names = Names::new(ctx, known)?;
        let floor = known
            .get(ID_ALLOCATED_FLOOR_GB)
            .and_then(|gb| gb.parse().ok());
        match self.describe_instance(&names.instance).await? {
            Some(instance) => self.observe(&names, &instance, floor).await.map(Some),
            None => Ok(None),
        }
    }

    /// An instance that already carries this component's tags is adopted as it is (an
    /// apply that died after creating it resumes); the next plan shows any difference.
    async fn create(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let spec = rds_spec(spec)?;
        let names = Names::new(ctx, &KnownIds::new())?;
        let family = parameter_group_family(spec.engine, &spec.engine_version)?;
        let network = network::resolve(&self.ec2, ctx.network.as_ref()).await?;
        let existing = self.check_ownership(ctx, &names, &network.vpc_id).await?;
        // Read before anything changes, so that a missing secret leaves nothing behind.
        let password = match existing {
            Some(_) => None,
            None => Some(
                secrets::read_password(
                    &self.secretsmanager,
                    &spec.password_secret,
                    spec.password_key.as_deref(),
                )
                .await
                .map_err(|e| ProviderError {
                    message: format!("master password of {}: {}", ctx.id, e.message),
                    ..e
                })?,
            ),
        };
        let step = progress::step("Creating security groups");
        let (db_group, _) = self
            .ensure_security_groups(ctx, &network, &names, spec.port)
            .await?;
        step.done();
        let step = progress::step("Creating DB subnet group");
        self.ensure_subnet_group(ctx, &names, &network).await?;
        step.done();
        let step = progress::step("Creating parameter group");
        self.ensure_parameter_group(ctx, &names, &family).await?;
        self.sync_parameters(&names.parameter_group, &spec.parameters)
            .await?;
        step.done();
        if let Some(password) = password {
            let step = progress::step("Creating RDS instance");
            self.create_instance(ctx, spec, &names, &db_group, &password)
                .await?;
            step.done();
        }
        let instance = self.described(&names.instance).await?;
        self.observe(&names, &instance, autoscaling_floor(spec))
            .await
    }

    /// Production changes wait for the maintenance window (`ApplyImmediately` is off);
    /// elsewhere they apply at once.
    async fn update(
        &self,
        ctx: &ResourceContext,
        spec: &ComponentSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let spec = rds_spec(spec)?;
        let names = Names::new(ctx, &KnownIds::new())?;
        let family = parameter_group_family(spec.engine, &spec.engine_version)?;
        let network = network::resolve(&self.ec2, ctx.network.as_ref()).await?;
        let Some(instance) = self.check_ownership(ctx, &names, &network.vpc_id).await? else {
            return Err(not_found(&names.instance));
        };
        let current = live_fields(&instance, BTreeMap::new(), autoscaling_floor(spec));
        let desired = desired_fields(ctx, spec);
        let replace = replacement_needed(&current, &desired);
        if !replace.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "DB instance {}: {} change only by replacing the database",
                    names.instance,
                    replace.join(", ")
                ),
            )
            .with_hint(
                "plan again: the plan shows this as a replacement, which needs --allow-dangerous",
            ));
        }
        let (db_group, _) = self
            .ensure_security_groups(ctx, &network, &names, spec.port)
            .await?;
        self.ensure_subnet_group(ctx, &names, &network).await?;
        self.ensure_parameter_group(ctx, &names, &family).await?;
        self.sync_parameters(&names.parameter_group, &spec.parameters)
            .await?;

        let mut changes = changes(&current, &desired);
        let attached_group = instance
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name());
        if attached_group != Some(names.parameter_group.as_str()) {
            changes.parameter_group = Some(names.parameter_group.clone());
        }
        let attached_security_groups: Vec<&str> = instance
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .collect();
        if attached_security_groups != [db_group.as_str()] {
            changes.security_group = Some(db_group);
        }
        if !changes.is_empty() {
            let step = progress::step("Modifying RDS instance");
            self.modify_instance(&names.instance, &changes, !ctx.production)
                .await?;
            step.done();
        }
        let instance = self.described(&names.instance).await?;
        self.observe(&names, &instance, autoscaling_floor(spec))
            .await
    }

    async fn delete(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        options: DeleteOptions,
    ) -> Result<(), ProviderError> {
        let names = Names::new(ctx, known)?;
        let mut vpc_id = None;
        if let Some(instance) = self.describe_instance(&names.instance).await? {
            self.ensure_owned(
                ctx,
                "DB instance",
                &names.instance,
                instance.db_instance_arn(),
            )
            .await?;
            vpc_id = instance
                .db_subnet_group()
                .and_then(|g| g.vpc_id())
                .map(str::to_string);
            if instance.db_instance_status() != Some("deleting") {
                self.delete_instance(&names.instance, &instance, options)
                    .await?;
            }
            self.wait_until_gone(&names.instance).await?;
        }
        self.delete_parameter_group(ctx, &names.parameter_group)
            .await?;
        let subnet_group_vpc = self.delete_subnet_group(ctx, &names.subnet_group).await?;
        let vpc_id = match vpc_id.or(subnet_group_vpc) {
            Some(vpc_id) => vpc_id,
            None => {
                network::resolve(&self.ec2, ctx.network.as_ref())
                    .await?
                    .vpc_id
            }
        };
        // The db group's rule names the clients group, so it goes first.
        self.delete_security_group(ctx, &vpc_id, &names.db_security_group)
            .await?;
        self.delete_security_group(ctx, &vpc_id, &names.client_security_group)
            .await
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        let names = Names::new(ctx, known)?;
        Ok(match self.describe_instance(&names.instance).await? {
            Some(instance) => {
                let ready = readiness(
                    instance.db_instance_status().unwrap_or("unknown"),
                    instance.percent_progress().and_then(|p| p.parse().ok()),
                );
                match &ready {
                    Readiness::Waiting {
                        detail,
                        progress: percent,
                    } => progress::waiting(INSTANCE_WAIT, detail.clone(), *percent),
                    Readiness::Ready => progress::finish(INSTANCE_WAIT),
                    Readiness::Failed { .. } => {}
                }
                ready
            }
            None => Readiness::Failed {
                reason: format!(
                    "DB instance {} does not exist: it was deleted while panka waited for it",
                    names.instance
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::operation::describe_db_instances::{
        DescribeDBInstancesError, DescribeDbInstancesOutput,
    };
    use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
    use aws_sdk_rds::types::error::DbInstanceNotFoundFault;
    use aws_sdk_rds::types::{Endpoint, PendingModifiedValues};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use panka_core::model::ComponentId;

    fn ctx(production: bool) -> ResourceContext {
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
        }
    }

    fn spec() -> RdsSpec {
        RdsSpec {
            engine: "postgres",
            engine_version: "15.4".into(),
            instance_class: "db.t3.small".into(),
            storage_type: "gp3",
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

    fn instance(status: &str) -> DbInstance {
        DbInstance::builder()
            .db_instance_identifier("notification-platform-development-email-service-database")
            .db_instance_status(status)
            .build()
    }

    fn reconciler(rules: &[&Rule]) -> RdsReconciler {
        let rds = mock_client!(aws_sdk_rds, RuleMode::Sequential, rules.iter().copied());
        let none: [&Rule; 0] = [];
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, none);
        let sm = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, none);
        let mut reconciler = RdsReconciler::from_clients(rds, ec2, sm);
        reconciler.delete_poll_interval = Duration::from_millis(1);
        reconciler
    }

    fn described(
        status: &'static str,
    ) -> impl Fn() -> DescribeDbInstancesOutput + Send + Sync + 'static {
        move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(instance(status))
                .build()
        }
    }

    fn not_found() -> DescribeDBInstancesError {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder()
                .message("DBInstance notification-platform-development-email-service-database not found.")
                .build(),
        )
    }

    /// `validate` finds components that would share a name from the core's list.
    #[test]
    fn every_shared_name_is_one_validate_checks_for_collisions() {
        let ctx = ctx(false);
        let names = Names::new(&ctx, &KnownIds::new()).expect("names");
        let checked: Vec<String> =
            panka_core::naming::physical_names(&ctx, &ComponentSpec::Rds(spec()))
                .into_iter()
                .map(|(_, name)| name)
                .collect();
        for name in [
            &names.instance,
            &names.subnet_group,
            &names.parameter_group,
            &names.db_security_group,
            &names.client_security_group,
        ] {
            assert!(checked.contains(name), "{name} is not checked: {checked:?}");
        }
    }

    #[test]
    fn families_and_major_versions() {
        assert_eq!(
            parameter_group_family("postgres", "15.4").unwrap(),
            "postgres15"
        );
        assert_eq!(
            parameter_group_family("postgres", "9.6.22").unwrap(),
            "postgres9.6"
        );
        assert_eq!(
            parameter_group_family("mysql", "8.0.35").unwrap(),
            "mysql8.0"
        );
        assert_eq!(
            parameter_group_family("mariadb", "10.11.6").unwrap(),
            "mariadb10.11"
        );
        assert_eq!(
            parameter_group_family("postgres", "latest")
                .unwrap_err()
                .kind,
            ErrorKind::Invalid
        );
        assert_eq!(major_version("postgres", "16"), "16");
    }

    #[test]
    fn replacements_are_declared() {
        let r = reconciler(&[]);
        for path in [
            "engine",
            "engine_major_version",
            "database_name",
            "username",
            "storage_encrypted",
        ] {
            assert_eq!(r.field_change(path), FieldChange::Replace, "{path}");
        }
        for path in [
            "engine_version",
            "instance_class",
            "allocated_gb",
            "parameters.work_mem",
            "port",
        ] {
            assert_eq!(r.field_change(path), FieldChange::InPlace, "{path}");
        }
    }

    #[test]
    fn normalise_fills_what_aws_fills() {
        let r = reconciler(&[]);
        let fields = r.normalise(&ctx(true), &ComponentSpec::Rds(spec()), &Inputs::default());
        assert_eq!(fields["iops"], 3000, "gp3 baseline");
        assert_eq!(fields["deletion_protection"], true, "on in production");
        assert_eq!(fields["maintenance_window"], "sun:04:00-sun:04:30");
        assert_eq!(fields["backup_window"], DEFAULT_BACKUP_WINDOW);
        assert_eq!(fields["storage_encrypted"], true);
        assert_eq!(fields["engine_major_version"], "15");
        assert!(fields.get("password").is_none() && !fields.to_string().contains("db-password"));
        let dev = r.normalise(&ctx(false), &ComponentSpec::Rds(spec()), &Inputs::default());
        assert_eq!(dev["deletion_protection"], false);
    }

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

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("shop-dev-web-db").is_ok());
        for bad in ["", "1db", "Db", "a--b", "a-", &"a".repeat(64)] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn poll_follows_creating_backing_up_available() {
        let rule = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(described("creating"))
            .output(described("backing-up"))
            .output(described("available"))
            .build();
        let r = reconciler(&[&rule]);
        let known = KnownIds::new();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(r.poll_ready(&ctx(false), &known).await.unwrap());
        }
        assert_eq!(
            seen,
            [
                Readiness::Waiting {
                    detail: "creating".into(),
                    progress: None
                },
                Readiness::Waiting {
                    detail: "backing-up".into(),
                    progress: None
                },
                Readiness::Ready,
            ]
        );
    }

    #[tokio::test]
    async fn failed_states_are_failures() {
        for status in [
            "failed",
            "incompatible-parameters",
            "storage-full",
            "inaccessible-encryption-credentials",
        ] {
            let rule =
                mock!(aws_sdk_rds::Client::describe_db_instances).then_output(described(status));
            let r = reconciler(&[&rule]);
            match r.poll_ready(&ctx(false), &KnownIds::new()).await.unwrap() {
                Readiness::Failed { reason } => assert!(reason.contains(status), "{reason}"),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn an_instance_gone_while_waiting_is_a_clear_failure() {
        let rule = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(described("creating"))
            .error(not_found)
            .build();
        let r = reconciler(&[&rule]);
        let first = r.poll_ready(&ctx(false), &KnownIds::new()).await.unwrap();
        assert!(matches!(first, Readiness::Waiting { .. }), "{first:?}");
        match r.poll_ready(&ctx(false), &KnownIds::new()).await.unwrap() {
            Readiness::Failed { reason } => {
                assert!(
                    reason.contains("does not exist") && reason.contains("email-service-database"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

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
