//! What the screens of every command that changes AWS share (apply, rollback, destroy):
//! the lock taken and released around the work, and — once a plan is computed — the
//! dangerous-operation check, approval, the progress and the final report. The work
//! itself (fenced state, deployment record, executor) is `ops::deploy`.

use super::{Exit, interactive, lock::report_held, prompt};
use crate::cli::{ExecutionArgs, OnFailureArg};
use crate::contract::{DeployDocument, FailedChange, ProgressEvent};
use crate::error::UserError;
use crate::ops::load::Loaded;
use crate::ops::plan::Planned;
use crate::ops::target::Target;
use crate::output::Ui;
use crate::render::plan_box;
use crate::render::progress::{Progress, json_event, took};
use crate::settings::ProcessEnv;
use panka_core::desired::{DesiredPiece, jobs};
use panka_core::engine::{ExecOptions, OnFailure, Outcome};
use panka_core::model::{ComponentId, ComponentKind};
use panka_core::plan::Action;
use panka_core::reconcile::DeleteOptions;
use panka_core::state::{
    DeploymentResult, FencedState, HeldLock, LockError, LockInfo, LockRequest,
};
use panka_providers::reconcilers::Reconcilers;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a deployment shows once the lock is released: the end of its *Finalizing* block
/// and the summary. Passed from [`Deployment::run`] to [`under_lock`] through a task-local
/// so that apply, rollback and destroy keep handing `under_lock` a closure that returns an
/// [`Exit`], whatever else their closures do.
#[derive(Clone, Debug, Default)]
struct Epilogue {
    /// `Deployment complete! ✓`, or how it ended otherwise.
    complete: String,
    /// Everything after the Finalizing block.
    summary: String,
}

tokio::task_local! {
    static EPILOGUE: Arc<Mutex<Option<Epilogue>>>;
}

/// Takes the lock of `t` for `operation` (waiting up to `lock_timeout`), keeps it renewed
/// while `work` runs, and releases it whatever `work` returns. A lock held by someone else
/// is exit 3, naming the holder.
pub async fn under_lock<F, Fut>(
    t: &Target,
    operation: &str,
    lock_timeout: Option<Duration>,
    lease: Duration,
    env: &ProcessEnv,
    ui: &Ui,
    work: F,
) -> anyhow::Result<Exit>
where
    F: FnOnce(LockInfo) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Exit>>,
{
    let request = LockRequest {
        who: env.who.clone(),
        operation: operation.into(),
        lease,
    };
    let label = t.key.lock_id();
    if !ui.is_json() {
        ui.out(&format!(
            "Panka v{}\n{}\n\nAcquiring lock...\n├── Lock key: {label}\n",
            env!("CARGO_PKG_VERSION"),
            "─".repeat(48)
        ));
    }
    let acquired = crate::ops::lock::acquire(
        t.backends.lock.as_ref(),
        &t.key,
        &request,
        lock_timeout,
        |holder| {
            ui.err(&format!(
                "Waiting for the lock held by {}\n",
                holder.describe()
            ));
        },
    )
    .await;
    let info = match acquired {
        Ok(info) => info,
        Err(LockError::Held { holder, .. }) => return Ok(report_held(ui, &label, &holder)),
        Err(e) => return Err(UserError::from(e).into()),
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
    let epilogue = Arc::new(Mutex::new(None));
    let result = EPILOGUE.scope(epilogue.clone(), work(info)).await;
    let released = held.release().await;
    let epilogue = epilogue.lock().ok().and_then(|mut e| e.take());
    let release_line = match &released {
        Ok(()) => "Releasing lock... ✓".to_string(),
        Err(e) => format!("Releasing lock... ✗ ({e}; it expires on its own)"),
    };
    match (ui.is_json(), epilogue) {
        (true, Some(_)) => ui.err(&format!(
            "{}\n",
            json_event(ProgressEvent::LockReleased {
                ok: released.is_ok()
            })
        )),
        (true, None) => {}
        (false, Some(epilogue)) => ui.out(&format!(
            "├── {release_line}\n└── {}\n{}",
            epilogue.complete, epilogue.summary
        )),
        (false, None) => ui.out(&format!("{release_line}\n")),
    }
    result
}

/// One change of AWS about to run: what it is, for whom, and how.
pub struct Deployment<'a> {
    /// Recorded as the deployment's operation: `apply`, `rollback`, `destroy`.
    pub operation: &'static str,
    pub loaded: &'a Loaded,
    pub target: &'a Target,
    pub reconcilers: &'a Arc<Reconcilers>,
    pub lock: &'a LockInfo,
    pub execution: &'a ExecutionArgs,
    /// What the plan was computed from (apply: the stack files; rollback: the recorded
    /// spec; destroy: nothing).
    pub pieces: &'a [DesiredPiece],
    /// The version recorded for this deployment.
    pub version: String,
    pub delete_options: DeleteOptions,
    /// When the command started, for the reported duration.
    pub started: Instant,
}

fn require_approval(loaded: &Loaded) -> bool {
    loaded
        .stack
        .environment_spec
        .as_ref()
        .and_then(|e| e.require_approval)
        .unwrap_or_else(|| panka_core::policy::is_production(&loaded.environment))
}

impl Deployment<'_> {
    /// Shows the plan, checks dangerous operations and approval, then executes it under
    /// the fenced state with a deployment record written at start and end.
    pub async fn run(&self, planned: Planned, env: &ProcessEnv, ui: &Ui) -> anyhow::Result<Exit> {
        let loaded = self.loaded;
        let plan = planned.plan;
        if !ui.is_json() {
            ui.out(&match &planned.state {
                None => "Loading state...\n└── State not found (first deployment)\n\n".to_string(),
                Some(s) => format!("Loading state...\n└── Serial {} ✓\n\n", s.state.serial),
            });
        }
        if !plan.has_changes() {
            if ui.is_json() {
                ui.json(&DeployDocument {
                    deployment_id: None,
                    result: DeploymentResult::NoChanges,
                    outputs: outputs(
                        &planned
                            .state
                            .map(|s| s.state.components)
                            .unwrap_or_default(),
                    ),
                    duration_s: Some(self.started.elapsed().as_secs_f64()),
                    failed: None,
                });
            } else {
                ui.out("✓ No changes: the infrastructure matches the stack files.\n");
            }
            return Ok(Exit::Success);
        }
        if !ui.is_json() {
            ui.out(&plan_box::render(
                &plan,
                self.pieces,
                &planned.estimate,
                &planned.durations,
            ));
        }
        let dangerous = plan.dangerous();
        if !dangerous.is_empty() && !self.execution.allow_dangerous {
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
        if require_approval(loaded) && !self.execution.auto_approve {
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
                if self.version.is_empty() { "-" } else { &self.version },
                planned.estimate.summary(),
                loaded.environment
            ));
            let answer = prompt("Approve this deployment? (yes/no)", None)?;
            if answer != "yes" {
                ui.err("Aborted: nothing was changed.\n");
                return Ok(Exit::Failure);
            }
        }

        let mut started = crate::ops::deploy::start(
            self.target,
            self.lock,
            self.operation,
            &self.version,
            &env.who,
            &plan,
            self.pieces,
        )
        .await?;
        let deployment_id = started.deployment_id().to_string();
        if !ui.is_json() {
            ui.out("\nExecuting deployment...\n");
        }
        let options = ExecOptions {
            parallelism: usize::from(self.execution.parallelism),
            on_failure: match self.execution.on_failure {
                OnFailureArg::Rollback => OnFailure::Rollback,
                OnFailureArg::Stop => OnFailure::Stop,
            },
            ready_timeout: self.execution.ready_timeout,
            poll_interval: Duration::from_secs(5),
            deployment_id: deployment_id.clone(),
            delete_options: self.delete_options,
        };
        let progress = Arc::new(Progress::for_plan(&plan, ui.is_json(), env.no_color));
        if ui.is_json() {
            ui.err(&format!(
                "{}\n",
                json_event(ProgressEvent::Start {
                    deployment_id: &deployment_id,
                    operation: self.operation,
                    stack: &loaded.stack.name,
                    environment: &loaded.environment,
                })
            ));
        }
        let work = jobs(&plan, self.pieces, &loaded.stack, &loaded.environment);
        let report = started
            .execute(work, self.reconcilers, &options, progress.clone())
            .await;
        progress.finish();
        let finished = started.finish(report, self.started).await;
        let (outcome, recorded, state) = (
            &finished.report.outcome,
            &finished.recorded,
            &finished.state,
        );
        let result = finished.result;
        let exit = match outcome {
            Outcome::Success => Exit::Success,
            Outcome::RolledBack { .. } => Exit::RolledBack,
            Outcome::Failed { .. } => Exit::Failure,
            Outcome::Interrupted => Exit::Interrupted,
        };
        let outputs = outputs(&state.state.components);
        let save_failed = failures_of(outcome)
            .iter()
            .any(|(id, _)| id.to_string() == "state/save");
        if ui.is_json() {
            ui.err(&format!(
                "{}\n",
                json_event(ProgressEvent::DeploymentRecorded {
                    ok: recorded.is_ok()
                })
            ));
            ui.json(&DeployDocument {
                deployment_id: Some(deployment_id),
                result,
                outputs,
                duration_s: finished.duration_s,
                failed: Some(failures(outcome)),
            });
        } else {
            // The executor saved state after every change; this reports the last save.
            let state_line = match (save_failed, finished.report.last_serial) {
                (true, _) => "Saving state... ✗ (see the error below)".to_string(),
                (false, Some(serial)) => format!("Saving state... ✓ (serial {serial})"),
                (false, None) => "Saving state... (nothing changed)".to_string(),
            };
            let record_line = match recorded {
                Ok(()) => "Recording deployment... ✓".to_string(),
                Err(e) => format!("Recording deployment... ✗ ({e})"),
            };
            ui.out(&format!(
                "\nFinalizing...\n├── {state_line}\n├── {record_line}\n"
            ));
        }
        if let Err(e) = recorded {
            ui.err(&format!(
                "warning: the deployment record could not be saved: {e}\n"
            ));
        }
        let epilogue = Epilogue {
            complete: match outcome {
                Outcome::Success => format!("{} complete! ✓", capitalise(noun(self.operation))),
                Outcome::RolledBack { .. } => "Rolled back ✗".to_string(),
                Outcome::Failed { .. } => "Failed ✗".to_string(),
                Outcome::Interrupted => "Interrupted ✗".to_string(),
            },
            summary: self.report(outcome, &plan, &finished.report.finished, state, env),
        };
        let deferred = EPILOGUE
            .try_with(|slot| {
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(epilogue.clone());
                }
            })
            .is_ok();
        if !deferred && !ui.is_json() {
            // Not under `under_lock` (no caller today): shown at once.
            ui.out(&format!("└── {}\n{}", epilogue.complete, epilogue.summary));
        }
        Ok(exit)
    }

    /// Everything after the Finalizing block: the result, duration, version and who; on
    /// success the resources changed, the outputs and the next steps.
    fn report(
        &self,
        outcome: &Outcome,
        plan: &panka_core::plan::Plan,
        finished: &[(ComponentId, Action)],
        state: &FencedState<'_>,
        env: &ProcessEnv,
    ) -> String {
        let loaded = self.loaded;
        let what = capitalise(noun(self.operation));
        let mut text = format!("\n{}\n", "─".repeat(48));
        match outcome {
            Outcome::Success => text.push_str(&format!("✓ {what} successful!\n")),
            Outcome::RolledBack { failed } => {
                text.push_str(&format!("⚠ {what} failed and was rolled back\n"));
                for (id, e) in failed {
                    text.push_str(&format!("  ✗ {id}: {e}\n"));
                }
            }
            Outcome::Failed {
                failed,
                rollback_errors,
            } => {
                text.push_str(&format!("✗ {what} failed\n"));
                text.push_str(&failure_lines(failed, rollback_errors));
            }
            Outcome::Interrupted => {
                text.push_str("Interrupted: finished work is saved; run apply again to continue.\n")
            }
        }
        text.push_str(&format!("\nDuration: {}\n", took(self.started.elapsed())));
        if !self.version.is_empty() {
            text.push_str(&format!("Version: {}\n", self.version));
        }
        text.push_str(&format!("Deployed by: {}\n", env.who));
        // A rolled-back run changed nothing that stayed.
        if !matches!(outcome, Outcome::RolledBack { .. }) {
            text.push_str(&resources_changed(plan, finished));
        }
        let components = &state.state.components;
        let main = main_outputs(components);
        if !main.is_empty() {
            text.push_str("\nOutputs:\n");
            for (name, value) in &main {
                text.push_str(&format!("  {name}: {value}\n"));
            }
        }
        if *outcome == Outcome::Success && self.operation != "destroy" {
            let (stack, environment) = (&loaded.stack.name, &loaded.environment);
            text.push_str("\nNext steps:\n");
            let services = components
                .iter()
                .filter(|(_, c)| c.kind == ComponentKind::MicroService);
            for (id, c) in services {
                if let Some(url) = c.outputs.get("url") {
                    text.push_str(&format!(
                        "  • Test: curl {}/health\n",
                        url.trim_end_matches('/')
                    ));
                }
                text.push_str(&format!(
                    "  • Logs: panka logs --component {id} --stack {stack} --environment {environment} --follow\n"
                ));
            }
            text.push_str(&format!(
                "  • Status: panka status --stack {stack} --environment {environment}\n"
            ));
        }
        text.push_str(&format!("{}\n", "─".repeat(48)));
        text
    }
}

/// What the operation is called in its result line.
fn noun(operation: &str) -> &'static str {
    match operation {
        "rollback" => "rollback",
        "destroy" => "destroy",
        _ => "deployment",
    }
}

/// `Resources created:` and the like, each with the changes of this run that finished, in
/// plan order.
fn resources_changed(plan: &panka_core::plan::Plan, finished: &[(ComponentId, Action)]) -> String {
    let mut text = String::new();
    for (action, title) in [
        (Action::Create, "created"),
        (Action::Update, "updated"),
        (Action::Replace, "replaced"),
        (Action::Delete, "deleted"),
    ] {
        let lines: Vec<String> = plan
            .waves
            .iter()
            .flatten()
            .filter(|c| c.action == action && finished.contains(&(c.component.clone(), action)))
            .map(|c| format!("  • {} ({})\n", c.component, c.kind))
            .collect();
        if !lines.is_empty() {
            text.push_str(&format!("\nResources {title}:\n{}", lines.concat()));
        }
    }
    text
}

/// The outputs people use first (a service's or queue's `url`, a database's or cache's
/// `endpoint`), named `<component>_<output>` with hyphens as underscores (`api_url`,
/// `database_endpoint`); a component name used by several services is prefixed with its
/// service (`email_service_api_url`), so a name never stands for two components.
pub fn main_outputs(
    components: &BTreeMap<String, panka_core::state::ComponentState>,
) -> BTreeMap<String, String> {
    let ids: Vec<ComponentId> = components
        .keys()
        .filter_map(|k| ComponentId::parse(k, ""))
        .collect();
    let mut named = BTreeMap::new();
    for id in &ids {
        let Some(c) = components.get(&id.to_string()) else {
            continue;
        };
        let shared = ids.iter().filter(|o| o.component == id.component).count() > 1;
        let base = if shared {
            format!("{}_{}", id.service, id.component)
        } else {
            id.component.clone()
        };
        for key in ["url", "endpoint"] {
            if let Some(value) = c.outputs.get(key) {
                named.insert(format!("{base}_{key}").replace('-', "_"), value.clone());
            }
        }
    }
    named
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The declared outputs of every component in state, by component id.
pub fn outputs(
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

/// One line per failed change, then one per change that could not be reverted. Reverting
/// a failed change often fails for the same reason (a create refused by AWS cannot be
/// deleted either); that repeats nothing the reader needs, so it is not said twice.
fn failure_lines(
    failed: &[(ComponentId, String)],
    rollback_errors: &[(ComponentId, String)],
) -> String {
    let mut text = String::new();
    for (id, e) in failed {
        text.push_str(&format!("  ✗ {id}: {e}\n"));
    }
    for (id, e) in rollback_errors {
        if failed.iter().any(|(f, fe)| f == id && fe == e) {
            continue;
        }
        text.push_str(&format!("  ✗ {id} (not reverted): {e}\n"));
    }
    text
}

fn failures_of(outcome: &Outcome) -> &[(ComponentId, String)] {
    match outcome {
        Outcome::RolledBack { failed } | Outcome::Failed { failed, .. } => failed,
        _ => &[],
    }
}

fn failures(outcome: &Outcome) -> Vec<FailedChange> {
    match outcome {
        Outcome::RolledBack { failed } | Outcome::Failed { failed, .. } => failed
            .iter()
            .map(|(id, e)| FailedChange {
                component: id.to_string(),
                error: e.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_that_also_stopped_its_revert_is_said_once() {
        let id = ComponentId::new("orders", "reports");
        let other = ComponentId::new("orders", "audit");
        let refused = "SQS queue q exists and was not created by panka".to_string();
        let lines = failure_lines(
            &[(id.clone(), refused.clone())],
            &[(id, refused.clone()), (other, "throttled".into())],
        );
        assert_eq!(
            lines,
            format!("  ✗ orders/reports: {refused}\n  ✗ orders/audit (not reverted): throttled\n")
        );
    }
}
