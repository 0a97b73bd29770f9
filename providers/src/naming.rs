//! Physical names (by the core's rules, `panka_core::naming`) and ownership tags.

use panka_core::reconcile::ResourceContext;
use std::collections::BTreeMap;

// The name rules themselves are in the core, where `validate` checks that no two
// components get the same name; reconcilers use them through this module.
pub use panka_core::naming::{
    ecs_cluster, elasticache_id, elasticache_name, fit, limits, physical, shared_load_balancer,
    sqs_queue,
};

/// The ownership tags of a component as `(key, value)` pairs, sorted.
pub fn tags(ctx: &ResourceContext) -> BTreeMap<String, String> {
    ctx.tags()
}

/// The tags of what the components of a stack and environment share (the ECS cluster,
/// the load balancer on their domain): the component's without the component.
pub fn environment_tags(ctx: &ResourceContext) -> BTreeMap<String, String> {
    ctx.tags()
        .into_iter()
        .filter(|(k, _)| k != panka_core::reconcile::COMPONENT_TAG)
        .collect()
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
            domain: None,
        }
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
