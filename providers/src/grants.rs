//! What a client of each component kind may do to it: the IAM statements a MicroService's
//! task role gets for every component it references (`valueFrom` or `dependsOn`).
//!
//! Each kind declares its access in its `KindInfo` (`panka_core::kinds`), so least
//! privilege is decided once per kind: exactly the actions a client needs, on exactly
//! that component's resources (named by its outputs).

use panka_core::kinds::ClientAccess;
use panka_core::model::ComponentKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// One `Allow` statement, as the task role's policy holds it and as the plan shows it:
/// actions and resources sorted, without duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// Anything else a live statement holds (a `Deny`, a `Condition`, `NotAction`…),
    /// which panka never writes: read back so that `drift` shows a hand edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<serde_json::Value>,
}

impl Statement {
    pub fn allow<A, R>(actions: A, resources: R) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        let mut actions: Vec<String> = actions.into_iter().map(Into::into).collect();
        let mut resources: Vec<String> = resources.into_iter().map(Into::into).collect();
        actions.sort();
        actions.dedup();
        resources.sort();
        resources.dedup();
        Statement {
            actions,
            resources,
            other: None,
        }
    }
}

pub use panka_core::kinds::SQS_CLIENT_ACTIONS;

/// The statements a client of a `kind` component with `outputs` gets (the kind's
/// [`ClientAccess`]). Empty when the kind grants nothing, or when the output naming its
/// resource is not known yet (the component is not created: its grant appears once it
/// is).
pub fn client_grants(kind: ComponentKind, outputs: &BTreeMap<String, String>) -> Vec<Statement> {
    match kind.info().client_access {
        ClientAccess::Iam {
            actions,
            arn_output,
        } => outputs
            .get(arn_output)
            .filter(|arn| !arn.is_empty())
            .map(|arn| vec![Statement::allow(actions.iter().copied(), [arn.as_str()])])
            .unwrap_or_default(),
        ClientAccess::NetworkOnly { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_grants_its_client_exactly_that_queue() {
        let outputs = BTreeMap::from([
            ("arn".to_string(), "arn:aws:sqs:us-east-1:1:q".to_string()),
            (
                "dlq_arn".to_string(),
                "arn:aws:sqs:us-east-1:1:q-dlq".to_string(),
            ),
            ("url".to_string(), "https://sqs/1/q".to_string()),
        ]);
        let grants = client_grants(ComponentKind::Sqs, &outputs);
        assert_eq!(
            grants,
            [Statement {
                actions: vec![
                    "sqs:ChangeMessageVisibility".into(),
                    "sqs:DeleteMessage".into(),
                    "sqs:GetQueueAttributes".into(),
                    "sqs:ReceiveMessage".into(),
                    "sqs:SendMessage".into(),
                ],
                resources: vec!["arn:aws:sqs:us-east-1:1:q".into()],
                other: None,
            }]
        );
        assert!(client_grants(ComponentKind::Sqs, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn network_reached_kinds_grant_nothing() {
        let outputs = BTreeMap::from([("arn".to_string(), "arn:aws:rds:x".to_string())]);
        for kind in [
            ComponentKind::Rds,
            ComponentKind::ElastiCacheRedis,
            ComponentKind::MicroService,
        ] {
            assert!(client_grants(kind, &outputs).is_empty(), "{kind:?}");
        }
    }
}
