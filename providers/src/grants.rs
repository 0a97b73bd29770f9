//! What a client of each component kind may do to it: the IAM statements a MicroService's
//! task role gets for every component it references (`valueFrom` or `dependsOn`).
//!
//! One place for every kind, so that a kind added later declares its grants here with
//! one more `match` arm, and least privilege is decided once: exactly the actions a
//! client needs, on exactly that component's resources (named by its outputs).

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

/// What the application needs to use a queue as producer and consumer.
pub const SQS_CLIENT_ACTIONS: [&str; 5] = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
];

/// The statements a client of a `kind` component with `outputs` gets. Empty when the
/// kind grants nothing, or when the output naming its resource is not known yet (the
/// component is not created: its grant appears once it is).
pub fn client_grants(kind: ComponentKind, outputs: &BTreeMap<String, String>) -> Vec<Statement> {
    match kind {
        // Exactly the queue: not its dead-letter queue, which only SQS writes to.
        ComponentKind::Sqs => outputs
            .get("arn")
            .filter(|arn| !arn.is_empty())
            .map(|arn| vec![Statement::allow(SQS_CLIENT_ACTIONS, [arn.as_str()])])
            .unwrap_or_default(),
        // Reached over the network, which the client security group opens; the database
        // password comes through the execution role's secrets. No IAM database auth.
        ComponentKind::Rds => Vec::new(),
        // Reached over the network (client security group); Redis AUTH is not IAM.
        ComponentKind::ElastiCacheRedis => Vec::new(),
        // Services call each other over HTTP through the load balancer, not through AWS.
        ComponentKind::MicroService => Vec::new(),
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
