//! `panka plan`: the walkthrough's plan screen, or product.md's JSON document.

use super::Exit;
use crate::cli::{GlobalArgs, PlanArgs};
use crate::contract::{
    DangerousChange, FORMAT_VERSION, PlanChange, PlanDocument, PlanField, PlanSummary,
};
use crate::ops::{aws, load, plan, target};
use crate::output::Ui;
use crate::render::plan_box;
use crate::settings::ProcessEnv;
use panka_core::plan::{Action, DurationHistory, Plan};
use panka_core::state::StateKey;
use std::fmt::Write as _;

pub fn plan_json<'a>(
    plan: &'a Plan,
    estimate: &panka_core::cost::Estimate,
    durations: &DurationHistory,
) -> PlanDocument<'a> {
    PlanDocument {
        format_version: FORMAT_VERSION,
        stack: &plan.stack,
        environment: &plan.environment,
        based_on: plan.based_on.as_ref(),
        targeted: !plan.targets.is_empty(),
        targets: &plan.targets,
        changes: plan
            .changes()
            .map(|c| PlanChange {
                component: c.component.to_string(),
                kind: c.kind.name(),
                action: c.action,
                wave: c.wave,
                reason: &c.reason,
                fields: c
                    .fields
                    .iter()
                    .map(|f| PlanField {
                        path: &f.diff.path,
                        old: &f.diff.before,
                        new: &f.diff.after,
                        forces_replace: f.forces_replace,
                    })
                    .collect(),
            })
            .collect(),
        summary: PlanSummary {
            create: plan.summary.create,
            update: plan.summary.update,
            replace: plan.summary.replace,
            delete: plan.summary.delete,
        },
        estimated_monthly_cost_usd: estimate.monthly_usd,
        estimated_duration_s: plan_box::estimated_duration(plan, durations).as_secs(),
        dangerous: plan
            .dangerous()
            .iter()
            .map(|c| DangerousChange {
                component: c.component.to_string(),
                kind: c.kind.name(),
                action: c.action,
            })
            .collect(),
    }
}

pub async fn run(
    args: &PlanArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    // A local state is read while the stack loads (on another thread): for a large stack
    // each takes tens of milliseconds. A remote one waits: nothing in AWS is touched
    // before the stack is known to be valid.
    let early = {
        let (target, global, env) = (args.inputs.target.clone(), global.clone(), env.clone());
        tokio::spawn(async move {
            let t = target::open_local_silently(&target, &global, &env).await?;
            let state = t.backends.store.read(&t.key).await;
            Some((t, state))
        })
    };
    let loaded = load::load(
        args.inputs.target.stack.stack.as_deref(),
        args.inputs.target.environment.as_ref(),
        &args.inputs.vars,
        global,
        env,
        ui,
    )?;
    let targets = plan::targets(&args.inputs.targets, &loaded)?;
    let key = StateKey::new(&loaded.stack.name, &loaded.environment);
    // The early read names the stack by its folder; the loaded stack by its name.
    let (t, state) = match early.await.ok().flatten() {
        Some((t, Ok(state))) if t.key == key => (t, state),
        _ => {
            let t = target::for_loaded(&loaded, global, env).await?;
            let state =
                (t.backends.store.read(&t.key).await).map_err(crate::error::UserError::from)?;
            (t, state)
        }
    };
    let reconcilers = if args.inputs.refresh {
        t.aws.reconcilers(&loaded.stack.spec.region).await
    } else {
        aws::offline_reconcilers(&loaded.stack.spec.region)
    };
    let planned = plan::compute_from(
        &loaded,
        state,
        t.backends.store.as_ref(),
        &t.key,
        &reconcilers,
        args.inputs.refresh,
    )
    .await?;
    let planned = plan::restrict(planned, &loaded, &targets);

    if let Some(path) = &args.out {
        let saved = crate::saved_plan::SavedPlan::of(&planned.plan)?;
        let text = serde_json::to_string_pretty(&saved)?;
        std::fs::write(env.cwd.join(path), text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if ui.is_json() {
        ui.json(&plan_json(
            &planned.plan,
            &planned.estimate,
            &planned.durations,
        ));
    } else {
        let s = &loaded.stack;
        let mut text = String::new();
        let _ = writeln!(
            text,
            "Panka v{}\n{}\n",
            env!("CARGO_PKG_VERSION"),
            "─".repeat(48)
        );
        let _ = writeln!(
            text,
            "Stack: {}\nEnvironment: {}",
            s.name, loaded.environment
        );
        if !loaded.version.is_empty() {
            let _ = writeln!(text, "Version: {}", loaded.version);
        }
        let _ = writeln!(text, "\nLoading configuration...");
        let _ = writeln!(text, "├── Stack: {} ✓", s.name);
        let _ = writeln!(text, "├── Services: {} found ✓", s.services.len());
        let _ = writeln!(text, "├── Components: {} found ✓", s.components.len());
        let _ = writeln!(text, "└── Building dependency graph... ✓\n");
        let _ = writeln!(text, "Checking current state...");
        let _ = writeln!(text, "├── {} ✓", t.backends.describe);
        match &planned.state {
            None => {
                let _ = writeln!(text, "├── Loading state... (not found - first deployment)");
                let _ = writeln!(text, "└── This is a new deployment ✓\n");
            }
            Some(state) => {
                let _ = writeln!(
                    text,
                    "├── Loading state... ✓ (serial {})",
                    state.state.serial
                );
                let n = state.state.components.len();
                if args.inputs.refresh {
                    let _ = writeln!(
                        text,
                        "└── Refreshing {n} component{} from AWS... ✓\n",
                        if n == 1 { "" } else { "s" }
                    );
                } else {
                    let _ = writeln!(text, "└── Refresh skipped (--refresh=false)\n");
                }
            }
        }
        let _ = writeln!(text, "Generating plan...\n");
        text.push_str(&plan_box::render(
            &planned.plan,
            &loaded.pieces,
            &planned.estimate,
            &planned.durations,
        ));
        ui.out(&text);
    }
    let changes = planned.plan.changes().any(|c| c.action != Action::Noop);
    load::keep_until_exit((loaded, planned));
    Ok(if args.detailed_exitcode && changes {
        Exit::Changes
    } else {
        Exit::Success
    })
}
