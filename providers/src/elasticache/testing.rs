//! What the ElastiCache tests share: a component, the replication group AWS would
//! describe for it, and EC2 with a default VPC and the component's security groups.

use super::names::ids;
use super::{Names, RedisReconciler, cache_id};
use aws_sdk_ec2::operation::describe_security_groups::{
    DescribeSecurityGroupsInput, DescribeSecurityGroupsOutput,
};
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput;
use aws_sdk_elasticache::operation::describe_replication_groups::{
    DescribeReplicationGroupsError, DescribeReplicationGroupsOutput,
};
use aws_sdk_elasticache::types::error::ReplicationGroupNotFoundFault;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, CacheParameterGroupStatus, Endpoint, NodeGroup,
    ReplicationGroup,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use panka_core::model::{ComponentId, ComponentSpec, RedisMode, RedisSpec};
use panka_core::reconcile::{KnownIds, ResourceContext};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) type Ec = aws_sdk_elasticache::Client;
pub(crate) type Ec2 = aws_sdk_ec2::Client;

pub(crate) const VPC: &str = "vpc-0a1b2c";
pub(crate) const ACCOUNT: &str = "111122223333";

pub(crate) fn ctx() -> ResourceContext {
    ResourceContext {
        stack: "shop".into(),
        environment: "development".into(),
        id: ComponentId::new("web", "cache"),
        region: "us-east-1".into(),
        production: false,
        network: None,
        domain: None,
    }
}

pub(crate) fn spec(num_nodes: u32, node_type: &str) -> RedisSpec {
    RedisSpec {
        engine_version: "7.0".into(),
        mode: RedisMode::ReplicationGroup,
        node_type: node_type.into(),
        num_nodes,
        automatic_failover: num_nodes > 1,
        port: 6379,
        snapshot_retention_days: 1,
        transit_encryption: true,
        at_rest_encryption: true,
        parameters: BTreeMap::new(),
        num_nodes_span: None,
    }
}

pub(crate) fn component(spec: RedisSpec) -> ComponentSpec {
    ComponentSpec::ElastiCacheRedis(spec)
}

pub(crate) fn id() -> String {
    cache_id(&ctx())
}

pub(crate) fn group_sg() -> String {
    format!("sg-{}", Names::of(&ctx()).security_group)
}

pub(crate) fn client_sg() -> String {
    format!("sg-{}", Names::of(&ctx()).client_security_group)
}

/// State as `create` records it: no lookups beyond the cache itself.
pub(crate) fn known() -> KnownIds {
    let names = Names::of(&ctx());
    KnownIds::from([
        (ids::REPLICATION_GROUP.to_string(), id()),
        (ids::SUBNET_GROUP.to_string(), names.subnet_group),
        (ids::SECURITY_GROUP.to_string(), group_sg()),
        (ids::CLIENT_SECURITY_GROUP.to_string(), client_sg()),
        (ids::VPC.to_string(), VPC.to_string()),
    ])
}

/// A replication group as AWS describes one (engine version only on its members).
pub(crate) fn group(
    status: &str,
    members: usize,
    node_type: &str,
    failover: bool,
) -> ReplicationGroup {
    let id = id();
    let mut builder = ReplicationGroup::builder()
        .replication_group_id(&id)
        .status(status)
        .cache_node_type(node_type)
        .automatic_failover(if failover {
            AutomaticFailoverStatus::Enabled
        } else {
            AutomaticFailoverStatus::Disabled
        })
        .snapshot_retention_limit(1)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .arn(format!(
            "arn:aws:elasticache:us-east-1:{ACCOUNT}:replicationgroup:{id}"
        ))
        .node_groups(
            NodeGroup::builder()
                .node_group_id("0001")
                .primary_endpoint(
                    Endpoint::builder()
                        .address(format!("master.{id}.x1y2z3.use1.cache.amazonaws.com"))
                        .port(6379)
                        .build(),
                )
                .build(),
        );
    for i in 1..=members {
        builder = builder.member_clusters(format!("{id}-{i:03}"));
    }
    builder.build()
}

pub(crate) fn member(version: &str, parameter_group: &str) -> CacheCluster {
    CacheCluster::builder()
        .cache_cluster_id(format!("{}-001", id()))
        .engine_version(version)
        .cache_subnet_group_name(Names::of(&ctx()).subnet_group)
        .cache_parameter_group(
            CacheParameterGroupStatus::builder()
                .cache_parameter_group_name(parameter_group)
                .build(),
        )
        .build()
}

pub(crate) fn groups_out(group: ReplicationGroup) -> DescribeReplicationGroupsOutput {
    DescribeReplicationGroupsOutput::builder()
        .replication_groups(group)
        .build()
}

pub(crate) fn describe_group(
    status: &'static str,
    members: usize,
    node_type: &'static str,
) -> Rule {
    mock!(Ec::describe_replication_groups)
        .then_output(move || groups_out(group(status, members, node_type, members > 1)))
}

pub(crate) fn describe_member(version: &'static str) -> Rule {
    mock!(Ec::describe_cache_clusters).then_output(move || {
        DescribeCacheClustersOutput::builder()
            .cache_clusters(member(version, "default.redis7"))
            .build()
    })
}

pub(crate) fn group_not_found() -> DescribeReplicationGroupsError {
    DescribeReplicationGroupsError::ReplicationGroupNotFoundFault(
        ReplicationGroupNotFoundFault::builder().build(),
    )
}

pub(crate) fn fast(reconciler: RedisReconciler) -> RedisReconciler {
    reconciler
        .with_poll_interval(Duration::from_millis(1))
        .with_wait_deadline(Duration::from_millis(200))
        .with_security_group_patience(Duration::from_millis(10))
}

/// The name in a DescribeSecurityGroups `group-name` filter.
pub(crate) fn group_name_filter(req: &DescribeSecurityGroupsInput) -> String {
    req.filters()
        .iter()
        .find(|f| f.name() == Some("group-name"))
        .and_then(|f| f.values().first())
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn owned_ec2_tags() -> Vec<aws_sdk_ec2::types::Tag> {
    ctx()
        .tags()
        .into_iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// EC2 with a default VPC of two subnets and this component's two security groups.
pub(crate) fn ec2_with_groups() -> (Ec2, Rule, Arc<Mutex<Vec<String>>>) {
    let vpcs = mock!(Ec2::describe_vpcs).then_output(|| {
        DescribeVpcsOutput::builder()
            .vpcs(
                aws_sdk_ec2::types::Vpc::builder()
                    .vpc_id(VPC)
                    .is_default(true)
                    .build(),
            )
            .build()
    });
    let subnets = mock!(Ec2::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id("subnet-a")
                    .vpc_id(VPC)
                    .build(),
            )
            .subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id("subnet-b")
                    .vpc_id(VPC)
                    .build(),
            )
            .build()
    });
    let groups = mock!(Ec2::describe_security_groups).then_compute_output(|req| {
        let name = group_name_filter(req);
        DescribeSecurityGroupsOutput::builder()
            .security_groups(
                aws_sdk_ec2::types::SecurityGroup::builder()
                    .group_id(format!("sg-{name}"))
                    .group_name(name)
                    .vpc_id(VPC)
                    .set_tags(Some(owned_ec2_tags()))
                    .build(),
            )
            .build()
    });
    let deleted = Arc::new(Mutex::new(Vec::<String>::new()));
    let order = deleted.clone();
    let delete = mock!(Ec2::delete_security_group)
        .match_requests(move |req| {
            if let (Ok(mut seen), Some(id)) = (order.lock(), req.group_id()) {
                seen.push(id.to_string());
            }
            true
        })
        .then_output(|| {
            aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput::builder()
                .build()
        });
    let client = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&vpcs, &subnets, &groups, &delete]
    );
    (client, delete, deleted)
}

/// EC2 that must not be called.
pub(crate) fn ec2_unused() -> Ec2 {
    mock_client!(aws_sdk_ec2, RuleMode::MatchAny, Vec::<&Rule>::new())
}
