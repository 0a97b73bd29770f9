//! The MicroService reconciler end to end on a local `moto_server`: the walkthrough's api
//! created, read back attribute by attribute, updated, changed behind panka's back and
//! deleted; adoption and refusal of foreign resources; a service without a load balancer.
//!
//! moto never starts ECS tasks, so readiness is tested with mocks in
//! `providers/src/microservice/readiness.rs`; here it only has to say "waiting".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::support;
use crate::support::decode;
use crate::support::moto::{
    ACCOUNT_ID_HEADER, DB_SECRET as SECRET_NAME, MotoAccount, MotoServer, answered_ok, form_value,
    raw_post, unsigned_authorization,
};
use crate::support::vpc::default_vpc_id;
use panka_core::model::{
    Autoscaling, ComponentId, ComponentKind, ComponentSpec, ConfigFile, Configs, CpuArchitecture,
    EnvValue, EnvVar, Image, InfraSpec, LoadBalancer, MicroServiceSpec, Platform, Port, Protocol,
    Readiness as ReadinessProbe, SecretEnv,
};
use panka_core::reconcile::{
    DeleteOptions, ErrorKind, Inputs, KnownIds, Observed, Readiness, Reconciler, ResourceContext,
};
use panka_providers::aws::AwsClients;
use panka_providers::microservice::MicroServiceReconciler;
use panka_providers::microservice::names::Names;
use panka_providers::network;
use serde_json::{Value, json};

const APP_YAML: &str = "app:\n  name: email-api\nserver:\n  port: 8080\n";

pub(crate) fn ctx() -> ResourceContext {
    ResourceContext {
        stack: "notification-platform".into(),
        environment: "development".into(),
        id: ComponentId::new("email-service", "api"),
        region: support::moto::REGION.into(),
        production: false,
        network: None,
        domain: None,
    }
}

/// The walkthrough's api (`microservice.yaml` and `infra.yaml`) at image `tag`.
pub(crate) fn api(tag: &str) -> MicroServiceSpec {
    MicroServiceSpec {
        image: Image {
            repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api".into(),
            tag: tag.into(),
            tag_span: None,
        },
        platform: Platform::Fargate,
        cpu_architecture: CpuArchitecture::X86_64,
        command: None,
        ports: vec![Port {
            name: "http".into(),
            port: 8080,
            protocol: Protocol::Http,
        }],
        load_balancer: LoadBalancer {
            enabled: true,
            internal: false,
            listener_port: 80,
            aliases: Vec::new(),
            alias_spans: Vec::new(),
        },
        environment: vec![
            EnvVar {
                name: "DATABASE_HOST".into(),
                value: EnvValue::From {
                    component: "email-service/database".into(),
                    output: "endpoint".into(),
                },
            },
            EnvVar {
                name: "QUEUE_URL".into(),
                value: EnvValue::From {
                    component: "email-service/queue".into(),
                    output: "url".into(),
                },
            },
        ],
        secrets: vec![SecretEnv {
            name: "DB_PASSWORD".into(),
            secret_ref: SECRET_NAME.into(),
            env_var: "DATABASE_PASSWORD".into(),
            key: None,
        }],
        configs: Some(Configs {
            mount_path: "/config".into(),
            files: vec![ConfigFile {
                name: "app.yaml".into(),
                path: PathBuf::from("configs/app.yaml"),
            }],
        }),
        readiness: Some(ReadinessProbe {
            path: "/health/ready".into(),
            port: 8080,
            interval_seconds: 15,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        }),
        infra: InfraSpec {
            cpu: 256,
            memory: 512,
            replicas: 2,
            autoscaling: Some(Autoscaling {
                min_replicas: 2,
                max_replicas: 10,
                target_cpu_percent: 70,
                min_span: None,
            }),
            log_retention_days: 30,
            replicas_span: None,
        },
        permissions: Vec::new(),
        rollback: Default::default(),
    }
}

pub(crate) fn inputs() -> Inputs {
    Inputs {
        resolved_env: BTreeMap::from([
            (
                "DATABASE_HOST".to_string(),
                "email-db.abc.us-east-1.rds.amazonaws.com".to_string(),
            ),
            (
                "QUEUE_URL".to_string(),
                "https://sqs.us-east-1.amazonaws.com/123456789012/email-queue".to_string(),
            ),
        ]),
        dependencies: BTreeMap::new(),
        dependency_kinds: BTreeMap::new(),
        config_files: BTreeMap::from([("app.yaml".to_string(), APP_YAML.to_string())]),
    }
}

pub(crate) fn reconciler(clients: &AwsClients) -> MicroServiceReconciler {
    let mut r = MicroServiceReconciler::new(clients);
    r.poll_interval = Duration::from_millis(20);
    r.patience = Duration::from_secs(20);
    r
}

pub(crate) async fn create_secret(account: &MotoAccount) -> String {
    support::moto::create_secret(&account.clients, SECRET_NAME, "s3cr3t").await
}

pub(crate) fn wrap(spec: &MicroServiceSpec) -> ComponentSpec {
    ComponentSpec::MicroService(spec.clone())
}

/// Reads the component and checks it shows no change against `spec`.
async fn read_in_sync(
    r: &MicroServiceReconciler,
    spec: &MicroServiceSpec,
    inputs: &Inputs,
) -> Observed {
    let observed = r
        .read(&ctx(), &KnownIds::new())
        .await
        .expect("read")
        .expect("the service exists");
    assert_eq!(
        observed.fields,
        r.normalise(&ctx(), &wrap(spec), inputs),
        "reading back shows no change"
    );
    observed
}

fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return vec![String::new()];
    };
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

/// The ingress of a security group as (port, source) pairs.
pub(crate) async fn ingress(clients: &AwsClients, group_id: &str) -> Vec<(i32, String)> {
    let out = clients
        .ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .expect("describe the security group");
    let mut rules = Vec::new();
    for permission in out.security_groups()[0].ip_permissions() {
        let port = permission.from_port().unwrap_or(-1);
        assert_eq!(
            permission.from_port(),
            permission.to_port(),
            "one port per rule"
        );
        for range in permission.ip_ranges() {
            rules.push((port, range.cidr_ip().unwrap_or_default().to_string()));
        }
        for pair in permission.user_id_group_pairs() {
            rules.push((port, pair.group_id().unwrap_or_default().to_string()));
        }
    }
    rules
}

#[tokio::test]
async fn walkthrough_api_is_created_read_updated_and_deleted() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let secret_arn = create_secret(&account).await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let spec = api("v1.0.0");

    // ---- create
    let created = r
        .create(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("create");
    assert_eq!(created.fields, r.normalise(&ctx(), &wrap(&spec), &inputs()));
    let observed = read_in_sync(&r, &spec, &inputs()).await;
    assert_eq!(observed, created);
    let known_read = r
        .read(&ctx(), &created.physical_ids)
        .await
        .expect("read with known ids");
    assert_eq!(known_read.as_ref(), Some(&created));

    let td_arn = created.outputs["task_definition_arn"].clone();
    assert!(td_arn.ends_with(":1"), "{td_arn}");
    assert_eq!(created.outputs["log_group"], names.log_group);
    let url = &created.outputs["url"];
    assert!(url.starts_with("http://") && !url.ends_with(":80"), "{url}");
    assert!(created.outputs["service_arn"].contains(&names.service));

    // The task definition ECS holds.
    let td = clients
        .ecs
        .describe_task_definition()
        .task_definition(&td_arn)
        .send()
        .await
        .expect("describe the task definition");
    let td = td.task_definition().expect("a task definition");
    assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")));
    assert_eq!(td.network_mode().map(|m| m.as_str()), Some("awsvpc"));
    assert_eq!(
        td.runtime_platform()
            .and_then(|p| p.cpu_architecture())
            .map(|a| a.as_str()),
        Some("X86_64")
    );
    let role_arn = created.physical_ids["execution_role_arn"].clone();
    assert_eq!(td.execution_role_arn(), Some(role_arn.as_str()));
    let containers = td.container_definitions();
    assert_eq!(containers.len(), 2);
    let main = &containers[0];
    assert_eq!(main.name(), Some("api"));
    assert_eq!(
        main.image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/email-api:v1.0.0")
    );
    let env: BTreeMap<&str, &str> = main
        .environment()
        .iter()
        .map(|e| (e.name().unwrap_or(""), e.value().unwrap_or("")))
        .collect();
    assert_eq!(
        env,
        BTreeMap::from([
            ("DATABASE_HOST", "email-db.abc.us-east-1.rds.amazonaws.com"),
            (
                "QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/email-queue"
            ),
        ])
    );
    let secrets: Vec<(&str, &str)> = main
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    assert_eq!(secrets, [("DATABASE_PASSWORD", secret_arn.as_str())]);
    let log = main.log_configuration().expect("a log configuration");
    assert_eq!(log.log_driver().as_str(), "awslogs");
    let options = log.options().expect("log options");
    assert_eq!(options["awslogs-group"], names.log_group);
    assert_eq!(options["awslogs-region"], "us-east-1");
    assert_eq!(options["awslogs-stream-prefix"], "api");
    assert_eq!(main.port_mappings()[0].container_port(), Some(8080));
    let mount = &main.mount_points()[0];
    assert_eq!(
        (mount.container_path(), mount.read_only()),
        (Some("/config"), Some(true))
    );
    assert_eq!(main.depends_on()[0].container_name(), "api-configs");
    assert_eq!(main.depends_on()[0].condition().as_str(), "SUCCESS");
    assert!(
        main.docker_labels()
            .is_some_and(|l| l.contains_key("io.panka.config-hash"))
    );
    let init = &containers[1];
    assert_eq!(
        init.image(),
        Some("public.ecr.aws/docker/library/busybox:1.36")
    );
    assert_eq!(init.essential(), Some(false));
    assert_eq!(init.environment()[0].name(), Some("CONFIG_0"));
    assert_eq!(
        init.environment()[0].value(),
        Some("YXBwOgogIG5hbWU6IGVtYWlsLWFwaQpzZXJ2ZXI6CiAgcG9ydDogODA4MAo=")
    );

    // The service.
    let services = clients
        .ecs
        .describe_services()
        .cluster(&names.cluster)
        .services(&names.service)
        .send()
        .await
        .expect("describe the service");
    let service = &services.services()[0];
    assert_eq!(service.desired_count(), 2);
    assert_eq!(service.task_definition(), Some(td_arn.as_str()));
    assert_eq!(service.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    // moto does not echo `deploymentConfiguration` (circuit breaker, 100 %/200 %); the
    // request's shape is checked with a mock in providers/src/microservice/ecs_service.rs.
    let vpc = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .expect("awsvpc");
    assert_eq!(vpc.assign_public_ip().map(|a| a.as_str()), Some("ENABLED"));
    let lb = &service.load_balancers()[0];
    assert_eq!(
        (lb.container_name(), lb.container_port()),
        (Some("api"), Some(8080))
    );

    // The target group, the listener and the load balancer.
    let tg_arn = created.physical_ids["target_group_arn"].clone();
    assert_eq!(lb.target_group_arn(), Some(tg_arn.as_str()));
    let tgs = clients
        .elasticloadbalancingv2
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .expect("describe the target group");
    let tg = &tgs.target_groups()[0];
    assert_eq!(tg.health_check_path(), Some("/health/ready"));
    assert_eq!(tg.health_check_port(), Some("8080"));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(
        (
            tg.health_check_interval_seconds(),
            tg.health_check_timeout_seconds()
        ),
        (Some(15), Some(5))
    );
    let alb_arn = created.physical_ids["load_balancer_arn"].clone();
    let listeners = clients
        .elasticloadbalancingv2
        .describe_listeners()
        .load_balancer_arn(&alb_arn)
        .send()
        .await
        .expect("describe the listeners");
    assert_eq!(listeners.listeners().len(), 1);
    let listener = &listeners.listeners()[0];
    assert_eq!(listener.port(), Some(80));
    assert_eq!(
        listener.default_actions()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );
    let albs = clients
        .elasticloadbalancingv2
        .describe_load_balancers()
        .load_balancer_arns(&alb_arn)
        .send()
        .await
        .expect("describe the load balancer");
    assert_eq!(
        albs.load_balancers()[0].scheme().map(|s| s.as_str()),
        Some("internet-facing")
    );

    // Security groups: the service's only from the load balancer's, on 8080.
    let alb_sg = created.physical_ids["alb_security_group_id"].clone();
    let svc_sg = created.physical_ids["service_security_group_id"].clone();
    assert_eq!(ingress(clients, &svc_sg).await, [(8080, alb_sg.clone())]);
    assert_eq!(
        ingress(clients, &alb_sg).await,
        [(80, "0.0.0.0/0".to_string())]
    );
    assert_eq!(vpc.security_groups(), std::slice::from_ref(&svc_sg));

    // The execution role may read exactly the secret and write exactly the log group.
    let policy = r
        .execution_policy(&ctx())
        .await
        .expect("read the policy")
        .expect("a policy");
    let statements = policy["Statement"].as_array().expect("statements");
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_sid("ReadSecrets")["Resource"], json!([secret_arn]));
    assert_eq!(
        by_sid("ReadSecrets")["Action"],
        "secretsmanager:GetSecretValue"
    );
    let logs_resource = by_sid("WriteLogs")["Resource"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        logs_resource.starts_with("arn:aws:logs:us-east-1:")
            && logs_resource.ends_with(&format!(":log-group:{}:*", names.log_group)),
        "{logs_resource}"
    );
    assert_eq!(
        by_sid("PullImage")["Resource"],
        "arn:aws:ecr:us-east-1:123456789012:repository/email-api"
    );
    assert_eq!(statements.len(), 4, "{policy}");
    let trust = clients
        .iam
        .get_role()
        .role_name(&names.execution_role)
        .send()
        .await
        .expect("get the role");
    let trust = trust
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .unwrap_or_default()
        .to_string();
    assert!(trust.contains("ecs-tasks.amazonaws.com"), "{trust}");

    // Logs and scaling.
    let groups = clients
        .cloudwatchlogs
        .describe_log_groups()
        .log_group_name_prefix(&names.log_group)
        .send()
        .await
        .expect("describe log groups");
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));
    let resource_id = format!("service/{}/{}", names.cluster, names.service);
    let targets = clients
        .applicationautoscaling
        .describe_scalable_targets()
        .service_namespace("ecs".into())
        .resource_ids(&resource_id)
        .send()
        .await
        .expect("describe scalable targets");
    let target = &targets.scalable_targets()[0];
    assert_eq!((target.min_capacity(), target.max_capacity()), (2, 10));
    let policies = clients
        .applicationautoscaling
        .describe_scaling_policies()
        .service_namespace("ecs".into())
        .resource_id(&resource_id)
        .send()
        .await
        .expect("describe scaling policies");
    assert_eq!(policies.scaling_policies().len(), 1);
    let tracking = policies.scaling_policies()[0]
        .target_tracking_scaling_policy_configuration()
        .expect("target tracking");
    assert_eq!(tracking.target_value(), 70.0);
    assert_eq!(
        tracking
            .predefined_metric_specification()
            .map(|m| m.predefined_metric_type().as_str()),
        Some("ECSServiceAverageCPUUtilization")
    );

    // moto never starts tasks: the rollout waits.
    assert!(matches!(
        r.poll_ready(&ctx(), &created.physical_ids)
            .await
            .expect("probe"),
        Readiness::Waiting { .. }
    ));

    // ---- update the image: a new revision, the service on it, nothing else changed
    let v2 = api("v1.0.1");
    let updated = r
        .update(&ctx(), &wrap(&v2), &inputs())
        .await
        .expect("update the image");
    let new_td = updated.outputs["task_definition_arn"].clone();
    assert!(new_td.ends_with(":2"), "{new_td}");
    assert_eq!(changed_paths(&created.fields, &updated.fields), ["image"]);
    read_in_sync(&r, &v2, &inputs()).await;
    let services = clients
        .ecs
        .describe_services()
        .cluster(&names.cluster)
        .services(&names.service)
        .send()
        .await
        .expect("describe the service");
    assert_eq!(
        services.services()[0].task_definition(),
        Some(new_td.as_str())
    );
    assert_eq!(
        updated.physical_ids["load_balancer_arn"],
        created.physical_ids["load_balancer_arn"]
    );

    // ---- update the health path: the target group changes, the task definition does not
    let mut v3 = v2.clone();
    if let Some(readiness) = v3.readiness.as_mut() {
        readiness.path = "/healthz".into();
    }
    let updated = r
        .update(&ctx(), &wrap(&v3), &inputs())
        .await
        .expect("update the health check");
    assert_eq!(updated.outputs["task_definition_arn"], new_td);
    read_in_sync(&r, &v3, &inputs()).await;
    let tgs = clients
        .elasticloadbalancingv2
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .expect("describe the target group");
    assert_eq!(tgs.target_groups()[0].health_check_path(), Some("/healthz"));

    // ---- the autoscaler's count: any count within 2-10 is what the spec asks for
    let scale = |count: i32| {
        clients
            .ecs
            .update_service()
            .cluster(&names.cluster)
            .service(&names.service)
            .desired_count(count)
            .send()
    };
    scale(7).await.expect("scale as the autoscaler would");
    let scaled = read_in_sync(&r, &v3, &inputs()).await;
    assert_eq!(scaled.fields["replicas"], "2-10 (autoscaled)");
    let live_count = |clients: &AwsClients| {
        let request = clients
            .ecs
            .describe_services()
            .cluster(&names.cluster)
            .services(&names.service)
            .send();
        async move { request.await.expect("describe the service").services()[0].desired_count() }
    };
    assert_eq!(live_count(clients).await, 7, "moto kept the count");

    // ---- a count outside the range, set behind panka's back, shows in read
    scale(12).await.expect("scale by hand");
    let drifted = r
        .read(&ctx(), &KnownIds::new())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(drifted.fields["replicas"], 12);
    assert_eq!(
        changed_paths(&updated.fields, &drifted.fields),
        ["replicas"]
    );
    // ... and the update brings it back into the range, to the spec's 2.
    r.update(&ctx(), &wrap(&v3), &inputs())
        .await
        .expect("update the count");
    assert_eq!(live_count(clients).await, 2);
    read_in_sync(&r, &v3, &inputs()).await;

    // ---- delete
    r.delete(&ctx(), &updated.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
    assert_eq!(r.read(&ctx(), &KnownIds::new()).await.expect("read"), None);
    assert_nothing_left(clients, &names).await;
    r.delete(&ctx(), &updated.physical_ids, DeleteOptions::default())
        .await
        .expect("deleting again is fine");

    // The shared cluster stays for the stack's other services.
    let clusters = clients
        .ecs
        .describe_clusters()
        .clusters(&names.cluster)
        .send()
        .await
        .expect("describe the cluster");
    assert_eq!(clusters.clusters()[0].status(), Some("ACTIVE"));
}

/// No resource of the component is left: load balancer, target group, security groups,
/// role, log group, task definitions, scaling target.
async fn assert_nothing_left(clients: &AwsClients, names: &Names) {
    let elb = &clients.elasticloadbalancingv2;
    assert!(
        elb.describe_load_balancers()
            .names(&names.load_balancer)
            .send()
            .await
            .is_err(),
        "the load balancer is gone"
    );
    assert!(
        elb.describe_target_groups()
            .names(&names.target_group)
            .send()
            .await
            .is_err(),
        "the target group is gone"
    );
    let vpc = default_vpc_id(clients).await;
    for group in [
        &names.alb_security_group,
        &names.service_security_group,
        &names.clients_security_group,
    ] {
        let found = network::find_security_group(&clients.ec2, &vpc, group)
            .await
            .expect("look up the group");
        assert_eq!(found, None, "{group} is gone");
    }
    assert!(
        clients
            .iam
            .get_role()
            .role_name(&names.execution_role)
            .send()
            .await
            .is_err(),
        "the role is gone"
    );
    assert!(
        clients
            .iam
            .get_role()
            .role_name(&names.task_role)
            .send()
            .await
            .is_err(),
        "the task role is gone"
    );
    let groups = clients
        .cloudwatchlogs
        .describe_log_groups()
        .log_group_name_prefix(&names.log_group)
        .send()
        .await
        .expect("describe log groups");
    assert!(groups.log_groups().is_empty(), "the log group is gone");
    let revisions = clients
        .ecs
        .list_task_definitions()
        .family_prefix(&names.family)
        .status("ACTIVE".into())
        .send()
        .await
        .expect("list task definitions");
    assert!(
        revisions.task_definition_arns().is_empty(),
        "{:?}",
        revisions.task_definition_arns()
    );
    let targets = clients
        .applicationautoscaling
        .describe_scalable_targets()
        .service_namespace("ecs".into())
        .resource_ids(names.scaling_resource_id())
        .send()
        .await
        .expect("describe scalable targets");
    assert!(targets.scalable_targets().is_empty());
}

#[tokio::test]
async fn creating_twice_adopts_instead_of_duplicating() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let spec = api("v1.0.0");
    let first = r
        .create(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("create");
    // A second apply that lost its state write: create runs again.
    let second = r
        .create(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("create again adopts");
    assert_eq!(first, second);

    let albs = clients
        .elasticloadbalancingv2
        .describe_load_balancers()
        .send()
        .await
        .expect("list load balancers");
    let ours = albs
        .load_balancers()
        .iter()
        .filter(|lb| lb.load_balancer_name() == Some(names.load_balancer.as_str()))
        .count();
    assert_eq!(ours, 1, "one load balancer");
    let services = clients
        .ecs
        .list_services()
        .cluster(&names.cluster)
        .send()
        .await
        .expect("list services");
    assert_eq!(services.service_arns().len(), 1, "one service");
    let revisions = clients
        .ecs
        .list_task_definitions()
        .family_prefix(&names.family)
        .send()
        .await
        .expect("list task definitions");
    assert_eq!(
        revisions.task_definition_arns().len(),
        1,
        "an identical definition is not registered again"
    );
    r.delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect("delete");
    assert_nothing_left(clients, &names).await;
}

#[tokio::test]
async fn foreign_resources_are_refused_and_nothing_changes() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());

    // Someone else's load balancer under the component's name, without panka's tags.
    let net = network::resolve(&clients.ec2, None)
        .await
        .expect("default VPC");
    let sg = clients
        .ec2
        .create_security_group()
        .group_name("someone-elses")
        .description("not panka's")
        .vpc_id(&net.vpc_id)
        .send()
        .await
        .expect("create a security group");
    clients
        .elasticloadbalancingv2
        .create_load_balancer()
        .name(&names.load_balancer)
        .set_subnets(Some(net.private_subnet_ids.clone()))
        .security_groups(sg.group_id().unwrap_or_default())
        .send()
        .await
        .expect("create a foreign load balancer");

    let err = r
        .create(&ctx(), &wrap(&api("v1.0.0")), &inputs())
        .await
        .expect_err("a foreign load balancer is refused");
    assert_eq!(err.kind, ErrorKind::Foreign, "{err:?}");
    assert!(
        err.message.contains(&names.load_balancer),
        "{}",
        err.message
    );
    assert!(err.message.contains("no panka tags"), "{}", err.message);

    // Nothing was created.
    assert!(
        clients
            .iam
            .get_role()
            .role_name(&names.execution_role)
            .send()
            .await
            .is_err()
    );
    let groups = clients
        .cloudwatchlogs
        .describe_log_groups()
        .log_group_name_prefix(&names.log_group)
        .send()
        .await
        .expect("describe log groups");
    assert!(groups.log_groups().is_empty());
    for group in [&names.alb_security_group, &names.service_security_group] {
        assert_eq!(
            network::find_security_group(&clients.ec2, &net.vpc_id, group)
                .await
                .expect("look up"),
            None
        );
    }
    assert_eq!(r.read(&ctx(), &KnownIds::new()).await.expect("read"), None);

    // Delete refuses what is not the component's (the one ownership policy), before it
    // changes anything.
    let refused = r
        .delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect_err("a foreign load balancer is not deleted");
    assert_eq!(refused.kind, ErrorKind::Foreign, "{refused:?}");
    assert!(
        refused.message.contains(&names.load_balancer),
        "{}",
        refused.message
    );
    let still = clients
        .elasticloadbalancingv2
        .describe_load_balancers()
        .names(&names.load_balancer)
        .send()
        .await
        .expect("the foreign load balancer is still there");
    assert_eq!(still.load_balancers().len(), 1);

    // A log group of another component under this name is refused too, naming the owner.
    let other = ResourceContext {
        id: ComponentId::new("email-service", "worker"),
        ..ctx()
    };
    let moto2 = MotoServer::start();
    let account2 = moto2.account().await;
    create_secret(&account2).await;
    account2
        .clients
        .cloudwatchlogs
        .create_log_group()
        .log_group_name(&names.log_group)
        .set_tags(Some(other.tags().into_iter().collect()))
        .send()
        .await
        .expect("create another component's log group");
    let err = reconciler(&account2.clients)
        .create(&ctx(), &wrap(&api("v1.0.0")), &inputs())
        .await
        .expect_err("another component's log group is refused");
    assert_eq!(err.kind, ErrorKind::Foreign);
    assert!(
        err.message.contains("email-service/worker"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_service_without_ports_gets_no_load_balancer() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let mut worker = api("v2");
    worker.ports.clear();
    worker.load_balancer.enabled = false;
    worker.secrets.clear();
    worker.configs = None;
    worker.readiness = None;
    worker.infra.autoscaling = None;
    worker.infra.replicas = 1;
    worker.command = Some(vec!["worker".into(), "--queue".into()]);
    worker.cpu_architecture = CpuArchitecture::Arm64;
    let mut inputs = inputs();
    inputs.config_files.clear();
    // A client group from a database dependency: the tasks join it.
    let net = network::resolve(&clients.ec2, None)
        .await
        .expect("default VPC");
    let client_sg = clients
        .ec2
        .create_security_group()
        .group_name("db-clients")
        .description("database clients")
        .vpc_id(&net.vpc_id)
        .send()
        .await
        .expect("create a client group")
        .group_id()
        .unwrap_or_default()
        .to_string();
    inputs.dependencies.insert(
        ComponentId::new("email-service", "database"),
        BTreeMap::from([("client_security_group_id".to_string(), client_sg.clone())]),
    );

    let created = r
        .create(&ctx(), &wrap(&worker), &inputs)
        .await
        .expect("create");
    read_in_sync(&r, &worker, &inputs).await;
    assert_eq!(created.fields["load_balancer"], json!({"enabled": false}));
    assert_eq!(created.fields["client_security_groups"], json!([client_sg]));
    assert!(!created.outputs.contains_key("url"));
    assert!(
        clients
            .elasticloadbalancingv2
            .describe_load_balancers()
            .names(&names.load_balancer)
            .send()
            .await
            .is_err()
    );
    let svc_sg = created.physical_ids["service_security_group_id"].clone();
    assert!(
        ingress(clients, &svc_sg).await.is_empty(),
        "no ingress without a load balancer"
    );
    let policy = r
        .execution_policy(&ctx())
        .await
        .expect("read the policy")
        .expect("a policy");
    assert!(
        !policy.to_string().contains("secretsmanager"),
        "no secrets, no secret access: {policy}"
    );

    r.delete(&ctx(), &created.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
    assert_nothing_left(clients, &names).await;
    let client_group = clients
        .ec2
        .describe_security_groups()
        .group_ids(&client_sg)
        .send()
        .await
        .expect("the client group stays");
    assert_eq!(client_group.security_groups().len(), 1);
}

#[tokio::test]
async fn turning_the_load_balancer_off_removes_it() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let spec = api("v1.0.0");
    r.create(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("create");
    let mut off = spec.clone();
    off.load_balancer.enabled = false;
    let updated = r
        .update(&ctx(), &wrap(&off), &inputs())
        .await
        .expect("update");
    assert_eq!(updated.fields["load_balancer"], json!({"enabled": false}));
    read_in_sync(&r, &off, &inputs()).await;
    assert!(
        clients
            .elasticloadbalancingv2
            .describe_load_balancers()
            .names(&names.load_balancer)
            .send()
            .await
            .is_err(),
        "the load balancer is gone"
    );
    let vpc = default_vpc_id(clients).await;
    assert_eq!(
        network::find_security_group(&clients.ec2, &vpc, &names.alb_security_group)
            .await
            .expect("look up"),
        None
    );
    r.delete(&ctx(), &KnownIds::new(), DeleteOptions::default())
        .await
        .expect("delete");
}

/// The ECS service of `names`, as ECS describes it, unless it is gone.
pub(crate) async fn ecs_service(
    clients: &AwsClients,
    names: &Names,
) -> Option<aws_sdk_ecs::types::Service> {
    let out = clients
        .ecs
        .describe_services()
        .cluster(&names.cluster)
        .services(&names.service)
        .send()
        .await
        .expect("describe the service");
    out.services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .cloned()
}

/// The security groups an ECS service's tasks run with.
async fn task_groups(clients: &AwsClients, ctx: &ResourceContext) -> Vec<String> {
    let service = ecs_service(clients, &Names::new(ctx)).await;
    let mut groups: Vec<String> = service
        .iter()
        .filter_map(|s| s.network_configuration())
        .filter_map(|n| n.awsvpc_configuration())
        .flat_map(|v| v.security_groups().to_vec())
        .collect();
    groups.sort();
    groups
}

#[tokio::test]
async fn an_internal_load_balancer_admits_only_its_clients() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let r = reconciler(clients);
    let mut spec = api("v1.0.0");
    spec.load_balancer.internal = true;
    spec.load_balancer.listener_port = 8080;
    let created = r
        .create(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("create");
    read_in_sync(&r, &spec, &inputs()).await;
    assert!(
        created.outputs["url"].ends_with(":8080"),
        "{}",
        created.outputs["url"]
    );
    assert_eq!(created.fields["load_balancer"]["admits"], "its clients");
    let albs = clients
        .elasticloadbalancingv2
        .describe_load_balancers()
        .load_balancer_arns(&created.physical_ids["load_balancer_arn"])
        .send()
        .await
        .expect("describe the load balancer");
    assert_eq!(
        albs.load_balancers()[0].scheme().map(|s| s.as_str()),
        Some("internal")
    );
    let names = Names::new(&ctx());
    let vpc = default_vpc_id(clients).await;
    let client_group =
        network::find_security_group(&clients.ec2, &vpc, &names.clients_security_group)
            .await
            .expect("look up")
            .expect("the clients' group")
            .id;
    assert_eq!(created.outputs["client_security_group_id"], client_group);
    let alb_group = created.physical_ids["alb_security_group_id"].clone();
    assert_eq!(
        ingress(clients, &alb_group).await,
        [(8080, client_group.clone())],
        "only the clients' group, not the VPC"
    );

    // A service that references it runs with the clients' group; one that does not, not.
    let frontend = ResourceContext {
        id: ComponentId::new("web", "frontend"),
        ..ctx()
    };
    let mut referencing = inputs();
    referencing
        .dependencies
        .insert(ctx().id, created.outputs.clone());
    r.create(&frontend, &wrap(&api("v1.0.0")), &referencing)
        .await
        .expect("create the client");
    assert!(
        task_groups(clients, &frontend)
            .await
            .contains(&client_group),
        "the client's tasks have the group"
    );
    let bystander = ResourceContext {
        id: ComponentId::new("web", "bystander"),
        ..ctx()
    };
    r.create(&bystander, &wrap(&api("v1.0.0")), &inputs())
        .await
        .expect("create another service");
    assert!(
        !task_groups(clients, &bystander)
            .await
            .contains(&client_group)
    );

    // A load balancer an earlier panka opened to the whole VPC keeps that until a client
    // runs with the group, then loses it.
    let cidr = clients
        .ec2
        .describe_vpcs()
        .vpc_ids(&vpc)
        .send()
        .await
        .expect("describe the VPC")
        .vpcs()[0]
        .cidr_block()
        .unwrap_or_default()
        .to_string();
    clients
        .ec2
        .authorize_security_group_ingress()
        .group_id(&alb_group)
        .ip_protocol("tcp")
        .from_port(8080)
        .to_port(8080)
        .cidr_ip(&cidr)
        .send()
        .await
        .expect("open the VPC as before");
    let kept = r
        .update(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("update");
    assert_eq!(
        kept.fields["load_balancer"]["admits"],
        "its clients and the VPC"
    );
    let mut both = ingress(clients, &alb_group).await;
    both.sort();
    assert_eq!(both, [(8080, cidr.clone()), (8080, client_group.clone())]);
    let subnet = clients
        .ec2
        .describe_subnets()
        .send()
        .await
        .expect("subnets")
        .subnets()
        .iter()
        .find(|s| s.vpc_id() == Some(vpc.as_str()))
        .and_then(|s| s.subnet_id())
        .expect("a subnet of the default VPC")
        .to_string();
    let task_interface = clients
        .ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .groups(&client_group)
        .send()
        .await
        .expect("a client's task interface")
        .network_interface()
        .and_then(|i| i.network_interface_id())
        .unwrap_or_default()
        .to_string();
    let narrowed = r
        .update(&ctx(), &wrap(&spec), &inputs())
        .await
        .expect("update");
    assert_eq!(narrowed.fields["load_balancer"]["admits"], "its clients");
    assert_eq!(ingress(clients, &alb_group).await, [(8080, client_group)]);
    clients
        .ec2
        .delete_network_interface()
        .network_interface_id(task_interface)
        .send()
        .await
        .expect("the task is gone");

    for (ctx, known) in [
        (frontend, KnownIds::new()),
        (bystander, KnownIds::new()),
        (ctx(), created.physical_ids.clone()),
    ] {
        r.delete(&ctx, &known, DeleteOptions::default())
            .await
            .expect("delete");
        assert_nothing_left(clients, &Names::new(&ctx)).await;
    }
}

#[tokio::test]
async fn a_missing_secret_stops_the_create_before_anything_changes() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let r = reconciler(clients);
    let err = r
        .create(&ctx(), &wrap(&api("v1.0.0")), &inputs())
        .await
        .expect_err("the secret does not exist");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    assert!(
        err.message.contains(SECRET_NAME) && err.message.contains("DATABASE_PASSWORD"),
        "{}",
        err.message
    );
    let names = Names::new(&ctx());
    let clusters = clients
        .ecs
        .describe_clusters()
        .clusters(&names.cluster)
        .send()
        .await
        .expect("describe clusters");
    assert!(clusters.clusters().is_empty(), "no cluster was created");
    assert_nothing_left(clients, &names).await;
}

// ---------------------------------------------------------------- the task role

/// A queue created directly (as the SQS component would have): its URL and ARN.
async fn queue(clients: &AwsClients, name: &str) -> (String, String) {
    let url = clients
        .sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create a queue")
        .queue_url()
        .expect("a queue URL")
        .to_string();
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names("QueueArn".into())
        .send()
        .await
        .expect("read the queue ARN");
    let arn = attributes
        .attributes()
        .into_iter()
        .flatten()
        .find(|(name, _)| name.as_str() == "QueueArn")
        .map(|(_, arn)| arn.clone())
        .expect("a queue ARN");
    (url, arn)
}

/// The walkthrough's inputs with `email-service/queue` recorded as an SQS queue.
fn inputs_with_queue(url: &str, arn: &str) -> Inputs {
    let id = ComponentId::new("email-service", "queue");
    let mut inputs = inputs();
    inputs
        .resolved_env
        .insert("QUEUE_URL".to_string(), url.to_string());
    inputs.dependencies.insert(
        id.clone(),
        BTreeMap::from([
            ("url".to_string(), url.to_string()),
            ("arn".to_string(), arn.to_string()),
        ]),
    );
    inputs.dependency_kinds.insert(id, ComponentKind::Sqs);
    inputs
}

/// STS AssumeRole as ECS does for a task, sent as a plain query request: moto checks no
/// signature while its IAM enforcement is off. Returns the access key, secret and token.
fn assume_role(moto: &MotoServer, account_id: &str, role_arn: &str) -> (String, String, String) {
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleSessionName=ecs-task&RoleArn={}",
        form_value(role_arn)
    );
    let answer = raw_post(
        moto.port(),
        "/",
        &[
            ("Authorization", &unsigned_authorization("sts")),
            ("Content-Type", "application/x-www-form-urlencoded"),
            (ACCOUNT_ID_HEADER, account_id),
        ],
        &body,
    );
    let field = |tag: &str| {
        let open = format!("<{tag}>");
        let start = answer
            .find(&open)
            .unwrap_or_else(|| panic!("no {tag} in {answer}"))
            + open.len();
        let end = start + answer[start..].find('<').expect("closing tag");
        answer[start..end].to_string()
    };
    (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    )
}

/// Switches moto's IAM enforcement on: from now on every request needs valid credentials
/// and is checked against their policies.
fn enforce_iam(moto: &MotoServer) {
    let answer = raw_post(
        moto.port(),
        "/moto-api/reset-auth",
        &[("Content-Type", "text/plain")],
        "0",
    );
    assert!(answered_ok(&answer), "{answer}");
}

/// Clients acting in `account` with the given (assumed-role) credentials.
fn clients_as(
    account: &MotoAccount,
    (key, secret, token): &(String, String, String),
) -> AwsClients {
    let config = account
        .sdk_config
        .to_builder()
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new(key, secret, Some(token.clone()), None, "task"),
        ))
        .build();
    support::moto::account_clients(&config, &account.settings, &account.account_id)
}

/// Whether any statement of `policy` allows `action` on exactly `arn` (IAM's `*` and `?`
/// wildcards honoured, as IAM matches resources).
fn allows(policy: &Value, action: &str, arn: &str) -> bool {
    fn glob(pattern: &str, text: &str) -> bool {
        match (pattern.chars().next(), text.chars().next()) {
            (None, None) => true,
            (Some('*'), _) => {
                glob(&pattern[1..], text)
                    || (!text.is_empty()
                        && glob(
                            pattern,
                            &text[text.chars().next().map_or(0, char::len_utf8)..],
                        ))
            }
            (Some(p), Some(t)) if p == '?' || p == t => {
                glob(&pattern[p.len_utf8()..], &text[t.len_utf8()..])
            }
            _ => false,
        }
    }
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            s["Effect"] == "Allow"
                && list(&s["Action"]).iter().any(|a| glob(a, action))
                && list(&s["Resource"]).iter().any(|r| glob(r, arn))
        })
}

/// The proof, tried as ECS would: the api's task role, assumed through STS, uses
/// its queue and is refused on another one once moto enforces IAM; the execution role
/// reads exactly the api's secret.
#[tokio::test]
async fn the_task_role_reaches_exactly_its_queue_and_the_execution_role_its_secret() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    let secret_arn = create_secret(&account).await;
    let other_secret = support::moto::create_secret(
        clients,
        "/stacks/notification-platform/billing/api-key",
        "not the api's",
    )
    .await;
    let (queue_url, queue_arn) = queue(
        clients,
        "notification-platform-development-email-service-queue",
    )
    .await;
    let (other_url, _) = queue(clients, "someone-elses-queue").await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let spec = api("v1.0.0");
    let inputs = inputs_with_queue(&queue_url, &queue_arn);

    let created = r
        .create(&ctx(), &wrap(&spec), &inputs)
        .await
        .expect("create");
    read_in_sync(&r, &spec, &inputs).await;

    // The task definition runs with the task role.
    let task_role_arn = created.physical_ids["task_role_arn"].clone();
    assert!(
        task_role_arn.ends_with(&format!(":role/{}", names.task_role)),
        "{task_role_arn}"
    );
    let td = clients
        .ecs
        .describe_task_definition()
        .task_definition(&created.outputs["task_definition_arn"])
        .send()
        .await
        .expect("describe the task definition");
    assert_eq!(
        td.task_definition().and_then(|t| t.task_role_arn()),
        Some(task_role_arn.as_str())
    );

    // Trusted by ECS tasks of this account only.
    let role = clients
        .iam
        .get_role()
        .role_name(&names.task_role)
        .send()
        .await
        .expect("get the task role");
    let trust = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .unwrap_or_default()
        .to_string();
    let trust: Value = serde_json::from_str(&trust)
        .or_else(|_| serde_json::from_str(&decode::percent(&trust)))
        .expect("a JSON trust policy");
    assert_eq!(
        trust["Statement"][0],
        json!({
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account.account_id}}
        })
    );

    // Secrets Manager is not resource-checked by moto: the execution role's policy is.
    let execution = r
        .execution_policy(&ctx())
        .await
        .expect("read the execution policy")
        .expect("an execution policy");
    assert!(
        allows(&execution, "secretsmanager:GetSecretValue", &secret_arn),
        "{execution}"
    );
    assert!(
        !allows(&execution, "secretsmanager:GetSecretValue", &other_secret),
        "{execution}"
    );
    let task_policy = r
        .task_policy(&ctx())
        .await
        .expect("read")
        .expect("a task policy");
    assert!(
        !allows(&task_policy, "secretsmanager:GetSecretValue", &secret_arn),
        "{task_policy}"
    );
    eprintln!("task role policy: {task_policy}\nexecution role policy: {execution}");

    // As ECS would: credentials of the task role, then IAM enforced.
    let credentials = assume_role(&moto, &account.account_id, &task_role_arn);
    enforce_iam(&moto);
    let task = clients_as(&account, &credentials);
    task.sqs
        .send_message()
        .queue_url(&queue_url)
        .message_body("hello")
        .send()
        .await
        .expect("the task sends to its queue");
    let received = task
        .sqs
        .receive_message()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("the task receives from its queue");
    let message = received.messages().first().expect("the message sent");
    assert_eq!(message.body(), Some("hello"));
    task.sqs
        .delete_message()
        .queue_url(&queue_url)
        .receipt_handle(message.receipt_handle().expect("a receipt handle"))
        .send()
        .await
        .expect("the task deletes from its queue");
    let refused = task
        .sqs
        .send_message()
        .queue_url(&other_url)
        .message_body("hello")
        .send()
        .await
        .expect_err("another queue is refused");
    // moto answers an authorisation failure of the JSON SQS protocol in XML, which the SDK
    // cannot parse into a code: read the code from the raw answer then.
    let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&refused)
        .map(str::to_string)
        .or_else(|| {
            let raw = refused.raw_response()?;
            let body = String::from_utf8_lossy(raw.body().bytes()?).into_owned();
            (raw.status().as_u16() == 403 && body.contains("<Code>AccessDenied</Code>"))
                .then(|| "AccessDenied".to_string())
        })
        .unwrap_or_default();
    assert_eq!(code, "AccessDenied", "{refused:?}");
    // The admin's own (unknown) keys are refused too: the check above is enforcement.
    assert!(
        clients
            .sqs
            .send_message()
            .queue_url(&queue_url)
            .message_body("x")
            .send()
            .await
            .is_err(),
        "enforcement is on"
    );
}

/// An edited or deleted policy shows in `read` (what `drift` compares), a deleted task
/// role shows as missing, the next converge puts both back, `drift` finds a leftover
/// role, and `delete` removes the role.
#[tokio::test]
async fn an_edited_or_deleted_task_role_is_seen_and_repaired() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    create_secret(&account).await;
    let (queue_url, queue_arn) = queue(clients, "email-queue").await;
    let r = reconciler(clients);
    let names = Names::new(&ctx());
    let spec = api("v1.0.0");
    let inputs = inputs_with_queue(&queue_url, &queue_arn);
    let created = r
        .create(&ctx(), &wrap(&spec), &inputs)
        .await
        .expect("create");
    let wanted = r.normalise(&ctx(), &wrap(&spec), &inputs);
    let read = || async {
        r.read(&ctx(), &KnownIds::new())
            .await
            .expect("read")
            .expect("exists")
    };

    // Widened by hand: one more action on every queue.
    let widened = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "UseEmailServiceQueue", "Effect": "Allow",
        "Action": ["sqs:SendMessage", "sqs:PurgeQueue"], "Resource": "*"
    }]});
    clients
        .iam
        .put_role_policy()
        .role_name(&names.task_role)
        .policy_name(&names.task_policy)
        .policy_document(widened.to_string())
        .send()
        .await
        .expect("edit the policy");
    let drifted = read().await;
    assert_eq!(changed_paths(&wanted, &drifted.fields), ["task_role"]);
    assert_eq!(
        drifted.fields["task_role"]["policy"]["UseEmailServiceQueue"],
        json!({"actions": ["sqs:PurgeQueue", "sqs:SendMessage"], "resources": ["*"]})
    );

    // Detached: no inline policy left.
    clients
        .iam
        .delete_role_policy()
        .role_name(&names.task_role)
        .policy_name(&names.task_policy)
        .send()
        .await
        .expect("delete the policy");
    assert_eq!(read().await.fields["task_role"], json!({"policy": {}}));
    r.update(&ctx(), &wrap(&spec), &inputs)
        .await
        .expect("repair the policy");
    read_in_sync(&r, &spec, &inputs).await;

    // The whole role deleted: read says so, the next converge creates it again.
    clients
        .iam
        .delete_role_policy()
        .role_name(&names.task_role)
        .policy_name(&names.task_policy)
        .send()
        .await
        .expect("delete the policy");
    clients
        .iam
        .delete_role()
        .role_name(&names.task_role)
        .send()
        .await
        .expect("delete the role");
    assert_eq!(read().await.fields["task_role"], Value::Null);
    r.update(&ctx(), &wrap(&spec), &inputs)
        .await
        .expect("recreate the role");
    let repaired = read_in_sync(&r, &spec, &inputs).await;
    assert_eq!(repaired.physical_ids["task_role"], names.task_role);

    // drift's orphan listing sees the roles, tagged for the component.
    let owner = panka_core::drift::Owner {
        stack: ctx().stack,
        environment: ctx().environment,
    };
    let tagged = r.tagged(&owner).await.expect("list tagged resources");
    let roles: Vec<(&str, Option<&str>)> = tagged
        .iter()
        .filter(|t| t.kind == "iam_role")
        .map(|t| (t.id.as_str(), t.component.as_deref()))
        .collect();
    assert_eq!(
        roles,
        [
            (names.execution_role.as_str(), Some("email-service/api")),
            (names.task_role.as_str(), Some("email-service/api")),
        ]
    );

    r.delete(&ctx(), &created.physical_ids, DeleteOptions::default())
        .await
        .expect("delete");
    assert!(
        clients
            .iam
            .get_role()
            .role_name(&names.task_role)
            .send()
            .await
            .is_err(),
        "the task role is gone"
    );
}
