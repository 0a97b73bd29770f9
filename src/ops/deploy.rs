//! Executing a plan under a held lock: the fenced state, the deployment record written
//! when the run starts and again when it ends, and the executor, which Ctrl-C stops after
//! the changes in flight. What apply, rollback and destroy share; the screens around it
//! are the commands'.

use super::target::Target;
use crate::error::UserError;
use panka_core::desired::DesiredPiece;
use panka_core::engine::{EventSink, ExecOptions, Job, Outcome, Report, execute_measured};
use panka_core::plan::Plan;
use panka_core::state::{
    DeploymentRecord, DeploymentResult, FencedState, LockInfo, RecordedPiece, StateError,
};
use panka_providers::reconcilers::Reconcilers;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A deployment whose fenced state is open and whose record says it is in progress.
pub struct Started<'a> {
    target: &'a Target,
    pub state: FencedState<'a>,
    record: DeploymentRecord,
}

/// Opens the state fenced with `lock`, and records the deployment as started: its
/// operation (`apply`, `rollback`, `destroy`), version, who, the plan's summary and what
/// it deploys (`pieces`: every component's spec, dependencies and config files).
pub async fn start<'a>(
    target: &'a Target,
    lock: &LockInfo,
    operation: &str,
    version: &str,
    who: &str,
    plan: &Plan,
    pieces: &[DesiredPiece],
) -> Result<Started<'a>, UserError> {
    let state = FencedState::open(
        target.backends.store.as_ref(),
        &target.key,
        lock,
        jiff::Timestamp::now(),
    )
    .await
    .map_err(UserError::from)?;
    let record = DeploymentRecord {
        id: uuid::Uuid::new_v4().to_string(),
        version: version.to_string(),
        by: who.to_string(),
        operation: operation.into(),
        started_at: panka_core::state::rfc3339_millis(jiff::Timestamp::now()),
        duration_s: None,
        result: DeploymentResult::InProgress,
        plan_summary: BTreeMap::from([
            ("create".to_string(), plan.summary.create as u64),
            ("update".to_string(), plan.summary.update as u64),
            ("replace".to_string(), plan.summary.replace as u64),
            ("delete".to_string(), plan.summary.delete as u64),
        ]),
        spec: json!(
            pieces
                .iter()
                .map(|p| (
                    p.id().to_string(),
                    serde_json::to_value(&p.spec).unwrap_or_default()
                ))
                .collect::<BTreeMap<_, _>>()
        ),
        pieces: pieces
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
    target
        .backends
        .store
        .put_deployment(&target.key, &record)
        .await
        .map_err(UserError::from)?;
    Ok(Started {
        target,
        state,
        record,
    })
}

/// A deployment that ran: its result, what the engine measured, and whether its record
/// could be saved.
pub struct Finished<'a> {
    pub result: DeploymentResult,
    pub report: Report,
    pub duration_s: Option<f64>,
    pub recorded: Result<(), StateError>,
    pub state: FencedState<'a>,
}

impl<'a> Started<'a> {
    pub fn deployment_id(&self) -> &str {
        &self.record.id
    }

    /// Runs `jobs` through the executor, events to `events`; Ctrl-C stops it after the
    /// changes in flight (their state saved).
    pub async fn execute(
        &mut self,
        jobs: Vec<Job>,
        reconcilers: &Arc<Reconcilers>,
        options: &ExecOptions,
        events: Arc<dyn EventSink>,
    ) -> Report {
        let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        let interrupt = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = cancel_tx.send(true);
            }
        });
        let report = execute_measured(
            jobs,
            reconcilers.clone(),
            &mut self.state,
            options,
            events,
            cancel_rx,
        )
        .await;
        interrupt.abort();
        report
    }

    /// Records how the run ended: its result, how long the command took (from
    /// `started`), and each change's duration as the engine measured it.
    pub async fn finish(mut self, report: Report, started: Instant) -> Finished<'a> {
        let result = match &report.outcome {
            Outcome::Success => DeploymentResult::Success,
            Outcome::RolledBack { .. } => DeploymentResult::RolledBack,
            Outcome::Failed { .. } | Outcome::Interrupted => DeploymentResult::Failed,
        };
        self.record.result = result;
        self.record.duration_s = Some(started.elapsed().as_secs_f64());
        self.record.durations_s = report.durations_s.clone();
        let recorded = self
            .target
            .backends
            .store
            .put_deployment(&self.target.key, &self.record)
            .await;
        Finished {
            result,
            report,
            duration_s: self.record.duration_s,
            recorded,
            state: self.state,
        }
    }
}
