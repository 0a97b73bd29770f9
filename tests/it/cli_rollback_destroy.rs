//! Rollback and destroy through the CLI on moto: a rollback returns the api to the
//! previous image through a normal, recorded apply, passing over an apply that only
//! repaired drift; destroy asks before deleting, deletes dependents first (also when the
//! only edges are `valueFrom`) and leaves nothing of the stack behind.

use crate::support::cli::panka_aws;
use crate::support::files::walkthrough_repo;
use crate::support::moto::{DB_SECRET, MotoServer, Walkthrough, create_secret};
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn panka(moto: &MotoServer, repo: &Path) -> Command {
    panka_aws(
        &repo.join("stacks/notification-platform"),
        repo,
        &moto.endpoint(),
    )
}

fn run(cmd: &mut Command) -> (i32, Value, String) {
    let out = cmd.output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        format!("{stdout}\n{stderr}"),
    )
}

async fn api_image(clients: &panka_providers::aws::AwsClients, task_arn: &str) -> String {
    let td = clients
        .ecs
        .describe_task_definition()
        .task_definition(task_arn)
        .send()
        .await
        .expect("task definition");
    td.task_definition()
        .and_then(|t| t.container_definitions().first())
        .and_then(|c| c.image())
        .expect("image")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_image_and_destroy_removes_everything() {
    let Walkthrough {
        moto,
        repo,
        clients,
        ..
    } = Walkthrough::on_moto("rollback-canary-password-31337").await;
    let apply = |version: &str| {
        let mut cmd = panka(&moto, repo.path());
        cmd.args(["apply", "--auto-approve", "--output", "json"])
            .args(["--var", &format!("VERSION={version}")]);
        cmd
    };

    let (code, first, log) = run(&mut apply("v1.0.0"));
    assert_eq!(
        (code, first["result"].as_str()),
        (0, Some("success")),
        "{log}"
    );
    let (code, second, log) = run(&mut apply("v1.0.1"));
    assert_eq!(
        (code, second["result"].as_str()),
        (0, Some("success")),
        "{log}"
    );
    let task = second["outputs"]["email-service/api"]["task_definition_arn"]
        .as_str()
        .expect("task definition")
        .to_string();
    assert!(api_image(&clients, &task).await.ends_with(":v1.0.1"));

    // Someone changes the queue in the console; an apply of the same version repairs it.
    // That apply deployed nothing new, so it is no place to roll back to.
    let queue_url = second["outputs"]["email-service/queue"]["url"]
        .as_str()
        .expect("queue url")
        .to_string();
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes("VisibilityTimeout".into(), "45")
        .send()
        .await
        .expect("visibility");
    let (code, repair, log) = run(&mut apply("v1.0.1"));
    assert_eq!(
        (code, repair["result"].as_str()),
        (0, Some("success")),
        "{log}"
    );
    let visibility = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names("VisibilityTimeout".into())
        .send()
        .await
        .expect("attributes");
    assert_eq!(
        visibility
            .attributes()
            .and_then(|a| a.get(&"VisibilityTimeout".into()))
            .map(String::as_str),
        Some("300"),
        "repaired"
    );

    // Rollback: back to v1.0.0's recorded spec (not to the repaired v1.0.1), only the
    // api changes.
    let (code, rolled, log) =
        run(panka(&moto, repo.path()).args(["rollback", "--auto-approve", "--output", "json"]));
    assert_eq!(
        (code, rolled["result"].as_str()),
        (0, Some("success")),
        "{log}"
    );
    let task = rolled["outputs"]["email-service/api"]["task_definition_arn"]
        .as_str()
        .expect("task definition")
        .to_string();
    assert!(
        api_image(&clients, &task).await.ends_with(":v1.0.0"),
        "the api runs the previous image again"
    );
    let records: Vec<Value> = std::fs::read_dir(
        repo.path()
            .join(".panka/stacks/notification-platform/development/deployments"),
    )
    .expect("deployments")
    .flatten()
    .map(|e| serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("json"))
    .collect();
    let rollback = records
        .iter()
        .find(|r| r["operation"] == "rollback")
        .expect("a rollback record");
    assert_eq!(rollback["version"], "v1.0.0");
    assert_eq!(rollback["result"], "success");
    assert_eq!(rollback["plan_summary"]["update"], 1, "{rollback}");
    assert_eq!(rollback["plan_summary"]["create"], 0, "{rollback}");

    // A second rollback goes further back, not forward again to v1.0.1: there is nothing
    // older than v1.0.0, which is deployed now.
    let (code, _, log) = run(panka(&moto, repo.path()).args(["rollback", "--auto-approve"]));
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("nothing to roll back to: no earlier successful deployment differs from what is deployed now"),
        "{log}"
    );
    assert!(log.contains("panka history"), "{log}");
    assert!(
        api_image(&clients, &task).await.ends_with(":v1.0.0"),
        "nothing changed"
    );

    // Plans now match v1.0.0 again: an apply of v1.0.0 changes nothing.
    let (code, again, log) = run(&mut apply("v1.0.0"));
    assert_eq!(
        (code, again["result"].as_str()),
        (0, Some("no_changes")),
        "{log}"
    );

    // Destroy without a terminal and without --auto-approve: refused, nothing deleted.
    let (code, _, log) = run(panka(&moto, repo.path()).args(["destroy"]));
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("type the stack name"), "{log}");
    let queues = clients.sqs.list_queues().send().await.expect("queues");
    assert!(!queues.queue_urls().is_empty(), "nothing deleted");

    let (code, destroyed, log) = run(panka(&moto, repo.path()).args([
        "destroy",
        "--auto-approve",
        "--skip-final-snapshot",
        "--output",
        "json",
    ]));
    assert_eq!(
        (code, destroyed["result"].as_str()),
        (0, Some("success")),
        "{log}"
    );
    assert!(!log.contains("rollback-canary-password-31337"));

    // Nothing with the stack's tags is left.
    let queues = clients.sqs.list_queues().send().await.expect("queues");
    assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());
    let dbs = clients
        .rds
        .describe_db_instances()
        .send()
        .await
        .expect("dbs");
    assert!(
        dbs.db_instances()
            .iter()
            .all(|d| d.db_instance_status() == Some("deleting")),
        "{:?}",
        dbs.db_instances()
    );
    let services = clients.ecs.list_clusters().send().await.expect("clusters");
    for cluster in services.cluster_arns() {
        let listed = clients
            .ecs
            .list_services()
            .cluster(cluster)
            .send()
            .await
            .expect("services");
        if listed.service_arns().is_empty() {
            continue;
        }
        let described = clients
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(listed.service_arns().to_vec()))
            .send()
            .await
            .expect("describe");
        assert!(
            described
                .services()
                .iter()
                .all(|s| s.status() != Some("ACTIVE")),
            "{:?}",
            described.services()
        );
    }
    let target_groups = clients
        .elasticloadbalancingv2
        .describe_target_groups()
        .send()
        .await
        .expect("target groups");
    assert!(target_groups.target_groups().is_empty());
    let state: Value = serde_json::from_slice(
        &std::fs::read(
            repo.path()
                .join(".panka/stacks/notification-platform/development/state.json"),
        )
        .expect("state"),
    )
    .expect("json");
    assert_eq!(state["components"], serde_json::json!({}), "{state}");

    // A second destroy has nothing to do.
    let (code, nothing, log) =
        run(panka(&moto, repo.path()).args(["destroy", "--auto-approve", "--output", "json"]));
    assert_eq!(
        (code, nothing["result"].as_str()),
        (0, Some("no_changes")),
        "{log}"
    );
}

#[test]
fn destroying_production_needs_allow_dangerous_too() {
    let moto = MotoServer::start();
    let repo = walkthrough_repo();
    let (code, _, log) = run(panka(&moto, repo.path()).args([
        "destroy",
        "--environment",
        "production",
        "--auto-approve",
    ]));
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("--allow-dangerous"), "{log}");
    assert!(
        !repo.path().join(".panka").exists(),
        "refused before any state or lock was touched"
    );
}

/// The JSON-lines progress of `--output json` (stderr): `(event, component, action)`.
fn progress(stderr: &str) -> Vec<(String, String, String)> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| {
            let field = |k: &str| e[k].as_str().map(str::to_string);
            Some((field("event")?, field("component")?, field("action")?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_deletes_dependents_first_when_the_only_edges_are_value_from() {
    let moto = MotoServer::start_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "2")]);
    let repo = walkthrough_repo();
    let stack = repo.path().join("stacks/notification-platform");
    // The api keeps its valueFrom references and loses its dependsOn.
    let api_file = stack.join("services/email-service/components/api/microservice.yaml");
    let text = std::fs::read_to_string(&api_file).expect("read");
    let cut = text
        .find("\n  dependsOn:")
        .expect("the fixture has dependsOn");
    std::fs::write(&api_file, &text[..cut]).expect("write");
    let clients = moto.clients().await;
    create_secret(
        &clients,
        DB_SECRET,
        r#"{"password":"order-canary-password-27182"}"#,
    )
    .await;

    let (code, applied, log) = run(panka(&moto, repo.path()).args([
        "apply",
        "--auto-approve",
        "--output",
        "json",
        "--var",
        "VERSION=v1.0.0",
    ]));
    assert_eq!(
        (code, applied["result"].as_str()),
        (0, Some("success")),
        "{log}"
    );
    // The state keeps what each component depended on when it was applied.
    let state_path = repo
        .path()
        .join(".panka/stacks/notification-platform/development/state.json");
    let state: Value =
        serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("json");
    assert_eq!(
        state["components"]["email-service/api"]["depends_on"],
        serde_json::json!(["email-service/database", "email-service/queue"]),
        "{state}"
    );
    assert_eq!(
        state["components"]["email-service/queue"]["depends_on"],
        serde_json::json!([])
    );

    // One deployment: nothing to roll back to.
    let (code, _, log) = run(panka(&moto, repo.path()).args(["rollback", "--auto-approve"]));
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("nothing to roll back to"), "{log}");
    assert!(log.contains("panka history"), "{log}");

    let out = panka(&moto, repo.path())
        .args([
            "destroy",
            "--auto-approve",
            "--skip-final-snapshot",
            "--output",
            "json",
        ])
        .output()
        .expect("destroy");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events = progress(&stderr);
    let at = |event: &str, component: &str| {
        events
            .iter()
            .position(|(e, c, a)| e == event && c == component && a == "delete")
            .unwrap_or_else(|| panic!("no {event} delete of {component}: {stderr}"))
    };
    let api_gone = at("finished", "email-service/api");
    for used in ["email-service/database", "email-service/queue"] {
        assert!(
            api_gone < at("started", used),
            "{used} is deleted only after the api is gone: {events:?}"
        );
    }
    let state: Value =
        serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("json");
    assert_eq!(state["components"], serde_json::json!({}), "{state}");
    let queues = clients.sqs.list_queues().send().await.expect("queues");
    assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());
}
