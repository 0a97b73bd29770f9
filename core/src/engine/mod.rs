//! The executor: runs a plan's changes through the reconcilers, each as soon as what it
//! depends on is done (bounded by the parallelism), waits for readiness, saves state after
//! every finished change, and on failure reverts this run's changes in the failed wave and
//! later ones, in reverse order, through the same machinery. A step that failed in a way a
//! second try can fix (a transient error, throttling, "already exists" after a lost
//! answer) is tried again first (`retry`).
//!
//! The engine never prints: it emits [`Event`]s that the CLI renders.

mod job;
mod report;
mod retry;

pub use job::{EnvRef, Job, inputs_of};
pub use report::Report;

use crate::model::{ComponentId, ComponentKind, ComponentSpec};
use crate::plan::Action;
use crate::reconcile::{
    DeleteOptions, ErrorKind, Inputs, KnownIds, Observed, ProviderError, Readiness, Reconciler,
};
use crate::state::{ComponentState, ComponentStatus, FencedState, StateError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// The reconcilers, by kind (the providers crate implements this over AWS; tests over
/// fakes).
pub trait ReconcilerSet: Send + Sync + 'static {
    fn for_kind(&self, kind: ComponentKind) -> &dyn Reconciler;
}

/// What the engine reports while it works.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    ChangeStarted {
        component: ComponentId,
        action: Action,
        wave: usize,
    },
    Waiting {
        component: ComponentId,
        detail: String,
        progress: Option<u8>,
    },
    ChangeFinished {
        component: ComponentId,
        action: Action,
        elapsed: Duration,
        outputs: BTreeMap<String, String>,
    },
    ChangeFailed {
        component: ComponentId,
        action: Action,
        error: String,
    },
    StateSaved {
        serial: u64,
    },
    RollbackStarted {
        changes: usize,
    },
    RollbackStep {
        component: ComponentId,
        action: Action,
    },
    /// A change of this run was undone; its state is saved.
    RollbackFinished {
        component: ComponentId,
        elapsed: Duration,
    },
    RollbackFailed {
        component: ComponentId,
        error: String,
    },
    /// A step of a change as the reconciler takes it (`crate::progress`).
    Step {
        component: ComponentId,
        step: String,
        state: StepState,
    },
}

/// Where a step of a change is.
#[derive(Clone, Debug, PartialEq)]
pub enum StepState {
    Started,
    /// What AWS says about a long step, with a percentage when it gives one.
    Progress {
        detail: String,
        percent: Option<u8>,
    },
    /// The latest state of one thing under the step (`Task 1` is `PENDING`).
    Item {
        key: String,
        status: String,
    },
    Done {
        elapsed: Duration,
    },
    Failed {
        elapsed: Duration,
    },
}

pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// Revert this run's changes in the failed wave and later ones.
    Rollback,
    /// Leave everything as it is for inspection.
    Stop,
}

#[derive(Clone, Debug)]
pub struct ExecOptions {
    pub parallelism: usize,
    pub on_failure: OnFailure,
    /// How long one component may take to become ready.
    pub ready_timeout: Duration,
    pub poll_interval: Duration,
    pub deployment_id: String,
    pub delete_options: DeleteOptions,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Success,
    /// A change failed and this run's changes were reverted.
    RolledBack {
        failed: Vec<(ComponentId, String)>,
    },
    /// A change failed and was left as is (`--on-failure stop`), or the rollback itself
    /// failed (`rollback_errors`), or state could not be saved.
    Failed {
        failed: Vec<(ComponentId, String)>,
        rollback_errors: Vec<(ComponentId, String)>,
    },
    /// Stopped by the user (Ctrl-C) after in-flight changes finished.
    Interrupted,
}

/// A finished change, kept for rollback.
struct Done {
    index: usize,
    wave: usize,
}

/// Runs `jobs` (in plan order). `previous` is every component's state before this run, to
/// revert to. `cancel` turns true on Ctrl-C.
pub async fn execute(
    jobs: Vec<Job>,
    reconcilers: Arc<dyn ReconcilerSet>,
    state: &mut FencedState<'_>,
    options: &ExecOptions,
    events: Arc<dyn EventSink>,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    execute_measured(jobs, reconcilers, state, options, events, cancel)
        .await
        .outcome
}

/// [`execute`], with what the engine measured: each change's duration, the changes that
/// finished and the last serial saved (what a deployment record and its report need).
pub async fn execute_measured(
    jobs: Vec<Job>,
    reconcilers: Arc<dyn ReconcilerSet>,
    state: &mut FencedState<'_>,
    options: &ExecOptions,
    events: Arc<dyn EventSink>,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> Report {
    let tally = Arc::new(report::Tally::new(events));
    let outcome = run_all(jobs, reconcilers, state, options, tally.clone(), cancel).await;
    tally.report(outcome)
}

async fn run_all(
    jobs: Vec<Job>,
    reconcilers: Arc<dyn ReconcilerSet>,
    state: &mut FencedState<'_>,
    options: &ExecOptions,
    events: Arc<dyn EventSink>,
    mut cancel: tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    let previous: BTreeMap<String, ComponentState> = state.state.components.clone();
    let jobs: Vec<Arc<Job>> = jobs.into_iter().map(Arc::new).collect();
    let mut started: BTreeSet<usize> = BTreeSet::new();
    let mut finished: BTreeSet<ComponentId> = BTreeSet::new();
    let mut done: Vec<Done> = Vec::new();
    // The failed change, its message, its job, and whether it may have changed something
    // (and so is reverted with the others).
    let mut failed: Vec<(ComponentId, String, usize, bool)> = Vec::new();
    let mut save_error: Option<StateError> = None;
    let mut running: JoinSet<(usize, Result<Option<Observed>, ProviderError>, Duration)> =
        JoinSet::new();
    let mut interrupted = false;

    for (index, job) in jobs.iter().enumerate() {
        if job.action == Action::Noop {
            started.insert(index);
            finished.insert(job.ctx.id.clone());
        }
    }

    loop {
        let stopping = !failed.is_empty() || save_error.is_some() || interrupted;
        if !stopping {
            for (index, job) in jobs.iter().enumerate() {
                if running.len() >= options.parallelism.max(1) {
                    break;
                }
                if started.contains(&index) || !job.depends_on.iter().all(|d| finished.contains(d))
                {
                    continue;
                }
                started.insert(index);
                let inputs = job.inputs(&state.state.components);
                let known = known_ids(&state.state.components, &job.ctx.id);
                events.emit(Event::ChangeStarted {
                    component: job.ctx.id.clone(),
                    action: job.action,
                    wave: job.wave,
                });
                let (job, reconcilers, events, options) = (
                    job.clone(),
                    reconcilers.clone(),
                    events.clone(),
                    options.clone(),
                );
                running.spawn(async move {
                    let start = tokio::time::Instant::now();
                    let change = run(
                        &job,
                        job.action,
                        job.desired.as_ref(),
                        &inputs,
                        &known,
                        reconcilers.as_ref(),
                        events.as_ref(),
                        &options,
                    );
                    let result = crate::progress::scope(
                        job.ctx.id.clone(),
                        job.action,
                        events.clone(),
                        change,
                    )
                    .await;
                    (index, result, start.elapsed())
                });
            }
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            changed = cancel.changed(), if !interrupted => {
                if changed.is_err() || *cancel.borrow() {
                    interrupted = true;
                }
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (index, result, elapsed) = match joined {
            Ok(r) => r,
            // A panicking reconciler is a bug; it counts as a failure of an unknown change.
            Err(e) => {
                failed.push((
                    ComponentId::new("?", "?"),
                    format!("internal error: {e}"),
                    0,
                    true,
                ));
                continue;
            }
        };
        let job: &Job = jobs[index].as_ref();
        match result {
            Ok(observed) => {
                record(state, job, observed.as_ref(), &options.deployment_id);
                crate::plan::estimate::remember(
                    &mut state.state.durations_s,
                    job.kind,
                    job.action,
                    elapsed,
                );
                finished.insert(job.ctx.id.clone());
                done.push(Done {
                    index,
                    wave: job.wave,
                });
                events.emit(Event::ChangeFinished {
                    component: job.ctx.id.clone(),
                    action: job.action,
                    elapsed,
                    outputs: observed.map(|o| o.outputs).unwrap_or_default(),
                });
                match state.save(jiff::Timestamp::now()).await {
                    Ok(()) => events.emit(Event::StateSaved {
                        serial: state.state.serial,
                    }),
                    Err(e) => save_error = Some(e),
                }
            }
            Err(err) => {
                events.emit(Event::ChangeFailed {
                    component: job.ctx.id.clone(),
                    action: job.action,
                    error: err.to_string(),
                });
                // A refusal under the ownership policy changed nothing: reverting it
                // would only be refused again.
                let changed_something = err.kind != ErrorKind::Foreign;
                failed.push((
                    job.ctx.id.clone(),
                    err.to_string(),
                    index,
                    changed_something,
                ));
            }
        }
    }

    if let Some(e) = save_error {
        let mut all: Vec<(ComponentId, String)> =
            failed.into_iter().map(|(id, msg, ..)| (id, msg)).collect();
        all.push((ComponentId::new("state", "save"), e.to_string()));
        return Outcome::Failed {
            failed: all,
            rollback_errors: Vec::new(),
        };
    }
    if failed.is_empty() {
        return if interrupted && started.len() < jobs.len() {
            Outcome::Interrupted
        } else {
            Outcome::Success
        };
    }
    let failures: Vec<(ComponentId, String)> = failed
        .iter()
        .map(|(id, msg, ..)| (id.clone(), msg.clone()))
        .collect();
    if options.on_failure == OnFailure::Stop {
        return Outcome::Failed {
            failed: failures,
            rollback_errors: Vec::new(),
        };
    }

    // Revert: this run's finished changes in the failed wave and later ones, plus the
    // failed changes themselves (a half-made create is removed) unless they were refused
    // before changing anything, newest first.
    let first_failed_wave = failed
        .iter()
        .filter_map(|(_, _, i, _)| jobs.get(*i).map(|j| j.wave))
        .min()
        .unwrap_or(0);
    let mut to_revert: Vec<usize> = done
        .iter()
        .filter(|d| d.wave >= first_failed_wave)
        .map(|d| d.index)
        .collect();
    to_revert.reverse();
    to_revert.extend(
        failed
            .iter()
            .filter(|(.., changed_something)| *changed_something)
            .map(|(_, _, i, _)| *i)
            .filter(|i| *i < jobs.len()),
    );
    events.emit(Event::RollbackStarted {
        changes: to_revert.len(),
    });
    let mut rollback_errors = Vec::new();
    for index in to_revert {
        let job: &Job = jobs[index].as_ref();
        let id = job.ctx.id.clone();
        let before = previous.get(&id.to_string());
        let (action, spec) = match (job.action, before) {
            (Action::Create, _) | (_, None) => (Action::Delete, None),
            (_, Some(prior)) => {
                match serde_json::from_value::<ComponentSpec>(prior.applied_spec.clone()) {
                    Ok(spec) => (
                        if job.action == Action::Delete {
                            Action::Create
                        } else {
                            Action::Update
                        },
                        Some(spec),
                    ),
                    Err(e) => {
                        rollback_errors.push((
                            id.clone(),
                            format!("the recorded spec cannot be read back: {e}"),
                        ));
                        continue;
                    }
                }
            }
        };
        events.emit(Event::RollbackStep {
            component: id.clone(),
            action,
        });
        let inputs = job.inputs(&previous);
        let known = known_ids(&state.state.components, &id);
        let change = run(
            job,
            action,
            spec.as_ref(),
            &inputs,
            &known,
            reconcilers.as_ref(),
            events.as_ref(),
            options,
        );
        let reverting = tokio::time::Instant::now();
        let result = crate::progress::scope(id.clone(), action, events.clone(), change).await;
        match result {
            Ok(observed) => {
                match (action, before) {
                    (Action::Delete, _) => {
                        state.state.components.remove(&id.to_string());
                    }
                    (_, Some(prior)) => {
                        let mut restored = prior.clone();
                        if let Some(o) = observed {
                            restored.physical_ids = o.physical_ids;
                            restored.outputs = o.outputs;
                        }
                        state.state.components.insert(id.to_string(), restored);
                    }
                    (_, None) => {}
                }
                if let Err(e) = state.save(jiff::Timestamp::now()).await {
                    rollback_errors.push((id, e.to_string()));
                    break;
                }
                events.emit(Event::StateSaved {
                    serial: state.state.serial,
                });
                events.emit(Event::RollbackFinished {
                    component: id,
                    elapsed: reverting.elapsed(),
                });
            }
            Err(e) => {
                events.emit(Event::RollbackFailed {
                    component: id.clone(),
                    error: e.to_string(),
                });
                rollback_errors.push((id, e.to_string()));
            }
        }
    }
    if rollback_errors.is_empty() {
        Outcome::RolledBack { failed: failures }
    } else {
        Outcome::Failed {
            failed: failures,
            rollback_errors,
        }
    }
}

fn known_ids(components: &BTreeMap<String, ComponentState>, id: &ComponentId) -> KnownIds {
    components
        .get(&id.to_string())
        .map(|c| c.physical_ids.clone())
        .unwrap_or_default()
}

/// Records a finished change in state (not yet saved).
fn record(
    state: &mut FencedState<'_>,
    job: &Job,
    observed: Option<&Observed>,
    deployment_id: &str,
) {
    let key = job.ctx.id.to_string();
    match (job.action, observed, &job.desired) {
        (Action::Delete, _, _) => {
            state.state.components.remove(&key);
        }
        (_, Some(observed), Some(spec)) => {
            state.state.components.insert(
                key,
                ComponentState {
                    kind: job.kind,
                    physical_ids: observed.physical_ids.clone(),
                    applied_spec: serde_json::to_value(spec).unwrap_or_default(),
                    outputs: observed.outputs.clone(),
                    status: ComponentStatus::Ready,
                    updated_at: crate::state::rfc3339(jiff::Timestamp::now()),
                    deployment_id: deployment_id.to_string(),
                    // All of its dependencies (`depends_on` holds only those in this
                    // plan): a later destroy deletes in this order.
                    depends_on: Some(job.reads_outputs_of.iter().map(|d| d.to_string()).collect()),
                },
            );
        }
        _ => {}
    }
}

/// One change: the reconciler call(s), then the wait for readiness.
#[allow(clippy::too_many_arguments)]
async fn run(
    job: &Job,
    action: Action,
    spec: Option<&ComponentSpec>,
    inputs: &Inputs,
    known: &KnownIds,
    reconcilers: &dyn ReconcilerSet,
    events: &dyn EventSink,
    options: &ExecOptions,
) -> Result<Option<Observed>, ProviderError> {
    let r = reconcilers.for_kind(job.kind);
    let ctx = &job.ctx;
    let missing_spec = || {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("no spec to apply for {}", ctx.id),
        )
    };
    // Each step is tried again on failures a retry can fix (see `retry`); a replacement
    // retries its delete and its create separately, so a retried create never deletes again.
    let delete = || r.delete(ctx, known, options.delete_options);
    let observed = match action {
        Action::Noop => return Ok(None),
        Action::Delete => {
            retry::with_retries(ctx, events, delete).await?;
            return Ok(None);
        }
        Action::Create => {
            let spec = spec.ok_or_else(missing_spec)?;
            retry::with_retries(ctx, events, || r.create(ctx, spec, inputs)).await?
        }
        Action::Update => {
            let spec = spec.ok_or_else(missing_spec)?;
            retry::with_retries(ctx, events, || r.update(ctx, spec, inputs)).await?
        }
        Action::Replace => {
            let spec = spec.ok_or_else(missing_spec)?;
            retry::with_retries(ctx, events, delete).await?;
            retry::with_retries(ctx, events, || r.create(ctx, spec, inputs)).await?
        }
    };
    wait_ready(r, ctx, &observed.physical_ids, events, options).await?;
    Ok(Some(observed))
}

async fn wait_ready(
    r: &dyn Reconciler,
    ctx: &crate::reconcile::ResourceContext,
    known: &KnownIds,
    events: &dyn EventSink,
    options: &ExecOptions,
) -> Result<(), ProviderError> {
    let deadline = tokio::time::Instant::now() + options.ready_timeout;
    let mut poll_errors = 0;
    // Most waits end within a second or two (an in-place update, an emulator); long ones
    // (a database, a rollout) settle at the full interval, so polling starts fast and
    // backs off to it rather than always paying one whole interval.
    let mut interval = options.poll_interval.min(FIRST_POLL);
    loop {
        let readiness = match r.poll_ready(ctx, known).await {
            Ok(readiness) => {
                poll_errors = 0;
                readiness
            }
            // A throttled or dropped status call says nothing about the resource: keep
            // waiting, unless it keeps failing.
            Err(error)
                if retry::poll_error_tolerated(&error)
                    && poll_errors + 1 < retry::POLL_ERRORS_TOLERATED
                    && tokio::time::Instant::now() < deadline =>
            {
                poll_errors += 1;
                Readiness::Waiting {
                    detail: format!("status check failed, checking again: {error}"),
                    progress: None,
                }
            }
            Err(error) => return Err(error),
        };
        match readiness {
            Readiness::Ready => return Ok(()),
            Readiness::Failed { reason } => {
                return Err(ProviderError::new(
                    ErrorKind::Other,
                    format!("{} failed: {reason}", ctx.id),
                ));
            }
            Readiness::Waiting { detail, progress } => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ProviderError::new(
                        crate::reconcile::ErrorKind::TimedOut,
                        format!(
                            "{} was not ready after {:?} ({detail})",
                            ctx.id, options.ready_timeout
                        ),
                    ));
                }
                events.emit(Event::Waiting {
                    component: ctx.id.clone(),
                    detail,
                    progress,
                });
                tokio::time::sleep(interval).await;
                interval = (interval * 2).min(options.poll_interval);
            }
        }
    }
}

/// The first wait between readiness checks; it doubles up to `ExecOptions::poll_interval`.
const FIRST_POLL: Duration = Duration::from_millis(250);
