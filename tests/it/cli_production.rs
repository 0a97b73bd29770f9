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

use crate::support::moto::{MotoServer, test_sdk_config};
use assert_cmd::Command;
use panka_providers::aws::AwsClients;
use serde_json::Value;
use std::path::{Path, PathBuf};

const SECRET: &str = "/stacks/notification-platform/email-service/db-password";
const PASSWORD: &str = "production-db-password-8642";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn panka(moto: &MotoServer, repo: &Path) -> Command {
    let mut cmd = Command::cargo_bin("panka").expect("binary");
    cmd.current_dir(repo)
        .env("HOME", repo)
        .env_remove("PANKA_CONFIG")
        .env_remove("PANKA_ENVIRONMENT")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", repo.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", repo.join("none"))
        .env("PANKA_USER", "alice")
        .env("NO_COLOR", "1");
    cmd
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

fn text(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The requests moto recorded, one JSON object a line.
struct Recording(PathBuf);

impl Recording {
    fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.0)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a recorded request"))
            .collect()
    }

    /// The AWS operations of the requests recorded after the first `from`.
    fn operations_since(&self, from: usize) -> Vec<String> {
        self.entries().iter().skip(from).map(operation).collect()
    }
}

/// The operation a recorded request called: the JSON protocols name it in
/// `X-Amz-Target` (`AmazonEC2ContainerServiceV20141113.DescribeServices`), the query
/// protocols in the body's `Action=`.
fn operation(entry: &Value) -> String {
    let target = entry["headers"].as_object().and_then(|headers| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, value)| value.as_str())
    });
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let body = entry["body"].as_str().unwrap_or_default();
    let body = if entry["body_encoded"].as_bool() == Some(true) {
        String::from_utf8_lossy(&base64_decode(body)).to_string()
    } else {
        body.to_string()
    };
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "<unknown: {} {}>",
                entry["method"].as_str().unwrap_or("?"),
                entry["url"].as_str().unwrap_or("?")
            )
        })
}

/// Standard base64 (moto stores request bodies so); enough for a test, no crate needed.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |acc, (i, &s)| acc | (u32::from(s) << (18 - 6 * i)));
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn read_only(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

/// A VPC with two subnets in two zones, standing in for the fixture's `vpc-0abc` and
/// `subnet-1`, `subnet-2`; returns `(vpc, [subnet, subnet])`.
async fn network(clients: &AwsClients) -> (String, Vec<String>) {
    let vpc = clients
        .ec2
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .send()
        .await
        .expect("create the VPC")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("a VPC id")
        .to_string();
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.20.1.0/24", "us-east-1a"),
        ("10.20.2.0/24", "us-east-1b"),
    ] {
        let subnet = clients
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .expect("create a subnet")
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("a subnet id")
            .to_string();
        subnets.push(subnet);
    }
    (vpc, subnets)
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
    let recording_dir = tempfile::tempdir().expect("tempdir");
    let recording = Recording(recording_dir.path().join("requests.jsonl"));
    let recording_path = recording.0.to_string_lossy().to_string();
    let moto = MotoServer::start_with_env(&[
        ("MOTO_ECS_SERVICE_RUNNING", "3"),
        ("MOTO_ENABLE_RECORDING", "true"),
        ("MOTO_RECORDER_FILEPATH", &recording_path),
    ]);
    // The CLI runs in moto's default account, and so do these clients.
    let settings = moto.settings();
    let clients = AwsClients::new(&test_sdk_config(&settings).await, &settings);
    clients
        .secretsmanager
        .create_secret()
        .name(SECRET)
        .secret_string(format!(r#"{{"password":"{PASSWORD}"}}"#))
        .send()
        .await
        .expect("the password secret");
    let (vpc, subnets) = network(&clients).await;

    let repo = tempfile::tempdir().expect("tempdir");
    let stack = repo.path().join("stacks/notification-platform");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/notification-platform"),
        &stack,
    );
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
        .filter(|op| !read_only(op))
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
    let writes: Vec<&String> = operations.iter().filter(|op| !read_only(op)).collect();
    assert!(writes.is_empty(), "the re-apply wrote: {writes:?}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).expect("state"))
        .expect("state json");
    assert_eq!(state["serial"], serial, "nor was state written");
}
