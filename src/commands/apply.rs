//! `panka apply`: lock → plan → approval → execute in waves → release.

use super::{Exit, interactive, lock::report_held, planning, prompt, target};
use crate::cli::{ApplyArgs, GlobalArgs, OnFailureArg};
use crate::error::UserError;
use crate::output::Ui;
use crate::render::plan_box;
use crate::settings::ProcessEnv;
use panka_core::desired::jobs;
use panka_core::engine::{Event, EventSink, ExecOptions, OnFailure, Outcome, execute};
use panka_core::plan::Action;
use panka_core::reconcile::DeleteOptions;
use panka_core::state::{
    DeploymentRecord, DeploymentResult, FencedState, HeldLock, LockError, LockRequest,
    acquire_with_wait,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Prints engine events as they come: plain lines for people, JSON lines for machines
/// (on stderr, so stdout keeps the one result document).
struct Progress {
    json: bool,
    start: Instant,
    out: Mutex<()>,
}

fn took(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn verb(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("Creating", "created"),
        Action::Update => ("Updating", "updated"),
        Action::Replace => ("Replacing", "replaced"),
        Action::Delete => ("Deleting", "deleted"),
        Action::Noop => ("Checking", "unchanged"),
    }
}

impl EventSink for Progress {
    fn emit(&self, event: Event) {
        let _guard = self.out.lock();
        if self.json {
            let line = match &event {
                Event::ChangeStarted {
                    component,
                    action,
                    wave,
                } => {
                    json!({"event": "started", "component": component.to_string(), "action": action, "wave": wave})
                }
                Event::Waiting {
                    component,
                    detail,
                    progress,
                } => {
                    json!({"event": "waiting", "component": component.to_string(), "detail": detail, "progress": progress})
                }
                Event::ChangeFinished {
                    component,
                    action,
                    elapsed,
                    ..
                } => {
                    json!({"event": "finished", "component": component.to_string(), "action": action, "elapsed_s": elapsed.as_secs_f64()})
                }
                Event::ChangeFailed {
                    component,
                    action,
                    error,
                } => {
                    json!({"event": "failed", "component": component.to_string(), "action": action, "error": error})
                }
                Event::StateSaved { serial } => json!({"event": "state_saved", "serial": serial}),
                Event::RollbackStarted { changes } => {
                    json!({"event": "rollback_started", "changes": changes})
                }
                Event::RollbackStep { component, action } => {
                    json!({"event": "rollback_step", "component": component.to_string(), "action": action})
                }
                Event::RollbackFailed { component, error } => {
                    json!({"event": "rollback_failed", "component": component.to_string(), "error": error})
                }
            };
            eprintln!("{line}");
            return;
        }
        let at = took(self.start.elapsed());
        let line = match event {
            Event::ChangeStarted {
                component,
                action,
                wave,
            } => format!("[{at}] Wave {wave}: {} {component}...", verb(action).0),
            Event::Waiting {
                component,
                detail,
                progress,
            } => match progress {
                Some(p) => format!("[{at}]   {component}: {detail} ({p}%)"),
                None => format!("[{at}]   {component}: {detail}"),
            },
            Event::ChangeFinished {
                component,
                action,
                elapsed,
                outputs,
            } => {
                let mut line = format!(
                    "[{at}] ✓ {component} {} ({})",
                    verb(action).1,
                    took(elapsed)
                );
                for key in ["url", "endpoint"] {
                    if let Some(v) = outputs.get(key) {
                        line.push_str(&format!(
                            "\n        {}: {v}",
                            if key == "url" { "URL" } else { "Endpoint" }
                        ));
                    }
                }
                line
            }
            Event::ChangeFailed {
                component,
                action,
                error,
            } => format!("[{at}] ✗ {} {component} failed: {error}", verb(action).0),
            Event::StateSaved { .. } => return,
            Event::RollbackStarted { changes } => format!(
                "[{at}] Rolling back {changes} change{}...",
                if changes == 1 { "" } else { "s" }
            ),
            Event::RollbackStep { component, action } => format!(
                "[{at}]   reverting {component} ({})",
                verb(action).0.to_lowercase()
            ),
            Event::RollbackFailed { component, error } => {
                format!("[{at}] ✗ could not revert {component}: {error}")
            }
        };
        eprintln!("{line}");
    }
}

fn require_approval(loaded: &planning::Loaded) -> bool {
    loaded
        .stack
        .environment_spec
        .as_ref()
        .and_then(|e| e.require_approval)
        .unwrap_or_else(|| panka_core::policy::is_production(&loaded.environment))
}

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

    // Lock.
    let request = LockRequest {
        who: env.who.clone(),
        operation: "apply".into(),
        lease: loaded.config.lease,
    };
    let label = t.key.lock_id();
    if !ui.is_json() {
        ui.out(&format!(
            "Panka v{}\n{}\n\nAcquiring lock...\n├── Lock key: {label}\n",
            env!("CARGO_PKG_VERSION"),
            "─".repeat(48)
        ));
    }
    let acquired = match args.lock_timeout {
        Some(timeout) => {
            acquire_with_wait(
                t.backends.lock.as_ref(),
                &t.key,
                &request,
                timeout,
                |holder| {
                    ui.err(&format!(
                        "Waiting for the lock held by {}\n",
                        holder.describe()
                    ));
                },
            )
            .await
        }
        None => t.backends.lock.acquire(&t.key, &request).await,
    };
    let info = match acquired {
        Ok(info) => info,
        Err(LockError::Held { holder, .. }) => return Ok(report_held(ui, &label, &holder)),
        Err(e) => return Err(super::lock::lock_error(e).into()),
    };
    if !ui.is_json() {
        ui.out(&format!("└── Lock acquired (ID: {})\n\n", info.id));
    }
    let held = HeldLock::start(
        t.backends.lock.clone(),
        t.key.clone(),
        info.clone(),
        request.lease,
    );
    let result = locked(args, &loaded, &t, &reconcilers, &info, env, ui, started).await;
    let released = held.release().await;
    if !ui.is_json() {
        ui.out(match released {
            Ok(()) => "Releasing lock... ✓\n",
            Err(_) => "Releasing lock... ✗ (it expires on its own)\n",
        });
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn locked(
    args: &ApplyArgs,
    loaded: &planning::Loaded,
    t: &target::Target,
    reconcilers: &Arc<panka_providers::reconcilers::Reconcilers>,
    lock: &panka_core::state::LockInfo,
    env: &ProcessEnv,
    ui: &Ui,
    started: Instant,
) -> anyhow::Result<Exit> {
    let planned =
        planning::compute(loaded, &t.backends, reconcilers, &t.key, args.plan.refresh).await?;
    let plan = planned.plan;
    if let Some(file) = &args.plan_file {
        check_saved_plan(&env.cwd.join(file), &plan)?;
    }
    if !ui.is_json() {
        ui.out(&match &planned.state {
            None => "Loading state...\n└── State not found (first deployment)\n\n".to_string(),
            Some(s) => format!("Loading state...\n└── Serial {} ✓\n\n", s.state.serial),
        });
    }
    if !plan.has_changes() {
        if ui.is_json() {
            ui.json(&json!({"deployment_id": null, "result": "no_changes", "outputs": outputs(&planned.state.map(|s| s.state.components).unwrap_or_default()), "duration_s": started.elapsed().as_secs_f64()}));
        } else {
            ui.out("✓ No changes: the infrastructure matches the stack files.\n");
        }
        return Ok(Exit::Success);
    }
    if !ui.is_json() {
        ui.out(&plan_box::render(&plan, &loaded.pieces, &planned.estimate));
    }
    let dangerous = plan.dangerous();
    if !dangerous.is_empty() && !args.allow_dangerous {
        let names: Vec<String> = dangerous
            .iter()
            .map(|c| format!("{} ({:?})", c.component, c.action).to_lowercase())
            .collect();
        return Err(UserError::new(format!(
            "the plan replaces or deletes data: {}",
            names.join(", ")
        ))
        .hint("review it; pass --allow-dangerous to go ahead")
        .into());
    }
    if require_approval(loaded) && !args.auto_approve {
        if !interactive() {
            return Err(UserError::new(format!(
                "{} requires approval and there is no terminal to ask on",
                loaded.environment
            ))
            .hint("review `panka plan`, then pass --auto-approve")
            .into());
        }
        ui.err(&format!(
            "\n⚠ {} Deployment Approval Required\n\nStack: {}\nEnvironment: {}\nVersion: {}\nEstimated cost: {}\n\n❗ This is a {} deployment. Please review carefully.\n\n",
            capitalise(&loaded.environment),
            loaded.stack.name,
            loaded.environment,
            if loaded.version.is_empty() { "-" } else { &loaded.version },
            planned.estimate.summary(),
            loaded.environment
        ));
        let answer = prompt("Approve this deployment? (yes/no)", None)?;
        if answer != "yes" {
            ui.err("Aborted: nothing was changed.\n");
            return Ok(Exit::Failure);
        }
    }

    let mut state = FencedState::open(
        t.backends.store.as_ref(),
        &t.key,
        lock,
        jiff::Timestamp::now(),
    )
    .await
    .map_err(super::state::state_error)?;
    let deployment_id = uuid::Uuid::new_v4().to_string();
    let mut record = DeploymentRecord {
        id: deployment_id.clone(),
        version: loaded.version.clone(),
        by: env.who.clone(),
        operation: "apply".into(),
        started_at: panka_core::state::rfc3339(jiff::Timestamp::now()),
        duration_s: None,
        result: DeploymentResult::InProgress,
        plan_summary: BTreeMap::from([
            ("create".to_string(), plan.summary.create as u64),
            ("update".to_string(), plan.summary.update as u64),
            ("replace".to_string(), plan.summary.replace as u64),
            ("delete".to_string(), plan.summary.delete as u64),
        ]),
        spec: json!(
            loaded
                .pieces
                .iter()
                .map(|p| (
                    p.id().to_string(),
                    serde_json::to_value(&p.spec).unwrap_or_default()
                ))
                .collect::<BTreeMap<_, _>>()
        ),
    };
    t.backends
        .store
        .put_deployment(&t.key, &record)
        .await
        .map_err(super::state::state_error)?;

    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel_tx.send(true);
        }
    });
    if !ui.is_json() {
        ui.out("\nExecuting deployment...\n");
    }
    let options = ExecOptions {
        parallelism: usize::from(args.parallelism),
        on_failure: match args.on_failure {
            OnFailureArg::Rollback => OnFailure::Rollback,
            OnFailureArg::Stop => OnFailure::Stop,
        },
        ready_timeout: args.ready_timeout,
        poll_interval: Duration::from_secs(5),
        deployment_id: deployment_id.clone(),
        delete_options: DeleteOptions {
            final_snapshot: true,
            disable_deletion_protection: args.allow_dangerous,
        },
    };
    let progress = Arc::new(Progress {
        json: ui.is_json(),
        start: Instant::now(),
        out: Mutex::new(()),
    });
    let work = jobs(&plan, &loaded.pieces, &loaded.stack, &loaded.environment);
    let outcome = execute(
        work,
        reconcilers.clone(),
        &mut state,
        &options,
        progress,
        cancel_rx,
    )
    .await;
    interrupt.abort();

    let (result, exit) = match &outcome {
        Outcome::Success => (DeploymentResult::Success, Exit::Success),
        Outcome::RolledBack { .. } => (DeploymentResult::RolledBack, Exit::RolledBack),
        Outcome::Failed { .. } => (DeploymentResult::Failed, Exit::Failure),
        Outcome::Interrupted => (DeploymentResult::Failed, Exit::Interrupted),
    };
    record.result = result;
    record.duration_s = Some(started.elapsed().as_secs_f64());
    let recorded = t.backends.store.put_deployment(&t.key, &record).await;
    let outputs = outputs(&state.state.components);
    if ui.is_json() {
        ui.json(&json!({
            "deployment_id": deployment_id,
            "result": result,
            "outputs": outputs,
            "duration_s": record.duration_s,
            "failed": failures(&outcome),
        }));
    } else {
        let mut text = format!("\n{}\n", "─".repeat(48));
        match &outcome {
            Outcome::Success => text.push_str("✓ Deployment successful!\n"),
            Outcome::RolledBack { failed } => {
                text.push_str("⚠ Deployment failed and was rolled back\n");
                for (id, e) in failed {
                    text.push_str(&format!("  ✗ {id}: {e}\n"));
                }
            }
            Outcome::Failed {
                failed,
                rollback_errors,
            } => {
                text.push_str("✗ Deployment failed\n");
                for (id, e) in failed.iter().chain(rollback_errors) {
                    text.push_str(&format!("  ✗ {id}: {e}\n"));
                }
            }
            Outcome::Interrupted => {
                text.push_str("Interrupted: finished work is saved; run apply again to continue.\n")
            }
        }
        text.push_str(&format!("\nDuration: {}\n", took(started.elapsed())));
        if !loaded.version.is_empty() {
            text.push_str(&format!("Version: {}\n", loaded.version));
        }
        text.push_str(&format!("Deployed by: {}\n", env.who));
        if !outputs.is_empty() {
            text.push_str("\nOutputs:\n");
            for (component, values) in &outputs {
                for (name, value) in values {
                    text.push_str(&format!("  {component} {name}: {value}\n"));
                }
            }
        }
        if outcome == Outcome::Success {
            text.push_str(&format!(
                "\nNext steps:\n  • State: panka state show --stack {} --environment {}\n",
                loaded.stack.name, loaded.environment
            ));
        }
        text.push_str(&format!("{}\n", "─".repeat(48)));
        ui.out(&text);
    }
    if let Err(e) = recorded {
        ui.err(&format!(
            "warning: the deployment record could not be saved: {e}\n"
        ));
    }
    Ok(exit)
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

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn outputs(
    components: &BTreeMap<String, panka_core::state::ComponentState>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    components
        .iter()
        .map(|(id, c)| {
            let declared = c.kind.outputs();
            (
                id.clone(),
                c.outputs
                    .iter()
                    .filter(|(k, _)| declared.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn failures(outcome: &Outcome) -> Vec<serde_json::Value> {
    match outcome {
        Outcome::RolledBack { failed } | Outcome::Failed { failed, .. } => failed
            .iter()
            .map(|(id, e)| json!({"component": id.to_string(), "error": e}))
            .collect(),
        _ => Vec::new(),
    }
}
