//! `read`: the ids besides the primary's (recorded ones first, then what AWS says) and
//! the observed component.

use super::RedisReconciler;
use super::names::{Names, ids, outputs};
use super::primary::Live;
use crate::network;
use panka_core::reconcile::{KnownIds, Observed, ProviderError, ResourceContext};
use std::collections::BTreeMap;

impl RedisReconciler {
    /// Physical ids besides the primary's: recorded ones first, then what AWS says.
    pub(super) async fn supporting_ids(
        &self,
        ctx: &ResourceContext,
        known: &KnownIds,
        live: &Live,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let names = Names::of(ctx);
        let mut found = BTreeMap::new();
        found.insert(
            live.primary.id_key().to_string(),
            live.primary.id().to_string(),
        );
        let subnet_group = live
            .node()
            .and_then(|n| n.cache_subnet_group_name())
            .map(str::to_string)
            .or_else(|| known.get(ids::SUBNET_GROUP).cloned())
            .unwrap_or(names.subnet_group.clone());
        found.insert(ids::SUBNET_GROUP.to_string(), subnet_group);
        let parameter_group = match live.parameter_group() {
            Some(name) if !name.starts_with("default.") => Some(name.to_string()),
            Some(_) => None,
            None => known.get(ids::PARAMETER_GROUP).cloned(),
        };
        if let Some(name) = parameter_group {
            found.insert(ids::PARAMETER_GROUP.to_string(), name);
        }
        let network_keys = [ids::VPC, ids::SECURITY_GROUP, ids::CLIENT_SECURITY_GROUP];
        if network_keys.iter().all(|k| known.contains_key(*k)) {
            for key in network_keys {
                if let Some(value) = known.get(key) {
                    found.insert(key.to_string(), value.clone());
                }
            }
            return Ok(found);
        }
        let vpc_id = match known.get(ids::VPC) {
            Some(vpc) => vpc.clone(),
            None => {
                network::resolve(&self.ec2, ctx.network.as_ref())
                    .await?
                    .vpc_id
            }
        };
        for (key, name) in [
            (ids::SECURITY_GROUP, &names.security_group),
            (ids::CLIENT_SECURITY_GROUP, &names.client_security_group),
        ] {
            if let Some(group) = network::find_security_group(&self.ec2, &vpc_id, name).await? {
                found.insert(key.to_string(), group.id);
            }
        }
        found.insert(ids::VPC.to_string(), vpc_id);
        Ok(found)
    }

    pub(super) fn observe(live: &Live, physical_ids: BTreeMap<String, String>) -> Observed {
        let mut outs = BTreeMap::new();
        if let Some(endpoint) = live.endpoint() {
            if let Some(address) = endpoint.address() {
                outs.insert(outputs::ENDPOINT.to_string(), address.to_string());
            }
            if let Some(port) = endpoint.port() {
                outs.insert(outputs::PORT.to_string(), port.to_string());
            }
        }
        if let Some(arn) = live.primary.arn() {
            outs.insert(outputs::ARN.to_string(), arn.to_string());
        }
        if let Some(group) = physical_ids.get(ids::CLIENT_SECURITY_GROUP) {
            outs.insert(outputs::CLIENT_SECURITY_GROUP.to_string(), group.clone());
        }
        Observed {
            physical_ids,
            fields: live.fields().to_json(),
            outputs: outs,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::elasticache::testing::*;
    use crate::elasticache::{RedisReconciler, outputs};
    use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersError;
    use aws_sdk_elasticache::types::error::CacheClusterNotFoundFault;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use panka_core::reconcile::{Inputs, KnownIds, Reconciler};

    #[tokio::test]
    async fn reading_back_an_available_group_shows_no_change() {
        let describe = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&describe, &member]
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        let observed = r
            .read(&ctx(), &known())
            .await
            .expect("read")
            .expect("exists");
        let wanted = component(spec(2, "cache.t3.micro"));
        assert_eq!(
            observed.fields,
            r.normalise(&ctx(), &wanted, &Inputs::default())
        );
        assert_eq!(observed.outputs[outputs::PORT], "6379");
        assert_eq!(
            observed.outputs[outputs::CLIENT_SECURITY_GROUP],
            client_sg()
        );
        assert!(observed.outputs[outputs::ENDPOINT].starts_with("master."));
        assert!(observed.outputs[outputs::ARN].ends_with(&format!(":replicationgroup:{}", id())));
        assert_eq!(observed.physical_ids, known());
    }

    #[tokio::test]
    async fn read_of_a_missing_cache_is_none() {
        let group = mock!(Ec::describe_replication_groups).then_error(group_not_found);
        let cluster = mock!(Ec::describe_cache_clusters).then_error(|| {
            DescribeCacheClustersError::CacheClusterNotFoundFault(
                CacheClusterNotFoundFault::builder().build(),
            )
        });
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&group, &cluster]
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        assert_eq!(r.read(&ctx(), &KnownIds::new()).await.expect("read"), None);
        assert_eq!(
            (group.num_calls(), cluster.num_calls()),
            (1, 1),
            "both modes are looked up"
        );
    }
}
