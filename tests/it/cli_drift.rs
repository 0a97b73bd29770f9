//! `panka drift` on moto: the walkthrough's development stack applied, then changed out of
//! band with the SDK (SQS visibility timeout, target group health check path, ECS desired
//! count, a stray tagged queue, a deleted queue). Drift reports exactly those with exit 2
//! in text and JSON; `panka apply` repairs them and drift then exits 0. Also: drift from
//! state alone (S3 backend, no stack folder) and `--all`.

use crate::support::cli::panka_aws;
use crate::support::moto::{MotoServer, Walkthrough};
use assert_cmd::Command;
use panka_providers::aws::AwsClients;
use serde_json::{Value, json};
use std::path::Path;

const STACK: &str = "notification-platform";
const QUEUE: &str = "notification-platform-development-email-service-queue";
const CLUSTER: &str = "notification-platform-development";
const SERVICE: &str = "notification-platform-development-email-service-api";
const STRAY: &str = "notification-platform-development-stray";

struct Env {
    moto: MotoServer,
    repo: tempfile::TempDir,
    clients: AwsClients,
}

impl Env {
    /// A deployment repo holding the walkthrough's stack, and its database secret.
    async fn new() -> Env {
        // ECS on moto reports the running count it is told; the apply waits for it.
        let Walkthrough {
            moto,
            repo,
            clients,
            ..
        } = Walkthrough::on_moto("super-secure-db-password-12345").await;
        Env {
            moto,
            repo,
            clients,
        }
    }

    fn panka_in(&self, dir: &Path) -> Command {
        panka_aws(dir, self.repo.path(), &self.moto.endpoint())
    }

    fn panka(&self) -> Command {
        self.panka_in(self.repo.path())
    }

    fn apply(&self) {
        let out = self
            .panka()
            .args(["apply", "--stack", STACK, "--environment", "development"])
            .args([
                "--auto-approve",
                "--var",
                "VERSION=v1.0.0",
                "--output",
                "json",
            ])
            .output()
            .expect("apply");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let result: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(result["result"], "success", "{result}");
    }

    /// `panka drift` with `args`: its exit code and stdout.
    fn drift(&self, args: &[&str]) -> (i32, String) {
        let out = self
            .panka()
            .arg("drift")
            .args(args)
            .output()
            .expect("drift");
        let stdout = text(&out.stdout);
        assert!(
            out.status.code() != Some(1),
            "drift failed:\n{stdout}\n{}",
            text(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), stdout)
    }

    fn drift_json(&self) -> (i32, Value) {
        let (code, out) = self.drift(&[
            "--stack",
            STACK,
            "--environment",
            "development",
            "--output",
            "json",
        ]);
        (code, serde_json::from_str(&out).expect("json"))
    }

    async fn queue_url(&self, name: &str) -> String {
        self.clients
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .expect("queue url")
            .queue_url()
            .expect("url")
            .to_string()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `component → status` of a drift document.
fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["component"].as_str().unwrap_or("").to_string(),
                c["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// `component → [field paths]` of a drift document.
fn field_paths(doc: &Value) -> Vec<(String, Vec<String>)> {
    doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["component"].as_str().unwrap_or("").to_string(),
                c["fields"]
                    .as_array()
                    .expect("fields")
                    .iter()
                    .map(|f| f["path"].as_str().unwrap_or("").to_string())
                    .collect(),
            )
        })
        .collect()
}

fn field<'a>(doc: &'a Value, component: &str, path: &str) -> &'a Value {
    doc["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["component"] == component))
        .and_then(|c| c["fields"].as_array())
        .and_then(|fs| fs.iter().find(|f| f["path"] == path))
        .unwrap_or_else(|| panic!("no {component} {path} in {doc}"))
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_changes_are_reported_field_by_field_and_apply_repairs_them() {
    let env = Env::new().await;
    env.apply();
    let (code, clean) = env.drift_json();
    assert_eq!(code, 0, "{clean}");
    assert_eq!(clean["drifted"], false);
    assert_eq!(
        statuses(&clean),
        owned(&[
            ("email-service/api", "in_sync"),
            ("email-service/database", "in_sync"),
            ("email-service/queue", "in_sync"),
        ])
    );

    // Out-of-band changes, as someone in the console would make them.
    let queue_url = env.queue_url(QUEUE).await;
    env.clients
        .sqs
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes("VisibilityTimeout".into(), "45")
        .send()
        .await
        .expect("visibility");
    let groups = env
        .clients
        .elasticloadbalancingv2
        .describe_target_groups()
        .send()
        .await
        .expect("target groups");
    let [group] = groups.target_groups() else {
        panic!("one target group expected: {groups:?}");
    };
    env.clients
        .elasticloadbalancingv2
        .modify_target_group()
        .target_group_arn(group.target_group_arn().expect("arn"))
        .health_check_path("/changed-by-hand")
        .send()
        .await
        .expect("health check path");
    // Outside autoscaling's [2, 10], so it is drift and not the scaler at work.
    env.clients
        .ecs
        .update_service()
        .cluster(CLUSTER)
        .service(SERVICE)
        .desired_count(0)
        .send()
        .await
        .expect("desired count");
    let stray = env
        .clients
        .sqs
        .create_queue()
        .queue_name(STRAY)
        .tags("panka:stack", STACK)
        .tags("panka:environment", "development")
        .tags("panka:component", "email-service/stray")
        .tags("panka:managed-by", "panka")
        .send()
        .await
        .expect("stray queue")
        .queue_url()
        .expect("url")
        .to_string();
    // Tagged for another environment: not this one's orphan.
    env.clients
        .sqs
        .create_queue()
        .queue_name("notification-platform-development-other")
        .tags("panka:stack", STACK)
        .tags("panka:environment", "staging")
        .send()
        .await
        .expect("other queue");

    let (code, doc) = env.drift_json();
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["drifted"], true);
    assert_eq!(
        statuses(&doc),
        owned(&[
            ("email-service/api", "drifted"),
            ("email-service/database", "in_sync"),
            ("email-service/queue", "drifted"),
        ])
    );
    assert_eq!(
        field_paths(&doc),
        [
            (
                "email-service/api".to_string(),
                vec!["health_check.path".to_string(), "replicas".to_string()]
            ),
            ("email-service/database".to_string(), vec![]),
            (
                "email-service/queue".to_string(),
                vec!["visibility_timeout_seconds".to_string()]
            ),
        ]
    );
    assert_eq!(
        field(&doc, "email-service/queue", "visibility_timeout_seconds"),
        &json!({"path": "visibility_timeout_seconds", "expected": 300, "actual": 45})
    );
    assert_eq!(
        field(&doc, "email-service/api", "health_check.path"),
        &json!({"path": "health_check.path", "expected": "/health/ready", "actual": "/changed-by-hand"})
    );
    assert_eq!(field(&doc, "email-service/api", "replicas")["actual"], 0);
    assert_eq!(
        doc["orphans"],
        json!([{"kind": "sqs_queue", "id": stray, "component": "email-service/stray"}])
    );

    let (code, text) = env.drift(&["--stack", STACK, "--environment", "development"]);
    assert_eq!(code, 2, "{text}");
    for line in [
        "Drift: notification-platform (development)",
        "├── ✗ email-service/api       MicroService  drifted",
        "│       health_check.path: \"/health/ready\" → \"/changed-by-hand\"",
        "├── ✓ email-service/database  RDS           in sync",
        "└── ✗ email-service/queue     SQS           drifted",
        "        visibility_timeout_seconds: 300 → 45",
        &format!("  ✗ SQS queue  {stray}  (email-service/stray)"),
        "✗ Drift found: 2 drifted, 0 missing, 1 orphan; 1 of 3 components in sync.",
        "  hint: run `panka apply` to restore the recorded configuration",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in:\n{text}"
        );
    }
    // The whole screen; only the orphan's URL (moto's port, the account) varies.
    insta::with_settings!({filters => vec![
        (r"(127\.0\.0\.1|localhost):\d+", "[MOTO]"),
        (r"\b\d{12}\b", "[ACCOUNT]"),
    ]}, {
        insta::assert_snapshot!("drift_found", text);
    });

    // Apply restores the recorded fields; the orphan is not its to delete.
    env.apply();
    let (code, doc) = env.drift_json();
    assert_eq!(code, 2, "the orphan is still there: {doc}");
    assert!(
        doc["components"]
            .as_array()
            .expect("components")
            .iter()
            .all(|c| c["status"] == "in_sync"),
        "{doc}"
    );
    env.clients
        .sqs
        .delete_queue()
        .queue_url(&stray)
        .send()
        .await
        .expect("delete stray");
    let (code, text) = env.drift(&["--stack", STACK, "--environment", "development"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("✓ No drift: 3 components in sync with the recorded state."),
        "{text}"
    );
    insta::assert_snapshot!("drift_none", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_queue_is_missing_until_apply_recreates_it() {
    let env = Env::new().await;
    env.apply();
    let queue_url = env.queue_url(QUEUE).await;
    env.clients
        .sqs
        .delete_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("delete queue");

    // A config file edited but not applied is a change for the plan, not drift: the
    // expected config hash comes from the deployment record.
    let config_file = env
        .repo
        .path()
        .join("stacks")
        .join(STACK)
        .join("services/email-service/components/api/configs/app.yaml");
    let mut config = std::fs::read_to_string(&config_file).expect("config");
    config.push_str("\nedited: true\n");
    std::fs::write(&config_file, config).expect("edit");

    let (code, doc) = env.drift_json();
    assert_eq!(code, 2, "{doc}");
    assert_eq!(
        statuses(&doc),
        owned(&[
            ("email-service/api", "in_sync"),
            ("email-service/database", "in_sync"),
            ("email-service/queue", "missing"),
        ])
    );
    assert_eq!(
        doc["orphans"],
        json!([]),
        "the dead-letter queue left behind is recorded, not an orphan"
    );
    let (code, text) = env.drift(&["--stack", STACK, "--environment", "development"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(
            "└── ✗ email-service/queue     SQS           missing (recorded in state, not found in AWS)"
        ),
        "{text}"
    );

    // `--all` finds the one state of this repo and says the same.
    let (code, all) = env.drift(&["--all", "--output", "json"]);
    assert_eq!(code, 2, "{all}");
    let all: Value = serde_json::from_str(&all).expect("json");
    assert_eq!(all["drifted"], true);
    assert_eq!(
        all["stacks"],
        json!([{"stack": STACK, "environment": "development", "drifted": true, "error": null}])
    );
    let missing: Vec<&Value> = all["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter(|c| c["status"] == "missing")
        .collect();
    assert_eq!(missing.len(), 1, "{all}");
    assert_eq!(missing[0]["component"], "email-service/queue");
    assert_eq!(missing[0]["environment"], "development");

    env.apply();
    assert_ne!(env.queue_url(QUEUE).await, "", "recreated");
    let (code, doc) = env.drift_json();
    assert_eq!(code, 0, "{doc}");
    let (code, all) = env.drift(&["--all"]);
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("Checked 1 stack environment: 0 drifted, 1 in sync, 0 not checked."),
        "{all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_works_from_state_alone_with_an_s3_backend() {
    let env = Env::new().await;
    let init = env
        .panka()
        .args(["init", "--yes", "--bootstrap", "--region", "us-east-1"])
        .args(["--bucket", "drift-state", "--table", "drift-locks"])
        .output()
        .expect("init");
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr));
    env.apply();

    // Somewhere without the stack folder: the region comes from state, the config file
    // contents from the deployment record.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let drift = |dir: &Path| {
        env.panka_in(dir)
            .env("PANKA_CONFIG", env.repo.path().join(".panka/config.yaml"))
            .args(["drift", "--stack", STACK, "--environment", "development"])
            .output()
            .expect("drift")
    };
    let out = drift(elsewhere.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("3 components in sync"));

    let queue_url = env.queue_url(QUEUE).await;
    env.clients
        .sqs
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes("VisibilityTimeout".into(), "45")
        .send()
        .await
        .expect("visibility");
    let out = drift(elsewhere.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l == "        visibility_timeout_seconds: 300 → 45"),
        "{}",
        text(&out.stdout)
    );

    // `--all` lists the bucket's states (from anywhere) and checks each: the one state
    // of this test has drifted.
    let out = env
        .panka_in(elsewhere.path())
        .env("PANKA_CONFIG", env.repo.path().join(".panka/config.yaml"))
        .args(["drift", "--all", "--output", "json"])
        .output()
        .expect("drift --all");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let all: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        all["stacks"],
        serde_json::json!([{"stack": STACK, "environment": "development", "drifted": true, "error": null}]),
        "{all}"
    );
    assert_eq!(all["drifted"], true);
}
