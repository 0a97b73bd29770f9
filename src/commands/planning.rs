//! What `plan` and `apply` share: load and check the stack for one environment, read the
//! state, refresh it from AWS, and compute the plan.

use crate::backend::Backends;
use crate::cli::{GlobalArgs, VariableArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::{self, ProcessEnv};
use panka_core::cost::{Estimate, stack_monthly_cost};
use panka_core::desired::{
    DesiredPiece, current_components, pieces, planned_components, records_for_deletes,
};
use panka_core::diag::{Diagnostics, Severity};
use panka_core::graph::{Graph, report_cycles};
use panka_core::loader::{ResolveOptions, ResolvedStack, read_stack_files, resolve};
use panka_core::model::{ComponentId, ComponentSpec};
use panka_core::plan::{Action, BasedOn, DurationHistory, Plan, plan};
use panka_core::source::Sources;
use panka_core::state::{DeploymentRecord, StateKey, StateStore, VersionedState};
use panka_providers::aws::{AwsClients, load_sdk_config};
use panka_providers::reconcilers::Reconcilers;
use panka_providers::secrets::{PreflightError, SecretCheck, SecretUse, preflight_checks};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// Checks, before any change, that every secret the plan's creates and updates refer to
/// exists and can be used (see `secrets::preflight_checks`); nothing else is touched.
/// Prints a warning for each key-less reference to a JSON-object secret (the whole
/// document would be injected), with the `key:` to add; never a value.
///
/// Errors: one message naming every unusable reference at its `file:line:column`, with
/// the component and the secret; or the AWS error when the check itself failed.
pub async fn preflight_secrets(
    secrets: &SecretRefs,
    plan: &Plan,
    clients: &AwsClients,
    ui: &Ui,
) -> anyhow::Result<()> {
    let changing: BTreeSet<&ComponentId> = plan
        .changes()
        .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Replace))
        .map(|c| &c.component)
        .collect();
    let checks: Vec<SecretCheck> = secrets
        .0
        .iter()
        .filter(|c| changing.contains(&c.at.component))
        .cloned()
        .collect();
    if checks.is_empty() {
        return Ok(());
    }
    match preflight_checks(&clients.secretsmanager, &checks).await {
        Ok(warnings) => {
            for w in &warnings {
                ui.err(&format!("warning: {w}\n  hint: {}\n", w.hint()));
            }
            Ok(())
        }
        Err(PreflightError::Missing(missing)) => {
            let n = missing.len();
            let mut message = format!(
                "{n} secret reference{} cannot be used; nothing was changed",
                if n == 1 { "" } else { "s" }
            );
            for m in &missing {
                message.push_str(&format!("\n  {m}"));
            }
            let mut seen = BTreeSet::new();
            let hints: Vec<String> = missing
                .iter()
                .map(|m| m.hint())
                .filter(|h| seen.insert(h.clone()))
                .collect();
            Err(UserError::new(message)
                .hint(hints.join("\n        "))
                .into())
        }
        Err(PreflightError::Provider(e)) => {
            let err = UserError::new(format!("cannot check the stack's secrets: {e}"));
            Err(match e.hint {
                Some(h) => err.hint(h),
                None => err,
            }
            .into())
        }
    }
}

/// Checks, before any change, that the environment's network is usable when the plan
/// creates or changes something that lives in it (MicroService, RDS, Redis): the VPC and
/// every subnet exist, each subnet is in the VPC, each list spans two availability zones
/// (`network::preflight`, read-only calls). Without a `network`, the default VPC must
/// resolve.
///
/// Errors: one message naming every problem at the `file:line:column` of the id in the
/// environment file; or the AWS error when the check itself failed.
pub async fn preflight_network(
    loaded: &Loaded,
    plan: &Plan,
    clients: &AwsClients,
    cwd: &std::path::Path,
) -> anyhow::Result<()> {
    let changing: BTreeSet<&ComponentId> = plan
        .changes()
        .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Replace))
        .map(|c| &c.component)
        .collect();
    let placed = loaded
        .stack
        .components
        .iter()
        .any(|c| changing.contains(&c.id) && !matches!(c.spec, ComponentSpec::Sqs(_)));
    if !placed {
        return Ok(());
    }
    let network = loaded
        .stack
        .environment_spec
        .as_ref()
        .and_then(|e| e.network.as_ref());
    let problems = match panka_providers::network::preflight(&clients.ec2, network).await {
        Ok(problems) => problems,
        Err(e) => {
            let err = UserError::new(format!("cannot use the environment's network: {e}"));
            return Err(match e.hint {
                Some(h) => err.hint(h),
                None => err,
            }
            .into());
        }
    };
    let Some(network) = network.filter(|_| !problems.is_empty()) else {
        return Ok(());
    };
    // Positions come from the environment file's spans; its name is shown as every
    // diagnostic shows it (relative to the folder panka runs in).
    let file = Sources::with_display_base(cwd).display_name(
        &loaded
            .stack_dir
            .join("environments")
            .join(&loaded.environment)
            .join("environment.yaml"),
    );
    let n = problems.len();
    let mut message = format!(
        "the environment's network has {n} problem{}; nothing was changed",
        if n == 1 { "" } else { "s" }
    );
    for problem in &problems {
        let span = if problem.subject == network.vpc_id {
            network.at.vpc_id
        } else {
            network.at.subnets.get(&problem.subject).copied()
        }
        .or(network.at.network);
        match span {
            Some(span) => message.push_str(&format!(
                "\n  {file}:{}:{}: {}",
                span.line, span.column, problem.message
            )),
            None => message.push_str(&format!("\n  {}", problem.message)),
        }
    }
    Err(UserError::new(message)
        .hint(format!(
            "check `spec.network` of environment `{}` against `aws ec2 describe-subnets --filters Name=vpc-id,Values={}` in region {}",
            loaded.environment, network.vpc_id, loaded.stack.spec.region
        ))
        .into())
}

/// The AWS clients for the stack's region.
pub async fn aws_clients(loaded: &Loaded, global: &GlobalArgs, env: &ProcessEnv) -> AwsClients {
    let region = loaded.stack.spec.region.clone();
    let settings = crate::backend::aws_settings(
        &loaded.config,
        Some(&region),
        settings::endpoint_url(global.endpoint_url.as_ref(), env),
    );
    let sdk = load_sdk_config(&settings).await;
    AwsClients::new(&sdk, &settings)
}

/// The reconcilers for the stack's region, built once.
pub async fn reconcilers(
    loaded: &Loaded,
    global: &GlobalArgs,
    env: &ProcessEnv,
) -> Arc<Reconcilers> {
    Arc::new(Reconcilers::new(&aws_clients(loaded, global, env).await))
}

/// Reconcilers that never reach AWS: enough to plan from recorded state
/// (`--refresh=false`), which needs only their normalisation.
pub fn offline_reconcilers(loaded: &Loaded) -> Arc<Reconcilers> {
    Arc::new(Reconcilers::new(&AwsClients::offline(
        &loaded.stack.spec.region,
    )))
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
    let state = (backends.store.read(key).await).map_err(crate::commands::state::state_error)?;
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
            .map_err(crate::commands::state::state_error)?
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
