//! A past deployment as something to deploy again: `rollback` rebuilds the desired pieces
//! from a deployment record's spec instead of from the stack files.

use crate::desired::{DesiredPiece, context};
use crate::engine::EnvRef;
use crate::loader::ResolvedStack;
use crate::model::{ComponentId, ComponentSpec, EnvValue};
use crate::state::DeploymentRecord;

/// Why a record cannot be re-applied.
#[derive(Debug, PartialEq, Eq)]
pub struct NotReplayable(pub String);

impl std::fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The pieces `record` deployed, placed in `stack`'s region and `environment`'s network
/// (which rollback keeps as they are now).
pub fn pieces_from_record(
    record: &DeploymentRecord,
    stack: &ResolvedStack,
    environment: &str,
) -> Result<Vec<DesiredPiece>, NotReplayable> {
    let Some(specs) = record.spec.as_object() else {
        return Err(NotReplayable(format!(
            "deployment {} has no recorded spec",
            record.id
        )));
    };
    let mut pieces = Vec::with_capacity(specs.len());
    for (id_text, spec_json) in specs {
        let id = ComponentId::parse(id_text, "").ok_or_else(|| {
            NotReplayable(format!(
                "deployment {} records `{id_text}`, which is not a component id",
                record.id
            ))
        })?;
        let spec: ComponentSpec = serde_json::from_value(spec_json.clone()).map_err(|e| {
            NotReplayable(format!(
                "deployment {} records a spec for {id} that this panka cannot read: {e}",
                record.id
            ))
        })?;
        let env_refs = env_refs(&spec, &id);
        let recorded = record.pieces.get(id_text);
        let depends_on = match recorded {
            Some(r) => r
                .depends_on
                .iter()
                .filter_map(|d| ComponentId::parse(d, &id.service))
                .collect(),
            // Records written before dependencies were kept: valueFrom still orders them.
            None => {
                let mut deps: Vec<ComponentId> =
                    env_refs.iter().map(|r| r.component.clone()).collect();
                deps.sort();
                deps.dedup();
                deps
            }
        };
        let config_files = recorded.map(|r| r.config_files.clone()).unwrap_or_default();
        if let ComponentSpec::MicroService(ms) = &spec {
            let missing: Vec<&str> = ms
                .configs
                .iter()
                .flat_map(|c| &c.files)
                .map(|f| f.name.as_str())
                .filter(|name| !config_files.contains_key(*name))
                .collect();
            if !missing.is_empty() {
                return Err(NotReplayable(format!(
                    "deployment {} did not record the contents of {id}'s config files ({})",
                    record.id,
                    missing.join(", ")
                )));
            }
        }
        pieces.push(DesiredPiece {
            ctx: context(stack, environment, &id),
            spec,
            depends_on,
            env_refs,
            config_files,
        });
    }
    Ok(pieces)
}

fn env_refs(spec: &ComponentSpec, id: &ComponentId) -> Vec<EnvRef> {
    let ComponentSpec::MicroService(ms) = spec else {
        return Vec::new();
    };
    ms.environment
        .iter()
        .filter_map(|var| match &var.value {
            EnvValue::From { component, output } => Some(EnvRef {
                name: var.name.clone(),
                component: ComponentId::parse(component, &id.service)?,
                output: output.clone(),
            }),
            _ => None,
        })
        .collect()
}
