//! A past deployment as something to deploy again: `rollback` rebuilds the desired pieces
//! from a deployment record's spec instead of from the stack files.

use crate::desired::{DesiredPiece, context};
use crate::engine::EnvRef;
use crate::loader::ResolvedStack;
use crate::model::{ComponentId, ComponentSpec, EnvValue};
use crate::state::{ComponentState, DeploymentRecord, StateDocument};
use std::collections::BTreeMap;

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
            Some(r) => parse_ids(&r.depends_on, &id),
            // Records written before dependencies were kept: valueFrom still orders them.
            None => value_from_targets(&env_refs),
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

fn parse_ids(ids: &[String], of: &ComponentId) -> Vec<ComponentId> {
    ids.iter()
        .filter_map(|d| ComponentId::parse(d, &of.service))
        .collect()
}

fn value_from_targets(env_refs: &[EnvRef]) -> Vec<ComponentId> {
    let mut deps: Vec<ComponentId> = env_refs.iter().map(|r| r.component.clone()).collect();
    deps.sort();
    deps.dedup();
    deps
}

/// What a component in state depended on when it was applied, for deleting in order:
/// the state's own `depends_on`; for states written before it was kept, the dependencies
/// recorded with the deployment that applied it (`deployment`, the record of its
/// `deployment_id`); for records older still, the `valueFrom` references of its applied
/// spec (a `dependsOn` of those is lost, a reference never is).
pub fn state_dependencies(
    id: &ComponentId,
    component: &ComponentState,
    deployment: Option<&DeploymentRecord>,
) -> Vec<ComponentId> {
    if let Some(deps) = &component.depends_on {
        return parse_ids(deps, id);
    }
    if let Some(piece) = deployment.and_then(|r| r.pieces.get(&id.to_string())) {
        return parse_ids(&piece.depends_on, id);
    }
    serde_json::from_value::<ComponentSpec>(component.applied_spec.clone())
        .map(|spec| value_from_targets(&env_refs(&spec, id)))
        .unwrap_or_default()
}

/// Whether `record` deployed exactly what `state` says is deployed now: the same
/// components with the same rendered specs. Specs are compared as this panka reads them,
/// so a field added since (absent from an older document, filled by its default) is no
/// difference.
pub fn deploys_what_is_deployed(record: &DeploymentRecord, state: &StateDocument) -> bool {
    let deployed: BTreeMap<&String, &serde_json::Value> = state
        .components
        .iter()
        .map(|(id, c)| (id, &c.applied_spec))
        .collect();
    specs_of(record).is_some_and(|recorded| same_specs(&recorded, &deployed))
}

/// Whether two deployments deployed the same components with the same specs (a rollback
/// and the deployment it returned to, or an apply that only repaired drift and the one
/// before it).
pub fn same_deployment(a: &DeploymentRecord, b: &DeploymentRecord) -> bool {
    match (specs_of(a), specs_of(b)) {
        (Some(a), Some(b)) => same_specs(&a, &b),
        _ => false,
    }
}

fn specs_of(record: &DeploymentRecord) -> Option<BTreeMap<&String, &serde_json::Value>> {
    Some(record.spec.as_object()?.iter().collect())
}

fn same_specs(
    a: &BTreeMap<&String, &serde_json::Value>,
    b: &BTreeMap<&String, &serde_json::Value>,
) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(id, spec)| b.get(id).is_some_and(|other| same_spec(spec, other)))
}

fn same_spec(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let read = |v: &serde_json::Value| serde_json::from_value::<ComponentSpec>(v.clone()).ok();
    match (read(a), read(b)) {
        (Some(a), Some(b)) => a == b,
        // Unreadable on either side: only identical documents are the same.
        _ => a == b,
    }
}
