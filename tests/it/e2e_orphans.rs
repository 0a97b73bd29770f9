//! `drift`'s orphan search on a local `moto_server`: every kind's `tagged` listing, run
//! together, finds the resources carrying a stack+environment's tags, whatever created
//! them, and nothing tagged for another environment or not tagged at all.

use crate::support::moto::MotoServer;
use panka_core::drift::Owner;
use panka_providers::naming;
use panka_providers::orphans::tagged_resources;
use panka_providers::reconcilers::Reconcilers;

const STACK: &str = "shop";

fn tags(environment: &str, component: &str) -> Vec<(String, String)> {
    vec![
        ("panka:stack".into(), STACK.into()),
        ("panka:environment".into(), environment.into()),
        ("panka:component".into(), component.into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_lists_what_carries_the_owners_tags() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;

    // SQS: ours; one under our name prefix tagged for another environment; and one of
    // that other environment.
    for (name, environment) in [
        ("shop-dev-api-jobs", "dev"),
        ("shop-dev-api-late", "prod"),
        ("shop-prod-api-jobs", "prod"),
    ] {
        let mut create = clients.sqs.create_queue().queue_name(name);
        for (key, value) in tags(environment, "api/jobs") {
            create = create.tags(key, value);
        }
        create.send().await.expect("create a queue");
    }
    // SQS: under our prefix, without tags.
    clients
        .sqs
        .create_queue()
        .queue_name("shop-dev-untagged")
        .send()
        .await
        .expect("create an untagged queue");

    // RDS: the tags come back with the instance listing.
    let mut instance = clients
        .rds
        .create_db_instance()
        .db_instance_identifier("shop-dev-api-db")
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("not-a-real-one-123");
    for (key, value) in tags("dev", "api/db") {
        instance = instance.tags(
            aws_sdk_rds::types::Tag::builder()
                .key(key)
                .value(value)
                .build(),
        );
    }
    instance.send().await.expect("create an RDS instance");

    // ElastiCache, both modes: a replication group and a lone cache cluster.
    let cache_tag = |(key, value): (String, String)| {
        aws_sdk_elasticache::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
    };
    let mut group = clients
        .elasticache
        .create_replication_group()
        .replication_group_id("shop-dev-api-cache")
        .replication_group_description("ours")
        .engine("redis")
        .cache_node_type("cache.t3.micro");
    for tag in tags("dev", "api/cache") {
        group = group.tags(cache_tag(tag));
    }
    group.send().await.expect("create a replication group");
    let mut cluster = clients
        .elasticache
        .create_cache_cluster()
        .cache_cluster_id("shop-dev-api-sessions")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(1);
    for tag in tags("dev", "api/sessions") {
        cluster = cluster.tags(cache_tag(tag));
    }
    cluster.send().await.expect("create a cache cluster");

    // MicroService: its ECS service (in the stack's cluster), target group and task role.
    let cluster_name = naming::ecs_cluster(STACK, "dev");
    clients
        .ecs
        .create_cluster()
        .cluster_name(&cluster_name)
        .send()
        .await
        .expect("create the cluster");
    clients
        .ecs
        .register_task_definition()
        .family("shop-dev-api-web")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .expect("register a task definition");
    let mut service = clients
        .ecs
        .create_service()
        .cluster(&cluster_name)
        .service_name("shop-dev-api-web")
        .task_definition("shop-dev-api-web")
        .desired_count(0);
    for (key, value) in tags("dev", "api/web") {
        service = service.tags(
            aws_sdk_ecs::types::Tag::builder()
                .key(key)
                .value(value)
                .build(),
        );
    }
    service.send().await.expect("create an ECS service");
    let vpc = clients
        .ec2
        .describe_vpcs()
        .send()
        .await
        .expect("list VPCs")
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .expect("moto's default VPC")
        .to_string();
    let mut target_group = clients
        .elasticloadbalancingv2
        .create_target_group()
        .name("shop-dev-api-web")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(vpc);
    for (key, value) in tags("dev", "api/web") {
        target_group = target_group.tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key(key)
                .value(value)
                .build(),
        );
    }
    target_group.send().await.expect("create a target group");
    let mut role = clients
        .iam
        .create_role()
        .role_name("shop-dev-api-web-task")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
    for (key, value) in tags("dev", "api/web") {
        role = role.tags(
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .expect("a tag has a key and a value"),
        );
    }
    role.send().await.expect("create a role");
    // A certificate requested for the service's hosts and never put behind a listener.
    let mut certificate = clients
        .acm
        .request_certificate()
        .domain_name("web.shop.example")
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns);
    for (key, value) in tags("dev", "api/web") {
        certificate = certificate.tags(
            aws_sdk_acm::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .expect("a tag has a key and a value"),
        );
    }
    certificate.send().await.expect("request a certificate");

    let owner = Owner {
        stack: STACK.into(),
        environment: "dev".into(),
    };
    let found = tagged_resources(&Reconcilers::new(clients), &owner)
        .await
        .expect("list the tagged resources");
    let seen: Vec<(&str, Option<&str>)> = found
        .iter()
        .map(|r| (r.kind.as_str(), r.component.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("acm_certificate", Some("api/web")),
            ("ecs_service", Some("api/web")),
            ("elasticache_cache_cluster", Some("api/sessions")),
            ("elasticache_replication_group", Some("api/cache")),
            ("iam_role", Some("api/web")),
            ("rds_instance", Some("api/db")),
            ("sqs_queue", Some("api/jobs")),
            ("target_group", Some("api/web")),
        ],
        "{found:#?}"
    );
    // Each is found under a name state may have recorded.
    let queue = &found[6];
    assert!(queue.id.ends_with("/shop-dev-api-jobs"), "{queue:?}");
    assert_eq!(queue.aliases, ["shop-dev-api-jobs"]);
    assert_eq!(found[5].id, "shop-dev-api-db");
    assert_eq!(found[2].id, "shop-dev-api-sessions");
    assert_eq!(found[4].id, "shop-dev-api-web-task");
    assert_eq!(found[0].aliases, ["web.shop.example"]);

    // The same account seen as the other environment: only its own queue.
    let prod = Owner {
        stack: STACK.into(),
        environment: "prod".into(),
    };
    let found = tagged_resources(&Reconcilers::new(clients), &prod)
        .await
        .expect("list the tagged resources");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].id.ends_with("/shop-prod-api-jobs"), "{found:#?}");
}
