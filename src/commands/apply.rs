//! `panka apply`: lock → plan → secrets preflight → approval → execute in waves → release.

use super::Exit;
use super::deploy::{Deployment, under_lock};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::error::UserError;
use crate::ops::{load, plan, preflight, target};
use crate::output::Ui;
use crate::saved_plan::SavedPlan;
use crate::settings::ProcessEnv;
use panka_core::reconcile::DeleteOptions;
use panka_providers::reconcilers::Reconcilers;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

pub async fn run(
    args: &ApplyArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let p = &args.plan;
    // A saved plan is read before anything else: a wrong file fails before any AWS call,
    // and the plan's targets are the ones this apply uses.
    let saved = match &args.plan_file {
        Some(file) => Some(crate::saved_plan::read(&env.cwd.join(file))?),
        None => None,
    };
    let (loaded, secrets) = load::load_with_secrets(
        p.target.stack.stack.as_deref(),
        p.target.environment.as_ref(),
        &p.vars,
        global,
        env,
        ui,
    )?;
    let names = target_names(&p.targets, saved.as_ref())?;
    let targets = plan::targets(&names, &loaded)?;
    let t = target::for_loaded(&loaded, global, env).await?;
    let region = &loaded.stack.spec.region;
    let clients = t.aws.clients(Some(region)).await;
    let reconcilers = Arc::new(Reconcilers::new(&clients));
    let env = &t.aws.as_caller(env, region).await;
    let execution = &args.execution;
    let (t, loaded, reconcilers, clients, targets, secrets) =
        (&t, &loaded, &reconcilers, &clients, &targets, &secrets);
    under_lock(
        t,
        "apply",
        execution.lock_timeout,
        loaded.config.lease,
        env,
        ui,
        |lock| async move {
            let planned =
                plan::compute(loaded, &t.backends, reconcilers, &t.key, p.refresh).await?;
            let planned = plan::restrict(planned, loaded, targets);
            if let Some(saved) = &saved {
                check_saved_plan(saved, &planned.plan)?;
            }
            preflight::network(loaded, &planned.plan, clients, &env.cwd).await?;
            preflight::domain(loaded, &planned.plan, clients, &env.cwd).await?;
            preflight::secrets(secrets, &planned.plan, clients, ui).await?;
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

/// The saved plan document (`panka plan --out FILE`).
/// The targets of this apply: `--target`, or those of the saved plan (the same ones when
/// both are given: a saved plan applies exactly as it was made).
fn target_names(given: &[String], saved: Option<&SavedPlan>) -> anyhow::Result<Vec<String>> {
    let Some(saved) = saved else {
        return Ok(given.to_vec());
    };
    let recorded = saved.plan.targets.clone();
    let as_set = |names: &[String]| names.iter().cloned().collect::<BTreeSet<String>>();
    if !given.is_empty() && as_set(given) != as_set(&recorded) {
        return Err(UserError::new(format!(
            "the saved plan was made with {}, not with the --target given here",
            if recorded.is_empty() {
                "no --target".to_string()
            } else {
                format!("--target {}", recorded.join(", "))
            }
        ))
        .hint("apply the saved plan without --target (it keeps its own), or make a new plan")
        .into());
    }
    Ok(recorded)
}

/// A saved plan may be applied only against the state it was made from, and only while
/// the stack files still give exactly that plan: apply does what the plan says.
fn check_saved_plan(saved: &SavedPlan, current: &panka_core::plan::Plan) -> anyhow::Result<()> {
    let now = SavedPlan::of(current)?;
    if saved.plan.based_on != now.plan.based_on {
        return Err(UserError::new(format!(
            "the saved plan was made against state {}, but the state is now {}",
            describe_base(&saved.plan.based_on),
            describe_base(&now.plan.based_on)
        ))
        .hint("another apply ran since: make a new plan with `panka plan --out FILE`")
        .into());
    }
    if saved.plan.waves != now.plan.waves {
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
