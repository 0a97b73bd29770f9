//! Planning: the `--target` check, reading the state, refreshing every recorded
//! component from AWS (in parallel) and computing the plan.

use super::backend::Backends;
use super::load::Loaded;
use crate::error::UserError;
use panka_core::cost::{Estimate, stack_monthly_cost};
use panka_core::desired::{
    DesiredPiece, current_components, planned_components, records_for_deletes,
};
use panka_core::model::{ComponentId, ComponentSpec};
use panka_core::plan::{BasedOn, DurationHistory, Plan, plan};
use panka_core::state::{DeploymentRecord, StateKey, StateStore, VersionedState};
use panka_providers::reconcilers::Reconcilers;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The components `--target` names (`service/component`, repeatable), checked against the
/// stack files before anything touches AWS: every unknown one is reported at once, with
/// a did-you-mean.
pub fn targets(names: &[String], loaded: &Loaded) -> anyhow::Result<BTreeSet<ComponentId>> {
    let known: Vec<String> = loaded.pieces.iter().map(|p| p.id().to_string()).collect();
    let mut found = BTreeSet::new();
    let mut unknown: Vec<String> = Vec::new();
    for name in names {
        let id = ComponentId::parse(name, "").filter(|id| !id.service.is_empty());
        match id {
            Some(id) if known.contains(&id.to_string()) => {
                found.insert(id);
            }
            _ => {
                // A bare component name is most likely `service/component` abbreviated.
                let same_name: Vec<&String> = known
                    .iter()
                    .filter(|k| k.rsplit('/').next() == Some(name.as_str()))
                    .collect();
                let suggestion = match same_name.as_slice() {
                    [one] => Some(one.as_str()),
                    _ => panka_core::read::did_you_mean(name, known.iter().map(String::as_str)),
                };
                unknown.push(match suggestion {
                    Some(s) => format!("`{name}` (did you mean `{s}`?)"),
                    None => format!("`{name}`"),
                });
            }
        }
    }
    if unknown.is_empty() {
        return Ok(found);
    }
    Err(UserError::new(format!(
        "--target names {} that {} not in the stack: {}",
        if unknown.len() == 1 {
            "a component"
        } else {
            "components"
        },
        if unknown.len() == 1 { "is" } else { "are" },
        unknown.join(", ")
    ))
    .hint(format!(
        "targets are `service/component`; this stack has: {} (a component removed from the \
         files is deleted by an apply without --target)",
        known.join(", ")
    ))
    .into())
}

/// The plan limited to `targets` and what they depend on (no targets: unchanged).
pub fn restrict(mut planned: Planned, loaded: &Loaded, targets: &BTreeSet<ComponentId>) -> Planned {
    let dependencies: BTreeMap<ComponentId, Vec<ComponentId>> = loaded
        .pieces
        .iter()
        .map(|p| (p.id().clone(), p.depends_on.clone()))
        .collect();
    planned.plan = panka_core::plan::target::restrict(planned.plan, targets, &dependencies);
    planned
}

pub struct Planned {
    pub plan: Plan,
    pub estimate: Estimate,
    pub state: Option<VersionedState>,
    /// What changes took in recent deployments, for the duration estimate.
    pub durations: DurationHistory,
}

/// Reads live resources of every recorded component (in parallel), then plans.
pub async fn compute(
    loaded: &Loaded,
    backends: &Backends,
    reconcilers: &Arc<Reconcilers>,
    key: &StateKey,
    refresh: bool,
) -> anyhow::Result<Planned> {
    let state = (backends.store.read(key).await).map_err(UserError::from)?;
    compute_from(
        loaded,
        state,
        backends.store.as_ref(),
        key,
        reconcilers,
        refresh,
    )
    .await
}

/// [`compute`] from a state already read (`store` is where it was read, for the
/// deployment records a state written by an older panka needs to order its deletes).
pub async fn compute_from(
    loaded: &Loaded,
    state: Option<VersionedState>,
    store: &dyn StateStore,
    key: &StateKey,
    reconcilers: &Arc<Reconcilers>,
    refresh: bool,
) -> anyhow::Result<Planned> {
    let doc = state.as_ref().map(|s| &s.state);
    let wanted = records_for_deletes(doc, &loaded.pieces);
    let deployments: BTreeMap<String, DeploymentRecord> = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        (store.deployments_by_id(key, &wanted).await)
            .map_err(UserError::from)?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect()
    };
    let durations = doc.map(DurationHistory::from_state).unwrap_or_default();
    let mut observed: BTreeMap<ComponentId, Option<serde_json::Value>> = BTreeMap::new();
    if refresh && let Some(doc) = doc {
        let mut reads = tokio::task::JoinSet::new();
        for (id_text, c) in &doc.components {
            let Some(id) = ComponentId::parse(id_text, "") else {
                continue;
            };
            let ctx = panka_core::desired::context(&loaded.stack, &loaded.environment, &id);
            let (reconcilers, known, kind) = (reconcilers.clone(), c.physical_ids.clone(), c.kind);
            reads.spawn(async move {
                let read = reconcilers.for_kind(kind).read(&ctx, &known).await;
                (id, read)
            });
        }
        while let Some(joined) = reads.join_next().await {
            let (id, read) = joined?;
            let live =
                read.map_err(|e| UserError::from(e).doing(format!("cannot read {id} from AWS")))?;
            observed.insert(id, live.map(|o| o.fields));
        }
    }
    let no_components = BTreeMap::new();
    let recorded = doc.map_or(&no_components, |d| &d.components);
    let pieces: BTreeMap<&ComponentId, &DesiredPiece> =
        loaded.pieces.iter().map(|p| (p.id(), p)).collect();
    let desired = planned_components(&loaded.pieces, doc, &|piece, inputs| {
        reconcilers
            .for_kind(piece.kind())
            .normalise(&piece.ctx, &piece.spec, inputs)
    });
    let desired_fields: BTreeMap<&ComponentId, &serde_json::Value> =
        desired.iter().map(|d| (&d.id, &d.fields)).collect();
    let recorded_fields = |id: &ComponentId, c: &panka_core::state::ComponentState| {
        let spec = ComponentSpec::deserialize(&c.applied_spec).ok()?;
        let piece = pieces.get(id);
        // Same spec, same context, same recorded inputs: the same normalised fields
        // (the common case, and half of a large plan's work when recomputed).
        if let Some(piece) = piece
            && piece.spec == spec
            && let Some(fields) = desired_fields.get(id)
        {
            return Some((*fields).clone());
        }
        let ctx = panka_core::desired::context(&loaded.stack, &loaded.environment, id);
        let inputs = piece.map(|p| p.inputs(recorded)).unwrap_or_default();
        Some(reconcilers.for_kind(c.kind).normalise(&ctx, &spec, &inputs))
    };
    let current = current_components(doc, &observed, &recorded_fields, &deployments);
    let based_on = doc.map(|d| BasedOn {
        lineage: d.lineage.clone(),
        serial: d.serial,
    });
    let plan = plan(
        &loaded.stack.name,
        &loaded.environment,
        based_on,
        &desired,
        &current,
        &|kind, path| reconcilers.field_change(kind, path),
    );
    Ok(Planned {
        estimate: stack_monthly_cost(&loaded.stack),
        plan,
        state,
        durations,
    })
}
