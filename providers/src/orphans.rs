//! Resources carrying a stack+environment's ownership tags (`panka:stack`,
//! `panka:environment`), for `drift` to report those state does not know.
//!
//! Listed: SQS queues, RDS instances, ElastiCache replication groups, the ECS services of
//! the stack's cluster, target groups and load balancers: the primary resource of every
//! kind (the ones a component is recognised by); and IAM roles (a MicroService's task and
//! execution roles), which outlive a half-finished delete and keep their grants. Every listing follows its pagination;
//! per-resource tag reads run a few at a time. A resource that vanishes between its
//! listing and its tag read is left out.

use crate::aws::AwsClients;
use crate::naming;
use crate::sdk_error::{Failure, provider_error};
use crate::shared::gone::none_if_gone;
use aws_sdk_ecs::types::ServiceField;
use futures_util::{StreamExt, TryStreamExt};
use panka_core::drift::TaggedResource;
use panka_core::reconcile::{ErrorKind, ProviderError};
use std::collections::BTreeMap;

const STACK_TAG: &str = "panka:stack";
const ENVIRONMENT_TAG: &str = "panka:environment";
const COMPONENT_TAG: &str = "panka:component";
/// Tag reads in flight at once: enough to hide latency, few enough to stay off throttling.
const CONCURRENT_TAG_READS: usize = 8;
/// DescribeTags (ELBv2) takes at most 20 ARNs; DescribeServices (ECS) at most 10 services.
const ELB_TAGS_BATCH: usize = 20;
const ECS_DESCRIBE_BATCH: usize = 10;

/// Whose resources to find.
#[derive(Clone, Debug)]
pub struct Owner {
    pub stack: String,
    pub environment: String,
}

impl Owner {
    fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(STACK_TAG) == Some(&self.stack)
            && tags.get(ENVIRONMENT_TAG) == Some(&self.environment)
    }

    fn resource(
        &self,
        kind: &str,
        id: String,
        aliases: Vec<String>,
        tags: &BTreeMap<String, String>,
    ) -> Option<TaggedResource> {
        self.owns(tags).then(|| TaggedResource {
            kind: kind.to_string(),
            id,
            aliases,
            component: tags.get(COMPONENT_TAG).cloned(),
        })
    }
}

/// Every listed resource tagged for `owner`, sorted by kind and id.
pub async fn tagged_resources(
    clients: &AwsClients,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    let (queues, instances, groups, services, balancing, roles) = tokio::try_join!(
        sqs_queues(&clients.sqs, owner),
        rds_instances(&clients.rds, owner),
        replication_groups(&clients.elasticache, owner),
        ecs_services(&clients.ecs, owner),
        load_balancing(&clients.elasticloadbalancingv2, owner),
        iam_roles(&clients.iam, owner),
    )?;
    let mut all: Vec<TaggedResource> = queues
        .into_iter()
        .chain(instances)
        .chain(groups)
        .chain(services)
        .chain(balancing)
        .chain(roles)
        .collect();
    all.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
    Ok(all)
}

async fn sqs_queues(
    sqs: &aws_sdk_sqs::Client,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    // Queue names start with `<stack>-<env>-` (names are cut at their end), so the prefix
    // narrows the listing without missing any of ours.
    let prefix = format!("{}-{}-", owner.stack, owner.environment);
    let urls: Vec<String> = sqs
        .list_queues()
        .queue_name_prefix(&prefix)
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| provider_error("cannot list SQS queues", &e))?;
    let found: Vec<Option<TaggedResource>> =
        futures_util::stream::iter(urls)
            .map(|url| async move {
                let tags =
                    none_if_gone(sqs.list_queue_tags().queue_url(&url).send().await.map_err(
                        |e| provider_error(&format!("cannot read the tags of {url}"), &e),
                    ))?;
                Ok::<_, ProviderError>(tags.and_then(|out| {
                    let tags: BTreeMap<String, String> = out
                        .tags()
                        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default();
                    let name = url.rsplit('/').next().unwrap_or_default().to_string();
                    owner.resource("sqs_queue", url.clone(), vec![name], &tags)
                }))
            })
            .buffer_unordered(CONCURRENT_TAG_READS)
            .try_collect()
            .await?;
    Ok(found.into_iter().flatten().collect())
}

async fn rds_instances(
    rds: &aws_sdk_rds::Client,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    let instances = rds
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| provider_error("cannot list RDS instances", &e))?;
    let mut found = Vec::new();
    for instance in &instances {
        let tags: BTreeMap<String, String> = instance
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        let id = instance
            .db_instance_identifier()
            .unwrap_or_default()
            .to_string();
        let aliases = instance
            .db_instance_arn()
            .map(str::to_string)
            .into_iter()
            .collect();
        found.extend(owner.resource("rds_instance", id, aliases, &tags));
    }
    Ok(found)
}

async fn replication_groups(
    elasticache: &aws_sdk_elasticache::Client,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    let groups: Vec<(String, String)> = elasticache
        .describe_replication_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| provider_error("cannot list ElastiCache replication groups", &e))?
        .iter()
        .filter_map(|group| {
            Some((
                group.replication_group_id()?.to_string(),
                group.arn()?.to_string(),
            ))
        })
        .collect();
    let found: Vec<Option<TaggedResource>> = futures_util::stream::iter(groups)
        .map(|(id, arn)| async move {
            let tags = none_if_gone(
                elasticache
                    .list_tags_for_resource()
                    .resource_name(&arn)
                    .send()
                    .await
                    .map_err(|e| provider_error(&format!("cannot read the tags of {arn}"), &e)),
            )?;
            Ok::<_, ProviderError>(tags.and_then(|out| {
                let tags: BTreeMap<String, String> = out
                    .tag_list()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect();
                owner.resource("elasticache_replication_group", id, vec![arn], &tags)
            }))
        })
        .buffer_unordered(CONCURRENT_TAG_READS)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

async fn ecs_services(
    ecs: &aws_sdk_ecs::Client,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    // Every MicroService of a stack+environment runs in its one cluster.
    let cluster = naming::ecs_cluster(&owner.stack, &owner.environment);
    let listed = ecs
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
        let out = ecs
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
            // A deleted service stays listed as INACTIVE for a while; it is not a resource.
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

async fn load_balancing(
    elbv2: &aws_sdk_elasticloadbalancingv2::Client,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    let target_groups = elbv2
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| provider_error("cannot list target groups", &e))?;
    let load_balancers = elbv2
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
        let out = elbv2
            .describe_tags()
            .set_resource_arns(Some(batch.iter().map(|(_, arn)| arn.clone()).collect()))
            .send()
            .await;
        let out = match none_if_gone(
            out.map_err(|e| provider_error("cannot read load balancing tags", &e)),
        )? {
            Some(out) => out,
            // One ARN of the batch vanished since the listing; the others are read alone.
            None => {
                found.extend(tags_one_by_one(elbv2, owner, batch).await?);
                continue;
            }
        };
        for description in out.tag_descriptions() {
            let Some(arn) = description.resource_arn() else {
                continue;
            };
            let tags: BTreeMap<String, String> = description
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            if let Some(kind) = kinds.get(arn) {
                found.extend(owner.resource(kind, arn.to_string(), Vec::new(), &tags));
            }
        }
    }
    Ok(found)
}

async fn iam_roles(
    iam: &aws_sdk_iam::Client,
    owner: &Owner,
) -> Result<Vec<TaggedResource>, ProviderError> {
    // IAM lists every role of the account and filters by path only; role names start
    // with `<stack>-<env>-` (cut at their end, 64 characters at most), which narrows the
    // tag reads to ours.
    let full = format!("{}-{}-", owner.stack, owner.environment);
    let prefix: String = full.chars().take(40).collect();
    let roles: Vec<(String, String)> = iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| provider_error("cannot list IAM roles", &e))?
        .iter()
        .filter(|r| r.role_name().starts_with(&prefix))
        .map(|r| (r.role_name().to_string(), r.arn().to_string()))
        .collect();
    let found: Vec<Option<TaggedResource>> = futures_util::stream::iter(roles)
        .map(|(name, arn)| async move {
            let tags = none_if_gone(iam.list_role_tags().role_name(&name).send().await.map_err(
                |e| provider_error(&format!("cannot read the tags of IAM role {name}"), &e),
            ))?;
            Ok::<_, ProviderError>(tags.and_then(|out| {
                let tags: BTreeMap<String, String> = out
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                owner.resource("iam_role", name.clone(), vec![arn.clone()], &tags)
            }))
        })
        .buffer_unordered(CONCURRENT_TAG_READS)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

async fn tags_one_by_one(
    elbv2: &aws_sdk_elasticloadbalancingv2::Client,
    owner: &Owner,
    batch: &[(&'static str, String)],
) -> Result<Vec<TaggedResource>, ProviderError> {
    let mut found = Vec::new();
    for (kind, arn) in batch {
        let out = none_if_gone(
            elbv2
                .describe_tags()
                .resource_arns(arn)
                .send()
                .await
                .map_err(|e| provider_error(&format!("cannot read the tags of {arn}"), &e)),
        )?;
        for description in out.iter().flat_map(|o| o.tag_descriptions()) {
            let tags: BTreeMap<String, String> = description
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            found.extend(owner.resource(kind, arn.clone(), Vec::new(), &tags));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_stack_and_environment_tags_decide_ownership() {
        let owner = Owner {
            stack: "shop".into(),
            environment: "dev".into(),
        };
        let tags = |stack: &str, env: &str| {
            BTreeMap::from([
                (STACK_TAG.to_string(), stack.to_string()),
                (ENVIRONMENT_TAG.to_string(), env.to_string()),
                (COMPONENT_TAG.to_string(), "s/q".to_string()),
            ])
        };
        let ours = owner
            .resource(
                "sqs_queue",
                "u".into(),
                vec!["q".into()],
                &tags("shop", "dev"),
            )
            .expect("ours");
        assert_eq!(ours.component.as_deref(), Some("s/q"));
        assert_eq!(ours.aliases, ["q"]);
        assert!(
            owner
                .resource("sqs_queue", "u".into(), Vec::new(), &tags("shop", "prod"))
                .is_none()
        );
        assert!(
            owner
                .resource("sqs_queue", "u".into(), Vec::new(), &tags("other", "dev"))
                .is_none()
        );
        assert!(
            owner
                .resource("sqs_queue", "u".into(), Vec::new(), &BTreeMap::new())
                .is_none()
        );
    }
}
