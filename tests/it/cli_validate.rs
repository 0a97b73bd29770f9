//! `panka validate` end to end: the walkthrough's screens, JSON, and every bad-input case
//! under fixtures/invalid/ (each pinned by a snapshot of its exact messages).

use crate::support::cli::panka;
use crate::support::files::{copy_dir, fixtures, walkthrough_repo};
use serde_json::Value;
use std::path::PathBuf;

const WALKTHROUGH_TREE: &str = "Validating stack: notification-platform
├── Parsing stack.yaml... ✓
├── Parsing services... ✓
│   └── email-service ✓
├── Parsing components... ✓
│   ├── email-service/api ✓
│   ├── email-service/database ✓
│   └── email-service/queue ✓
├── Building dependency graph... ✓
│   Wave 1: database, queue
│   Wave 2: api
├── Validating references... ✓
├── Checking for cycles... ✓
└── Running policy checks... ✓

✓ Stack configuration is valid!
";

#[test]
fn validates_the_walkthrough_stack_from_the_repo_root() {
    let repo = walkthrough_repo();
    let out = panka(repo.path())
        .args(["validate", "--stack", "notification-platform"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), WALKTHROUGH_TREE);
    // The walkthrough validates without --var: VERSION is only a note.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note[E050]: variable `VERSION` is not defined"),
        "{stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn finds_the_stack_from_below_the_root_and_from_inside_it() {
    let repo = walkthrough_repo();
    let stack = repo.path().join("stacks/notification-platform");
    for cwd in [
        stack.join("services/email-service/components"),
        stack.clone(),
    ] {
        let out = panka(&cwd).args(["validate"]).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "from {}", cwd.display());
        assert_eq!(String::from_utf8_lossy(&out.stdout), WALKTHROUGH_TREE);
    }
    let out = panka(&stack.join("services"))
        .args(["validate", "--stack", "notification-platform"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn unknown_stack_names_suggest_the_nearest() {
    let repo = walkthrough_repo();
    panka(repo.path())
        .args(["validate", "--stack", "notification-platfrom"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "stack `notification-platfrom` not found",
        ))
        .stderr(predicates::str::contains(
            "did you mean `notification-platform`?",
        ));
}

#[test]
fn json_mode_reports_fatal_errors_as_a_document() {
    let repo = walkthrough_repo();
    let out = panka(repo.path())
        .args(["validate", "--stack", "nope", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(doc["error"]["message"], "stack `nope` not found");
}

#[test]
fn json_output_gives_the_same_waves() {
    let out = panka(&fixtures())
        .args([
            "validate",
            "--stack",
            "notification-platform",
            "--output",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    assert_eq!(doc["stack"], "notification-platform");
    assert_eq!(doc["valid"], true);
    assert_eq!(
        doc["waves"],
        serde_json::json!([
            ["email-service/database", "email-service/queue"],
            ["email-service/api"]
        ])
    );
    assert_eq!(doc["errors"], serde_json::json!([]));
    let kinds: Vec<(String, String)> = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("").to_string(),
                c["kind"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("email-service/api".to_string(), "MicroService".to_string()),
            ("email-service/database".to_string(), "RDS".to_string()),
            ("email-service/queue".to_string(), "SQS".to_string()),
        ]
    );
}

#[test]
fn production_with_a_pinned_version_passes_every_policy() {
    let out = panka(&fixtures())
        .args([
            "validate",
            "--stack",
            "notification-platform",
            "--environment",
            "production",
            "--var",
            "VERSION=v1.0.0",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn production_with_latest_fails_the_image_policy() {
    let out = panka(&fixtures())
        .args([
            "validate",
            "--stack",
            "notification-platform",
            "--environment",
            "production",
            "--var",
            "VERSION=latest",
            "--output",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["valid"], false);
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["code"], "P001");
    assert_eq!(errors[0]["line"], 12);
    assert!(
        errors[0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("api/microservice.yaml"))
    );
}

/// Each case folder holds `EXPECT` (one `CODE file:line:column` per expected
/// diagnostic), `EXIT` (the exit code) and optionally `ARGS` (extra flags).
#[test]
fn every_invalid_case_reports_its_errors_at_the_right_place() {
    let root = fixtures().join("invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures/invalid")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the bad-input corpus, found {}",
        cases.len()
    );
    for case in cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = |file: &str| std::fs::read_to_string(case.join(file)).unwrap_or_default();
        let args: Vec<String> = read("ARGS")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let exit: i32 = read("EXIT").trim().parse().expect("EXIT holds a number");

        let out = panka(&case)
            .arg("validate")
            .args(&args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(exit), "case {name}: {stderr}");
        for line in read("EXPECT").lines().filter(|l| !l.trim().is_empty()) {
            let (code, place) = line.split_once(' ').expect("CODE place");
            let wanted = format!("[{code}]");
            assert!(
                stderr.contains(&wanted),
                "case {name}: no {code} in\n{stderr}"
            );
            // A case may report one code several times: one of them must be here.
            let arrow = format!("--> {place}");
            assert!(
                stderr.match_indices(&wanted).any(|(at, _)| stderr[at..]
                    .lines()
                    .take(2)
                    .any(|l| l.trim_start().starts_with(&arrow))),
                "case {name}: {code} not at {place}:\n{stderr}"
            );
        }
        insta::assert_snapshot!(format!("invalid-{name}"), stderr);

        let json = panka(&case)
            .arg("validate")
            .args(&args)
            .args(["--output", "json"])
            .output()
            .expect("run");
        assert_eq!(json.status.code(), Some(exit), "case {name} (json)");
        let doc: Value = serde_json::from_slice(&json.stdout).expect("json document");
        assert_eq!(doc["valid"], exit == 0, "case {name}");
        let all: Vec<&Value> = doc["errors"]
            .as_array()
            .into_iter()
            .chain(doc["warnings"].as_array())
            .flatten()
            .collect();
        for line in read("EXPECT").lines().filter(|l| !l.trim().is_empty()) {
            let (code, place) = line.split_once(' ').expect("CODE place");
            let found = all.iter().any(|e| {
                let here = match (e["line"].as_u64(), e["column"].as_u64()) {
                    (Some(l), Some(c)) => format!("{}:{l}:{c}", e["file"].as_str().unwrap_or("")),
                    _ => e["file"].as_str().unwrap_or("").to_string(),
                };
                e["code"] == code && here == place
            });
            assert!(found, "case {name}: JSON lacks {code} at {place}: {all:?}");
        }
    }
}

/// `invalid/deep-nesting` at 300,000 levels (600 KB, generated rather than kept as a
/// fixture): the binary's main thread reports `E001` where level 101 opens, and neither
/// the parser nor any later pass overflows the stack.
#[test]
fn a_list_nested_300000_levels_deep_is_an_error_not_a_crash() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let stack = scratch.path().join("deep-nesting");
    copy_dir(&fixtures().join("invalid/deep-nesting"), &stack);
    let file = stack.join("services/web/components/queue/sqs.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let deep = text.replace(&"- ".repeat(120), &"- ".repeat(300_000));
    assert!(deep.len() > 600_000);
    std::fs::write(&file, deep).expect("write");
    let out = panka(&stack).arg("validate").output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E001]: lists and mappings nest more than 100 levels deep"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--> services/web/components/queue/sqs.yaml:11:201"),
        "{stderr}"
    );
}
