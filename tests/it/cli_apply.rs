//! `panka apply` end to end on moto with the local state backend: first apply, re-apply
//! with nothing to change, an in-place update, a failure rolled back (exit 4), and a
//! production apply refused without approval.

use crate::support::cli::{panka_aws, text};
use crate::support::files::write;
use crate::support::moto::{MotoServer, create_secret};
use assert_cmd::Command;
use serde_json::Value;

const STACK: &str = "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: aws\n    region: us-east-1\n";
const SERVICE: &str =
    "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: orders\n  stack: shop\n";

fn queue(name: &str, visibility: u32) -> String {
    format!(
        "apiVersion: components.panka.io/v1\nkind: SQS\nmetadata:\n  name: {name}\n  service: orders\n  stack: shop\nspec:\n  type: standard\n  visibilityTimeout: {visibility}\n  deadLetterQueue:\n    enabled: true\n    maxReceiveCount: 3\n"
    )
}

fn database(name: &str, secret: &str) -> String {
    format!(
        "apiVersion: components.panka.io/v1\nkind: RDS\nmetadata:\n  name: {name}\n  service: orders\n  stack: shop\nspec:\n  engine:\n    type: postgres\n    version: \"15.4\"\n  instance:\n    class: db.t3.small\n    storage:\n      type: gp3\n      allocatedGB: 20\n  database:\n    name: orders\n    username: orders_admin\n    passwordSecret:\n      ref: {secret}\n"
    )
}

struct Env {
    moto: MotoServer,
    repo: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        let moto = MotoServer::start();
        let repo = tempfile::tempdir().expect("tempdir");
        let root = repo.path().join("stacks/shop");
        write(&root, "stack.yaml", STACK);
        write(&root, "services/orders/service.yaml", SERVICE);
        write(
            &root,
            "services/orders/components/queue/sqs.yaml",
            &queue("queue", 60),
        );
        write(
            &root,
            "services/orders/components/db/rds.yaml",
            &database("db", "/shop/orders/db-password"),
        );
        create_secret(
            &moto.clients().await,
            "/shop/orders/db-password",
            r#"{"password":"canary-Secret-4242"}"#,
        )
        .await;
        Env { moto, repo }
    }

    fn panka(&self) -> Command {
        let home = self.repo.path();
        panka_aws(home, home, &self.moto.endpoint())
    }

    async fn clients(&self) -> panka_providers::aws::AwsClients {
        self.moto.clients().await
    }

    fn state(&self) -> Value {
        let path = self
            .repo
            .path()
            .join(".panka/stacks/shop/development/state.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("state")).expect("json")
    }

    fn records(&self) -> Vec<Value> {
        let dir = self
            .repo
            .path()
            .join(".panka/stacks/shop/development/deployments");
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("records")
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_updates_and_changes_nothing_when_nothing_changed() {
    let env = Env::new().await;
    let out = env
        .panka()
        .args([
            "apply",
            "--stack",
            "shop",
            "--auto-approve",
            "--output",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["result"], "success");
    let queue_url = doc["outputs"]["orders/queue"]["url"]
        .as_str()
        .expect("queue url")
        .to_string();
    assert!(
        doc["outputs"]["orders/db"]["endpoint"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{doc}"
    );
    assert!(
        !text(&out).contains("canary-Secret-4242"),
        "the password never appears in output"
    );

    let state = env.state();
    assert_eq!(state["components"].as_object().map(|c| c.len()), Some(2));
    let state_text = serde_json::to_string(&state).expect("text");
    assert!(!state_text.contains("canary-Secret-4242"), "nor in state");
    let records = env.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["result"], "success");
    assert!(
        !serde_json::to_string(&records)
            .expect("text")
            .contains("canary-Secret-4242"),
        "nor in history"
    );

    // Nothing changed: no AWS write, no state write.
    let serial = state["serial"].clone();
    let again = env
        .panka()
        .args(["apply", "--stack", "shop", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(text(&again).contains("No changes"), "{}", text(&again));
    assert_eq!(env.state()["serial"], serial);

    // An in-place update of one attribute.
    write(
        &env.repo.path().join("stacks/shop"),
        "services/orders/components/queue/sqs.yaml",
        &queue("queue", 120),
    );
    let update = env
        .panka()
        .args(["apply", "--stack", "shop", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(update.status.code(), Some(0), "{}", text(&update));
    assert!(
        text(&update).contains("~ orders/queue (SQS)"),
        "{}",
        text(&update)
    );
    let attrs = env
        .clients()
        .await
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names("VisibilityTimeout".into())
        .send()
        .await
        .expect("attributes");
    assert_eq!(
        attrs
            .attributes()
            .and_then(|a| a.get(&"VisibilityTimeout".into()))
            .map(String::as_str),
        Some("120")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_change_is_rolled_back_and_exits_4() {
    let env = Env::new().await;
    let first = env
        .panka()
        .args(["apply", "--stack", "shop", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let root = env.repo.path().join("stacks/shop");
    // Wave 1 gets a new queue (fine) and one whose name is taken by a queue panka does not
    // own (refused when created: the secrets preflight would stop a missing secret before
    // anything starts, so the failure has to come from AWS).
    let foreign = env
        .clients()
        .await
        .sqs
        .create_queue()
        .queue_name("shop-development-orders-reports")
        .send()
        .await
        .expect("foreign queue");
    let foreign_url = foreign.queue_url().expect("url").to_string();
    write(
        &root,
        "services/orders/components/audit/sqs.yaml",
        &queue("audit", 30),
    );
    write(
        &root,
        "services/orders/components/reports/sqs.yaml",
        &queue("reports", 30),
    );
    let out = env
        .panka()
        .args(["apply", "--stack", "shop", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("rolled back"), "{}", text(&out));
    let queues = env
        .clients()
        .await
        .sqs
        .list_queues()
        .send()
        .await
        .expect("list");
    assert!(
        !queues
            .queue_urls()
            .iter()
            .any(|u| u.ends_with("shop-development-orders-audit")),
        "the queue created in the failed wave was deleted: {:?}",
        queues.queue_urls()
    );
    assert!(
        queues.queue_urls().contains(&foreign_url),
        "the queue panka does not own is left alone: {:?}",
        queues.queue_urls()
    );
    let state = env.state();
    assert!(state["components"].get("orders/audit").is_none());
    assert!(
        state["components"].get("orders/queue").is_some(),
        "earlier work stays"
    );
    let records = env.records();
    assert_eq!(
        records.last().map(|r| r["result"].clone()),
        Some(Value::from("rolled_back"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_needs_approval_without_a_terminal() {
    let env = Env::new().await;
    let out = env
        .panka()
        .args(["apply", "--stack", "shop", "--environment", "production"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("requires approval"), "{}", text(&out));
    let queues = env
        .clients()
        .await
        .sqs
        .list_queues()
        .send()
        .await
        .expect("list");
    assert!(queues.queue_urls().is_empty(), "nothing was created");
    let status = env
        .panka()
        .args(["lock", "status", "--stack", "shop", "-e", "production"])
        .output()
        .expect("run");
    assert!(
        text(&status).contains("Not locked"),
        "the lock was released: {}",
        text(&status)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_apply_only_against_their_state_and_files() {
    let env = Env::new().await;
    let root = env.repo.path().join("stacks/shop");
    let plan = |file: &str| {
        let out = env
            .panka()
            .args(["plan", "--stack", "shop", "--out", file])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    plan("first.json");
    let out = env
        .panka()
        .args(["apply", "--stack", "shop", "--auto-approve", "first.json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The files changed since the plan was saved.
    plan("unchanged.json");
    write(
        &root,
        "services/orders/components/queue/sqs.yaml",
        &queue("queue", 90),
    );
    let out = env
        .panka()
        .args([
            "apply",
            "--stack",
            "shop",
            "--auto-approve",
            "unchanged.json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no longer give the saved plan"),
        "{}",
        text(&out)
    );

    // The state changed since the plan was saved.
    plan("stale.json");
    let out = env
        .panka()
        .args(["apply", "--stack", "shop", "--auto-approve"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let serial = env.state()["serial"].clone();
    let out = env
        .panka()
        .args(["apply", "--stack", "shop", "--auto-approve", "stale.json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the state is now serial"),
        "{}",
        text(&out)
    );
    assert_eq!(env.state()["serial"], serial, "nothing was written");
}
