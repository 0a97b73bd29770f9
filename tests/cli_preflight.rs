//! Apply's secrets preflight on moto: before any change, every secret the changing
//! components refer to must exist and hold the key it is used with; otherwise apply exits
//! 1 naming each reference at its `file:line:column`, creates nothing, writes no state
//! and releases the lock.

mod support;

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;
use support::moto::{MotoServer, test_sdk_config};

const SECRET: &str = "/stacks/notification-platform/email-service/db-password";
const API_FILE: &str =
    "stacks/notification-platform/services/email-service/components/api/microservice.yaml";
const DB_FILE: &str =
    "stacks/notification-platform/services/email-service/components/database/rds.yaml";

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

struct Env {
    moto: MotoServer,
    repo: tempfile::TempDir,
    clients: panka_providers::aws::AwsClients,
}

impl Env {
    async fn new() -> Env {
        let moto = MotoServer::start();
        let repo = tempfile::tempdir().expect("tempdir");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/notification-platform"),
            &repo.path().join("stacks/notification-platform"),
        );
        let settings = moto.settings();
        let clients =
            panka_providers::aws::AwsClients::new(&test_sdk_config(&settings).await, &settings);
        Env {
            moto,
            repo,
            clients,
        }
    }

    fn panka(&self, args: &[&str]) -> std::process::Output {
        let home = self.repo.path();
        Command::cargo_bin("panka")
            .expect("binary")
            .current_dir(home)
            .args(args)
            .env("HOME", home)
            .env_remove("PANKA_CONFIG")
            .env_remove("PANKA_ENVIRONMENT")
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", home.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
            .env("PANKA_USER", "alice")
            .env("NO_COLOR", "1")
            .output()
            .expect("run")
    }

    fn apply(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "apply",
            "--stack",
            "notification-platform",
            "--auto-approve",
            "--var",
            "VERSION=v1.0.0",
        ];
        args.extend_from_slice(extra);
        self.panka(&args)
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.repo
            .path()
            .join(".panka/stacks/notification-platform/development")
    }

    /// Nothing in AWS, no state, no deployment record, the lock free.
    async fn assert_untouched(&self) {
        let queues = self.clients.sqs.list_queues().send().await.expect("queues");
        assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());
        let dbs = self
            .clients
            .rds
            .describe_db_instances()
            .send()
            .await
            .expect("instances");
        assert!(dbs.db_instances().is_empty(), "no database was created");
        assert!(!self.state_dir().join("state.json").exists(), "no state");
        assert!(
            !self.state_dir().join("deployments").exists(),
            "no deployment record"
        );
        let status = self.panka(&["lock", "status", "--stack", "notification-platform"]);
        assert!(
            text(&status).contains("Not locked"),
            "the lock was released: {}",
            text(&status)
        );
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_stops_apply_before_anything_changes() {
    let env = Env::new().await;
    let out = env.apply(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    // Both places that use it, each with its position, the component and the secret.
    for expected in [
        "error: 2 secret references cannot be used; nothing was changed".to_string(),
        format!("{API_FILE}:34:18: secret `{SECRET}` used by email-service/api does not exist"),
        format!("{DB_FILE}:24:12: secret `{SECRET}` used by email-service/database does not exist"),
        format!("hint: create it (`aws secretsmanager create-secret --name {SECRET}"),
    ] {
        assert!(
            shown.contains(&expected),
            "missing `{expected}` in\n{shown}"
        );
    }
    assert!(!shown.contains("Executing deployment"), "{shown}");
    env.assert_untouched().await;

    // The same in JSON: one error document on stdout.
    let out = env.apply(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let message = doc["error"]["message"].as_str().expect("message");
    assert!(message.contains(&format!("{API_FILE}:34:18")), "{message}");
    env.assert_untouched().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_secret_without_its_key_stops_apply_and_never_shows_the_value() {
    let env = Env::new().await;
    let value = "canary-Preflight-5150";
    env.clients
        .secretsmanager
        .create_secret()
        .name(SECRET)
        .secret_string(format!(r#"{{"pass":"{value}"}}"#))
        .send()
        .await
        .expect("secret");
    let out = env.apply(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!(
            "{DB_FILE}:24:12: secret `{SECRET}` used by email-service/database lacks the key it is used with (secret `{SECRET}` has no key `password`; its keys are: pass; name one with `key:`)"
        )),
        "{shown}"
    );
    // The api only needs the secret to exist (ECS reads the whole of it).
    assert!(!shown.contains("used by email-service/api"), "{shown}");
    assert!(!shown.contains(value), "the value never shows: {shown}");
    env.assert_untouched().await;

    // Fixed: a targeted apply of the database passes the preflight and creates only it.
    env.clients
        .secretsmanager
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(format!(r#"{{"password":"{value}"}}"#))
        .send()
        .await
        .expect("fix");
    let out = env.apply(&["--target", "email-service/database", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(value), "{}", text(&out));
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(env.state_dir().join("state.json")).expect("state"),
    )
    .expect("json");
    let recorded: Vec<&String> = state["components"]
        .as_object()
        .expect("components")
        .keys()
        .collect();
    assert_eq!(recorded, ["email-service/database"]);
}
