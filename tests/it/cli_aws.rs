//! The CLI against moto: `init --bootstrap`, `lock status`, 20 racing `lock acquire`
//! processes, `unlock`, hand-written lock items, and `state show` on S3.
//!
//! A separate `panka` process cannot carry the per-test account header, so each test
//! starts its own moto server and uses its default account.

use crate::support::cli::panka_aws_std;
use crate::support::moto::MotoServer;
use assert_cmd::Command;
use panka_core::state::{LockInfo, StateKey};
use serde_json::Value;

struct Env {
    moto: MotoServer,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        // Serialised: the racing test needs DynamoDB's atomic conditional put.
        let moto = MotoServer::start_serialized();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("config.yaml"),
            "version: v1\nbackend:\n  type: s3\n  region: us-east-1\n  bucket: company-panka-state\nlocks:\n  type: dynamodb\n  region: us-east-1\n  table: company-panka-locks\naws:\n  profile: default\n  region: us-east-1\n",
        )
        .expect("config");
        Env { moto, dir }
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// `panka` in the folder of the config file, which names the S3 bucket and the
    /// DynamoDB table, against this test's moto server.
    fn command(&self) -> std::process::Command {
        let home = self.dir.path();
        let mut cmd = panka_aws_std(home, home, &self.moto.endpoint());
        cmd.env("PANKA_CONFIG", self.config())
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    fn panka(&self) -> Command {
        Command::from_std(self.command())
    }

    fn bootstrap(&self) {
        self.panka()
            .args(["init", "--bootstrap"])
            .assert()
            .success();
    }

    async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.moto.clients().await.dynamodb
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bootstrap_is_idempotent_and_lock_status_works_on_a_fresh_account() {
    let env = Env::new();
    let first = env
        .panka()
        .args(["init", "--bootstrap"])
        .output()
        .expect("run");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(
        text.contains("✓ Created bucket company-panka-state"),
        "{text}"
    );
    assert!(
        text.contains("✓ Created table company-panka-locks"),
        "{text}"
    );
    let second = env
        .panka()
        .args(["init", "--bootstrap", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let doc: Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(doc["bucket"]["created"], false);
    assert_eq!(doc["table"]["created"], false);

    let status = env
        .panka()
        .args(["lock", "status", "--stack", "shop", "-e", "production"])
        .output()
        .expect("run");
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(stdout(&status).contains("Lock: stack:shop:env:production"));
    assert!(stdout(&status).contains("Not locked"));
}

#[test]
fn missing_bucket_and_table_say_how_to_create_them() {
    let env = Env::new();
    let out = env
        .panka()
        .args(["state", "show", "--stack", "shop"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("company-panka-state") && err.contains("panka init --bootstrap"),
        "{err}"
    );
    let out = env
        .panka()
        .args(["lock", "status", "--stack", "shop"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("company-panka-locks") && err.contains("panka init --bootstrap"),
        "{err}"
    );
}

#[test]
fn twenty_racing_processes_one_wins_the_others_exit_3_naming_it() {
    let env = Env::new();
    env.bootstrap();
    let children: Vec<std::process::Child> = (0..20)
        .map(|i| {
            let mut cmd = env.command();
            cmd.args(["lock", "acquire", "--stack", "shop", "--operation", "apply"])
                .env("PANKA_USER", format!("runner{i}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("spawn panka")
        })
        .collect();
    let outputs: Vec<std::process::Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let winners: Vec<&std::process::Output> = outputs
        .iter()
        .filter(|o| o.status.code() == Some(0))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one process takes the lock: {:?}",
        outputs.iter().map(|o| o.status.code()).collect::<Vec<_>>()
    );
    let status = env
        .panka()
        .args(["lock", "status", "--stack", "shop", "--output", "json"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&status.stdout).expect("json");
    let holder_id = doc["holder"]["id"].as_str().expect("holder id").to_string();
    let holder_who = doc["holder"]["who"].as_str().expect("who").to_string();
    assert!(stdout(winners[0]).contains(&holder_id));
    for loser in outputs.iter().filter(|o| o.status.code() != Some(0)) {
        assert_eq!(loser.status.code(), Some(3), "{}", stderr(loser));
        let err = stderr(loser);
        assert!(
            err.contains(&holder_id) && err.contains(&holder_who),
            "a loser names the holder: {err}"
        );
    }

    // Unlock with a wrong id is refused; with the right one it frees the lock.
    let wrong = env
        .panka()
        .args(["unlock", "--stack", "shop", "--lock-id", "not-it"])
        .output()
        .expect("run");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains(&holder_id));
    env.panka()
        .args(["unlock", "--stack", "shop", "--lock-id", &holder_id])
        .assert()
        .success();
    let status = env
        .panka()
        .args(["lock", "status", "--stack", "shop", "--output", "json"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(doc["locked"], false);
}

#[tokio::test]
async fn hand_written_lock_items_block_until_they_expire() {
    let env = Env::new();
    env.bootstrap();
    let dynamodb = env.dynamodb().await;
    let key = StateKey::new("shop", "production");
    let now = jiff::Timestamp::now().as_second();
    let item = |id: &str, expires_at: i64| {
        panka_providers::lock_dynamodb::lock_item(
            &key,
            &LockInfo {
                id: id.into(),
                who: "carol@ops".into(),
                operation: "manual-fix".into(),
                created: "2026-11-27T08:00:00Z".into(),
                expires_at,
            },
        )
    };
    dynamodb
        .put_item()
        .table_name("company-panka-locks")
        .set_item(Some(item("by-hand-live", now + 3600)))
        .send()
        .await
        .expect("put live item");
    let out = env
        .panka()
        .args(["lock", "acquire", "--stack", "shop", "-e", "production"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("carol@ops") && stderr(&out).contains("manual-fix"));

    dynamodb
        .put_item()
        .table_name("company-panka-locks")
        .set_item(Some(item("by-hand-stale", now - 60)))
        .send()
        .await
        .expect("put stale item");
    let out = env
        .panka()
        .args(["lock", "acquire", "--stack", "shop", "-e", "production"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Held by: alice@"));
}

#[test]
fn lock_timeout_waits_then_names_the_holder() {
    let env = Env::new();
    env.bootstrap();
    env.panka()
        .args(["lock", "acquire", "--stack", "shop"])
        .assert()
        .success();
    let start = std::time::Instant::now();
    let out = env
        .panka()
        .args(["lock", "acquire", "--stack", "shop", "--lock-timeout", "2s"])
        .output()
        .expect("run");
    assert!(start.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(
        err.matches("Waiting for the lock held by").count(),
        1,
        "{err}"
    );
}

#[test]
fn state_show_reads_s3() {
    let env = Env::new();
    env.bootstrap();
    let out = env
        .panka()
        .args(["state", "show", "--stack", "shop"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("s3://company-panka-state/stacks/shop/development/state.json"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn missing_credentials_say_what_to_do() {
    let env = Env::new();
    let out = env
        .panka()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["state", "show", "--stack", "shop"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.to_lowercase().contains("credentials"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}
