//! `panka init --bootstrap`: the state bucket and the lock table, created when missing and
//! brought to panka's settings either way. Running it again changes nothing and reports
//! both as already existing.
//!
//! Bucket: versioning on (every state version can be restored), default encryption
//! (SSE-S3 unless the bucket already uses a KMS key, which is kept), public access blocked
//! by all four settings. Table: the string hash key `LockID`, on-demand billing, TTL on
//! `ExpiresAt` (DynamoDB deletes expired lock items, late; the lock never relies on it).

use crate::aws::AwsClients;
use crate::lock_dynamodb::{EXPIRES_AT, LOCK_ID};
use crate::sdk_error::{Failure, Kind};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use serde::Serialize;
use std::error::Error;
use std::time::{Duration, Instant};

/// How often a new table's status is polled.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long a new table may take to become ACTIVE.
const ACTIVE_DEADLINE: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    Created,
    AlreadyExisted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    S3Bucket,
    DynamodbTable,
}

/// One setting as it is after bootstrap, e.g. `versioning` = `Enabled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub name: &'static str,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceReport {
    pub kind: ResourceKind,
    pub name: String,
    pub status: ResourceStatus,
    /// The settings applied (or found and kept), in a stable order.
    pub settings: Vec<Setting>,
    /// Things the user may want to know that did not stop bootstrap.
    pub notes: Vec<String>,
}

impl ResourceReport {
    fn new(kind: ResourceKind, name: &str, status: ResourceStatus) -> Self {
        ResourceReport {
            kind,
            name: name.to_owned(),
            status,
            settings: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.settings.push(Setting {
            name,
            value: value.into(),
        });
    }

    /// The value of the setting `name`, if reported.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BootstrapReport {
    pub region: String,
    pub bucket: ResourceReport,
    pub table: ResourceReport,
}

impl BootstrapReport {
    /// Whether this run created the bucket (false: it already existed).
    pub fn bucket_created(&self) -> bool {
        self.bucket.status == ResourceStatus::Created
    }

    /// Whether this run created the table (false: it already existed).
    pub fn table_created(&self) -> bool {
        self.table.status == ResourceStatus::Created
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The bucket name is taken by another account (names are global), or this identity
    /// may not see the bucket.
    #[error("bucket {bucket} exists but is not accessible to this AWS account: {detail}")]
    BucketNotOurs { bucket: String, detail: String },
    /// The table exists with a key schema a lock cannot use.
    #[error(
        "table {table} has the key {actual}, but panka's lock table needs exactly the string hash key `LockID`"
    )]
    TableKeySchema { table: String, actual: String },
    /// The new table did not become ACTIVE in time.
    #[error("table {table} is still {status} after {}s", .waited.as_secs())]
    TableNotActive {
        table: String,
        status: String,
        waited: Duration,
    },
    /// An AWS call failed; `message` carries the whole cause.
    #[error("{message}")]
    Aws {
        message: String,
        hint: Option<String>,
    },
}

impl BootstrapError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BootstrapError::BucketNotOurs { .. } => Some(
                "S3 bucket names are global: choose another bucket name in the panka \
                 configuration (or use credentials of the account that owns this bucket)"
                    .to_owned(),
            ),
            BootstrapError::TableKeySchema { .. } => Some(
                "choose another table name in the panka configuration and run bootstrap again; \
                 panka does not change or delete an existing table"
                    .to_owned(),
            ),
            BootstrapError::TableNotActive { .. } => {
                Some("run bootstrap again in a minute; it picks up where it stopped".to_owned())
            }
            BootstrapError::Aws { hint, .. } => hint.clone(),
        }
    }
}

/// An [`BootstrapError::Aws`] for `action` (such as `s3:CreateBucket`) on `resource`.
fn aws_error<E>(action: &str, resource: &str, err: &SdkError<E>) -> BootstrapError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let failure = Failure::from_sdk(err);
    let hint = if failure.kind == Kind::Service && failure.is_access_denied() {
        Some(format!(
            "access denied: bootstrap needs {action} on {resource}; run it with an identity \
             that may create and configure the state bucket and the lock table"
        ))
    } else {
        failure.common_hint()
    };
    BootstrapError::Aws {
        message: format!("{action} on {resource} failed: {}", failure.detail),
        hint,
    }
}

fn build_error(what: &str, err: impl std::fmt::Display) -> BootstrapError {
    BootstrapError::Aws {
        message: format!("cannot build the {what} request: {err}"),
        hint: None,
    }
}

/// Creates (when missing) and configures the state `bucket` and the lock `table` in
/// `region`. Idempotent.
pub async fn bootstrap(
    clients: &AwsClients,
    region: &str,
    bucket: &str,
    table: &str,
) -> Result<BootstrapReport, BootstrapError> {
    let bucket = bootstrap_bucket(&clients.s3, region, bucket).await?;
    let table = bootstrap_table(&clients.dynamodb, table).await?;
    Ok(BootstrapReport {
        region: region.to_owned(),
        bucket,
        table,
    })
}

async fn bootstrap_bucket(
    s3: &aws_sdk_s3::Client,
    region: &str,
    bucket: &str,
) -> Result<ResourceReport, BootstrapError> {
    let resource = format!("bucket {bucket}");
    let mut existed = match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(err) => {
            let failure = Failure::from_sdk(&err);
            match failure.status {
                Some(404) => false,
                Some(403) if !failure.credentials_rejected() => {
                    return Err(BootstrapError::BucketNotOurs {
                        bucket: bucket.to_owned(),
                        detail: format!("HeadBucket answered {}", failure.detail),
                    });
                }
                Some(301) => {
                    let actual = err
                        .raw_response()
                        .and_then(|r| r.headers().get("x-amz-bucket-region"))
                        .unwrap_or("another region")
                        .to_owned();
                    return Err(BootstrapError::Aws {
                        message: format!("bucket {bucket} is in {actual}, not in {region}"),
                        hint: Some(format!(
                            "set the region to {actual} in the panka configuration, or choose \
                             another bucket name"
                        )),
                    });
                }
                _ => return Err(aws_error("s3:ListBucket (HeadBucket)", &resource, &err)),
            }
        }
    };

    if !existed {
        let mut create = s3.create_bucket().bucket(bucket);
        // us-east-1 is the default and must not be named as a location constraint.
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
            {
                existed = true;
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_exists()) =>
            {
                return Err(BootstrapError::BucketNotOurs {
                    bucket: bucket.to_owned(),
                    detail: "the name is taken (BucketAlreadyExists)".to_owned(),
                });
            }
            Err(err) => return Err(aws_error("s3:CreateBucket", &resource, &err)),
        }
    }
    let status = if existed {
        ResourceStatus::AlreadyExisted
    } else {
        ResourceStatus::Created
    };
    let mut report = ResourceReport::new(ResourceKind::S3Bucket, bucket, status);

    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|err| aws_error("s3:PutBucketVersioning", &resource, &err))?;
    report.set("versioning", "Enabled");

    // A bucket that already encrypts with a KMS key keeps it: replacing it with SSE-S3
    // would weaken what its owner chose.
    let kept = if existed {
        match s3.get_bucket_encryption().bucket(bucket).send().await {
            Ok(output) => output
                .server_side_encryption_configuration()
                .into_iter()
                .flat_map(|c| c.rules())
                .filter_map(|r| r.apply_server_side_encryption_by_default())
                .find(|d| d.sse_algorithm() != &ServerSideEncryption::Aes256)
                .map(|d| match d.kms_master_key_id() {
                    Some(key) => format!("{} with key {key} (kept)", d.sse_algorithm().as_str()),
                    None => format!("{} (kept)", d.sse_algorithm().as_str()),
                }),
            // No configuration (older buckets, emulators): set ours.
            Err(_) => None,
        }
    } else {
        None
    };
    match kept {
        Some(kept) => report.set("default encryption", kept),
        None => {
            let default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| build_error("PutBucketEncryption", e))?;
            let configuration = ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(default)
                        .build(),
                )
                .build()
                .map_err(|e| build_error("PutBucketEncryption", e))?;
            s3.put_bucket_encryption()
                .bucket(bucket)
                .server_side_encryption_configuration(configuration)
                .send()
                .await
                .map_err(|err| aws_error("s3:PutEncryptionConfiguration", &resource, &err))?;
            report.set("default encryption", "AES256");
        }
    }

    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|err| aws_error("s3:PutBucketPublicAccessBlock", &resource, &err))?;
    report.set(
        "public access block",
        "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets",
    );
    Ok(report)
}

/// `name (TYPE, KEYTYPE)` for each key attribute, e.g. `LockID (S, HASH)`.
pub(crate) fn describe_key(table: &TableDescription) -> String {
    let parts: Vec<String> = table
        .key_schema()
        .iter()
        .map(|k| {
            let name = k.attribute_name();
            let kind = table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == name)
                .map(|d| d.attribute_type().as_str())
                .unwrap_or("?");
            format!("{name} ({kind}, {})", k.key_type().as_str())
        })
        .collect();
    if parts.is_empty() {
        "(none)".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Whether the key is exactly the string hash key `LockID`.
pub(crate) fn has_lock_key(table: &TableDescription) -> bool {
    matches!(table.key_schema(), [k] if k.attribute_name() == LOCK_ID && k.key_type() == &KeyType::Hash)
        && table
            .attribute_definitions()
            .iter()
            .any(|d| d.attribute_name() == LOCK_ID && d.attribute_type() == &ScalarAttributeType::S)
}

async fn describe_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Option<TableDescription>, BootstrapError> {
    match dynamodb.describe_table().table_name(table).send().await {
        Ok(output) => Ok(output.table),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(aws_error(
            "dynamodb:DescribeTable",
            &format!("table {table}"),
            &err,
        )),
    }
}

async fn bootstrap_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<ResourceReport, BootstrapError> {
    let resource = format!("table {table}");
    let (status, mut description) = match describe_table(dynamodb, table).await? {
        Some(description) => (ResourceStatus::AlreadyExisted, description),
        None => {
            let created = dynamodb
                .create_table()
                .table_name(table)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(LOCK_ID)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| build_error("CreateTable", e))?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(LOCK_ID)
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(|e| build_error("CreateTable", e))?,
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await;
            match created {
                Ok(output) => match output.table_description {
                    Some(description) => (ResourceStatus::Created, description),
                    None => match describe_table(dynamodb, table).await? {
                        Some(description) => (ResourceStatus::Created, description),
                        None => {
                            return Err(BootstrapError::Aws {
                                message: format!("table {table} was created but cannot be found"),
                                hint: Some("run bootstrap again".to_owned()),
                            });
                        }
                    },
                },
                // Created by someone else in the meantime.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) =>
                {
                    match describe_table(dynamodb, table).await? {
                        Some(description) => (ResourceStatus::AlreadyExisted, description),
                        None => return Err(aws_error("dynamodb:CreateTable", &resource, &err)),
                    }
                }
                Err(err) => return Err(aws_error("dynamodb:CreateTable", &resource, &err)),
            }
        }
    };
    if !has_lock_key(&description) {
        return Err(BootstrapError::TableKeySchema {
            table: table.to_owned(),
            actual: describe_key(&description),
        });
    }

    let started = Instant::now();
    while description.table_status() != Some(&TableStatus::Active) {
        if started.elapsed() >= ACTIVE_DEADLINE {
            return Err(BootstrapError::TableNotActive {
                table: table.to_owned(),
                status: description
                    .table_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "without a status".to_owned()),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
        description =
            describe_table(dynamodb, table)
                .await?
                .ok_or_else(|| BootstrapError::Aws {
                    message: format!("table {table} disappeared while bootstrap waited for it"),
                    hint: Some("run bootstrap again".to_owned()),
                })?;
    }

    let mut report = ResourceReport::new(ResourceKind::DynamodbTable, table, status);
    report.set("key", describe_key(&description));
    let billing = description
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_owned())
        // A table without a billing summary has always been provisioned.
        .unwrap_or_else(|| BillingMode::Provisioned.as_str().to_owned());
    report.set("billing mode", billing);

    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|err| aws_error("dynamodb:DescribeTimeToLive", &resource, &err))?;
    let ttl = ttl.time_to_live_description();
    let ttl_status = ttl.and_then(|t| t.time_to_live_status());
    let ttl_attribute = ttl.and_then(|t| t.attribute_name());
    let on = matches!(
        ttl_status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    match (on, ttl_attribute) {
        (true, Some(EXPIRES_AT)) => report.set("time to live", EXPIRES_AT),
        (true, other) => {
            report.set("time to live", other.unwrap_or("?"));
            report.notes.push(format!(
                "time to live is on for attribute {} rather than {EXPIRES_AT}: expired locks \
                 stay in the table until released or taken over (panka checks expiry itself)",
                other.unwrap_or("?")
            ));
        }
        (false, _) if ttl_status == Some(&TimeToLiveStatus::Disabling) => {
            report.set("time to live", "disabling");
            report.notes.push(format!(
                "time to live is being turned off; run bootstrap again later to turn it on for \
                 {EXPIRES_AT}"
            ));
        }
        (false, _) => {
            let specification = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(EXPIRES_AT)
                .build()
                .map_err(|e| build_error("UpdateTimeToLive", e))?;
            match dynamodb
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(specification)
                .send()
                .await
            {
                Ok(_) => {}
                Err(err)
                    if err.code() == Some("ValidationException")
                        && err.message().is_some_and(|m| {
                            m.to_ascii_lowercase().contains("already enabled")
                        }) => {}
                Err(err) => return Err(aws_error("dynamodb:UpdateTimeToLive", &resource, &err)),
            }
            report.set("time to live", EXPIRES_AT);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[(&str, KeyType, ScalarAttributeType)]) -> TableDescription {
        let mut builder = TableDescription::builder();
        for (name, key_type, attribute_type) in keys {
            builder = builder
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(*name)
                        .key_type(key_type.clone())
                        .build()
                        .expect("key"),
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(*name)
                        .attribute_type(attribute_type.clone())
                        .build()
                        .expect("attribute"),
                );
        }
        builder.build()
    }

    #[test]
    fn only_the_string_hash_key_lock_id_fits() {
        let good = table(&[("LockID", KeyType::Hash, ScalarAttributeType::S)]);
        assert!(has_lock_key(&good));
        assert_eq!(describe_key(&good), "LockID (S, HASH)");

        let other_name = table(&[("id", KeyType::Hash, ScalarAttributeType::S)]);
        assert!(!has_lock_key(&other_name));
        assert_eq!(describe_key(&other_name), "id (S, HASH)");

        let number = table(&[("LockID", KeyType::Hash, ScalarAttributeType::N)]);
        assert!(!has_lock_key(&number));

        let with_sort = table(&[
            ("LockID", KeyType::Hash, ScalarAttributeType::S),
            ("Digest", KeyType::Range, ScalarAttributeType::S),
        ]);
        assert!(!has_lock_key(&with_sort));
        assert_eq!(
            describe_key(&with_sort),
            "LockID (S, HASH), Digest (S, RANGE)"
        );
    }

    #[test]
    fn errors_say_what_to_do() {
        let err = BootstrapError::TableKeySchema {
            table: "locks".into(),
            actual: "id (S, HASH)".into(),
        };
        assert_eq!(
            err.to_string(),
            "table locks has the key id (S, HASH), but panka's lock table needs exactly the \
             string hash key `LockID`"
        );
        assert!(err.hint().is_some());
        let err = BootstrapError::BucketNotOurs {
            bucket: "b".into(),
            detail: "HeadBucket answered 403".into(),
        };
        assert!(err.hint().is_some_and(|h| h.contains("global")));
    }
}
