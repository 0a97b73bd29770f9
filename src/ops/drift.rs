//! Checking one stack environment for drift: every recorded component read live and
//! compared, field by field, with what state says was applied (normalised by its
//! reconciler, with inputs rebuilt from recorded outputs and the deployment record that
//! applied it), plus the resources tagged for it that state does not know (orphans).

use super::aws::Aws;
use super::load;
use crate::cli::VariableArgs;
use crate::error::UserError;
use crate::settings::{self, ProcessEnv};
use panka_core::diag::Diagnostics;
use panka_core::drift::{self, DriftReport, Owner};
use panka_core::model::{ComponentId, ComponentKind, ComponentSpec, Domain, Network};
use panka_core::policy::is_production;
use panka_core::reconcile::ResourceContext;
use panka_core::source::Sources;
use panka_core::state::{DeploymentRecord, StateKey, StateStore};
use panka_providers::orphans::tagged_resources;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// The MicroService field hashing config file contents, which state does not keep: it
/// is skipped when the deployment record and the stack folder cannot supply them.
const CONFIG_HASH_FIELD: &str = "config_hash";

/// What the stack folder tells about one environment that state does not record.
pub struct StackContext {
    region: Option<String>,
    network: Option<Network>,
    domain: Option<Domain>,
    dependencies: BTreeMap<ComponentId, Vec<ComponentId>>,
    /// Config file contents by component; `None` when a file cannot be read.
    config_files: BTreeMap<ComponentId, Option<BTreeMap<String, String>>>,
}

impl StackContext {
    /// Reads the stack quietly: drift is not validation, and variables such as `VERSION`
    /// are not given (specs come from state), so problems only mean less context.
    pub fn load(dir: &Path, environment: &str, env: &ProcessEnv) -> Self {
        let mut sources = Sources::with_display_base(&env.cwd);
        let mut diags = Diagnostics::default();
        let no_flags = VariableArgs {
            vars: Vec::new(),
            var_files: Vec::new(),
        };
        let variables =
            settings::variables(&no_flags, env, &mut sources, &mut diags).unwrap_or_default();
        let load::Quiet { stack, graph, .. } = load::quietly(dir, Some(environment), &variables);
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
            network: stack
                .environment_spec
                .as_ref()
                .and_then(|e| e.network.clone()),
            domain: stack.environment_spec.and_then(|e| e.domain),
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
pub struct Check {
    pub key: StateKey,
    pub store: Arc<dyn StateStore>,
    /// The run's clients (shared by every check of `--all`).
    pub aws: Arc<Aws>,
    pub stack: Option<StackContext>,
}

/// A recorded component ready to compare: its context and expected fields.
struct Expected {
    ctx: ResourceContext,
    kind: ComponentKind,
    known: BTreeMap<String, String>,
    fields: Value,
    unchecked: BTreeSet<String>,
}

pub async fn check(job: Check) -> anyhow::Result<DriftReport> {
    let key = &job.key;
    let state = job
        .store
        .read(key)
        .await
        .map_err(UserError::from)?
        .map(|s| s.state);
    let region = job
        .stack
        .as_ref()
        .and_then(|s| s.region.clone())
        .or_else(|| state.as_ref().and_then(drift::recorded_region))
        .or_else(|| job.aws.default_region().cloned())
        .ok_or_else(|| {
            UserError::new(format!("cannot tell which AWS region {key} is deployed in"))
                .hint("run panka drift in the deployment repo (stack.yaml names the region), or set aws.region with `panka init`")
        })?;
    let reconcilers = job.aws.reconcilers(&region).await;

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
            .map_err(UserError::from)?
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
            domain: job.stack.as_ref().and_then(|s| s.domain.clone()),
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
                UserError::from(err).doing(format!("cannot read {} from AWS", e.ctx.id))
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
        UserError::from(e).doing(format!(
            "cannot list the resources tagged {}/{}",
            key.stack, key.environment
        ))
    })?;
    let orphans = drift::orphans(state.as_ref(), &tagged);
    Ok(DriftReport::new(
        &key.stack,
        &key.environment,
        compared,
        orphans,
    ))
}
