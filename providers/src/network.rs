//! Where components run: the environment's VPC and subnets, else the account's default
//! VPC, and the read-only network preflight. Security groups, least privilege, are in
//! [`crate::shared::security_groups`] and re-exported here.

use crate::sdk_error::provider_error;
use aws_sdk_ec2::types::Filter;
use panka_core::model::Network;
use panka_core::reconcile::{ErrorKind, ProviderError};
use std::collections::BTreeMap;

pub use crate::shared::security_groups::{
    IngressRule, SecurityGroup, Source, delete_security_group, ensure_security_group,
    find_security_group,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    pub vpc_id: String,
    /// Sorted subnet ids for internet-facing load balancers.
    pub public_subnet_ids: Vec<String>,
    /// Sorted subnet ids for tasks, databases, caches and internal load balancers: the
    /// private subnets, else the public ones (the default VPC's subnets serve as both).
    pub private_subnet_ids: Vec<String>,
    /// Tasks run in public subnets (the default VPC, or a network without private
    /// subnets) and need a public IP to pull images and send logs without a NAT.
    pub tasks_need_public_ip: bool,
}

impl NetworkInfo {
    /// Where a load balancer goes: internet-facing in the public subnets, internal with
    /// the workloads.
    pub fn load_balancer_subnets(&self, internal: bool) -> &[String] {
        if internal {
            &self.private_subnet_ids
        } else {
            &self.public_subnet_ids
        }
    }
}

/// Whether tasks get a public IP in this environment's network (`None`: the default VPC).
pub fn tasks_need_public_ip(network: Option<&Network>) -> bool {
    network.is_none_or(Network::tasks_need_public_ip)
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// The environment's network, checked to exist, or the account's default VPC and its
/// default subnets.
pub async fn resolve(
    ec2: &aws_sdk_ec2::Client,
    network: Option<&Network>,
) -> Result<NetworkInfo, ProviderError> {
    match network {
        Some(n) => {
            let all = n.all_subnets();
            let out = ec2
                .describe_subnets()
                .set_subnet_ids(Some(all.clone()))
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot find subnets {} of {}", all.join(", "), n.vpc_id),
                        &e,
                    )
                })?;
            for subnet in out.subnets() {
                if subnet.vpc_id() != Some(n.vpc_id.as_str()) {
                    return Err(ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "subnet {} is in {}, not in the environment's VPC {}",
                            subnet.subnet_id().unwrap_or("?"),
                            subnet.vpc_id().unwrap_or("?"),
                            n.vpc_id
                        ),
                    ));
                }
            }
            Ok(NetworkInfo {
                vpc_id: n.vpc_id.clone(),
                public_subnet_ids: sorted(&n.public_subnets),
                private_subnet_ids: sorted(n.workload_subnets()),
                tasks_need_public_ip: n.tasks_need_public_ip(),
            })
        }
        None => {
            let vpcs = ec2
                .describe_vpcs()
                .filters(filter("isDefault", "true"))
                .send()
                .await
                .map_err(|e| provider_error("cannot look up the default VPC", &e))?;
            let vpc_id = vpcs
                .vpcs()
                .first()
                .and_then(|v| v.vpc_id())
                .map(str::to_string)
                .ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::NotFound,
                        "this account and region have no default VPC",
                    )
                    .with_hint(
                        "set `network: {vpcId, publicSubnets, privateSubnets}` in the environment's environment.yaml",
                    )
                })?;
            let subnets = ec2
                .describe_subnets()
                .filters(filter("vpc-id", &vpc_id))
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot list the subnets of {vpc_id}"), &e))?;
            let mut subnet_ids: Vec<String> = subnets
                .subnets()
                .iter()
                .filter(|s| s.default_for_az().unwrap_or(true))
                .filter_map(|s| s.subnet_id().map(str::to_string))
                .collect();
            subnet_ids.sort();
            if subnet_ids.len() < 2 {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("the default VPC {vpc_id} has {} subnet(s); load balancers and databases need two", subnet_ids.len()),
                )
                .with_hint("set `network: {vpcId, publicSubnets, privateSubnets}` in the environment's environment.yaml"));
            }
            Ok(NetworkInfo {
                vpc_id,
                public_subnet_ids: subnet_ids.clone(),
                private_subnet_ids: subnet_ids,
                tasks_need_public_ip: true,
            })
        }
    }
}

/// One thing wrong with the environment's network, found before anything changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkProblem {
    /// The id written in the environment file that the problem is about (the VPC or a
    /// subnet), so the caller can point at it.
    pub subject: String,
    pub message: String,
}

/// Checks, with read-only calls, that the environment's VPC exists and that every subnet
/// exists, lies in that VPC, and that each list spans two availability zones. Every
/// problem is returned at once; an empty list means the network is usable. Without a
/// network, the default VPC must resolve (its error is returned as is).
///
/// Errors: the look-ups themselves failed (credentials, throttling), or no default VPC.
pub async fn preflight(
    ec2: &aws_sdk_ec2::Client,
    network: Option<&Network>,
) -> Result<Vec<NetworkProblem>, ProviderError> {
    let Some(n) = network else {
        resolve(ec2, None).await?;
        return Ok(Vec::new());
    };
    let mut problems = Vec::new();
    // Filters, unlike ids, do not fail the whole call on the first unknown id, so every
    // missing one is found in one round trip.
    let vpcs = ec2
        .describe_vpcs()
        .filters(filter("vpc-id", &n.vpc_id))
        .send()
        .await
        .map_err(|e| provider_error(&format!("cannot look up VPC {}", n.vpc_id), &e))?;
    if vpcs.vpcs().is_empty() {
        problems.push(NetworkProblem {
            subject: n.vpc_id.clone(),
            message: format!("VPC {} does not exist in this account and region", n.vpc_id),
        });
    }
    let all = n.all_subnets();
    let found = ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .set_values(Some(all.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| provider_error("cannot look up the environment's subnets", &e))?;
    let mut zones: BTreeMap<&str, &str> = BTreeMap::new();
    for id in &all {
        match found.subnets().iter().find(|s| s.subnet_id() == Some(id)) {
            None => problems.push(NetworkProblem {
                subject: id.clone(),
                message: format!("subnet {id} does not exist in this account and region"),
            }),
            Some(subnet) if subnet.vpc_id() != Some(n.vpc_id.as_str()) => {
                problems.push(NetworkProblem {
                    subject: id.clone(),
                    message: format!(
                        "subnet {id} is in {}, not in the environment's VPC {}",
                        subnet.vpc_id().unwrap_or("another VPC"),
                        n.vpc_id
                    ),
                })
            }
            Some(subnet) => {
                zones.insert(id, subnet.availability_zone().unwrap_or(""));
            }
        }
    }
    let lists = if n.public_subnets == n.private_subnets {
        vec![("subnets", &n.public_subnets)]
    } else {
        vec![
            ("publicSubnets", &n.public_subnets),
            ("privateSubnets", &n.private_subnets),
        ]
    };
    for (key, list) in lists {
        let listed: Vec<&str> = list
            .iter()
            .filter_map(|id| zones.get(id.as_str()).copied())
            .collect();
        // Only judged when every subnet of the list was found (else it is reported above).
        if listed.len() == list.len()
            && list.len() >= 2
            && listed.iter().all(|zone| *zone == listed[0])
            && let Some(first) = list.first()
        {
            problems.push(NetworkProblem {
                subject: first.clone(),
                message: format!(
                    "the subnets of `{key}` are all in {}; load balancers and database subnet groups need two availability zones",
                    listed[0]
                ),
            });
        }
    }
    Ok(problems)
}
