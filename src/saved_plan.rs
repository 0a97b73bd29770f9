//! The file `panka plan --out FILE` writes and `panka apply FILE` reads (docs/commands.md).
//!
//! A saved plan is applied only if it is exactly what the stack and the state give now,
//! so its `plan` is kept as the JSON it was written as and compared field by field; the
//! envelope around it is typed, and its version is checked before anything else.

use crate::error::UserError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The saved-plan format this binary writes and reads: the JSON contract's version.
pub use crate::contract::FORMAT_VERSION;

#[derive(Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format_version: u32,
    pub plan: SavedPlanBody,
}

/// The plan as written: the parts apply checks are typed, the rest is compared as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedPlanBody {
    pub based_on: serde_json::Value,
    pub waves: serde_json::Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl SavedPlan {
    pub fn of(plan: &panka_core::plan::Plan) -> anyhow::Result<Self> {
        Ok(SavedPlan {
            format_version: FORMAT_VERSION,
            plan: serde_json::from_value(serde_json::to_value(plan)?)?,
        })
    }
}

/// Reads a saved plan, refusing another format version (a newer panka's plan may mean
/// something this one would apply differently) or a file that is not a plan.
pub fn read(path: &Path) -> anyhow::Result<SavedPlan> {
    let not_a_plan = |why: String| {
        UserError::new(format!(
            "{} is not a saved panka plan: {why}",
            path.display()
        ))
        .hint("save one with `panka plan --out FILE`")
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!(
            "cannot read the saved plan {}: {e}",
            path.display()
        ))
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_a_plan(e.to_string()))?;
    match value.get("format_version") {
        Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
        Some(v) => {
            return Err(UserError::new(format!(
                "{} is a saved plan of format_version {v}; this panka reads format_version {FORMAT_VERSION}",
                path.display()
            ))
            .hint("apply it with the panka that made it, or make a new plan with `panka plan --out FILE`")
            .into());
        }
        None if value.get("plan").is_some() => {
            return Err(not_a_plan("it has no `format_version`".into()).into());
        }
        None => return Err(not_a_plan("it has no `plan`".into()).into()),
    }
    serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(text: &str) -> anyhow::Result<SavedPlan> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("plan.json");
        std::fs::write(&path, text)?;
        read(&path)
    }

    #[test]
    fn reads_its_own_format() {
        let plan = saved(
            r#"{"format_version":1,"plan":{"stack":"s","environment":"e","based_on":null,"waves":[],"summary":{},"targets":["web/api"]}}"#,
        )
        .expect("a plan");
        assert_eq!(plan.plan.targets, ["web/api"]);
        assert_eq!(plan.plan.rest.get("stack"), Some(&serde_json::json!("s")));
    }

    #[test]
    fn refuses_another_version_and_what_is_not_a_plan() {
        let newer = saved(r#"{"format_version":2,"plan":{"based_on":null,"waves":[]}}"#)
            .expect_err("newer");
        assert!(
            newer
                .to_string()
                .contains("format_version 2; this panka reads format_version 1"),
            "{newer}"
        );
        for text in [
            r#"{"plan":{"based_on":null,"waves":[]}}"#,
            r#"{"format_version":1}"#,
            "[]",
            "not json",
        ] {
            let err = saved(text).expect_err(text);
            assert!(
                err.to_string().contains("is not a saved panka plan"),
                "{err}"
            );
        }
    }
}
