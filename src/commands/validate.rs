//! `panka validate`: the walkthrough's tree, or the JSON document of product.md.

use super::Exit;
use crate::cli::ValidateArgs;
use crate::contract::{DiagnosticEntry, FORMAT_VERSION, ValidateDocument, ValidatedComponent};
use crate::output::Ui;
use crate::settings::{self, ProcessEnv};
use crate::stack_dir::find_stack;
use panka_core::diag::{Diagnostic, Diagnostics, Palette, Severity, position};
use panka_core::source::Sources;
use panka_core::validate::{ValidateOptions, ValidationReport, validate};
use std::fmt::Write as _;

pub fn run(args: &ValidateArgs, env: &ProcessEnv, ui: &Ui) -> anyhow::Result<Exit> {
    let root = find_stack(args.stack.stack.as_deref(), &env.cwd)?;
    let mut sources = Sources::with_display_base(&env.cwd);
    let mut var_diags = Diagnostics::default();
    let variables = settings::variables(&args.vars, env, &mut sources, &mut var_diags)?;
    let options = ValidateOptions {
        environment: args
            .environment
            .clone()
            .or_else(|| env.panka_environment.clone()),
        variables,
        undefined_variables: Severity::Note,
    };
    let mut report = validate(&root, &options, &mut sources);
    if !var_diags.is_empty() {
        report.diagnostics.splice(0..0, var_diags.into_sorted());
    }

    if ui.is_json() {
        ui.json(&report_json(&report, &sources));
    } else {
        ui.out(&tree(&report, ui.palette()));
        ui.diagnostics(&sources, &report.diagnostics);
        ui.out(&summary(&report, ui.palette()));
    }
    Ok(if report.valid() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

fn mark(ok: bool, p: Palette) -> String {
    if ok {
        format!("{}✓{}", p.ok, p.reset)
    } else {
        format!("{}✗{}", p.error, p.reset)
    }
}

/// The walkthrough's tree.
pub fn tree(report: &ValidationReport, p: Palette) -> String {
    let s = &report.steps;
    let mut out = String::new();
    let _ = writeln!(out, "Validating stack: {}", report.stack);
    let _ = writeln!(out, "├── Parsing stack.yaml... {}", mark(s.stack, p));
    let _ = writeln!(out, "├── Parsing services... {}", mark(s.services, p));
    for (i, service) in report.services.iter().enumerate() {
        let branch = if i + 1 == report.services.len() {
            "└──"
        } else {
            "├──"
        };
        let _ = writeln!(out, "│   {branch} {} {}", service.name, mark(service.ok, p));
    }
    let _ = writeln!(out, "├── Parsing components... {}", mark(s.components, p));
    for (i, c) in report.components.iter().enumerate() {
        let branch = if i + 1 == report.components.len() {
            "└──"
        } else {
            "├──"
        };
        let _ = writeln!(out, "│   {branch} {} {}", c.id, mark(c.ok, p));
    }
    let _ = writeln!(out, "├── Building dependency graph... {}", mark(s.graph, p));
    let single_service = report.services.len() <= 1;
    for (i, wave) in report.waves.iter().enumerate() {
        let names: Vec<String> = wave
            .iter()
            .map(|id| {
                if single_service {
                    id.component.clone()
                } else {
                    id.to_string()
                }
            })
            .collect();
        let _ = writeln!(out, "│   Wave {}: {}", i + 1, names.join(", "));
    }
    let _ = writeln!(
        out,
        "├── Validating references... {}",
        mark(s.references, p)
    );
    let _ = writeln!(out, "├── Checking for cycles... {}", mark(s.cycles, p));
    let _ = writeln!(out, "└── Running policy checks... {}", mark(s.policy, p));
    out
}

fn summary(report: &ValidationReport, p: Palette) -> String {
    let count = |sev: Severity| {
        report
            .diagnostics
            .iter()
            .filter(|d| d.severity == sev)
            .count()
    };
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors == 0 {
        let extra = if warnings > 0 {
            format!(" ({})", plural(warnings, "warning"))
        } else {
            String::new()
        };
        format!(
            "\n{}✓ Stack configuration is valid!{}{extra}\n",
            p.ok, p.reset
        )
    } else {
        let mut text = format!(
            "\n{}✗ Stack configuration is invalid: {}",
            p.error,
            plural(errors, "error")
        );
        if warnings > 0 {
            text.push_str(&format!(", {}", plural(warnings, "warning")));
        }
        text.push_str(&format!("{}\n", p.reset));
        text
    }
}

fn diagnostic_json(d: &Diagnostic, sources: &Sources) -> DiagnosticEntry {
    let (file, line, column) = match position(sources, &d.location) {
        Some((file, line, column)) => (Some(file), line, column),
        None => (None, None, None),
    };
    DiagnosticEntry {
        file,
        line,
        column,
        code: d.code,
        severity: d.severity,
        message: d.message.clone(),
        hint: d.hint.clone(),
    }
}

pub fn report_json(report: &ValidationReport, sources: &Sources) -> ValidateDocument {
    let (errors, others): (Vec<&Diagnostic>, Vec<&Diagnostic>) = report
        .diagnostics
        .iter()
        .partition(|d| d.severity == Severity::Error);
    ValidateDocument {
        format_version: FORMAT_VERSION,
        stack: report.stack.clone(),
        valid: report.valid(),
        environments: report.environments.clone(),
        components: report
            .components
            .iter()
            .map(|c| ValidatedComponent {
                id: c.id.to_string(),
                kind: c.kind.name(),
            })
            .collect(),
        waves: report
            .waves
            .iter()
            .map(|w| w.iter().map(ToString::to_string).collect())
            .collect(),
        errors: errors.iter().map(|d| diagnostic_json(d, sources)).collect(),
        warnings: others.iter().map(|d| diagnostic_json(d, sources)).collect(),
    }
}
