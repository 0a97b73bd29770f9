//! `panka plan` on the local embedded default: the walkthrough's first plan, JSON,
//! `--detailed-exitcode`, `--out`, undefined variables, and the Week 2 image-only change
//! planned from recorded state (`--refresh=false`, so no AWS call is made).

use crate::support::cli::panka_aws;
use crate::support::files::walkthrough_repo;
use assert_cmd::Command;
use panka_core::diag::{Diagnostics, Severity};
use panka_core::interp::Variables;
use panka_core::loader::{ResolveOptions, read_stack_files, resolve};
use panka_core::source::Sources;
use panka_core::state::local::LocalStore;
use panka_core::state::{ComponentState, ComponentStatus, StateDocument, StateKey, StateStore};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The plan screen as a snapshot: it is printed without AWS, times or ports, so only the
/// scratch repository's path and the box's rules and padding (whose width follows the
/// longest line) are normalised.
fn snapshot(name: &str, screen: &str) {
    insta::with_settings!({filters => vec![
        (r"\S*/\.tmp[A-Za-z0-9]+", "[REPO]"),
        (r"─{2,}", "──"),
        (r"  +", "  "),
    ]}, {
        insta::assert_snapshot!(name, screen);
    });
}

/// `panka plan --stack notification-platform ARGS` in `repo`, without AWS.
fn plan(repo: &Path, args: &[&str]) -> std::process::Output {
    panka(repo)
        .args(["plan", "--stack", "notification-platform"])
        .args(args)
        .output()
        .expect("run")
}

fn panka(cwd: &Path) -> Command {
    // Nothing listens on port 9: a plan that called AWS would fail.
    let mut cmd = panka_aws(cwd, cwd, "http://127.0.0.1:9");
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

#[test]
fn first_plan_is_the_walkthrough_screen() {
    let repo = walkthrough_repo();
    let out = plan(
        repo.path(),
        &["--environment", "development", "--var", "VERSION=v1.0.0"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    snapshot("plan_first_deployment", &text);
    assert!(!repo.path().join(".panka").exists(), "plan writes no state");
}

#[test]
fn json_detailed_exitcode_and_saved_plans() {
    let repo = walkthrough_repo();
    let out = plan(
        repo.path(),
        &[
            "--var",
            "VERSION=v1.0.0",
            "--output",
            "json",
            "--detailed-exitcode",
            "--out",
            "plan.json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "changes present");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"create": 3, "update": 0, "replace": 0, "delete": 0})
    );
    let waves: Vec<(String, u64)> = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["component"].as_str().unwrap_or("").to_string(),
                c["wave"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        waves,
        [
            ("email-service/database".to_string(), 1),
            ("email-service/queue".to_string(), 1),
            ("email-service/api".to_string(), 2)
        ]
    );
    assert!(
        doc["estimated_monthly_cost_usd"]
            .as_f64()
            .is_some_and(|c| c > 0.0)
    );
    assert_eq!(doc["dangerous"], serde_json::json!([]));
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join("plan.json")).expect("saved"),
    )
    .expect("json");
    assert_eq!(saved["plan"]["based_on"], Value::Null);
}

#[test]
fn undefined_variables_stop_the_plan() {
    let repo = walkthrough_repo();
    let out = panka(repo.path())
        .args(["plan", "--stack", "notification-platform"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[E050]: variable `VERSION` is not defined"),
        "{err}"
    );
    assert!(err.contains("microservice.yaml:12:11"), "{err}");
    assert!(out.stdout.is_empty());
}

/// Records the stack as applied with `version`, as a successful apply would.
fn seed_state(repo: &Path, version: &str) {
    seed_state_with(repo, version, |_| {});
}

/// The state an apply of `version` would have left, changed by `edit` before it is
/// written.
fn seed_state_with(repo: &Path, version: &str, edit: impl FnOnce(&mut StateDocument)) {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let files = read_stack_files(
        &repo.join("stacks/notification-platform"),
        &mut sources,
        &mut diags,
    );
    let mut vars = Variables::new();
    vars.push_layer([("VERSION".to_string(), version.to_string())].into());
    let stack = resolve(
        &files,
        &ResolveOptions {
            environment: Some("development"),
            variables: &vars,
            undefined_variables: Severity::Error,
        },
        &mut diags,
    );
    assert!(!diags.has_errors());
    let mut doc = StateDocument::new(
        "notification-platform",
        "development",
        jiff::Timestamp::now(),
    );
    doc.serial = 5;
    for c in &stack.components {
        let outputs = match c.id.component.as_str() {
            "database" => [
                ("endpoint".to_string(), "db.local".to_string()),
                ("port".to_string(), "5432".to_string()),
            ]
            .into(),
            "queue" => [("url".to_string(), "https://sqs/q".to_string())].into(),
            _ => Default::default(),
        };
        doc.components.insert(
            c.id.to_string(),
            ComponentState {
                kind: c.kind(),
                physical_ids: Default::default(),
                applied_spec: serde_json::to_value(&c.spec).expect("spec"),
                outputs,
                status: ComponentStatus::Ready,
                updated_at: "2026-11-27T08:00:00Z".into(),
                deployment_id: "d-1".into(),
                depends_on: None,
            },
        );
    }
    edit(&mut doc);
    let store = LocalStore::new(repo.join(".panka"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime
        .block_on(store.write(
            &StateKey::new("notification-platform", "development"),
            &doc,
            None,
        ))
        .expect("seed state");
}

#[test]
fn week_two_plans_exactly_the_image_change() {
    let repo = walkthrough_repo();
    seed_state(repo.path(), "v1.0.0");
    let same = plan(
        repo.path(),
        &[
            "--var",
            "VERSION=v1.0.0",
            "--refresh=false",
            "--detailed-exitcode",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        same.status.code(),
        Some(0),
        "nothing to change: {}",
        String::from_utf8_lossy(&same.stderr)
    );
    let doc: Value = serde_json::from_slice(&same.stdout).expect("json");
    assert!(
        doc["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .all(|c| c["action"] == "noop"),
        "{doc}"
    );
    assert_eq!(doc["based_on"]["serial"], 5);

    let next = plan(
        repo.path(),
        &[
            "--var",
            "VERSION=v1.0.1",
            "--refresh=false",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    let doc: Value = serde_json::from_slice(&next.stdout).expect("json");
    let changed: Vec<&Value> = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "noop")
        .collect();
    assert_eq!(changed.len(), 1, "{doc}");
    assert_eq!(changed[0]["component"], "email-service/api");
    assert_eq!(changed[0]["action"], "update");
    let fields = changed[0]["fields"].as_array().expect("fields");
    assert_eq!(fields.len(), 1, "only the image: {fields:?}");
    assert!(
        fields[0]["old"]
            .as_str()
            .is_some_and(|o| o.ends_with("email-api:v1.0.0")),
        "{fields:?}"
    );
    assert!(
        fields[0]["new"]
            .as_str()
            .is_some_and(|n| n.ends_with("email-api:v1.0.1")),
        "{fields:?}"
    );

    let text = plan(repo.path(), &["--var", "VERSION=v1.0.1", "--refresh=false"]);
    snapshot("plan_image_update", &String::from_utf8_lossy(&text.stdout));
}

/// Every file under `dir` with its contents, to see that nothing was written.
fn snapshot_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if entry.file_type().expect("type").is_dir() {
            out.extend(snapshot_files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).expect("read")));
        }
    }
    out.sort();
    out
}

#[cfg(unix)]
#[test]
fn a_service_folder_linked_outside_the_repo_stops_the_plan_before_it_proposes_deletes() {
    // Deployed, then the service folder became a link to outside the repo: before links
    // were checked it vanished silently and the plan deleted its three components.
    let repo = walkthrough_repo();
    seed_state(repo.path(), "v1.0.0");
    let outside = tempfile::tempdir().expect("tempdir");
    let service = repo
        .path()
        .join("stacks/notification-platform/services/email-service");
    std::fs::rename(&service, outside.path().join("email-service")).expect("move");
    std::os::unix::fs::symlink(outside.path().join("email-service"), &service).expect("link");
    let before = snapshot_files(&repo.path().join(".panka"));

    for command in ["validate", "plan"] {
        let out = panka(repo.path())
            .args([
                command,
                "--stack",
                "notification-platform",
                "--var",
                "VERSION=v1.0.0",
            ])
            .args(if command == "plan" {
                &["--refresh=false"][..]
            } else {
                &[]
            })
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {err}");
        assert!(
            err.contains(
                "error[E036]: `stacks/notification-platform/services/email-service` is a link to"
            ),
            "{command}: {err}"
        );
        assert!(err.contains("outside the deployment repo"), "{err}");
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            !text.contains("delete") && !text.contains("destroy"),
            "{command}: {text}"
        );
    }
    assert_eq!(
        snapshot_files(&repo.path().join(".panka")),
        before,
        "nothing written"
    );
}

fn plan_json(repo: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let out = panka(repo)
        .args([
            "plan",
            "--stack",
            "notification-platform",
            "--var",
            "VERSION=v1.0.0",
            "--output",
            "json",
        ])
        .args(extra)
        .output()
        .expect("run");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn changes(doc: &Value) -> Vec<(String, String, u64)> {
    doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["component"].as_str().unwrap_or("").to_string(),
                c["action"].as_str().unwrap_or("").to_string(),
                c["wave"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn unknown_targets_are_refused_with_a_suggestion_before_any_aws_call() {
    let repo = walkthrough_repo();
    let out = plan(
        repo.path(),
        &[
            "--var",
            "VERSION=v1.0.0",
            "--target",
            "email-service/queu",
            "--target",
            "api",
            "--target",
            "billing/ledger",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: --target names components that are not in the stack: `email-service/queu` (did you mean `email-service/queue`?), `api` (did you mean `email-service/api`?), `billing/ledger`"),
        "{err}"
    );
    assert!(
        err.contains(
            "this stack has: email-service/api, email-service/database, email-service/queue"
        ),
        "{err}"
    );
    // The endpoint is a closed port: any AWS call would have failed differently.
    assert!(!err.contains("127.0.0.1:9"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!repo.path().join(".panka").exists(), "nothing was written");
}

#[test]
fn targeted_plans_hold_the_targets_and_their_dependencies_and_say_so() {
    let repo = walkthrough_repo();
    let (code, doc, err) = plan_json(repo.path(), &["--target", "email-service/queue"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        changes(&doc),
        [("email-service/queue".to_string(), "create".to_string(), 1)]
    );
    assert_eq!(doc["targeted"], true);
    assert_eq!(doc["targets"], serde_json::json!(["email-service/queue"]));
    assert_eq!(doc["summary"]["create"], 1);

    // The api brings what it depends on, in their waves.
    let (code, doc, err) = plan_json(repo.path(), &["--target", "email-service/api"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        changes(&doc),
        [
            (
                "email-service/database".to_string(),
                "create".to_string(),
                1
            ),
            ("email-service/queue".to_string(), "create".to_string(), 1),
            ("email-service/api".to_string(), "create".to_string(), 2),
        ]
    );

    // Untargeted: not a partial plan.
    let (_, doc, _) = plan_json(repo.path(), &[]);
    assert_eq!(doc["targeted"], false);
    assert_eq!(changes(&doc).len(), 3);

    // The box says it is partial; the saved plan records the targets.
    let out = plan(
        repo.path(),
        &[
            "--var",
            "VERSION=v1.0.0",
            "--target",
            "email-service/queue",
            "--out",
            "queue.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    snapshot("plan_targeted", &String::from_utf8_lossy(&out.stdout));
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join("queue.json")).expect("saved"),
    )
    .expect("json");
    assert_eq!(
        saved["plan"]["targets"],
        serde_json::json!(["email-service/queue"])
    );
}

#[test]
fn recorded_durations_refine_the_estimate() {
    let repo = walkthrough_repo();
    // Without history: RDS create (6 min) in wave 1, MicroService create (3 min) in wave 2.
    let (_, doc, err) = plan_json(repo.path(), &[]);
    assert_eq!(doc["estimated_duration_s"], 540, "{err}");

    // What an earlier apply measured and kept in state (an interrupted one: nothing of
    // this stack is recorded yet, so every component is still a create).
    let key = StateKey::new("notification-platform", "development");
    let store = LocalStore::new(repo.path().join(".panka"));
    let mut doc = StateDocument::new(&key.stack, &key.environment, jiff::Timestamp::now());
    doc.durations_s = [
        ("RDS:create".to_string(), vec![100.0, 120.0, 900.0]),
        ("MicroService:create".to_string(), vec![40.0, 60.0, 50.0]),
        ("SQS:create".to_string(), vec![2.0]),
    ]
    .into();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(store.write(&key, &doc, None))
        .expect("state");
    // Medians: database 120 s (the 900 s outlier does not count), api 50 s.
    let (_, doc, err) = plan_json(repo.path(), &[]);
    assert_eq!(doc["estimated_duration_s"], 170, "{err}");
    let out = plan(repo.path(), &["--var", "VERSION=v1.0.0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("│ Estimated duration: ~3 minutes"), "{text}");
}

#[test]
fn a_replaced_database_and_a_removed_queue_are_shown_as_dangerous() {
    let repo = walkthrough_repo();
    seed_state_with(repo.path(), "v1.0.0", |doc| {
        // A queue an earlier version of the stack had.
        let queue = doc.components["email-service/queue"].clone();
        doc.components
            .insert("email-service/old-queue".to_string(), queue);
    });
    // A major engine version is a new database.
    let rds = repo
        .path()
        .join("stacks/notification-platform/services/email-service/components/database/rds.yaml");
    let text = std::fs::read_to_string(&rds).expect("rds.yaml");
    std::fs::write(&rds, text.replace("\"15.4\"", "\"16.3\"")).expect("rds.yaml");

    let out = plan(
        repo.path(),
        &[
            "--var",
            "VERSION=v1.0.0",
            "--refresh=false",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    snapshot(
        "plan_replace_and_delete",
        &String::from_utf8_lossy(&out.stdout),
    );
}
