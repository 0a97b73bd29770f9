//! The `s3` state backend: state and deployment records as JSON objects in one bucket.
//!
//! Layout (the same for every backend, see `panka_core::state::layout`):
//! `s3://<bucket>/<prefix>stacks/<stack>/<env>/state.json` and
//! `.../<env>/deployments/<start-time>-<id>.json`.
//!
//! Writes of the state are conditional: `If-Match: <ETag>` when replacing the version the
//! writer read, `If-None-Match: *` for the first state. S3 answers `412 Precondition
//! Failed` (or `409 ConditionalRequestConflict` while a concurrent conditional write is in
//! flight) when the condition does not hold, which becomes [`StateError::Conflict`]. Every
//! PUT names its server-side encryption, whatever the bucket's default.
//!
//! The version is the ETag, which for SSE-S3 is the MD5 of the content: two writes of the
//! very same bytes have the same version. That never hides a lost update, because every
//! write panka makes raises the state's serial (and stamps the time), so no two versions
//! of a state have the same bytes.

use crate::sdk_error::{Failure, Kind};
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use futures_util::{StreamExt, TryStreamExt};
use panka_core::state::{
    DeploymentRecord, StateDocument, StateError, StateKey, StateStore, Version, VersionedState,
    decode_state, layout,
};
use std::collections::BTreeSet;
use std::error::Error;

/// The bucket is created versioned (`panka init`), so every earlier state is still there.
const CORRUPT_HINT: &str =
    "restore a previous version of the state object (the bucket is versioned)";

/// How many deployment records [`S3StateStore::list_deployments`] reads at once.
const CONCURRENT_READS: usize = 8;

/// The server-side encryption every PUT asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-S3 (`AES256`): keys managed by S3.
    Aes256,
    /// SSE-KMS with the given key (id, ARN or alias).
    Kms { key_id: String },
}

/// State and deployment records in an S3 bucket, under an optional prefix.
#[derive(Clone, Debug)]
pub struct S3StateStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    encryption: Encryption,
}

impl S3StateStore {
    /// A store in `bucket` under `prefix` (normalised: empty, or ending with one `/`).
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
        encryption: Encryption,
    ) -> Self {
        S3StateStore {
            client,
            bucket: bucket.into(),
            prefix: layout::normalise_prefix(&prefix.into()),
            encryption,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The normalised prefix: empty, or ending with one `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn encryption(&self) -> &Encryption {
        &self.encryption
    }

    /// The object key of the state of `key`.
    pub fn state_object_key(&self, key: &StateKey) -> String {
        layout::state_path(&self.prefix, key)
    }

    fn url(&self, object: &str) -> String {
        format!("s3://{}/{}", self.bucket, object)
    }

    /// A PUT of `body` at `object` with the content type and the encryption settings.
    fn put(
        &self,
        object: &str,
        body: Vec<u8>,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(object)
            .content_type("application/json")
            .body(ByteStream::from(body));
        match &self.encryption {
            Encryption::Aes256 => put.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms { key_id } => put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(key_id),
        }
    }

    /// The ETag of `object` now, `None` when it does not exist.
    async fn current_etag(&self, object: &str) -> Result<Option<String>, StateError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(object)
            .send()
            .await
        {
            Ok(head) => Ok(head.e_tag().map(str::to_owned)),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(self.backend_error("read", "s3:GetObject", object, &err)),
        }
    }

    /// The bytes and ETag of `object` now, `None` when it does not exist.
    async fn current_object(
        &self,
        object: &str,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, StateError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(object)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(self.backend_error("read", "s3:GetObject", object, &err)),
        };
        let etag = output.e_tag().map(str::to_owned);
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|err| StateError::Backend {
                message: format!(
                    "cannot read {}: {}",
                    self.url(object),
                    crate::sdk_error::cause_chain(&err)
                ),
                hint: Some("try again; the connection broke while the object was read".to_owned()),
            })?;
        Ok(Some((bytes.to_vec(), etag)))
    }

    /// Reads and parses one JSON object; `None` when it does not exist.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &StateKey,
        object: &str,
    ) -> Result<Option<(T, Option<String>)>, StateError> {
        let Some((bytes, etag)) = self.current_object(object).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&bytes).map_err(|err| StateError::Corrupt {
            key: key.clone(),
            location: self.url(object),
            reason: err.to_string(),
            hint: CORRUPT_HINT.to_string(),
        })?;
        Ok(Some((value, etag)))
    }

    /// [`StateError::Backend`] for a failed `action` (`s3:GetObject`) on `object`, with
    /// the whole cause and the hint that fits.
    /// The key of every object below `dir`, all pages.
    async fn objects_under(&self, dir: &str) -> Result<Vec<String>, StateError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(dir)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|err| self.backend_error("list", "s3:ListBucket", dir, &err))?;
            objects.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_owned),
            );
        }
        Ok(objects)
    }

    fn backend_error<E>(
        &self,
        verb: &str,
        action: &str,
        object: &str,
        err: &SdkError<E>,
    ) -> StateError
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        let failure = Failure::from_sdk(err);
        StateError::Backend {
            message: format!("cannot {verb} {}: {}", self.url(object), failure.detail),
            hint: hint(&failure, &self.bucket, action),
        }
    }
}

/// The hint for a failed S3 `action` on `bucket`.
fn hint(failure: &Failure, bucket: &str, action: &str) -> Option<String> {
    if failure.is_code("NoSuchBucket") {
        return Some(format!(
            "bucket {bucket} does not exist: run `panka init --bootstrap` to create it, or check \
             the bucket name and region in the panka configuration"
        ));
    }
    if failure.kind == Kind::Service && failure.is_access_denied() {
        let mut hint = format!(
            "access denied: your AWS identity may not perform {action} on bucket {bucket}; \
             allow it in the identity's IAM policy (and the bucket policy, if any)"
        );
        if action == "s3:GetObject" {
            hint.push_str(
                "; without s3:ListBucket, S3 also reports a missing object as access denied",
            );
        }
        if action == "s3:PutObject" {
            hint.push_str("; with SSE-KMS the identity also needs kms:GenerateDataKey on the key");
        }
        return Some(hint);
    }
    failure.common_hint()
}

/// `version <ETag>` (without the ETag's quotes) or `no state`, for conflict messages.
fn describe(etag: Option<&str>) -> String {
    match etag {
        Some(etag) => format!("version {}", etag.trim_matches('"')),
        None => "no state".to_owned(),
    }
}

#[async_trait]
impl StateStore for S3StateStore {
    fn location(&self, key: &StateKey) -> String {
        self.url(&self.state_object_key(key))
    }

    async fn read(&self, key: &StateKey) -> Result<Option<VersionedState>, StateError> {
        let object = self.state_object_key(key);
        let Some((bytes, etag)) = self.current_object(&object).await? else {
            return Ok(None);
        };
        let state = decode_state(&bytes).map_err(|problem| {
            StateError::undecodable(key, self.url(&object), problem, CORRUPT_HINT)
        })?;
        let etag = etag.ok_or_else(|| {
            StateError::backend(format!(
                "S3 returned {} without an ETag, so it cannot be written back conditionally",
                self.url(&object)
            ))
        })?;
        Ok(Some(VersionedState {
            state,
            version: Version(etag),
        }))
    }

    async fn write(
        &self,
        key: &StateKey,
        state: &StateDocument,
        expected: Option<&Version>,
    ) -> Result<Version, StateError> {
        let object = self.state_object_key(key);
        let body = serde_json::to_vec_pretty(state).map_err(|err| {
            StateError::backend(format!("cannot serialise the state of {key}: {err}"))
        })?;
        let put = self.put(&object, body.clone());
        let put = match expected {
            Some(version) => put.if_match(&version.0),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(output) => match output.e_tag() {
                Some(etag) => Ok(Version(etag.to_owned())),
                // Never seen from S3; the version is still needed for the next write.
                None => self
                    .current_etag(&object)
                    .await?
                    .map(Version)
                    .ok_or_else(|| {
                        StateError::backend(format!(
                            "S3 accepted {} but returned no ETag and the object cannot be found",
                            self.url(&object)
                        ))
                    }),
            },
            Err(err) => {
                let failure = Failure::from_sdk(&err);
                let lost_race = failure.status == Some(412)
                    || failure.is_code("PreconditionFailed")
                    // 409: another conditional write to the object was in flight.
                    || failure.is_code("ConditionalRequestConflict")
                    || failure.is_code("OperationAborted")
                    // If-Match on an object that is gone: someone deleted the state.
                    || (expected.is_some() && failure.is_code("NoSuchKey"));
                if !lost_race {
                    return Err(StateError::Backend {
                        message: format!("cannot write {}: {}", self.url(&object), failure.detail),
                        hint: hint(&failure, &self.bucket, "s3:PutObject"),
                    });
                }
                let found = match self.current_object(&object).await {
                    // The SDK retried a PUT whose first attempt had succeeded (its answer
                    // was lost): the object is exactly what this write sent.
                    Ok(Some((bytes, Some(etag)))) if bytes == body => return Ok(Version(etag)),
                    Ok(current) => describe(current.and_then(|(_, etag)| etag).as_deref()),
                    Err(_) => "a newer version".to_owned(),
                };
                Err(StateError::Conflict {
                    key: key.clone(),
                    expected: describe(expected.map(|v| v.0.as_str())),
                    found,
                })
            }
        }
    }

    async fn put_deployment(
        &self,
        key: &StateKey,
        record: &DeploymentRecord,
    ) -> Result<(), StateError> {
        let object = format!(
            "{}{}",
            layout::deployments_dir(&self.prefix, key),
            record.file_name()
        );
        let body = serde_json::to_vec_pretty(record).map_err(|err| {
            StateError::backend(format!(
                "cannot serialise deployment record {}: {err}",
                record.id
            ))
        })?;
        self.put(&object, body)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.backend_error("write", "s3:PutObject", &object, &err))
    }

    async fn deployments_by_id(
        &self,
        key: &StateKey,
        ids: &BTreeSet<String>,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        let dir = layout::deployments_dir(&self.prefix, key);
        let objects: Vec<String> = self
            .objects_under(&dir)
            .await?
            .into_iter()
            .filter(|object| {
                object
                    .strip_prefix(dir.as_str())
                    .and_then(layout::record_id_of)
                    .is_some_and(|id| ids.contains(id))
            })
            .collect();
        let mut records = Vec::new();
        for object in objects {
            if let Some((record, _)) = self.get_json::<DeploymentRecord>(key, &object).await? {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn list_keys(&self) -> Result<Vec<StateKey>, StateError> {
        let objects = self
            .objects_under(&layout::stacks_dir(&self.prefix))
            .await?;
        let mut keys: Vec<StateKey> = objects
            .iter()
            .filter_map(|object| layout::key_of_state_path(&self.prefix, object))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn list_deployments(
        &self,
        key: &StateKey,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, StateError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let dir = layout::deployments_dir(&self.prefix, key);
        let mut objects: Vec<String> = self
            .objects_under(&dir)
            .await?
            .into_iter()
            .filter(|object| {
                // Records only: no folders below, no hidden or temporary files.
                object.strip_prefix(dir.as_str()).is_some_and(|name| {
                    name.ends_with(".json") && !name.starts_with('.') && !name.contains('/')
                })
            })
            .collect();
        objects.sort_unstable_by(|a, b| b.cmp(a));
        objects.truncate(limit);
        let records: Vec<Option<DeploymentRecord>> = futures_util::stream::iter(objects)
            .map(|object| async move {
                self.get_json::<DeploymentRecord>(key, &object)
                    .await
                    .map(|found| found.map(|(record, _)| record))
            })
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        // A record listed and then gone cannot happen (records are never deleted) unless
        // an operator removed it meanwhile; it is left out.
        Ok(records.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    fn client(credentials: bool) -> aws_sdk_s3::Client {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            // Nothing listens on the discard port: connections are refused at once.
            .endpoint_url("http://127.0.0.1:9")
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled());
        if credentials {
            config = config.credentials_provider(Credentials::new("a", "b", None, None, "unit"));
        } else {
            // A provider that finds nothing, like the default chain on a machine without
            // credentials (S3 without any provider would send the request unsigned).
            #[allow(deprecated)] // the replacement type lives in aws-runtime, not a dependency
            let files = aws_config::profile::profile_file::ProfileFiles::builder()
                .with_contents(
                    aws_config::profile::profile_file::ProfileFileKind::Config,
                    "[profile other]\nregion = us-east-1\n",
                )
                .build();
            let nothing = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_files(files)
                .profile_name("panka-no-such-profile")
                .build();
            config = config.credentials_provider(nothing);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }

    fn store(credentials: bool, prefix: &str) -> S3StateStore {
        S3StateStore::new(
            client(credentials),
            "team-state",
            prefix,
            Encryption::Aes256,
        )
    }

    #[test]
    fn keys_follow_the_layout() {
        let key = StateKey::new("notification-platform", "development");
        let store = store(true, "/team-a");
        assert_eq!(store.prefix(), "team-a/");
        assert_eq!(
            store.state_object_key(&key),
            "team-a/stacks/notification-platform/development/state.json"
        );
        assert_eq!(
            store.location(&key),
            "s3://team-state/team-a/stacks/notification-platform/development/state.json"
        );
        assert_eq!(
            self::store(true, "").state_object_key(&key),
            layout::state_path("", &key)
        );
    }

    #[tokio::test]
    async fn missing_credentials_get_the_credentials_hint() {
        let err = store(false, "")
            .read(&StateKey::new("s", "e"))
            .await
            .expect_err("no credentials, no request");
        let StateError::Backend { message, hint } = err else {
            panic!("backend error expected, got {err:?}");
        };
        assert!(
            message.contains("s3://team-state/stacks/s/e/state.json"),
            "{message}"
        );
        let hint = hint.expect("a hint");
        assert!(hint.starts_with("no AWS credentials found"), "{hint}");
        assert!(
            hint.contains("AWS_PROFILE") && hint.contains("aws sso login"),
            "{hint}"
        );
    }

    #[tokio::test]
    async fn unreachable_endpoint_keeps_the_cause() {
        let err = store(true, "")
            .read(&StateKey::new("s", "e"))
            .await
            .expect_err("nothing listens");
        let StateError::Backend { message, hint } = err else {
            panic!("backend error expected, got {err:?}");
        };
        // The whole chain, down to the refused connection.
        assert!(
            message.to_ascii_lowercase().contains("refused"),
            "{message}"
        );
        assert!(hint.is_some_and(|h| h.contains("endpoint URL")));
    }

    fn service_failure(code: &str, status: u16) -> Failure {
        Failure {
            kind: Kind::Service,
            status: Some(status),
            code: Some(code.to_owned()),
            service_message: None,
            detail: code.to_owned(),
        }
    }

    #[test]
    fn hints_name_the_bucket_and_the_action() {
        let missing = hint(&service_failure("NoSuchBucket", 404), "b1", "s3:GetObject");
        assert_eq!(
            missing.as_deref(),
            Some(
                "bucket b1 does not exist: run `panka init --bootstrap` to create it, or check \
                 the bucket name and region in the panka configuration"
            )
        );
        let denied =
            hint(&service_failure("AccessDenied", 403), "b1", "s3:PutObject").expect("a hint");
        assert!(
            denied.contains("s3:PutObject") && denied.contains("bucket b1"),
            "{denied}"
        );
        let expired =
            hint(&service_failure("ExpiredToken", 400), "b1", "s3:PutObject").expect("a hint");
        assert!(expired.contains("aws sso login"), "{expired}");
        assert_eq!(
            hint(&service_failure("InternalError", 500), "b1", "s3:PutObject"),
            None
        );
    }
}
