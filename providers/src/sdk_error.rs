//! Reading SDK errors: what kind of failure it was, the service's error code and HTTP
//! status, the whole cause chain as one line, and the hints that apply to every service.
//!
//! `aws_sdk_s3::error::SdkError` is the smithy runtime's `SdkError` shared by every
//! `aws-sdk-*` crate, so the same code reads S3 and DynamoDB errors.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::error::Error;

/// What went wrong, as far as hints are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The service answered with an error (see `code` and `status`).
    Service,
    /// No credentials: no provider is configured, or the provider chain found none.
    NoCredentials,
    /// No answer: connection refused, DNS, TLS.
    Unreachable,
    /// No answer in time.
    Timeout,
    /// Anything else (the request could not be built, the answer could not be read).
    Other,
}

/// One SDK error, read.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub kind: Kind,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// The service's error code, such as `NoSuchBucket` or `ResourceNotFoundException`.
    pub code: Option<String>,
    /// The service's message, when it sent one.
    pub service_message: Option<String>,
    /// The whole cause, on one line.
    pub detail: String,
}

/// Error codes by which AWS rejects credentials that exist but do not work.
const REJECTED_CREDENTIALS: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
    "TokenRefreshRequired",
];

/// Error codes of a missing permission.
const ACCESS_DENIED: &[&str] = &["AccessDenied", "AccessDeniedException", "AllAccessDisabled"];

impl Failure {
    pub fn from_sdk<E>(err: &SdkError<E>) -> Failure
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let chain = cause_chain(err);
        let kind = match err {
            SdkError::ServiceError(_) => Kind::Service,
            SdkError::TimeoutError(_) => Kind::Timeout,
            SdkError::DispatchFailure(d) if d.is_timeout() => Kind::Timeout,
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                if mentions_credentials(&chain) =>
            {
                Kind::NoCredentials
            }
            SdkError::DispatchFailure(d) if d.is_io() => Kind::Unreachable,
            SdkError::DispatchFailure(d) if d.is_user() || d.is_other() => Kind::Unreachable,
            _ => Kind::Other,
        };
        let code = err.code().map(str::to_owned);
        let service_message = err.message().map(str::to_owned);
        let detail = match (kind, &code) {
            (Kind::Service, Some(code)) => {
                let mut detail = code.clone();
                if let Some(message) = &service_message {
                    detail.push_str(": ");
                    detail.push_str(message);
                }
                if let Some(status) = status {
                    detail.push_str(&format!(" (HTTP {status})"));
                }
                detail
            }
            (Kind::Service, None) => match status {
                Some(status) => format!("{chain} (HTTP {status})"),
                None => chain,
            },
            _ => chain,
        };
        Failure {
            kind,
            status,
            code,
            service_message,
            detail,
        }
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn is_access_denied(&self) -> bool {
        (self.status == Some(403) && !self.credentials_rejected())
            || self
                .code
                .as_deref()
                .is_some_and(|c| ACCESS_DENIED.contains(&c))
    }

    pub fn credentials_rejected(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| REJECTED_CREDENTIALS.contains(&c))
    }

    /// The hint for failures that are the same for every service and resource.
    pub fn common_hint(&self) -> Option<String> {
        match self.kind {
            Kind::NoCredentials => Some(
                "no AWS credentials found: set AWS_PROFILE or run `aws sso login` \
                 (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                    .to_owned(),
            ),
            Kind::Unreachable => Some(
                "AWS could not be reached: check the network, the region, and any endpoint URL \
                 in the configuration or AWS_ENDPOINT_URL"
                    .to_owned(),
            ),
            Kind::Timeout => Some("AWS did not answer in time: try again".to_owned()),
            Kind::Service if self.credentials_rejected() => Some(
                "AWS rejected the credentials: refresh them (`aws sso login`) or check AWS_PROFILE"
                    .to_owned(),
            ),
            Kind::Service | Kind::Other => None,
        }
    }
}

/// Error codes meaning "does not exist", across services.
const NOT_FOUND: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBSubnetGroupNotFoundFault",
    "DBParameterGroupNotFound",
    "ReplicationGroupNotFoundFault",
    "CacheSubnetGroupNotFoundFault",
    "CacheClusterNotFound",
    "CacheParameterGroupNotFound",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
    "NoSuchEntity",
    "InvalidGroup.NotFound",
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "ObjectNotFoundException",
];

/// Error codes meaning "already exists".
const ALREADY_EXISTS: &[&str] = &[
    "QueueAlreadyExists",
    "QueueNameExists",
    "BucketAlreadyOwnedByYou",
    "BucketAlreadyExists",
    "DBInstanceAlreadyExists",
    "DBInstanceAlreadyExistsFault",
    "DBSubnetGroupAlreadyExists",
    "DBSubnetGroupAlreadyExistsFault",
    "DBParameterGroupAlreadyExists",
    "ReplicationGroupAlreadyExists",
    "ReplicationGroupAlreadyExistsFault",
    "CacheSubnetGroupAlreadyExists",
    "CacheSubnetGroupAlreadyExistsFault",
    "CacheClusterAlreadyExists",
    "CacheParameterGroupAlreadyExists",
    "DuplicateLoadBalancerName",
    "DuplicateTargetGroupName",
    "EntityAlreadyExists",
    "InvalidGroup.Duplicate",
    "InvalidPermission.Duplicate",
    "ResourceInUseException",
    "ResourceAlreadyExistsException",
];

const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
];

const CONFLICT: &[&str] = &[
    "ConditionalCheckFailedException",
    "PreconditionFailed",
    "ConditionalRequestConflict",
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
    "InvalidReplicationGroupState",
    "InvalidReplicationGroupStateFault",
    "InvalidCacheClusterState",
    "InvalidCacheParameterGroupState",
    "CacheSubnetGroupInUse",
    "DependencyViolation",
    "ResourceInUse",
    "AWS.SimpleQueueService.QueueDeletedRecently",
    "QueueDeletedRecently",
    "OperationAborted",
];

impl Failure {
    /// The engine's classification of this failure.
    pub fn classify(&self) -> panka_core::reconcile::ErrorKind {
        use panka_core::reconcile::ErrorKind;
        let code = self.code.as_deref().unwrap_or("");
        match self.kind {
            Kind::Timeout | Kind::Unreachable => return ErrorKind::Transient,
            Kind::NoCredentials => return ErrorKind::AccessDenied,
            Kind::Service | Kind::Other => {}
        }
        if NOT_FOUND.contains(&code) || self.status == Some(404) {
            ErrorKind::NotFound
        } else if ALREADY_EXISTS.contains(&code) {
            ErrorKind::AlreadyExists
        } else if THROTTLED.contains(&code) || self.status == Some(429) {
            ErrorKind::Throttled
        } else if CONFLICT.contains(&code) || self.status == Some(409) || self.status == Some(412) {
            ErrorKind::Conflict
        } else if self.is_access_denied() || self.credentials_rejected() {
            ErrorKind::AccessDenied
        } else if self.status.is_some_and(|s| s >= 500) {
            ErrorKind::Transient
        } else if self.status.is_some_and(|s| (400..500).contains(&s))
            || code.starts_with("Invalid")
        {
            ErrorKind::Invalid
        } else {
            ErrorKind::Other
        }
    }

    /// A [`panka_core::reconcile::ProviderError`] saying what was being done.
    pub fn into_provider_error(self, doing: &str) -> panka_core::reconcile::ProviderError {
        let kind = self.classify();
        let hint = self.common_hint();
        let error =
            panka_core::reconcile::ProviderError::new(kind, format!("{doing}: {}", self.detail));
        match hint {
            Some(h) => error.with_hint(h),
            None => error,
        }
    }
}

/// Reads an SDK error into a [`panka_core::reconcile::ProviderError`] in one step.
pub(crate) fn provider_error<E>(
    doing: &str,
    err: &SdkError<E>,
) -> panka_core::reconcile::ProviderError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    Failure::from_sdk(err).into_provider_error(doing)
}

fn mentions_credentials(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    lower.contains("credential") || lower.contains("no identity resolver")
}

/// `err` and each of its sources, joined by `: `, leaving out a source whose text the
/// line already holds (many errors repeat their source in their own message).
pub(crate) fn cause_chain(err: &(dyn Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    fn failure(kind: Kind, status: Option<u16>, code: Option<&str>) -> Failure {
        Failure {
            kind,
            status,
            code: code.map(str::to_owned),
            service_message: None,
            detail: code.unwrap_or("failure").to_owned(),
        }
    }

    #[test]
    fn classifies_failures_for_the_engine() {
        use panka_core::reconcile::ErrorKind as E;
        let cases = [
            (
                failure(
                    Kind::Service,
                    Some(400),
                    Some("AWS.SimpleQueueService.NonExistentQueue"),
                ),
                E::NotFound,
            ),
            (
                failure(Kind::Service, Some(404), Some("DBInstanceNotFound")),
                E::NotFound,
            ),
            (
                failure(Kind::Service, Some(400), Some("QueueNameExists")),
                E::AlreadyExists,
            ),
            (
                failure(Kind::Service, Some(400), Some("InvalidGroup.Duplicate")),
                E::AlreadyExists,
            ),
            (
                failure(Kind::Service, Some(400), Some("ThrottlingException")),
                E::Throttled,
            ),
            (
                failure(Kind::Service, Some(503), Some("SlowDown")),
                E::Throttled,
            ),
            (
                failure(Kind::Service, Some(400), Some("DependencyViolation")),
                E::Conflict,
            ),
            (
                failure(Kind::Service, Some(412), Some("PreconditionFailed")),
                E::Conflict,
            ),
            (
                failure(Kind::Service, Some(403), Some("AccessDenied")),
                E::AccessDenied,
            ),
            (
                failure(Kind::Service, Some(400), Some("ExpiredToken")),
                E::AccessDenied,
            ),
            (
                failure(Kind::Service, Some(500), Some("InternalError")),
                E::Transient,
            ),
            (
                failure(Kind::Service, Some(400), Some("InvalidParameterValue")),
                E::Invalid,
            ),
            (failure(Kind::Timeout, None, None), E::Transient),
            (failure(Kind::Unreachable, None, None), E::Transient),
            (failure(Kind::NoCredentials, None, None), E::AccessDenied),
            (failure(Kind::Other, None, None), E::Other),
        ];
        for (f, want) in cases {
            assert_eq!(f.classify(), want, "{:?}", f.code);
        }
        let err =
            failure(Kind::NoCredentials, None, None).into_provider_error("cannot read queue q");
        assert!(err.message.starts_with("cannot read queue q: "));
        assert!(
            err.hint
                .as_deref()
                .is_some_and(|h| h.contains("credentials"))
        );
    }

    #[test]
    fn chain_joins_sources_without_repeating_them() {
        let err = Layer(
            "dispatch failure",
            Some(Box::new(Layer(
                "io error: connection refused",
                Some(Box::new(Layer("connection refused", None))),
            ))),
        );
        assert_eq!(
            cause_chain(&err),
            "dispatch failure: io error: connection refused"
        );
    }

    fn service_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<aws_sdk_s3::operation::get_object::GetObjectError> {
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_sdk_s3::operation::get_object::GetObjectError;
        use aws_sdk_s3::primitives::SdkBody;
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let status = status.try_into().expect("a valid status");
        SdkError::service_error(
            GetObjectError::generic(meta),
            HttpResponse::new(status, SdkBody::empty()),
        )
    }

    #[test]
    fn service_errors_keep_code_message_and_status() {
        let failure = Failure::from_sdk(&service_error(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ));
        assert_eq!(failure.kind, Kind::Service);
        assert!(failure.is_code("NoSuchBucket"));
        assert_eq!(
            failure.detail,
            "NoSuchBucket: The specified bucket does not exist (HTTP 404)"
        );
        assert!(!failure.is_access_denied());
        assert_eq!(failure.common_hint(), None);

        let denied = Failure::from_sdk(&service_error(403, "AccessDenied", "Access Denied"));
        assert!(denied.is_access_denied());
        let expired = Failure::from_sdk(&service_error(
            403,
            "ExpiredToken",
            "The provided token has expired.",
        ));
        assert!(!expired.is_access_denied());
        assert!(
            expired
                .common_hint()
                .is_some_and(|h| h.contains("aws sso login"))
        );
    }

    #[test]
    fn credential_messages_are_recognised() {
        assert!(mentions_credentials(
            "dispatch failure: other: the credential provider was not enabled"
        ));
        assert!(mentions_credentials(
            "failed to select an auth scheme to sign the request with. \"sigv4\" wasn't a valid \
             option because there was no identity resolver for it."
        ));
        assert!(!mentions_credentials(
            "dispatch failure: io error: connection refused"
        ));
    }
}
