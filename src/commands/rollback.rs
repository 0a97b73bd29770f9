//! `panka rollback`: re-applies the recorded spec of an earlier successful deployment
//! through the normal path (lock → plan → approval → execute), recorded as a rollback.

use super::deploy::{Deployment, as_caller, under_lock};
use super::{Exit, planning, target};
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::error::UserError;
use crate::output::Ui;
use crate::settings::ProcessEnv;
use panka_core::reconcile::DeleteOptions;
use panka_core::recorded::pieces_from_record;
use panka_core::state::{DeploymentRecord, DeploymentResult};
use std::time::Instant;

/// How many records rollback looks through for its target.
const HISTORY_DEPTH: usize = 1000;

pub async fn run(
    args: &RollbackArgs,
    global: &GlobalArgs,
    env: &ProcessEnv,
    ui: &Ui,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let loaded = planning::load_for_context(
        args.target.stack.stack.as_deref(),
        args.target.environment.as_ref(),
        global,
        env,
        ui,
    )?;
    let t = target::for_loaded(&loaded, global, env).await?;
    let reconcilers = planning::reconcilers(&loaded, global, env).await;
    let env = &as_caller(env, &loaded, global).await;
    let execution = &args.execution;
    let (t, loaded, reconcilers) = (&t, &loaded, &reconcilers);
    under_lock(
        t,
        "rollback",
        execution.lock_timeout,
        loaded.config.lease,
        env,
        ui,
        |lock| async move {
            // Chosen under the lock, so no apply can slip in between choice and change.
            let records = t
                .backends
                .store
                .list_deployments(&t.key, HISTORY_DEPTH)
                .await
                .map_err(super::state::state_error)?;
            let chosen = choose(&records, args.to.as_deref())?;
            let pieces = pieces_from_record(chosen, &loaded.stack, &loaded.environment)
                .map_err(|e| UserError::new(e.to_string()))?;
            if !ui.is_json() {
                ui.out(&format!(
                    "Rolling back to deployment {} (version {}, {} by {})\n\n",
                    chosen.id,
                    if chosen.version.is_empty() {
                        "-"
                    } else {
                        &chosen.version
                    },
                    chosen.started_at,
                    chosen.by
                ));
            }
            let previous = planning::Loaded {
                stack_dir: loaded.stack_dir.clone(),
                stack: loaded.stack.clone(),
                environment: loaded.environment.clone(),
                pieces,
                config: loaded.config.clone(),
                version: chosen.version.clone(),
            };
            let planned =
                planning::compute(&previous, &t.backends, reconcilers, &t.key, true).await?;
            let deployment = Deployment {
                operation: "rollback",
                loaded: &previous,
                target: t,
                reconcilers,
                lock: &lock,
                execution,
                pieces: &previous.pieces,
                version: previous.version.clone(),
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

/// The record to return to: the one named by `to` (an id, a unique id prefix, or a
/// version: its newest successful deployment), else the last successful deployment before
/// the current one (the newest successful). Destroys are never targets.
fn choose<'a>(
    records: &'a [DeploymentRecord],
    to: Option<&str>,
) -> Result<&'a DeploymentRecord, UserError> {
    let deployable =
        |r: &&DeploymentRecord| r.result == DeploymentResult::Success && r.operation != "destroy";
    match to {
        Some(wanted) => {
            if let Some(exact) = records.iter().find(|r| r.id == wanted) {
                return check_target(exact);
            }
            let by_prefix: Vec<&DeploymentRecord> = records
                .iter()
                .filter(|r| r.id.starts_with(wanted))
                .collect();
            match by_prefix.as_slice() {
                [one] => return check_target(one),
                [] => {}
                many => {
                    return Err(UserError::new(format!(
                        "`{wanted}` matches {} deployments",
                        many.len()
                    ))
                    .hint("give more of the id (`panka history` lists them)"));
                }
            }
            records
                .iter()
                .filter(deployable)
                .find(|r| r.version == wanted)
                .ok_or_else(|| {
                    UserError::new(format!(
                        "no successful deployment has the id or version `{wanted}`"
                    ))
                    .hint("`panka history` lists the deployments")
                })
        }
        None => records.iter().filter(deployable).nth(1).ok_or_else(|| {
            UserError::new("there is no earlier successful deployment to roll back to")
                .hint("`panka history` lists the deployments")
        }),
    }
}

fn check_target(record: &DeploymentRecord) -> Result<&DeploymentRecord, UserError> {
    if record.result != DeploymentResult::Success || record.operation == "destroy" {
        return Err(UserError::new(format!(
            "deployment {} cannot be rolled back to: it was a {} that ended {:?}",
            record.id, record.operation, record.result
        ))
        .hint("choose a successful apply or rollback from `panka history`"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        id: &str,
        version: &str,
        result: DeploymentResult,
        operation: &str,
    ) -> DeploymentRecord {
        DeploymentRecord {
            id: id.into(),
            version: version.into(),
            operation: operation.into(),
            result,
            ..Default::default()
        }
    }

    #[test]
    fn default_target_is_the_success_before_the_newest_success() {
        use DeploymentResult::*;
        let records = [
            record("d4", "v4", RolledBack, "apply"),
            record("d3", "v3", Success, "apply"),
            record("d2", "v2", Failed, "apply"),
            record("d1", "v1", Success, "apply"),
        ];
        assert_eq!(
            choose(&records, None).ok().map(|r| r.id.as_str()),
            Some("d1")
        );
        assert_eq!(
            choose(&records, Some("v3")).ok().map(|r| r.id.as_str()),
            Some("d3")
        );
        assert_eq!(
            choose(&records, Some("d1")).ok().map(|r| r.id.as_str()),
            Some("d1")
        );
        assert!(
            choose(&records, Some("d2")).is_err(),
            "failed deployments are not targets"
        );
        assert!(choose(&records, Some("d")).is_err(), "ambiguous prefix");
        assert!(
            choose(&records[..2], None).is_err(),
            "nothing before the only success"
        );
    }
}
