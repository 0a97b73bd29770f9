//! Security groups, guarded: found by name in a VPC, created with the component's
//! ownership tags (and a `Name` tag), converged to exactly the wanted inbound rules, and
//! deleted only when they are the component's (the policy of [`super::ownership`]). Least
//! privilege: every rule names one port and one source (a CIDR for a public load
//! balancer, else another security group).
//!
//! Used by every kind that has security groups: RDS and ElastiCache (a server group that
//! admits its port only from a `-clients` group, [`ensure_with_clients`]) and MicroService
//! (load balancer → tasks).

use super::ownership::{check_environment_owned, check_owned};
use crate::naming;
use crate::sdk_error::provider_error;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};
use std::collections::BTreeMap;
use std::time::Duration;

const WHAT: &str = "security group";

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Where traffic may come from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cidr(String),
    Group(String),
}

/// One inbound TCP port from one source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IngressRule {
    pub port: u16,
    pub source: Source,
}

impl IngressRule {
    fn to_permission(&self) -> IpPermission {
        let builder = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(i32::from(self.port))
            .to_port(i32::from(self.port));
        match &self.source {
            Source::Cidr(cidr) => builder
                .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                .build(),
            Source::Group(id) => builder
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
                .build(),
        }
    }
}

/// A security group as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub ingress: Vec<IngressRule>,
    pub tags: BTreeMap<String, String>,
}

fn rules_of(permissions: &[IpPermission]) -> Vec<IngressRule> {
    let mut rules = Vec::new();
    for p in permissions {
        if p.ip_protocol() != Some("tcp") || p.from_port() != p.to_port() {
            continue;
        }
        let Some(port) = p.from_port().and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for range in p.ip_ranges() {
            if let Some(cidr) = range.cidr_ip() {
                rules.push(IngressRule {
                    port,
                    source: Source::Cidr(cidr.to_string()),
                });
            }
        }
        for pair in p.user_id_group_pairs() {
            if let Some(id) = pair.group_id() {
                rules.push(IngressRule {
                    port,
                    source: Source::Group(id.to_string()),
                });
            }
        }
    }
    rules.sort();
    rules
}

/// The security group `name` in `vpc_id`, if it exists.
pub async fn find_security_group(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    name: &str,
) -> Result<Option<SecurityGroup>, ProviderError> {
    let out = ec2
        .describe_security_groups()
        .filters(filter("group-name", name))
        .filters(filter("vpc-id", vpc_id))
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot look up security group {name}"), &e))?;
    Ok(out.security_groups().first().map(|g| SecurityGroup {
        id: g.group_id().unwrap_or_default().to_string(),
        name: g.group_name().unwrap_or(name).to_string(),
        ingress: rules_of(g.ip_permissions()),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }))
}

/// Creates or adopts the security group `name` and makes its inbound rules exactly
/// `ingress` (outbound stays EC2's default: all). Returns its id.
///
/// Errors: `Foreign` when a group of that name exists without this component's tags.
pub async fn ensure_security_group(
    ec2: &aws_sdk_ec2::Client,
    ctx: &ResourceContext,
    vpc_id: &str,
    name: &str,
    description: &str,
    ingress: &[IngressRule],
) -> Result<String, ProviderError> {
    let group = GroupSpec {
        vpc_id,
        name,
        description,
        ingress,
    };
    ensure_group(ec2, naming::tags(ctx), &group, |found| {
        check_owned(ctx, WHAT, name, found)
    })
    .await
}

/// [`ensure_security_group`] for a group the components of a stack and environment share
/// (the load balancer on their domain): tagged with the stack and environment only.
pub async fn ensure_environment_security_group(
    ec2: &aws_sdk_ec2::Client,
    ctx: &ResourceContext,
    vpc_id: &str,
    name: &str,
    description: &str,
    ingress: &[IngressRule],
) -> Result<String, ProviderError> {
    let group = GroupSpec {
        vpc_id,
        name,
        description,
        ingress,
    };
    ensure_group(ec2, naming::environment_tags(ctx), &group, |found| {
        check_environment_owned(ctx, WHAT, name, found)
    })
    .await
}

struct GroupSpec<'a> {
    vpc_id: &'a str,
    name: &'a str,
    description: &'a str,
    ingress: &'a [IngressRule],
}

async fn ensure_group(
    ec2: &aws_sdk_ec2::Client,
    owner_tags: BTreeMap<String, String>,
    group: &GroupSpec<'_>,
    check: impl Fn(&BTreeMap<String, String>) -> Result<(), ProviderError>,
) -> Result<String, ProviderError> {
    let GroupSpec {
        vpc_id,
        name,
        description,
        ingress,
    } = *group;
    let existing = find_security_group(ec2, vpc_id, name).await?;
    let (id, current) = match existing {
        Some(group) => {
            check(&group.tags)?;
            (group.id, group.ingress)
        }
        None => {
            let tags: Vec<Tag> = owner_tags
                .into_iter()
                .chain([("Name".to_string(), name.to_string())])
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            let out = ec2
                .create_security_group()
                .group_name(name)
                .description(description)
                .vpc_id(vpc_id)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::SecurityGroup)
                        .set_tags(Some(tags))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot create security group {name}"), &e))?;
            let id = out.group_id().unwrap_or_default().to_string();
            (id, Vec::new())
        }
    };
    let mut wanted: Vec<IngressRule> = ingress.to_vec();
    wanted.sort();
    wanted.dedup();
    let stale: Vec<IpPermission> = current
        .iter()
        .filter(|r| !wanted.contains(r))
        .map(IngressRule::to_permission)
        .collect();
    let missing: Vec<IpPermission> = wanted
        .iter()
        .filter(|r| !current.contains(r))
        .map(IngressRule::to_permission)
        .collect();
    if !stale.is_empty() {
        ec2.revoke_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(stale))
            .send()
            .await
            .map_err(|e| {
                provider_error(
                    &format!("cannot remove old rules of security group {name}"),
                    &e,
                )
            })?;
    }
    if !missing.is_empty()
        && let Err(e) = ec2
            .authorize_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(missing))
            .send()
            .await
    {
        // A rule added by a concurrent or earlier, interrupted run is already what we want.
        let err = provider_error(&format!("cannot add rules to security group {name}"), &e);
        if err.kind != ErrorKind::AlreadyExists {
            return Err(err);
        }
    }
    Ok(id)
}

/// Refuses, before anything changes, when a group under one of `names` in `vpc_id` exists
/// and is not the component's.
pub async fn check_available(
    ec2: &aws_sdk_ec2::Client,
    ctx: &ResourceContext,
    vpc_id: &str,
    names: &[&str],
) -> Result<(), ProviderError> {
    for name in names {
        if let Some(group) = find_security_group(ec2, vpc_id, name).await? {
            check_owned(ctx, WHAT, name, &group.tags)?;
        }
    }
    Ok(())
}

/// A server's group and its clients' group (RDS's `-db`/`-clients`, Redis's
/// `-redis`/`-redis-clients`): name and description of each.
#[derive(Clone, Copy, Debug)]
pub struct ClientGuarded<'a> {
    pub server: (&'a str, &'a str),
    pub clients: (&'a str, &'a str),
    /// The one port the server admits, only from the clients' group.
    pub port: u16,
}

/// Creates or adopts the clients' group (no inbound rules: a dependent attaches it) and
/// then the server's group, which admits `port` only from it. Returns the ids
/// `(server, clients)`.
pub async fn ensure_with_clients(
    ec2: &aws_sdk_ec2::Client,
    ctx: &ResourceContext,
    vpc_id: &str,
    groups: ClientGuarded<'_>,
) -> Result<(String, String), ProviderError> {
    let (clients_name, clients_description) = groups.clients;
    let clients =
        ensure_security_group(ec2, ctx, vpc_id, clients_name, clients_description, &[]).await?;
    let (server_name, server_description) = groups.server;
    let server = ensure_security_group(
        ec2,
        ctx,
        vpc_id,
        server_name,
        server_description,
        &[IngressRule {
            port: groups.port,
            source: Source::Group(clients.clone()),
        }],
    )
    .await?;
    Ok((server, clients))
}

/// Deletes the group `name` in `vpc_id` when it is the component's: its id is the one the
/// component's state recorded (`recorded`), or it carries the component's tags. Gone is
/// done; anything else is `Foreign` and stays. Lingering network interfaces are waited
/// out for up to `patience` (see [`delete_security_group`]).
pub async fn delete_owned(
    ec2: &aws_sdk_ec2::Client,
    ctx: &ResourceContext,
    vpc_id: &str,
    name: &str,
    recorded: Option<&str>,
    patience: Duration,
) -> Result<(), ProviderError> {
    let Some(group) = find_security_group(ec2, vpc_id, name).await? else {
        return Ok(());
    };
    if recorded != Some(group.id.as_str()) {
        check_owned(ctx, WHAT, name, &group.tags)?;
    }
    delete_found(ec2, &group, patience).await
}

/// Deletes the security group `name` if it exists. Network interfaces of a deleted
/// database or task linger for a while, so `DependencyViolation` is retried with backoff
/// for up to `patience`.
pub async fn delete_security_group(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    name: &str,
    patience: Duration,
) -> Result<(), ProviderError> {
    match find_security_group(ec2, vpc_id, name).await? {
        Some(group) => delete_found(ec2, &group, patience).await,
        None => Ok(()),
    }
}

pub(crate) async fn delete_found(
    ec2: &aws_sdk_ec2::Client,
    group: &SecurityGroup,
    patience: Duration,
) -> Result<(), ProviderError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_secs(2);
    loop {
        match ec2.delete_security_group().group_id(&group.id).send().await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let name = &group.name;
                let err = provider_error(&format!("cannot delete security group {name}"), &e);
                match err.kind {
                    ErrorKind::NotFound => return Ok(()),
                    ErrorKind::Conflict if tokio::time::Instant::now() + delay < deadline => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(20));
                    }
                    _ => return Err(err),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::model::ComponentId;

    fn ctx(component: &str) -> ResourceContext {
        ResourceContext {
            stack: "shop".into(),
            environment: "development".into(),
            id: ComponentId::new("web", component),
            region: "us-east-1".into(),
            production: false,
            network: None,
            domain: None,
        }
    }

    /// EC2 holding the group `sg-1` named `g`, tagged as `owner`'s (or untagged).
    fn ec2(owner: Option<&str>) -> (aws_sdk_ec2::Client, aws_smithy_mocks::Rule) {
        let tags: Vec<aws_sdk_ec2::types::Tag> = owner
            .map(|o| ctx(o).tags())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
            .collect();
        let describe =
            mock!(aws_sdk_ec2::Client::describe_security_groups).then_output(move || {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(
                        aws_sdk_ec2::types::SecurityGroup::builder()
                            .group_id("sg-1")
                            .group_name("g")
                            .set_tags(Some(tags.clone()))
                            .build(),
                    )
                    .build()
            });
        let delete = mock!(aws_sdk_ec2::Client::delete_security_group)
            .match_requests(|req| req.group_id() == Some("sg-1"))
            .then_output(|| DeleteSecurityGroupOutput::builder().build());
        let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&describe, &delete]);
        (client, delete)
    }

    #[tokio::test]
    async fn only_the_components_own_group_is_deleted() {
        let patience = Duration::from_millis(1);
        for owner in [None, Some("worker")] {
            let (client, delete) = ec2(owner);
            let err = delete_owned(&client, &ctx("api"), "vpc-1", "g", None, patience)
                .await
                .expect_err("not the component's");
            assert_eq!(err.kind, ErrorKind::Foreign, "{owner:?}");
            assert!(err.message.contains("security group g"), "{}", err.message);
            assert_eq!(delete.num_calls(), 0, "{owner:?}: left alone");
        }
        let (client, delete) = ec2(Some("api"));
        delete_owned(&client, &ctx("api"), "vpc-1", "g", None, patience)
            .await
            .expect("tagged as the component's");
        assert_eq!(delete.num_calls(), 1);
        // The id recorded in the component's state vouches for the group.
        let (client, delete) = ec2(None);
        delete_owned(&client, &ctx("api"), "vpc-1", "g", Some("sg-1"), patience)
            .await
            .expect("recorded");
        assert_eq!(delete.num_calls(), 1);
        let (client, _) = ec2(None);
        let err = delete_owned(&client, &ctx("api"), "vpc-1", "g", Some("sg-2"), patience)
            .await
            .expect_err("another id was recorded");
        assert_eq!(err.kind, ErrorKind::Foreign);
    }
}
