//! One unit of work for the executor.

use crate::model::{ComponentId, ComponentKind, ComponentSpec};
use crate::plan::Action;
use crate::reconcile::{Inputs, ResourceContext};
use crate::state::ComponentState;
use std::collections::BTreeMap;

/// A `valueFrom`: environment variable `name` takes `output` of `component`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvRef {
    pub name: String,
    pub component: ComponentId,
    pub output: String,
}

/// A planned change with what executing it needs.
#[derive(Clone, Debug)]
pub struct Job {
    pub ctx: ResourceContext,
    pub kind: ComponentKind,
    pub action: Action,
    pub wave: usize,
    /// Changes that must finish first: dependencies for creates and updates, dependents
    /// for deletes.
    pub depends_on: Vec<ComponentId>,
    /// The spec to apply (`None` for deletes).
    pub desired: Option<ComponentSpec>,
    pub env_refs: Vec<EnvRef>,
    /// Components whose outputs this one reads (its dependencies).
    pub reads_outputs_of: Vec<ComponentId>,
    pub config_files: BTreeMap<String, String>,
}

impl Job {
    /// Inputs from the outputs recorded for this job's dependencies.
    pub fn inputs(&self, components: &BTreeMap<String, ComponentState>) -> Inputs {
        inputs_of(
            &self.env_refs,
            &self.reads_outputs_of,
            &self.config_files,
            components,
        )
    }
}

/// The inputs of a component that reads `env_refs` and the outputs of `reads_outputs_of`,
/// from the outputs recorded in `components`.
pub fn inputs_of(
    env_refs: &[EnvRef],
    reads_outputs_of: &[ComponentId],
    config_files: &BTreeMap<String, String>,
    components: &BTreeMap<String, ComponentState>,
) -> Inputs {
    let recorded = |id: &ComponentId| components.get(&id.to_string());
    Inputs {
        resolved_env: env_refs
            .iter()
            .filter_map(|r| {
                let value = recorded(&r.component)?.outputs.get(&r.output)?;
                Some((r.name.clone(), value.clone()))
            })
            .collect(),
        dependencies: reads_outputs_of
            .iter()
            .map(|id| {
                let outputs = recorded(id).map(|c| c.outputs.clone());
                (id.clone(), outputs.unwrap_or_default())
            })
            .collect(),
        dependency_kinds: reads_outputs_of
            .iter()
            .filter_map(|id| Some((id.clone(), recorded(id)?.kind)))
            .collect(),
        config_files: config_files.clone(),
    }
}
