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
        let outputs = |id: &ComponentId| {
            components
                .get(&id.to_string())
                .map(|c| c.outputs.clone())
                .unwrap_or_default()
        };
        Inputs {
            resolved_env: self
                .env_refs
                .iter()
                .filter_map(|r| {
                    Some((
                        r.name.clone(),
                        outputs(&r.component).get(&r.output)?.clone(),
                    ))
                })
                .collect(),
            dependencies: self
                .reads_outputs_of
                .iter()
                .map(|id| (id.clone(), outputs(id)))
                .collect(),
            config_files: self.config_files.clone(),
        }
    }
}
