//! The files panka reads: links, names and paths (docs/reference.md, *Files, links and
//! paths*). These cases cannot live in git as fixtures (links to outside the checkout,
//! loops, names that are not UTF-8, unreadable folders), so each test builds a deployment
//! repo in a temporary folder: `<tmp>/repo/stacks/notification-platform`, a copy of the
//! walkthrough's stack, with `<tmp>/outside/` next to the repo.

#![cfg(unix)]

use crate::support::files::{copy_dir, walkthrough};
use panka_core::desired::pieces;
use panka_core::diag::{Diagnostic, Diagnostics, Location, Palette, Severity, render};
use panka_core::graph::Graph;
use panka_core::interp::Variables;
use panka_core::loader::{ResolveOptions, read_stack_files, resolve};
use panka_core::source::Sources;
use panka_core::validate::{ValidateOptions, ValidationReport, validate};
use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// A deployment repo holding the walkthrough's stack, and a folder outside it.
struct Repo {
    tmp: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().expect("tempdir");
        copy_dir(
            &walkthrough(),
            &tmp.path().join("repo/stacks/notification-platform"),
        );
        std::fs::create_dir_all(tmp.path().join("outside")).expect("mkdir");
        Repo { tmp }
    }

    fn repo(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn stack(&self) -> PathBuf {
        self.repo().join("stacks/notification-platform")
    }

    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    fn service(&self) -> PathBuf {
        self.stack().join("services/email-service")
    }

    fn component(&self, name: &str) -> PathBuf {
        self.service().join("components").join(name)
    }

    /// Moves `from` to `to` and leaves a link to it at `from`.
    fn move_and_link(&self, from: &Path, to: &Path) {
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::rename(from, to).expect("rename");
        symlink(to, from).expect("symlink");
    }
}

/// What `panka validate` reports (every environment), rendered as the CLI prints it.
struct Checked {
    report: ValidationReport,
    sources: Sources,
    text: String,
}

impl Checked {
    fn errors(&self) -> Vec<&Diagnostic> {
        self.report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect()
    }

    fn codes(&self) -> Vec<&str> {
        self.errors().iter().map(|d| d.code).collect()
    }

    fn components(&self) -> Vec<String> {
        self.report
            .components
            .iter()
            .map(|c| c.id.to_string())
            .collect()
    }

    /// Where an error with `code` points: `path` or `file:line:column`.
    fn places(&self, code: &str) -> Vec<String> {
        self.errors()
            .iter()
            .filter(|d| d.code == code)
            .map(|d| match &d.location {
                Location::At(span) => format!(
                    "{}:{}:{}",
                    self.sources.get(span.source).display,
                    span.line,
                    span.column
                ),
                Location::Path(path) => path.clone(),
                Location::Nowhere => String::new(),
            })
            .collect()
    }

    /// No file outside `boundary` was read, so none can be quoted.
    fn read_nothing_outside(&self, boundary: &Path) {
        let boundary = boundary.canonicalize().expect("canonical");
        for i in 0..self.sources.len() {
            let file = self.sources.get(panka_core::source::SourceId(i as u32));
            let real = file
                .path
                .canonicalize()
                .unwrap_or_else(|_| file.path.clone());
            assert!(
                real.starts_with(&boundary),
                "read {} outside {}",
                real.display(),
                boundary.display()
            );
        }
    }
}

fn check(stack: &Path) -> Checked {
    let mut sources = Sources::with_display_base(stack);
    let report = validate(
        stack,
        &ValidateOptions {
            environment: None,
            variables: Variables::new(),
            undefined_variables: Severity::Note,
        },
        &mut sources,
    );
    let text = report
        .diagnostics
        .iter()
        .map(|d| render(&sources, d, Palette::PLAIN))
        .collect();
    Checked {
        report,
        sources,
        text,
    }
}

const WALKTHROUGH: [&str; 3] = [
    "email-service/api",
    "email-service/database",
    "email-service/queue",
];

fn assert_valid(checked: &Checked) {
    assert!(checked.report.valid(), "{}", checked.text);
    assert_eq!(checked.components(), WALKTHROUGH, "{}", checked.text);
}

#[test]
fn the_copy_is_valid() {
    let repo = Repo::new();
    assert_valid(&check(&repo.stack()));
}

// ------------------------------------------------------------------ links inside

#[test]
fn a_service_folder_linked_inside_the_repo_loads_the_same_components() {
    let repo = Repo::new();
    repo.move_and_link(&repo.service(), &repo.repo().join("shared/email-service"));
    assert_valid(&check(&repo.stack()));
}

#[test]
fn a_relative_link_is_followed_from_where_it_is() {
    let repo = Repo::new();
    let target = repo.repo().join("shared/email-service");
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    std::fs::rename(repo.service(), &target).expect("rename");
    // From services/: ../ is the stack, ../../ stacks/, ../../../ the repo.
    symlink("../../../shared/email-service", repo.service()).expect("symlink");
    assert_valid(&check(&repo.stack()));
}

#[test]
fn component_folders_and_files_linked_inside_are_followed() {
    let repo = Repo::new();
    let shared = repo.repo().join("shared");
    repo.move_and_link(&repo.component("queue"), &shared.join("queue"));
    repo.move_and_link(
        &repo.component("api").join("microservice.yaml"),
        &shared.join("api.yaml"),
    );
    repo.move_and_link(
        &repo.component("api").join("infra.yaml"),
        &shared.join("api-infra.yaml"),
    );
    repo.move_and_link(
        &repo.component("api").join("configs/app.yaml"),
        &shared.join("app.yaml"),
    );
    repo.move_and_link(
        &repo.stack().join("environments/production"),
        &shared.join("production"),
    );
    let checked = check(&repo.stack());
    assert_valid(&checked);
    assert!(
        checked
            .report
            .environments
            .iter()
            .any(|e| e == "production"),
        "{:?}",
        checked.report.environments
    );

    // The linked infra.yaml is used: the same sizes as with the plain copy.
    let plain = Repo::new();
    assert_eq!(
        api_spec(&repo.stack(), "production"),
        api_spec(&plain.stack(), "production")
    );
}

/// The api component's spec in `environment`, as JSON.
fn api_spec(stack: &Path, environment: &str) -> serde_json::Value {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let files = read_stack_files(stack, &mut sources, &mut diags);
    let mut variables = Variables::new();
    variables.push_layer(BTreeMap::from([("VERSION".into(), "v1.0.0".into())]));
    let resolved = resolve(
        &files,
        &ResolveOptions {
            environment: Some(environment),
            variables: &variables,
            undefined_variables: Severity::Error,
        },
        &mut diags,
    );
    assert!(!diags.has_errors(), "{diags:?}");
    let api = resolved
        .components
        .iter()
        .find(|c| c.id.to_string() == "email-service/api")
        .expect("api");
    serde_json::to_value(&api.spec).expect("json")
}

#[test]
fn a_stack_folder_reached_through_a_link_is_checked_where_it_really_is() {
    let repo = Repo::new();
    // Named like the stack: a stack is named by the folder it is reached as.
    let alias = repo.tmp.path().join("elsewhere/notification-platform");
    std::fs::create_dir_all(repo.tmp.path().join("elsewhere")).expect("mkdir");
    symlink(repo.stack(), &alias).expect("symlink");
    // The boundary is the real repo: a link to its shared folder is still inside.
    repo.move_and_link(&repo.component("queue"), &repo.repo().join("shared/queue"));
    assert_valid(&check(&alias));
}

#[test]
fn defaults_elsewhere_in_the_repo_are_read() {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.repo().join("infra")).expect("mkdir");
    std::fs::rename(
        repo.stack().join("infra/defaults.yaml"),
        repo.repo().join("infra/defaults.yaml"),
    )
    .expect("rename");
    edit(&repo.service().join("service.yaml"), |text| {
        text.replace(
            "defaults: ./infra/defaults.yaml",
            "defaults: ../../infra/defaults.yaml",
        )
    });
    let checked = check(&repo.stack());
    assert_valid(&checked);
}

fn edit(path: &Path, change: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    let changed = change(text.clone());
    assert_ne!(text, changed, "{} unchanged", path.display());
    std::fs::write(path, changed).expect("write");
}

// ------------------------------------------------------------------ links refused

#[test]
fn a_service_folder_linked_outside_the_repo_is_an_error() {
    let repo = Repo::new();
    repo.move_and_link(&repo.service(), &repo.outside().join("email-service"));
    let checked = check(&repo.stack());
    assert_eq!(checked.codes(), ["E036"], "{}", checked.text);
    assert_eq!(checked.places("E036"), ["services/email-service"]);
    assert!(
        checked.text.contains("outside the deployment repo"),
        "{}",
        checked.text
    );
    assert!(checked.text.contains("hint"), "{}", checked.text);
    checked.read_nothing_outside(&repo.repo());
}

#[test]
fn every_file_and_folder_linked_outside_is_an_error() {
    let cases: [(&str, &str); 6] = [
        ("stack.yaml", "stack.yaml"),
        ("infra/defaults.yaml", "infra/defaults.yaml"),
        ("environments/staging", "environments/staging"),
        (
            "services/email-service/service.yaml",
            "services/email-service/service.yaml",
        ),
        (
            "services/email-service/components/database",
            "services/email-service/components/database",
        ),
        (
            "services/email-service/components/api/infra.yaml",
            "services/email-service/components/api/infra.yaml",
        ),
    ];
    for (i, (relative, shown)) in cases.into_iter().enumerate() {
        let repo = Repo::new();
        let path = repo.stack().join(relative);
        repo.move_and_link(&path, &repo.outside().join(i.to_string()));
        let checked = check(&repo.stack());
        assert!(
            checked.places("E036").iter().any(|p| p == shown),
            "{relative}: {}",
            checked.text
        );
        checked.read_nothing_outside(&repo.repo());
    }
}

#[test]
fn a_component_file_linked_outside_is_an_error() {
    let repo = Repo::new();
    repo.move_and_link(
        &repo.component("queue").join("sqs.yaml"),
        &repo.outside().join("sqs.yaml"),
    );
    let checked = check(&repo.stack());
    assert!(
        checked
            .places("E036")
            .contains(&"services/email-service/components/queue/sqs.yaml".to_string()),
        "{}",
        checked.text
    );
    checked.read_nothing_outside(&repo.repo());
}

#[test]
fn a_link_loop_is_an_error() {
    let repo = Repo::new();
    let looping = repo.stack().join("services/looping");
    symlink(&looping, &looping).expect("symlink");
    let other = repo.component("queue").join("other.yaml");
    symlink("other.yaml", &other).expect("symlink");
    let checked = check(&repo.stack());
    let places = checked.places("E036");
    assert!(
        places.contains(&"services/looping".to_string())
            && places.contains(&"services/email-service/components/queue/other.yaml".to_string()),
        "{}",
        checked.text
    );
    assert!(checked.text.contains("loop"), "{}", checked.text);
}

#[test]
fn a_dangling_link_is_an_error() {
    let repo = Repo::new();
    symlink("../gone", repo.stack().join("services/gone")).expect("symlink");
    symlink("nowhere.yaml", repo.component("queue").join("extra.yaml")).expect("symlink");
    let checked = check(&repo.stack());
    let places = checked.places("E036");
    assert!(
        places.contains(&"services/gone".to_string())
            && places.contains(&"services/email-service/components/queue/extra.yaml".to_string()),
        "{}",
        checked.text
    );
    assert!(checked.text.contains("does not exist"), "{}", checked.text);
}

// ------------------------------------------------------------------ names and text

#[test]
fn a_folder_or_file_name_that_is_not_utf8_is_an_error() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new();
    let components = repo.service().join("components");
    let folder = components.join(OsStr::from_bytes(b"cache-\xff"));
    copy_dir(&repo.component("queue"), &folder);
    let file = repo
        .component("database")
        .join(OsStr::from_bytes(b"extra-\xe9.yaml"));
    std::fs::write(&file, "kind: SQS\n").expect("write");
    let checked = check(&repo.stack());
    let places = checked.places("E034");
    assert!(
        places.contains(&"services/email-service/components/cache-\u{fffd}".to_string())
            && places.contains(
                &"services/email-service/components/database/extra-\u{fffd}.yaml".to_string()
            ),
        "{}",
        checked.text
    );
    assert!(checked.text.contains("rename"), "{}", checked.text);
}

#[test]
fn a_yaml_file_that_is_not_utf8_reports_the_line_and_column() {
    let repo = Repo::new();
    let path = repo.component("queue").join("sqs.yaml");
    let mut bytes = std::fs::read(&path).expect("read");
    // Latin-1 `é` in a comment at the start of line 2.
    let line_2 = bytes.iter().position(|b| *b == b'\n').expect("two lines") + 1;
    bytes.splice(line_2..line_2, b"# caf\xe9\n".iter().copied());
    std::fs::write(&path, bytes).expect("write");
    let checked = check(&repo.stack());
    assert_eq!(
        checked.places("E001"),
        ["services/email-service/components/queue/sqs.yaml:2:6"],
        "{}",
        checked.text
    );
    assert!(checked.text.contains("UTF-8"), "{}", checked.text);
    // The excerpt shows the line.
    assert!(checked.text.contains("2 | # caf"), "{}", checked.text);
}

#[test]
fn a_file_where_a_folder_belongs_is_an_error_not_an_absent_folder() {
    let repo = Repo::new();
    let components = repo.service().join("components");
    std::fs::rename(&components, repo.repo().join("components")).expect("rename");
    std::fs::write(&components, "not a folder\n").expect("write");
    let checked = check(&repo.stack());
    assert_eq!(
        checked.places("E034"),
        ["services/email-service/components"],
        "{}",
        checked.text
    );
    assert!(checked.text.contains("not a folder"), "{}", checked.text);
}

#[test]
fn an_unreadable_folder_is_an_error_not_an_absent_one() {
    let repo = Repo::new();
    let queue = repo.component("queue");
    std::fs::set_permissions(&queue, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let readable_anyway = std::fs::read_dir(&queue).is_ok();
    let checked = (!readable_anyway).then(|| check(&repo.stack()));
    std::fs::set_permissions(&queue, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let Some(checked) = checked else {
        eprintln!("skipped: this user reads folders whatever their mode (root)");
        return;
    };
    assert!(
        checked
            .places("E034")
            .contains(&"services/email-service/components/queue".to_string()),
        "{}",
        checked.text
    );
}

// ------------------------------------------------------------------ paths in documents

#[test]
fn defaults_outside_the_repo_are_refused_and_not_read() {
    let repo = Repo::new();
    std::fs::copy(
        repo.stack().join("infra/defaults.yaml"),
        repo.outside().join("defaults.yaml"),
    )
    .expect("copy");
    edit(&repo.service().join("service.yaml"), |text| {
        text.replace(
            "defaults: ./infra/defaults.yaml",
            "defaults: ../../../outside/defaults.yaml",
        )
    });
    let checked = check(&repo.stack());
    assert_eq!(
        checked.places("E036"),
        ["services/email-service/service.yaml:11:15"],
        "{}",
        checked.text
    );
    checked.read_nothing_outside(&repo.repo());
}

#[test]
fn defaults_through_a_link_to_outside_are_refused() {
    let repo = Repo::new();
    std::fs::copy(
        repo.stack().join("infra/defaults.yaml"),
        repo.outside().join("defaults.yaml"),
    )
    .expect("copy");
    symlink(
        repo.outside().join("defaults.yaml"),
        repo.stack().join("infra/shared.yaml"),
    )
    .expect("symlink");
    edit(&repo.service().join("service.yaml"), |text| {
        text.replace(
            "defaults: ./infra/defaults.yaml",
            "defaults: infra/shared.yaml",
        )
    });
    let checked = check(&repo.stack());
    assert_eq!(
        checked.places("E036"),
        ["services/email-service/service.yaml:11:15"],
        "{}",
        checked.text
    );
    checked.read_nothing_outside(&repo.repo());
}

#[test]
fn an_absolute_defaults_path_is_refused_without_quoting_the_file() {
    let repo = Repo::new();
    edit(&repo.service().join("service.yaml"), |text| {
        text.replace("defaults: ./infra/defaults.yaml", "defaults: /etc/passwd")
    });
    let checked = check(&repo.stack());
    assert_eq!(
        checked.places("E036"),
        ["services/email-service/service.yaml:11:15"],
        "{}",
        checked.text
    );
    assert!(!checked.text.contains("root:"), "{}", checked.text);
    checked.read_nothing_outside(&repo.repo());
}

#[test]
fn a_config_file_linked_outside_is_refused() {
    let repo = Repo::new();
    repo.move_and_link(
        &repo.component("api").join("configs/app.yaml"),
        &repo.outside().join("app.yaml"),
    );
    let checked = check(&repo.stack());
    let microservice = "services/email-service/components/api/microservice.yaml";
    let places = checked.places("E036");
    assert!(
        !places.is_empty() && places.iter().all(|p| p.starts_with(microservice)),
        "{}",
        checked.text
    );
    checked.read_nothing_outside(&repo.repo());
}

#[test]
fn a_config_file_swapped_for_an_outside_link_after_validation_is_not_read() {
    let repo = Repo::new();
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let files = read_stack_files(&repo.stack(), &mut sources, &mut diags);
    let mut variables = Variables::new();
    variables.push_layer(BTreeMap::from([("VERSION".into(), "v1.0.0".into())]));
    let stack = resolve(
        &files,
        &ResolveOptions {
            environment: Some("development"),
            variables: &variables,
            undefined_variables: Severity::Error,
        },
        &mut diags,
    );
    let graph = Graph::build(
        &stack.components,
        &files.unreadable_components(),
        &mut diags,
    );
    assert!(!diags.has_errors(), "{diags:?}");
    assert!(pieces(&stack, &graph, "development").is_ok());

    std::fs::write(repo.outside().join("secret.txt"), "root:x:0:0\n").expect("write");
    let config = repo.component("api").join("configs/app.yaml");
    std::fs::remove_file(&config).expect("rm");
    symlink(repo.outside().join("secret.txt"), &config).expect("symlink");
    let err = pieces(&stack, &graph, "development").expect_err("refused");
    assert!(err.contains("outside"), "{err}");
    assert!(!err.contains("root:"), "{err}");
}
