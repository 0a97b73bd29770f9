//! What `plan` and `apply` share: load and check the stack for one environment, read the
//! state, refresh it from AWS, and compute the plan.

use crate::backend::Backends;
use crate::cli::{GlobalArgs, VariableArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::{self, ProcessEnv};
use panka_core::cost::{Estimate, stack_monthly_cost};
use panka_core::desired::{DesiredPiece, current_components, pieces, planned_components};
use panka_core::diag::{Diagnostics, Severity};
use panka_core::graph::{Graph, report_cycles};
use panka_core::loader::{ResolveOptions, ResolvedStack, read_stack_files, resolve};
use panka_core::model::{ComponentId, ComponentSpec};
use panka_core::plan::{BasedOn, Plan, plan};
use panka_core::source::Sources;
use panka_core::state::{StateKey, VersionedState};
use panka_providers::aws::{AwsClients, load_sdk_config};
use panka_providers::reconcilers::Reconcilers;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Loaded {
    pub stack_dir: std::path::PathBuf,
    pub stack: ResolvedStack,
    pub environment: String,
    pub pieces: Vec<DesiredPiece>,
    pub config: crate::config::Config,
    pub version: String,
}

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
        Severity::Error,
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
        Severity::Note,
        global,
        env,
        ui,
    )
}

fn load_with(
    stack_arg: Option<&str>,
    environment_arg: Option<&String>,
    vars: &VariableArgs,
    undefined_variables: Severity,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Loaded> {
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
            undefined_variables,
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
    if !sorted.is_empty() {
        ui.diagnostics(&sources, &sorted);
    }
    let pieces = pieces(&stack, &graph, &environment).map_err(UserError::new)?;
    let version = variables.get("VERSION").unwrap_or_default().to_string();
    Ok(Loaded {
        stack_dir,
        stack,
        environment,
        pieces,
        config,
        version,
    })
}

/// The reconcilers for the stack's region, built once.
pub async fn reconcilers(
    loaded: &Loaded,
    global: &GlobalArgs,
    env: &ProcessEnv,
) -> Arc<Reconcilers> {
    let region = loaded.stack.spec.region.clone();
    let settings = crate::backend::aws_settings(
        &loaded.config,
        Some(&region),
        settings::endpoint_url(global.endpoint_url.as_ref(), env),
    );
    let sdk = load_sdk_config(&settings).await;
    Arc::new(Reconcilers::new(&AwsClients::new(&sdk, &settings)))
}

pub struct Planned {
    pub plan: Plan,
    pub estimate: Estimate,
    pub state: Option<VersionedState>,
}

/// Reads live resources of every recorded component (in parallel), then plans.
pub async fn compute(
    loaded: &Loaded,
    backends: &Backends,
    reconcilers: &Arc<Reconcilers>,
    key: &StateKey,
    refresh: bool,
) -> anyhow::Result<Planned> {
    let state = backends
        .store
        .read(key)
        .await
        .map_err(crate::commands::state::state_error)?;
    let doc = state.as_ref().map(|s| &s.state);
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
            let live = read.map_err(|e| {
                let hint = e.hint.clone();
                let err = UserError::new(format!("cannot read {id} from AWS: {e}"));
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            })?;
            observed.insert(id, live.map(|o| o.fields));
        }
    }
    let recorded = doc.map(|d| d.components.clone()).unwrap_or_default();
    let recorded_fields = |id: &ComponentId, c: &panka_core::state::ComponentState| {
        let spec: ComponentSpec = serde_json::from_value(c.applied_spec.clone()).ok()?;
        let ctx = panka_core::desired::context(&loaded.stack, &loaded.environment, id);
        let piece = loaded.pieces.iter().find(|p| p.id() == id);
        let inputs = piece.map(|p| p.inputs(&recorded)).unwrap_or_default();
        Some(reconcilers.for_kind(c.kind).normalise(&ctx, &spec, &inputs))
    };
    let current = current_components(doc, &observed, &recorded_fields);
    let desired = planned_components(&loaded.pieces, doc, &|piece, inputs| {
        reconcilers
            .for_kind(piece.kind())
            .normalise(&piece.ctx, &piece.spec, inputs)
    });
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
    })
}
