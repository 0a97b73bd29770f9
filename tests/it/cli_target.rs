//! `--target` on moto with the walkthrough's stack plus an independent `audit` queue: a
//! targeted apply (from a saved plan) creates only the target and what it depends on,
//! state records only those, deletes happen only when targeted, and a later untargeted
//! apply creates the rest. ECS on moto starts no tasks unless told how many to report
//! running, so this server runs with `MOTO_ECS_SERVICE_RUNNING=2`.

use crate::support::cli::{panka_aws, text};
use crate::support::files::{copy_dir, walkthrough};
use crate::support::moto::{DB_SECRET, MotoServer, create_secret};
use serde_json::Value;

const AUDIT: &str = "apiVersion: components.panka.io/v1\nkind: SQS\nmetadata:\n  name: audit\n  service: email-service\n  stack: notification-platform\nspec:\n  type: standard\n";

struct Env {
    moto: MotoServer,
    repo: tempfile::TempDir,
    clients: panka_providers::aws::AwsClients,
}

impl Env {
    fn stack(&self) -> std::path::PathBuf {
        self.repo.path().join("stacks/notification-platform")
    }

    /// `panka ARGS --stack … --var VERSION=v1.0.0`, expecting `code`; the JSON document
    /// on stdout (Null when there is none).
    fn run(&self, args: &[&str], code: i32) -> (Value, String) {
        let home = self.repo.path();
        let out = panka_aws(home, home, &self.moto.endpoint())
            .args(args)
            .args([
                "--stack",
                "notification-platform",
                "--var",
                "VERSION=v1.0.0",
            ])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        (
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            text(&out),
        )
    }

    fn recorded(&self) -> Vec<String> {
        let path = self
            .repo
            .path()
            .join(".panka/stacks/notification-platform/development/state.json");
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("state")).expect("json");
        state["components"]
            .as_object()
            .expect("components")
            .keys()
            .cloned()
            .collect()
    }

    /// Queue names in moto (dead-letter queues left out).
    async fn queues(&self) -> Vec<String> {
        let listed = self.clients.sqs.list_queues().send().await.expect("list");
        let mut names: Vec<String> = listed
            .queue_urls()
            .iter()
            .filter_map(|u| u.rsplit('/').next())
            .filter(|n| !n.contains("dlq"))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    async fn services(&self) -> usize {
        let clusters = self
            .clients
            .ecs
            .list_clusters()
            .send()
            .await
            .expect("clusters");
        let mut n = 0;
        for cluster in clusters.cluster_arns() {
            let services = self
                .clients
                .ecs
                .list_services()
                .cluster(cluster)
                .send()
                .await
                .expect("services");
            n += services.service_arns().len();
        }
        n
    }
}

fn changes(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "noop")
        .map(|c| {
            (
                c["component"].as_str().unwrap_or("").to_string(),
                c["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targeted_applies_create_only_the_target_and_its_dependencies() {
    let moto = MotoServer::start_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "2")]);
    let repo = tempfile::tempdir().expect("tempdir");
    let clients = moto.clients().await;
    let env = Env {
        moto,
        repo,
        clients,
    };
    copy_dir(&walkthrough(), &env.stack());
    let audit_dir = env.stack().join("services/email-service/components/audit");
    std::fs::create_dir_all(&audit_dir).expect("mkdir");
    std::fs::write(audit_dir.join("sqs.yaml"), AUDIT).expect("audit");
    create_secret(
        &env.clients,
        DB_SECRET,
        r#"{"password":"canary-Target-8080"}"#,
    )
    .await;

    // A typo is refused before anything is locked, read or created.
    let (_, shown) = env.run(
        &["apply", "--auto-approve", "--target", "email-service/queu"],
        1,
    );
    assert!(
        shown.contains("did you mean `email-service/queue`?"),
        "{shown}"
    );
    assert!(!shown.contains("Acquiring lock"), "{shown}");
    assert!(env.queues().await.is_empty());

    // The api's plan brings the database and the queue, not the audit queue.
    let (plan, _) = env.run(
        &[
            "plan",
            "--target",
            "email-service/api",
            "--out",
            "api.json",
            "--output",
            "json",
        ],
        0,
    );
    assert_eq!(
        changes(&plan),
        pairs(&[
            ("email-service/database", "create"),
            ("email-service/queue", "create"),
            ("email-service/api", "create"),
        ])
    );
    assert_eq!(plan["targets"], serde_json::json!(["email-service/api"]));

    // Applying the saved plan keeps its targets (none are given here).
    let (done, _) = env.run(
        &["apply", "--auto-approve", "--output", "json", "api.json"],
        0,
    );
    assert_eq!(done["result"], "success", "{done}");
    assert_eq!(
        env.recorded(),
        [
            "email-service/api",
            "email-service/database",
            "email-service/queue"
        ]
    );
    assert_eq!(
        env.queues().await,
        ["notification-platform-development-email-service-queue"]
    );
    assert_eq!(env.services().await, 1);

    // The deployment record carries what each change took, for the next estimates.
    let records_dir = env
        .repo
        .path()
        .join(".panka/stacks/notification-platform/development/deployments");
    let record: Value = std::fs::read_dir(&records_dir)
        .expect("records")
        .flatten()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.path()).expect("read")).expect("json")
        })
        .next()
        .expect("one record");
    let measured: Vec<&String> = record["durations_s"]
        .as_object()
        .expect("durations")
        .keys()
        .collect();
    assert_eq!(
        measured,
        [
            "email-service/api:create",
            "email-service/database:create",
            "email-service/queue:create"
        ]
    );
    // The state keeps the same measurements by kind, which is what plans read.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(records_dir.with_file_name("state.json")).expect("state"),
    )
    .expect("json");
    let kept: Vec<&String> = state["durations_s"]
        .as_object()
        .expect("durations in state")
        .keys()
        .collect();
    assert_eq!(kept, ["MicroService:create", "RDS:create", "SQS:create"]);

    // A saved plan applies with its own targets, not others.
    env.run(
        &["plan", "--target", "email-service/queue", "--out", "q.json"],
        0,
    );
    let (_, shown) = env.run(
        &[
            "apply",
            "--auto-approve",
            "--target",
            "email-service/audit",
            "q.json",
        ],
        1,
    );
    assert!(
        shown.contains("the saved plan was made with --target email-service/queue"),
        "{shown}"
    );

    // Untargeted, the rest is created: only the audit queue.
    let (plan, _) = env.run(&["plan", "--output", "json"], 0);
    assert_eq!(changes(&plan), pairs(&[("email-service/audit", "create")]));
    assert_eq!(plan["targeted"], false);
    let (done, _) = env.run(&["apply", "--auto-approve", "--output", "json"], 0);
    assert_eq!(done["result"], "success", "{done}");
    assert_eq!(env.recorded().len(), 4);
    assert_eq!(
        env.queues().await,
        [
            "notification-platform-development-email-service-audit",
            "notification-platform-development-email-service-queue"
        ]
    );

    // Removed from the files: a plan targeting something else does not delete it.
    std::fs::remove_dir_all(&audit_dir).expect("remove audit");
    let (plan, _) = env.run(
        &[
            "plan",
            "--target",
            "email-service/queue",
            "--output",
            "json",
        ],
        0,
    );
    assert!(changes(&plan).is_empty(), "{plan}");
    let (plan, _) = env.run(&["plan", "--output", "json"], 0);
    assert_eq!(changes(&plan), pairs(&[("email-service/audit", "delete")]));
}
