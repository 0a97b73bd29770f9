//! `panka status` on moto after the walkthrough's Day 1 apply to development: the box,
//! the JSON contract, target health counted from the load balancer, a queue deleted out
//! of band, and nothing deployed yet. ECS on moto reports running tasks only when told
//! (`MOTO_ECS_SERVICE_RUNNING=2`) and registers no targets, so the test registers them.

use crate::support::cli::{panka_aws, text};
use crate::support::files::walkthrough_repo;
use crate::support::moto::{
    Walkthrough, answered_ok, form_value, raw_post, unsigned_authorization,
};
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn panka(repo: &Path, endpoint: &str) -> Command {
    panka_aws(repo, repo, endpoint)
}

/// The box's lines without borders, runs of spaces collapsed.
fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.trim_matches(|c| c == '│' || c == ' ')
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The screen with what changes from run to run replaced: moto's port, account ids, AWS
/// host names, times; then the box's padding and rules, whose width follows theirs.
fn snapshot(name: &str, out: &std::process::Output) {
    let screen = String::from_utf8_lossy(&out.stdout).to_string();
    insta::with_settings!({filters => vec![
        (r"(127\.0\.0\.1|localhost):\d+", "[MOTO]"),
        (r"\b\d{12}\b", "[ACCOUNT]"),
        (r"[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com", "[AWS HOST]"),
        (r"just now|\d+ seconds? ago|\d+ minutes? ago", "[WHEN]"),
        (r"(Deployed by: [^@\s]+)@\S+", "$1@[HOST]"),
        (r"─{2,}", "──"),
        (r"  +", "  "),
    ]}, {
        insta::assert_snapshot!(name, screen);
    });
}

fn component<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["component"] == id))
        .unwrap_or_else(|| panic!("{id} in {doc}"))
}

/// RegisterTargets as moto's query protocol over plain HTTP: this test crate does not
/// depend on `aws-sdk-elasticloadbalancingv2`, whose `TargetDescription` the SDK call
/// needs (moto does not check signatures; the credential scope names the service).
async fn register_targets(port: u16, target_group_arn: &str, ips: &[&str]) {
    let mut body = format!(
        "Action=RegisterTargets&Version=2015-12-01&TargetGroupArn={}",
        form_value(target_group_arn)
    );
    for (i, ip) in ips.iter().enumerate() {
        body.push_str(&format!(
            "&Targets.member.{n}.Id={ip}&Targets.member.{n}.Port=8080",
            n = i + 1
        ));
    }
    let answer = tokio::task::spawn_blocking(move || {
        raw_post(
            port,
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                (
                    "Authorization",
                    &unsigned_authorization("elasticloadbalancing"),
                ),
            ],
            &body,
        )
    })
    .await
    .expect("join");
    assert!(answered_ok(&answer), "RegisterTargets: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_after_the_first_apply() {
    let Walkthrough {
        moto,
        repo,
        clients,
        ..
    } = Walkthrough::on_moto("super-secure-db-password-12345").await;
    let apply = panka(repo.path(), &moto.endpoint())
        .args([
            "apply",
            "--stack",
            "notification-platform",
            "--environment",
            "development",
            "--auto-approve",
            "--var",
            "VERSION=v1.0.0",
        ])
        .output()
        .expect("run");
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let status = || {
        panka(repo.path(), &moto.endpoint())
            .args([
                "status",
                "--stack",
                "notification-platform",
                "--environment",
                "development",
            ])
            .output()
            .expect("run")
    };

    // Two tasks run, but no target is registered yet: the api is not healthy.
    let out = status();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let box_lines = lines(&out);
    for expected in [
        "Stack: notification-platform (development)",
        "Service: email-service",
        "✗ api MicroService 2/2 running Unhealthy",
        "0/0 targets healthy (none registered)",
        "✓ database RDS available Healthy",
        "✓ queue SQS active Healthy",
        "Version: v1.0.0",
    ] {
        assert!(
            box_lines.iter().any(|l| l == expected),
            "`{expected}` in\n{}",
            text(&out)
        );
    }
    assert!(
        box_lines
            .iter()
            .any(|l| l == "Last deployed: just now" || l.ends_with("seconds ago")),
        "{}",
        text(&out)
    );
    assert!(
        box_lines
            .iter()
            .any(|l| l.starts_with("Deployed by: alice@")),
        "{}",
        text(&out)
    );
    snapshot("status_unhealthy_api", &out);

    // The tasks register with the target group and pass the health check.
    let groups = clients
        .elasticloadbalancingv2
        .describe_target_groups()
        .send()
        .await
        .expect("target groups");
    let group = groups
        .target_groups()
        .first()
        .and_then(|g| g.target_group_arn())
        .expect("the api's target group")
        .to_string();
    register_targets(moto.port(), &group, &["10.0.1.10", "10.0.2.10"]).await;
    let out = panka(repo.path(), &moto.endpoint())
        .args([
            "status",
            "--stack",
            "notification-platform",
            "--output",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["stack"], "notification-platform");
    assert_eq!(doc["environment"], "development");
    assert_eq!(doc["components"].as_array().map(Vec::len), Some(3), "{doc}");
    let api = component(&doc, "email-service/api");
    assert_eq!(api["kind"], "MicroService");
    assert_eq!(api["status"], "2/2 running");
    assert_eq!(api["healthy"], true, "{api}");
    assert_eq!(api["detail"], "2/2 targets healthy");
    assert_eq!(api["version"], "v1.0.0");
    let database = component(&doc, "email-service/database");
    assert_eq!(database["kind"], "RDS");
    assert_eq!(database["status"], "available");
    assert_eq!(database["healthy"], true);
    let queue = component(&doc, "email-service/queue");
    assert_eq!(queue["kind"], "SQS");
    assert_eq!(queue["status"], "active");
    assert_eq!(queue["healthy"], true);
    assert_eq!(
        queue["detail"],
        "0 waiting, 0 in flight, 0 in the dead-letter queue"
    );

    // The queue deleted outside panka: missing, not healthy; status itself succeeds.
    let url = clients
        .sqs
        .get_queue_url()
        .queue_name("notification-platform-development-email-service-queue")
        .send()
        .await
        .expect("queue url");
    clients
        .sqs
        .delete_queue()
        .queue_url(url.queue_url().expect("url"))
        .send()
        .await
        .expect("delete");
    let out = status();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let box_lines = lines(&out);
    assert!(
        box_lines
            .iter()
            .any(|l| l == "✗ queue SQS missing Unhealthy"),
        "{}",
        text(&out)
    );
    assert!(
        box_lines
            .iter()
            .any(|l| l.contains("does not exist (deleted outside panka?)")),
        "{}",
        text(&out)
    );
    assert!(
        box_lines
            .iter()
            .any(|l| l == "✓ api MicroService 2/2 running Healthy"),
        "{}",
        text(&out)
    );
    snapshot("status_queue_missing", &out);
}

#[test]
fn nothing_deployed_yet() {
    let repo = walkthrough_repo();
    // No AWS call is made: the endpoint is never contacted.
    let out = panka(repo.path(), "http://127.0.0.1:9")
        .args(["status", "--stack", "notification-platform"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Nothing deployed to notification-platform (development) yet"),
        "{}",
        text(&out)
    );
    let out = panka(repo.path(), "http://127.0.0.1:9")
        .args([
            "status",
            "--stack",
            "notification-platform",
            "--output",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["components"], serde_json::json!([]));
}

#[test]
fn components_aws_cannot_read_are_shown_as_unknown_and_exit_1() {
    use panka_core::model::ComponentKind;
    use panka_core::state::local::LocalStore;
    use panka_core::state::{ComponentState, ComponentStatus, StateDocument, StateKey, StateStore};

    let repo = walkthrough_repo();
    let store = LocalStore::new(repo.path().join(".panka"));
    let mut doc = StateDocument::new(
        "notification-platform",
        "development",
        jiff::Timestamp::now(),
    );
    doc.components.insert(
        "email-service/queue".into(),
        ComponentState {
            kind: ComponentKind::Sqs,
            physical_ids: [(
                "queue_url".to_string(),
                "http://127.0.0.1:9/123456789012/q".to_string(),
            )]
            .into(),
            applied_spec: Value::Null,
            outputs: Default::default(),
            status: ComponentStatus::Ready,
            updated_at: "2024-01-15T17:00:00Z".into(),
            deployment_id: "d1".into(),
            depends_on: None,
        },
    );
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(store.write(
            &StateKey::new("notification-platform", "development"),
            &doc,
            None,
        ))
        .expect("state");

    // Nothing listens on port 9.
    let out = panka(repo.path(), "http://127.0.0.1:9")
        .args(["status", "--stack", "notification-platform"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let box_lines = lines(&out);
    assert!(
        box_lines.iter().any(|l| l == "? queue SQS unknown Unknown"),
        "{}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: cannot read 1 component from AWS")
            && stderr.contains("email-service/queue: cannot read the attributes of SQS queue"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: AWS could not be reached"),
        "{stderr}"
    );

    let out = panka(repo.path(), "http://127.0.0.1:9")
        .args(["status", "-s", "notification-platform", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let queue = component(&doc, "email-service/queue");
    assert_eq!(queue["status"], "unknown");
    assert_eq!(queue["healthy"], false);
    assert!(
        queue["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot read the attributes")),
        "{queue}"
    );
}
