//! `panka history`: after real applies on moto (two successes and one rolled back), and
//! over records written through the local state store (totals over every record, the
//! table limited by `--limit`).

use crate::support::cli::{panka_aws, text};
use crate::support::files::write;
use crate::support::moto::MotoServer;
use assert_cmd::Command;
use panka_core::state::local::LocalStore;
use panka_core::state::{DeploymentRecord, DeploymentResult, StateKey, StateStore};
use serde_json::Value;
use std::path::Path;

const STACK: &str = "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: aws\n    region: us-east-1\n";
const SERVICE: &str =
    "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: orders\n  stack: shop\n";

fn queue(name: &str, visibility: u32) -> String {
    format!(
        "apiVersion: components.panka.io/v1\nkind: SQS\nmetadata:\n  name: {name}\n  service: orders\n  stack: shop\nspec:\n  type: standard\n  visibilityTimeout: {visibility}\n"
    )
}

fn repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("tempdir");
    let root = repo.path().join("stacks/shop");
    write(&root, "stack.yaml", STACK);
    write(&root, "services/orders/service.yaml", SERVICE);
    write(
        &root,
        "services/orders/components/queue/sqs.yaml",
        &queue("queue", 60),
    );
    repo
}

fn panka(repo: &Path, moto: Option<&MotoServer>) -> Command {
    match moto {
        Some(moto) => panka_aws(repo, repo, &moto.endpoint()),
        None => {
            let mut cmd = panka_aws(repo, repo, "");
            cmd.env_remove("AWS_ENDPOINT_URL");
            cmd
        }
    }
}

/// The table's data rows: the lines between the header's rule and the bottom border.
fn rows(out: &std::process::Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with('├'))
        .expect("header rule");
    lines[start + 1..]
        .iter()
        .take_while(|l| l.starts_with('│'))
        .map(|l| {
            l.trim_matches('│')
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The screen with what changes from run to run replaced (dates, durations, the host in
/// `user@host`), then the table's padding and rules, whose width follows theirs.
fn snapshot(name: &str, out: &std::process::Output) {
    let screen = String::from_utf8_lossy(&out.stdout).to_string();
    insta::with_settings!({filters => vec![
        (r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}( \d{4})?( \d{2}:\d{2})?", "[DATE]"),
        (r"\b(\d+m )?\d+(\.\d+)?s\b", "[DURATION]"),
        (r"─{2,}", "──"),
        (r"  +", "  "),
    ]}, {
        insta::assert_snapshot!(name, screen);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_after_applies_including_a_rolled_back_one() {
    let moto = MotoServer::start();
    let repo = repo();
    let root = repo.path().join("stacks/shop");
    let clients = moto.clients().await;
    // An IAM user with its own access key: the first apply runs as bob, without
    // PANKA_USER, so *Deployed by* comes from STS.
    clients
        .iam
        .create_user()
        .user_name("bob")
        .send()
        .await
        .expect("user");
    let key = clients
        .iam
        .create_access_key()
        .user_name("bob")
        .send()
        .await
        .expect("access key");
    let key = key.access_key().expect("key");
    let bob = (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    );
    let apply_as = |version: &str, bob: Option<&(String, String)>| {
        // Records are named by their start time in whole seconds, which is what orders
        // them; applies on moto take less than that.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut cmd = panka(repo.path(), Some(&moto));
        if let Some((id, secret)) = bob {
            cmd.env_remove("PANKA_USER")
                .env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        cmd.args(["apply", "--stack", "shop", "--auto-approve"])
            .args(["--var", &format!("VERSION={version}")])
            .output()
            .expect("run")
    };
    let apply = |version: &str| apply_as(version, None);
    let first = apply_as("v1.0.0", Some(&bob));
    assert!(
        text(&first).contains("Deployed by: bob\n"),
        "{}",
        text(&first)
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    write(
        &root,
        "services/orders/components/queue/sqs.yaml",
        &queue("queue", 120),
    );
    let second = apply("v1.1.0");
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    // Two new queues, one of whose names is taken by a queue panka does not own: the
    // apply fails and is rolled back.
    write(
        &root,
        "services/orders/components/audit/sqs.yaml",
        &queue("audit", 30),
    );
    write(
        &root,
        "services/orders/components/events/sqs.yaml",
        &queue("events", 30),
    );
    clients
        .sqs
        .create_queue()
        .queue_name("shop-development-orders-audit")
        .send()
        .await
        .expect("a foreign queue");
    let third = apply("v1.2.0");
    assert_eq!(third.status.code(), Some(4), "{}", text(&third));

    let out = panka(repo.path(), None)
        .args(["history", "--stack", "shop"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = rows(&out);
    assert_eq!(table.len(), 3, "{}", text(&out));
    for (row, (version, by, status)) in table.iter().zip([
        ("v1.2.0", "alice", "⚠ Rolled back"),
        ("v1.1.0", "alice", "✓ Success"),
        ("v1.0.0", "bob", "✓ Success"),
    ]) {
        assert!(row.starts_with(&format!("{version} ")), "{row}");
        assert!(row.contains(&format!(" {by} ")), "{row}");
        assert!(row.ends_with(status), "{row}");
    }
    snapshot("history_after_applies", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Deployment History: shop (development)"),
        "{stdout}"
    );
    assert!(stdout.contains("\nTotal deployments: 3\n"), "{stdout}");
    assert!(stdout.contains("\nSuccess rate: 67%\n"), "{stdout}");
    assert!(stdout.contains("\nAverage duration: "), "{stdout}");

    let out = panka(repo.path(), None)
        .args(["history", "--stack", "shop", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["total"], 3);
    assert_eq!(doc["success_rate"], 0.6667);
    let deployments = doc["deployments"].as_array().expect("deployments");
    let results: Vec<(&str, &str)> = deployments
        .iter()
        .map(|d| {
            (
                d["version"].as_str().unwrap_or(""),
                d["result"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("v1.2.0", "rolled_back"),
            ("v1.1.0", "success"),
            ("v1.0.0", "success")
        ]
    );
    let by: Vec<&str> = deployments
        .iter()
        .map(|d| d["by"].as_str().unwrap_or(""))
        .collect();
    assert!(
        by[0].starts_with("alice@") && by[1].starts_with("alice@"),
        "{by:?}"
    );
    assert_eq!(by[2], "bob", "the AWS identity, from STS");
    for d in deployments {
        assert!(d["id"].as_str().is_some_and(|id| !id.is_empty()), "{d}");
        assert!(
            d["started_at"]
                .as_str()
                .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok())
        );
        assert!(d["duration_s"].as_f64().is_some_and(|s| s >= 0.0), "{d}");
    }
}

fn record(i: usize, result: DeploymentResult, seconds: f64) -> DeploymentRecord {
    DeploymentRecord {
        id: format!("dep-{i:02}"),
        version: format!("v1.{i}.0"),
        by: if i.is_multiple_of(2) {
            "carol@ci".into()
        } else {
            "bob@laptop".into()
        },
        operation: "apply".into(),
        // This year's dates show without the year.
        started_at: format!(
            "{}-02-{:02}T10:{i:02}:00Z",
            jiff::Timestamp::now().strftime("%Y"),
            1 + i % 28
        ),
        duration_s: Some(seconds),
        result,
        ..DeploymentRecord::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_cover_every_record_while_the_table_shows_the_limit() {
    let repo = repo();
    let store = LocalStore::new(repo.path().join(".panka"));
    let key = StateKey::new("shop", "development");
    for i in 0..25 {
        let result = if i == 20 {
            DeploymentResult::RolledBack
        } else {
            DeploymentResult::Success
        };
        // 24 × 4m + 1 × 9m = 105m over 25 deployments: 4m 12s on average.
        let seconds = if i == 20 { 540.0 } else { 240.0 };
        store
            .put_deployment(&key, &record(i, result, seconds))
            .await
            .expect("record");
    }

    let out = panka(repo.path(), None)
        .args(["history", "--stack", "shop", "--limit", "10"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = rows(&out);
    assert_eq!(table.len(), 10, "{}", text(&out));
    // Newest first: the records of Feb 25 (i = 24) down to Feb 16 (i = 15).
    assert_eq!(table[0], "v1.24.0 Feb 25 carol 4m 00s ✓ Success");
    assert_eq!(table[4], "v1.20.0 Feb 21 carol 9m 00s ⚠ Rolled back");
    assert_eq!(table[9], "v1.15.0 Feb 16 bob 4m 00s ✓ Success");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "Total deployments: 25 (the table shows the newest 10; the totals cover all 25)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Success rate: 96%"), "{stdout}");
    assert!(stdout.contains("Average duration: 4m 12s"), "{stdout}");
    // Every value here is fixed (this year's dates show without the year).
    insta::assert_snapshot!("history_limited_to_10", stdout);

    let out = panka(repo.path(), None)
        .args([
            "history", "--stack", "shop", "--limit", "3", "--output", "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["deployments"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["deployments"][0]["id"], "dep-24");
    assert_eq!(doc["total"], 25);
    assert_eq!(doc["success_rate"], 0.96);
    assert_eq!(doc["average_duration_s"], 252.0);
    assert_eq!(doc["counts"]["rolled_back"], 1);
}

#[test]
fn no_deployments_yet() {
    let repo = repo();
    let out = panka(repo.path(), None)
        .args(["history", "--stack", "shop"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("No deployments of shop (development) yet"),
        "{}",
        text(&out)
    );
    let out = panka(repo.path(), None)
        .args(["history", "--stack", "shop", "--output", "json"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["total"], 0);
    assert_eq!(doc["success_rate"], Value::Null);
    assert_eq!(doc["deployments"], serde_json::json!([]));
}
