//! ElastiCacheRedis: a Redis replication group (or a single cache cluster), with its
//! subnet group, parameter group and security groups.

use super::{ClientAccess, Kind, KindInfo, TypicalDurations};
use crate::cost::{Cost, HOURS_PER_MONTH, PriceTable, UnknownPrice, line, sum};
use crate::diag::Diagnostics;
use crate::model::components::{self, LowerContext};
use crate::model::{ComponentKind, ComponentSpec, InfraSpec, RedisSpec};
use crate::naming::{Namespace, elasticache_id, elasticache_name, limits, physical};
use crate::read::MapReader;
use crate::reconcile::ResourceContext;

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
        components::lower_redis(spec, diags)
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
    let nodes = if redis.mode == "cache-cluster" {
        1
    } else {
        redis.num_nodes
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
