//! The walkthrough on moto, through the CLI: Day 1 apply of v1.0.0, Week 2's image-only
//! update, Week 3's cache. ECS on moto starts no tasks unless the server is told how many
//! to report running, so this server runs with `MOTO_ECS_SERVICE_RUNNING=2`.

use crate::support::cli::{panka_aws, panka_aws_std};
use crate::support::moto::{MotoServer, Walkthrough};
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn panka(moto: &MotoServer, repo: &Path) -> Command {
    panka_aws(repo, repo, &moto.endpoint())
}

fn run_json(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_one_week_two_week_three() {
    let Walkthrough {
        moto,
        repo,
        clients,
        secret_arn,
    } = Walkthrough::on_moto("super-secure-db-password-12345").await;
    let stack = repo.path().join("stacks/notification-platform");
    let apply = |version: &str| {
        let mut cmd = panka(&moto, repo.path());
        cmd.args([
            "apply",
            "--stack",
            "notification-platform",
            "--environment",
            "development",
            "--auto-approve",
            "--output",
            "json",
        ])
        .args(["--var", &format!("VERSION={version}")]);
        cmd
    };

    // Day 1: database and queue, then the api with their outputs.
    let day1 = run_json(&mut apply("v1.0.0"));
    assert_eq!(day1["result"], "success", "{day1}");
    let endpoint = day1["outputs"]["email-service/database"]["endpoint"]
        .as_str()
        .expect("endpoint")
        .to_string();
    let queue_url = day1["outputs"]["email-service/queue"]["url"]
        .as_str()
        .expect("url")
        .to_string();
    let task_arn = day1["outputs"]["email-service/api"]["task_definition_arn"]
        .as_str()
        .expect("task def")
        .to_string();
    let td = clients
        .ecs
        .describe_task_definition()
        .task_definition(&task_arn)
        .send()
        .await
        .expect("task definition");
    let td = td.task_definition().expect("td");
    let main = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("api"))
        .or(td.container_definitions().first())
        .expect("container");
    let env: std::collections::BTreeMap<&str, &str> = main
        .environment()
        .iter()
        .filter_map(|kv| Some((kv.name()?, kv.value()?)))
        .collect();
    assert_eq!(env.get("DATABASE_HOST"), Some(&endpoint.as_str()));
    assert_eq!(env.get("QUEUE_URL"), Some(&queue_url.as_str()));
    assert!(
        main.image()
            .is_some_and(|i| i.ends_with("email-api:v1.0.0"))
    );
    let secret = main
        .secrets()
        .iter()
        .find(|s| s.name() == "DATABASE_PASSWORD")
        .expect("secret env");
    assert!(
        secret.value_from().starts_with(&secret_arn),
        "{:?}",
        secret.value_from()
    );
    let groups = clients
        .elasticloadbalancingv2
        .describe_target_groups()
        .send()
        .await
        .expect("target groups");
    assert!(
        groups
            .target_groups()
            .iter()
            .any(|g| g.health_check_path() == Some("/health/ready"))
    );

    // Week 2: only the image changes.
    let mut plan = panka(&moto, repo.path());
    plan.args([
        "plan",
        "--stack",
        "notification-platform",
        "--var",
        "VERSION=v1.0.1",
        "--output",
        "json",
    ]);
    let planned = run_json(&mut plan);
    let changes: Vec<&Value> = planned["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "noop")
        .collect();
    assert_eq!(changes.len(), 1, "{planned}");
    assert_eq!(changes[0]["component"], "email-service/api");
    let paths: Vec<&str> = changes[0]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(paths, ["image"]);
    let week2 = run_json(&mut apply("v1.0.1"));
    assert_eq!(week2["result"], "success", "{week2}");
    assert_eq!(
        week2["outputs"]["email-service/database"]["endpoint"],
        endpoint.as_str(),
        "the database is untouched"
    );
    let again = run_json(&mut apply("v1.0.1"));
    assert_eq!(again["result"], "no_changes");

    // Week 3: a cache in wave 1, the api updated with REDIS_HOST in wave 2.
    std::fs::create_dir_all(stack.join("services/email-service/components/cache")).expect("mkdir");
    std::fs::write(
        stack.join("services/email-service/components/cache/elasticache.yaml"),
        "apiVersion: components.panka.io/v1\nkind: ElastiCacheRedis\nmetadata:\n  name: cache\n  service: email-service\n  stack: notification-platform\nspec:\n  engine:\n    version: \"7.0\"\n  cluster:\n    mode: replication-group\n    nodeType: cache.t3.micro\n    numNodes: 2\n",
    )
    .expect("cache");
    let api_file = stack.join("services/email-service/components/api/microservice.yaml");
    let api = std::fs::read_to_string(&api_file).expect("api");
    let api = api
        .replace(
            "  secrets:",
            "    - name: REDIS_HOST\n      valueFrom:\n        component: email-service/cache\n        output: endpoint\n\n  secrets:",
        )
        .replace("    - email-service/queue\n", "    - email-service/queue\n    - email-service/cache\n");
    std::fs::write(&api_file, api).expect("api");
    let mut plan = panka(&moto, repo.path());
    plan.args([
        "plan",
        "--stack",
        "notification-platform",
        "--var",
        "VERSION=v1.1.0",
        "--output",
        "json",
    ]);
    let planned = run_json(&mut plan);
    let actions: Vec<(String, String, u64)> = planned["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "noop")
        .map(|c| {
            (
                c["component"].as_str().unwrap_or("").to_string(),
                c["action"].as_str().unwrap_or("").to_string(),
                c["wave"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("email-service/cache".to_string(), "create".to_string(), 1),
            ("email-service/api".to_string(), "update".to_string(), 2)
        ],
        "{planned}"
    );
    let week3 = run_json(&mut apply("v1.1.0"));
    assert_eq!(week3["result"], "success", "{week3}");
}

/// Day 1's `panka apply` as a CI log shows it (text, not a terminal; stdout and stderr in
/// one stream, as a terminal or a CI log interleaves them): the header, the lock, the plan
/// box, the waves with each resource's steps, Finalizing, and the summary. Times,
/// durations, ids, ports, account ids and moto's hostnames are filtered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_one_apply_screen() {
    let Walkthrough { moto, repo, .. } =
        Walkthrough::on_moto("super-secure-db-password-12345").await;

    // One file for both streams keeps their real order.
    let log_path = repo.path().join("apply.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut cmd = panka_aws_std(repo.path(), repo.path(), &moto.endpoint());
    cmd.args([
        "apply",
        "--stack",
        "notification-platform",
        "--environment",
        "development",
        "--auto-approve",
        "--var",
        "VERSION=v1.0.0",
    ])
    .stdin(std::process::Stdio::null())
    .stdout(log.try_clone().expect("clone"))
    .stderr(log);
    let status = cmd.status().expect("run panka");
    let screen = std::fs::read_to_string(&log_path).expect("log");
    assert_eq!(status.code(), Some(0), "{screen}");

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix("day-one-apply");
    for (pattern, replacement) in [
        // Lock and deployment ids.
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[uuid]",
        ),
        // Durations: `(5m 46s)`, `Duration: 8s`.
        (r"\b\d+m \d{2}s\b", "[d]"),
        (r"\b\d+s\b", "[d]"),
        // moto's host and port, account ids, AWS's generated name parts.
        (r"127\.0\.0\.1:\d+", "[moto]"),
        (r"localhost:\d+", "[moto]"),
        (r"\b\d{12}\b", "[account]"),
        (
            r"https?://[A-Za-z0-9.:-]*amazonaws\.com(:\d+)?",
            "[aws-url]",
        ),
        // Who deploys is the caller's identity or user@host (another change).
        (r"Deployed by: .*", "Deployed by: [who]"),
        // The resolver's wording differs between systems.
        (r"does not resolve \(.*\)", "does not resolve (…)"),
        (r"[A-Za-z0-9.-]+\.amazonaws\.com(:\d+)?", "[aws-host]"),
        (r"\(serial \d+\)", "(serial [n])"),
        // The plan box's cost and duration estimates come from dated tables.
        (r"\$[0-9.,]+(/month)?", "$[cost]"),
        (r"~\d+ (minutes?|seconds?)", "~[estimate]"),
    ] {
        settings.add_filter(pattern, replacement);
    }
    settings.bind(|| insta::assert_snapshot!(screen));
}
