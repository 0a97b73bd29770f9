//! `panka version`, `panka init` and `panka stack init`.

use crate::support::cli::panka;
use predicates::str::contains;

#[test]
fn prints_its_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    panka(dir.path())
        .arg("version")
        .assert()
        .success()
        .stdout(format!("panka version {}\n", env!("CARGO_PKG_VERSION")));
    for flag in ["--version", "-V"] {
        panka(dir.path())
            .arg(flag)
            .assert()
            .success()
            .stdout(format!("panka version {}\n", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn init_writes_the_walkthrough_config_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("cfg/config.yaml");
    panka(dir.path())
        .args([
            "init",
            "--region",
            "us-east-1",
            "--bucket",
            "company-panka-state",
            "--table",
            "company-panka-locks",
            "--yes",
        ])
        .arg("--config")
        .arg(&config)
        .assert()
        .success()
        .stdout(contains("✓ Configuration saved to"));
    assert_eq!(
        std::fs::read_to_string(&config).expect("config written"),
        "version: v1\nbackend:\n  type: s3\n  region: us-east-1\n  bucket: company-panka-state\nlocks:\n  type: dynamodb\n  region: us-east-1\n  table: company-panka-locks\naws:\n  profile: default\n  region: us-east-1\n"
    );
    panka(dir.path())
        .args(["init", "--yes", "--bucket", "other-bucket"])
        .arg("--config")
        .arg(&config)
        .assert()
        .code(1)
        .stderr(contains("already exists"))
        .stderr(contains("--force"));
    assert!(
        std::fs::read_to_string(&config)
            .expect("config")
            .contains("company-panka-state")
    );
    panka(dir.path())
        .args([
            "init",
            "--yes",
            "--force",
            "--bucket",
            "other-bucket",
            "--prefix",
            "team-a/",
        ])
        .arg("--config")
        .arg(&config)
        .assert()
        .success();
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(
        text.contains("bucket: other-bucket") && text.contains("prefix: \"team-a/\""),
        "{text}"
    );
}

#[test]
fn init_reads_panka_config_and_defaults_to_local_state_with_yes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("panka.yaml");
    panka(dir.path())
        .env("PANKA_CONFIG", &config)
        .args(["init", "--yes"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("backend:\n  type: local"), "{text}");
}

#[test]
fn init_without_a_terminal_needs_flags_and_checks_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.yaml");
    panka(dir.path())
        .arg("init")
        .arg("--config")
        .arg(&config)
        .assert()
        .code(1)
        .stderr(contains("no terminal"));
    panka(dir.path())
        .args(["init", "--yes", "--bucket", "Bad_Bucket"])
        .arg("--config")
        .arg(&config)
        .assert()
        .code(1)
        .stderr(contains("not a valid S3 bucket name"));
    assert!(!config.exists());
}

#[test]
fn stack_init_scaffolds_a_stack_that_validates() {
    let repo = tempfile::tempdir().expect("tempdir");
    let stack = repo.path().join("stacks/payments");
    std::fs::create_dir_all(&stack).expect("mkdir");
    panka(&stack)
        .args([
            "stack",
            "init",
            "--name",
            "payments",
            "--description",
            "Payment \"core\" services",
            "--team",
            "payments",
        ])
        .assert()
        .success()
        .stdout(contains("✓ Created stack.yaml"))
        .stdout(contains("✓ Created environments/ directory"));
    for path in [
        "stack.yaml",
        "infra/defaults.yaml",
        "services",
        "environments",
    ] {
        assert!(stack.join(path).exists(), "{path} missing");
    }
    panka(repo.path())
        .args(["validate", "--stack", "payments"])
        .assert()
        .success()
        .stdout(contains("✓ Stack configuration is valid!"));
    panka(&stack)
        .args(["stack", "init", "--name", "payments", "--team", "x"])
        .assert()
        .code(1)
        .stderr(contains("already holds a stack.yaml"));
}

#[test]
fn stack_init_refuses_without_a_terminal_or_in_the_wrong_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = dir.path().join("orders");
    std::fs::create_dir_all(&stack).expect("mkdir");
    panka(&stack)
        .args(["stack", "init"])
        .assert()
        .code(1)
        .stderr(contains("no terminal"));
    panka(&stack)
        .args(["stack", "init", "--name", "billing", "--team", "t"])
        .assert()
        .code(1)
        .stderr(contains("folder named `billing`"));
    panka(&stack)
        .args(["stack", "init", "--name", "Orders_v2", "--team", "t"])
        .assert()
        .code(1)
        .stderr(contains("not DNS-safe"));
    assert!(!stack.join("stack.yaml").exists());
}
