//! `Stack`, `Service` and `Environment` documents.

use super::{ComponentId, ComponentSpec, Located};
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

/// The environment's network. Written either as `publicSubnets` and/or `privateSubnets`,
/// or as the older single `subnets` list, which is read as both lists (one list for
/// everything, tasks without a public IP, as before the split).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Network {
    pub vpc_id: String,
    /// Where internet-facing load balancers go (a route to an internet gateway).
    pub public_subnets: Vec<String>,
    /// Where tasks, databases, caches and internal load balancers go. Empty when only
    /// `publicSubnets` is written: everything then runs in the public subnets, and tasks
    /// get a public IP to reach ECR and CloudWatch.
    pub private_subnets: Vec<String>,
    /// Where each part is written, for diagnostics and the apply preflight.
    #[serde(skip)]
    pub at: NetworkSpans,
}

/// Positions of a [`Network`]'s parts in the environment file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkSpans {
    /// The `network` key.
    pub network: Option<Span>,
    pub vpc_id: Option<Span>,
    /// Each subnet id where it is (first) written.
    pub subnets: BTreeMap<String, Span>,
}

impl Network {
    /// Only the single `subnets` list was written.
    pub fn from_subnets(vpc_id: String, subnets: Vec<String>) -> Self {
        Network {
            vpc_id,
            public_subnets: subnets.clone(),
            private_subnets: subnets,
            at: NetworkSpans::default(),
        }
    }

    /// Subnets for tasks, databases, caches and internal load balancers: the private
    /// ones, else the public ones.
    pub fn workload_subnets(&self) -> &[String] {
        if self.private_subnets.is_empty() {
            &self.public_subnets
        } else {
            &self.private_subnets
        }
    }

    /// Subnets for a load balancer: an internet-facing one needs the public subnets, an
    /// internal one stays with the workloads.
    pub fn load_balancer_subnets(&self, internal: bool) -> &[String] {
        if internal {
            self.workload_subnets()
        } else {
            &self.public_subnets
        }
    }

    /// Tasks need a public IP only when they run in public subnets (no private ones): it
    /// is their only way to pull images without a NAT gateway.
    pub fn tasks_need_public_ip(&self) -> bool {
        self.private_subnets.is_empty()
    }

    /// Every subnet id, each once, sorted.
    pub fn all_subnets(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .public_subnets
            .iter()
            .chain(&self.private_subnets)
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// `prefix` followed by lowercase hexadecimal digits, as EC2 ids are (`subnet-0a1b…`).
fn looks_like_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// Reads one subnet list: syntax of each id, no id twice, at least two.
fn subnet_list(
    n: &mut MapReader,
    key: &'static str,
    spans: &mut NetworkSpans,
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
    let node = n.get(key)?;
    let path = n.child_path(key);
    let items = read::seq(node, &path, diags)?;
    let mut ids = Vec::new();
    // Seen ids in a set: a scan of `ids` per item is quadratic on a long list.
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = read::string(item, &format!("{path}[{i}]"), diags) else {
            continue;
        };
        if !looks_like_id(&id, "subnet-") {
            diags.push(
                Diagnostic::at("E025", item.span, format!("`{id}` is not a subnet id"))
                    .with_label("expected subnet- and hexadecimal digits")
                    .with_hint("subnet ids look like `subnet-0a1b2c3d4e5f67890`"),
            );
            continue;
        }
        if !seen.insert(id.clone()) {
            diags.push(
                Diagnostic::at("E025", item.span, format!("subnet `{id}` is listed twice"))
                    .with_label("already in this list")
                    .with_hint("list each subnet once"),
            );
            continue;
        }
        spans.subnets.entry(id.clone()).or_insert(item.span);
        ids.push(id);
    }
    if items.len() < 2 {
        diags.push(
            Diagnostic::at(
                "E025",
                node.span,
                format!(
                    "`{key}` lists {} subnet(s); at least two are needed",
                    items.len()
                ),
            )
            .with_label("list at least two subnets in different availability zones")
            .with_hint("load balancers and database subnet groups need two availability zones"),
        );
    }
    Some(ids)
}

fn lower_network(n: &mut MapReader, network_key: Span, diags: &mut Diagnostics) -> Network {
    let mut at = NetworkSpans {
        network: Some(network_key),
        ..NetworkSpans::default()
    };
    let vpc_id = n.required_string("vpcId", diags).unwrap_or_default();
    if let Some(node) = n.get("vpcId") {
        at.vpc_id = Some(node.span);
        if !vpc_id.is_empty() && !looks_like_id(&vpc_id, "vpc-") {
            diags.push(
                Diagnostic::at("E025", node.span, format!("`{vpc_id}` is not a VPC id"))
                    .with_label("expected vpc- and hexadecimal digits")
                    .with_hint("VPC ids look like `vpc-0a1b2c3d4e5f67890`"),
            );
        }
    }
    let public = subnet_list(n, "publicSubnets", &mut at, diags);
    let private = subnet_list(n, "privateSubnets", &mut at, diags);
    let single_node = n.entry("subnets");
    let single = subnet_list(n, "subnets", &mut at, diags);

    if let Some(entry) = single_node
        && (public.is_some() || private.is_some())
    {
        diags.push(
            Diagnostic::at(
                "E025",
                entry.key_span,
                "`subnets` cannot be combined with `publicSubnets` or `privateSubnets`",
            )
            .with_label("one list for everything, or the split lists, not both")
            .with_hint(
                "move these subnets into `publicSubnets` (load balancers) and `privateSubnets` (tasks, databases, caches), then delete `subnets`",
            ),
        );
    }
    if let (Some(public), Some(private)) = (&public, &private) {
        for id in private.iter().filter(|id| public.contains(id)) {
            if let Some(span) = private_span(n, id) {
                diags.push(
                    Diagnostic::at(
                        "E025",
                        span,
                        format!("subnet `{id}` is in both `publicSubnets` and `privateSubnets`"),
                    )
                    .with_label("also listed as public")
                    .with_hint(
                        "a subnet is public (routed to an internet gateway) or private, not both",
                    ),
                );
            }
        }
    }
    if public.is_none() && private.is_none() && single_node.is_none() {
        diags.push(
            Diagnostic::at(
                "E022",
                network_key,
                "missing `publicSubnets` and `privateSubnets` in `spec.network`",
            )
            .with_label("no subnets listed")
            .with_hint("list `publicSubnets` and `privateSubnets`, or omit `network` to use the account's default VPC"),
        );
    }
    match (public, private, single) {
        (None, None, Some(single)) => {
            let mut network = Network::from_subnets(vpc_id, single);
            network.at = at;
            network
        }
        (public, private, _) => Network {
            vpc_id,
            public_subnets: public.unwrap_or_default(),
            private_subnets: private.unwrap_or_default(),
            at,
        },
    }
}

/// Where `id` is written in `privateSubnets` (for the both-lists error).
fn private_span(n: &mut MapReader, id: &str) -> Option<Span> {
    let items = n.get("privateSubnets").and_then(|node| match &node.value {
        crate::yaml::Value::Seq(items) => Some(items),
        _ => None,
    })?;
    items
        .iter()
        .find(|item| item.as_str() == Some(id))
        .map(|item| item.span)
}

/// Every internet-facing load balancer needs public subnets: with only `privateSubnets`
/// there is nowhere to put one (`E026`, at the environment's `network`).
pub fn check_placement<'a>(
    network: &Network,
    components: impl IntoIterator<Item = (&'a ComponentId, &'a ComponentSpec)>,
    diags: &mut Diagnostics,
) {
    // No list at all is already `E022`.
    if !network.public_subnets.is_empty() || network.private_subnets.is_empty() {
        return;
    }
    let Some(span) = network.at.network else {
        return;
    };
    for (id, spec) in components {
        if let ComponentSpec::MicroService(ms) = spec
            && ms.load_balancer.enabled
            && !ms.load_balancer.internal
        {
            diags.push(
                Diagnostic::at(
                    "E026",
                    span,
                    format!(
                        "`{id}` has an internet-facing load balancer, and this network has no `publicSubnets`"
                    ),
                )
                .with_label("no public subnets for the load balancer")
                .with_hint(format!(
                    "add `publicSubnets` (at least two, routed to an internet gateway), or set `loadBalancer.internal: true` on `{id}`"
                )),
            );
        }
    }
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
    /// `spec.domain`: where public services get their host names and certificates.
    pub domain: Option<crate::model::Domain>,
    pub overrides: Vec<Override>,
    /// `spec.policy.allowWildcardResources`: a production environment that accepts
    /// `resources: ["*"]` in a MicroService's `permissions` (P006 otherwise).
    pub allow_wildcard_resources: bool,
}

pub fn lower_environment_spec(spec: &mut MapReader, diags: &mut Diagnostics) -> EnvironmentSpec {
    let require_approval = spec.bool("requireApproval", diags);
    let variables = spec.string_map("variables", diags).unwrap_or_default();
    let mut network = None;
    if let Some(entry) = spec.entry("network")
        && let Some(mut n) = MapReader::new(&entry.value, "spec.network", entry.key_span, diags)
    {
        network = Some(lower_network(&mut n, entry.key_span, diags));
        n.finish(diags);
    }
    let domain = spec
        .entry("domain")
        .and_then(|entry| crate::model::lower_domain(entry, diags));
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
        domain,
        overrides,
        allow_wildcard_resources,
    }
}

#[cfg(test)]
mod tests {
    use super::{Network, NetworkSpans, looks_like_id, looks_like_region};

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn places_each_role_in_its_subnets() {
        let split = Network {
            vpc_id: "vpc-1".into(),
            public_subnets: ids(&["subnet-a1", "subnet-b1"]),
            private_subnets: ids(&["subnet-a2", "subnet-b2"]),
            at: NetworkSpans::default(),
        };
        assert_eq!(
            split.load_balancer_subnets(false),
            ids(&["subnet-a1", "subnet-b1"])
        );
        assert_eq!(
            split.load_balancer_subnets(true),
            ids(&["subnet-a2", "subnet-b2"])
        );
        assert_eq!(split.workload_subnets(), ids(&["subnet-a2", "subnet-b2"]));
        assert!(!split.tasks_need_public_ip());

        let public_only = Network {
            private_subnets: Vec::new(),
            ..split.clone()
        };
        assert_eq!(
            public_only.workload_subnets(),
            ids(&["subnet-a1", "subnet-b1"])
        );
        assert!(
            public_only.tasks_need_public_ip(),
            "no NAT: tasks need a public IP"
        );

        let single = Network::from_subnets("vpc-1".into(), ids(&["subnet-c", "subnet-d"]));
        assert_eq!(
            single.load_balancer_subnets(false),
            ids(&["subnet-c", "subnet-d"])
        );
        assert_eq!(single.workload_subnets(), ids(&["subnet-c", "subnet-d"]));
        assert!(!single.tasks_need_public_ip(), "as before the split");
        assert_eq!(single.all_subnets(), ids(&["subnet-c", "subnet-d"]));
    }

    #[test]
    fn recognises_ec2_ids() {
        assert!(looks_like_id("subnet-0a1b2c3d4e5f67890", "subnet-"));
        assert!(looks_like_id("subnet-1", "subnet-"));
        assert!(!looks_like_id("subnet-", "subnet-"));
        assert!(!looks_like_id("subnet-zz", "subnet-"));
        assert!(!looks_like_id("subnet-0A1B", "subnet-"));
        assert!(!looks_like_id("sg-0a1b", "subnet-"));
        assert!(looks_like_id("vpc-0abc", "vpc-"));
    }

    #[test]
    fn recognises_regions() {
        assert!(looks_like_region("us-east-1"));
        assert!(looks_like_region("ap-southeast-2"));
        assert!(looks_like_region("us-gov-west-1"));
        assert!(!looks_like_region("useast1"));
        assert!(!looks_like_region("US-EAST-1"));
    }
}
