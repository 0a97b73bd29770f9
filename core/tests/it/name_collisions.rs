//! Two components that would get the same AWS name are found offline, in one
//! environment or across the environments validated together.

use crate::support::files::write;
use panka_core::diag::Severity;
use panka_core::interp::Variables;
use panka_core::source::Sources;
use panka_core::validate::{ValidateOptions, validate};
use std::path::Path;

fn queue(root: &Path, service: &str, component: &str) {
    write(
        root,
        &format!("services/{service}/service.yaml"),
        &format!(
            "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: {service}\n  stack: shop\n"
        ),
    );
    write(
        root,
        &format!("services/{service}/components/{component}/sqs.yaml"),
        &format!(
            "apiVersion: components.panka.io/v1\nkind: SQS\nmetadata:\n  name: {component}\n  service: {service}\n  stack: shop\nspec:\n  type: standard\n"
        ),
    );
}

fn environment(root: &Path, name: &str) {
    write(
        root,
        &format!("environments/{name}/environment.yaml"),
        &format!("apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: {name}\n"),
    );
}

fn collisions(root: &Path) -> Vec<String> {
    let mut sources = Sources::default();
    let report = validate(
        root,
        &ValidateOptions {
            environment: None,
            variables: Variables::new(),
            undefined_variables: Severity::Note,
        },
        &mut sources,
    );
    report
        .diagnostics
        .iter()
        .filter(|d| d.code == "E035")
        .map(|d| d.message.clone())
        .collect()
}

fn stack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("shop");
    write(
        &root,
        "stack.yaml",
        "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: aws\n    region: us-east-1\n",
    );
    dir
}

#[test]
fn distinct_names_pass() {
    let dir = stack();
    let root = dir.path().join("shop");
    queue(&root, "web", "orders");
    queue(&root, "web", "payments");
    environment(&root, "staging");
    assert_eq!(collisions(&root), Vec::<String>::new());
}

#[test]
fn folders_that_join_to_the_same_name_collide_once_per_environment() {
    let dir = stack();
    let root = dir.path().join("shop");
    queue(&root, "email-service", "queue");
    queue(&root, "email", "service-queue");
    environment(&root, "staging");
    let found = collisions(&root);
    // The base stack and `staging`: the same pair, named in each.
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("`email/service-queue` and `email-service/queue`")
            && found[0].contains("shop-development-email-service-queue"),
        "{found:?}"
    );
    assert!(
        found[1].contains("shop-staging-email-service-queue"),
        "{found:?}"
    );
}

#[test]
fn environments_whose_names_run_into_the_service_collide_across_environments() {
    let dir = stack();
    let root = dir.path().join("shop");
    // `dev` + `x-web/api` and `dev-x` + `web/api` are both `shop-dev-x-web-api`.
    queue(&root, "x-web", "api");
    queue(&root, "web", "api");
    environment(&root, "dev");
    environment(&root, "dev-x");
    let found = collisions(&root);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("`shop-dev-x-web-api`")
            && found[0].contains("`x-web/api` in `dev`, `web/api` in `dev-x`"),
        "{found:?}"
    );
}
