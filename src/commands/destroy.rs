//! `panka destroy`: deletes every component of a stack and environment that state knows,
//! in reverse waves (dependents first), through the same executor as apply: under the
//! lock, state saved after every deletion, the deployment recorded.

use super::deploy::{Deployment, under_lock};
use super::{Exit, interactive, prompt};
use crate::cli::{DestroyArgs, GlobalArgs};
use crate::contract::DeployDocument;
use crate::error::UserError;
use crate::ops::load::{self, Loaded};
use crate::ops::{plan, target};
use crate::output::Ui;
use crate::settings::ProcessEnv;
use panka_core::reconcile::DeleteOptions;
use panka_core::state::DeploymentResult;
use std::collections::BTreeMap;
use std::time::Instant;

pub async fn run(
    args: &DestroyArgs,
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
    let production = panka_core::policy::is_production(&loaded.environment);
    confirm(args, &loaded, production)?;
    // Nothing is left to build from: the plan is "every recorded component goes".
    let nothing = Loaded {
        pieces: Vec::new(),
        version: String::new(),
        ..loaded
    };
    let t = target::for_loaded(&nothing, global, env).await?;
    let reconcilers = t.aws.reconcilers(&nothing.stack.spec.region).await;
    let env = &t.aws.as_caller(env, &nothing.stack.spec.region).await;
    // The confirmation above is the approval, and deleting data is the point: the
    // executor's own checks must not ask again.
    let mut execution = args.execution.clone();
    execution.auto_approve = true;
    let allow_dangerous = args.execution.allow_dangerous;
    execution.allow_dangerous = true;
    let (t, loaded, reconcilers, execution) = (&t, &nothing, &reconcilers, &execution);
    under_lock(
        t,
        "destroy",
        execution.lock_timeout,
        loaded.config.lease,
        env,
        ui,
        |lock| async move {
            let mut planned = plan::compute(loaded, &t.backends, reconcilers, &t.key, true).await?;
            planned.estimate.monthly_usd = 0.0;
            planned.estimate.max_monthly_usd = 0.0;
            planned.estimate.components.clear();
            planned.estimate.unknown.clear();
            if planned
                .state
                .as_ref()
                .is_none_or(|s| s.state.components.is_empty())
            {
                if ui.is_json() {
                    ui.json(&DeployDocument {
                        deployment_id: None,
                        result: DeploymentResult::NoChanges,
                        outputs: BTreeMap::new(),
                        duration_s: Some(started.elapsed().as_secs_f64()),
                        failed: None,
                    });
                } else {
                    ui.out(&format!(
                        "Nothing to destroy: {} has no state in {}.\n",
                        loaded.stack.name, loaded.environment
                    ));
                }
                return Ok(Exit::Success);
            }
            let deployment = Deployment {
                operation: "destroy",
                loaded,
                target: t,
                reconcilers,
                lock: &lock,
                execution,
                pieces: &loaded.pieces,
                version: String::new(),
                delete_options: DeleteOptions {
                    final_snapshot: !args.skip_final_snapshot,
                    disable_deletion_protection: allow_dangerous,
                },
                started,
            };
            deployment.run(planned, env, ui).await
        },
    )
    .await
}

/// Destroy always confirms: by typing the stack's name on a terminal, or with
/// `--auto-approve` — which production accepts only together with `--allow-dangerous`.
fn confirm(args: &DestroyArgs, loaded: &Loaded, production: bool) -> anyhow::Result<()> {
    let name = &loaded.stack.name;
    if args.execution.auto_approve {
        if production && !args.execution.allow_dangerous {
            return Err(UserError::new(format!(
                "destroying {name} in {} needs --allow-dangerous as well as --auto-approve",
                loaded.environment
            ))
            .hint("production data goes with it: RDS takes a final snapshot unless --skip-final-snapshot")
            .into());
        }
        return Ok(());
    }
    if !interactive() {
        return Err(UserError::new(
            "destroy asks to type the stack name and there is no terminal to ask on",
        )
        .hint("in CI, pass --auto-approve (and --allow-dangerous for production)")
        .into());
    }
    let answer = prompt(
        &format!(
            "This deletes every resource of {name} in {}. Type the stack name to confirm",
            loaded.environment
        ),
        None,
    )?;
    if answer != *name {
        return Err(UserError::new("the name did not match: nothing was deleted").into());
    }
    Ok(())
}
