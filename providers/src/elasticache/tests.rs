//! The flows of `mod.rs` as a whole: `create` and `delete` with every call they make,
//! and which fields force a replacement.

use super::testing::*;
use super::*;
use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_elasticache::operation::create_cache_parameter_group::CreateCacheParameterGroupOutput;
use aws_sdk_elasticache::operation::create_cache_subnet_group::CreateCacheSubnetGroupOutput;
use aws_sdk_elasticache::operation::create_replication_group::CreateReplicationGroupOutput;
use aws_sdk_elasticache::operation::delete_cache_subnet_group::DeleteCacheSubnetGroupOutput;
use aws_sdk_elasticache::operation::delete_replication_group::DeleteReplicationGroupOutput;
use aws_sdk_elasticache::operation::describe_cache_clusters::{
    DescribeCacheClustersError, DescribeCacheClustersOutput,
};
use aws_sdk_elasticache::operation::describe_cache_parameter_groups::{
    DescribeCacheParameterGroupsError, DescribeCacheParameterGroupsOutput,
};
use aws_sdk_elasticache::operation::describe_cache_parameters::DescribeCacheParametersOutput;
use aws_sdk_elasticache::operation::describe_cache_subnet_groups::{
    DescribeCacheSubnetGroupsError, DescribeCacheSubnetGroupsOutput,
};
use aws_sdk_elasticache::operation::modify_cache_parameter_group::ModifyCacheParameterGroupOutput;
use aws_sdk_elasticache::types::error::{
    CacheClusterNotFoundFault, CacheParameterGroupNotFoundFault, CacheSubnetGroupNotFoundFault,
};
use aws_sdk_elasticache::types::{CacheSubnetGroup, Parameter};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

#[test]
fn replacements_are_declared() {
    let r = RedisReconciler::new(
        mock_client!(aws_sdk_elasticache, Vec::<&Rule>::new()),
        ec2_unused(),
    );
    for path in ["mode", "port", "transit_encryption", "at_rest_encryption"] {
        assert_eq!(r.field_change(path), FieldChange::Replace, "{path}");
    }
    for path in [
        "engine_version",
        "node_type",
        "num_nodes",
        "automatic_failover",
        "snapshot_retention_days",
        "parameters.maxmemory-policy",
    ] {
        assert_eq!(r.field_change(path), FieldChange::InPlace, "{path}");
    }
    assert_eq!(
        panka_core::reconcile::Reconciler::kind(&r),
        panka_core::model::ComponentKind::ElastiCacheRedis
    );
}

#[tokio::test]
async fn create_sends_the_whole_spec_and_a_parameter_group() {
    let names = Names::of(&ctx());
    let pg = parameter_group_name(&ctx(), "redis7");
    // EC2: the default VPC, no groups yet, then the two groups and one rule.
    let vpcs = mock!(Ec2::describe_vpcs).then_output(|| {
        DescribeVpcsOutput::builder()
            .vpcs(aws_sdk_ec2::types::Vpc::builder().vpc_id(VPC).build())
            .build()
    });
    let subnets = mock!(Ec2::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id("subnet-b")
                    .build(),
            )
            .subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id("subnet-a")
                    .build(),
            )
            .build()
    });
    let no_groups = mock!(Ec2::describe_security_groups)
        .then_output(|| DescribeSecurityGroupsOutput::builder().build());
    let create_sg = mock!(Ec2::create_security_group).then_compute_output(|req| {
        CreateSecurityGroupOutput::builder()
            .group_id(format!("sg-{}", req.group_name().unwrap_or_default()))
            .build()
    });
    let (want_port_from, want_on) = (client_sg(), group_sg());
    let authorize = mock!(Ec2::authorize_security_group_ingress)
        .match_requests(move |req| {
            let rule = &req.ip_permissions()[0];
            req.group_id() == Some(want_on.as_str())
                && req.ip_permissions().len() == 1
                && rule.from_port() == Some(6379)
                && rule.to_port() == Some(6379)
                && rule.ip_ranges().is_empty()
                && rule.user_id_group_pairs()[0].group_id() == Some(want_port_from.as_str())
        })
        .then_output(|| {
            aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput::builder().build()
        });
    let ec2 = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&vpcs, &subnets, &no_groups, &create_sg, &authorize]
    );

    // ElastiCache: nothing exists, then everything is created, then read back.
    let groups = mock!(Ec::describe_replication_groups)
        .sequence()
        .error(group_not_found)
        .output(|| groups_out(group("creating", 2, "cache.t3.micro", true)))
        .build();
    let subnet_groups = mock!(Ec::describe_cache_subnet_groups)
        .sequence()
        .error(|| {
            DescribeCacheSubnetGroupsError::CacheSubnetGroupNotFoundFault(
                CacheSubnetGroupNotFoundFault::builder().build(),
            )
        })
        .times(2)
        .build();
    let sg_subnets = names.subnet_group.clone();
    let create_subnet_group = mock!(Ec::create_cache_subnet_group)
        .match_requests(move |req| {
            req.cache_subnet_group_name() == Some(sg_subnets.as_str())
                && req.subnet_ids() == ["subnet-a", "subnet-b"]
                && req.tags().len() == 4
        })
        .then_output(|| CreateCacheSubnetGroupOutput::builder().build());
    let parameter_groups = mock!(Ec::describe_cache_parameter_groups)
        .sequence()
        .error(|| {
            DescribeCacheParameterGroupsError::CacheParameterGroupNotFoundFault(
                CacheParameterGroupNotFoundFault::builder().build(),
            )
        })
        .times(2)
        .output(|| DescribeCacheParameterGroupsOutput::builder().build())
        .build();
    let pg_create = pg.clone();
    let create_pg = mock!(Ec::create_cache_parameter_group)
        .match_requests(move |req| {
            req.cache_parameter_group_name() == Some(pg_create.as_str())
                && req.cache_parameter_group_family() == Some("redis7")
        })
        .then_output(|| CreateCacheParameterGroupOutput::builder().build());
    let pg_member = pg.clone();
    let parameters = mock!(Ec::describe_cache_parameters)
        .sequence()
        .output(|| DescribeCacheParametersOutput::builder().build())
        .output(|| {
            DescribeCacheParametersOutput::builder()
                .parameters(
                    Parameter::builder()
                        .parameter_name("maxmemory-policy")
                        .parameter_value("allkeys-lru")
                        .build(),
                )
                .build()
        })
        .build();
    let set_parameters = mock!(Ec::modify_cache_parameter_group)
        .match_requests(|req| {
            let p = req.parameter_name_values();
            p.len() == 1
                && p[0].parameter_name() == Some("maxmemory-policy")
                && p[0].parameter_value() == Some("allkeys-lru")
        })
        .then_output(|| ModifyCacheParameterGroupOutput::builder().build());
    let (rg_id, rg_pg, rg_subnets, rg_sg) =
        (id(), pg.clone(), names.subnet_group.clone(), group_sg());
    let create_group = mock!(Ec::create_replication_group)
        .match_requests(move |req| {
            req.replication_group_id() == Some(rg_id.as_str())
                && req.engine() == Some("redis")
                && req.engine_version() == Some("7.0")
                && req.cache_node_type() == Some("cache.t3.micro")
                && req.num_cache_clusters() == Some(2)
                && req.automatic_failover_enabled() == Some(true)
                && req.multi_az_enabled() == Some(true)
                && req.port() == Some(6379)
                && req.cache_subnet_group_name() == Some(rg_subnets.as_str())
                && req.security_group_ids() == [rg_sg.clone()]
                && req.transit_encryption_enabled() == Some(true)
                && req.at_rest_encryption_enabled() == Some(true)
                && req.snapshot_retention_limit() == Some(1)
                && req.cache_parameter_group_name() == Some(rg_pg.as_str())
                && req
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some("panka:component") && t.value() == Some("web/cache"))
        })
        .then_output(|| CreateReplicationGroupOutput::builder().build());
    let read_member = mock!(Ec::describe_cache_clusters).then_output(move || {
        DescribeCacheClustersOutput::builder()
            .cache_clusters(member("7.0.7", &pg_member))
            .build()
    });
    let ec = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        [
            &groups,
            &subnet_groups,
            &create_subnet_group,
            &parameter_groups,
            &create_pg,
            &parameters,
            &set_parameters,
            &create_group,
            &read_member
        ]
    );
    let r = RedisReconciler::new(ec, ec2);
    let mut wanted = spec(2, "cache.t3.micro");
    wanted
        .parameters
        .insert("maxmemory-policy".into(), "allkeys-lru".into());
    let observed = r
        .create(&ctx(), &wanted, &Inputs::default())
        .await
        .expect("create");
    for (rule, name) in [
        (&create_subnet_group, "CreateCacheSubnetGroup"),
        (&create_pg, "CreateCacheParameterGroup"),
        (&set_parameters, "ModifyCacheParameterGroup"),
        (&create_group, "CreateReplicationGroup"),
        (&authorize, "AuthorizeSecurityGroupIngress"),
    ] {
        assert_eq!(rule.num_calls(), 1, "{name}");
    }
    assert_eq!(
        create_sg.num_calls(),
        2,
        "the cache's group and its clients' group"
    );
    assert_eq!(observed.fields, desired_fields(&wanted));
    assert_eq!(
        observed.outputs[outputs::CLIENT_SECURITY_GROUP],
        client_sg()
    );
    assert_eq!(observed.physical_ids[ids::PARAMETER_GROUP], pg);
}

#[tokio::test]
async fn delete_takes_a_final_snapshot_waits_and_removes_the_rest() {
    let (ec2, delete_sg, deleted) = ec2_with_groups();
    let describe = mock!(Ec::describe_replication_groups)
        .sequence()
        .output(|| groups_out(group("available", 2, "cache.t3.micro", true)))
        .output(|| groups_out(group("deleting", 2, "cache.t3.micro", true)))
        .error(group_not_found)
        .build();
    let member = describe_member("7.0.7");
    let prefix = format!("{}-final-", id());
    let delete = mock!(Ec::delete_replication_group)
        .match_requests(move |req| {
            req.replication_group_id() == Some(id().as_str())
                && req
                    .final_snapshot_identifier()
                    .is_some_and(|s| s.starts_with(&prefix) && s.len() == prefix.len() + 14)
        })
        .then_output(|| DeleteReplicationGroupOutput::builder().build());
    let subnet_groups = mock!(Ec::describe_cache_subnet_groups).then_output(|| {
        DescribeCacheSubnetGroupsOutput::builder()
            .cache_subnet_groups(
                CacheSubnetGroup::builder()
                    .cache_subnet_group_name(Names::of(&ctx()).subnet_group)
                    .build(),
            )
            .build()
    });
    let delete_subnets = mock!(Ec::delete_cache_subnet_group)
        .then_output(|| DeleteCacheSubnetGroupOutput::builder().build());
    let ec = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        [&describe, &member, &delete, &subnet_groups, &delete_subnets]
    );
    let r = fast(RedisReconciler::new(ec, ec2));
    let options = DeleteOptions {
        final_snapshot: true,
        ..DeleteOptions::default()
    };
    r.delete(&ctx(), &known(), options).await.expect("delete");
    assert_eq!((delete.num_calls(), describe.num_calls()), (1, 3));
    assert_eq!(delete_subnets.num_calls(), 1);
    assert_eq!(delete_sg.num_calls(), 2, "both security groups");
    let order = deleted.lock().map(|d| d.clone()).unwrap_or_default();
    assert_eq!(
        order,
        [group_sg(), client_sg()],
        "the cache's group, whose rule holds the clients' group, goes first"
    );
}

#[tokio::test]
async fn delete_gives_up_at_the_deadline_and_keeps_the_rest() {
    let describe = mock!(Ec::describe_replication_groups)
        .sequence()
        .output(|| groups_out(group("deleting", 2, "cache.t3.micro", true)))
        .repeatedly()
        .build();
    let member = describe_member("7.0.7");
    let ec = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        [&describe, &member]
    );
    let r = fast(RedisReconciler::new(ec, ec2_unused()));
    let err = r
        .delete(&ctx(), &known(), DeleteOptions::default())
        .await
        .expect_err("still deleting");
    assert_eq!(err.kind, ErrorKind::TimedOut);
    assert!(err.message.contains("still `deleting`"), "{}", err.message);
    assert!(err.hint.is_some());
}

#[tokio::test]
async fn delete_of_nothing_succeeds() {
    let group = mock!(Ec::describe_replication_groups).then_error(group_not_found);
    let cluster = mock!(Ec::describe_cache_clusters).then_error(|| {
        DescribeCacheClustersError::CacheClusterNotFoundFault(
            CacheClusterNotFoundFault::builder().build(),
        )
    });
    let subnet_groups = mock!(Ec::describe_cache_subnet_groups).then_error(|| {
        DescribeCacheSubnetGroupsError::CacheSubnetGroupNotFoundFault(
            CacheSubnetGroupNotFoundFault::builder().build(),
        )
    });
    let ec = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        [&group, &cluster, &subnet_groups]
    );
    let vpcs = mock!(Ec2::describe_vpcs).then_output(|| {
        DescribeVpcsOutput::builder()
            .vpcs(aws_sdk_ec2::types::Vpc::builder().vpc_id(VPC).build())
            .build()
    });
    let subnets = mock!(Ec2::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id("subnet-a")
                    .build(),
            )
            .subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id("subnet-b")
                    .build(),
            )
            .build()
    });
    let no_groups = mock!(Ec2::describe_security_groups)
        .then_output(|| DescribeSecurityGroupsOutput::builder().build());
    let ec2 = mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&vpcs, &subnets, &no_groups]
    );
    let r = fast(RedisReconciler::new(ec, ec2));
    r.delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect("nothing to delete is success");
}

#[tokio::test]
async fn a_parameter_group_created_by_someone_else_in_a_race_is_refused() {
    use aws_sdk_elasticache::operation::create_cache_parameter_group::CreateCacheParameterGroupError;
    use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_elasticache::types::CacheParameterGroup;
    use aws_sdk_elasticache::types::error::CacheParameterGroupAlreadyExistsFault;

    let mut wanted = spec(2, "cache.t3.micro");
    wanted
        .parameters
        .insert("maxmemory-policy".into(), "allkeys-lru".into());
    // Not there at the lookup; taken by the time of the create.
    let lookups = mock!(Ec::describe_cache_parameter_groups)
        .sequence()
        .error(|| {
            DescribeCacheParameterGroupsError::CacheParameterGroupNotFoundFault(
                CacheParameterGroupNotFoundFault::builder().build(),
            )
        })
        .output(|| {
            DescribeCacheParameterGroupsOutput::builder()
                .cache_parameter_groups(
                    CacheParameterGroup::builder()
                        .cache_parameter_group_name("taken")
                        .arn("arn:aws:elasticache:us-east-1:111122223333:parametergroup:taken")
                        .build(),
                )
                .build()
        })
        .build();
    let create = mock!(Ec::create_cache_parameter_group).then_error(|| {
        CreateCacheParameterGroupError::CacheParameterGroupAlreadyExistsFault(
            CacheParameterGroupAlreadyExistsFault::builder().build(),
        )
    });
    // The winner is another component's.
    let other = ResourceContext {
        id: panka_core::model::ComponentId::new("web", "sessions"),
        ..ctx()
    };
    let tags = mock!(Ec::list_tags_for_resource).then_output(move || {
        ListTagsForResourceOutput::builder()
            .set_tag_list(Some(
                other
                    .tags()
                    .into_iter()
                    .map(|(k, v)| {
                        aws_sdk_elasticache::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    });
    let r = RedisReconciler::new(
        mock_client!(
            aws_sdk_elasticache,
            RuleMode::MatchAny,
            [&lookups, &create, &tags]
        ),
        ec2_unused(),
    );
    let err = r
        .ensure_parameter_group(&ctx(), &wanted)
        .await
        .expect_err("another component's group is not adopted");
    assert_eq!(err.kind, ErrorKind::Foreign, "{err:?}");
    assert!(err.message.contains("web/sessions"), "{}", err.message);
    assert_eq!(create.num_calls(), 1);
    assert_eq!(tags.num_calls(), 1);
}
