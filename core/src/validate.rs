//! `panka validate`: everything that can be checked without AWS, as one report.

use crate::diag::{Diagnostic, Diagnostics, Location, Severity};
use crate::graph::{Graph, report_cycles};
use crate::interp::Variables;
use crate::loader::{ResolveOptions, ResolvedStack, StackFiles, read_stack_files, resolve};
use crate::model::{ComponentId, ComponentKind};
use crate::naming;
use crate::policy;
use crate::source::{SourceId, Sources};
use std::collections::BTreeSet;
use std::path::Path;

pub struct ValidateOptions {
    /// `None`: the base stack and every environment found under `environments/`.
    pub environment: Option<String>,
    pub variables: Variables,
    /// Validation without `--var` is normal (the version comes at deploy time), so an
    /// undefined variable is a note there and an error for plan and apply.
    pub undefined_variables: Severity,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemStatus {
    pub name: String,
    pub ok: bool,
}

#[derive(Clone, Debug)]
pub struct ComponentStatus {
    pub id: ComponentId,
    pub kind: ComponentKind,
    pub ok: bool,
}

/// Whether each step of the walkthrough's tree passed.
#[derive(Clone, Debug, Default)]
pub struct Steps {
    pub stack: bool,
    pub services: bool,
    pub components: bool,
    pub graph: bool,
    pub references: bool,
    pub cycles: bool,
    pub policy: bool,
}

#[derive(Debug)]
pub struct ValidationReport {
    pub stack: String,
    /// Environments whose overrides and policies were checked.
    pub environments: Vec<String>,
    pub services: Vec<ItemStatus>,
    pub components: Vec<ComponentStatus>,
    pub waves: Vec<Vec<ComponentId>>,
    pub steps: Steps,
    pub diagnostics: Vec<Diagnostic>,
}

impl ValidationReport {
    pub fn valid(&self) -> bool {
        !self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

fn is_reference_code(code: &str) -> bool {
    matches!(code, "E060" | "E061" | "E062" | "E064" | "E070")
}

/// Validates the stack at `root`.
pub fn validate(root: &Path, options: &ValidateOptions, sources: &mut Sources) -> ValidationReport {
    let mut diags = Diagnostics::default();
    let files = read_stack_files(root, sources, &mut diags);

    let mut environments: Vec<Option<String>> = match &options.environment {
        Some(env) => vec![Some(env.clone())],
        None => std::iter::once(None)
            .chain(files.environments.iter().map(|e| Some(e.folder.clone())))
            .collect(),
    };
    environments.dedup();

    let unreadable = files.unreadable_components();
    let mut base: Option<(ResolvedStack, Graph)> = None;
    let mut taken_names = naming::TakenNames::default();
    for env in &environments {
        let resolved = resolve(
            &files,
            &ResolveOptions {
                environment: env.as_deref(),
                variables: &options.variables,
                undefined_variables: options.undefined_variables,
            },
            &mut diags,
        );
        let graph = Graph::build(&resolved.components, &unreadable, &mut diags);
        let cycles = graph.cycles();
        report_cycles(&cycles, &resolved.components, &mut diags);
        policy::check(&resolved, &mut diags);
        naming::check_collisions(&resolved, &mut taken_names, sources, &mut diags);
        if base.is_none() {
            base = Some((resolved, graph));
        }
    }

    if let Some(env) = &options.environment
        && files.environment(env).is_none()
        && !files.environments.is_empty()
    {
        let names: Vec<&str> = files
            .environments
            .iter()
            .map(|e| e.folder.as_str())
            .collect();
        let mut d = Diagnostic::error(
            "E072",
            Location::Nowhere,
            format!("no environments/{env}/environment.yaml: `{env}` is checked without overrides or variables"),
        )
        .with_severity(Severity::Warning);
        d = match crate::read::did_you_mean(env, names.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint(format!("environments of this stack: {}", names.join(", "))),
        };
        diags.push(d);
    }
    let mut diagnostics = diags.into_sorted();
    if options.undefined_variables != Severity::Error {
        // A value holding an undefined variable cannot be checked; the note about the
        // variable is the one message for that line.
        let unresolved: BTreeSet<(SourceId, u32)> = diagnostics
            .iter()
            .filter(|d| d.code == "E050")
            .filter_map(|d| d.span())
            .map(|s| (s.source, s.line))
            .collect();
        diagnostics.retain(|d| {
            d.code == "E050"
                || d.span()
                    .is_none_or(|s| !unresolved.contains(&(s.source, s.line)))
        });
    }
    let Some((resolved, graph)) = base else {
        unreachable!("at least one environment view is always resolved")
    };
    build_report(&files, resolved, &graph, environments, diagnostics)
}

fn build_report(
    files: &StackFiles,
    resolved: ResolvedStack,
    graph: &Graph,
    environments: Vec<Option<String>>,
    diagnostics: Vec<Diagnostic>,
) -> ValidationReport {
    let errors: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let error_files: BTreeSet<SourceId> = errors
        .iter()
        .filter_map(|d| d.span())
        .map(|s| s.source)
        .collect();
    let file_ok = |source: Option<SourceId>| source.is_none_or(|s| !error_files.contains(&s));

    let mut component_statuses = Vec::new();
    let mut service_statuses = Vec::new();
    let mut component_files_ok = true;
    for service in &files.services {
        let mut service_ok =
            file_ok(service.doc.as_ref().map(|d| d.source)) && service.doc.is_some();
        for c in &service.components {
            let ok = c.doc.is_some()
                && file_ok(c.doc.as_ref().map(|d| d.source))
                && file_ok(c.infra.as_ref().map(|d| d.source));
            component_files_ok &= ok;
            if let Some(kind) = c.kind() {
                component_statuses.push(ComponentStatus {
                    id: ComponentId::new(&service.folder, &c.folder),
                    kind,
                    ok,
                });
            }
            service_ok &= ok;
        }
        service_statuses.push(ItemStatus {
            name: service.folder.clone(),
            ok: service_ok,
        });
    }
    let policy_ok = !errors.iter().any(|d| d.code.starts_with('P'));
    let references_ok = !errors.iter().any(|d| is_reference_code(d.code));
    let cycles_ok = !errors.iter().any(|d| d.code == "E063");
    let stack_ok = files.stack.is_some() && file_ok(files.stack.as_ref().map(|d| d.source));
    let services_ok = service_statuses.iter().all(|s| s.ok)
        && !errors
            .iter()
            .any(|d| matches!(d.location, Location::Path(_)));
    let other_files_ok = !errors.iter().any(|d| {
        d.span().is_some_and(|s| {
            files
                .infra_defaults
                .values()
                .chain(files.environments.iter().map(|e| &e.doc))
                .any(|doc| doc.source == s.source)
        }) && !d.code.starts_with('P')
            && !is_reference_code(d.code)
    });
    ValidationReport {
        stack: resolved.name,
        environments: environments.into_iter().flatten().collect(),
        services: service_statuses,
        components: component_statuses,
        waves: graph.waves(),
        steps: Steps {
            stack: stack_ok,
            services: services_ok,
            components: component_files_ok && other_files_ok,
            graph: cycles_ok,
            references: references_ok,
            cycles: cycles_ok,
            policy: policy_ok,
        },
        diagnostics,
    }
}
