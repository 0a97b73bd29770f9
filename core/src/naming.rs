//! Deterministic physical names, and the offline check that no two components get one.
//!
//! Every name derives from `<stack>-<env>-<service>-<component>` (plus a suffix such as
//! `-dlq` or `-sg`). When that is longer than a service allows, it is cut and ended with
//! a short hash of the whole name, so two long names that share a prefix stay distinct
//! and the same component always gets the same name.
//!
//! The rules live here, in the AWS-free core, so that `validate` can find two components
//! that would get the same AWS name (`email-service/queue` and `email/service-queue`
//! both join to `…-email-service-queue`) before anything is created; the providers build
//! their resource names with the same functions.

use crate::diag::{Diagnostic, Diagnostics};
use crate::loader::ResolvedStack;
use crate::model::{ComponentId, ComponentSpec};
use crate::reconcile::ResourceContext;
use crate::source::{Sources, Span};
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
    pub const CLOUDWATCH_ALARM: usize = 255;
}

/// FNV-1a, 32 bits: stable across releases and platforms (std's hasher is not).
pub fn fnv1a(text: &str) -> u32 {
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

/// The load balancer the web services of a stack and environment share on its domain.
pub fn shared_load_balancer(stack: &str, environment: &str) -> String {
    fit(&format!("{stack}-{environment}"), limits::ALB)
}

/// ElastiCache stores ids lowercased and rejects `--` and a trailing hyphen; names read
/// back from AWS must compare equal to the ones we computed.
pub fn elasticache_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches('-').to_string()
}

/// The ElastiCache replication group (or cache cluster) id: at most 40 characters.
pub fn elasticache_id(ctx: &ResourceContext) -> String {
    elasticache_name(&physical(ctx, "", limits::ELASTICACHE_REPLICATION_GROUP))
}

/// A set of names in which AWS allows each name once (per account and region, or per
/// VPC for security groups; IAM roles are per account, which is stricter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Namespace {
    EcsService,
    TaskDefinitionFamily,
    IamRole,
    LoadBalancer,
    TargetGroup,
    SecurityGroup,
    RdsInstance,
    DbSubnetGroup,
    DbParameterGroup,
    SqsQueue,
    ElastiCacheCluster,
    ElastiCacheSubnetGroup,
}

impl Namespace {
    pub fn describe(self) -> &'static str {
        match self {
            Namespace::EcsService => "ECS service",
            Namespace::TaskDefinitionFamily => "task definition family",
            Namespace::IamRole => "IAM role",
            Namespace::LoadBalancer => "load balancer",
            Namespace::TargetGroup => "target group",
            Namespace::SecurityGroup => "security group",
            Namespace::RdsInstance => "RDS instance",
            Namespace::DbSubnetGroup => "DB subnet group",
            Namespace::DbParameterGroup => "DB parameter group",
            Namespace::SqsQueue => "SQS queue",
            Namespace::ElastiCacheCluster => "ElastiCache replication group",
            Namespace::ElastiCacheSubnetGroup => "ElastiCache subnet group",
        }
    }
}

/// Every name a component's resources take in a namespace shared with other components
/// (each kind lists its own, in `crate::kinds`).
/// Names inside the component's own scope (containers, inline policies, the scaling
/// policy of its own service, a cache parameter group, which carries the engine family
/// after the cache id) cannot meet another component's and are left out.
pub fn physical_names(ctx: &ResourceContext, spec: &ComponentSpec) -> Vec<(Namespace, String)> {
    spec.physical_names(ctx)
}

/// Who took a name first: the environment it was computed for, the component and where
/// its document is.
#[derive(Clone, Debug)]
pub struct NameOwner {
    environment: String,
    id: ComponentId,
    span: Span,
}

/// Names already taken, across every environment validated in one run (an environment
/// `dev-x` and a service `web` give the same names as `dev` and `x-web`).
#[derive(Debug, Default)]
pub struct TakenNames(BTreeMap<(Namespace, String), NameOwner>);

/// The environment names are computed for when the base stack is checked on its own; the
/// env part is the same prefix for every component, so collisions between components do
/// not depend on it.
const BASE_ENVIRONMENT: &str = "development";

/// Reports every pair of components of `stack` that would get the same AWS name
/// (`E035`, at the second component's `kind:`, naming the first one's file).
/// Each component is reported once, for the first name it shares.
pub fn check_collisions(
    stack: &ResolvedStack,
    taken: &mut TakenNames,
    sources: &Sources,
    diags: &mut Diagnostics,
) {
    let environment = stack
        .environment
        .clone()
        .unwrap_or_else(|| BASE_ENVIRONMENT.to_string());
    for component in &stack.components {
        let ctx = ResourceContext {
            stack: stack.name.clone(),
            environment: environment.clone(),
            id: component.id.clone(),
            region: stack.spec.region.clone(),
            production: false,
            network: None,
            domain: None,
        };
        let span = component.span;
        for (namespace, name) in physical_names(&ctx, &component.spec) {
            let owner = NameOwner {
                environment: environment.clone(),
                id: component.id.clone(),
                span,
            };
            let Some(first) = taken.0.get(&(namespace, name.clone())) else {
                taken.0.insert((namespace, name), owner);
                continue;
            };
            if first.id == owner.id {
                // The same component seen again for another environment of the run.
                continue;
            }
            let place = format!(
                "{}:{}:{}",
                sources.get(first.span.source).display,
                first.span.line,
                first.span.column
            );
            let environments = if first.environment == owner.environment {
                format!("in `{}`", owner.environment)
            } else {
                format!(
                    "(`{}` in `{}`, `{}` in `{}`)",
                    first.id, first.environment, owner.id, owner.environment
                )
            };
            diags.push(
                Diagnostic::at(
                    "E035",
                    span,
                    format!(
                        "`{}` and `{}` would both get the {} name `{name}` {environments}",
                        first.id,
                        owner.id,
                        namespace.describe()
                    ),
                )
                .with_label("same AWS name")
                .with_hint(format!(
                    "rename one of them; `{}` is defined at {place}. AWS names join stack, environment, service and component with `-`",
                    first.id
                )),
            );
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn elasticache_names_are_lowercase_without_double_hyphens() {
        assert_eq!(elasticache_name("Shop--Web-"), "shop-web");
    }
}
