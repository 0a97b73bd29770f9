//! The walkthrough's production deploy through the CLI on moto: the fixture's production
//! environment (its own VPC and subnets, created here and written into a copy of the
//! fixture), refused without a terminal and without `--auto-approve` with nothing created,
//! then applied with it — db.t3.medium, 50 GB, 3 replicas — and re-applied with no AWS
//! write at all.
//!
//! The server runs with `MOTO_ECS_SERVICE_RUNNING=3` (moto starts no tasks, so it is told
//! how many to report running: the production override's count) and records every
//! request it receives (`MOTO_ENABLE_RECORDING`), which is how "nothing was written" is
//! checked: every request of a run must be a `Describe*`, `List*` or `Get*`.

use crate::support::cli::{panka_aws, text};
use crate::support::files::walkthrough_repo;
use crate::support::moto::{DB_SECRET as SECRET, MotoServer, create_secret, is_read_only};
use crate::support::vpc::two_subnet_vpc;
use assert_cmd::Command;
use panka_providers::aws::AwsClients;
use serde_json::Value;
use std::path::Path;

const PASSWORD: &str = "production-db-password-8642";

fn panka(moto: &MotoServer, repo: &Path) -> Command {
    panka_aws(repo, repo, &moto.endpoint())
}

fn apply(moto: &MotoServer, repo: &Path, extra: &[&str]) -> std::process::Output {
    panka(moto, repo)
        .args([
            "apply",
            "--stack",
            "notification-platform",
            "--environment",
            "production",
            "--var",
            "VERSION=v1.0.0",
        ])
        .args(extra)
        .output()
        .expect("run panka")
}

/// Everything the stack would create, as counts: queues, DB instances, load balancers,
/// ECS clusters.
async fn created(clients: &AwsClients) -> (usize, usize, usize, usize) {
    let queues = clients.sqs.list_queues().send().await.expect("list queues");
    let databases = clients
        .rds
        .describe_db_instances()
        .send()
        .await
        .expect("list DB instances");
    let balancers = clients
        .elasticloadbalancingv2
        .describe_load_balancers()
        .send()
        .await
        .expect("list load balancers");
    let clusters = clients
        .ecs
        .list_clusters()
        .send()
        .await
        .expect("list clusters");
    (
        queues.queue_urls().len(),
        databases.db_instances().len(),
        balancers.load_balancers().len(),
        clusters.cluster_arns().len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_is_refused_without_approval_then_applied_with_its_overrides() {
    let (moto, recording) = MotoServer::start_recording(&[("MOTO_ECS_SERVICE_RUNNING", "3")]);
    // The CLI runs in moto's default account, and so do these clients.
    let clients = moto.clients().await;
    create_secret(&clients, SECRET, &format!(r#"{{"password":"{PASSWORD}"}}"#)).await;
    let (vpc, subnets) = two_subnet_vpc(&clients).await;

    let repo = walkthrough_repo();
    let stack = repo.path().join("stacks/notification-platform");
    let environment_file = stack.join("environments/production/environment.yaml");
    let environment = std::fs::read_to_string(&environment_file).expect("read");
    let rewritten = environment
        .replace("vpcId: vpc-0abc", &format!("vpcId: {vpc}"))
        .replace(
            "subnets: [subnet-1, subnet-2]",
            &format!("subnets: [{}, {}]", subnets[0], subnets[1]),
        );
    assert!(
        rewritten.contains(&vpc) && rewritten.contains(&subnets[1]),
        "the fixture's network ids were rewritten:\n{rewritten}"
    );
    std::fs::write(&environment_file, rewritten).expect("write");
    let state_file = repo
        .path()
        .join(".panka/stacks/notification-platform/production/state.json");

    // ---- no terminal, no --auto-approve: refused, nothing written anywhere
    let before = recording.entries().len();
    let refused = apply(&moto, repo.path(), &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("requires approval"),
        "{}",
        text(&refused)
    );
    let writes: Vec<String> = recording
        .operations_since(before)
        .into_iter()
        .filter(|op| !is_read_only(op))
        .collect();
    assert!(writes.is_empty(), "the refused apply wrote: {writes:?}");
    assert_eq!(created(&clients).await, (0, 0, 0, 0), "nothing was created");
    assert!(!state_file.exists(), "no state was written");

    // ---- with --auto-approve: the production overrides, in the environment's network
    let approved = apply(&moto, repo.path(), &["--auto-approve", "--output", "json"]);
    assert_eq!(approved.status.code(), Some(0), "{}", text(&approved));
    assert!(
        !text(&approved).contains(PASSWORD),
        "the password never appears in output"
    );
    let doc: Value = serde_json::from_slice(&approved.stdout).expect("json");
    assert_eq!(doc["result"], "success", "{doc}");
    // moto's load balancer names do not resolve: the HTTP check is skipped, visibly.
    assert!(
        String::from_utf8_lossy(&approved.stderr).contains("GET /health/ready skipped: "),
        "{}",
        text(&approved)
    );

    let databases = clients
        .rds
        .describe_db_instances()
        .send()
        .await
        .expect("describe DB instances");
    let [db] = databases.db_instances() else {
        panic!("one database: {databases:?}");
    };
    assert_eq!(db.db_instance_class(), Some("db.t3.medium"));
    assert_eq!(db.allocated_storage(), Some(50));
    assert_eq!(db.deletion_protection(), Some(true), "on in production");
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.vpc_id()),
        Some(vpc.as_str()),
        "in the environment's VPC"
    );

    let cluster = "notification-platform-production";
    let services = clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .services("notification-platform-production-email-service-api")
        .send()
        .await
        .expect("describe the api service");
    let [api] = services.services() else {
        panic!("one api service: {services:?}");
    };
    assert_eq!(api.desired_count(), 3, "the production override");
    let mut api_subnets: Vec<String> = api
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|v| v.subnets().to_vec())
        .unwrap_or_default();
    api_subnets.sort();
    let mut wanted_subnets = subnets.clone();
    wanted_subnets.sort();
    assert_eq!(api_subnets, wanted_subnets);
    assert_eq!(
        created(&clients).await,
        (2, 1, 1, 1),
        "queue + DLQ, db, ALB, cluster"
    );
    let serial = serde_json::from_str::<Value>(
        &std::fs::read_to_string(&state_file).expect("state written"),
    )
    .expect("state json")["serial"]
        .clone();

    // ---- again, unchanged: no_changes, and only reads reach AWS
    let before = recording.entries().len();
    let again = apply(&moto, repo.path(), &["--auto-approve", "--output", "json"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let doc: Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(doc["result"], "no_changes", "{doc}");
    let operations = recording.operations_since(before);
    assert!(
        operations.iter().any(|op| op == "DescribeDBInstances"),
        "the re-apply refreshed from AWS: {operations:?}"
    );
    let writes: Vec<&String> = operations.iter().filter(|op| !is_read_only(op)).collect();
    assert!(writes.is_empty(), "the re-apply wrote: {writes:?}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).expect("state"))
        .expect("state json");
    assert_eq!(state["serial"], serial, "nor was state written");
}
