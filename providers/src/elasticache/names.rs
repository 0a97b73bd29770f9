//! The names of an ElastiCacheRedis component's resources, by the core's rules
//! (`panka_core::naming`), and the keys it records.

use super::versions::engine_family;
use crate::naming::{self, limits};
use panka_core::model::RedisSpec;
use panka_core::reconcile::ResourceContext;

/// ElastiCache parameter group names.
const PARAMETER_GROUP_LIMIT: usize = naming::limits::ELASTICACHE_PARAMETER_GROUP;

/// Keys of [`Observed::physical_ids`](panka_core::reconcile::Observed::physical_ids).
pub mod ids {
    pub const REPLICATION_GROUP: &str = "replication_group_id";
    pub const CACHE_CLUSTER: &str = "cache_cluster_id";
    pub const SUBNET_GROUP: &str = "cache_subnet_group_name";
    pub const PARAMETER_GROUP: &str = "cache_parameter_group_name";
    pub const SECURITY_GROUP: &str = "security_group_id";
    pub const CLIENT_SECURITY_GROUP: &str = "client_security_group_id";
    pub const VPC: &str = "vpc_id";
}

/// Keys of [`Observed::outputs`](panka_core::reconcile::Observed::outputs).
pub mod outputs {
    pub const ENDPOINT: &str = "endpoint";
    pub const PORT: &str = "port";
    pub const ARN: &str = "arn";
    /// Internal: the security group a dependent attaches to reach the cache.
    pub const CLIENT_SECURITY_GROUP: &str = "client_security_group_id";
}

/// The deterministic names of a component's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The replication group id, or the cache cluster id in `cache-cluster` mode.
    pub cache: String,
    pub subnet_group: String,
    pub security_group: String,
    pub client_security_group: String,
}

impl Names {
    pub fn of(ctx: &ResourceContext) -> Self {
        Names {
            cache: cache_id(ctx),
            subnet_group: naming::elasticache_name(&naming::physical(
                ctx,
                "",
                limits::ELASTICACHE_SUBNET_GROUP,
            )),
            security_group: naming::physical(ctx, "-redis", limits::SECURITY_GROUP),
            client_security_group: naming::physical(ctx, "-redis-clients", limits::SECURITY_GROUP),
        }
    }
}

/// The replication group (or cache cluster) id: at most 40 characters.
pub fn cache_id(ctx: &ResourceContext) -> String {
    naming::elasticache_id(ctx)
}

/// The parameter group of `family`. The family is part of the name so that a major
/// upgrade gets a new group the cache can switch to while the old one still exists.
pub fn parameter_group_name(ctx: &ResourceContext, family: &str) -> String {
    let suffix = format!("-{}", family.replace('.', "-"));
    naming::elasticache_name(&naming::physical(ctx, &suffix, PARAMETER_GROUP_LIMIT))
}

/// The parameter group `spec` asks for, by name; `None` without parameters.
pub(super) fn wanted_parameter_group(ctx: &ResourceContext, spec: &RedisSpec) -> Option<String> {
    if spec.parameters.is_empty() {
        return None;
    }
    engine_family(&spec.engine_version).map(|family| parameter_group_name(ctx, family))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elasticache::testing::{ctx, spec};
    use panka_core::model::{ComponentId, ComponentSpec};

    /// `validate` finds components that would share a name from the core's list.
    #[test]
    fn every_shared_name_is_one_validate_checks_for_collisions() {
        let ctx = ctx();
        let names = Names::of(&ctx);
        let spec = ComponentSpec::ElastiCacheRedis(spec(2, "cache.t3.micro"));
        let checked: Vec<String> = panka_core::naming::physical_names(&ctx, &spec)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        for name in [
            &names.cache,
            &names.subnet_group,
            &names.security_group,
            &names.client_security_group,
        ] {
            assert!(checked.contains(name), "{name} is not checked: {checked:?}");
        }
    }

    #[test]
    fn names_follow_elasticache_rules() {
        let long = ResourceContext {
            stack: "notification-platform".into(),
            environment: "production".into(),
            id: ComponentId::new("email-service", "session-cache"),
            ..ctx()
        };
        for c in [ctx(), long.clone()] {
            let id = cache_id(&c);
            assert!(id.len() <= 40, "{id}");
            assert!(id.starts_with(|ch: char| ch.is_ascii_lowercase()), "{id}");
            assert!(!id.contains("--") && !id.ends_with('-'), "{id}");
            assert_eq!(id, id.to_ascii_lowercase());
        }
        assert_eq!(cache_id(&ctx()), "shop-development-web-cache");
        assert_eq!(cache_id(&long), cache_id(&long), "deterministic");
        let names = Names::of(&ctx());
        assert_eq!(names.security_group, "shop-development-web-cache-redis");
        assert_eq!(
            names.client_security_group,
            "shop-development-web-cache-redis-clients"
        );
        assert_eq!(names.subnet_group, "shop-development-web-cache");
        assert_eq!(
            parameter_group_name(&ctx(), "redis6.x"),
            "shop-development-web-cache-redis6-x"
        );
        assert_eq!(naming::elasticache_name("Ab--c-"), "ab-c");
    }
}
