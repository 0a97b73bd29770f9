//! Choosing where a rollback returns to: an earlier successful deployment, named or the
//! newest whose recorded spec differs from what is deployed.

use crate::error::UserError;
use panka_core::recorded::{deploys_what_is_deployed, same_deployment};
use panka_core::state::{DeploymentRecord, DeploymentResult, StateDocument};

/// The record to return to: the one named by `to` (an id, a unique id prefix, or a
/// version: its newest successful deployment), else the newest successful deployment
/// whose recorded spec differs from what is deployed now (`deployed`), looking no
/// further forward than where the current state came from. Destroys are never targets.
///
/// "Where the state came from" is the newest successful deployment, or, when that was a
/// rollback, the deployment it returned to: so a second rollback goes one step further
/// back instead of undoing the first, and an apply that only repaired drift (same spec)
/// is passed over like the deployment it repeated.
pub fn choose<'a>(
    records: &'a [DeploymentRecord],
    to: Option<&str>,
    deployed: Option<&StateDocument>,
) -> Result<&'a DeploymentRecord, UserError> {
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
                .filter(|r| deployable(r))
                .find(|r| r.version == wanted)
                .ok_or_else(|| {
                    UserError::new(format!(
                        "no successful deployment has the id or version `{wanted}`"
                    ))
                    .hint("`panka history` lists the deployments")
                })
        }
        None => {
            let differs =
                |r: &DeploymentRecord| deployed.is_none_or(|s| !deploys_what_is_deployed(r, s));
            records[starting_point(records)..]
                .iter()
                .filter(|r| deployable(r))
                .find(|r| differs(r))
                .ok_or_else(|| {
                    UserError::new(
                        "nothing to roll back to: no earlier successful deployment differs from what is deployed now",
                    )
                    .hint("`panka history` lists the deployments; `panka rollback --to <id or version>` returns to one of them")
                })
        }
    }
}

/// A successful apply or rollback: something that can be deployed again.
fn deployable(r: &DeploymentRecord) -> bool {
    r.result == DeploymentResult::Success && r.operation != "destroy"
}

/// Where in `records` (newest first) the current state came from: the newest successful
/// deployment, or when it was a rollback, the deployment it returned to — the newest
/// older deployable one with the same spec (records do not name their target, and a
/// spec is what a rollback restores).
fn starting_point(records: &[DeploymentRecord]) -> usize {
    let Some(newest) = records
        .iter()
        .position(|r| r.result == DeploymentResult::Success)
    else {
        return 0;
    };
    if records[newest].operation != "rollback" {
        return newest;
    }
    records
        .iter()
        .enumerate()
        .skip(newest + 1)
        .find(|(_, r)| deployable(r) && same_deployment(r, &records[newest]))
        .map_or(newest, |(i, _)| i)
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
    use panka_core::model::ComponentKind;
    use panka_core::state::{ComponentState, ComponentStatus};
    use serde_json::{Value, json};

    /// A queue's rendered spec; `visibility` tells versions apart.
    fn queue(visibility: u32) -> Value {
        json!({
            "kind": "SQS", "fifo": false, "message_retention_seconds": 345600,
            "visibility_timeout_seconds": visibility, "delay_seconds": 0,
            "max_message_size_bytes": 262144, "receive_wait_time_seconds": 0,
            "content_based_deduplication": false, "dead_letter_queue": null,
        })
    }

    fn record(
        id: &str,
        version: &str,
        result: DeploymentResult,
        operation: &str,
        visibility: u32,
    ) -> DeploymentRecord {
        DeploymentRecord {
            id: id.into(),
            version: version.into(),
            operation: operation.into(),
            result,
            spec: json!({"svc/queue": queue(visibility)}),
            ..Default::default()
        }
    }

    /// What is deployed now: the queue with `visibility`.
    fn deployed(visibility: u32) -> StateDocument {
        let mut state = StateDocument::new("np", "development", jiff::Timestamp::UNIX_EPOCH);
        state.components.insert(
            "svc/queue".into(),
            ComponentState {
                kind: ComponentKind::Sqs,
                physical_ids: Default::default(),
                applied_spec: queue(visibility),
                outputs: Default::default(),
                status: ComponentStatus::Ready,
                updated_at: String::new(),
                deployment_id: "any".into(),
                depends_on: None,
            },
        );
        state
    }

    fn chosen(records: &[DeploymentRecord], state: Option<&StateDocument>) -> Option<String> {
        choose(records, None, state).ok().map(|r| r.id.clone())
    }

    #[test]
    fn the_target_is_the_newest_success_that_differs_from_what_is_deployed() {
        use DeploymentResult::*;
        // v1, v2, then an apply of v2 again that repaired drift: rollback returns to v1.
        let history = [
            record("d3", "v2", Success, "apply", 60),
            record("d2", "v2", Success, "apply", 60),
            record("d1", "v1", Success, "apply", 30),
        ];
        assert_eq!(chosen(&history, Some(&deployed(60))).as_deref(), Some("d1"));

        // Failed and rolled-back attempts and destroys are passed over.
        let history = [
            record("d5", "v4", RolledBack, "apply", 90),
            record("d4", "v3", Failed, "apply", 80),
            record("d3", "", Success, "destroy", 70),
            record("d2", "v2", Success, "apply", 60),
            record("d1", "v1", Success, "apply", 30),
        ];
        assert_eq!(chosen(&history, Some(&deployed(60))).as_deref(), Some("d1"));
        // After the destroy nothing is deployed: the newest deployment differs.
        let nothing = StateDocument::new("np", "development", jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(chosen(&history, Some(&nothing)).as_deref(), Some("d2"));
        assert_eq!(chosen(&history, None).as_deref(), Some("d2"));

        // A state that is not what the newest deployment left (a partial failure with
        // `--on-failure stop`) returns to that deployment.
        assert_eq!(
            chosen(&history[2..], Some(&deployed(45))).as_deref(),
            Some("d2")
        );
    }

    #[test]
    fn a_second_rollback_goes_further_back_instead_of_undoing_the_first() {
        use DeploymentResult::*;
        // v0, v1, v2, v2 again; rollback → v1 (r1).
        let history = [
            record("r1", "v1", Success, "rollback", 30),
            record("d3", "v2", Success, "apply", 60),
            record("d2", "v2", Success, "apply", 60),
            record("d1", "v1", Success, "apply", 30),
            record("d0", "v0", Success, "apply", 10),
        ];
        assert_eq!(chosen(&history, Some(&deployed(30))).as_deref(), Some("d0"));
        // Without v0 there is nothing older that differs: say so rather than flip to v2.
        let err = choose(&history[..4], None, Some(&deployed(30))).expect_err("none");
        assert!(err.to_string().contains("nothing to roll back to"), "{err}");
        // Records that did not succeed after the rollback change nothing.
        let mut later = vec![record("d4", "v3", Failed, "apply", 99)];
        later.extend(history.iter().cloned());
        assert_eq!(chosen(&later, Some(&deployed(30))).as_deref(), Some("d0"));
    }

    #[test]
    fn a_single_deployment_has_nothing_to_roll_back_to() {
        use DeploymentResult::*;
        let history = [record("d1", "v1", Success, "apply", 30)];
        let err = choose(&history, None, Some(&deployed(30))).expect_err("none");
        assert_eq!(
            err.to_string(),
            "nothing to roll back to: no earlier successful deployment differs from what is deployed now"
        );
        assert!(
            err.hint
                .as_deref()
                .is_some_and(|h| h.contains("panka history")),
            "the hint names history: {err:?}"
        );
        assert!(choose(&[], None, None).is_err(), "no history at all");
    }

    #[test]
    fn explicit_targets_by_id_prefix_or_version() {
        use DeploymentResult::*;
        let records = [
            record("d4", "v4", RolledBack, "apply", 40),
            record("d3", "v3", Success, "apply", 30),
            record("d2", "v2", Failed, "apply", 20),
            record("d1", "v1", Success, "apply", 10),
        ];
        let to = |wanted: &str| {
            choose(&records, Some(wanted), Some(&deployed(30)))
                .ok()
                .map(|r| r.id.clone())
        };
        assert_eq!(to("v3").as_deref(), Some("d3"), "even when it is deployed");
        assert_eq!(to("d1").as_deref(), Some("d1"));
        assert_eq!(to("d2"), None, "failed deployments are not targets");
        assert_eq!(to("d"), None, "ambiguous prefix");
        assert_eq!(to("v9"), None, "unknown version");
    }
}
