//! The JSON contract: every document `--output json` prints, as a type (docs/commands.md).
//!
//! Scripts parse these documents, so their shape is an interface: a field is added here
//! and in docs/commands.md together (the `documented` test checks that every top-level
//! key is named there), and a renamed or removed field raises [`FORMAT_VERSION`].
//! `Option` fields without `skip_serializing_if` print as `null`, which scripts may rely
//! on. Documents print through a `serde_json::Value` (`Ui::json`), so keys come out
//! sorted; fields are declared in the order a build with serde_json's `preserve_order`
//! prints them, the order the hand-built documents had.
//!
//! Values panka does not shape itself (plan field values, drift's expected and actual,
//! the state document) stay `serde_json::Value` or the core type they come from.

use panka_core::diag::Severity;
use panka_core::drift::{ComponentDrift, Orphan};
use panka_core::plan::{Action, BasedOn};
use panka_core::state::{DeploymentResult, StateDocument};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The version of every versioned document: `format_version` in validate, plan and saved
/// plans, `v` on every JSON-lines progress event. Fields are only added within a version.
pub const FORMAT_VERSION: u32 = 1;

/// `{"error": {"message", "hint"}}`: any command that fails, in JSON mode.
#[derive(Debug, Serialize)]
pub struct ErrorDocument {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub message: String,
    pub hint: Option<String>,
}

/// `panka version`.
#[derive(Debug, Serialize)]
pub struct VersionDocument {
    pub version: &'static str,
}

/// `panka init`: the configuration file written and the backend it names.
#[derive(Debug, Serialize)]
pub struct InitDocument {
    pub config: String,
    /// `s3` or `local`.
    pub backend: &'static str,
}

/// `panka init --bootstrap` with a local backend: nothing to create.
#[derive(Debug, Serialize)]
pub struct BootstrapLocalDocument {
    pub bootstrap: &'static str,
}

/// `panka init --bootstrap`: the bucket and table, and whether this run created them.
#[derive(Debug, Serialize)]
pub struct BootstrapDocument<'a> {
    pub bucket: Bootstrapped<'a>,
    pub table: Bootstrapped<'a>,
}

#[derive(Debug, Serialize)]
pub struct Bootstrapped<'a> {
    pub name: &'a str,
    pub created: bool,
}

/// `panka stack init`.
#[derive(Debug, Serialize)]
pub struct StackInitDocument<'a> {
    pub stack: &'a str,
    pub path: String,
}

/// `panka validate`.
#[derive(Debug, Serialize)]
pub struct ValidateDocument {
    pub format_version: u32,
    pub stack: String,
    pub valid: bool,
    pub environments: Vec<String>,
    pub components: Vec<ValidatedComponent>,
    /// Component ids per wave.
    pub waves: Vec<Vec<String>>,
    pub errors: Vec<DiagnosticEntry>,
    /// Warnings and notes.
    pub warnings: Vec<DiagnosticEntry>,
}

#[derive(Debug, Serialize)]
pub struct ValidatedComponent {
    pub id: String,
    pub kind: &'static str,
}

/// A diagnostic with its position; `file`, `line` and `column` are null when it has none.
#[derive(Debug, Serialize)]
pub struct DiagnosticEntry {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
}

/// `panka plan`.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    pub format_version: u32,
    pub stack: &'a str,
    pub environment: &'a str,
    /// The state the plan was made against; null before the first deployment.
    pub based_on: Option<&'a BasedOn>,
    pub targeted: bool,
    pub targets: &'a [String],
    pub changes: Vec<PlanChange<'a>>,
    pub summary: PlanSummary,
    pub estimated_monthly_cost_usd: f64,
    pub estimated_duration_s: u64,
    pub dangerous: Vec<DangerousChange>,
}

#[derive(Debug, Serialize)]
pub struct PlanChange<'a> {
    pub component: String,
    pub kind: &'static str,
    pub action: Action,
    pub wave: usize,
    pub reason: &'a str,
    pub fields: Vec<PlanField<'a>>,
}

/// One field's change; `old` is null for a new field, `new` null for a removed one.
#[derive(Debug, Serialize)]
pub struct PlanField<'a> {
    pub path: &'a str,
    pub old: &'a Option<Value>,
    pub new: &'a Option<Value>,
    pub forces_replace: bool,
}

#[derive(Debug, Serialize)]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

#[derive(Debug, Serialize)]
pub struct DangerousChange {
    pub component: String,
    pub kind: &'static str,
    pub action: Action,
}

/// What apply, rollback and destroy print on stdout when they end.
#[derive(Debug, Serialize)]
pub struct DeployDocument {
    /// Null when nothing was to change (no deployment was recorded).
    pub deployment_id: Option<String>,
    pub result: DeploymentResult,
    /// Component id → output name → value.
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
    pub duration_s: Option<f64>,
    /// Absent when nothing ran (`no_changes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<FailedChange>>,
}

#[derive(Debug, Serialize)]
pub struct FailedChange {
    pub component: String,
    pub error: String,
}

/// One line of apply's JSON-lines progress on stderr: the event, then `v`.
#[derive(Debug, Serialize)]
pub struct ProgressLine<'a> {
    #[serde(flatten)]
    pub event: ProgressEvent<'a>,
    pub v: u32,
}

impl<'a> ProgressLine<'a> {
    pub fn new(event: ProgressEvent<'a>) -> Self {
        ProgressLine {
            event,
            v: FORMAT_VERSION,
        }
    }
}

/// The progress events (docs/commands.md, *Progress as JSON lines*).
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProgressEvent<'a> {
    Start {
        deployment_id: &'a str,
        operation: &'a str,
        stack: &'a str,
        environment: &'a str,
    },
    Started {
        component: String,
        action: Action,
        wave: usize,
    },
    Waiting {
        component: String,
        detail: &'a str,
        progress: Option<u8>,
    },
    Finished {
        component: String,
        action: Action,
        elapsed_s: f64,
    },
    Failed {
        component: String,
        action: Action,
        error: &'a str,
    },
    StateSaved {
        serial: u64,
    },
    RollbackStarted {
        changes: usize,
    },
    RollbackStep {
        component: String,
        action: Action,
    },
    RollbackFinished {
        component: String,
        elapsed_s: f64,
    },
    RollbackFailed {
        component: String,
        error: &'a str,
    },
    Step {
        component: String,
        step: &'a str,
        #[serde(flatten)]
        state: StepLine<'a>,
    },
    DeploymentRecorded {
        ok: bool,
    },
    LockReleased {
        ok: bool,
    },
}

/// A reconciler step's state, after the step's name.
#[derive(Debug, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepLine<'a> {
    Started,
    Progress {
        detail: &'a str,
        percent: Option<u8>,
    },
    Item {
        key: &'a str,
        status: &'a str,
    },
    Done {
        elapsed_s: f64,
    },
    Failed {
        elapsed_s: f64,
    },
}

/// `panka status`.
#[derive(Debug, Serialize)]
pub struct StatusDocument<'a> {
    pub stack: &'a str,
    pub environment: &'a str,
    pub components: Vec<StatusComponent<'a>>,
}

#[derive(Debug, Serialize)]
pub struct StatusComponent<'a> {
    pub component: &'a str,
    pub kind: &'static str,
    pub status: String,
    pub healthy: bool,
    pub detail: String,
    /// What state says of the last operation: `ready`, `pending`, `failed`.
    pub state_status: &'static str,
    pub updated_at: &'a str,
    pub deployment_id: &'a str,
    /// From the deployment record; null when it cannot be read.
    pub version: Option<&'a str>,
    pub by: Option<&'a str>,
}

/// `panka history`.
#[derive(Debug, Serialize)]
pub struct HistoryDocument<'a> {
    pub stack: &'a str,
    pub environment: &'a str,
    pub deployments: Vec<HistoryEntry<'a>>,
    pub total: usize,
    /// From 0 to 1, rounded to four places; null with no finished deployment.
    pub success_rate: Option<f64>,
    pub average_duration_s: Option<f64>,
    pub counts: HistoryCounts,
}

#[derive(Debug, Serialize)]
pub struct HistoryEntry<'a> {
    pub id: &'a str,
    pub version: &'a str,
    pub by: &'a str,
    pub operation: &'a str,
    pub started_at: &'a str,
    pub duration_s: Option<f64>,
    pub result: DeploymentResult,
}

#[derive(Debug, Serialize)]
pub struct HistoryCounts {
    pub success: usize,
    pub rolled_back: usize,
    pub failed: usize,
    pub in_progress: usize,
    pub no_changes: usize,
}

/// `panka drift` for one stack and environment.
#[derive(Debug, Serialize)]
pub struct DriftDocument<'a> {
    pub stack: &'a str,
    pub environment: &'a str,
    pub drifted: bool,
    pub components: &'a [ComponentDrift],
    pub orphans: &'a [Orphan],
}

/// `panka drift --all`: components and orphans each name their stack and environment,
/// `stacks[]` says which states were checked and which could not be.
#[derive(Debug, Serialize)]
pub struct DriftAllDocument<'a> {
    pub drifted: bool,
    pub components: Vec<InStack<'a, ComponentDrift>>,
    pub orphans: Vec<InStack<'a, Orphan>>,
    pub stacks: Vec<DriftChecked<'a>>,
}

/// An entry of `drift --all`: the single-stack entry, then its stack and environment.
#[derive(Debug, Serialize)]
pub struct InStack<'a, T> {
    #[serde(flatten)]
    pub entry: &'a T,
    pub stack: &'a str,
    pub environment: &'a str,
}

/// One state `drift --all` checked: `drifted` is null and `error` says why when it could
/// not be checked.
#[derive(Debug, Serialize)]
pub struct DriftChecked<'a> {
    pub stack: &'a str,
    pub environment: &'a str,
    pub drifted: Option<bool>,
    pub error: Option<String>,
}

/// The lock's holder, as `lock status`, `lock acquire`, `unlock` and a lost race show it.
#[derive(Debug, Serialize)]
pub struct LockHolder<'a> {
    pub id: &'a str,
    pub who: &'a str,
    pub operation: &'a str,
    pub created: &'a str,
    pub expires_at: String,
    /// Past `expires_at`: the next run takes it over.
    pub expired: bool,
}

/// `panka lock status`.
#[derive(Debug, Serialize)]
pub struct LockStatusDocument<'a> {
    pub stack: &'a str,
    pub environment: &'a str,
    pub lock_key: String,
    pub locked: bool,
    pub holder: Option<LockHolder<'a>>,
}

/// `panka lock acquire`.
#[derive(Debug, Serialize)]
pub struct LockAcquiredDocument<'a> {
    pub lock_key: &'a str,
    pub holder: LockHolder<'a>,
}

/// `panka unlock` (force-unlock): the holder whose lock was released.
#[derive(Debug, Serialize)]
pub struct LockReleasedDocument<'a> {
    pub lock_key: &'a str,
    pub released: LockHolder<'a>,
}

/// The lock is held by someone else (exit 3): the error document, with the holder.
#[derive(Debug, Serialize)]
pub struct LockHeldDocument<'a> {
    pub error: LockHeldError<'a>,
}

#[derive(Debug, Serialize)]
pub struct LockHeldError<'a> {
    pub message: String,
    pub lock: LockHolder<'a>,
}

/// `panka logs` without `--follow`.
#[derive(Debug, Serialize)]
pub struct LogsDocument<'a> {
    pub log_group: &'a str,
    pub events: Vec<LogLine>,
}

/// One log event; with `--follow`, one per line.
#[derive(Debug, Serialize)]
pub struct LogLine {
    /// RFC 3339.
    pub timestamp: String,
    /// Upper case, when the line carries one.
    pub level: Option<String>,
    pub message: String,
    pub stream: String,
}

/// `panka state show`: where the state lives and the state document as stored (null when
/// nothing was deployed).
#[derive(Debug, Serialize)]
pub struct StateShowDocument<'a> {
    pub stack: &'a str,
    pub environment: &'a str,
    pub location: String,
    pub state: Option<&'a StateDocument>,
}

#[cfg(test)]
mod documented;
