//! `Stack`, `Service` and `Environment` documents.

use super::Located;
use crate::diag::{Diagnostic, Diagnostics};
use crate::read::{self, MapReader};
use crate::source::Span;
use crate::yaml::Node;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StackSpec {
    /// Only `aws` today.
    pub provider: &'static str,
    pub region: String,
    /// Extra tags put on every resource besides panka's ownership tags.
    pub tags: BTreeMap<String, String>,
}

/// AWS region codes look like `us-east-1` or `ap-southeast-2`.
pub fn looks_like_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

pub fn lower_stack_spec(spec: &mut MapReader, diags: &mut Diagnostics) -> StackSpec {
    let mut out = StackSpec {
        provider: "aws",
        region: String::new(),
        tags: BTreeMap::new(),
    };
    if let Some(mut provider) = spec.required_map("provider", diags) {
        out.provider = provider.one_of("name", &["aws"], diags).unwrap_or("aws");
        if let Some(node) = provider.required("region", diags) {
            out.region = read::string(node, "spec.provider.region", diags).unwrap_or_default();
            let unresolved = matches!(&node.value, crate::yaml::Value::Scalar(s) if s.unresolved);
            if !unresolved && !looks_like_region(&out.region) {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        format!("`{}` is not an AWS region", out.region),
                    )
                    .with_label("invalid region")
                    .with_hint("for example `us-east-1`"),
                );
            }
        }
        provider.finish(diags);
    }
    out.tags = spec.string_map("tags", diags).unwrap_or_default();
    out
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    /// `spec.infrastructure.defaults`, relative to the stack root.
    pub defaults: Option<Located<String>>,
}

pub fn lower_service_spec(spec: &mut MapReader, diags: &mut Diagnostics) -> ServiceSpec {
    let mut defaults = None;
    if let Some(mut infra) = spec.map("infrastructure", diags) {
        if let Some(node) = infra.get("defaults") {
            defaults =
                read::string(node, "spec.infrastructure.defaults", diags).map(|value| Located {
                    value,
                    span: node.span,
                });
        }
        infra.finish(diags);
    }
    ServiceSpec { defaults }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Network {
    pub vpc_id: String,
    pub subnets: Vec<String>,
}

/// An override for one component: raw trees deep-merged into its `spec` and infra
/// before they are read, so each value is checked exactly as if written in place.
#[derive(Clone, Debug)]
pub struct Override {
    pub target: Located<String>,
    pub spec: Option<Node>,
    pub infra: Option<Node>,
}

#[derive(Clone, Debug)]
pub struct EnvironmentSpec {
    pub require_approval: Option<bool>,
    pub variables: BTreeMap<String, String>,
    pub network: Option<Network>,
    pub overrides: Vec<Override>,
    /// `spec.policy.allowWildcardResources`: a production environment that accepts
    /// `resources: ["*"]` in a MicroService's `permissions` (P006 otherwise).
    pub allow_wildcard_resources: bool,
}

pub fn lower_environment_spec(spec: &mut MapReader, diags: &mut Diagnostics) -> EnvironmentSpec {
    let require_approval = spec.bool("requireApproval", diags);
    let variables = spec.string_map("variables", diags).unwrap_or_default();
    let mut network = None;
    if let Some(mut n) = spec.map("network", diags) {
        let vpc_id = n.required_string("vpcId", diags).unwrap_or_default();
        let subnets: Vec<String> = n
            .required("subnets", diags)
            .and_then(|node| read::seq(node, "spec.network.subnets", diags))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                read::string(item, &format!("spec.network.subnets[{i}]"), diags)
            })
            .collect();
        if let Some(node) = n.get("vpcId")
            && !vpc_id.starts_with("vpc-")
        {
            diags.push(
                Diagnostic::at("E025", node.span, format!("`{vpc_id}` is not a VPC id"))
                    .with_label("expected vpc-…"),
            );
        }
        if let Some(node) = n.get("subnets") {
            if subnets.len() < 2 {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        node.span,
                        "list at least two subnets in different availability zones",
                    )
                    .with_label("load balancers and RDS need two")
                    .with_hint("omit `network` to use the account's default VPC"),
                );
            }
            if let Some(bad) = subnets.iter().find(|s| !s.starts_with("subnet-")) {
                diags.push(
                    Diagnostic::at("E025", node.span, format!("`{bad}` is not a subnet id"))
                        .with_label("expected subnet-…"),
                );
            }
        }
        n.finish(diags);
        network = Some(Network { vpc_id, subnets });
    }
    let mut allow_wildcard_resources = false;
    if let Some(mut p) = spec.map("policy", diags) {
        allow_wildcard_resources = p.bool("allowWildcardResources", diags).unwrap_or(false);
        p.finish(diags);
    }
    let mut overrides = Vec::new();
    if let Some(entry) = spec.entry("overrides") {
        match entry.value.as_map() {
            Some(entries) => {
                for e in entries {
                    let target = Located {
                        value: e.key.clone(),
                        span: Span {
                            len: e.key.chars().count().max(1) as u32,
                            ..e.key_span
                        },
                    };
                    let path = format!("spec.overrides.{}", e.key);
                    let Some(mut m) = MapReader::new(&e.value, path, e.key_span, diags) else {
                        continue;
                    };
                    let spec = m.get("spec").cloned();
                    let infra = m.get("infra").cloned();
                    for (key, node) in [("spec", &spec), ("infra", &infra)] {
                        if let Some(node) = node
                            && node.as_map().is_none()
                        {
                            diags.push(read::wrong_type(node, &m.child_path(key), "a mapping"));
                        }
                    }
                    m.finish(diags);
                    overrides.push(Override {
                        target,
                        spec,
                        infra,
                    });
                }
            }
            None => diags.push(read::wrong_type(
                &entry.value,
                "spec.overrides",
                "a mapping of `service/component` to overrides",
            )),
        }
    }
    EnvironmentSpec {
        require_approval,
        variables,
        network,
        overrides,
        allow_wildcard_resources,
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_region;

    #[test]
    fn recognises_regions() {
        assert!(looks_like_region("us-east-1"));
        assert!(looks_like_region("ap-southeast-2"));
        assert!(looks_like_region("us-gov-west-1"));
        assert!(!looks_like_region("useast1"));
        assert!(!looks_like_region("US-EAST-1"));
    }
}
