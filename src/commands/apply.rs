//! `panka apply`: lock → plan → approval → execute in waves → release.

use super::deploy::{Deployment, under_lock};
use super::{Exit, planning, target};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;
use panka_core::reconcile::DeleteOptions;
use std::time::Instant;

pub async fn run(
    args: &ApplyArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let p = &args.plan;
    let loaded = planning::load(
        p.target.stack.stack.as_deref(),
        p.target.environment.as_ref(),
        &p.vars,
        global,
        env,
        ui,
    )?;
    let t = target::for_loaded(&loaded, global, env).await?;
    let reconcilers = planning::reconcilers(&loaded, global, env).await;
    let execution = &args.execution;
    let (t, loaded, reconcilers) = (&t, &loaded, &reconcilers);
    under_lock(
        t,
        "apply",
        execution.lock_timeout,
        loaded.config.lease,
        env,
        ui,
        |lock| async move {
            let planned =
                planning::compute(loaded, &t.backends, reconcilers, &t.key, p.refresh).await?;
            if let Some(file) = &args.plan_file {
                check_saved_plan(&env.cwd.join(file), &planned.plan)?;
            }
            let deployment = Deployment {
                operation: "apply",
                loaded,
                target: t,
                reconcilers,
                lock: &lock,
                execution,
                pieces: &loaded.pieces,
                version: loaded.version.clone(),
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

/// A saved plan may be applied only against the state it was made from, and only while
/// the stack files still give exactly that plan: apply does what the plan says.
fn check_saved_plan(
    path: &std::path::Path,
    current: &panka_core::plan::Plan,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!(
            "cannot read the saved plan {}: {e}",
            path.display()
        ))
    })?;
    let saved: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        UserError::new(format!("{} is not a saved panka plan: {e}", path.display()))
    })?;
    let saved_plan = &saved["plan"];
    let now = serde_json::to_value(current)?;
    if saved_plan["based_on"] != now["based_on"] {
        return Err(UserError::new(format!(
            "the saved plan was made against state {}, but the state is now {}",
            describe_base(&saved_plan["based_on"]),
            describe_base(&now["based_on"])
        ))
        .hint("another apply ran since: make a new plan with `panka plan --out FILE`")
        .into());
    }
    if saved_plan["waves"] != now["waves"] {
        return Err(
            UserError::new("the stack files no longer give the saved plan")
                .hint("make a new plan with `panka plan --out FILE` and review it")
                .into(),
        );
    }
    Ok(())
}

fn describe_base(based_on: &serde_json::Value) -> String {
    match (based_on["lineage"].as_str(), based_on["serial"].as_u64()) {
        (Some(lineage), Some(serial)) => format!("serial {serial} of lineage {lineage}"),
        _ => "\"none (first deployment)\"".to_string(),
    }
}
