//! State format v1 and deployment records (see docs/state-format.md).

use crate::model::ComponentKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STATE_FORMAT_VERSION: u32 = 1;

/// The state formats this binary reads. A state of any other version was written by a
/// panka this one does not understand: reading it would drop the fields it does not know
/// and the next write would lose them, so it is refused before anything else happens.
pub const READABLE_STATE_VERSIONS: &[u32] = &[STATE_FORMAT_VERSION];

/// Why stored bytes are not a state this binary can use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeProblem {
    /// Not JSON, not an object, or missing or mistyped fields.
    Corrupt(String),
    /// A well-formed document of a format version this binary does not read; `found` as
    /// written in the file.
    UnknownVersion(String),
}

/// Reads a stored state: the version first, then the document, so that a newer format
/// is named as such instead of failing on whichever of its fields changed.
pub fn decode_state(bytes: &[u8]) -> Result<StateDocument, DecodeProblem> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeProblem::Corrupt(e.to_string()))?;
    let Some(object) = value.as_object() else {
        return Err(DecodeProblem::Corrupt("not a JSON object".into()));
    };
    match object.get("format_version") {
        None => return Err(DecodeProblem::Corrupt("no `format_version`".into())),
        Some(found) => {
            let readable = found
                .as_u64()
                .is_some_and(|v| READABLE_STATE_VERSIONS.iter().any(|r| u64::from(*r) == v));
            if !readable {
                return Err(DecodeProblem::UnknownVersion(found.to_string()));
            }
        }
    }
    serde_json::from_value(value).map_err(|e| DecodeProblem::Corrupt(e.to_string()))
}

/// What panka knows it created for one stack and environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateDocument {
    pub format_version: u32,
    /// Fixed when the state is first created; a saved plan is bound to it.
    pub lineage: String,
    /// Grows by one on every write.
    pub serial: u64,
    pub stack: String,
    pub environment: String,
    /// RFC 3339 time of the last write.
    pub updated_at: String,
    /// The lock held by the writer of this version. A holder fences earlier holders out
    /// by writing the state once right after taking the lock (see `lock::fence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_id: Option<String>,
    /// By `service/component`.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentState>,
    /// What recent changes took, in seconds, by `Kind:action` (`RDS:create`), oldest
    /// first, a few each: plans estimate their duration from these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub durations_s: BTreeMap<String, Vec<f64>>,
}

impl StateDocument {
    pub fn new(stack: &str, environment: &str, now: jiff::Timestamp) -> Self {
        StateDocument {
            format_version: STATE_FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            stack: stack.to_string(),
            environment: environment.to_string(),
            updated_at: super::rfc3339(now),
            lock_id: None,
            components: BTreeMap::new(),
            durations_s: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    /// Created or updated, and ready.
    Ready,
    /// An operation started and did not finish (the process died or it failed); the
    /// next apply reads the live resources and resumes.
    Pending,
    /// The last operation failed.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentState {
    pub kind: ComponentKind,
    /// AWS identifiers by role, e.g. `queue_url`, `dlq_arn`, `db_instance_identifier`.
    #[serde(default)]
    pub physical_ids: BTreeMap<String, String>,
    /// The rendered spec that was applied. Holds secret references, never values.
    pub applied_spec: serde_json::Value,
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    pub status: ComponentStatus,
    pub updated_at: String,
    pub deployment_id: String,
    /// The components this one depended on when it was applied (`service/component`):
    /// deletes run dependents first from these. `None` in states written before it was
    /// kept; readers then take the dependencies from the record of `deployment_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentResult {
    #[default]
    InProgress,
    Success,
    RolledBack,
    Failed,
    NoChanges,
}

/// One deployment, as `history` and `rollback` read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub id: String,
    /// The `VERSION` variable when given, else empty.
    pub version: String,
    /// `user@host`.
    pub by: String,
    pub operation: String,
    /// RFC 3339.
    pub started_at: String,
    pub duration_s: Option<f64>,
    pub result: DeploymentResult,
    /// Counts of create/update/replace/delete.
    #[serde(default)]
    pub plan_summary: BTreeMap<String, u64>,
    /// The full rendered spec of every component (what `rollback` re-applies).
    #[serde(default)]
    pub spec: serde_json::Value,
    /// What `rollback` needs besides the spec, per component: its dependencies and the
    /// contents of its config files as they were deployed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pieces: BTreeMap<String, RecordedPiece>,
    /// Seconds each finished change took, by `service/component:action` (what the plan's
    /// duration estimate learns from).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub durations_s: BTreeMap<String, f64>,
}

/// A component's place in the deployed graph, recorded with its spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedPiece {
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub config_files: BTreeMap<String, String>,
}

impl DeploymentRecord {
    /// The object name of product.md: `<start-time>-<id>.json`, with a start time that
    /// sorts lexically, to the millisecond (`20240115T170523456Z`), so two deployments
    /// started within one second keep their order.
    pub fn file_name(&self) -> String {
        let compact = match self.started_at.parse::<jiff::Timestamp>() {
            Ok(t) => {
                let seconds: String = super::rfc3339(t)
                    .chars()
                    .take(19)
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect();
                format!("{seconds}{:03}", t.as_millisecond().rem_euclid(1000))
            }
            // Not a time (a hand-written record): keep its characters, as before.
            Err(_) => self
                .started_at
                .chars()
                .take(19)
                .filter(|c| c.is_ascii_alphanumeric())
                .collect(),
        };
        format!("{compact}Z-{}.json", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_version(version: &str) -> String {
        format!(
            r#"{{"format_version":{version},"lineage":"l","serial":1,"stack":"s","environment":"e","updated_at":"2026-01-01T00:00:00Z"}}"#
        )
    }

    #[test]
    fn reads_the_versions_it_knows() {
        let state = decode_state(state_with_version("1").as_bytes()).expect("version 1");
        assert_eq!(state.serial, 1);
    }

    #[test]
    fn names_a_version_it_does_not_know_before_reading_the_rest() {
        // A newer format may change any field: the version is what the reader reports.
        let newer = r#"{"format_version":2,"serial":"changed"}"#;
        assert_eq!(
            decode_state(newer.as_bytes()),
            Err(DecodeProblem::UnknownVersion("2".into()))
        );
        for found in ["99", "0", r#""1""#, "1.5", "-1", "null"] {
            assert_eq!(
                decode_state(state_with_version(found).as_bytes()),
                Err(DecodeProblem::UnknownVersion(found.into())),
                "{found}"
            );
        }
    }

    #[test]
    fn a_document_without_a_version_or_not_an_object_is_corrupt() {
        for bytes in [&b"{not json"[..], b"[1]", br#"{"serial":1}"#] {
            assert!(
                matches!(decode_state(bytes), Err(DecodeProblem::Corrupt(_))),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn record_names_sort_by_start_to_the_millisecond() {
        let named = |started_at: &str, id: &str| {
            DeploymentRecord {
                id: id.into(),
                started_at: started_at.into(),
                ..DeploymentRecord::default()
            }
            .file_name()
        };
        // The later one has the smaller id: only the milliseconds can order them.
        let earlier = named("2026-01-15T17:05:23.090Z", "b");
        let later = named("2026-01-15T17:05:23.4Z", "a");
        assert_eq!(earlier, "20260115T170523090Z-b.json");
        assert_eq!(later, "20260115T170523400Z-a.json");
        assert!(earlier < later);
        assert_eq!(
            named("2026-01-15T17:05:23Z", "c"),
            "20260115T170523000Z-c.json"
        );
    }
}
