//! The `dynamodb` lock: one item per stack and environment in a table whose string hash
//! key is `LockID`.
//!
//! Item attributes (product.md): `LockID` (S, `stack:<stack>:env:<env>`), `ID` (S, the
//! lock id), `Who` (S), `Operation` (S), `Created` (S, RFC 3339) and `ExpiresAt` (N, epoch
//! seconds; the table's TTL attribute). Every decision is a conditional write checked by
//! DynamoDB against the time the caller sends, never a read followed by a write; TTL only
//! cleans up, late.

use crate::sdk_error::{Failure, Kind};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use panka_core::state::{LockError, LockInfo, LockRequest, StateKey, StateLock};
use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

/// The table's hash key.
pub const LOCK_ID: &str = "LockID";
/// The lock id (a UUID).
pub const ID: &str = "ID";
/// `user@host`.
pub const WHO: &str = "Who";
/// `apply`, `destroy`, `rollback`, …
pub const OPERATION: &str = "Operation";
/// RFC 3339.
pub const CREATED: &str = "Created";
/// Epoch seconds (N); the table's TTL attribute.
pub const EXPIRES_AT: &str = "ExpiresAt";

/// How many times `acquire` puts again when the holder it was refused by is gone (or
/// expired) by the time it reads it.
const ACQUIRE_ATTEMPTS: usize = 3;

/// The lock, in a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoDbLock {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The item of `info` for `key`, with exactly product.md's attributes.
pub fn lock_item(key: &StateKey, info: &LockInfo) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (LOCK_ID.to_owned(), AttributeValue::S(key.lock_id())),
        (ID.to_owned(), AttributeValue::S(info.id.clone())),
        (WHO.to_owned(), AttributeValue::S(info.who.clone())),
        (
            OPERATION.to_owned(),
            AttributeValue::S(info.operation.clone()),
        ),
        (CREATED.to_owned(), AttributeValue::S(info.created.clone())),
        (
            EXPIRES_AT.to_owned(),
            AttributeValue::N(info.expires_at.to_string()),
        ),
    ])
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl DynamoDbLock {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDbLock {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key_attr(key: &StateKey) -> AttributeValue {
        AttributeValue::S(key.lock_id())
    }

    /// Reads the item of `key` with a consistent read.
    async fn get(&self, key: &StateKey) -> Result<Option<LockInfo>, LockError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(LOCK_ID, Self::key_attr(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.backend_error("read", "dynamodb:GetItem", key, &err))?;
        output
            .item()
            .map(|item| parse_item(&self.table, key, item))
            .transpose()
    }

    fn backend_error<E>(
        &self,
        verb: &str,
        action: &str,
        key: &StateKey,
        err: &SdkError<E>,
    ) -> LockError
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        let failure = Failure::from_sdk(err);
        LockError::Backend {
            message: format!(
                "cannot {verb} the lock {} in DynamoDB table {}: {}",
                key.lock_id(),
                self.table,
                failure.detail
            ),
            hint: hint(&failure, &self.table, action),
        }
    }
}

/// The hint for a failed DynamoDB `action` on `table`.
fn hint(failure: &Failure, table: &str, action: &str) -> Option<String> {
    if failure.is_code("ResourceNotFoundException") {
        return Some(format!(
            "table {table} does not exist: run `panka init --bootstrap` to create it, or check \
             the table name and region in the panka configuration"
        ));
    }
    if failure.is_code("ValidationException")
        && failure
            .service_message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("key"))
    {
        return Some(format!(
            "table {table} must have the string hash key `{LOCK_ID}` (and no sort key): \
             create the lock table with `panka init --bootstrap`, or point the configuration \
             at one that has it"
        ));
    }
    if failure.kind == Kind::Service && failure.is_access_denied() {
        return Some(format!(
            "access denied: your AWS identity may not perform {action} on table {table}; \
             allow dynamodb:GetItem, PutItem, UpdateItem and DeleteItem on it in the identity's \
             IAM policy"
        ));
    }
    failure.common_hint()
}

/// Reads a lock item; a missing or mistyped attribute is a [`LockError::Backend`] naming it.
pub fn parse_item(
    table: &str,
    key: &StateKey,
    item: &HashMap<String, AttributeValue>,
) -> Result<LockInfo, LockError> {
    let bad = |attribute: &str, problem: &str| LockError::Backend {
        message: format!(
            "the lock item {} in DynamoDB table {table} {problem} `{attribute}`",
            key.lock_id()
        ),
        hint: Some(format!(
            "a lock item needs the attributes {ID}, {WHO}, {OPERATION}, {CREATED} (strings) and \
             {EXPIRES_AT} (a number of epoch seconds); if it was written by hand, fix it or \
             delete it once nobody is deploying"
        )),
    };
    let string = |attribute: &str| match item.get(attribute) {
        None => Err(bad(attribute, "has no attribute")),
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        Some(_) => Err(bad(attribute, "has a non-string (expected S) attribute")),
    };
    let expires_at = match item.get(EXPIRES_AT) {
        None => return Err(bad(EXPIRES_AT, "has no attribute")),
        Some(AttributeValue::N(n)) => parse_epoch(n)
            .ok_or_else(|| bad(EXPIRES_AT, &format!("has the unreadable number {n:?} in")))?,
        Some(_) => return Err(bad(EXPIRES_AT, "has a non-number (expected N) attribute")),
    };
    Ok(LockInfo {
        id: string(ID)?,
        who: string(WHO)?,
        operation: string(OPERATION)?,
        created: string(CREATED)?,
        expires_at,
    })
}

/// Epoch seconds from a DynamoDB number (an integer, or a decimal cut to whole seconds).
fn parse_epoch(n: &str) -> Option<i64> {
    let n = n.trim();
    n.parse::<i64>().ok().or_else(|| {
        n.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && f.abs() < 1e17)
            .map(|f| f.floor() as i64)
    })
}

#[async_trait]
impl StateLock for DynamoDbLock {
    fn location(&self, key: &StateKey) -> String {
        format!("dynamodb://{}/{}", self.table, key.lock_id())
    }

    async fn acquire(&self, key: &StateKey, request: &LockRequest) -> Result<LockInfo, LockError> {
        for _ in 0..ACQUIRE_ATTEMPTS {
            let info = request.to_info(jiff::Timestamp::now());
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(lock_item(key, &info)))
                // Free when nobody holds it, or when the holder's lease ran out: the lock is
                // free from `ExpiresAt` on (the same instant the in-memory lock uses).
                .condition_expression("attribute_not_exists(#lock_id) OR #expires_at <= :now")
                .expression_attribute_names("#lock_id", LOCK_ID)
                .expression_attribute_names("#expires_at", EXPIRES_AT)
                .expression_attribute_values(":now", AttributeValue::N(now().to_string()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(info),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    match self.get(key).await? {
                        // The SDK retried a put whose first attempt had succeeded (its answer
                        // was lost): the holder is this very request, whose id is new.
                        Some(holder) if holder.id == info.id => return Ok(info),
                        Some(holder) if holder.expires_at > now() => {
                            return Err(LockError::Held {
                                key: key.clone(),
                                holder,
                            });
                        }
                        // Released or expired since the put: try again.
                        _ => continue,
                    }
                }
                Err(err) => return Err(self.backend_error("take", "dynamodb:PutItem", key, &err)),
            }
        }
        Err(LockError::Backend {
            message: format!(
                "the lock {} in DynamoDB table {} changed hands {ACQUIRE_ATTEMPTS} times while \
                 panka tried to take it",
                key.lock_id(),
                self.table
            ),
            hint: Some("try again".to_owned()),
        })
    }

    async fn renew(
        &self,
        key: &StateKey,
        id: &str,
        lease: Duration,
    ) -> Result<LockInfo, LockError> {
        let expires_at = now().saturating_add(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(LOCK_ID, Self::key_attr(key))
            .update_expression("SET #expires_at = :expires_at")
            .condition_expression("#id = :id")
            .expression_attribute_names("#expires_at", EXPIRES_AT)
            .expression_attribute_names("#id", ID)
            .expression_attribute_values(":expires_at", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":id", AttributeValue::S(id.to_owned()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => match output.attributes() {
                Some(item) => parse_item(&self.table, key, item),
                None => Err(LockError::backend(format!(
                    "DynamoDB renewed the lock {} in table {} but returned no attributes",
                    key.lock_id(),
                    self.table
                ))),
            },
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(LockError::Lost {
                    key: key.clone(),
                    id: id.to_owned(),
                })
            }
            Err(err) => Err(self.backend_error("renew", "dynamodb:UpdateItem", key, &err)),
        }
    }

    async fn release(&self, key: &StateKey, id: &str) -> Result<(), LockError> {
        for _ in 0..ACQUIRE_ATTEMPTS {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(LOCK_ID, Self::key_attr(key))
                .condition_expression("#id = :id")
                .expression_attribute_names("#id", ID)
                .expression_attribute_values(":id", AttributeValue::S(id.to_owned()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    match self.get(key).await? {
                        None => return Ok(()),
                        Some(holder) if holder.id != id => {
                            return Err(LockError::IdMismatch {
                                key: key.clone(),
                                given: id.to_owned(),
                                holder,
                            });
                        }
                        // Ours after all (taken back between the two calls): delete again.
                        Some(_) => continue,
                    }
                }
                Err(err) => {
                    return Err(self.backend_error("release", "dynamodb:DeleteItem", key, &err));
                }
            }
        }
        Err(LockError::backend(format!(
            "the lock {} in DynamoDB table {} kept changing while panka released it",
            key.lock_id(),
            self.table
        )))
    }

    async fn status(&self, key: &StateKey) -> Result<Option<LockInfo>, LockError> {
        self.get(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> LockInfo {
        LockInfo {
            id: "0b9f3c1e-5a0d-4a8e-9a55-6f0c2f6b1d11".into(),
            who: "ana@build-7".into(),
            operation: "apply".into(),
            created: "2024-01-15T17:05:23Z".into(),
            expires_at: 1_705_342_000,
        }
    }

    #[test]
    fn item_has_exactly_the_product_attributes() {
        let key = StateKey::new("notification-platform", "production");
        let item = lock_item(&key, &info());
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["Created", "ExpiresAt", "ID", "LockID", "Operation", "Who"]
        );
        assert_eq!(
            item.get("LockID"),
            Some(&AttributeValue::S(
                "stack:notification-platform:env:production".into()
            ))
        );
        assert_eq!(
            item.get("ExpiresAt"),
            Some(&AttributeValue::N("1705342000".into()))
        );
        assert_eq!(parse_item("locks", &key, &item).ok(), Some(info()));
    }

    #[test]
    fn bad_items_name_the_attribute() {
        let key = StateKey::new("s", "e");
        let mut item = lock_item(&key, &info());
        item.remove("Who");
        let err = parse_item("locks", &key, &item).expect_err("Who is missing");
        assert!(err.to_string().contains("`Who`"), "{err}");
        assert!(err.to_string().contains("locks"), "{err}");

        let mut item = lock_item(&key, &info());
        item.insert("ExpiresAt".into(), AttributeValue::S("tomorrow".into()));
        let err = parse_item("locks", &key, &item).expect_err("ExpiresAt is a string");
        assert!(err.to_string().contains("`ExpiresAt`"), "{err}");

        let mut item = lock_item(&key, &info());
        item.insert("ExpiresAt".into(), AttributeValue::N("soon".into()));
        assert!(parse_item("locks", &key, &item).is_err());
    }

    #[test]
    fn epoch_numbers() {
        assert_eq!(parse_epoch("1705342000"), Some(1_705_342_000));
        assert_eq!(parse_epoch("1705342000.75"), Some(1_705_342_000));
        assert_eq!(parse_epoch("1.705342E9"), Some(1_705_342_000));
        assert_eq!(parse_epoch("NaN"), None);
    }

    fn service_failure(code: &str, message: &str) -> Failure {
        Failure {
            kind: Kind::Service,
            status: Some(400),
            code: Some(code.to_owned()),
            service_message: Some(message.to_owned()),
            detail: format!("{code}: {message}"),
        }
    }

    #[test]
    fn hints() {
        let missing = hint(
            &service_failure("ResourceNotFoundException", "Requested resource not found"),
            "panka-locks",
            "dynamodb:PutItem",
        )
        .expect("a hint");
        assert!(
            missing.starts_with("table panka-locks does not exist: run `panka init --bootstrap`")
        );
        let schema = hint(
            &service_failure(
                "ValidationException",
                "The provided key element does not match the schema",
            ),
            "panka-locks",
            "dynamodb:GetItem",
        )
        .expect("a hint");
        assert!(schema.starts_with("table panka-locks must have the string hash key `LockID`"));
    }

    #[tokio::test]
    async fn missing_credentials_get_the_credentials_hint() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let lock = DynamoDbLock::new(aws_sdk_dynamodb::Client::from_conf(config), "locks");
        let err = lock
            .status(&StateKey::new("s", "e"))
            .await
            .expect_err("no credentials, no request");
        let LockError::Backend { message, hint } = err else {
            panic!("backend error expected, got {err:?}");
        };
        assert!(
            message.contains("stack:s:env:e") && message.contains("locks"),
            "{message}"
        );
        assert!(hint.is_some_and(|h| h.starts_with("no AWS credentials found")));
    }
}
