//! `--target`: a partial plan limited to the named components and what they depend on,
//! as Terraform's `-target` does. Everything else is left as it is, so a later
//! untargeted plan shows the rest.

use super::{Action, Plan, PlannedChange, Summary, count};
use crate::model::ComponentId;
use std::collections::{BTreeMap, BTreeSet};

/// The targets and every component they depend on, transitively (`dependencies`: each
/// desired component's direct dependencies).
pub fn closure(
    targets: &BTreeSet<ComponentId>,
    dependencies: &BTreeMap<ComponentId, Vec<ComponentId>>,
) -> BTreeSet<ComponentId> {
    let mut seen: BTreeSet<ComponentId> = BTreeSet::new();
    let mut todo: Vec<&ComponentId> = targets.iter().collect();
    while let Some(id) = todo.pop() {
        if seen.insert(id.clone()) {
            todo.extend(dependencies.get(id).into_iter().flatten());
        }
    }
    seen
}

/// `plan` limited to `targets` and their (transitive) dependencies. A delete stays only
/// when its component is itself a target: removing something nobody asked for is never a
/// side effect of a partial apply. Empty waves are dropped and the rest renumbered, so
/// the executor and the box see consecutive waves. With no targets, the plan as it is.
pub fn restrict(
    plan: Plan,
    targets: &BTreeSet<ComponentId>,
    dependencies: &BTreeMap<ComponentId, Vec<ComponentId>>,
) -> Plan {
    if targets.is_empty() {
        return plan;
    }
    let wanted = closure(targets, dependencies);
    let keep = |c: &PlannedChange| match c.action {
        Action::Delete => targets.contains(&c.component),
        _ => wanted.contains(&c.component),
    };
    let mut summary = Summary::default();
    let mut waves: Vec<Vec<PlannedChange>> = Vec::new();
    for wave in plan.waves {
        let kept: Vec<PlannedChange> = wave
            .into_iter()
            .filter(|c| keep(c))
            .map(|mut c| {
                c.wave = waves.len() + 1;
                count(&mut summary, c.action);
                c
            })
            .collect();
        if !kept.is_empty() {
            waves.push(kept);
        }
    }
    Plan {
        waves,
        summary,
        targets: targets.iter().map(ToString::to_string).collect(),
        ..plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ComponentKind;
    use crate::plan::{BasedOn, CurrentComponent, DesiredComponent, plan};
    use crate::reconcile::FieldChange;
    use serde_json::json;

    fn id(c: &str) -> ComponentId {
        ComponentId::new("email-service", c)
    }

    fn desired(name: &str, kind: ComponentKind, deps: &[&str]) -> DesiredComponent {
        DesiredComponent {
            id: id(name),
            kind,
            fields: json!({"v": 1}),
            depends_on: deps.iter().map(|d| id(d)).collect(),
        }
    }

    /// api → database, queue; worker → queue; cache alone; `old` is only in state.
    fn inputs() -> (
        Vec<DesiredComponent>,
        BTreeMap<ComponentId, CurrentComponent>,
    ) {
        let desired = vec![
            desired("api", ComponentKind::MicroService, &["database", "queue"]),
            desired("worker", ComponentKind::MicroService, &["queue"]),
            desired("database", ComponentKind::Rds, &[]),
            desired("queue", ComponentKind::Sqs, &[]),
            desired("cache", ComponentKind::ElastiCacheRedis, &[]),
        ];
        let mut current = BTreeMap::new();
        // The database exists and is up to date; the queue exists but differs.
        current.insert(
            id("database"),
            CurrentComponent {
                kind: ComponentKind::Rds,
                fields: Some(json!({"v": 1})),
                depends_on: vec![],
            },
        );
        current.insert(
            id("queue"),
            CurrentComponent {
                kind: ComponentKind::Sqs,
                fields: Some(json!({"v": 0})),
                depends_on: vec![],
            },
        );
        current.insert(
            id("old"),
            CurrentComponent {
                kind: ComponentKind::Sqs,
                fields: Some(json!({})),
                depends_on: vec![],
            },
        );
        (desired, current)
    }

    fn full() -> (Plan, BTreeMap<ComponentId, Vec<ComponentId>>) {
        let (desired, current) = inputs();
        let p = plan(
            "np",
            "development",
            Some(BasedOn {
                lineage: "l".into(),
                serial: 1,
            }),
            &desired,
            &current,
            &|_, _| FieldChange::InPlace,
        );
        let deps = desired
            .iter()
            .map(|d| (d.id.clone(), d.depends_on.clone()))
            .collect();
        (p, deps)
    }

    fn shape(p: &Plan) -> Vec<Vec<(String, Action, usize)>> {
        p.waves
            .iter()
            .map(|w| {
                w.iter()
                    .map(|c| (c.component.component.clone(), c.action, c.wave))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_target_brings_its_dependencies_and_nothing_else() {
        let (p, deps) = full();
        let t = restrict(p, &BTreeSet::from([id("api")]), &deps);
        assert_eq!(
            shape(&t),
            vec![
                vec![
                    ("database".to_string(), Action::Noop, 1),
                    ("queue".to_string(), Action::Update, 1)
                ],
                vec![("api".to_string(), Action::Create, 2)],
            ]
        );
        assert_eq!(
            t.summary,
            Summary {
                create: 1,
                update: 1,
                noop: 1,
                ..Summary::default()
            }
        );
        assert_eq!(t.targets, ["email-service/api"]);
        assert_eq!(t.based_on.as_ref().map(|b| b.serial), Some(1));
    }

    #[test]
    fn dependents_are_not_included_and_waves_are_renumbered() {
        let (p, deps) = full();
        let t = restrict(p, &BTreeSet::from([id("queue"), id("cache")]), &deps);
        assert_eq!(
            shape(&t),
            vec![vec![
                ("cache".to_string(), Action::Create, 1),
                ("queue".to_string(), Action::Update, 1)
            ]]
        );
        assert!(t.changes().all(|c| c.component != id("api")));
    }

    #[test]
    fn deletes_only_when_targeted() {
        let (p, deps) = full();
        assert!(p.changes().any(|c| c.action == Action::Delete));
        let t = restrict(p.clone(), &BTreeSet::from([id("cache")]), &deps);
        assert_eq!(t.summary.delete, 0);
        let t = restrict(p, &BTreeSet::from([id("old")]), &deps);
        assert_eq!(
            shape(&t),
            vec![vec![("old".to_string(), Action::Delete, 1)]]
        );
        assert_eq!(t.summary.delete, 1);
    }

    #[test]
    fn no_targets_is_the_whole_plan() {
        let (p, deps) = full();
        assert_eq!(restrict(p.clone(), &BTreeSet::new(), &deps), p);
    }

    #[test]
    fn closure_follows_chains_and_survives_cycles() {
        let deps = BTreeMap::from([
            (id("a"), vec![id("b")]),
            (id("b"), vec![id("c"), id("a")]),
            (id("c"), vec![]),
        ]);
        assert_eq!(
            closure(&BTreeSet::from([id("a")]), &deps),
            BTreeSet::from([id("a"), id("b"), id("c")])
        );
    }
}
