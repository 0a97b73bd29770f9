//! "Describe it, or `None` when it does not exist": the one shape every lookup by name
//! takes (DB instances, subnet and parameter groups, replication groups, cache clusters).
//!
//! AWS answers a describe of a missing resource with an error (a typed `…NotFoundFault`),
//! never with an empty list, so each lookup has to turn exactly that error into `None`
//! and every other one into a [`ProviderError`] saying what was being looked up.

use crate::sdk_error::provider_error;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use panka_core::reconcile::{ErrorKind, ProviderError};
use std::error::Error;
use std::future::Future;

/// Which errors mean "it does not exist".
pub(crate) enum Missing<E> {
    /// Only the operation's typed fault, such as `is_db_subnet_group_not_found_fault`.
    Fault(fn(&E) -> bool),
    /// The typed fault, or any error classified [`ErrorKind::NotFound`] (a 404 or a
    /// known not-found code): for lookups whose service is known to answer a missing
    /// resource in more than one way.
    FaultOrNotFound(fn(&E) -> bool),
}

// By hand: a derive would ask `E: Copy`, which no error type is.
impl<E> Clone for Missing<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Missing<E> {}

/// Awaits `request`; returns `pick(output)` on success, `None` when the error is one
/// `missing` accepts, and otherwise the error with `doing` (such as "cannot describe DB
/// subnet group x") in front of its cause.
pub(crate) async fn or_none<O, E, T>(
    request: impl Future<Output = Result<O, SdkError<E>>>,
    missing: Missing<E>,
    doing: impl FnOnce() -> String,
    pick: impl FnOnce(&O) -> Option<T>,
) -> Result<Option<T>, ProviderError>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let err = match request.await {
        Ok(output) => return Ok(pick(&output)),
        Err(err) => err,
    };
    let (Missing::Fault(is_missing) | Missing::FaultOrNotFound(is_missing)) = missing;
    if err.as_service_error().is_some_and(is_missing) {
        return Ok(None);
    }
    let error = provider_error(&doing(), &err);
    match missing {
        Missing::FaultOrNotFound(_) if error.kind == ErrorKind::NotFound => Ok(None),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::error::ErrorMetadata;
    use aws_sdk_rds::operation::describe_db_subnet_groups::{
        DescribeDBSubnetGroupsError, DescribeDbSubnetGroupsOutput,
    };
    use aws_sdk_rds::types::DbSubnetGroup;
    use aws_sdk_rds::types::error::DbSubnetGroupNotFoundFault;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn generic(code: &str) -> DescribeDBSubnetGroupsError {
        DescribeDBSubnetGroupsError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("no such thing")
                .build(),
        )
    }

    async fn lookup(
        client: &aws_sdk_rds::Client,
        missing: Missing<DescribeDBSubnetGroupsError>,
    ) -> Result<Option<String>, ProviderError> {
        or_none(
            client
                .describe_db_subnet_groups()
                .db_subnet_group_name("g")
                .send(),
            missing,
            || "cannot describe DB subnet group g".to_string(),
            |out: &DescribeDbSubnetGroupsOutput| {
                out.db_subnet_groups()
                    .first()
                    .and_then(|g| g.db_subnet_group_name())
                    .map(str::to_string)
            },
        )
        .await
    }

    #[tokio::test]
    async fn found_missing_and_failing_lookups() {
        let rule = mock!(aws_sdk_rds::Client::describe_db_subnet_groups)
            .sequence()
            .output(|| {
                DescribeDbSubnetGroupsOutput::builder()
                    .db_subnet_groups(DbSubnetGroup::builder().db_subnet_group_name("g").build())
                    .build()
            })
            .error(|| {
                DescribeDBSubnetGroupsError::DbSubnetGroupNotFoundFault(
                    DbSubnetGroupNotFoundFault::builder().build(),
                )
            })
            .error(|| generic("AccessDenied"))
            .error(|| generic("ResourceNotFoundException"))
            .error(|| generic("ResourceNotFoundException"))
            .build();
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule]);
        let fault = Missing::Fault(DescribeDBSubnetGroupsError::is_db_subnet_group_not_found_fault);
        let lenient = Missing::FaultOrNotFound(
            DescribeDBSubnetGroupsError::is_db_subnet_group_not_found_fault,
        );

        assert_eq!(
            lookup(&client, fault).await.expect("found"),
            Some("g".into())
        );
        assert_eq!(lookup(&client, fault).await.expect("missing"), None);
        let denied = lookup(&client, fault).await.expect_err("denied");
        assert_eq!(denied.kind, ErrorKind::AccessDenied);
        assert!(
            denied
                .message
                .starts_with("cannot describe DB subnet group g: AccessDenied"),
            "{}",
            denied.message
        );
        // Another not-found code is an error unless the lookup is lenient.
        let strict = lookup(&client, fault).await.expect_err("strict");
        assert_eq!(strict.kind, ErrorKind::NotFound);
        assert_eq!(lookup(&client, lenient).await.expect("lenient"), None);
        assert_eq!(rule.num_calls(), 5);
    }
}
