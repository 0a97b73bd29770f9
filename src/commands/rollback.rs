//! `panka rollback`: re-applies the recorded spec of an earlier successful deployment
//! through the normal path (lock → plan → approval → execute), recorded as a rollback.

use super::Exit;
use super::deploy::{Deployment, under_lock};
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::error::UserError;
use crate::ops::load::{self, Loaded};
use crate::ops::rollback::choose;
use crate::ops::{plan, target};
use crate::output::Ui;
use crate::settings::ProcessEnv;
use panka_core::reconcile::DeleteOptions;
use panka_core::recorded::pieces_from_record;
use std::time::Instant;

/// How many records rollback looks through for its target.
const HISTORY_DEPTH: usize = 1000;

pub async fn run(
    args: &RollbackArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let loaded = load::load_for_context(
        args.target.stack.stack.as_deref(),
        args.target.environment.as_ref(),
        global,
        env,
        ui,
    )?;
    let t = target::for_loaded(&loaded, global, env).await?;
    let reconcilers = t.aws.reconcilers(&loaded.stack.spec.region).await;
    let env = &t.aws.as_caller(env, &loaded.stack.spec.region).await;
    let execution = &args.execution;
    let (t, loaded, reconcilers) = (&t, &loaded, &reconcilers);
    under_lock(
        t,
        "rollback",
        execution.lock_timeout,
        loaded.config.lease,
        env,
        ui,
        |lock| async move {
            // Chosen under the lock, so no apply can slip in between choice and change.
            let records = t
                .backends
                .store
                .list_deployments(&t.key, HISTORY_DEPTH)
                .await
                .map_err(UserError::from)?;
            let deployed = (t.backends.store.read(&t.key).await).map_err(UserError::from)?;
            let chosen = choose(
                &records,
                args.to.as_deref(),
                deployed.as_ref().map(|s| &s.state),
            )?;
            let pieces = pieces_from_record(chosen, &loaded.stack, &loaded.environment)
                .map_err(|e| UserError::new(e.to_string()))?;
            if !ui.is_json() {
                ui.out(&format!(
                    "Rolling back to deployment {} (version {}, {} by {})\n\n",
                    chosen.id,
                    if chosen.version.is_empty() {
                        "-"
                    } else {
                        &chosen.version
                    },
                    chosen.started_at,
                    chosen.by
                ));
            }
            let previous = Loaded {
                stack_dir: loaded.stack_dir.clone(),
                stack: loaded.stack.clone(),
                environment: loaded.environment.clone(),
                pieces,
                config: loaded.config.clone(),
                version: chosen.version.clone(),
            };
            let planned = plan::compute(&previous, &t.backends, reconcilers, &t.key, true).await?;
            let deployment = Deployment {
                operation: "rollback",
                loaded: &previous,
                target: t,
                reconcilers,
                lock: &lock,
                execution,
                pieces: &previous.pieces,
                version: previous.version.clone(),
                delete_options: DeleteOptions {
                    final_snapshot: true,
                    disable_deletion_protection: execution.allow_dangerous,
                },
                started,
            };
            deployment.run(planned, env, ui).await
        },
    )
    .await
}
