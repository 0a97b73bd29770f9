//! The dependency graph between components and its waves.
//!
//! A component depends on every component it names in `valueFrom` or `dependsOn`.
//! Wave 1 holds the components with no dependencies; each later wave holds those whose
//! dependencies all sit in earlier waves. Within a wave, components are sorted by id, so
//! the same input always gives the same waves (plan and apply rely on it).

use crate::diag::{Diagnostic, Diagnostics};
use crate::loader::Component;
use crate::model::ComponentId;
use crate::read::did_you_mean;
use crate::source::Span;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// Every component, with the ids it depends on.
    pub dependencies: BTreeMap<ComponentId, BTreeSet<ComponentId>>,
}

/// A dependency cycle, in edge order: `path[0] → path[1] → … → path[0]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    pub path: Vec<ComponentId>,
}

impl Cycle {
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.path.iter().map(ToString::to_string).collect();
        if let Some(first) = parts.first().cloned() {
            parts.push(first);
        }
        parts.join(" → ")
    }
}

impl Graph {
    /// Builds the graph, reporting references to unknown components (`E060` for
    /// `valueFrom`, `E062` for `dependsOn`), unknown outputs (`E061`) and
    /// self-references (`E064`). Bad edges are left out. References to `unreadable`
    /// components (whose files failed to parse, already reported) are dropped silently
    /// so one mistake is not reported twice.
    pub fn build(
        components: &[Component],
        unreadable: &BTreeSet<ComponentId>,
        diags: &mut Diagnostics,
    ) -> Graph {
        let by_id: BTreeMap<&ComponentId, &Component> =
            components.iter().map(|c| (&c.id, c)).collect();
        let mut graph = Graph::default();
        for c in components {
            let deps = graph.dependencies.entry(c.id.clone()).or_default();
            for r in &c.references {
                let via_value_from = r.output.is_some();
                let target_span = Span {
                    len: r.target.value.chars().count().max(1) as u32,
                    ..r.target.span
                };
                let Some(target_id) = ComponentId::parse(&r.target.value, &c.id.service) else {
                    diags.push(
                        Diagnostic::at(
                            if via_value_from { "E060" } else { "E062" },
                            target_span,
                            format!("`{}` is not a component reference", r.target.value),
                        )
                        .with_label("expected service/component")
                        .with_hint("write `service/component`, e.g. `email-service/database`"),
                    );
                    continue;
                };
                let Some(target) = by_id.get(&target_id) else {
                    if target_id.is_in(unreadable) {
                        continue;
                    }
                    let code = if via_value_from { "E060" } else { "E062" };
                    let names: Vec<String> = by_id.keys().map(ToString::to_string).collect();
                    let mut d = Diagnostic::at(
                        code,
                        target_span,
                        format!("unknown component `{}`", r.target.value),
                    )
                    .with_label("no such component");
                    d = match did_you_mean(&target_id.to_string(), names.iter().map(String::as_str))
                    {
                        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                        None => {
                            d.with_hint(format!("components in this stack: {}", names.join(", ")))
                        }
                    };
                    diags.push(d);
                    continue;
                };
                if target_id == c.id {
                    diags.push(
                        Diagnostic::at(
                            "E064",
                            target_span,
                            format!("`{}` depends on itself", c.id),
                        )
                        .with_label("self-reference"),
                    );
                    continue;
                }
                if let Some(output) = &r.output {
                    let outputs = target.kind().outputs();
                    if !outputs.contains(&output.value.as_str()) {
                        let mut d = Diagnostic::at(
                            "E061",
                            Span {
                                len: output.value.chars().count().max(1) as u32,
                                ..output.span
                            },
                            format!(
                                "{} component `{}` has no output `{}`",
                                target.kind(),
                                target_id,
                                output.value
                            ),
                        )
                        .with_label("unknown output");
                        d = match did_you_mean(&output.value, outputs.iter().copied()) {
                            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                            None => d.with_hint(format!(
                                "{} outputs: {}",
                                target.kind(),
                                outputs.join(", ")
                            )),
                        };
                        diags.push(d);
                        continue;
                    }
                }
                deps.insert(target_id);
            }
        }
        graph
    }

    /// Finds the cycles of the graph (each reported once, starting at its smallest id).
    pub fn cycles(&self) -> Vec<Cycle> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks: BTreeMap<&ComponentId, Mark> =
            self.dependencies.keys().map(|k| (k, Mark::New)).collect();
        let mut found: BTreeSet<Vec<ComponentId>> = BTreeSet::new();
        // Iterative depth-first search: stacks of thousands of components must not
        // overflow the call stack.
        for start in self.dependencies.keys() {
            if marks.get(start) != Some(&Mark::New) {
                continue;
            }
            let mut path: Vec<&ComponentId> = vec![start];
            let mut iters = vec![self.dependencies[start].iter()];
            marks.insert(start, Mark::Active);
            while let Some(iter) = iters.last_mut() {
                match iter.next() {
                    Some(next) => match marks.get(next).copied() {
                        Some(Mark::New) => {
                            marks.insert(next, Mark::Active);
                            path.push(next);
                            iters.push(self.dependencies[next].iter());
                        }
                        Some(Mark::Active) => {
                            let at = path.iter().position(|p| *p == next).unwrap_or(0);
                            let mut cycle: Vec<ComponentId> =
                                path[at..].iter().map(|c| (*c).clone()).collect();
                            let min = cycle
                                .iter()
                                .enumerate()
                                .min_by(|a, b| a.1.cmp(b.1))
                                .map(|(i, _)| i)
                                .unwrap_or(0);
                            cycle.rotate_left(min);
                            found.insert(cycle);
                        }
                        _ => {}
                    },
                    None => {
                        iters.pop();
                        if let Some(done) = path.pop() {
                            marks.insert(done, Mark::Done);
                        }
                    }
                }
            }
        }
        found.into_iter().map(|path| Cycle { path }).collect()
    }

    /// The waves of an acyclic graph. Components in a cycle (already reported) and
    /// those depending on them are left out.
    pub fn waves(&self) -> Vec<Vec<ComponentId>> {
        // Kahn's algorithm, one level at a time: O(components + edges).
        let mut pending: BTreeMap<&ComponentId, usize> = BTreeMap::new();
        let mut dependents: BTreeMap<&ComponentId, Vec<&ComponentId>> = BTreeMap::new();
        for (id, deps) in &self.dependencies {
            pending.insert(id, deps.len());
            for dep in deps {
                dependents.entry(dep).or_default().push(id);
            }
        }
        let mut current: Vec<&ComponentId> = pending
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| *id)
            .collect();
        let mut waves = Vec::new();
        while !current.is_empty() {
            let mut next = Vec::new();
            for id in &current {
                for dependent in dependents.get(id).map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some(n) = pending.get_mut(dependent) {
                        *n -= 1;
                        if *n == 0 {
                            next.push(*dependent);
                        }
                    }
                }
            }
            waves.push(current.into_iter().cloned().collect());
            next.sort();
            current = next;
        }
        waves
    }
}

/// Reports each cycle (`E063`) at the reference that closes it, printing the path.
pub fn report_cycles(cycles: &[Cycle], components: &[Component], diags: &mut Diagnostics) {
    for cycle in cycles {
        let from = &cycle.path[cycle.path.len() - 1];
        let to = &cycle.path[0];
        let span = components.iter().find(|c| &c.id == from).and_then(|c| {
            c.references
                .iter()
                .find(|r| ComponentId::parse(&r.target.value, &c.id.service).as_ref() == Some(to))
                .map(|r| Span {
                    len: r.target.value.chars().count().max(1) as u32,
                    ..r.target.span
                })
                .or(Some(c.span))
        });
        let message = format!("dependency cycle: {}", cycle.describe());
        let d = match span {
            Some(span) => Diagnostic::at("E063", span, message),
            None => Diagnostic::error("E063", crate::diag::Location::Nowhere, message),
        };
        diags.push(d.with_label("this reference closes the cycle").with_hint(
            "remove one of these references; components in a cycle can never be created",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        Graph {
            dependencies: edges
                .iter()
                .map(|(id, deps)| {
                    (
                        ComponentId::new("s", *id),
                        deps.iter().map(|d| ComponentId::new("s", *d)).collect(),
                    )
                })
                .collect(),
        }
    }

    fn names(waves: &[Vec<ComponentId>]) -> Vec<Vec<&str>> {
        waves
            .iter()
            .map(|w| w.iter().map(|c| c.component.as_str()).collect())
            .collect()
    }

    #[test]
    fn orders_waves_by_depth_then_name() {
        let g = graph(&[
            ("api", &["database", "queue"]),
            ("queue", &[]),
            ("database", &[]),
            ("worker", &["queue"]),
            ("web", &["api"]),
        ]);
        assert_eq!(
            names(&g.waves()),
            vec![
                vec!["database", "queue"],
                vec!["api", "worker"],
                vec!["web"]
            ]
        );
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn finds_cycles_with_their_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        let cycles = g.cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].describe(), "s/a → s/b → s/c → s/a");
        assert_eq!(names(&g.waves()), vec![vec!["d"]]);
    }

    #[test]
    fn waves_are_deterministic_on_a_long_chain() {
        let ids: Vec<String> = (0..2000).map(|i| format!("c{i:04}")).collect();
        let mut g = Graph::default();
        for (i, id) in ids.iter().enumerate() {
            let deps = if i == 0 {
                BTreeSet::new()
            } else {
                [ComponentId::new("s", &ids[i - 1])].into()
            };
            g.dependencies.insert(ComponentId::new("s", id), deps);
        }
        assert!(g.cycles().is_empty());
        assert_eq!(g.waves().len(), 2000);
    }
}
