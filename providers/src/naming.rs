//! Deterministic physical names and ownership tags.
//!
//! Every name derives from `<stack>-<env>-<service>-<component>` (plus a suffix such as
//! `-dlq` or `-sg`). When that is longer than a service allows, it is cut and ended with
//! a short hash of the whole name, so two long names that share a prefix stay distinct
//! and the same component always gets the same name.

use panka_core::reconcile::ResourceContext;
use std::collections::BTreeMap;

/// Name limits of the AWS services panka creates resources in.
pub mod limits {
    pub const ALB: usize = 32;
    pub const TARGET_GROUP: usize = 32;
    pub const RDS_IDENTIFIER: usize = 63;
    pub const SQS_QUEUE: usize = 80;
    pub const ELASTICACHE_REPLICATION_GROUP: usize = 40;
    pub const ELASTICACHE_SUBNET_GROUP: usize = 255;
    pub const ELASTICACHE_PARAMETER_GROUP: usize = 255;
    pub const IAM_ROLE: usize = 64;
    pub const ECS: usize = 255;
    pub const SECURITY_GROUP: usize = 255;
    pub const DB_SUBNET_GROUP: usize = 255;
    pub const DB_PARAMETER_GROUP: usize = 255;
    pub const AUTOSCALING_POLICY: usize = 256;
}

/// FNV-1a, 32 bits: stable across releases and platforms (std's hasher is not).
fn fnv1a(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// `name` when it fits in `max`, else its first characters, `-`, and 6 hex digits of its
/// hash. Never ends with a hyphen and never holds two in a row (RDS rejects both).
pub fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = format!("{:06x}", fnv1a(name) & 0x00ff_ffff);
    let keep = max.saturating_sub(hash.len() + 1);
    let head: String = name.chars().take(keep).collect();
    format!("{}-{hash}", head.trim_end_matches('-'))
}

/// `<stack>-<env>-<service>-<component><suffix>` fitted to `max`.
pub fn physical(ctx: &ResourceContext, suffix: &str, max: usize) -> String {
    fit(&format!("{}{suffix}", ctx.base_name()), max)
}

/// SQS names: FIFO queues must end in `.fifo`, which counts toward the limit.
pub fn sqs_queue(ctx: &ResourceContext, suffix: &str, fifo: bool) -> String {
    if fifo {
        format!("{}.fifo", physical(ctx, suffix, limits::SQS_QUEUE - 5))
    } else {
        physical(ctx, suffix, limits::SQS_QUEUE)
    }
}

/// The ECS cluster shared by every MicroService of a stack and environment.
pub fn ecs_cluster(stack: &str, environment: &str) -> String {
    fit(&format!("{stack}-{environment}"), limits::ECS)
}

/// The ownership tags of a component as `(key, value)` pairs, sorted.
pub fn tags(ctx: &ResourceContext) -> BTreeMap<String, String> {
    ctx.tags()
}

/// Whether `found` tags mark the resource as this component's.
pub fn owned_by(ctx: &ResourceContext, found: &BTreeMap<String, String>) -> bool {
    ctx.tags().iter().all(|(k, v)| found.get(k) == Some(v))
}

/// Why a resource with panka's name is not this component's, for `Foreign` errors.
pub fn foreign_reason(
    ctx: &ResourceContext,
    what: &str,
    name: &str,
    found: &BTreeMap<String, String>,
) -> String {
    match found.get("panka:component") {
        Some(other) => format!(
            "{what} {name} exists but belongs to {other} ({}/{}), not {}",
            found.get("panka:stack").map(String::as_str).unwrap_or("?"),
            found
                .get("panka:environment")
                .map(String::as_str)
                .unwrap_or("?"),
            ctx.id
        ),
        None => format!("{what} {name} exists and was not created by panka (it has no panka tags)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use panka_core::model::ComponentId;

    fn ctx(stack: &str, service: &str, component: &str) -> ResourceContext {
        ResourceContext {
            stack: stack.into(),
            environment: "development".into(),
            id: ComponentId::new(service, component),
            region: "us-east-1".into(),
            production: false,
            network: None,
        }
    }

    #[test]
    fn short_names_stay_whole() {
        let c = ctx("shop", "web", "api");
        assert_eq!(physical(&c, "", 63), "shop-development-web-api");
        assert_eq!(
            sqs_queue(&c, "-dlq", true),
            "shop-development-web-api-dlq.fifo"
        );
    }

    #[test]
    fn long_names_are_cut_with_a_stable_hash() {
        let c = ctx("notification-platform", "email-service", "api");
        let alb = physical(&c, "", limits::ALB);
        assert_eq!(alb.len(), 32);
        assert_eq!(alb, physical(&c, "", limits::ALB), "deterministic");
        assert!(!alb.contains("--") && !alb.ends_with('-'));
        let other = physical(
            &ctx("notification-platform", "email-service", "app"),
            "",
            limits::ALB,
        );
        assert_ne!(alb, other, "names sharing a prefix stay distinct");
        let fifo = sqs_queue(
            &ctx(&"s".repeat(30), &"v".repeat(30), &"c".repeat(30)),
            "-dlq",
            true,
        );
        assert!(fifo.len() <= 80 && fifo.ends_with(".fifo"), "{fifo}");
    }

    #[test]
    fn ownership_needs_every_tag() {
        let c = ctx("shop", "web", "api");
        let mut found = c.tags();
        assert!(owned_by(&c, &found));
        found.insert("panka:component".into(), "web/other".into());
        assert!(!owned_by(&c, &found));
        assert!(foreign_reason(&c, "queue", "q", &found).contains("web/other"));
        assert!(foreign_reason(&c, "queue", "q", &BTreeMap::new()).contains("no panka tags"));
    }
}
