//! `panka state show`, `panka lock status` and `panka unlock` on the local embedded default
//! (no configuration file): state under `.panka/` in the deployment repo.

use crate::support;
use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;
use std::path::Path;

fn panka(cwd: &Path, home: &Path) -> Command {
    let mut cmd = support::cli::panka(cwd);
    cmd.env("HOME", home).env_remove("AWS_ENDPOINT_URL");
    cmd
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = dir.path().join("stacks/shop");
    std::fs::create_dir_all(&stack).expect("mkdir");
    std::fs::write(
        stack.join("stack.yaml"),
        "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: aws\n    region: us-east-1\n",
    )
    .expect("write");
    dir
}

#[test]
fn state_show_without_state_says_so() {
    let repo = repo();
    panka(repo.path(), repo.path())
        .args(["state", "show", "--stack", "shop"])
        .assert()
        .success()
        .stdout(contains("No state for shop (development)"));
    let out = panka(repo.path(), repo.path())
        .args([
            "state", "show", "--stack", "shop", "-e", "staging", "--output", "json",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["state"], Value::Null);
    assert_eq!(doc["environment"], "staging");
}

#[test]
fn state_show_prints_serial_lineage_and_components() {
    let repo = repo();
    let dir = repo.path().join(".panka/stacks/shop/development");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("state.json"),
        r#"{"format_version":1,"lineage":"11111111-2222-3333-4444-555555555555","serial":4,"stack":"shop","environment":"development","updated_at":"2026-11-27T08:00:00Z","components":{"web/queue":{"kind":"SQS","physical_ids":{"queue_url":"https://q"},"applied_spec":{},"outputs":{"url":"https://q"},"status":"ready","updated_at":"2026-11-27T08:00:00Z","deployment_id":"d-1"}}}"#,
    )
    .expect("write");
    panka(&repo.path().join("stacks/shop"), repo.path())
        .args(["state", "show"])
        .assert()
        .success()
        .stdout(contains("Serial: 4"))
        .stdout(contains("Lineage: 11111111-2222-3333-4444-555555555555"))
        .stdout(contains("web/queue"))
        .stdout(contains("SQS"));
    let out = panka(repo.path(), repo.path())
        .args(["state", "show", "--stack", "shop", "--output", "json"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["state"]["serial"], 4);
    assert_eq!(
        doc["state"]["components"]["web/queue"]["outputs"]["url"],
        "https://q"
    );
}

#[test]
fn corrupt_state_is_a_clear_error() {
    let repo = repo();
    let dir = repo.path().join(".panka/stacks/shop/development");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("state.json"), "{not json").expect("write");
    panka(repo.path(), repo.path())
        .args(["state", "show", "--stack", "shop"])
        .assert()
        .code(1)
        .stderr(contains("is not a valid panka state"))
        .stderr(contains("restore the file from a backup"))
        // A local file has no bucket to restore a version from.
        .stderr(contains("bucket").not());
}

/// A newer panka's state is never rewritten by this one: every command that reads it
/// stops before a lock, an AWS call or a write, naming the version found and the ones
/// it reads.
#[test]
fn a_state_of_an_unknown_format_is_refused_before_any_lock_call_or_write() {
    let repo = repo();
    let dir = repo.path().join(".panka/stacks/shop/development");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let newer = r#"{"format_version":99,"lineage":"l","serial":7,"stack":"shop","environment":"development","updated_at":"2030-01-01T00:00:00Z","components":{},"kept_by_a_newer_panka":{"x":1}}"#;
    std::fs::write(dir.join("state.json"), newer).expect("write");
    let commands: [&[&str]; 5] = [
        &["state", "show"],
        &["plan"],
        &["apply", "--auto-approve"],
        &["destroy", "--auto-approve"],
        &["rollback", "--auto-approve"],
    ];
    for args in commands {
        panka(repo.path(), repo.path())
            .args(args)
            .args(["--stack", "shop"])
            // Any AWS call would go here and fail with a different message.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .assert()
            .code(1)
            .stderr(contains("has format_version 99"))
            .stderr(contains("this panka reads format_version 1"))
            .stderr(contains("a newer panka wrote this state"));
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("state.json")).expect("state"),
        newer,
        "the state is left as the newer panka wrote it"
    );
    assert!(!dir.join("lock").exists(), "no lock was taken");
    assert!(
        !dir.join("deployments").exists(),
        "no deployment was recorded"
    );
}

#[test]
fn local_lock_status_and_unlock() {
    let repo = repo();
    panka(repo.path(), repo.path())
        .args(["lock", "status", "--stack", "shop"])
        .assert()
        .success()
        .stdout(contains("Lock: stack:shop:env:development"))
        .stdout(contains("Not locked"));
    // A holder file left by a process that died: the OS lock is free, so it is not held.
    let dir = repo.path().join(".panka/stacks/shop/development");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("lock.json"),
        r#"{"ID":"dead-1","Who":"ghost@host","Operation":"apply","Created":"2026-11-27T08:00:00Z","ExpiresAt":4102444800}"#,
    )
    .expect("write");
    let out = panka(repo.path(), repo.path())
        .args(["lock", "status", "--stack", "shop", "--output", "json"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["locked"], false);
    panka(repo.path(), repo.path())
        .args(["unlock", "--stack", "shop", "--lock-id", "dead-1"])
        .assert()
        .code(1)
        .stderr(contains("is not locked"));
    panka(repo.path(), repo.path())
        .args(["lock", "acquire", "--stack", "shop"])
        .assert()
        .code(1)
        .stderr(contains("DynamoDB"));
}

#[test]
fn bad_config_files_point_at_the_line() {
    let repo = repo();
    let config = repo.path().join("config.yaml");
    std::fs::write(&config, "version: v1\nbackend:\n  type: s4\n").expect("write");
    panka(repo.path(), repo.path())
        .args(["lock", "status", "--stack", "shop"])
        .arg("--config")
        .arg(&config)
        .assert()
        .code(1)
        .stderr(contains("config.yaml:3:9"))
        .stderr(contains("did you mean `s3`?"));
    panka(repo.path(), repo.path())
        .args([
            "state",
            "show",
            "--stack",
            "shop",
            "--config",
            "missing.yaml",
        ])
        .assert()
        .code(1)
        .stderr(contains("does not exist"));
}
