//! The resources of MicroServices carrying a stack+environment's tags, for `drift`'s
//! orphan report: the ECS services of the stack's cluster, target groups and load
//! balancers (what a service is recognised by), the task and execution roles, which
//! outlive a half-finished delete and keep their grants, and the ACM certificates
//! requested for services' hosts, and the error-rate alarms.

use super::MicroServiceReconciler;
use super::alarms;
use super::https::certificate;
use super::iam::role_tags;
use crate::naming;
use crate::orphans::{Listed, owned_by_tags};
use crate::sdk_error::{Failure, provider_error};
use crate::shared::gone::none_if_gone;
use aws_sdk_ecs::types::ServiceField;
use panka_core::drift::{Owner, TaggedResource};
use panka_core::reconcile::{ErrorKind, ProviderError};
use std::collections::BTreeMap;

/// DescribeTags (ELBv2) takes at most 20 ARNs; DescribeServices (ECS) at most 10 services.
const ELB_TAGS_BATCH: usize = 20;
const ECS_DESCRIBE_BATCH: usize = 10;

impl MicroServiceReconciler {
    pub(super) async fn tagged_resources(
        &self,
        owner: &Owner,
    ) -> Result<Vec<TaggedResource>, ProviderError> {
        let (services, balancing, roles, certificates, alarms) = tokio::try_join!(
            self.tagged_services(owner),
            self.tagged_load_balancing(owner),
            self.tagged_roles(owner),
            self.tagged_certificates(owner),
            self.tagged_alarms(owner),
        )?;
        Ok(services
            .into_iter()
            .chain(balancing)
            .chain(roles)
            .chain(certificates)
            .chain(alarms)
            .collect())
    }

    /// The error-rate alarms: their names start with `<stack>-<env>-` like every physical
    /// name, which narrows the tag reads to the owner's.
    async fn tagged_alarms(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        let prefix = format!("{}-{}-", owner.stack, owner.environment);
        let listed = alarms::list_with_prefix(&self.cloudwatch, &prefix)
            .await?
            .into_iter()
            .map(|(name, arn)| Listed {
                id: name,
                aliases: vec![arn.clone()],
                tags_by: arn,
            })
            .collect();
        owned_by_tags(owner, "cloudwatch_alarm", listed, |arn| async move {
            none_if_gone(alarms::tags(&self.cloudwatch, &arn).await)
        })
        .await
    }

    /// The certificates panka requested for services' hosts: one left behind by a run
    /// that stopped between the request and the listener is found here.
    async fn tagged_certificates(
        &self,
        owner: &Owner,
    ) -> Result<Vec<TaggedResource>, ProviderError> {
        let listed = certificate::list(&self.acm)
            .await?
            .into_iter()
            .map(|(arn, domain)| Listed {
                id: arn.clone(),
                aliases: vec![domain],
                tags_by: arn,
            })
            .collect();
        owned_by_tags(owner, "acm_certificate", listed, |arn| async move {
            none_if_gone(certificate::tags(&self.acm, &arn).await)
        })
        .await
    }

    async fn tagged_services(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        // Every MicroService of a stack+environment runs in its one cluster.
        let cluster = naming::ecs_cluster(&owner.stack, &owner.environment);
        let listed = self
            .ecs
            .list_services()
            .cluster(&cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        let arns: Vec<String> = match listed {
            Ok(arns) => arns,
            Err(e) if Failure::from_sdk(&e).classify() == ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => {
                return Err(provider_error(
                    &format!("cannot list the ECS services of cluster {cluster}"),
                    &e,
                ));
            }
        };
        let mut found = Vec::new();
        for batch in arns.chunks(ECS_DESCRIBE_BATCH) {
            let out = self
                .ecs
                .describe_services()
                .cluster(&cluster)
                .set_services(Some(batch.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| {
                    provider_error(
                        &format!("cannot describe the ECS services of cluster {cluster}"),
                        &e,
                    )
                })?;
            for service in out.services() {
                // A deleted service stays listed as INACTIVE for a while; it is not a
                // resource.
                if service.status() == Some("INACTIVE") {
                    continue;
                }
                let tags: BTreeMap<String, String> = service
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect();
                let arn = service.service_arn().unwrap_or_default().to_string();
                let aliases = service
                    .service_name()
                    .map(str::to_string)
                    .into_iter()
                    .collect();
                found.extend(owner.resource("ecs_service", arn, aliases, &tags));
            }
        }
        Ok(found)
    }

    async fn tagged_load_balancing(
        &self,
        owner: &Owner,
    ) -> Result<Vec<TaggedResource>, ProviderError> {
        let target_groups = self
            .elbv2
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error("cannot list target groups", &e))?;
        let load_balancers = self
            .elbv2
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error("cannot list load balancers", &e))?;
        let arns: Vec<(&'static str, String)> = target_groups
            .iter()
            .filter_map(|g| g.target_group_arn())
            .map(|arn| ("target_group", arn.to_string()))
            .chain(
                load_balancers
                    .iter()
                    .filter_map(|lb| lb.load_balancer_arn())
                    .map(|arn| ("load_balancer", arn.to_string())),
            )
            .collect();
        let kinds: BTreeMap<String, &'static str> = arns
            .iter()
            .map(|(kind, arn)| (arn.clone(), *kind))
            .collect();
        let mut found = Vec::new();
        for batch in arns.chunks(ELB_TAGS_BATCH) {
            let out = self
                .elbv2
                .describe_tags()
                .set_resource_arns(Some(batch.iter().map(|(_, arn)| arn.clone()).collect()))
                .send()
                .await;
            let out = match none_if_gone(
                out.map_err(|e| provider_error("cannot read load balancing tags", &e)),
            )? {
                Some(out) => out,
                // One ARN of the batch vanished since the listing; the others are read
                // alone.
                None => {
                    found.extend(self.elb_tags_one_by_one(owner, batch).await?);
                    continue;
                }
            };
            for description in out.tag_descriptions() {
                let Some(arn) = description.resource_arn() else {
                    continue;
                };
                if let Some(kind) = kinds.get(arn) {
                    found.extend(owner.resource(
                        kind,
                        arn.to_string(),
                        Vec::new(),
                        &elb_tags(description.tags()),
                    ));
                }
            }
        }
        Ok(found)
    }

    async fn elb_tags_one_by_one(
        &self,
        owner: &Owner,
        batch: &[(&'static str, String)],
    ) -> Result<Vec<TaggedResource>, ProviderError> {
        let mut found = Vec::new();
        for (kind, arn) in batch {
            let out = none_if_gone(
                self.elbv2
                    .describe_tags()
                    .resource_arns(arn)
                    .send()
                    .await
                    .map_err(|e| provider_error(&format!("cannot read the tags of {arn}"), &e)),
            )?;
            for description in out.iter().flat_map(|o| o.tag_descriptions()) {
                found.extend(owner.resource(
                    kind,
                    arn.clone(),
                    Vec::new(),
                    &elb_tags(description.tags()),
                ));
            }
        }
        Ok(found)
    }

    async fn tagged_roles(&self, owner: &Owner) -> Result<Vec<TaggedResource>, ProviderError> {
        // IAM lists every role of the account and filters by path only; role names start
        // with `<stack>-<env>-` (cut at their end, 64 characters at most), which narrows
        // the tag reads to ours.
        let full = format!("{}-{}-", owner.stack, owner.environment);
        let prefix: String = full.chars().take(40).collect();
        let roles: Vec<_> = self
            .iam
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| provider_error("cannot list IAM roles", &e))?;
        let listed = roles
            .iter()
            .filter(|r| r.role_name().starts_with(&prefix))
            .map(|r| Listed {
                id: r.role_name().to_string(),
                aliases: vec![r.arn().to_string()],
                tags_by: r.role_name().to_string(),
            })
            .collect();
        owned_by_tags(owner, "iam_role", listed, |name| async move {
            none_if_gone(role_tags(&self.iam, &name).await)
        })
        .await
    }
}

fn elb_tags(tags: &[aws_sdk_elasticloadbalancingv2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}
