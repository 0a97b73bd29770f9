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
use crate::render::deploy_report::{Summary, capitalise, noun};
use crate::render::plan_box;
use crate::render::progress::{Progress, json_event};
use crate::settings::ProcessEnv;
use panka_core::desired::{DesiredPiece, jobs};
use panka_core::engine::{ExecOptions, OnFailure, Outcome};
use panka_core::model::ComponentId;
use panka_core::reconcile::DeleteOptions;
use panka_core::state::{DeploymentResult, HeldLock, LockError, LockInfo, LockRequest};
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
            summary: Summary {
                operation: self.operation,
                stack: &loaded.stack.name,
                environment: &loaded.environment,
                version: &self.version,
                who: &env.who,
                took: self.started.elapsed(),
            }
            .render(
                outcome,
                &plan,
                &finished.report.finished,
                &state.state.components,
            ),
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
