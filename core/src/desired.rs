//! From the resolved stack to what the planner and the executor need: per component its
//! resource context, spec, dependencies, `valueFrom` references and config file contents.

use crate::engine::{EnvRef, Job};
use crate::graph::Graph;
use crate::loader::ResolvedStack;
use crate::model::{ComponentId, ComponentKind, ComponentSpec, EnvValue};
use crate::plan::{Action, CurrentComponent, DesiredComponent, Plan};
use crate::policy::is_production;
use crate::reconcile::{Inputs, ResourceContext};
use crate::state::{ComponentState, StateDocument};
use std::collections::BTreeMap;

/// One component as the stack files want it, ready to plan and apply.
#[derive(Clone, Debug)]
pub struct DesiredPiece {
    pub ctx: ResourceContext,
    pub spec: ComponentSpec,
    pub depends_on: Vec<ComponentId>,
    pub env_refs: Vec<EnvRef>,
    pub config_files: BTreeMap<String, String>,
}

impl DesiredPiece {
    pub fn id(&self) -> &ComponentId {
        &self.ctx.id
    }

    pub fn kind(&self) -> ComponentKind {
        self.spec.kind()
    }

    /// Inputs from outputs recorded in state; outputs of components not created yet are
    /// simply absent ("known after apply").
    pub fn inputs(&self, components: &BTreeMap<String, ComponentState>) -> Inputs {
        self.job(Action::Noop, 0).inputs(components)
    }

    fn job(&self, action: Action, wave: usize) -> Job {
        Job {
            ctx: self.ctx.clone(),
            kind: self.kind(),
            action,
            wave,
            depends_on: self.depends_on.clone(),
            desired: Some(self.spec.clone()),
            env_refs: self.env_refs.clone(),
            reads_outputs_of: self.depends_on.clone(),
            config_files: self.config_files.clone(),
        }
    }
}

/// The context of a component of `stack` in `environment`.
pub fn context(stack: &ResolvedStack, environment: &str, id: &ComponentId) -> ResourceContext {
    ResourceContext {
        stack: stack.name.clone(),
        environment: environment.to_string(),
        id: id.clone(),
        region: stack.spec.region.clone(),
        production: is_production(environment),
        network: stack
            .environment_spec
            .as_ref()
            .and_then(|e| e.network.clone()),
    }
}

/// Every component of a valid stack (no diagnostics left) as a [`DesiredPiece`].
///
/// Errors: a config file that cannot be read (it existed at validation).
pub fn pieces(
    stack: &ResolvedStack,
    graph: &Graph,
    environment: &str,
) -> Result<Vec<DesiredPiece>, String> {
    let mut out = Vec::new();
    for c in &stack.components {
        let mut env_refs = Vec::new();
        let mut config_files = BTreeMap::new();
        if let ComponentSpec::MicroService(ms) = &c.spec {
            for var in &ms.environment {
                if let EnvValue::From { component, output } = &var.value
                    && let Some(target) = ComponentId::parse(component, &c.id.service)
                {
                    env_refs.push(EnvRef {
                        name: var.name.clone(),
                        component: target,
                        output: output.clone(),
                    });
                }
            }
            for file in ms.configs.iter().flat_map(|c| &c.files) {
                let text = std::fs::read_to_string(&file.path)
                    .map_err(|e| format!("cannot read config file {}: {e}", file.path.display()))?;
                config_files.insert(file.name.clone(), text);
            }
        }
        out.push(DesiredPiece {
            ctx: context(stack, environment, &c.id),
            spec: c.spec.clone(),
            depends_on: graph
                .dependencies
                .get(&c.id)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default(),
            env_refs,
            config_files,
        });
    }
    Ok(out)
}

/// The planner's view of the desired components, normalised by `normalise(piece, inputs)`
/// (the reconciler of each kind).
pub fn planned_components(
    pieces: &[DesiredPiece],
    state: Option<&StateDocument>,
    normalise: &dyn Fn(&DesiredPiece, &Inputs) -> serde_json::Value,
) -> Vec<DesiredComponent> {
    let empty = BTreeMap::new();
    let recorded = state.map(|s| &s.components).unwrap_or(&empty);
    pieces
        .iter()
        .map(|p| DesiredComponent {
            id: p.id().clone(),
            kind: p.kind(),
            fields: normalise(p, &p.inputs(recorded)),
            depends_on: p.depends_on.clone(),
        })
        .collect()
}

/// What is known now: state's components, their fields from a live read when one was made
/// (`observed`: `None` = missing in AWS), else normalised from the recorded spec.
pub fn current_components(
    state: Option<&StateDocument>,
    observed: &BTreeMap<ComponentId, Option<serde_json::Value>>,
    recorded_fields: &dyn Fn(&ComponentId, &ComponentState) -> Option<serde_json::Value>,
) -> BTreeMap<ComponentId, CurrentComponent> {
    let mut out = BTreeMap::new();
    for (key, c) in state.map(|s| s.components.iter()).into_iter().flatten() {
        let Some(id) = ComponentId::parse(key, "") else {
            continue;
        };
        let fields = match observed.get(&id) {
            Some(live) => live.clone(),
            None => recorded_fields(&id, c),
        };
        out.insert(
            id,
            CurrentComponent {
                kind: c.kind,
                fields,
                depends_on: Vec::new(),
            },
        );
    }
    out
}

/// The executor's jobs for `plan`: changes of desired components carry their piece;
/// deletes carry the context rebuilt from the stack and the state's kind.
pub fn jobs(
    plan: &Plan,
    pieces: &[DesiredPiece],
    stack: &ResolvedStack,
    environment: &str,
) -> Vec<Job> {
    let by_id: BTreeMap<&ComponentId, &DesiredPiece> = pieces.iter().map(|p| (p.id(), p)).collect();
    // A delete waits for every other change (a dependent updated to stop using what is
    // deleted goes first) and for the deletes in earlier delete waves (its dependents).
    let others: Vec<ComponentId> = plan
        .changes()
        .filter(|c| !matches!(c.action, Action::Delete | Action::Noop))
        .map(|c| c.component.clone())
        .collect();
    let deleted_before: Vec<(usize, ComponentId)> = plan
        .changes()
        .filter(|c| c.action == Action::Delete)
        .map(|c| (c.wave, c.component.clone()))
        .collect();
    plan.changes()
        .map(|change| match by_id.get(&change.component) {
            Some(piece) if change.action != Action::Delete => {
                let mut job = piece.job(change.action, change.wave);
                // Only dependencies that are part of this stack's plan gate the start.
                job.depends_on.retain(|d| by_id.contains_key(d));
                job
            }
            _ => Job {
                ctx: context(stack, environment, &change.component),
                kind: change.kind,
                action: change.action,
                wave: change.wave,
                depends_on: others
                    .iter()
                    .cloned()
                    .chain(
                        deleted_before
                            .iter()
                            .filter(|(w, _)| *w < change.wave)
                            .map(|(_, id)| id.clone()),
                    )
                    .collect(),
                desired: None,
                env_refs: Vec::new(),
                reads_outputs_of: Vec::new(),
                config_files: BTreeMap::new(),
            },
        })
        .collect()
}
