//! ElastiCacheRedis: a Redis replication group (or a single cache cluster), with its
//! subnet group, parameter group and security groups.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations};
use crate::cost::{Cost, HOURS_PER_MONTH, PriceTable, UnknownPrice, line, sum};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::components::{LowerContext, closed_set, port_value};
use crate::model::{ComponentKind, ComponentSpec, InfraSpec};
use crate::naming::{Namespace, elasticache_id, elasticache_name, limits, physical};
use crate::read::{self, MapReader};
use crate::reconcile::ResourceContext;
use crate::source::Span;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

impl Kind for RedisSpec {
    const KIND: ComponentKind = ComponentKind::ElastiCacheRedis;
    const INFO: KindInfo = KindInfo {
        name: "ElastiCacheRedis",
        noun: "Cache",
        outputs: &["endpoint", "port", "arn"],
        stateful: true,
        typical: TypicalDurations {
            create_s: 8 * 60,
            update_s: 5 * 60,
            delete_s: 8 * 60,
        },
        client_access: ClientAccess::NetworkOnly {
            why: "reached over the network (the client security group); Redis AUTH is not IAM",
        },
    };

    fn lower(
        spec: &mut MapReader,
        _infra: InfraSpec,
        _ctx: &mut LowerContext,
        diags: &mut Diagnostics,
    ) -> Self {
        lower_redis(spec, diags)
    }

    fn narrow(spec: &ComponentSpec) -> Option<&Self> {
        match spec {
            ComponentSpec::ElastiCacheRedis(redis) => Some(redis),
            _ => None,
        }
    }

    fn physical_names(&self, ctx: &ResourceContext) -> Vec<(Namespace, String)> {
        vec![
            (Namespace::ElastiCacheCluster, elasticache_id(ctx)),
            (
                Namespace::ElastiCacheSubnetGroup,
                elasticache_name(&physical(ctx, "", limits::ELASTICACHE_SUBNET_GROUP)),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-redis", limits::SECURITY_GROUP),
            ),
            (
                Namespace::SecurityGroup,
                physical(ctx, "-redis-clients", limits::SECURITY_GROUP),
            ),
        ]
    }

    fn monthly_cost(&self, prices: &PriceTable) -> Result<Cost, UnknownPrice> {
        monthly_cost(self, prices)
    }

    fn key_attributes(&self) -> Vec<String> {
        vec![
            format!("Engine: redis {}", self.engine_version),
            format!("Nodes: {} × {}", self.num_nodes, self.node_type),
        ]
    }
}

/// The component's monthly cost at the table's on-demand prices.
fn monthly_cost(redis: &RedisSpec, t: &PriceTable) -> Result<Cost, UnknownPrice> {
    let (_, hourly) = t
        .redis_nodes
        .iter()
        .find(|(node, _)| *node == redis.node_type)
        .ok_or_else(|| UnknownPrice::new("ElastiCache node type", &redis.node_type, t))?;
    let nodes = match redis.mode {
        RedisMode::CacheCluster => 1,
        RedisMode::ReplicationGroup => redis.num_nodes,
    };
    let lines = vec![line(
        format!("{} Redis node × {nodes}", redis.node_type),
        HOURS_PER_MONTH * f64::from(nodes),
        "node-hour",
        *hourly,
    )];
    let monthly = sum(&lines);
    Ok(Cost {
        monthly_usd: monthly,
        max_monthly_usd: monthly,
        price_region: t.region,
        lines,
        notes: vec![
            "snapshot storage beyond the free allowance and cross-AZ data transfer are not \
             estimated"
                .to_string(),
        ],
        approximated: None,
    })
}

// ---------------------------------------------------------------- ElastiCacheRedis

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedisSpec {
    pub engine_version: String,
    pub mode: RedisMode,
    pub node_type: String,
    pub num_nodes: u32,
    pub automatic_failover: bool,
    pub port: u16,
    pub snapshot_retention_days: u32,
    pub transit_encryption: bool,
    pub at_rest_encryption: bool,
    pub parameters: BTreeMap<String, String>,
    #[serde(skip)]
    pub num_nodes_span: Option<Span>,
}

closed_set! {
    /// `spec.cluster.mode`: which ElastiCache resource holds the cache.
    pub enum RedisMode {
        /// A primary with replicas (one node is allowed too).
        ReplicationGroup => "replication-group",
        /// A single node, without replicas or encryption at rest.
        CacheCluster => "cache-cluster",
    }
}

pub(crate) fn lower_redis(spec: &mut MapReader, diags: &mut Diagnostics) -> RedisSpec {
    let mut redis = RedisSpec {
        engine_version: String::new(),
        mode: RedisMode::ReplicationGroup,
        node_type: String::new(),
        num_nodes: 1,
        automatic_failover: false,
        port: 6379,
        snapshot_retention_days: 0,
        transit_encryption: true,
        at_rest_encryption: true,
        parameters: BTreeMap::new(),
        num_nodes_span: None,
    };
    if let Some(mut m) = spec.required_map("engine", diags) {
        redis.engine_version = m.required_string("version", diags).unwrap_or_default();
        m.finish(diags);
    }
    if let Some(mut m) = spec.required_map("cluster", diags) {
        redis.mode = m
            .choice("mode", diags)
            .unwrap_or(RedisMode::ReplicationGroup);
        if let Some(node) = m.required("nodeType", diags) {
            redis.node_type =
                read::string(node, "spec.cluster.nodeType", diags).unwrap_or_default();
            if !redis.node_type.starts_with("cache.") {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!("`{}` is not an ElastiCache node type", redis.node_type),
                    )
                    .with_label("expected cache.<family>.<size>")
                    .with_hint("for example `cache.t3.micro`"),
                );
            }
        }
        redis.num_nodes_span = m.get("numNodes").map(|n| n.span);
        redis.num_nodes = m.int("numNodes", 1..=6, diags).unwrap_or(1) as u32;
        let failover_node = m.get("automaticFailover");
        let failover = m.bool("automaticFailover", diags);
        redis.automatic_failover = failover.unwrap_or(redis.num_nodes > 1);
        if redis.automatic_failover
            && redis.num_nodes < 2
            && let Some(node) = failover_node
        {
            diags.push(
                Diagnostic::at(
                    "E025",
                    node.span,
                    "automatic failover needs at least 2 nodes",
                )
                .with_label("only one node")
                .with_hint("set `numNodes: 2` or more"),
            );
        }
        if redis.mode == RedisMode::CacheCluster
            && redis.num_nodes > 1
            && let Some(span) = redis.num_nodes_span
        {
            diags.push(
                Diagnostic::at("E025", span, "a `cache-cluster` has exactly one node")
                    .with_label("more than one node")
                    .with_hint("use `mode: replication-group` for replicas"),
            );
        }
        m.finish(diags);
    }
    if let Some(node) = spec.get("port") {
        redis.port = port_value(node, "spec.port", diags).unwrap_or(6379);
    }
    redis.snapshot_retention_days = spec
        .int("snapshotRetentionDays", 0..=35, diags)
        .unwrap_or(0) as u32;
    redis.transit_encryption = spec.bool("transitEncryption", diags).unwrap_or(true);
    // ElastiCache encrypts at rest only replication groups; a single cache cluster cannot.
    let single_cluster = redis.mode == RedisMode::CacheCluster;
    let at_rest_node = spec.get("atRestEncryption");
    redis.at_rest_encryption = spec
        .bool("atRestEncryption", diags)
        .unwrap_or(!single_cluster);
    if single_cluster
        && redis.at_rest_encryption
        && let Some(node) = at_rest_node
    {
        diags.push(
            Diagnostic::at(
                "E025",
                node.span,
                "a `cache-cluster` cannot be encrypted at rest",
            )
            .with_label("not supported for a single cache cluster")
            .with_hint("use `mode: replication-group`, or remove `atRestEncryption`"),
        );
    }
    redis.parameters = spec.string_map("parameters", diags).unwrap_or_default();
    redis
}
