//! The RDS reconciler and the Secrets Manager helpers end to end on a local `moto_server`:
//! create, read back, update, out-of-band changes, deletion with a final snapshot,
//! deletion protection, adoption and foreign resources — checked against what moto then
//! holds, not only against what the reconciler says.
//!
//! What moto 5.2.1 does differently from RDS (the sequences it cannot produce are tested
//! with `aws-smithy-mocks` in `providers/src/rds.rs`):
//! - Instances are `available` at once and `ModifyDBInstance` applies at once even with
//!   `ApplyImmediately=false` (no pending modifications), so the production/maintenance
//!   window difference is checked on the request with a mock.
//! - Deleted instances are gone at once (no `deleting` phase).
//! - `DescribeDBParameters` returns only the parameters that were set, with no
//!   `ApplyType`; `ResetDBParameterGroup` is not implemented (HTTP 500), so removing a
//!   parameter is not exercised here.
//! - gp3 volumes report no IOPS (AWS reports the 3000 baseline); both read the same after
//!   normalisation.
//! - Secrets Manager never denies access, so access denied is tested with a mock in
//!   `providers/src/secrets.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::moto::{DB_SECRET as SECRET, MotoAccount, MotoServer, REGION, create_secret};
use crate::support::vpc::default_vpc_id;
use panka_core::model::{ComponentId, ComponentSpec, Engine, RdsSpec, StorageType};
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, Inputs, KnownIds, Readiness, Reconciler, ResourceContext,
};
use panka_providers::aws::AwsClients;
use panka_providers::naming::{self, limits};
use panka_providers::network::{self, IngressRule, Source};
use panka_providers::rds::RdsReconciler;
use panka_providers::secrets::{self, MissingReason, PreflightError, SecretUse};
use serde_json::Value;

const PASSWORD: &str = "super-secure-db-password-12345";

fn ctx(component: &str, production: bool) -> ResourceContext {
    ResourceContext {
        stack: "notification-platform".into(),
        environment: if production {
            "production"
        } else {
            "development"
        }
        .into(),
        id: ComponentId::new("email-service", component),
        region: REGION.into(),
        production,
        network: None,
        domain: None,
    }
}

/// The walkthrough's database.
fn rds_spec() -> RdsSpec {
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
        password_secret: SECRET.into(),
        password_key: None,
        backup_retention_days: 7,
        backup_window: None,
        maintenance_window: None,
        deletion_protection: None,
        parameters: BTreeMap::from([("log_min_duration_statement".into(), "500".into())]),
        spans: Default::default(),
    }
}

fn spec(rds: RdsSpec) -> ComponentSpec {
    ComponentSpec::Rds(rds)
}

fn reconciler(clients: &AwsClients) -> RdsReconciler {
    let mut reconciler = RdsReconciler::new(clients);
    reconciler.delete_poll_interval = Duration::from_millis(50);
    reconciler.delete_timeout = Duration::from_secs(30);
    reconciler.security_group_patience = Duration::from_secs(5);
    reconciler
}

/// Stores the password as the walkthrough does: `{"password":"…"}`.
async fn create_password_secret(account: &MotoAccount) {
    create_secret(
        &account.clients,
        SECRET,
        &format!(r#"{{"password":"{PASSWORD}"}}"#),
    )
    .await;
}

fn assert_no_password(shown: &str) {
    assert!(
        !shown.contains(PASSWORD),
        "the password leaked into: {shown}"
    );
}

/// The fields whose values differ between two normalised field sets.
fn differing(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        panic!("fields are objects: {a} {b}");
    };
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

async fn subnet_group_exists(clients: &AwsClients, name: &str) -> bool {
    clients
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(name)
        .send()
        .await
        .is_ok_and(|out| !out.db_subnet_groups().is_empty())
}

#[tokio::test]
async fn create_read_update_and_delete_on_moto() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_password_secret(&account).await;
    let rds = reconciler(clients);
    let ctx = ctx("database", false);
    let inputs = Inputs::default();
    let desired = spec(rds_spec());

    // Create.
    let created = rds.create(&ctx, &desired, &inputs).await.expect("create");
    assert_no_password(&format!("{created:?}"));
    assert_eq!(created.fields, rds.normalise(&ctx, &desired, &inputs));
    let identifier = naming::physical(&ctx, "", limits::RDS_IDENTIFIER);
    assert_eq!(
        identifier,
        "notification-platform-development-email-service-database"
    );
    assert_eq!(created.physical_ids["db_instance_identifier"], identifier);
    assert!(
        matches!(
            rds.poll_ready(&ctx, &created.physical_ids).await,
            Ok(Readiness::Ready)
        ),
        "moto's instances are available at once"
    );

    // Read: the same, and no spurious diff.
    let read = rds
        .read(&ctx, &KnownIds::new())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);
    assert_eq!(
        differing(&read.fields, &rds.normalise(&ctx, &desired, &inputs)),
        Vec::<String>::new()
    );
    assert_no_password(&format!("{read:?}"));
    for role in [
        "db_instance_identifier",
        "db_subnet_group",
        "db_parameter_group",
        "security_group_id",
        "client_security_group_id",
    ] {
        assert!(
            read.physical_ids.contains_key(role),
            "{role} in {:?}",
            read.physical_ids
        );
    }
    assert_eq!(read.outputs["port"], "5432");
    assert!(
        read.outputs["endpoint"].starts_with(&identifier),
        "{:?}",
        read.outputs
    );
    assert!(read.outputs["arn"].ends_with(&format!(":db:{identifier}")));
    assert_eq!(
        read.outputs["client_security_group_id"],
        read.physical_ids["client_security_group_id"]
    );
    assert_eq!(
        read.fields["parameters"]["log_min_duration_statement"],
        "500"
    );

    // What moto holds.
    let described = clients
        .rds
        .describe_db_instances()
        .db_instance_identifier(&identifier)
        .send()
        .await
        .expect("describe");
    let db = &described.db_instances()[0];
    assert_eq!(db.engine(), Some("postgres"));
    assert_eq!(db.engine_version(), Some("15.4"));
    assert_eq!(db.db_instance_class(), Some("db.t3.small"));
    assert_eq!(db.allocated_storage(), Some(20));
    assert_eq!(db.storage_type(), Some("gp3"));
    assert_eq!(db.db_name(), Some("emaildb"));
    assert_eq!(db.master_username(), Some("dbadmin"));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.deletion_protection(), Some(false));
    assert_eq!(db.copy_tags_to_snapshot(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(7));
    let subnet_group = db.db_subnet_group().expect("a subnet group");
    assert_eq!(
        subnet_group.db_subnet_group_name(),
        Some(read.physical_ids["db_subnet_group"].as_str())
    );
    let network = network::resolve(&clients.ec2, None).await.expect("network");
    let mut subnets: Vec<&str> = subnet_group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    subnets.sort_unstable();
    assert_eq!(subnets, network.private_subnet_ids);
    assert_eq!(
        db.db_parameter_groups()[0].db_parameter_group_name(),
        Some(read.physical_ids["db_parameter_group"].as_str())
    );
    let attached: Vec<&str> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(attached, [read.physical_ids["security_group_id"].as_str()]);
    let tags = clients
        .rds
        .list_tags_for_resource()
        .resource_name(db.db_instance_arn().expect("arn"))
        .send()
        .await
        .expect("tags");
    let tags: BTreeMap<String, String> = tags
        .tag_list()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().into(),
                t.value().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(tags, ctx.tags());
    let family = clients
        .rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(&read.physical_ids["db_parameter_group"])
        .send()
        .await
        .expect("parameter group");
    assert_eq!(
        family.db_parameter_groups()[0].db_parameter_group_family(),
        Some("postgres15")
    );

    // Security groups: the database port, only from the clients group, which admits nothing.
    let db_group =
        network::find_security_group(&clients.ec2, &network.vpc_id, &format!("{identifier}-db"))
            .await
            .expect("find")
            .expect("the db group");
    let clients_group = network::find_security_group(
        &clients.ec2,
        &network.vpc_id,
        &format!("{identifier}-clients"),
    )
    .await
    .expect("find")
    .expect("the clients group");
    assert_eq!(db_group.id, read.physical_ids["security_group_id"]);
    assert_eq!(clients_group.id, read.outputs["client_security_group_id"]);
    assert_eq!(
        db_group.ingress,
        [IngressRule {
            port: 5432,
            source: Source::Group(clients_group.id.clone()),
        }]
    );
    assert!(clients_group.ingress.is_empty());
    assert!(naming::owned_by(&ctx, &db_group.tags) && naming::owned_by(&ctx, &clients_group.tags));

    // Update: class and storage, and a parameter's value; only those change.
    let mut bigger = rds_spec();
    bigger.instance_class = "db.t3.medium".into();
    bigger.allocated_gb = 50;
    bigger
        .parameters
        .insert("log_min_duration_statement".into(), "1000".into());
    let bigger = spec(bigger);
    let updated = rds.update(&ctx, &bigger, &inputs).await.expect("update");
    assert_eq!(updated.fields, rds.normalise(&ctx, &bigger, &inputs));
    assert_eq!(
        differing(&read.fields, &updated.fields),
        ["allocated_gb", "instance_class", "parameters"]
    );
    assert_eq!(updated.physical_ids, read.physical_ids);
    let db = clients
        .rds
        .describe_db_instances()
        .db_instance_identifier(&identifier)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        db.db_instances()[0].db_instance_class(),
        Some("db.t3.medium")
    );
    assert_eq!(db.db_instances()[0].allocated_storage(), Some(50));
    // An update with nothing to change changes nothing.
    let again = rds
        .update(&ctx, &bigger, &inputs)
        .await
        .expect("no-op update");
    assert_eq!(again, updated);

    // A change made by hand shows in read, field by field.
    clients
        .rds
        .modify_db_instance()
        .db_instance_identifier(&identifier)
        .db_instance_class("db.t3.large")
        .backup_retention_period(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("out-of-band modify");
    let drifted = rds
        .read(&ctx, &updated.physical_ids)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        differing(&drifted.fields, &rds.normalise(&ctx, &bigger, &inputs)),
        ["backup_retention_days", "instance_class"]
    );
    assert_eq!(drifted.fields["instance_class"], "db.t3.large");
    assert_eq!(drifted.fields["backup_retention_days"], 3);

    // Delete with a final snapshot.
    rds.delete(
        &ctx,
        &drifted.physical_ids,
        DeleteOptions {
            final_snapshot: true,
            disable_deletion_protection: false,
        },
    )
    .await
    .expect("delete");
    let snapshots = clients
        .rds
        .describe_db_snapshots()
        .send()
        .await
        .expect("snapshots");
    let names: Vec<&str> = snapshots
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(&format!("{identifier}-final-"))),
        "{names:?}"
    );
    assert_eq!(rds.read(&ctx, &KnownIds::new()).await.expect("read"), None);
    for name in [format!("{identifier}-db"), format!("{identifier}-clients")] {
        let found = network::find_security_group(&clients.ec2, &network.vpc_id, &name)
            .await
            .expect("find");
        assert!(found.is_none(), "{name} is gone");
    }
    assert!(!subnet_group_exists(clients, &drifted.physical_ids["db_subnet_group"]).await);
    let groups = clients
        .rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(&drifted.physical_ids["db_parameter_group"])
        .send()
        .await;
    let parameter_group_gone = match groups {
        Ok(out) => out.db_parameter_groups().is_empty(),
        Err(e) => e
            .as_service_error()
            .is_some_and(|e| e.is_db_parameter_group_not_found_fault()),
    };
    assert!(parameter_group_gone);

    // Deleting what is gone is success.
    rds.delete(&ctx, &drifted.physical_ids, DeleteOptions::default())
        .await
        .expect("delete again");
}

/// Storage autoscaling: RDS grows the volume by itself between `allocatedGB` and
/// `maxAllocatedGB`, and a grown volume is not a change; a floor raised above the live
/// size is one, and the update grows the volume to it.
#[tokio::test]
async fn storage_grown_by_autoscaling_is_not_a_change() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_password_secret(&account).await;
    let rds = reconciler(clients);
    let ctx = ctx("database", false);
    let inputs = Inputs::default();
    let mut autoscaled = rds_spec();
    autoscaled.max_allocated_gb = Some(100);
    let desired = spec(autoscaled.clone());

    let created = rds.create(&ctx, &desired, &inputs).await.expect("create");
    assert_eq!(created.fields["allocated_gb"], "20-100 (autoscaled)");
    assert_eq!(created.fields["max_allocated_gb"], 100);
    assert_eq!(created.physical_ids["allocated_gb_floor"], "20");
    let identifier = created.physical_ids["db_instance_identifier"].clone();
    let live_size = || {
        let request = clients
            .rds
            .describe_db_instances()
            .db_instance_identifier(&identifier)
            .send();
        async move {
            let out = request.await.expect("describe");
            let db = &out.db_instances()[0];
            (db.allocated_storage(), db.max_allocated_storage())
        }
    };
    assert_eq!(live_size().await, (Some(20), Some(100)));

    // RDS grows the volume (here by hand: moto never autoscales).
    clients
        .rds
        .modify_db_instance()
        .db_instance_identifier(&identifier)
        .allocated_storage(35)
        .apply_immediately(true)
        .send()
        .await
        .expect("grow the volume");
    let read = rds
        .read(&ctx, &created.physical_ids)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        differing(&read.fields, &rds.normalise(&ctx, &desired, &inputs)),
        Vec::<String>::new(),
        "35 GB is within 20-100"
    );
    // Without the recorded floor (adopted, or state from before) the live size is the
    // floor, which shows once as a change.
    let unknown = rds
        .read(&ctx, &KnownIds::new())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(unknown.fields["allocated_gb"], "35-100 (autoscaled)");

    // A floor above the live size: a change, and the update grows the volume.
    let mut raised = autoscaled.clone();
    raised.allocated_gb = 50;
    let raised = spec(raised);
    assert_eq!(
        differing(&read.fields, &rds.normalise(&ctx, &raised, &inputs)),
        ["allocated_gb"]
    );
    let updated = rds.update(&ctx, &raised, &inputs).await.expect("update");
    assert_eq!(live_size().await, (Some(50), Some(100)));
    assert_eq!(updated.physical_ids["allocated_gb_floor"], "50");
    let read = rds
        .read(&ctx, &updated.physical_ids)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        differing(&read.fields, &rds.normalise(&ctx, &raised, &inputs)),
        Vec::<String>::new()
    );

    rds.delete(&ctx, &updated.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
}

#[tokio::test]
async fn production_databases_keep_their_deletion_protection() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_password_secret(&account).await;
    let rds = reconciler(clients);
    let ctx = ctx("database", true);
    let created = rds
        .create(&ctx, &spec(rds_spec()), &Inputs::default())
        .await
        .expect("create");
    assert_eq!(
        created.fields["deletion_protection"], true,
        "on in production"
    );

    let refused = rds
        .delete(
            &ctx,
            &created.physical_ids,
            DeleteOptions {
                final_snapshot: false,
                disable_deletion_protection: false,
            },
        )
        .await
        .expect_err("refused");
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert!(
        refused
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("--allow-dangerous")),
        "{refused:?}"
    );
    assert_no_password(&format!("{refused:?}"));
    assert!(
        rds.read(&ctx, &created.physical_ids)
            .await
            .expect("read")
            .is_some(),
        "still there"
    );

    rds.delete(
        &ctx,
        &created.physical_ids,
        DeleteOptions {
            final_snapshot: false,
            disable_deletion_protection: true,
        },
    )
    .await
    .expect("delete with --allow-dangerous");
    assert_eq!(
        rds.read(&ctx, &created.physical_ids).await.expect("read"),
        None
    );
}

#[tokio::test]
async fn create_adopts_its_own_database_and_refuses_foreign_ones() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_password_secret(&account).await;
    let rds = reconciler(clients);
    let ours = ctx("database", false);
    let desired = spec(rds_spec());
    let created = rds
        .create(&ours, &desired, &Inputs::default())
        .await
        .expect("create");

    // A create that finds its own tagged instance adopts it; the password is not needed
    // again (the secret is gone by now).
    clients
        .secretsmanager
        .delete_secret()
        .secret_id(SECRET)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the secret");
    let adopted = rds
        .create(&ours, &desired, &Inputs::default())
        .await
        .expect("adopt");
    assert_eq!(adopted, created);
    let count = clients
        .rds
        .describe_db_instances()
        .send()
        .await
        .expect("describe")
        .db_instances()
        .len();
    assert_eq!(count, 1, "no duplicate");

    // An instance with panka's name for another component and no tags.
    let untagged = ctx("untagged", false);
    let untagged_id = naming::physical(&untagged, "", limits::RDS_IDENTIFIER);
    clients
        .rds
        .create_db_instance()
        .db_instance_identifier(&untagged_id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("someone")
        .master_user_password("not-ours-123")
        .send()
        .await
        .expect("out-of-band create");
    let err = rds
        .create(&untagged, &desired, &Inputs::default())
        .await
        .expect_err("foreign");
    assert_eq!(err.kind, ErrorKind::Foreign);
    assert!(err.message.contains("no panka tags"), "{err}");
    assert_no_password(&format!("{err:?}"));
    let vpc = default_vpc_id(clients).await;
    let group = network::find_security_group(&clients.ec2, &vpc, &format!("{untagged_id}-clients"))
        .await
        .expect("find");
    assert!(
        group.is_none(),
        "nothing was created for a foreign database"
    );
    assert!(!subnet_group_exists(clients, &untagged_id).await);
    let refused = rds
        .delete(&untagged, &KnownIds::new(), DeleteOptions::default())
        .await
        .expect_err("a foreign database is not deleted");
    assert_eq!(refused.kind, ErrorKind::Foreign);

    // An instance tagged as another component's (ours, copied onto it).
    let other = ctx("other", false);
    let other_id = naming::physical(&other, "", limits::RDS_IDENTIFIER);
    let made = clients
        .rds
        .create_db_instance()
        .db_instance_identifier(&other_id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("someone")
        .master_user_password("not-ours-123")
        .send()
        .await
        .expect("out-of-band create");
    let our_tags = clients
        .rds
        .list_tags_for_resource()
        .resource_name(&created.outputs["arn"])
        .send()
        .await
        .expect("tags");
    clients
        .rds
        .add_tags_to_resource()
        .resource_name(
            made.db_instance()
                .and_then(|i| i.db_instance_arn())
                .expect("arn"),
        )
        .set_tags(Some(our_tags.tag_list().to_vec()))
        .send()
        .await
        .expect("tag");
    let err = rds
        .create(&other, &desired, &Inputs::default())
        .await
        .expect_err("foreign");
    assert_eq!(err.kind, ErrorKind::Foreign);
    assert!(
        err.message.contains("belongs to email-service/database"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_password_secret_changes_nothing() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let rds = reconciler(clients);
    let ctx = ctx("database", false);
    let err = rds
        .create(&ctx, &spec(rds_spec()), &Inputs::default())
        .await
        .expect_err("no secret");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains(SECRET), "{err}");
    let identifier = naming::physical(&ctx, "", limits::RDS_IDENTIFIER);
    let vpc = default_vpc_id(clients).await;
    for name in [format!("{identifier}-db"), format!("{identifier}-clients")] {
        let found = network::find_security_group(&clients.ec2, &vpc, &name)
            .await
            .expect("find");
        assert!(found.is_none(), "{name} was not created");
    }
    assert!(!subnet_group_exists(clients, &identifier).await);
    assert_eq!(rds.read(&ctx, &KnownIds::new()).await.expect("read"), None);
}

fn secret_use(secret_ref: &str, file: &str, line: u32) -> SecretUse {
    SecretUse {
        secret_ref: secret_ref.into(),
        component: ComponentId::new("email-service", "api"),
        file: file.into(),
        line,
        column: 18,
    }
}

#[tokio::test]
async fn preflight_reports_every_missing_secret_at_once() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let sm = &account.clients.secretsmanager;
    create_password_secret(&account).await;
    sm.create_secret()
        .name("/stacks/notification-platform/email-service/old")
        .secret_string("x")
        .send()
        .await
        .expect("create");
    sm.delete_secret()
        .secret_id("/stacks/notification-platform/email-service/old")
        .send()
        .await
        .expect("schedule deletion");

    let api = "services/email-service/components/api/microservice.yaml";
    let worker = "services/email-service/components/worker/microservice.yaml";
    let uses = [
        secret_use(SECRET, api, 3),
        secret_use(
            "/stacks/notification-platform/email-service/smtp-password",
            worker,
            9,
        ),
        secret_use(
            "/stacks/notification-platform/email-service/smtp-password",
            api,
            5,
        ),
        secret_use(
            "/stacks/notification-platform/email-service/api-key",
            api,
            7,
        ),
        secret_use("/stacks/notification-platform/email-service/old", api, 11),
    ];
    let Err(PreflightError::Missing(missing)) = secrets::preflight(sm, &uses).await else {
        panic!("expected missing secrets");
    };
    let found: Vec<(String, MissingReason)> = missing
        .iter()
        .map(|m| (m.at.location(), m.reason))
        .collect();
    assert_eq!(
        found,
        [
            (format!("{api}:5:18"), MissingReason::NotFound),
            (format!("{api}:7:18"), MissingReason::NotFound),
            (format!("{api}:11:18"), MissingReason::ScheduledForDeletion),
            (format!("{worker}:9:18"), MissingReason::NotFound),
        ]
    );
    let shown = missing[0].to_string();
    assert!(
        shown.contains("smtp-password")
            && shown.contains("email-service/api")
            && shown.contains("does not exist"),
        "{shown}"
    );
    assert!(missing[0].hint().contains("create-secret"));

    assert_eq!(secrets::preflight(sm, &uses[..1]).await, Ok(()));
    assert_eq!(secrets::preflight(sm, &[]).await, Ok(()));
}

#[tokio::test]
async fn arns_for_ecs_and_passwords_for_rds() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let sm = &account.clients.secretsmanager;
    let created = sm
        .create_secret()
        .name(SECRET)
        .secret_string(format!(r#"{{"password":"{PASSWORD}","user":"dbadmin"}}"#))
        .send()
        .await
        .expect("create");
    let arn = created.arn().expect("arn");
    sm.create_secret()
        .name("plain")
        .secret_string(PASSWORD)
        .send()
        .await
        .expect("create");

    // ARNs: the full one (with Secrets Manager's suffix), and per JSON key for ECS.
    assert_eq!(
        secrets::resolve_arn(sm, SECRET, None).await.expect("arn"),
        arn
    );
    let keyed = secrets::resolve_arn(sm, SECRET, Some("password"))
        .await
        .expect("arn");
    assert_eq!(keyed, format!("{arn}:password::"));
    assert!(
        keyed.starts_with(&format!(
            "arn:aws:secretsmanager:{REGION}:{}:secret:{SECRET}-",
            account.account_id
        )),
        "{keyed}"
    );
    let missing = secrets::resolve_arn(sm, "nope", None)
        .await
        .expect_err("missing");
    assert_eq!(missing.kind, ErrorKind::NotFound);

    // Passwords: JSON (default and named key) and plain strings.
    let password = secrets::read_password(sm, SECRET, None)
        .await
        .expect("read");
    assert_eq!(password.expose(), PASSWORD);
    assert_eq!(format!("{password:?} {password}"), "*** ***");
    let user = secrets::read_password(sm, SECRET, Some("user"))
        .await
        .expect("read");
    assert_eq!(user.expose(), "dbadmin");
    let plain = secrets::read_password(sm, "plain", None)
        .await
        .expect("read");
    assert_eq!(plain.expose(), PASSWORD);

    // Errors name the secret and the key, never the value.
    for err in [
        secrets::read_password(sm, SECRET, Some("nokey"))
            .await
            .expect_err("no key"),
        secrets::read_password(sm, "plain", Some("password"))
            .await
            .expect_err("not JSON"),
        secrets::read_password(sm, "nope", None)
            .await
            .expect_err("missing"),
    ] {
        assert_no_password(&format!("{err:?} {err}"));
    }
    let err = secrets::read_password(sm, SECRET, Some("nokey"))
        .await
        .expect_err("no key");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(
        err.hint.as_deref(),
        Some("its keys are: password, user; name one with `key:`")
    );
}
