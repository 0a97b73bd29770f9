//! The replication group (`cluster.mode: replication-group`): a primary with replicas.
//! Created whole; updated replicas first when adding (failover needs them) and last when
//! removing (failover must be off before the group shrinks to one node), waiting between
//! steps because ElastiCache accepts one change at a time; deleted with an optional final
//! snapshot.

use super::fields::{LiveFields, Modification, to_i32};
use super::names::Names;
use super::ownership::aws_tags;
use super::readiness::Goal;
use super::{RedisReconciler, description};
use crate::describe::{self, Missing};
use crate::sdk_error::provider_error;
use crate::shared::gone::{done_if_gone, with_kind};
use aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsError;
use aws_sdk_elasticache::types::ReplicationGroup;
use panka_core::model::{RedisMode, RedisSpec};
use panka_core::reconcile::{ErrorKind, ProviderError, ResourceContext};

impl RedisReconciler {
    pub(super) async fn describe_group(
        &self,
        id: &str,
    ) -> Result<Option<ReplicationGroup>, ProviderError> {
        describe::or_none(
            self.elasticache
                .describe_replication_groups()
                .replication_group_id(id)
                .send(),
            Missing::Fault(DescribeReplicationGroupsError::is_replication_group_not_found_fault),
            || format!("cannot describe replication group {id}"),
            |out| out.replication_groups().first().cloned(),
        )
        .await
    }

    pub(super) async fn create_group(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        names: &Names,
        security_group: &str,
        parameter_group: Option<&str>,
    ) -> Result<(), ProviderError> {
        let failover = spec.automatic_failover && spec.num_nodes > 1;
        self.elasticache
            .create_replication_group()
            .replication_group_id(&names.cache)
            .replication_group_description(description(ctx))
            .engine("redis")
            .engine_version(&spec.engine_version)
            .cache_node_type(&spec.node_type)
            .num_cache_clusters(to_i32(spec.num_nodes))
            .automatic_failover_enabled(failover)
            .multi_az_enabled(failover)
            .port(i32::from(spec.port))
            .cache_subnet_group_name(&names.subnet_group)
            .security_group_ids(security_group)
            .transit_encryption_enabled(spec.transit_encryption)
            .at_rest_encryption_enabled(spec.at_rest_encryption)
            .snapshot_retention_limit(to_i32(spec.snapshot_retention_days))
            .set_cache_parameter_group_name(parameter_group.map(str::to_string))
            .set_tags(Some(aws_tags(ctx)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                provider_error(
                    &format!("cannot create replication group {}", names.cache),
                    &e,
                )
            })
    }

    pub(super) async fn update_group(
        &self,
        ctx: &ResourceContext,
        spec: &RedisSpec,
        id: &str,
        current: &LiveFields,
        modification: Modification,
    ) -> Result<(), ProviderError> {
        let (have, want) = (current.num_nodes, spec.num_nodes);
        // Replicas first when adding (failover needs them), last when removing (failover
        // must be off before the group shrinks to one node).
        if want > have {
            self.change_replica_count(id, want, true).await?;
            self.wait_for(RedisMode::ReplicationGroup, id, Goal::Available)
                .await?;
        }
        if !modification.is_empty() {
            self.modify_group(ctx, id, &modification).await?;
            if want < have {
                self.wait_for(RedisMode::ReplicationGroup, id, Goal::Available)
                    .await?;
            }
        }
        if want < have {
            self.change_replica_count(id, want, false).await?;
        }
        Ok(())
    }

    async fn change_replica_count(
        &self,
        id: &str,
        nodes: u32,
        increase: bool,
    ) -> Result<(), ProviderError> {
        let replicas = to_i32(nodes.saturating_sub(1));
        // Both calls support only ApplyImmediately=true.
        if increase {
            self.elasticache
                .increase_replica_count()
                .replication_group_id(id)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| provider_error(&format!("cannot add replicas to {id}"), &e))
        } else {
            self.elasticache
                .decrease_replica_count()
                .replication_group_id(id)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| provider_error(&format!("cannot remove replicas from {id}"), &e))
        }
    }

    async fn modify_group(
        &self,
        ctx: &ResourceContext,
        id: &str,
        m: &Modification,
    ) -> Result<(), ProviderError> {
        self.elasticache
            .modify_replication_group()
            .replication_group_id(id)
            .set_cache_node_type(m.node_type.clone())
            .set_engine_version(m.engine_version.clone())
            .set_automatic_failover_enabled(m.automatic_failover)
            .set_multi_az_enabled(m.automatic_failover)
            .set_snapshot_retention_limit(m.snapshot_retention_days.map(to_i32))
            .set_cache_parameter_group_name(m.parameter_group.clone())
            // Production changes wait for the maintenance window.
            .apply_immediately(!ctx.production)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| provider_error(&format!("cannot modify replication group {id}"), &e))
    }

    /// Asks for the group's deletion (with `final_snapshot` when given); gone is done.
    pub(super) async fn delete_group(
        &self,
        id: &str,
        final_snapshot: Option<String>,
    ) -> Result<(), ProviderError> {
        let deleted = self
            .elasticache
            .delete_replication_group()
            .replication_group_id(id)
            .set_final_snapshot_identifier(final_snapshot)
            .send()
            .await;
        done_if_gone(deleted.map_err(|e| {
            let gone = e
                .as_service_error()
                .is_some_and(|s| s.is_replication_group_not_found_fault());
            let error = provider_error(&format!("cannot delete replication group {id}"), &e);
            with_kind(error, ErrorKind::NotFound, gone)
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::elasticache::testing::*;
    use crate::elasticache::{RedisReconciler, outputs};
    use aws_sdk_elasticache::operation::decrease_replica_count::DecreaseReplicaCountOutput;
    use aws_sdk_elasticache::operation::increase_replica_count::IncreaseReplicaCountOutput;
    use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupOutput;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use panka_core::reconcile::{ErrorKind, Inputs, Reconciler, ResourceContext};

    fn modify_rule(node_type: &'static str, immediately: bool) -> Rule {
        mock!(Ec::modify_replication_group)
            .match_requests(move |req| {
                req.cache_node_type() == Some(node_type)
                    && req.apply_immediately() == Some(immediately)
                    && req.engine_version().is_none()
                    && req.automatic_failover_enabled().is_none()
                    && req.snapshot_retention_limit().is_none()
                    && req.cache_parameter_group_name().is_none()
            })
            .then_output(|| ModifyReplicationGroupOutput::builder().build())
    }

    #[tokio::test]
    async fn update_changes_the_node_type_immediately_outside_production() {
        for production in [false, true] {
            let (ec2, _, _) = ec2_with_groups();
            let before = describe_group("available", 2, "cache.t3.micro");
            let member = describe_member("7.0.7");
            let modify = modify_rule("cache.t3.small", !production);
            let after = describe_group("modifying", 2, "cache.t3.small");
            let member_after = describe_member("7.0.7");
            let ec = mock_client!(
                aws_sdk_elasticache,
                RuleMode::Sequential,
                [&before, &member, &modify, &after, &member_after]
            );
            let r = fast(RedisReconciler::new(ec, ec2));
            let c = ResourceContext {
                production,
                ..ctx()
            };
            let observed = r
                .update(
                    &c,
                    &component(spec(2, "cache.t3.small")),
                    &Inputs::default(),
                )
                .await
                .expect("update");
            assert_eq!(modify.num_calls(), 1, "production={production}");
            assert_eq!(observed.fields["node_type"], "cache.t3.small");
            assert_eq!(
                observed.outputs[outputs::CLIENT_SECURITY_GROUP],
                client_sg()
            );
        }
    }

    #[tokio::test]
    async fn update_adds_a_replica_then_modifies() {
        let (ec2, _, _) = ec2_with_groups();
        let before = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let increase = mock!(Ec::increase_replica_count)
            .match_requests(|req| {
                req.replication_group_id() == Some(id().as_str())
                    && req.new_replica_count() == Some(2)
                    && req.apply_immediately() == Some(true)
            })
            .then_output(|| IncreaseReplicaCountOutput::builder().build());
        let busy = describe_group("modifying", 3, "cache.t3.micro");
        let ready = describe_group("available", 3, "cache.t3.micro");
        let modify = modify_rule("cache.t3.small", true);
        let after = describe_group("modifying", 3, "cache.t3.small");
        let member_after = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [
                &before,
                &member,
                &increase,
                &busy,
                &ready,
                &modify,
                &after,
                &member_after
            ]
        );
        let r = fast(RedisReconciler::new(ec, ec2));
        let wanted = component(spec(3, "cache.t3.small"));
        let observed = r
            .update(&ctx(), &wanted, &Inputs::default())
            .await
            .expect("update");
        assert_eq!(
            (increase.num_calls(), busy.num_calls(), modify.num_calls()),
            (1, 1, 1)
        );
        assert_eq!(observed.fields["num_nodes"], 3);
    }

    #[tokio::test]
    async fn update_turns_failover_off_before_removing_replicas() {
        let (ec2, _, _) = ec2_with_groups();
        let before = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let modify = mock!(Ec::modify_replication_group)
            .match_requests(|req| {
                req.automatic_failover_enabled() == Some(false)
                    && req.multi_az_enabled() == Some(false)
                    && req.cache_node_type().is_none()
            })
            .then_output(|| ModifyReplicationGroupOutput::builder().build());
        let ready = describe_group("available", 2, "cache.t3.micro");
        let decrease = mock!(Ec::decrease_replica_count)
            .match_requests(|req| {
                req.new_replica_count() == Some(0) && req.apply_immediately() == Some(true)
            })
            .then_output(|| DecreaseReplicaCountOutput::builder().build());
        let after = describe_group("modifying", 1, "cache.t3.micro");
        let member_after = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [
                &before,
                &member,
                &modify,
                &ready,
                &decrease,
                &after,
                &member_after
            ]
        );
        let r = fast(RedisReconciler::new(ec, ec2));
        r.update(
            &ctx(),
            &component(spec(1, "cache.t3.micro")),
            &Inputs::default(),
        )
        .await
        .expect("update");
        assert_eq!((modify.num_calls(), decrease.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn update_refuses_fields_that_need_a_replacement() {
        let before = describe_group("available", 2, "cache.t3.micro");
        let member = describe_member("7.0.7");
        let ec = mock_client!(
            aws_sdk_elasticache,
            RuleMode::Sequential,
            [&before, &member]
        );
        let r = RedisReconciler::new(ec, ec2_unused());
        let mut wanted = spec(2, "cache.t3.micro");
        wanted.port = 6380;
        let err = r
            .update(&ctx(), &component(wanted), &Inputs::default())
            .await
            .expect_err("replace");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("port"), "{}", err.message);
    }
}
