//! `panka drift`: every recorded component read live and compared, field by field, with
//! what state says was applied; plus the resources tagged for the stack+environment that
//! state does not know (orphans). Exit 0 in sync, 2 drift, 1 error.
//!
//! Works from state: the expected side is the recorded spec normalised by its reconciler
//! with inputs rebuilt from recorded outputs, and from the deployment record that applied
//! it (dependencies, config file contents). The stack folder, when there is one, supplies
//! what state does not record: the region and the environment's network (without it, the
//! region comes from the ARNs in state and the network is taken to be the default VPC).
//! Like plans, drift reads without taking the lock.

use super::Exit;
use super::state::state_error;
use crate::backend;
use crate::cli::{DriftArgs, GlobalArgs, VariableArgs};
use crate::config::{BackendConfig, Config};
use crate::contract::{DriftAllDocument, DriftChecked, DriftDocument, InStack};
use crate::error::UserError;
use crate::output::Ui;
use crate::render::drift_report;
use crate::settings::{self, ProcessEnv};
use crate::stack_dir::find_stack;
use panka_core::diag::{Diagnostics, Severity};
use panka_core::drift::{self, DriftReport, Owner};
use panka_core::graph::Graph;
use panka_core::loader::{ResolveOptions, read_stack_files, resolve};
use panka_core::model::{ComponentId, ComponentKind, ComponentSpec, Network};
use panka_core::policy::is_production;
use panka_core::reconcile::{ProviderError, ResourceContext};
use panka_core::source::Sources;
use panka_core::state::local::{LocalStore, default_root};
use panka_core::state::{DeploymentRecord, StateKey, StateStore};
use panka_providers::aws::{AwsClients, load_sdk_config};
use panka_providers::orphans::tagged_resources;
use panka_providers::reconcilers::Reconcilers;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The MicroService field hashing config file contents, which state does not keep: it
/// is skipped when the deployment record and the stack folder cannot supply them.
const CONFIG_HASH_FIELD: &str = "config_hash";
/// Stack environments checked at once by `--all`.
const CONCURRENT_CHECKS: usize = 4;

pub async fn run(
    args: &DriftArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    if args.all {
        return all(args, global, env, ui).await;
    }
    let target = super::target::open(&args.target, global, env, ui).await?;
    let config = load_config(global, env, ui)?;
    let stack = find_stack(args.target.stack.stack.as_deref(), &env.cwd)
        .ok()
        .map(|dir| StackContext::load(&dir, &target.key.environment, env));
    let report = check(Check {
        key: target.key,
        store: target.backends.store,
        config,
        endpoint_url: settings::endpoint_url(global.endpoint_url.as_ref(), env).cloned(),
        stack,
    })
    .await?;
    if ui.is_json() {
        ui.json(&DriftDocument {
            stack: &report.stack,
            environment: &report.environment,
            drifted: report.drifted,
            components: &report.components,
            orphans: &report.orphans,
        });
    } else {
        let p = ui.palette();
        ui.out(&(drift_report::render(&report, p) + &drift_report::summary(&report, p)));
    }
    Ok(if report.drifted {
        Exit::Changes
    } else {
        Exit::Success
    })
}

fn load_config(global: &GlobalArgs, env: &ProcessEnv, ui: &Ui) -> anyhow::Result<Config> {
    let mut sources = Sources::with_display_base(&env.cwd);
    let mut diags = Diagnostics::default();
    let config = settings::config(global.config.as_ref(), env, &mut sources, &mut diags)?;
    if diags.has_errors() {
        ui.diagnostics(&sources, &diags.into_sorted());
        return Err(UserError::new("the configuration file is invalid").into());
    }
    Ok(config)
}

/// What the stack folder tells about one environment that state does not record.
struct StackContext {
    region: Option<String>,
    network: Option<Network>,
    dependencies: BTreeMap<ComponentId, Vec<ComponentId>>,
    /// Config file contents by component; `None` when a file cannot be read.
    config_files: BTreeMap<ComponentId, Option<BTreeMap<String, String>>>,
}

impl StackContext {
    /// Reads the stack quietly: drift is not validation, and variables such as `VERSION`
    /// are not given (specs come from state), so problems only mean less context.
    fn load(dir: &Path, environment: &str, env: &ProcessEnv) -> Self {
        let mut sources = Sources::with_display_base(&env.cwd);
        let mut diags = Diagnostics::default();
        let no_flags = VariableArgs {
            vars: Vec::new(),
            var_files: Vec::new(),
        };
        let variables =
            settings::variables(&no_flags, env, &mut sources, &mut diags).unwrap_or_default();
        let files = read_stack_files(dir, &mut sources, &mut diags);
        let stack = resolve(
            &files,
            &ResolveOptions {
                environment: Some(environment),
                variables: &variables,
                undefined_variables: Severity::Note,
            },
            &mut diags,
        );
        let graph = Graph::build(
            &stack.components,
            &files.unreadable_components(),
            &mut diags,
        );
        let config_files = stack
            .components
            .iter()
            .map(|c| {
                let files = match &c.spec {
                    ComponentSpec::MicroService(ms) => ms
                        .configs
                        .iter()
                        .flat_map(|configs| &configs.files)
                        .map(|f| Some((f.name.clone(), std::fs::read_to_string(&f.path).ok()?)))
                        .collect::<Option<BTreeMap<_, _>>>(),
                    _ => Some(BTreeMap::new()),
                };
                (c.id.clone(), files)
            })
            .collect();
        StackContext {
            region: Some(stack.spec.region.clone()).filter(|r| !r.is_empty()),
            network: stack.environment_spec.and_then(|e| e.network),
            dependencies: graph
                .dependencies
                .into_iter()
                .map(|(id, deps)| (id, deps.into_iter().collect()))
                .collect(),
            config_files,
        }
    }
}

/// One stack and environment to check.
struct Check {
    key: StateKey,
    store: Arc<dyn StateStore>,
    config: Config,
    endpoint_url: Option<String>,
    stack: Option<StackContext>,
}

/// A recorded component ready to compare: its context and expected fields.
struct Expected {
    ctx: ResourceContext,
    kind: ComponentKind,
    known: BTreeMap<String, String>,
    fields: Value,
    unchecked: BTreeSet<String>,
}

fn provider_user_error(doing: String, e: ProviderError) -> UserError {
    let err = UserError::new(format!("{doing}: {e}"));
    match e.hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

async fn check(job: Check) -> anyhow::Result<DriftReport> {
    let key = &job.key;
    let state = job
        .store
        .read(key)
        .await
        .map_err(state_error)?
        .map(|s| s.state);
    let region = job
        .stack
        .as_ref()
        .and_then(|s| s.region.clone())
        .or_else(|| state.as_ref().and_then(drift::recorded_region))
        .or_else(|| job.config.aws_region.clone())
        .ok_or_else(|| {
            UserError::new(format!("cannot tell which AWS region {key} is deployed in"))
                .hint("run panka drift in the deployment repo (stack.yaml names the region), or set aws.region with `panka init`")
        })?;
    let settings = backend::aws_settings(&job.config, Some(&region), job.endpoint_url.as_ref());
    let clients = AwsClients::new(&load_sdk_config(&settings).await, &settings);
    let reconcilers = Arc::new(Reconcilers::new(&clients));

    let components = state
        .as_ref()
        .map(|s| s.components.clone())
        .unwrap_or_default();
    let needs_records = components
        .values()
        .any(|c| c.kind == ComponentKind::MicroService);
    let records: BTreeMap<String, DeploymentRecord> = if needs_records {
        let ids: BTreeSet<String> = components
            .values()
            .map(|c| c.deployment_id.clone())
            .collect();
        job.store
            .deployments_by_id(key, &ids)
            .await
            .map_err(state_error)?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect()
    } else {
        BTreeMap::new()
    };

    let mut expected = Vec::new();
    for (id_text, c) in &components {
        let id = ComponentId::parse(id_text, "").ok_or_else(|| {
            UserError::new(format!(
                "state of {key} records `{id_text}`, which is not a component id"
            ))
        })?;
        let spec: ComponentSpec = serde_json::from_value(c.applied_spec.clone()).map_err(|e| {
            UserError::new(format!(
                "state of {key} records a spec for {id} that panka cannot read: {e}"
            ))
            .hint("a newer panka may have written it; `panka state show` prints the state")
        })?;
        let ctx = ResourceContext {
            stack: key.stack.clone(),
            environment: key.environment.clone(),
            id: id.clone(),
            region: region.clone(),
            production: is_production(&key.environment),
            network: job.stack.as_ref().and_then(|s| s.network.clone()),
        };
        // What was deployed, from the record that applied it; else the stack folder.
        let recorded = records
            .get(&c.deployment_id)
            .and_then(|r| r.pieces.get(id_text));
        let (dependencies, config_files) = match (recorded, &job.stack) {
            (Some(piece), _) => (
                piece
                    .depends_on
                    .iter()
                    .filter_map(|d| ComponentId::parse(d, &id.service))
                    .collect(),
                Some(piece.config_files.clone()),
            ),
            (None, Some(stack)) => (
                stack.dependencies.get(&id).cloned().unwrap_or_default(),
                stack.config_files.get(&id).cloned().flatten(),
            ),
            (None, None) => (Vec::new(), None),
        };
        let mut unchecked = BTreeSet::new();
        let has_configs = matches!(&spec, ComponentSpec::MicroService(ms) if ms.configs.is_some());
        if has_configs && config_files.is_none() {
            unchecked.insert(CONFIG_HASH_FIELD.to_string());
        }
        let inputs = drift::recorded_inputs(
            &ctx,
            &spec,
            &components,
            &dependencies,
            config_files.unwrap_or_default(),
        );
        let fields = reconcilers.for_kind(c.kind).normalise(&ctx, &spec, &inputs);
        expected.push(Expected {
            ctx,
            kind: c.kind,
            known: c.physical_ids.clone(),
            fields,
            unchecked,
        });
    }

    let mut reads = tokio::task::JoinSet::new();
    for e in expected {
        let reconcilers = reconcilers.clone();
        reads.spawn(async move {
            let live = reconcilers.for_kind(e.kind).read(&e.ctx, &e.known).await;
            (e, live)
        });
    }
    let owner = Owner {
        stack: key.stack.clone(),
        environment: key.environment.clone(),
    };
    let compared = async {
        let mut out = Vec::new();
        while let Some(joined) = reads.join_next().await {
            let (e, live) = joined?;
            let live = live.map_err(|err| {
                provider_user_error(format!("cannot read {} from AWS", e.ctx.id), err)
            })?;
            out.push(drift::compare(
                &e.ctx.id,
                e.kind,
                &e.fields,
                live.as_ref().map(|o| &o.fields),
                &e.unchecked,
            ));
        }
        Ok::<_, anyhow::Error>(out)
    };
    let (compared, tagged) = tokio::join!(compared, tagged_resources(&reconcilers, &owner));
    let compared = compared?;
    let tagged = tagged.map_err(|e| {
        provider_user_error(
            format!(
                "cannot list the resources tagged {}/{}",
                key.stack, key.environment
            ),
            e,
        )
    })?;
    let orphans = drift::orphans(state.as_ref(), &tagged);
    Ok(DriftReport::new(
        &key.stack,
        &key.environment,
        compared,
        orphans,
    ))
}

/// `--all`: every stack × environment with state (optionally of one `--stack`), checked
/// a few at a time, one summary. The states are listed by the backend (the local folder,
/// or the S3 bucket's keys); the stack folders, where found, give network and region.
async fn all(
    args: &DriftArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let config = load_config(global, env, ui)?;
    let only = args.target.stack.stack.as_deref();
    let endpoint_url = settings::endpoint_url(global.endpoint_url.as_ref(), env).cloned();
    let (store, repo, searched): (Arc<dyn StateStore>, Option<PathBuf>, String) =
        match &config.backend {
            BackendConfig::Local => {
                let root = match only {
                    Some(name) => default_root(&find_stack(Some(name), &env.cwd)?),
                    None => match find_stack(None, &env.cwd) {
                        Ok(dir) => default_root(&dir),
                        Err(_) => repo_root(&env.cwd)?.join(".panka"),
                    },
                };
                let repo = root.parent().map(Path::to_path_buf);
                let searched = root.display().to_string();
                (Arc::new(LocalStore::new(&root)), repo, searched)
            }
            BackendConfig::S3 { bucket, prefix, .. } => {
                let backends = backend::open(&config, None, endpoint_url.as_ref()).await?;
                let searched = format!(
                    "s3://{bucket}/{}",
                    panka_core::state::layout::stacks_dir(prefix)
                );
                (backends.store, repo_root(&env.cwd).ok(), searched)
            }
        };
    let only_name = only.map(|name| {
        Path::new(name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string())
    });
    let keys: Vec<StateKey> = (store.list_keys().await)
        .map_err(state_error)?
        .into_iter()
        .filter(|k| only_name.as_ref().is_none_or(|n| &k.stack == n))
        .collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CHECKS));
    let mut checks = tokio::task::JoinSet::new();
    for key in &keys {
        let stack = repo
            .as_ref()
            .and_then(|repo| find_stack(Some(&key.stack), repo).ok())
            .map(|dir| StackContext::load(&dir, &key.environment, env));
        let job = Check {
            key: key.clone(),
            store: store.clone(),
            config: config.clone(),
            endpoint_url: endpoint_url.clone(),
            stack,
        };
        let permits = permits.clone();
        checks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let key = job.key.clone();
            (key, check(job).await)
        });
    }
    let mut results: BTreeMap<StateKey, anyhow::Result<DriftReport>> = BTreeMap::new();
    while let Some(joined) = checks.join_next().await {
        let (key, result) = joined?;
        results.insert(key, result);
    }
    let failed = results.values().filter(|r| r.is_err()).count();
    let reports: Vec<&DriftReport> = results.values().filter_map(|r| r.as_ref().ok()).collect();
    let drifted = reports.iter().any(|r| r.drifted);
    if ui.is_json() {
        ui.json(&all_json(&results, drifted));
    } else if results.is_empty() {
        ui.out(&format!(
            "No state under {searched}: nothing has been deployed yet.\n"
        ));
    } else {
        let p = ui.palette();
        let mut text = String::new();
        for (key, result) in &results {
            match result {
                Ok(report) => text.push_str(&drift_report::render(report, p)),
                Err(e) => {
                    let message = match e.downcast_ref::<UserError>() {
                        Some(user) => user.to_string(),
                        None => format!("{e:#}"),
                    };
                    text.push_str(&drift_report::failed(
                        &key.stack,
                        &key.environment,
                        &message,
                        p,
                    ));
                }
            }
            text.push('\n');
        }
        text.push_str(drift_report::summary_all(&reports, failed, p).trim_start_matches('\n'));
        ui.out(&text);
    }
    Ok(if failed > 0 {
        Exit::Failure
    } else if drifted {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// product.md's drift document for many stack environments: `components[]` and
/// `orphans[]` each carry their `stack` and `environment`, `stacks[]` says which were
/// checked and which failed.
fn all_json(
    results: &BTreeMap<StateKey, anyhow::Result<DriftReport>>,
    drifted: bool,
) -> DriftAllDocument<'_> {
    let mut document = DriftAllDocument {
        drifted,
        components: Vec::new(),
        orphans: Vec::new(),
        stacks: Vec::new(),
    };
    for (key, result) in results {
        let (stack, environment) = (key.stack.as_str(), key.environment.as_str());
        match result {
            Ok(report) => {
                document
                    .components
                    .extend(report.components.iter().map(|entry| InStack {
                        entry,
                        stack,
                        environment,
                    }));
                document
                    .orphans
                    .extend(report.orphans.iter().map(|entry| InStack {
                        entry,
                        stack,
                        environment,
                    }));
                document.stacks.push(DriftChecked {
                    stack,
                    environment,
                    drifted: Some(report.drifted),
                    error: None,
                });
            }
            Err(e) => document.stacks.push(DriftChecked {
                stack,
                environment,
                drifted: None,
                error: Some(e.to_string()),
            }),
        }
    }
    document
}

/// The deployment repo the current folder is in: the nearest folder with `stacks/` or
/// `.panka/`.
fn repo_root(cwd: &Path) -> Result<PathBuf, UserError> {
    cwd.ancestors()
        .find(|d| d.join("stacks").is_dir() || d.join(".panka").is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            UserError::new("no deployment repo here: `--all` looks for stacks/ or .panka/ in this folder and its parents")
                .hint("run it from your deployment repo")
        })
}
