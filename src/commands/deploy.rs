//! What every command that changes AWS shares (apply, rollback, destroy): holding the
//! lock around the work, and — once a plan is computed — the dangerous-operation check,
//! approval, the fenced state, the deployment record, the executor and the final report.

use super::{Exit, interactive, lock::report_held, planning, prompt, target::Target};
use crate::cli::{ExecutionArgs, GlobalArgs, OnFailureArg};
use crate::error::UserError;
use crate::output::Ui;
use crate::render::plan_box;
use crate::render::progress::{Progress, took};
use crate::settings::ProcessEnv;
use panka_core::desired::{DesiredPiece, jobs};
use panka_core::engine::{ExecOptions, OnFailure, Outcome, execute};
use panka_core::reconcile::DeleteOptions;
use panka_core::state::{
    DeploymentRecord, DeploymentResult, FencedState, HeldLock, LockError, LockInfo, LockRequest,
    RecordedPiece, acquire_with_wait,
};
use panka_providers::reconcilers::Reconcilers;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `env` with `who` set to the caller's AWS identity: STS `GetCallerIdentity`, asked once
/// per run before the lock is taken, so the lock, the deployment record and the report
/// name the same person. When STS cannot answer (offline, no credentials) `$USER@host`
/// stays; `PANKA_USER` wins over both.
pub async fn as_caller(
    env: &ProcessEnv,
    loaded: &planning::Loaded,
    global: &GlobalArgs,
) -> ProcessEnv {
    if env.who_is_explicit {
        return env.clone();
    }
    let settings = crate::backend::aws_settings(
        &loaded.config,
        Some(&loaded.stack.spec.region),
        crate::settings::endpoint_url(global.endpoint_url.as_ref(), env),
    );
    let sdk = panka_providers::aws::load_sdk_config(&settings).await;
    env.with_caller(panka_providers::identity::caller_name(&sdk).await.ok())
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
    let acquired = match lock_timeout {
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
    let result = work(info).await;
    let released = held.release().await;
    if !ui.is_json() {
        ui.out(match released {
            Ok(()) => "Releasing lock... ✓\n",
            Err(_) => "Releasing lock... ✗ (it expires on its own)\n",
        });
    }
    result
}

/// One change of AWS about to run: what it is, for whom, and how.
pub struct Deployment<'a> {
    /// Recorded as the deployment's operation: `apply`, `rollback`, `destroy`.
    pub operation: &'static str,
    pub loaded: &'a planning::Loaded,
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

fn require_approval(loaded: &planning::Loaded) -> bool {
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
    pub async fn run(
        &self,
        planned: planning::Planned,
        env: &ProcessEnv,
        ui: &Ui,
    ) -> anyhow::Result<Exit> {
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
                ui.json(&json!({"deployment_id": null, "result": "no_changes", "outputs": outputs(&planned.state.map(|s| s.state.components).unwrap_or_default()), "duration_s": self.started.elapsed().as_secs_f64()}));
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

        let t = self.target;
        let mut state = FencedState::open(
            t.backends.store.as_ref(),
            &t.key,
            self.lock,
            jiff::Timestamp::now(),
        )
        .await
        .map_err(super::state::state_error)?;
        let deployment_id = uuid::Uuid::new_v4().to_string();
        let mut record = DeploymentRecord {
            id: deployment_id.clone(),
            version: self.version.clone(),
            by: env.who.clone(),
            operation: self.operation.into(),
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
                self.pieces
                    .iter()
                    .map(|p| (
                        p.id().to_string(),
                        serde_json::to_value(&p.spec).unwrap_or_default()
                    ))
                    .collect::<BTreeMap<_, _>>()
            ),
            pieces: self
                .pieces
                .iter()
                .map(|p| {
                    (
                        p.id().to_string(),
                        RecordedPiece {
                            depends_on: p.depends_on.iter().map(ToString::to_string).collect(),
                            config_files: p.config_files.clone(),
                        },
                    )
                })
                .collect(),
            durations_s: BTreeMap::new(),
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
        let work = jobs(&plan, self.pieces, &loaded.stack, &loaded.environment);
        let outcome = execute(
            work,
            self.reconcilers.clone(),
            &mut state,
            &options,
            progress.clone(),
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
        record.duration_s = Some(self.started.elapsed().as_secs_f64());
        record.durations_s = progress.durations();
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
            ui.out(&self.report(&outcome, &outputs, env));
        }
        if let Err(e) = recorded {
            ui.err(&format!(
                "warning: the deployment record could not be saved: {e}\n"
            ));
        }
        Ok(exit)
    }

    fn report(
        &self,
        outcome: &Outcome,
        outputs: &BTreeMap<String, BTreeMap<String, String>>,
        env: &ProcessEnv,
    ) -> String {
        let loaded = self.loaded;
        let mut text = format!("\n{}\n", "─".repeat(48));
        match outcome {
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
        text.push_str(&format!("\nDuration: {}\n", took(self.started.elapsed())));
        if !self.version.is_empty() {
            text.push_str(&format!("Version: {}\n", self.version));
        }
        text.push_str(&format!("Deployed by: {}\n", env.who));
        if !outputs.is_empty() {
            text.push_str("\nOutputs:\n");
            for (component, values) in outputs {
                for (name, value) in values {
                    text.push_str(&format!("  {component} {name}: {value}\n"));
                }
            }
        }
        if *outcome == Outcome::Success {
            text.push_str(&format!(
                "\nNext steps:\n  • State: panka state show --stack {} --environment {}\n",
                loaded.stack.name, loaded.environment
            ));
        }
        text.push_str(&format!("{}\n", "─".repeat(48)));
        text
    }
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

fn failures(outcome: &Outcome) -> Vec<serde_json::Value> {
    match outcome {
        Outcome::RolledBack { failed } | Outcome::Failed { failed, .. } => failed
            .iter()
            .map(|(id, e)| json!({"component": id.to_string(), "error": e}))
            .collect(),
        _ => Vec::new(),
    }
}
