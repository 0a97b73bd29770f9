//! Steps as a reconciler takes them ("Creating DB subnet group", "Waiting for tasks to
//! start"), reported as [`Event::Step`]s without threading a reporter through every
//! `Reconciler` method: the executor scopes a reporter around each change
//! ([`scope`]), and the free functions here find it in a `tokio::task_local!`. Outside a
//! scope (a test calling a reconciler directly, `drift`, `status`) they do nothing.
//!
//! A step is started once and ends once, `Done` or `Failed`, with its elapsed time.
//! [`step`] returns a guard for a step inside one call; [`waiting`] and [`item`] open a step
//! that lives across several readiness polls, ended by [`finish`] or, at the latest, when
//! the change ends (done if the change succeeded, failed otherwise).

use crate::engine::{Event, EventSink, StepState};
use crate::model::ComponentId;
use crate::plan::Action;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

tokio::task_local! {
    static REPORTER: Arc<Reporter>;
}

/// Where the steps of one change go.
struct Reporter {
    component: ComponentId,
    action: Action,
    events: Arc<dyn EventSink>,
    /// Steps opened by [`waiting`] or [`item`], not yet finished, in opening order.
    open: Mutex<Vec<(String, Instant)>>,
}

impl Reporter {
    fn emit(&self, step: &str, state: StepState) {
        self.events.emit(Event::Step {
            component: self.component.clone(),
            step: step.to_string(),
            state,
        });
    }

    fn open_steps(&self) -> std::sync::MutexGuard<'_, Vec<(String, Instant)>> {
        // Poisoned only if a step name's formatting panicked; the list is still usable.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens `step` unless it is open already.
    fn ensure_open(&self, step: &str) {
        let mut open = self.open_steps();
        if !open.iter().any(|(name, _)| name == step) {
            open.push((step.to_string(), Instant::now()));
            drop(open);
            self.emit(step, StepState::Started);
        }
    }

    fn close(&self, step: &str, ok: bool) {
        let mut open = self.open_steps();
        let Some(at) = open.iter().position(|(name, _)| name == step) else {
            return;
        };
        let (_, started) = open.remove(at);
        drop(open);
        let elapsed = started.elapsed();
        self.emit(
            step,
            if ok {
                StepState::Done { elapsed }
            } else {
                StepState::Failed { elapsed }
            },
        );
    }
}

/// Whether a change is in scope: reconcilers skip AWS calls made only to show progress
/// (listing tasks, reading target health) when nobody would see them.
pub fn is_reporting() -> bool {
    REPORTER.try_with(|_| ()).is_ok()
}

fn with_reporter(f: impl FnOnce(&Reporter)) {
    let _ = REPORTER.try_with(|r| f(r));
}

/// Runs `action` on `component` with its steps reported to `events`; steps still open
/// when it ends are closed as done when it succeeded and failed otherwise.
pub async fn scope<T, E, F>(
    component: ComponentId,
    action: Action,
    events: Arc<dyn EventSink>,
    change: F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let reporter = Arc::new(Reporter {
        component,
        action,
        events,
        open: Mutex::new(Vec::new()),
    });
    let result = REPORTER.scope(reporter.clone(), change).await;
    let still_open: Vec<String> = reporter
        .open_steps()
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    for name in still_open {
        reporter.close(&name, result.is_ok());
    }
    result
}

/// A step in progress: reports `Done` on [`Step::done`], `Failed` when dropped without it
/// (an early return with `?`, a cancelled future).
#[must_use = "a step dropped without `done()` is reported as failed"]
pub struct Step {
    name: String,
    started: Instant,
    ended: bool,
}

/// How a step of the change in scope begins, for code shared by create and update:
/// `Creating`, `Updating` (also outside a scope), `Replacing`, `Deleting`.
pub fn verb() -> &'static str {
    REPORTER
        .try_with(|r| match r.action {
            Action::Create => "Creating",
            Action::Replace => "Replacing",
            Action::Delete => "Deleting",
            Action::Update | Action::Noop => "Updating",
        })
        .unwrap_or("Updating")
}

/// Starts the step `name` of the change in scope.
pub fn step(name: impl Into<String>) -> Step {
    let name = name.into();
    with_reporter(|r| r.emit(&name, StepState::Started));
    Step {
        name,
        started: Instant::now(),
        ended: false,
    }
}

impl Step {
    pub fn done(mut self) {
        self.end(true);
    }

    fn end(&mut self, ok: bool) {
        if self.ended {
            return;
        }
        self.ended = true;
        let elapsed = self.started.elapsed();
        with_reporter(|r| {
            r.emit(
                &self.name,
                if ok {
                    StepState::Done { elapsed }
                } else {
                    StepState::Failed { elapsed }
                },
            )
        });
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.end(false);
    }
}

/// Runs `work` as the step `name`: done when it returns `Ok`, failed otherwise.
pub async fn track<T, E>(name: &str, work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let step = step(name);
    let result = work.await;
    if result.is_ok() {
        step.done();
    }
    result
}

/// Progress of the long step `name` (opened now if it is not open): what AWS says
/// (`detail`, e.g. `backing-up`) and a percentage when it gives one.
pub fn waiting(name: &str, detail: impl Into<String>, percent: Option<u8>) {
    with_reporter(|r| {
        r.ensure_open(name);
        r.emit(
            name,
            StepState::Progress {
                detail: detail.into(),
                percent,
            },
        );
    });
}

/// A line under the long step `name` (opened now if it is not open): `key` is what the
/// line is about (`Task 1`, `Attempt 2`), `status` its latest state. Renderers keep the
/// successive states of one key (`PROVISIONING → PENDING → RUNNING`).
pub fn item(name: &str, key: impl Into<String>, status: impl Into<String>) {
    with_reporter(|r| {
        r.ensure_open(name);
        r.emit(
            name,
            StepState::Item {
                key: key.into(),
                status: status.into(),
            },
        );
    });
}

/// Ends the long step `name` as done, if it is open.
pub fn finish(name: &str) {
    with_reporter(|r| r.close(name, true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    impl EventSink for Recorder {
        fn emit(&self, event: Event) {
            if let Ok(mut events) = self.0.lock() {
                events.push(event);
            }
        }
    }

    fn states(recorder: &Recorder) -> Vec<(String, StepState)> {
        recorder
            .0
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| match e {
                Event::Step { step, state, .. } => Some((step, state)),
                _ => None,
            })
            .collect()
    }

    fn id() -> ComponentId {
        ComponentId::new("email-service", "database")
    }

    #[tokio::test(start_paused = true)]
    async fn steps_report_start_and_end_with_elapsed_time() {
        let recorder = Arc::new(Recorder::default());
        let result: Result<(), ()> = scope(id(), Action::Create, recorder.clone(), async {
            assert_eq!(verb(), "Creating");
            let s = step("Creating DB subnet group");
            tokio::time::sleep(Duration::from_secs(15)).await;
            s.done();
            track("Creating parameter group", async {
                tokio::time::sleep(Duration::from_secs(8)).await;
                Ok::<_, ()>(())
            })
            .await?;
            waiting("Waiting for the DB instance", "creating", Some(30));
            item("Waiting for the DB instance", "Task 1", "PENDING");
            tokio::time::sleep(Duration::from_secs(5)).await;
            finish("Waiting for the DB instance");
            finish("never opened");
            Ok(())
        })
        .await;
        assert_eq!(result, Ok(()));
        let secs = |s| StepState::Done {
            elapsed: Duration::from_secs(s),
        };
        assert_eq!(
            states(&recorder),
            vec![
                ("Creating DB subnet group".into(), StepState::Started),
                ("Creating DB subnet group".into(), secs(15)),
                ("Creating parameter group".into(), StepState::Started),
                ("Creating parameter group".into(), secs(8)),
                ("Waiting for the DB instance".into(), StepState::Started),
                (
                    "Waiting for the DB instance".into(),
                    StepState::Progress {
                        detail: "creating".into(),
                        percent: Some(30)
                    }
                ),
                (
                    "Waiting for the DB instance".into(),
                    StepState::Item {
                        key: "Task 1".into(),
                        status: "PENDING".into()
                    }
                ),
                ("Waiting for the DB instance".into(), secs(5)),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_change_fails_its_unfinished_steps() {
        let recorder = Arc::new(Recorder::default());
        let result: Result<(), &str> = scope(id(), Action::Create, recorder.clone(), async {
            waiting("Waiting for tasks to start", "0/2 tasks running", Some(0));
            let _s = step("Creating ECS service");
            Err("boom")
        })
        .await;
        assert_eq!(result, Err("boom"));
        let ended: Vec<(String, StepState)> = states(&recorder)
            .into_iter()
            .filter(|(_, s)| matches!(s, StepState::Failed { .. } | StepState::Done { .. }))
            .collect();
        assert_eq!(
            ended,
            vec![
                (
                    "Creating ECS service".into(),
                    StepState::Failed {
                        elapsed: Duration::ZERO
                    }
                ),
                (
                    "Waiting for tasks to start".into(),
                    StepState::Failed {
                        elapsed: Duration::ZERO
                    }
                ),
            ]
        );
    }

    #[tokio::test]
    async fn outside_a_scope_nothing_happens() {
        let s = step("Creating queue");
        assert_eq!(verb(), "Updating");
        waiting("x", "y", None);
        item("x", "k", "v");
        finish("x");
        s.done();
        assert_eq!(track("t", async { Ok::<_, ()>(3) }).await, Ok(3));
    }
}
