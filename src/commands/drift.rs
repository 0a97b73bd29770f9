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
use crate::cli::{DriftArgs, GlobalArgs};
use crate::config::BackendConfig;
use crate::contract::{DriftAllDocument, DriftChecked, DriftDocument, InStack};
use crate::error::UserError;
use crate::ops::aws::Aws;
use crate::ops::drift::{Check, StackContext, check};
use crate::ops::{backend, target};
use crate::output::Ui;
use crate::render::drift_report;
use crate::settings::{self, ProcessEnv};
use crate::stack_dir::find_stack;
use panka_core::drift::DriftReport;
use panka_core::state::local::{LocalStore, default_root};
use panka_core::state::{StateKey, StateStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    let target = target::open(&args.target, global, env, ui).await?;
    let stack = find_stack(args.target.stack.stack.as_deref(), &env.cwd)
        .ok()
        .map(|dir| StackContext::load(&dir, &target.key.environment, env));
    let report = check(Check {
        key: target.key,
        store: target.backends.store,
        aws: target.aws,
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

/// `--all`: every stack × environment with state (optionally of one `--stack`), checked
/// a few at a time, one summary. The states are listed by the backend (the local folder,
/// or the S3 bucket's keys); the stack folders, where found, give network and region.
async fn all(
    args: &DriftArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let config = target::read_config(global.config.as_ref(), env, ui)?;
    let only = args.target.stack.stack.as_deref();
    let aws = Arc::new(Aws::new(
        &config,
        settings::endpoint_url(global.endpoint_url.as_ref(), env),
    ));
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
                let backends = backend::open(&config, &aws, None).await?;
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
        .map_err(UserError::from)?
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
            aws: aws.clone(),
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
