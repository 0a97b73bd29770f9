//! The one way to load a stack: found, read, resolved for one environment and checked
//! (errors stop here: nothing in AWS is touched), for plan, apply, rollback and destroy;
//! and [`quietly`] / [`files`], the best-effort reads of commands that work from state
//! (status, drift, logs) and only want what the folder adds.

use crate::cli::{GlobalArgs, VariableArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::{self, ProcessEnv};
use panka_core::desired::{DesiredPiece, pieces};
use panka_core::diag::{Diagnostics, Severity};
use panka_core::graph::{Graph, report_cycles};
use panka_core::interp::Variables;
use panka_core::loader::{ResolveOptions, ResolvedStack, StackFiles, read_stack_files, resolve};
use panka_core::source::Sources;
use panka_providers::secrets::{SecretCheck, SecretUse};
use std::path::Path;

#[derive(Clone)]
pub struct Loaded {
    pub stack_dir: std::path::PathBuf,
    pub stack: ResolvedStack,
    pub environment: String,
    pub pieces: Vec<DesiredPiece>,
    pub config: crate::config::Config,
    pub version: String,
}

/// Every secret reference of a loaded stack, at the `file:line:column` it is written
/// (what apply's preflight checks).
#[derive(Clone, Debug, Default)]
pub struct SecretRefs(pub Vec<SecretCheck>);

/// Loads, validates (errors stop here: nothing in AWS is touched) and resolves the stack.
pub fn load(
    stack_arg: Option<&str>,
    environment_arg: Option<&String>,
    vars: &VariableArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Loaded> {
    load_with(
        stack_arg,
        environment_arg,
        vars,
        Purpose::Plan,
        global,
        env,
        ui,
    )
    .map(|(loaded, _)| loaded)
}

/// [`load`], with the stack's secret references and their positions (for apply).
pub fn load_with_secrets(
    stack_arg: Option<&str>,
    environment_arg: Option<&String>,
    vars: &VariableArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<(Loaded, SecretRefs)> {
    load_with(
        stack_arg,
        environment_arg,
        vars,
        Purpose::Apply,
        global,
        env,
        ui,
    )
}

/// [`load`] for commands that take their specs from state or a deployment record
/// (rollback, destroy): the stack gives only the region, network and approval rules, so
/// a variable such as `VERSION` left undefined is not an error.
pub fn load_for_context(
    stack_arg: Option<&str>,
    environment_arg: Option<&String>,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Loaded> {
    let no_vars = VariableArgs {
        vars: Vec::new(),
        var_files: Vec::new(),
    };
    load_with(
        stack_arg,
        environment_arg,
        &no_vars,
        Purpose::Context,
        global,
        env,
        ui,
    )
    .map(|(loaded, _)| loaded)
}

/// What a command loads the stack for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Plan,
    /// Plan, and check the secrets it references.
    Apply,
    /// Only the stack's settings: undefined variables are notes, not errors.
    Context,
}

fn load_with(
    stack_arg: Option<&str>,
    environment_arg: Option<&String>,
    vars: &VariableArgs,
    purpose: Purpose,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<(Loaded, SecretRefs)> {
    let stack_dir = crate::stack_dir::find_stack(stack_arg, &env.cwd)?;
    let environment = settings::environment(environment_arg, env);
    if let Some(problem) = panka_core::names::dns_name_problem(&environment) {
        return Err(UserError::new(format!(
            "environment name `{environment}` is not valid: {problem}"
        ))
        .into());
    }
    let mut sources = Sources::with_display_base(&env.cwd);
    let mut diags = Diagnostics::default();
    let config = settings::config(global.config.as_ref(), env, &mut sources, &mut diags)?;
    let variables = settings::variables(vars, env, &mut sources, &mut diags)?;
    let files = read_stack_files(&stack_dir, &mut sources, &mut diags);
    let stack = resolve(
        &files,
        &ResolveOptions {
            environment: Some(&environment),
            variables: &variables,
            undefined_variables: if purpose == Purpose::Context {
                Severity::Note
            } else {
                Severity::Error
            },
        },
        &mut diags,
    );
    let graph = Graph::build(
        &stack.components,
        &files.unreadable_components(),
        &mut diags,
    );
    report_cycles(&graph.cycles(), &stack.components, &mut diags);
    panka_core::policy::check(&stack, &mut diags);
    panka_core::naming::check_collisions(
        &stack,
        &mut panka_core::naming::TakenNames::default(),
        &sources,
        &mut diags,
    );
    let sorted = diags.into_sorted();
    if sorted.iter().any(|d| d.severity == Severity::Error) {
        ui.diagnostics(&sources, &sorted);
        let count = sorted
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        return Err(UserError::new(format!(
            "the stack has {count} error{}; nothing was changed",
            if count == 1 { "" } else { "s" }
        ))
        .hint("fix them, then run the command again (`panka validate` shows the same)")
        .into());
    }
    // Commands that take their specs from state or a record (rollback, destroy) render
    // nothing with the variables, so an undefined one is no news to them.
    let shown: Vec<_> = sorted
        .iter()
        .filter(|d| !(purpose == Purpose::Context && d.code == "E050"))
        .cloned()
        .collect();
    if !shown.is_empty() {
        ui.diagnostics(&sources, &shown);
    }
    let pieces = pieces(&stack, &graph, &environment).map_err(UserError::new)?;
    let version = variables.get("VERSION").unwrap_or_default().to_string();
    let refs = if purpose == Purpose::Apply {
        panka_core::desired::secret_refs(&files, &stack)
    } else {
        Vec::new()
    };
    let secrets = refs
        .into_iter()
        .map(|r| {
            let (file, line, column) = match r.span {
                Some(span) => (
                    sources.get(span.source).display.clone(),
                    span.line,
                    span.column,
                ),
                None => (String::new(), 0, 0),
            };
            SecretCheck {
                at: SecretUse {
                    secret_ref: r.secret_ref,
                    component: r.component,
                    file,
                    line,
                    column,
                },
                key: r.key,
                password: r.password,
                key_inferred: r.key_inferred,
            }
        })
        .collect();
    let loaded = Loaded {
        stack_dir,
        stack,
        environment,
        pieces,
        config,
        version,
    };
    Ok((loaded, SecretRefs(secrets)))
}

/// Skips freeing a large tree of small allocations (parsed YAML, specs, state) that lives
/// until the process exits anyway: for a stack of 1,000 components, freeing them one by
/// one costs more than 5 % of a plan. Only for values built once per run.
pub fn keep_until_exit<T>(value: T) {
    std::mem::forget(value);
}

/// A stack read without judging it: what a command working from state takes from the
/// folder (region, network, dependencies, config files) when it is there.
pub struct Quiet {
    pub stack: ResolvedStack,
    pub graph: Graph,
}

/// Reads and resolves the stack in `dir` for `environment` (none: the stack's own
/// settings only), variables left undefined being notes; every problem only means less
/// context, so nothing is printed.
pub fn quietly(dir: &Path, environment: Option<&str>, variables: &Variables) -> Quiet {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let files = read_stack_files(dir, &mut sources, &mut diags);
    let stack = resolve(
        &files,
        &ResolveOptions {
            environment,
            variables,
            undefined_variables: Severity::Note,
        },
        &mut diags,
    );
    let graph = Graph::build(
        &stack.components,
        &files.unreadable_components(),
        &mut diags,
    );
    Quiet { stack, graph }
}

/// The stack's files as read, unresolved (the components and their kinds), quietly.
pub fn files(dir: &Path) -> StackFiles {
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    read_stack_files(dir, &mut sources, &mut diags)
}

/// The stack's region from its `stack.yaml`, when there is a stack folder and it names
/// one (the stack's own settings: no environment, no variables).
pub fn region(stack_dir: Option<&Path>) -> Option<String> {
    let stack = quietly(stack_dir?, None, &Variables::new()).stack;
    Some(stack.spec.region).filter(|r| panka_core::model::looks_like_region(r))
}
