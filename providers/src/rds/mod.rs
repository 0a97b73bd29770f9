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
//!
//! One module per AWS resource: `names`, `instance`, `subnet_group`, `parameter_group`,
//! `security_groups`; `fields` (with `storage` and `versions`) for the normalised fields,
//! `observe` for `read`, `readiness` for `poll_ready`, `ownership` for the checks before
//! anything changes. This file is the reconciler and its flows.

mod fields;
mod instance;
mod names;
mod observe;
mod ownership;
mod parameter_group;
mod readiness;
mod security_groups;
mod status;
mod storage;
mod subnet_group;
mod tagged;
#[cfg(test)]
mod testing;
mod versions;

pub use versions::{major_version, parameter_group_family};

use crate::aws::AwsClients;
use crate::network;
use crate::secrets;
use crate::shared::ownership::{ensure_ours, recorded};
use fields::{REPLACE_FIELDS, changes, desired_fields, live_fields, replacement_needed};
use instance::not_found;
use names::Names;
use ownership::tags_of;
use panka_core::drift::{Owner, TaggedResource};
use panka_core::model::{ClosedSet, RdsSpec};
use panka_core::progress;
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, FieldChange, Inputs, KindReconciler, KnownIds, LiveStatus, Observed,
    ProviderError, Readiness, ResourceContext,
};
use std::collections::BTreeMap;
use std::time::Duration;
use storage::autoscaling_floor;

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

#[async_trait::async_trait]
#[async_trait::async_trait]
impl KindReconciler for RdsReconciler {
    type Spec = RdsSpec;

    fn normalise(
        &self,
        ctx: &ResourceContext,
        spec: &RdsSpec,
        _inputs: &Inputs,
    ) -> serde_json::Value {
        desired_fields(ctx, spec).to_json()
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
        spec: &RdsSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let names = Names::new(ctx, &KnownIds::new())?;
        let family = parameter_group_family(spec.engine.as_str(), &spec.engine_version)?;
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
        self.ensure_subnet_group(ctx, &names.subnet_group, &network.private_subnet_ids)
            .await?;
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
        spec: &RdsSpec,
        _inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let names = Names::new(ctx, &KnownIds::new())?;
        let family = parameter_group_family(spec.engine.as_str(), &spec.engine_version)?;
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
        self.ensure_subnet_group(ctx, &names.subnet_group, &network.private_subnet_ids)
            .await?;
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
            let what = "DB instance";
            let tags = tags_of(&self.rds, what, &names.instance, instance.db_instance_arn());
            let ours = recorded(known, ID_INSTANCE, &names.instance);
            ensure_ours(ctx, what, &names.instance, ours, tags).await?;
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
        let ours = recorded(known, ID_PARAMETER_GROUP, &names.parameter_group);
        self.delete_parameter_group(ctx, &names.parameter_group, ours)
            .await?;
        let ours = recorded(known, ID_SUBNET_GROUP, &names.subnet_group);
        let subnet_group_vpc = self
            .delete_subnet_group(ctx, &names.subnet_group, ours)
            .await?;
        let vpc_id = match vpc_id.or(subnet_group_vpc) {
            Some(vpc_id) => vpc_id,
            None => {
                network::resolve(&self.ec2, ctx.network.as_ref())
                    .await?
                    .vpc_id
            }
        };
        self.delete_security_groups(ctx, known, &vpc_id, &names)
            .await
    }

    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        self.probe(ctx, known).await
    }

    async fn live_status(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        self.live(ctx, known).await
    }

    async fn tagged(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        self.tagged_instances(owner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::{ctx, reconciler, spec};

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
        let fields = r.normalise(&ctx(true), &spec(), &Inputs::default());
        assert_eq!(fields["iops"], 3000, "gp3 baseline");
        assert_eq!(fields["deletion_protection"], true, "on in production");
        assert_eq!(fields["maintenance_window"], "sun:04:00-sun:04:30");
        assert_eq!(fields["backup_window"], DEFAULT_BACKUP_WINDOW);
        assert_eq!(fields["storage_encrypted"], true);
        assert_eq!(fields["engine_major_version"], "15");
        assert!(fields.get("password").is_none() && !fields.to_string().contains("db-password"));
        let dev = r.normalise(&ctx(false), &spec(), &Inputs::default());
        assert_eq!(dev["deletion_protection"], false);
    }
}
