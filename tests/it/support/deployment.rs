//! The walkthrough's deployment repo for the reliability tests (faults, kills): a copy of
//! `fixtures/notification-platform` with local state, `panka` processes pointed at an
//! endpoint (usually a fault proxy in front of one moto account), and an inventory of what
//! AWS holds, to find duplicates and compare with state. Used by the reliability tests
//! and the secret canary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::cli::panka_aws_std;
use super::files::walkthrough_repo;
use panka_providers::aws::AwsClients;
use serde_json::Value;

pub const STACK: &str = "notification-platform";
pub const SECRET_NAME: &str = super::moto::DB_SECRET;
pub const SECRET_VALUE: &str = r#"{"password":"canary-Reliability-7731"}"#;
/// The server environment moto needs for ECS services to report running tasks.
pub const MOTO_ENV: &[(&str, &str)] = &[("MOTO_ECS_SERVICE_RUNNING", "2")];

/// The S3 bucket and DynamoDB table of [`Repo::walkthrough_on_s3`].
pub const BUCKET: &str = "company-panka-state";
pub const TABLE: &str = "company-panka-locks";

/// A deployment repo holding the walkthrough's stack, with local state under `.panka/`
/// or, with a config file, S3 state and DynamoDB locks.
pub struct Repo {
    pub dir: tempfile::TempDir,
    config: Option<PathBuf>,
}

impl Repo {
    pub fn walkthrough() -> Repo {
        Repo {
            dir: walkthrough_repo(),
            config: None,
        }
    }

    /// The walkthrough with state in S3 ([`BUCKET`]) and locks in DynamoDB ([`TABLE`]);
    /// run `panka init --bootstrap` before applying.
    pub fn walkthrough_on_s3() -> Repo {
        let mut repo = Repo::walkthrough();
        let config = repo.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "version: v1\nbackend:\n  type: s3\n  region: us-east-1\n  bucket: {BUCKET}\n\
                 locks:\n  type: dynamodb\n  region: us-east-1\n  table: {TABLE}\n\
                 aws:\n  region: us-east-1\n"
            ),
        )
        .expect("config");
        repo.config = Some(config);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `panka ARGS` in the repo, against `endpoint`, with a clean environment.
    pub fn panka(&self, endpoint: &str, args: &[&str]) -> Command {
        let home = self.path();
        let mut cmd = panka_aws_std(home, home, endpoint);
        cmd.args(args)
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null());
        if let Some(config) = &self.config {
            cmd.env("PANKA_CONFIG", config);
        }
        cmd
    }

    /// The development apply of the walkthrough's Day 1, in JSON.
    pub fn apply(&self, endpoint: &str) -> Command {
        self.panka(
            endpoint,
            &[
                "apply",
                "--stack",
                STACK,
                "--environment",
                "development",
                "--auto-approve",
                "--output",
                "json",
                "--var",
                "VERSION=v1.0.0",
            ],
        )
    }

    /// [`Repo::apply`] started in the background, its output discarded (to be killed).
    pub fn spawn_apply(&self, endpoint: &str) -> std::process::Child {
        self.apply(endpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn panka apply")
    }

    /// `panka lock status` of the development environment, in JSON (must exit 0).
    pub fn lock_status(&self, endpoint: &str) -> Value {
        success_json(&run(&mut self.panka(
            endpoint,
            &[
                "lock",
                "status",
                "--stack",
                STACK,
                "--environment",
                "development",
                "--output",
                "json",
            ],
        )))
    }

    /// Whether state lives in S3 ([`Repo::walkthrough_on_s3`]).
    pub fn on_s3(&self) -> bool {
        self.config.is_some()
    }

    /// The development state, when there is one: from S3 through `clients` for a repo on
    /// S3, else from `.panka/`.
    pub async fn current_state(&self, clients: &AwsClients) -> Option<Value> {
        if self.on_s3() {
            s3_state(clients).await
        } else {
            self.state()
        }
    }

    /// The development state in `.panka/`, when there is one.
    pub fn state(&self) -> Option<Value> {
        let path = self.state_path();
        let text = std::fs::read_to_string(&path).ok()?;
        Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    pub fn state_path(&self) -> PathBuf {
        self.path()
            .join(".panka/stacks")
            .join(STACK)
            .join("development/state.json")
    }
}

/// The state document in S3 (for [`Repo::walkthrough_on_s3`]), when there is one.
pub async fn s3_state(clients: &AwsClients) -> Option<Value> {
    let key = panka_core::state::layout::state_path(
        "",
        &panka_core::state::StateKey::new(STACK, "development"),
    );
    let object = clients
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .ok()?;
    let bytes = object.body.collect().await.expect("read the state object");
    Some(serde_json::from_slice(&bytes.into_bytes()).expect("the state is JSON"))
}

/// The environment variable `name` parsed, or `default` when it is unset or unparsable:
/// the knobs of the reliability tests (`PANKA_FAULT_SEED`, `PANKA_KILL_POINTS`, …).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cmd` to its end and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run panka")
}

/// stdout and stderr, for failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The JSON document of a `--output json` run that must exit 0.
pub fn success_json(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Creates the database password secret the stack refers to.
pub async fn create_secret(clients: &AwsClients) {
    super::moto::create_secret(clients, SECRET_NAME, SECRET_VALUE).await;
}

/// What one account holds, by resource type: the names (or ids) of every resource, in
/// order, duplicates kept.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub by_type: BTreeMap<&'static str, Vec<String>>,
}

impl Inventory {
    /// Reads every resource type the walkthrough's stack creates.
    pub async fn read(clients: &AwsClients) -> Inventory {
        let mut by_type: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();

        let queues = clients.sqs.list_queues().send().await.expect("list queues");
        by_type.insert("queue", queues.queue_urls().to_vec());

        let databases = clients
            .rds
            .describe_db_instances()
            .send()
            .await
            .expect("describe DB instances");
        by_type.insert(
            "db_instance",
            databases
                .db_instances()
                .iter()
                .filter_map(|d| d.db_instance_identifier().map(str::to_owned))
                .collect(),
        );

        let clusters = clients
            .ecs
            .list_clusters()
            .send()
            .await
            .expect("list clusters");
        let mut services = Vec::new();
        for cluster in clusters.cluster_arns() {
            let listed = clients
                .ecs
                .list_services()
                .cluster(cluster)
                .send()
                .await
                .expect("list services");
            services.extend(listed.service_arns().iter().cloned());
        }
        by_type.insert("ecs_cluster", clusters.cluster_arns().to_vec());
        by_type.insert("ecs_service", services);

        let groups = clients
            .elasticloadbalancingv2
            .describe_target_groups()
            .send()
            .await
            .expect("describe target groups");
        by_type.insert(
            "target_group",
            groups
                .target_groups()
                .iter()
                .filter_map(|g| g.target_group_name().map(str::to_owned))
                .collect(),
        );
        let balancers = clients
            .elasticloadbalancingv2
            .describe_load_balancers()
            .send()
            .await
            .expect("describe load balancers");
        let mut listeners = Vec::new();
        for balancer in balancers.load_balancers() {
            let found = clients
                .elasticloadbalancingv2
                .describe_listeners()
                .set_load_balancer_arn(balancer.load_balancer_arn().map(str::to_owned))
                .send()
                .await
                .expect("describe listeners");
            listeners.extend(found.listeners().iter().map(|l| {
                format!(
                    "{}:{}",
                    balancer.load_balancer_name().unwrap_or("?"),
                    l.port().unwrap_or(0)
                )
            }));
        }
        by_type.insert(
            "load_balancer",
            balancers
                .load_balancers()
                .iter()
                .filter_map(|b| b.load_balancer_name().map(str::to_owned))
                .collect(),
        );
        by_type.insert("listener", listeners);

        let logs = clients
            .cloudwatchlogs
            .describe_log_groups()
            .send()
            .await
            .expect("describe log groups");
        by_type.insert(
            "log_group",
            logs.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name().map(str::to_owned))
                .collect(),
        );

        let security_groups = clients
            .ec2
            .describe_security_groups()
            .send()
            .await
            .expect("describe security groups");
        by_type.insert(
            "security_group",
            security_groups
                .security_groups()
                .iter()
                .filter(|g| g.group_name() != Some("default"))
                .map(|g| {
                    format!(
                        "{}/{}",
                        g.vpc_id().unwrap_or("-"),
                        g.group_name().unwrap_or("?")
                    )
                })
                .collect(),
        );

        let roles = clients.iam.list_roles().send().await.expect("list roles");
        by_type.insert(
            "iam_role",
            roles
                .roles()
                .iter()
                .map(|r| r.role_name().to_owned())
                .collect(),
        );

        for names in by_type.values_mut() {
            names.sort();
        }
        Inventory { by_type }
    }

    /// Names that occur more than once, by type.
    pub fn duplicates(&self) -> BTreeMap<&'static str, Vec<String>> {
        let mut found = BTreeMap::new();
        for (kind, names) in &self.by_type {
            let dups: Vec<String> = names
                .windows(2)
                .filter(|w| w[0] == w[1])
                .map(|w| w[0].clone())
                .collect();
            if !dups.is_empty() {
                found.insert(*kind, dups);
            }
        }
        found
    }

    /// How many resources of each type, for comparing with a reference run.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.by_type.iter().map(|(k, v)| (*k, v.len())).collect()
    }
}

/// The walkthrough's three components, as state keys.
pub const COMPONENTS: [&str; 3] = [
    "email-service/api",
    "email-service/database",
    "email-service/queue",
];

/// Checks that state records exactly the walkthrough's components, each ready, and that
/// their queue URL, database identifier and ECS service exist in `inventory`.
pub fn assert_state_matches(state: &Value, inventory: &Inventory) {
    let components = state["components"]
        .as_object()
        .unwrap_or_else(|| panic!("state without components: {state}"));
    let keys: Vec<&str> = components.keys().map(String::as_str).collect();
    assert_eq!(keys, COMPONENTS, "{state}");
    for (key, component) in components {
        assert_eq!(component["status"], "ready", "{key}: {component}");
    }
    let queue_url = components["email-service/queue"]["physical_ids"]["queue_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no queue_url: {state}"));
    // The host of a queue URL is whichever endpoint asked (moto or a proxy); the path
    // (account and name) identifies the queue.
    assert!(
        inventory.by_type["queue"]
            .iter()
            .any(|q| url_path(q) == url_path(queue_url)),
        "state's queue {queue_url} is not in AWS: {inventory:?}"
    );
    let recorded_ids: Vec<String> = components
        .values()
        .flat_map(|c| {
            c["physical_ids"]
                .as_object()
                .map(|ids| {
                    ids.values()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect();
    // Every database and ECS service in AWS is one that state knows about.
    for kind in [
        "db_instance",
        "ecs_service",
        "target_group",
        "load_balancer",
    ] {
        for name in &inventory.by_type[kind] {
            assert!(
                recorded_ids
                    .iter()
                    .any(|id| id == name || id.contains(name.as_str())),
                "{kind} {name} is in AWS but not in state: {state}"
            );
        }
    }
}

/// `/account/name` of `http://host:port/account/name`.
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("", |i| &rest[i..])
}
