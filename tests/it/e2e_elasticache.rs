//! The `ElastiCacheRedis` reconciler end to end on a local `moto_server`: create, read
//! back, adoption, refusal of a foreign cache, readiness and deletion, checked against what
//! moto then holds (not only against what the reconciler says).
//!
//! What moto 5.2.1 does differently from ElastiCache, asserted here so that an upgrade that
//! fixes one shows up as a failing test:
//! - `CreateReplicationGroup` with `NumCacheClusters=2` creates one member cluster (moto
//!   sizes the group from `ReplicasPerNodeGroup` only), so `num_nodes` reads 1.
//! - Member clusters of a replication group are not cache clusters (`DescribeCacheClusters`
//!   does not find them), so the engine version and the parameter group of a replication
//!   group are unknown and read as `null`.
//! - A cache cluster has no `CacheNodes`, hence no endpoint and no port.
//! - Deleted replication groups and cache clusters stay `deleting` forever, so `delete`
//!   ends with its (shortened) deadline and leaves the subnet group and security groups.
//!   A final snapshot is accepted and not created.
//! - No `Modify*`, no cache parameter groups, no `DeleteCacheSubnetGroup` (HTTP 500): the
//!   update, parameter group and full delete paths are tested with `aws-smithy-mocks` in
//!   `providers/src/elasticache.rs`, which is also where the throttling and readiness
//!   sequences live (this package has no `aws-smithy-mocks` dev-dependency).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::moto::{MotoAccount, MotoServer, REGION};
use panka_core::model::{ComponentId, ComponentSpec, RedisMode, RedisSpec};
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, Inputs, KnownIds, Observed, Readiness, Reconciler, ResourceContext,
};
use panka_providers::aws::AwsClients;
use panka_providers::elasticache::{Names, RedisReconciler, ids, outputs};
use panka_providers::naming;
use panka_providers::network::{self, IngressRule, Source};
use serde_json::{Value, json};

fn ctx() -> ResourceContext {
    ResourceContext {
        stack: "shop".into(),
        environment: "development".into(),
        id: ComponentId::new("web", "cache"),
        region: REGION.into(),
        production: false,
        network: None,
        domain: None,
    }
}

/// The brief's cache: two nodes of cache.t3.micro, Redis 7.0, failover on.
fn replication_group() -> ComponentSpec {
    ComponentSpec::ElastiCacheRedis(RedisSpec {
        engine_version: "7.0".into(),
        mode: RedisMode::ReplicationGroup,
        node_type: "cache.t3.micro".into(),
        num_nodes: 2,
        automatic_failover: true,
        port: 6379,
        snapshot_retention_days: 1,
        transit_encryption: true,
        at_rest_encryption: true,
        parameters: BTreeMap::new(),
        num_nodes_span: None,
    })
}

fn cache_cluster() -> ComponentSpec {
    ComponentSpec::ElastiCacheRedis(RedisSpec {
        engine_version: "7.1".into(),
        mode: RedisMode::CacheCluster,
        node_type: "cache.t3.small".into(),
        num_nodes: 1,
        automatic_failover: false,
        port: 6380,
        snapshot_retention_days: 0,
        transit_encryption: true,
        at_rest_encryption: false,
        parameters: BTreeMap::new(),
        num_nodes_span: None,
    })
}

/// Waits short enough for a test: moto never finishes a deletion.
fn reconciler(clients: &AwsClients) -> RedisReconciler {
    RedisReconciler::from_clients(clients)
        .with_poll_interval(Duration::from_millis(50))
        .with_wait_deadline(Duration::from_millis(600))
        .with_security_group_patience(Duration::from_millis(100))
}

async fn create(r: &RedisReconciler, spec: &ComponentSpec) -> Observed {
    r.create(&ctx(), spec, &Inputs::default())
        .await
        .unwrap_or_else(|e| panic!("create: {e} (hint: {:?})", e.hint))
}

/// `desired` with the fields moto cannot report replaced by what it reports.
fn as_moto_reports(desired: &Value, gaps: &[(&str, Value)]) -> Value {
    let mut expected = desired.clone();
    for (field, value) in gaps {
        expected[*field] = value.clone();
    }
    expected
}

async fn elasticache_tags(account: &MotoAccount, arn: &str) -> BTreeMap<String, String> {
    let out = account
        .clients
        .elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("list tags of {arn}: {e:?}"));
    out.tag_list()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

async fn security_group(
    account: &MotoAccount,
    vpc: &str,
    name: &str,
) -> Option<network::SecurityGroup> {
    network::find_security_group(&account.clients.ec2, vpc, name)
        .await
        .unwrap_or_else(|e| panic!("look up security group {name}: {e}"))
}

async fn subnet_group_exists(account: &MotoAccount, name: &str) -> bool {
    account
        .clients
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(name)
        .send()
        .await
        .is_ok()
}

async fn group_status(account: &MotoAccount, id: &str) -> String {
    let out = account
        .clients
        .elasticache
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe {id}: {e:?}"));
    out.replication_groups()[0]
        .status()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn create_builds_the_cache_and_read_reports_it() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let r = reconciler(&account.clients);
    let names = Names::of(&ctx());
    let spec = replication_group();
    let created = create(&r, &spec).await;

    // The replication group as moto holds it.
    let out = account
        .clients
        .elasticache
        .describe_replication_groups()
        .replication_group_id(&names.cache)
        .send()
        .await
        .expect("describe the replication group");
    let group = &out.replication_groups()[0];
    assert_eq!(group.cache_node_type(), Some("cache.t3.micro"));
    assert_eq!(
        group.automatic_failover().map(|s| s.as_str()),
        Some("enabled")
    );
    assert_eq!(group.multi_az().map(|s| s.as_str()), Some("enabled"));
    assert_eq!(group.transit_encryption_enabled(), Some(true));
    assert_eq!(group.at_rest_encryption_enabled(), Some(true));
    assert_eq!(group.snapshot_retention_limit(), Some(1));
    assert_eq!(group.engine(), Some("redis"));
    assert_eq!(
        group.member_clusters().len(),
        1,
        "moto 5.2.1 creates one member cluster for NumCacheClusters=2; if this fails, moto \
         got better: update the module doc and as_moto_reports below"
    );
    let arn = group.arn().expect("an ARN");
    assert_eq!(elasticache_tags(&account, arn).await, ctx().tags());

    // The subnet group: the default VPC's subnets, tagged.
    let vpc = created.physical_ids[ids::VPC].clone();
    let resolved = network::resolve(&account.clients.ec2, None)
        .await
        .expect("default VPC");
    assert_eq!(vpc, resolved.vpc_id);
    let out = account
        .clients
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(&names.subnet_group)
        .send()
        .await
        .expect("the subnet group exists");
    let subnet_group = &out.cache_subnet_groups()[0];
    let mut subnets: Vec<String> = subnet_group
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    subnets.sort();
    assert_eq!(subnets, resolved.private_subnet_ids);
    let subnet_arn = subnet_group.arn().expect("an ARN");
    assert_eq!(elasticache_tags(&account, subnet_arn).await, ctx().tags());

    // Least privilege: port 6379 only from the clients' group, which admits nothing.
    let clients = security_group(&account, &vpc, &names.client_security_group)
        .await
        .expect("the clients' group exists");
    let cache = security_group(&account, &vpc, &names.security_group)
        .await
        .expect("the cache's group exists");
    assert_eq!(
        cache.ingress,
        vec![IngressRule {
            port: 6379,
            source: Source::Group(clients.id.clone()),
        }]
    );
    assert!(clients.ingress.is_empty(), "{:?}", clients.ingress);
    assert!(naming::owned_by(&ctx(), &cache.tags) && naming::owned_by(&ctx(), &clients.tags));

    // Ids and outputs.
    assert_eq!(created.physical_ids[ids::REPLICATION_GROUP], names.cache);
    assert_eq!(created.physical_ids[ids::SUBNET_GROUP], names.subnet_group);
    assert_eq!(created.physical_ids[ids::SECURITY_GROUP], cache.id);
    assert_eq!(created.physical_ids[ids::CLIENT_SECURITY_GROUP], clients.id);
    assert_eq!(created.outputs[outputs::CLIENT_SECURITY_GROUP], clients.id);
    assert_eq!(created.outputs[outputs::ARN], arn);
    assert_eq!(created.outputs[outputs::PORT], "6379");
    assert!(
        created.outputs[outputs::ENDPOINT].starts_with(&format!("master.{}.", names.cache)),
        "{:?}",
        created.outputs
    );

    // Read with no state (tags checked, ids looked up) equals what create returned, and
    // differs from the spec only where moto cannot report.
    let read = r
        .read(&ctx(), &KnownIds::new())
        .await
        .expect("read")
        .expect("the cache exists");
    assert_eq!(read, created);
    let desired = r.normalise(&ctx(), &spec, &Inputs::default());
    let expected = as_moto_reports(
        &desired,
        &[
            ("num_nodes", json!(1)),
            ("engine_version", Value::Null),
            ("parameters", Value::Null),
        ],
    );
    assert_eq!(read.fields, expected);
    assert_eq!(read.fields["node_type"], "cache.t3.micro");
    assert_eq!(read.fields["automatic_failover"], true);
    assert_eq!(read.fields["port"], 6379);

    assert_eq!(
        r.poll_ready(&ctx(), &created.physical_ids)
            .await
            .expect("probe"),
        Readiness::Ready,
        "moto's caches are available at once"
    );
}

#[tokio::test]
async fn creating_twice_adopts_instead_of_duplicating() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let r = reconciler(&account.clients);
    let first = create(&r, &replication_group()).await;
    let second = create(&r, &replication_group()).await;
    assert_eq!(first, second);

    let groups = account
        .clients
        .elasticache
        .describe_replication_groups()
        .send()
        .await
        .expect("list replication groups");
    assert_eq!(groups.replication_groups().len(), 1);
    let subnet_groups = account
        .clients
        .elasticache
        .describe_cache_subnet_groups()
        .send()
        .await
        .expect("list subnet groups");
    let names = Names::of(&ctx());
    let ours = subnet_groups
        .cache_subnet_groups()
        .iter()
        .filter(|g| g.cache_subnet_group_name() == Some(names.subnet_group.as_str()))
        .count();
    assert_eq!(ours, 1);
    let security_groups = account
        .clients
        .ec2
        .describe_security_groups()
        .send()
        .await
        .expect("list security groups");
    for name in [&names.security_group, &names.client_security_group] {
        let count = security_groups
            .security_groups()
            .iter()
            .filter(|g| g.group_name() == Some(name.as_str()))
            .count();
        assert_eq!(count, 1, "{name}");
    }
}

#[tokio::test]
async fn a_foreign_cache_is_refused_and_nothing_changes() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let names = Names::of(&ctx());
    account
        .clients
        .elasticache
        .create_replication_group()
        .replication_group_id(&names.cache)
        .replication_group_description("someone else's cache")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect("plant an untagged replication group");
    let r = reconciler(&account.clients);

    let err = r
        .create(&ctx(), &replication_group(), &Inputs::default())
        .await
        .expect_err("a cache without panka's tags is not adopted");
    assert_eq!(err.kind, ErrorKind::Foreign);
    assert!(err.message.contains("no panka tags"), "{}", err.message);
    assert!(err.hint.is_some());

    let vpc = network::resolve(&account.clients.ec2, None)
        .await
        .expect("default VPC")
        .vpc_id;
    assert!(
        security_group(&account, &vpc, &names.security_group)
            .await
            .is_none()
    );
    assert!(
        security_group(&account, &vpc, &names.client_security_group)
            .await
            .is_none()
    );
    assert!(!subnet_group_exists(&account, &names.subnet_group).await);

    let read = r
        .read(&ctx(), &KnownIds::new())
        .await
        .expect_err("read refuses too");
    assert_eq!(read.kind, ErrorKind::Foreign);
    let delete = r
        .delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect_err("delete never removes what is not ours");
    assert_eq!(delete.kind, ErrorKind::Foreign);
    assert_eq!(group_status(&account, &names.cache).await, "available");
}

#[tokio::test]
async fn delete_asks_for_deletion_and_moto_never_finishes_it() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let r = reconciler(&account.clients);
    let names = Names::of(&ctx());
    let created = create(&r, &replication_group()).await;

    let options = DeleteOptions {
        final_snapshot: true,
        ..DeleteOptions::default()
    };
    let err = r
        .delete(&ctx(), &created.physical_ids, options)
        .await
        .expect_err("moto keeps deleted replication groups `deleting`");
    assert_eq!(err.kind, ErrorKind::TimedOut);
    assert!(err.message.contains("still `deleting`"), "{}", err.message);
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("run the command again"))
    );
    assert_eq!(group_status(&account, &names.cache).await, "deleting");

    // Nothing after the wait ran: the subnet group and the security groups stay.
    let vpc = &created.physical_ids[ids::VPC];
    assert!(subnet_group_exists(&account, &names.subnet_group).await);
    assert!(
        security_group(&account, vpc, &names.security_group)
            .await
            .is_some()
    );
    assert!(
        security_group(&account, vpc, &names.client_security_group)
            .await
            .is_some()
    );

    // A second run does not ask again (that would fail on a deleting group) and waits anew.
    let again = r
        .delete(&ctx(), &created.physical_ids, DeleteOptions::default())
        .await
        .expect_err("still deleting");
    assert_eq!(again.kind, ErrorKind::TimedOut);
    let probe = r
        .poll_ready(&ctx(), &created.physical_ids)
        .await
        .expect("probe");
    assert!(matches!(probe, Readiness::Failed { .. }), "{probe:?}");
}

#[tokio::test]
async fn deleting_a_component_that_never_existed_succeeds() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let r = reconciler(&account.clients);
    r.delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect("nothing to delete");
    assert_eq!(r.read(&ctx(), &KnownIds::new()).await.expect("read"), None);
}

#[tokio::test]
async fn cache_cluster_mode_creates_a_single_node() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let r = reconciler(&account.clients);
    let names = Names::of(&ctx());
    let spec = cache_cluster();
    let created = create(&r, &spec).await;
    assert_eq!(created.physical_ids[ids::CACHE_CLUSTER], names.cache);
    assert!(!created.physical_ids.contains_key(ids::REPLICATION_GROUP));

    let out = account
        .clients
        .elasticache
        .describe_cache_clusters()
        .cache_cluster_id(&names.cache)
        .send()
        .await
        .expect("describe the cache cluster");
    let cluster = &out.cache_clusters()[0];
    assert_eq!(cluster.num_cache_nodes(), Some(1));
    assert_eq!(cluster.cache_node_type(), Some("cache.t3.small"));
    assert_eq!(cluster.engine_version(), Some("7.1"));
    assert_eq!(
        elasticache_tags(&account, cluster.arn().expect("an ARN")).await,
        ctx().tags()
    );
    let vpc = &created.physical_ids[ids::VPC];
    let cache = security_group(&account, vpc, &names.security_group)
        .await
        .expect("exists");
    assert_eq!(cache.ingress.len(), 1);
    assert_eq!(cache.ingress[0].port, 6380);

    // Found without state in the other mode's API; moto reports no node, hence no port.
    let read = r
        .read(&ctx(), &KnownIds::new())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, created);
    let desired = r.normalise(&ctx(), &spec, &Inputs::default());
    let expected = as_moto_reports(
        &desired,
        &[("port", Value::Null), ("parameters", Value::Null)],
    );
    assert_eq!(read.fields, expected);
    assert!(!read.outputs.contains_key(outputs::ENDPOINT));
}
