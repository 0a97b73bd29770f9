//! docs/commands.md names every key the contract prints: each document is serialised
//! from a sample and each of its top-level keys must appear, in backticks (`key` or `key[]`), in the section
//! of docs/commands.md that describes it (for progress events: in the event's table row).

use super::*;
use serde_json::Value;

const COMMANDS_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md"));

/// The text under the heading that starts with `heading`, up to the next `## ` heading.
fn section(heading: &str) -> &'static str {
    let start = if COMMANDS_MD.starts_with(heading) {
        0
    } else {
        COMMANDS_MD
            .find(&format!("\n{heading}"))
            .unwrap_or_else(|| panic!("docs/commands.md has no heading `{heading}`"))
            + 1
    };
    let body = &COMMANDS_MD[start..];
    let end = body[1..].find("\n## ").map_or(body.len(), |i| i + 1);
    &body[..end]
}

fn keys(document: &impl Serialize) -> Vec<String> {
    match serde_json::to_value(document).expect("a document serialises") {
        Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("a document is an object, not {other}"),
    }
}

/// The docs write a key in backticks, a list as `key[]`.
fn names(text: &str, key: &str) -> bool {
    text.contains(&format!("`{key}`")) || text.contains(&format!("`{key}[]`"))
}

fn assert_documented(heading: &str, document: &impl Serialize) {
    let text = section(heading);
    let missing: Vec<String> = keys(document)
        .into_iter()
        .filter(|k| !names(text, k))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/commands.md, section `{heading}`, does not name {missing:?}"
    );
}

fn holder() -> LockHolder<'static> {
    LockHolder {
        id: "id",
        who: "who",
        operation: "apply",
        created: "then",
        expires_at: "later".into(),
        expired: false,
    }
}

#[test]
fn every_document_key_is_in_docs_commands_md() {
    let errors = "# panka commands";
    assert_documented(
        errors,
        &ErrorDocument {
            error: ErrorBody {
                message: String::new(),
                hint: None,
            },
        },
    );
    assert_documented(
        errors,
        &LockHeldDocument {
            error: LockHeldError {
                message: String::new(),
                lock: holder(),
            },
        },
    );
    assert_documented(
        "## `panka validate`",
        &ValidateDocument {
            format_version: FORMAT_VERSION,
            stack: String::new(),
            valid: true,
            environments: Vec::new(),
            components: Vec::new(),
            waves: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        },
    );
    assert_documented(
        "## `panka plan`",
        &PlanDocument {
            format_version: FORMAT_VERSION,
            stack: "",
            environment: "",
            based_on: None,
            targeted: false,
            targets: &[],
            changes: Vec::new(),
            summary: PlanSummary {
                create: 0,
                update: 0,
                replace: 0,
                delete: 0,
            },
            estimated_monthly_cost_usd: 0.0,
            estimated_duration_s: 0,
            dangerous: Vec::new(),
        },
    );
    let deployed = DeployDocument {
        deployment_id: None,
        result: DeploymentResult::Success,
        outputs: BTreeMap::new(),
        duration_s: None,
        failed: Some(Vec::new()),
    };
    assert_documented("## `panka apply", &deployed);
    assert_documented(
        "## `panka status`",
        &StatusDocument {
            stack: "",
            environment: "",
            components: Vec::new(),
        },
    );
    assert_documented(
        "## `panka logs",
        &LogsDocument {
            log_group: "",
            events: Vec::new(),
        },
    );
    assert_documented(
        "## `panka logs",
        &LogLine {
            timestamp: String::new(),
            level: None,
            message: String::new(),
            stream: String::new(),
        },
    );
    assert_documented(
        "## `panka history",
        &HistoryDocument {
            stack: "",
            environment: "",
            deployments: Vec::new(),
            total: 0,
            success_rate: None,
            average_duration_s: None,
            counts: HistoryCounts {
                success: 0,
                rolled_back: 0,
                failed: 0,
                in_progress: 0,
                no_changes: 0,
            },
        },
    );
    assert_documented(
        "## `panka drift",
        &DriftDocument {
            stack: "",
            environment: "",
            drifted: false,
            components: &[],
            orphans: &[],
        },
    );
    assert_documented(
        "## `panka drift",
        &DriftAllDocument {
            drifted: false,
            components: Vec::new(),
            orphans: Vec::new(),
            stacks: Vec::new(),
        },
    );
    assert_documented(
        "## `panka drift",
        &DriftChecked {
            stack: "",
            environment: "",
            drifted: None,
            error: None,
        },
    );
    assert_documented(
        "## `panka init",
        &InitDocument {
            config: String::new(),
            backend: "local",
        },
    );
    let bootstrapped = Bootstrapped {
        name: "",
        created: true,
    };
    assert_documented(
        "## `panka init",
        &BootstrapDocument {
            bucket: Bootstrapped { ..bootstrapped },
            table: bootstrapped,
        },
    );
    assert_documented("## `panka init", &BootstrapLocalDocument { bootstrap: "" });
    assert_documented(
        "## `panka stack init`",
        &StackInitDocument {
            stack: "",
            path: String::new(),
        },
    );
    let lock = "## `panka lock status";
    assert_documented(lock, &holder());
    assert_documented(
        lock,
        &LockStatusDocument {
            stack: "",
            environment: "",
            lock_key: String::new(),
            locked: true,
            holder: Some(holder()),
        },
    );
    assert_documented(
        lock,
        &LockAcquiredDocument {
            lock_key: "",
            holder: holder(),
        },
    );
    assert_documented(
        lock,
        &LockReleasedDocument {
            lock_key: "",
            released: holder(),
        },
    );
    assert_documented(
        "## `panka state show`",
        &StateShowDocument {
            stack: "",
            environment: "",
            location: String::new(),
            state: None,
        },
    );
    assert_documented("## `panka version`", &VersionDocument { version: "" });
}

/// One of each event (and each step state); the match makes a new variant fail to
/// compile here until it has a sample.
fn events() -> Vec<ProgressEvent<'static>> {
    let samples = vec![
        ProgressEvent::Start {
            deployment_id: "",
            operation: "apply",
            stack: "",
            environment: "",
        },
        ProgressEvent::Started {
            component: String::new(),
            action: Action::Create,
            wave: 1,
        },
        ProgressEvent::Waiting {
            component: String::new(),
            detail: "",
            progress: None,
        },
        ProgressEvent::Finished {
            component: String::new(),
            action: Action::Create,
            elapsed_s: 0.0,
        },
        ProgressEvent::Failed {
            component: String::new(),
            action: Action::Create,
            error: "",
        },
        ProgressEvent::StateSaved { serial: 1 },
        ProgressEvent::RollbackStarted { changes: 1 },
        ProgressEvent::RollbackStep {
            component: String::new(),
            action: Action::Delete,
        },
        ProgressEvent::RollbackFinished {
            component: String::new(),
            elapsed_s: 0.0,
        },
        ProgressEvent::RollbackFailed {
            component: String::new(),
            error: "",
        },
        ProgressEvent::DeploymentRecorded { ok: true },
        ProgressEvent::LockReleased { ok: true },
    ]
    .into_iter()
    .chain(
        [
            StepLine::Started,
            StepLine::Progress {
                detail: "",
                percent: None,
            },
            StepLine::Item {
                key: "",
                status: "",
            },
            StepLine::Done { elapsed_s: 0.0 },
            StepLine::Failed { elapsed_s: 0.0 },
        ]
        .map(|state| ProgressEvent::Step {
            component: String::new(),
            step: "",
            state,
        }),
    )
    .collect::<Vec<_>>();
    for sample in &samples {
        match sample {
            ProgressEvent::Start { .. }
            | ProgressEvent::Started { .. }
            | ProgressEvent::Waiting { .. }
            | ProgressEvent::Finished { .. }
            | ProgressEvent::Failed { .. }
            | ProgressEvent::StateSaved { .. }
            | ProgressEvent::RollbackStarted { .. }
            | ProgressEvent::RollbackStep { .. }
            | ProgressEvent::RollbackFinished { .. }
            | ProgressEvent::RollbackFailed { .. }
            | ProgressEvent::Step { .. }
            | ProgressEvent::DeploymentRecorded { .. }
            | ProgressEvent::LockReleased { .. } => {}
        }
    }
    samples
}

#[test]
fn every_progress_event_is_a_row_of_the_json_lines_table() {
    let text = section("### Progress as JSON lines");
    assert!(text.contains("`\"v\": 1`"), "the section names `v`");
    for event in events() {
        let line = serde_json::to_value(ProgressLine::new(event)).expect("serialises");
        assert_eq!(line["v"], FORMAT_VERSION);
        let name = line["event"].as_str().expect("an event name");
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("no row for the event `{name}`"));
        for key in keys(&line) {
            if key != "event" && key != "v" {
                assert!(
                    row.contains(&format!("`{key}`")),
                    "`{name}`: `{key}` in {row}"
                );
            }
        }
    }
}
