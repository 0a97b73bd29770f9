//! Lock races on S3 state and the DynamoDB lock (moto): 20 concurrent `panka apply` on one
//! stack and environment → exactly one proceeds, the others exit 3 naming it; applies of
//! two environments proceed at the same time.
//!
//! To make "at the same time" certain rather than likely, the processes talk to moto
//! through the fault proxy, which holds every S3 `PutObject` (the state write an apply
//! makes right after taking the lock) until the test releases it. A process held there
//! owns the lock; the test waits until the others have exited before letting it finish.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::cli::panka_aws_std;
use crate::support::files::write;
use crate::support::moto::MotoServer;
use crate::support::proxy::{FaultConfig, FaultProxy};
use serde_json::Value;

const RACERS: usize = 20;
/// The call an apply makes right after taking the lock: the fencing write of the state.
const STATE_WRITE: &str = "s3:PutObject";
/// How long the processes may take to reach the points the tests wait for.
const DEADLINE: Duration = Duration::from_secs(120);

const STACK: &str = "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: aws\n    region: us-east-1\n";
const SERVICE: &str =
    "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: orders\n  stack: shop\n";
const QUEUE: &str = "apiVersion: components.panka.io/v1\nkind: SQS\nmetadata:\n  name: queue\n  service: orders\n  stack: shop\nspec:\n  type: standard\n  visibilityTimeout: 60\n";

fn environment(name: &str) -> String {
    format!(
        "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  requireApproval: false\n"
    )
}

struct Env {
    // Kept alive (killed on drop) while the proxy forwards to it.
    _moto: MotoServer,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
}

impl Env {
    /// A repo with the one-queue stack `shop` (environments development and staging), a
    /// config with S3 state and DynamoDB locks, bootstrapped through the proxy.
    fn new() -> Env {
        // Serialised: racing applies need DynamoDB's atomic conditional put.
        let moto = MotoServer::start_serialized();
        let proxy = FaultProxy::start(&moto.endpoint(), FaultConfig::transparent()).expect("proxy");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("stacks/shop");
        for (rel, text) in [
            ("stack.yaml", STACK.to_owned()),
            ("services/orders/service.yaml", SERVICE.to_owned()),
            (
                "services/orders/components/queue/sqs.yaml",
                QUEUE.to_owned(),
            ),
            (
                "environments/development/environment.yaml",
                environment("development"),
            ),
            (
                "environments/staging/environment.yaml",
                environment("staging"),
            ),
        ] {
            write(&root, rel, &text);
        }
        std::fs::write(
            dir.path().join("config.yaml"),
            "version: v1\nbackend:\n  type: s3\n  region: us-east-1\n  bucket: company-panka-state\nlocks:\n  type: dynamodb\n  region: us-east-1\n  table: company-panka-locks\naws:\n  region: us-east-1\n",
        )
        .expect("config");
        let env = Env {
            _moto: moto,
            proxy,
            dir,
        };
        let out = env
            .panka("bootstrap", &["init", "--bootstrap"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        env
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.home().join("config.yaml")
    }

    fn panka(&self, user: &str, args: &[&str]) -> Command {
        let home = self.home();
        let mut cmd = panka_aws_std(home, home, &self.proxy.endpoint());
        cmd.args(args)
            .env("PANKA_CONFIG", self.config())
            .env("AWS_REGION", "us-east-1")
            .env("PANKA_USER", user)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn spawn_apply(&self, user: &str, environment: &str) -> Child {
        self.panka(
            user,
            &[
                "apply",
                "--stack",
                "shop",
                "--environment",
                environment,
                "--auto-approve",
                "--output",
                "json",
            ],
        )
        .spawn()
        .expect("spawn panka apply")
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits for a child that was released or is expected to exit on its own.
fn finish(child: Child) -> Output {
    child.wait_with_output().expect("wait for panka")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Splits `running` into the ones that exited (moved to `exited`) and the rest.
fn collect_exited(running: &mut Vec<(usize, Child)>, exited: &mut Vec<(usize, Child)>) {
    let mut still = Vec::new();
    for (i, mut child) in running.drain(..) {
        match child.try_wait() {
            Ok(Some(_)) => exited.push((i, child)),
            _ => still.push((i, child)),
        }
    }
    *running = still;
}

#[test]
fn twenty_concurrent_applies_one_proceeds_the_others_exit_3_naming_it() {
    let env = Env::new();
    env.proxy.hold(STATE_WRITE);
    let mut running: Vec<(usize, Child)> = (0..RACERS)
        .map(|i| (i, env.spawn_apply(&format!("racer-{i:02}"), "development")))
        .collect();

    // Every loser exits by itself; the winner waits in its held state write.
    let mut exited = Vec::new();
    let settled = env.proxy.wait_until(DEADLINE, |p| {
        collect_exited(&mut running, &mut exited);
        running.len() <= 1 && p.held() == running.len() as u64
    });
    assert!(
        settled,
        "after {DEADLINE:?}: {} still running, {} held at the state write",
        running.len(),
        env.proxy.held()
    );
    assert_eq!(running.len(), 1, "exactly one process proceeds");
    let (winner, winner_child) = running.pop().expect("the winner");
    let winner_name = format!("racer-{winner:02}@");

    let mut lock_ids = Vec::new();
    for (i, child) in exited {
        let out = finish(child);
        assert_eq!(out.status.code(), Some(3), "racer {i}: {}", text(&out));
        let doc = json(&out);
        let who = doc["error"]["lock"]["who"].as_str().unwrap_or("");
        assert!(
            who.starts_with(&winner_name),
            "racer {i} names {who:?}, the holder is {winner_name}: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&winner_name),
            "racer {i}'s message names the holder: {}",
            text(&out)
        );
        lock_ids.push(doc["error"]["lock"]["id"].as_str().unwrap_or("").to_owned());
    }
    lock_ids.dedup();
    assert_eq!(
        lock_ids.len(),
        1,
        "every loser saw the same lock: {lock_ids:?}"
    );

    env.proxy.release();
    let out = finish(winner_child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["result"], "success", "{}", text(&out));

    // The lock was released: the next apply takes it and has nothing to do.
    let again = env
        .panka(
            "after",
            &[
                "apply",
                "--stack",
                "shop",
                "--environment",
                "development",
                "--auto-approve",
                "--output",
                "json",
            ],
        )
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(json(&again)["result"], "no_changes");
}

#[test]
fn two_environments_apply_at_the_same_time() {
    let env = Env::new();
    env.proxy.hold(STATE_WRITE);
    let development = env.spawn_apply("dev-runner", "development");
    let staging = env.spawn_apply("staging-runner", "staging");
    // Both hold their own lock at once: both reach their state write before either ends.
    let both = env.proxy.wait_until(DEADLINE, |p| p.held() == 2);
    env.proxy.release();
    let development = finish(development);
    let staging = finish(staging);
    assert!(
        both,
        "both environments did not proceed together\n{}\n{}",
        text(&development),
        text(&staging)
    );
    for out in [&development, &staging] {
        assert_eq!(out.status.code(), Some(0), "{}", text(out));
        assert_eq!(json(out)["result"], "success", "{}", text(out));
    }
    let urls: Vec<String> = [&development, &staging]
        .iter()
        .map(|out| {
            json(out)["outputs"]["orders/queue"]["url"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        urls[0].contains("shop-development-orders-queue"),
        "{urls:?}"
    );
    assert!(urls[1].contains("shop-staging-orders-queue"), "{urls:?}");
}
