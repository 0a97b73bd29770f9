//! A secret's value never leaves AWS through panka: one canary value, read by panka for
//! the database password on apply and rollback, is looked for in the output (stdout and
//! stderr, text and JSON) of every command of a deployment's life, and in every file
//! panka wrote (state, deployment records, saved plans).

use std::path::Path;
use std::process::Output;

use crate::support::deployment::{self, Repo, SECRET_NAME, STACK, run, text};
use crate::support::moto::{MotoServer, create_secret, unique_account_id};
use crate::support::proxy::{FaultConfig, FaultProxy};
use panka_providers::aws::AwsClients;

/// What only the secret holds. Also checked without its JSON wrapping, and as the
/// password alone.
const PASSWORD: &str = "canary-Everywhere-60613";

fn secret_value() -> String {
    format!(r#"{{"password":"{PASSWORD}"}}"#)
}

/// Every file below `dir`, with its contents.
fn files_below(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_below(&path, out);
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

struct Checked {
    commands: Vec<String>,
}

impl Checked {
    /// Runs `panka ARGS`, checks its output, and returns it.
    fn run(&mut self, repo: &Repo, endpoint: &str, args: &[&str]) -> Output {
        let out = run(&mut repo.panka(endpoint, args));
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !contains(stream, PASSWORD),
                "`panka {}` printed the secret:\n{}",
                args.join(" "),
                text(&out)
            );
        }
        self.commands.push(args.join(" "));
        out
    }
}

fn expect_exit(out: &Output, codes: &[i32], what: &str) {
    assert!(
        out.status.code().is_some_and(|c| codes.contains(&c)),
        "{what}: {}",
        text(out)
    );
}

#[test]
fn the_secret_never_appears_in_any_output_or_file() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let moto = MotoServer::start_with_env(deployment::MOTO_ENV);
    let account = unique_account_id();
    let aws: AwsClients = runtime.block_on(moto.clients_in(&account));
    runtime.block_on(create_secret(&aws, SECRET_NAME, &secret_value()));
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig::transparent().with_account(&account),
    )
    .expect("proxy");
    let endpoint = proxy.endpoint();
    let repo = Repo::walkthrough();
    let mut checked = Checked {
        commands: Vec::new(),
    };
    let stack = ["--stack", STACK];
    let v1 = ["--var", "VERSION=v1.0.0"];
    let v2 = ["--var", "VERSION=v1.0.1"];

    let out = checked.run(&repo, &endpoint, &[&["validate"][..], &stack, &v1].concat());
    expect_exit(&out, &[0], "validate");
    for extra in [
        &[][..],
        &["--output", "json"][..],
        &["--out", "before.json"][..],
    ] {
        let out = checked.run(
            &repo,
            &endpoint,
            &[&["plan"][..], &stack, &v1, extra].concat(),
        );
        expect_exit(&out, &[0], "plan");
    }

    // Day 1 in JSON, Day 2 in text: both read the password for the database.
    let out = checked.run(
        &repo,
        &endpoint,
        &[
            &["apply", "--auto-approve", "--output", "json"][..],
            &stack,
            &v1,
        ]
        .concat(),
    );
    expect_exit(&out, &[0], "first apply");
    assert!(
        proxy.stats().count("secretsmanager:GetSecretValue") > 0,
        "the apply must have read the secret for this test to mean anything"
    );
    let out = checked.run(
        &repo,
        &endpoint,
        &[&["apply", "--auto-approve"][..], &stack, &v2].concat(),
    );
    expect_exit(&out, &[0], "second apply");
    let out = checked.run(
        &repo,
        &endpoint,
        &[&["plan"][..], &stack, &v2, &["--out", "after.json"]].concat(),
    );
    expect_exit(&out, &[0], "plan after apply");

    for json in [false, true] {
        let output: &[&str] = if json { &["--output", "json"] } else { &[] };
        for (words, codes) in [
            (&["status"][..], &[0][..]),
            (&["history"], &[0]),
            (&["drift"], &[0, 2]),
            (&["state", "show"], &[0]),
            (&["lock", "status"], &[0]),
            // Nothing logged in moto: an empty window or a missing group, never a crash.
            (&["logs", "-c", "email-service/api"], &[0, 1]),
        ] {
            let args = [words, &stack, output].concat();
            let out = checked.run(&repo, &endpoint, &args);
            expect_exit(&out, codes, &args.join(" "));
        }
    }

    // Rollback reads the password again (the database is part of the re-applied spec).
    let out = checked.run(
        &repo,
        &endpoint,
        &[&["rollback", "--auto-approve"][..], &stack].concat(),
    );
    expect_exit(&out, &[0], "rollback");
    let out = checked.run(
        &repo,
        &endpoint,
        &[
            &["destroy", "--auto-approve", "--skip-final-snapshot"][..],
            &stack,
        ]
        .concat(),
    );
    expect_exit(&out, &[0], "destroy");
    let out = checked.run(
        &repo,
        &endpoint,
        &[&["history", "--output", "json"][..], &stack].concat(),
    );
    expect_exit(&out, &[0], "history after destroy");
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let operations: Vec<&str> = history["deployments"]
        .as_array()
        .expect("deployments")
        .iter()
        .filter_map(|d| d["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        ["destroy", "rollback", "apply", "apply"],
        "{history}"
    );

    let mut files = Vec::new();
    files_below(repo.path(), &mut files);
    let written: Vec<&String> = files
        .iter()
        .map(|(path, _)| path)
        .filter(|p| p.contains(".panka") || p.ends_with(".json"))
        .collect();
    assert!(
        written.iter().any(|p| p.ends_with("before.json"))
            && written.iter().any(|p| p.ends_with("after.json"))
            && written.iter().any(|p| p.ends_with("state.json"))
            && written.iter().filter(|p| p.contains("deployments")).count() >= 4,
        "expected saved plans, state and four records: {written:?}"
    );
    for (path, bytes) in &files {
        assert!(!contains(bytes, PASSWORD), "{path} holds the secret");
    }
    assert!(checked.commands.len() >= 20, "{:?}", checked.commands);
}
