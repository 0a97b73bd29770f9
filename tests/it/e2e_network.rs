//! Network resolution and least-privilege security groups, on moto; and through the CLI,
//! the walkthrough's stack applied into a VPC with public and private subnets (placement
//! and the security-group chain, exactly), and a network that does not exist stopping
//! apply before any write.

use crate::support::cli::{panka_aws, text};
use crate::support::files::walkthrough_repo;
use crate::support::moto::{DB_SECRET as SECRET, MotoServer, create_secret, is_read_only};
use crate::support::vpc::{create_vpc, public_private_vpc};
use panka_core::model::{ComponentId, Network};
use panka_core::reconcile::{ErrorKind, ResourceContext};
use panka_providers::aws::AwsClients;
use panka_providers::network::{self, IngressRule, Source};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

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

#[tokio::test]
async fn default_vpc_and_explicit_networks_resolve_or_explain() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let ec2 = &account.clients.ec2;
    let default = network::resolve(ec2, None).await.expect("default VPC");
    assert!(default.vpc_id.starts_with("vpc-"));
    assert!(default.private_subnet_ids.len() >= 2, "{default:?}");
    assert_eq!(
        default.public_subnet_ids, default.private_subnet_ids,
        "the default subnets serve as both"
    );
    assert!(default.tasks_need_public_ip);

    // The older single list: one list for everything, tasks without a public IP.
    let explicit = Network::from_subnets(
        default.vpc_id.clone(),
        default.private_subnet_ids[..2].to_vec(),
    );
    let resolved = network::resolve(ec2, Some(&explicit))
        .await
        .expect("explicit");
    assert_eq!(resolved.private_subnet_ids, explicit.private_subnets);
    assert_eq!(resolved.public_subnet_ids, explicit.public_subnets);
    assert!(!resolved.tasks_need_public_ip);

    let other_vpc = create_vpc(&account.clients, "10.9.0.0/16").await;
    let wrong = Network::from_subnets(other_vpc, default.private_subnet_ids[..2].to_vec());
    let err = network::resolve(ec2, Some(&wrong))
        .await
        .expect_err("subnets of another VPC");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("not in the environment's VPC"),
        "{err}"
    );

    let missing = Network::from_subnets(
        default.vpc_id.clone(),
        vec![
            "subnet-00000000000000000".into(),
            "subnet-00000000000000001".into(),
        ],
    );
    let err = network::resolve(ec2, Some(&missing))
        .await
        .expect_err("unknown subnets");
    assert!(err.message.contains("subnet-00000000000000000"), "{err}");
}

#[tokio::test]
async fn security_groups_converge_to_exactly_the_wanted_rules() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let ec2 = &account.clients.ec2;
    let vpc = network::resolve(ec2, None).await.expect("vpc").vpc_id;
    let c = ctx("api");

    let alb = network::ensure_security_group(
        ec2,
        &c,
        &vpc,
        "shop-dev-web-api-alb",
        "ALB",
        &[IngressRule {
            port: 80,
            source: Source::Cidr("0.0.0.0/0".into()),
        }],
    )
    .await
    .expect("alb sg");
    let wanted = [IngressRule {
        port: 8080,
        source: Source::Group(alb.clone()),
    }];
    let svc =
        network::ensure_security_group(ec2, &c, &vpc, "shop-dev-web-api-svc", "service", &wanted)
            .await
            .expect("svc sg");
    let again =
        network::ensure_security_group(ec2, &c, &vpc, "shop-dev-web-api-svc", "service", &wanted)
            .await
            .expect("idempotent");
    assert_eq!(svc, again, "the same group is adopted, not duplicated");

    // A rule added by hand is removed; the wanted one stays.
    ec2.authorize_security_group_ingress()
        .group_id(&svc)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .expect("out-of-band rule");
    network::ensure_security_group(ec2, &c, &vpc, "shop-dev-web-api-svc", "service", &wanted)
        .await
        .expect("converge");
    let found = network::find_security_group(ec2, &vpc, "shop-dev-web-api-svc")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.ingress, wanted.to_vec());
    assert_eq!(
        found.tags.get("panka:component").map(String::as_str),
        Some("web/api")
    );

    // Another component's group of that name is refused and left alone.
    let err = network::ensure_security_group(
        ec2,
        &ctx("worker"),
        &vpc,
        "shop-dev-web-api-svc",
        "service",
        &[],
    )
    .await
    .expect_err("foreign");
    assert_eq!(err.kind, ErrorKind::Foreign);
    assert!(err.message.contains("web/api"), "{err}");
    let still = network::find_security_group(ec2, &vpc, "shop-dev-web-api-svc")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(still.ingress, wanted.to_vec());

    network::delete_security_group(ec2, &vpc, "shop-dev-web-api-svc", Duration::from_secs(5))
        .await
        .expect("delete");
    network::delete_security_group(ec2, &vpc, "shop-dev-web-api-svc", Duration::from_secs(5))
        .await
        .expect("deleting again is fine");
    assert!(
        network::find_security_group(ec2, &vpc, "shop-dev-web-api-svc")
            .await
            .expect("find")
            .is_none()
    );
}

// ------------------------------------------------------------------ through the CLI

const ENVIRONMENT_FILE: &str =
    "stacks/notification-platform/environments/development/environment.yaml";

/// A copy of the walkthrough's stack whose development environment uses `network` (the
/// YAML lines under `spec.network`).
fn repo_with_network(network: &str) -> tempfile::TempDir {
    let repo = walkthrough_repo();
    let file = repo.path().join(ENVIRONMENT_FILE);
    let environment = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, format!("{}  network:\n{network}", environment)).expect("write");
    repo
}

fn apply(moto: &MotoServer, repo: &Path) -> std::process::Output {
    panka_aws(repo, repo, &moto.endpoint())
        .args([
            "apply",
            "--stack",
            "notification-platform",
            "--environment",
            "development",
            "--auto-approve",
            "--var",
            "VERSION=v1.0.0",
            "--output",
            "json",
        ])
        .output()
        .expect("run panka")
}

async fn cli_clients(moto: &MotoServer) -> AwsClients {
    // The CLI runs in moto's default account, and so do these clients.
    let clients = moto.clients().await;
    create_secret(
        &clients,
        SECRET,
        r#"{"password":"network-test-password-1357"}"#,
    )
    .await;
    clients
}

/// Every inbound rule of a security group, exactly: `tcp <from>-<to> from <cidr|group>`,
/// any protocol, port range and source included, sorted.
async fn ingress(clients: &AwsClients, group_id: &str) -> Vec<String> {
    let out = clients
        .ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .expect("describe the security group");
    let [group] = out.security_groups() else {
        panic!("one group {group_id}: {out:?}");
    };
    let mut rules = Vec::new();
    for p in group.ip_permissions() {
        let head = format!(
            "{} {}-{}",
            p.ip_protocol().unwrap_or("?"),
            p.from_port().unwrap_or(-1),
            p.to_port().unwrap_or(-1)
        );
        let sources = p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
            .chain(p.user_id_group_pairs().iter().filter_map(|g| g.group_id()))
            .chain(
                p.prefix_list_ids()
                    .iter()
                    .filter_map(|l| l.prefix_list_id()),
            );
        for source in sources {
            rules.push(format!("{head} from {source}"));
        }
    }
    rules.sort();
    rules
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Issue 12's proving test: the walkthrough's stack applied into a VPC with public and
/// private subnets puts the load balancer in the public ones, the tasks (without a public
/// IP) and the DB subnet group in the private ones, and chains the security groups
/// load balancer → tasks (container port only) → database (clients group only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_runs_in_private_subnets_behind_a_public_load_balancer() {
    let moto = MotoServer::start_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "2")]);
    let clients = cli_clients(&moto).await;
    let (vpc, public, private) = public_private_vpc(&clients).await;
    let repo = repo_with_network(&format!(
        "    vpcId: {vpc}\n    publicSubnets: [{}]\n    privateSubnets: [{}]\n",
        public.join(", "),
        private.join(", ")
    ));

    let out = apply(&moto, repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["result"], "success", "{doc}");

    // The load balancer: internet-facing, in the public subnets, behind its own group.
    let balancers = clients
        .elasticloadbalancingv2
        .describe_load_balancers()
        .send()
        .await
        .expect("load balancers");
    let [alb] = balancers.load_balancers() else {
        panic!("one load balancer: {balancers:?}");
    };
    assert_eq!(alb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(alb.vpc_id(), Some(vpc.as_str()));
    let alb_subnets = sorted(
        alb.availability_zones()
            .iter()
            .filter_map(|z| z.subnet_id().map(str::to_string))
            .collect(),
    );
    assert_eq!(
        alb_subnets, public,
        "the load balancer is in the public subnets"
    );
    let [alb_sg] = alb.security_groups() else {
        panic!("one load balancer group: {alb:?}");
    };
    assert_eq!(
        ingress(&clients, alb_sg).await,
        ["tcp 80-80 from 0.0.0.0/0"],
        "the listener port from anywhere, nothing else"
    );

    // The tasks: private subnets, no public IP, their group and the database's clients.
    let services = clients
        .ecs
        .describe_services()
        .cluster("notification-platform-development")
        .services("notification-platform-development-email-service-api")
        .send()
        .await
        .expect("describe the api service");
    let [api] = services.services() else {
        panic!("one api service: {services:?}");
    };
    let awsvpc = api
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .expect("awsvpc configuration");
    assert_eq!(
        sorted(awsvpc.subnets().to_vec()),
        private,
        "tasks run in the private subnets"
    );
    assert_eq!(
        awsvpc.assign_public_ip().map(|a| a.as_str()),
        Some("DISABLED"),
        "no public IP on tasks"
    );
    let task_groups = awsvpc.security_groups().to_vec();
    assert_eq!(
        task_groups.len(),
        2,
        "the tasks' group and the DB clients group: {task_groups:?}"
    );

    // The database: private subnets; its group admits 5432 from its clients group only,
    // and the tasks wear that clients group.
    let databases = clients
        .rds
        .describe_db_instances()
        .send()
        .await
        .expect("describe DB instances");
    let [db] = databases.db_instances() else {
        panic!("one database: {databases:?}");
    };
    let subnet_group = db.db_subnet_group().expect("a DB subnet group");
    assert_eq!(subnet_group.vpc_id(), Some(vpc.as_str()));
    assert_eq!(
        sorted(
            subnet_group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))
                .collect()
        ),
        private,
        "the DB subnet group holds the private subnets"
    );
    let db_groups: Vec<&str> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    let [db_sg] = db_groups.as_slice() else {
        panic!("one database group: {db_groups:?}");
    };
    let db_rules = ingress(&clients, db_sg).await;
    let [db_rule] = db_rules.as_slice() else {
        panic!("one database rule: {db_rules:?}");
    };
    let clients_sg = db_rule
        .strip_prefix("tcp 5432-5432 from ")
        .expect("5432 from one group")
        .to_string();
    assert!(
        task_groups.contains(&clients_sg),
        "the tasks are attached to the DB clients group {clients_sg}: {task_groups:?}"
    );
    assert!(
        ingress(&clients, &clients_sg).await.is_empty(),
        "the clients group admits nothing"
    );
    let tasks_sg = task_groups
        .iter()
        .find(|g| **g != clients_sg)
        .expect("the tasks' own group");
    assert_eq!(
        ingress(&clients, tasks_sg).await,
        [format!("tcp 8080-8080 from {alb_sg}")],
        "the tasks admit the container port from the load balancer's group only"
    );
}

/// Subnets that do not exist, or lie in another VPC, stop apply with exit 1 before any
/// write, each named at its `file:line:column` in the environment file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_subnet_stops_apply_before_any_write() {
    let (moto, recording) = MotoServer::start_recording(&[("MOTO_ECS_SERVICE_RUNNING", "2")]);
    let clients = cli_clients(&moto).await;
    let (vpc, public, private) = public_private_vpc(&clients).await;
    let elsewhere = network::resolve(&clients.ec2, None)
        .await
        .expect("the default VPC")
        .private_subnet_ids[0]
        .clone();
    let unknown = "subnet-0123456789abcdef0";
    let repo = repo_with_network(&format!(
        "    vpcId: {vpc}\n    publicSubnets: [{}, {}]\n    privateSubnets: [{}, {unknown}, {elsewhere}]\n",
        public[0], public[1], private[0]
    ));
    let environment = std::fs::read_to_string(repo.path().join(ENVIRONMENT_FILE)).expect("read");
    let line = |needle: &str| {
        let (n, text) = environment
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle) && l.contains("privateSubnets"))
            .expect("the line");
        let column = text[..text.find(needle).expect("on it")].chars().count() + 1;
        format!("{ENVIRONMENT_FILE}:{}:{column}", n + 1)
    };

    let before = recording.entries().len();
    let out = apply(&moto, repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let message = doc["error"]["message"].as_str().expect("message");
    for expected in [
        "the environment's network has 2 problems; nothing was changed".to_string(),
        format!(
            "{}: subnet {unknown} does not exist in this account and region",
            line(unknown)
        ),
        format!("{}: subnet {elsewhere} is in ", line(&elsewhere)),
        format!("not in the environment's VPC {vpc}"),
    ] {
        assert!(
            message.contains(&expected),
            "missing `{expected}` in\n{message}"
        );
    }
    let operations = recording.operations_since(before);
    assert!(
        operations.iter().any(|op| op == "DescribeSubnets"),
        "the preflight asked EC2: {operations:?}"
    );
    let writes: Vec<&String> = operations.iter().filter(|op| !is_read_only(op)).collect();
    assert!(writes.is_empty(), "the refused apply wrote: {writes:?}");
    let state = repo
        .path()
        .join(".panka/stacks/notification-platform/development/state.json");
    assert!(!state.exists(), "no state was written");
}
