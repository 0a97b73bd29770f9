//! `panka history`: past deployments of a stack and environment, newest first, from the
//! deployment records the state store keeps, with totals over every record.
//!
//! JSON (`--output json`): `{"stack", "environment", "deployments": [{"id", "version",
//! "by", "operation", "started_at", "duration_s", "result"}], "total", "success_rate",
//! "average_duration_s", "counts": {…}}`. `deployments` holds the newest `--limit`
//! records; `total`, `success_rate` (successes among deployments that succeeded, were
//! rolled back or failed, from 0 to 1; `null` when there are none) and
//! `average_duration_s` cover every record.

use super::Exit;
use crate::cli::{GlobalArgs, HistoryArgs};
use crate::contract::{HistoryCounts, HistoryDocument, HistoryEntry};
use crate::error::UserError;
use crate::ops::target;
use crate::output::Ui;
use crate::render::history_table::{self, Totals};
use crate::settings::ProcessEnv;

pub async fn run(
    args: &HistoryArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let t = target::open(&args.target, global, env, ui).await?;
    // Every record: the totals cover all of them, the table only the newest.
    let records = t
        .backends
        .store
        .list_deployments(&t.key, usize::MAX)
        .await
        .map_err(UserError::from)?;
    let totals = Totals::of(&records);
    let shown = &records[..records.len().min(args.limit)];
    if ui.is_json() {
        ui.json(&HistoryDocument {
            stack: &t.key.stack,
            environment: &t.key.environment,
            deployments: shown
                .iter()
                .map(|r| HistoryEntry {
                    id: &r.id,
                    version: &r.version,
                    by: &r.by,
                    operation: &r.operation,
                    started_at: &r.started_at,
                    duration_s: r.duration_s,
                    result: r.result,
                })
                .collect(),
            total: totals.total,
            success_rate: totals
                .success_rate
                .map(|r| (r * 10_000.0).round() / 10_000.0),
            average_duration_s: totals.average_duration_s,
            counts: HistoryCounts {
                success: totals.success,
                rolled_back: totals.rolled_back,
                failed: totals.failed,
                in_progress: totals.in_progress,
                no_changes: totals.no_changes,
            },
        });
        return Ok(Exit::Success);
    }
    if records.is_empty() {
        ui.out(&format!(
            "No deployments of {} ({}) yet: `panka apply` records one each time it runs.\n",
            t.key.stack, t.key.environment
        ));
        return Ok(Exit::Success);
    }
    let this_year = jiff::tz::Offset::UTC
        .to_datetime(jiff::Timestamp::now())
        .year();
    ui.out(&history_table::render(
        &t.key.stack,
        &t.key.environment,
        shown,
        &totals,
        this_year,
    ));
    Ok(Exit::Success)
}
