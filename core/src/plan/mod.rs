//! The plan: what apply will do, computed purely from the desired components and what is
//! known about the current ones (recorded state, refreshed by live reads). Apply executes
//! exactly this; the reason attached to a change is for display only.

pub mod diff;
pub mod estimate;
pub mod target;

pub use diff::{FieldDiff, diff};
pub use estimate::{DurationHistory, estimated_duration};

use crate::graph::Graph;
use crate::model::{ComponentId, ComponentKind};
use crate::reconcile::FieldChange;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Noop,
    Create,
    Update,
    Replace,
    Delete,
}

/// A component as the stack files want it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredComponent {
    pub id: ComponentId,
    pub kind: ComponentKind,
    /// Normalised managed fields (the reconciler's `normalise`).
    pub fields: Value,
    pub depends_on: Vec<ComponentId>,
}

/// A component as known now: from state, refreshed by a live read when one was made.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentComponent {
    pub kind: ComponentKind,
    /// `None`: recorded in state but gone from AWS (found missing on refresh).
    pub fields: Option<Value>,
    pub depends_on: Vec<ComponentId>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChangeDiff {
    #[serde(flatten)]
    pub diff: FieldDiff,
    pub forces_replace: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedChange {
    pub component: ComponentId,
    pub kind: ComponentKind,
    pub action: Action,
    /// 1-based wave.
    pub wave: usize,
    /// Why, for people (never used to decide anything).
    pub reason: String,
    pub fields: Vec<FieldChangeDiff>,
    /// Replacing or deleting a stateful component (RDS, ElastiCache) loses data.
    pub dangerous: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BasedOn {
    pub lineage: String,
    pub serial: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub noop: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub stack: String,
    pub environment: String,
    /// The state this plan was made against; `None` before the first deployment.
    pub based_on: Option<BasedOn>,
    /// Changes by wave: creates/updates follow the dependency waves; deletes come last,
    /// dependents before what they depend on.
    pub waves: Vec<Vec<PlannedChange>>,
    pub summary: Summary,
    /// `--target`: the components this partial plan is limited to (with what they depend
    /// on); empty for a plan of the whole stack.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

impl Plan {
    pub fn changes(&self) -> impl Iterator<Item = &PlannedChange> {
        self.waves.iter().flatten()
    }

    pub fn has_changes(&self) -> bool {
        self.changes().any(|c| c.action != Action::Noop)
    }

    pub fn dangerous(&self) -> Vec<&PlannedChange> {
        self.changes().filter(|c| c.dangerous).collect()
    }
}

/// Computes the plan. `rules(kind, path)` says whether a field updates in place.
pub fn plan(
    stack: &str,
    environment: &str,
    based_on: Option<BasedOn>,
    desired: &[DesiredComponent],
    current: &BTreeMap<ComponentId, CurrentComponent>,
    rules: &dyn Fn(ComponentKind, &str) -> FieldChange,
) -> Plan {
    let mut summary = Summary::default();
    let by_id: BTreeMap<&ComponentId, &DesiredComponent> =
        desired.iter().map(|d| (&d.id, d)).collect();

    let graph = Graph {
        dependencies: desired
            .iter()
            .map(|d| {
                (
                    d.id.clone(),
                    d.depends_on
                        .iter()
                        .filter(|t| by_id.contains_key(t))
                        .cloned()
                        .collect(),
                )
            })
            .collect(),
    };
    let mut waves: Vec<Vec<PlannedChange>> = Vec::new();
    for (index, wave) in graph.waves().into_iter().enumerate() {
        let mut changes = Vec::new();
        for id in wave {
            let Some(want) = by_id.get(&id) else { continue };
            let change = match current.get(&id) {
                None => planned(
                    want,
                    Action::Create,
                    index,
                    "not deployed yet".into(),
                    Vec::new(),
                ),
                Some(CurrentComponent { fields: None, .. }) => planned(
                    want,
                    Action::Create,
                    index,
                    "recorded in state but missing in AWS".into(),
                    Vec::new(),
                ),
                Some(CurrentComponent { kind, .. }) if *kind != want.kind => planned(
                    want,
                    Action::Replace,
                    index,
                    format!("kind changed from {kind} to {}", want.kind),
                    Vec::new(),
                ),
                Some(CurrentComponent {
                    fields: Some(have), ..
                }) => {
                    let fields: Vec<FieldChangeDiff> = diff(have, &want.fields)
                        .into_iter()
                        .map(|d| FieldChangeDiff {
                            forces_replace: rules(want.kind, &d.path) == FieldChange::Replace,
                            diff: d,
                        })
                        .collect();
                    if fields.is_empty() {
                        planned(want, Action::Noop, index, "up to date".into(), fields)
                    } else if let Some(f) = fields.iter().find(|f| f.forces_replace) {
                        let reason = format!("`{}` cannot change in place", f.diff.path);
                        planned(want, Action::Replace, index, reason, fields)
                    } else {
                        let names: Vec<&str> =
                            fields.iter().map(|f| f.diff.path.as_str()).collect();
                        planned(
                            want,
                            Action::Update,
                            index,
                            format!("changed: {}", names.join(", ")),
                            fields,
                        )
                    }
                }
            };
            count(&mut summary, change.action);
            changes.push(change);
        }
        waves.push(changes);
    }

    // Deletes: dependents first, so reverse the waves of the removed components' own graph.
    let removed: BTreeMap<&ComponentId, &CurrentComponent> = current
        .iter()
        .filter(|(id, _)| !by_id.contains_key(id))
        .collect();
    if !removed.is_empty() {
        let removed_graph = Graph {
            dependencies: removed
                .iter()
                .map(|(id, c)| {
                    let deps: BTreeSet<ComponentId> = c
                        .depends_on
                        .iter()
                        .filter(|t| removed.contains_key(t))
                        .cloned()
                        .collect();
                    ((*id).clone(), deps)
                })
                .collect(),
        };
        let mut delete_waves = removed_graph.waves();
        // A cycle in recorded dependencies (hand-edited state) must not drop deletes.
        let placed: BTreeSet<ComponentId> = delete_waves.iter().flatten().cloned().collect();
        let stragglers: Vec<ComponentId> = removed
            .keys()
            .filter(|id| !placed.contains(*id))
            .map(|id| (*id).clone())
            .collect();
        if !stragglers.is_empty() {
            delete_waves.push(stragglers);
        }
        for wave in delete_waves.into_iter().rev() {
            let index = waves.len();
            let changes: Vec<PlannedChange> = wave
                .into_iter()
                .filter_map(|id| {
                    let c = removed.get(&id)?;
                    count(&mut summary, Action::Delete);
                    Some(PlannedChange {
                        dangerous: c.kind.is_stateful(),
                        component: id,
                        kind: c.kind,
                        action: Action::Delete,
                        wave: index + 1,
                        reason: "removed from the stack files".into(),
                        fields: Vec::new(),
                    })
                })
                .collect();
            waves.push(changes);
        }
    }

    Plan {
        stack: stack.to_string(),
        environment: environment.to_string(),
        based_on,
        waves,
        summary,
        targets: Vec::new(),
    }
}

fn planned(
    want: &DesiredComponent,
    action: Action,
    index: usize,
    reason: String,
    fields: Vec<FieldChangeDiff>,
) -> PlannedChange {
    PlannedChange {
        component: want.id.clone(),
        kind: want.kind,
        action,
        wave: index + 1,
        reason,
        fields,
        dangerous: action == Action::Replace && want.kind.is_stateful(),
    }
}

fn count(summary: &mut Summary, action: Action) {
    match action {
        Action::Noop => summary.noop += 1,
        Action::Create => summary.create += 1,
        Action::Update => summary.update += 1,
        Action::Replace => summary.replace += 1,
        Action::Delete => summary.delete += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(c: &str) -> ComponentId {
        ComponentId::new("email-service", c)
    }

    fn desired() -> Vec<DesiredComponent> {
        vec![
            DesiredComponent {
                id: id("api"),
                kind: ComponentKind::MicroService,
                fields: json!({"image": "api:v1.0.1", "replicas": 2}),
                depends_on: vec![id("database"), id("queue")],
            },
            DesiredComponent {
                id: id("database"),
                kind: ComponentKind::Rds,
                fields: json!({"engine": "postgres", "instance_class": "db.t3.small"}),
                depends_on: vec![],
            },
            DesiredComponent {
                id: id("queue"),
                kind: ComponentKind::Sqs,
                fields: json!({"fifo": false, "visibility_timeout_seconds": 300}),
                depends_on: vec![],
            },
        ]
    }

    fn rules(kind: ComponentKind, path: &str) -> FieldChange {
        match (kind, path) {
            (ComponentKind::Rds, "engine") | (ComponentKind::Sqs, "fifo") => FieldChange::Replace,
            _ => FieldChange::InPlace,
        }
    }

    #[test]
    fn first_deployment_creates_everything_in_waves() {
        let p = plan(
            "np",
            "development",
            None,
            &desired(),
            &BTreeMap::new(),
            &rules,
        );
        let waves: Vec<Vec<(String, Action)>> = p
            .waves
            .iter()
            .map(|w| {
                w.iter()
                    .map(|c| (c.component.component.clone(), c.action))
                    .collect()
            })
            .collect();
        assert_eq!(
            waves,
            vec![
                vec![
                    ("database".to_string(), Action::Create),
                    ("queue".to_string(), Action::Create)
                ],
                vec![("api".to_string(), Action::Create)]
            ]
        );
        assert_eq!(
            p.summary,
            Summary {
                create: 3,
                ..Summary::default()
            }
        );
        assert!(p.dangerous().is_empty());
    }

    #[test]
    fn only_the_image_changed() {
        let mut current: BTreeMap<ComponentId, CurrentComponent> = desired()
            .into_iter()
            .map(|d| {
                (
                    d.id.clone(),
                    CurrentComponent {
                        kind: d.kind,
                        fields: Some(d.fields),
                        depends_on: d.depends_on,
                    },
                )
            })
            .collect();
        if let Some(api) = current.get_mut(&id("api")) {
            api.fields = Some(json!({"image": "api:v1.0.0", "replicas": 2}));
        }
        let p = plan(
            "np",
            "development",
            Some(BasedOn {
                lineage: "l".into(),
                serial: 3,
            }),
            &desired(),
            &current,
            &rules,
        );
        let api = p.changes().find(|c| c.component == id("api")).expect("api");
        assert_eq!(api.action, Action::Update);
        assert_eq!(api.fields.len(), 1);
        assert_eq!(api.fields[0].diff.path, "image");
        assert_eq!(api.fields[0].diff.before, Some(json!("api:v1.0.0")));
        assert_eq!(p.summary.update, 1);
        assert_eq!(p.summary.noop, 2);
        assert!(p.has_changes());
    }

    #[test]
    fn replacements_of_stateful_kinds_and_deletes_are_dangerous() {
        let mut current: BTreeMap<ComponentId, CurrentComponent> = desired()
            .into_iter()
            .map(|d| {
                (
                    d.id.clone(),
                    CurrentComponent {
                        kind: d.kind,
                        fields: Some(d.fields),
                        depends_on: d.depends_on,
                    },
                )
            })
            .collect();
        if let Some(db) = current.get_mut(&id("database")) {
            db.fields = Some(json!({"engine": "mysql", "instance_class": "db.t3.small"}));
        }
        current.insert(
            id("cache"),
            CurrentComponent {
                kind: ComponentKind::ElastiCacheRedis,
                fields: Some(json!({})),
                depends_on: vec![],
            },
        );
        current.insert(
            id("worker"),
            CurrentComponent {
                kind: ComponentKind::MicroService,
                fields: Some(json!({})),
                depends_on: vec![id("cache")],
            },
        );
        let p = plan("np", "production", None, &desired(), &current, &rules);
        let db = p
            .changes()
            .find(|c| c.component == id("database"))
            .expect("db");
        assert_eq!(db.action, Action::Replace);
        assert!(db.dangerous && db.fields[0].forces_replace);
        let deletes: Vec<(String, usize)> = p
            .changes()
            .filter(|c| c.action == Action::Delete)
            .map(|c| (c.component.component.clone(), c.wave))
            .collect();
        assert_eq!(
            deletes,
            vec![("worker".to_string(), 3), ("cache".to_string(), 4)],
            "dependents are deleted first"
        );
        let dangerous: Vec<&str> = p
            .dangerous()
            .iter()
            .map(|c| c.component.component.as_str())
            .collect();
        assert_eq!(dangerous, ["database", "cache"]);
    }

    #[test]
    fn a_component_missing_in_aws_is_created_again() {
        let mut current: BTreeMap<ComponentId, CurrentComponent> = BTreeMap::new();
        current.insert(
            id("queue"),
            CurrentComponent {
                kind: ComponentKind::Sqs,
                fields: None,
                depends_on: vec![],
            },
        );
        let p = plan("np", "development", None, &desired(), &current, &rules);
        let queue = p
            .changes()
            .find(|c| c.component == id("queue"))
            .expect("queue");
        assert_eq!(queue.action, Action::Create);
        assert!(queue.reason.contains("missing"));
    }

    #[test]
    fn the_same_inputs_give_byte_identical_plans() {
        let a = serde_json::to_string(&plan(
            "np",
            "dev",
            None,
            &desired(),
            &BTreeMap::new(),
            &rules,
        ))
        .expect("json");
        let b = serde_json::to_string(&plan(
            "np",
            "dev",
            None,
            &desired(),
            &BTreeMap::new(),
            &rules,
        ))
        .expect("json");
        assert_eq!(a, b);
    }
}
