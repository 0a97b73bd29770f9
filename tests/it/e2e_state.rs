//! The S3 state store, the DynamoDB lock and bootstrap, end to end on a local
//! `moto_server`: the conformance suites of `panka_core::testing`, plus what only the
//! real backends have (object layout, encryption, bucket and table settings, hints).
//!
//! Each test starts its own server and acts in its own account (see `support::moto`).

use std::sync::Arc;
use std::time::Duration;

use crate::support::moto::{MotoServer, REGION, account_clients, test_sdk_config};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveStatus,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use panka_core::state::{
    LockError, LockInfo, LockRequest, StateDocument, StateError, StateKey, StateLock, StateStore,
    layout,
};
use panka_core::testing::{LockPlanter, lock_conformance, state_store_conformance};
use panka_providers::aws::AwsClients;
use panka_providers::bootstrap::{BootstrapError, ResourceStatus, bootstrap};
use panka_providers::lock_dynamodb::{DynamoDbLock, lock_item};
use panka_providers::state_s3::{Encryption, S3StateStore};

const BUCKET: &str = "panka-state-e2e";
const TABLE: &str = "panka-locks-e2e";
/// A KMS key id for SSE-KMS. moto does not check that the key exists (S3 does), so no key
/// is created.
const KMS_KEY_ID: &str = "0b9f3c1e-5a0d-4a8e-9a55-6f0c2f6b1d11";

/// Puts lock items straight into the table, as an operator (or another panka) would.
struct DynamoDbPlanter {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

#[async_trait]
impl LockPlanter for DynamoDbPlanter {
    async fn plant(&self, key: &StateKey, info: &LockInfo) {
        plant(&self.client, &self.table, key, info).await;
    }

    fn expiry_frees_lock(&self) -> bool {
        true
    }
}

/// PutItem of a raw lock item, unconditionally; attribute by attribute, as written by hand.
async fn plant(client: &aws_sdk_dynamodb::Client, table: &str, key: &StateKey, info: &LockInfo) {
    client
        .put_item()
        .table_name(table)
        .item("LockID", AttributeValue::S(key.lock_id()))
        .item("ID", AttributeValue::S(info.id.clone()))
        .item("Who", AttributeValue::S(info.who.clone()))
        .item("Operation", AttributeValue::S(info.operation.clone()))
        .item("Created", AttributeValue::S(info.created.clone()))
        .item("ExpiresAt", AttributeValue::N(info.expires_at.to_string()))
        .send()
        .await
        .unwrap_or_else(|err| panic!("plant {}: {err:?}", key.lock_id()));
}

async fn bootstrapped(clients: &AwsClients) {
    bootstrap(clients, REGION, BUCKET, TABLE)
        .await
        .unwrap_or_else(|err| panic!("bootstrap: {err} (hint: {:?})", err.hint()));
}

fn store(clients: &AwsClients, prefix: &str, encryption: Encryption) -> S3StateStore {
    S3StateStore::new(clients.s3.clone(), BUCKET, prefix, encryption)
}

fn request(who: &str) -> LockRequest {
    LockRequest {
        who: who.to_owned(),
        operation: "apply".to_owned(),
        lease: Duration::from_secs(600),
    }
}

async fn object_keys(clients: &AwsClients, bucket: &str) -> Vec<String> {
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list the bucket");
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn s3_store_passes_the_conformance_suite() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let store = store(&account.clients, "team-a", Encryption::Aes256);
    state_store_conformance(Arc::new(store)).await;
}

#[tokio::test]
async fn s3_store_without_prefix_passes_the_conformance_suite_with_sse_kms() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let key_id = KMS_KEY_ID.to_owned();
    let store = store(&account.clients, "", Encryption::Kms { key_id });
    state_store_conformance(Arc::new(store)).await;
}

#[tokio::test]
async fn dynamodb_lock_passes_the_conformance_suite() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let lock = DynamoDbLock::new(account.clients.dynamodb.clone(), TABLE);
    let planter = DynamoDbPlanter {
        client: account.clients.dynamodb.clone(),
        table: TABLE.to_owned(),
    };
    lock_conformance(Arc::new(lock), Arc::new(planter)).await;
}

#[tokio::test]
async fn bootstrap_creates_the_bucket_and_the_table_then_finds_them() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;

    let first = bootstrap(clients, REGION, BUCKET, TABLE)
        .await
        .expect("first bootstrap");
    assert_eq!(first.bucket.status, ResourceStatus::Created);
    assert_eq!(first.table.status, ResourceStatus::Created);
    assert!(first.bucket_created() && first.table_created());
    assert_eq!(first.bucket.setting("versioning"), Some("Enabled"));
    assert_eq!(first.bucket.setting("default encryption"), Some("AES256"));
    assert_eq!(first.table.setting("key"), Some("LockID (S, HASH)"));
    assert_eq!(first.table.setting("billing mode"), Some("PAY_PER_REQUEST"));
    assert_eq!(first.table.setting("time to live"), Some("ExpiresAt"));

    // The bucket, as S3 reports it.
    let s3 = &clients.s3;
    assert_eq!(
        versioning_status(&moto, &account.account_id, BUCKET),
        "Enabled"
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(BUCKET)
        .send()
        .await
        .expect("encryption");
    let algorithms: Vec<&ServerSideEncryption> = encryption
        .server_side_encryption_configuration()
        .map(|c| c.rules())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm())
        .collect();
    assert_eq!(algorithms, [&ServerSideEncryption::Aes256]);
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .expect("public access block");
    let block = block
        .public_access_block_configuration()
        .expect("a configuration");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );

    // The table, as DynamoDB reports it.
    let dynamodb = &clients.dynamodb;
    let described = dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .expect("describe table");
    let table = described.table().expect("a table");
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(keys, [("LockID", &KeyType::Hash)]);
    let attributes: Vec<(&str, &ScalarAttributeType)> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type()))
        .collect();
    assert_eq!(attributes, [("LockID", &ScalarAttributeType::S)]);
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(TABLE)
        .send()
        .await
        .expect("describe time to live");
    let ttl = ttl.time_to_live_description().expect("a TTL description");
    assert_eq!(ttl.attribute_name(), Some("ExpiresAt"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    // Again: nothing to create, same settings.
    let second = bootstrap(clients, REGION, BUCKET, TABLE)
        .await
        .expect("second bootstrap");
    assert_eq!(second.bucket.status, ResourceStatus::AlreadyExisted);
    assert_eq!(second.table.status, ResourceStatus::AlreadyExisted);
    assert!(!second.bucket_created() && !second.table_created());
    assert_eq!(second.bucket.settings, first.bucket.settings);
    assert_eq!(second.table.settings, first.table.settings);
    assert!(second.table.notes.is_empty(), "{:?}", second.table.notes);
}

#[tokio::test]
async fn bootstrap_outside_us_east_1_names_the_location() {
    let moto = MotoServer::start();
    let (mut settings, account_id) = moto.account_settings();
    settings.region = Some("eu-west-1".to_owned());
    let sdk_config = test_sdk_config(&settings).await;
    let clients = account_clients(&sdk_config, &settings, &account_id);

    let report = bootstrap(&clients, "eu-west-1", BUCKET, TABLE)
        .await
        .expect("bootstrap in eu-west-1");
    assert!(report.bucket_created() && report.table_created());
    let location = clients
        .s3
        .get_bucket_location()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket location");
    assert_eq!(
        location.location_constraint().map(|l| l.as_str()),
        Some("eu-west-1")
    );
}

#[tokio::test]
async fn bootstrap_keeps_an_existing_bucket_and_configures_it() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    account
        .clients
        .s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create the bucket by hand");

    let report = bootstrap(&account.clients, REGION, BUCKET, TABLE)
        .await
        .expect("bootstrap");
    assert_eq!(report.bucket.status, ResourceStatus::AlreadyExisted);
    assert_eq!(report.table.status, ResourceStatus::Created);
    assert_eq!(
        versioning_status(&moto, &account.account_id, BUCKET),
        "Enabled"
    );
}

#[tokio::test]
async fn bootstrap_refuses_a_table_with_another_key() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    create_table_keyed_by_id(&account.clients.dynamodb, TABLE).await;

    let err = bootstrap(&account.clients, REGION, BUCKET, TABLE)
        .await
        .expect_err("the table's key is `id`");
    match &err {
        BootstrapError::TableKeySchema { table, actual } => {
            assert_eq!(table, TABLE);
            assert_eq!(actual, "id (S, HASH)");
        }
        other => panic!("TableKeySchema expected, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(TABLE) && message.contains("id (S, HASH)") && message.contains("`LockID`"),
        "{message}"
    );
}

#[tokio::test]
async fn lock_on_a_table_with_another_key_says_what_key_it_needs() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    create_table_keyed_by_id(&account.clients.dynamodb, TABLE).await;
    let lock = DynamoDbLock::new(account.clients.dynamodb.clone(), TABLE);
    let key = StateKey::new("notification-platform", "development");

    for err in [
        lock.acquire(&key, &request("ana@laptop"))
            .await
            .expect_err("no LockID key"),
        lock.status(&key).await.expect_err("no LockID key"),
    ] {
        let LockError::Backend { message, hint } = &err else {
            panic!("Backend expected, got {err:?}");
        };
        assert!(message.contains(TABLE), "{message}");
        let hint = hint.as_deref().unwrap_or_default();
        assert!(
            hint.starts_with(&format!(
                "table {TABLE} must have the string hash key `LockID`"
            )),
            "{message} / {hint}"
        );
    }
}

#[tokio::test]
async fn s3_store_writes_under_the_prefix_with_the_requested_encryption() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    bootstrapped(clients).await;
    let key = StateKey::new("notification-platform", "development");

    let store = store(clients, "/team-a/", Encryption::Aes256);
    let state = StateDocument::new(&key.stack, &key.environment, jiff::Timestamp::now());
    let version = store.write(&key, &state, None).await.expect("first write");

    let object = "team-a/stacks/notification-platform/development/state.json";
    assert_eq!(object, layout::state_path("team-a", &key));
    assert_eq!(object_keys(clients, BUCKET).await, [object]);
    assert_eq!(store.location(&key), format!("s3://{BUCKET}/{object}"));
    let head = clients
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(object)
        .send()
        .await
        .expect("head the state");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(
        head.e_tag(),
        Some(version.0.as_str()),
        "the version is the ETag"
    );

    let read = store.read(&key).await.expect("read").expect("a state");
    assert_eq!(read.state, state);
    assert_eq!(read.version, version);

    // The bucket is versioned: the replaced state can be restored.
    let mut next = state.clone();
    next.serial = 1;
    store
        .write(&key, &next, Some(&version))
        .await
        .expect("second write");
    let versions = clients
        .s3
        .list_object_versions()
        .bucket(BUCKET)
        .prefix(object)
        .send()
        .await
        .expect("list versions");
    assert_eq!(versions.versions().len(), 2, "{versions:?}");
}

#[tokio::test]
async fn s3_store_puts_with_the_kms_key() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let clients = &account.clients;
    bootstrapped(clients).await;
    let key_id = KMS_KEY_ID.to_owned();
    let key = StateKey::new("notification-platform", "production");
    let store = store(
        clients,
        "",
        Encryption::Kms {
            key_id: key_id.clone(),
        },
    );
    let state = StateDocument::new(&key.stack, &key.environment, jiff::Timestamp::now());
    store.write(&key, &state, None).await.expect("first write");

    let head = clients
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(layout::state_path("", &key))
        .send()
        .await
        .expect("head the state");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    let reported = head.ssekms_key_id().unwrap_or_default();
    assert!(reported.contains(&key_id), "{reported} names {key_id}");
}

#[tokio::test]
async fn a_lost_race_names_both_versions() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let store = store(&account.clients, "", Encryption::Aes256);
    let key = StateKey::new("notification-platform", "staging");

    let mut state = StateDocument::new(&key.stack, &key.environment, jiff::Timestamp::now());
    let v1 = store.write(&key, &state, None).await.expect("first write");
    state.serial = 1;
    let v2 = store
        .write(&key, &state, Some(&v1))
        .await
        .expect("second write");
    state.serial = 2;
    match store.write(&key, &state, Some(&v1)).await {
        Err(StateError::Conflict {
            key: conflict_key,
            expected,
            found,
        }) => {
            assert_eq!(conflict_key, key);
            assert_eq!(expected, format!("version {}", v1.0.trim_matches('"')));
            assert_eq!(found, format!("version {}", v2.0.trim_matches('"')));
        }
        other => panic!("Conflict expected, got {other:?}"),
    }

    // A state deleted behind panka's back: the writer that read it loses too.
    account
        .clients
        .s3
        .delete_object()
        .bucket(BUCKET)
        .key(layout::state_path("", &key))
        .send()
        .await
        .expect("delete the state by hand");
    match store.write(&key, &state, Some(&v2)).await {
        Err(StateError::Conflict { found, .. }) => assert_eq!(found, "no state"),
        other => panic!("Conflict expected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retried_write_that_had_succeeded_is_not_a_conflict() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let store = store(&account.clients, "", Encryption::Aes256);
    let key = StateKey::new("notification-platform", "staging");
    let mut state = StateDocument::new(&key.stack, &key.environment, jiff::Timestamp::now());

    // The same PUT twice, as when the SDK retries a request whose answer was lost: the
    // second is refused by its condition, but the object is exactly what it sent.
    let v1 = store.write(&key, &state, None).await.expect("first write");
    let again = store
        .write(&key, &state, None)
        .await
        .expect("retried first write");
    assert_eq!(again, v1);
    state.serial = 1;
    let v2 = store.write(&key, &state, Some(&v1)).await.expect("update");
    let again = store
        .write(&key, &state, Some(&v1))
        .await
        .expect("retried update");
    assert_eq!(again, v2);

    // Different bytes with the old version still lose.
    state.serial = 2;
    let err = store
        .write(&key, &state, Some(&v1))
        .await
        .expect_err("stale");
    assert!(matches!(err, StateError::Conflict { .. }), "{err:?}");
}

/// Writes `bytes` where team-a's state of `key` lives, as something other than panka would.
async fn put_state_bytes(clients: &AwsClients, key: &StateKey, bytes: &'static [u8]) {
    clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(layout::state_path("team-a", key))
        .body(ByteStream::from_static(bytes))
        .send()
        .await
        .expect("put state bytes");
}

#[tokio::test]
async fn unreadable_state_is_corrupt_not_missing() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let store = store(&account.clients, "team-a", Encryption::Aes256);
    let key = StateKey::new("notification-platform", "development");
    put_state_bytes(
        &account.clients,
        &key,
        b"{\"format_version\": 1, \"lineage\": ",
    )
    .await;

    match store.read(&key).await {
        Err(err @ StateError::Corrupt { .. }) => {
            let StateError::Corrupt { location, .. } = &err else {
                unreachable!()
            };
            assert_eq!(
                location,
                &format!(
                    "s3://{BUCKET}/team-a/stacks/notification-platform/development/state.json"
                )
            );
            assert!(err.hint().is_some_and(|h| h.contains("versioned")));
        }
        other => panic!("Corrupt expected, got {other:?}"),
    }
}

/// A state a newer panka wrote is named by its version, never half-read: reading it as
/// version 1 would drop what the newer format keeps, and the next write would lose it.
#[tokio::test]
async fn a_state_of_an_unknown_format_is_refused_by_version() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let store = store(&account.clients, "team-a", Encryption::Aes256);
    let key = StateKey::new("notification-platform", "development");
    put_state_bytes(
        &account.clients,
        &key,
        br#"{"format_version": 2, "lineage": "l", "serial": "a newer shape"}"#,
    )
    .await;

    let err = store.read(&key).await.expect_err("refused");
    assert!(
        matches!(&err, StateError::UnknownVersion { found, .. } if found == "2"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("has format_version 2; this panka reads format_version 1"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_bucket_or_table_points_to_bootstrap() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    let key = StateKey::new("notification-platform", "development");

    let store = store(&account.clients, "", Encryption::Aes256);
    let state = StateDocument::new(&key.stack, &key.environment, jiff::Timestamp::now());
    let failures = [
        store.read(&key).await.map(|_| ()),
        store.write(&key, &state, None).await.map(|_| ()),
        store.list_deployments(&key, 5).await.map(|_| ()),
    ];
    for failure in failures {
        let err = failure.expect_err("no bucket");
        let StateError::Backend { message, hint } = &err else {
            panic!("Backend expected, got {err:?}");
        };
        assert!(message.contains("NoSuchBucket"), "{message}");
        assert!(message.contains(&format!("s3://{BUCKET}/")), "{message}");
        let hint = hint.as_deref().unwrap_or_default();
        assert!(
            hint.starts_with(&format!("bucket {BUCKET} does not exist"))
                && hint.contains("panka init --bootstrap"),
            "{hint}"
        );
    }

    let lock = DynamoDbLock::new(account.clients.dynamodb.clone(), TABLE);
    let failures = [
        lock.acquire(&key, &request("ana@laptop")).await.map(|_| ()),
        lock.status(&key).await.map(|_| ()),
        lock.renew(&key, "id", Duration::from_secs(60))
            .await
            .map(|_| ()),
        lock.release(&key, "id").await,
    ];
    for failure in failures {
        let err = failure.expect_err("no table");
        let LockError::Backend { message, hint } = &err else {
            panic!("Backend expected, got {err:?}");
        };
        assert!(message.contains("ResourceNotFoundException"), "{message}");
        let hint = hint.as_deref().unwrap_or_default();
        assert!(
            hint.starts_with(&format!("table {TABLE} does not exist"))
                && hint.contains("panka init --bootstrap"),
            "{hint}"
        );
    }
}

#[tokio::test]
async fn hand_written_lock_items_block_until_they_expire() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    bootstrapped(&account.clients).await;
    let dynamodb = &account.clients.dynamodb;
    let lock = DynamoDbLock::new(dynamodb.clone(), TABLE);
    let now = jiff::Timestamp::now().as_second();

    // Live: blocks, and the refusal names the holder.
    let live_key = StateKey::new("notification-platform", "production");
    let mut live = request("operator@bastion").to_info(jiff::Timestamp::now());
    live.operation = "destroy".to_owned();
    live.expires_at = now + 1800;
    plant(dynamodb, TABLE, &live_key, &live).await;
    match lock.acquire(&live_key, &request("ana@laptop")).await {
        Err(LockError::Held { key, holder }) => {
            assert_eq!(key, live_key);
            assert_eq!(holder, live);
        }
        other => panic!("Held expected, got {other:?}"),
    }
    assert_eq!(lock.status(&live_key).await.expect("status"), Some(live));

    // Expired: taken over, and the item now is the new holder's, attribute for attribute.
    let stale_key = StateKey::new("notification-platform", "staging");
    let mut stale = request("crashed@ci").to_info(jiff::Timestamp::now());
    stale.expires_at = now - 60;
    plant(dynamodb, TABLE, &stale_key, &stale).await;
    let taken = lock
        .acquire(&stale_key, &request("ana@laptop"))
        .await
        .expect("an expired lock is taken over");
    assert_eq!(taken.who, "ana@laptop");
    let item = dynamodb
        .get_item()
        .table_name(TABLE)
        .key("LockID", AttributeValue::S(stale_key.lock_id()))
        .consistent_read(true)
        .send()
        .await
        .expect("get the item");
    assert_eq!(item.item(), Some(&lock_item(&stale_key, &taken)));

    // A hand-written item with a mistyped attribute is reported by name.
    let odd_key = StateKey::new("notification-platform", "development");
    dynamodb
        .put_item()
        .table_name(TABLE)
        .item("LockID", AttributeValue::S(odd_key.lock_id()))
        .item("ID", AttributeValue::S("x".to_owned()))
        .item("Who", AttributeValue::S("someone".to_owned()))
        .item("Operation", AttributeValue::S("apply".to_owned()))
        .item(
            "Created",
            AttributeValue::S("2024-01-15T17:05:23Z".to_owned()),
        )
        .item("ExpiresAt", AttributeValue::S("tomorrow".to_owned()))
        .send()
        .await
        .expect("put an odd item");
    let err = lock
        .status(&odd_key)
        .await
        .expect_err("ExpiresAt is a string");
    assert!(err.to_string().contains("`ExpiresAt`"), "{err}");
}

/// A table keyed by `id`, as someone might create by hand.
async fn create_table_keyed_by_id(dynamodb: &aws_sdk_dynamodb::Client, table: &str) {
    dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a table keyed by id");
}

/// The `Status` of the bucket's versioning, read without the SDK: moto 5.2.1 answers
/// GetBucketVersioning with a root element the SDK rejects (`GetBucketVersioningResponse`
/// instead of `VersioningConfiguration`).
fn versioning_status(moto: &MotoServer, account_id: &str, bucket: &str) -> String {
    let (status, body) = moto.raw_get(account_id, &format!("/{bucket}?versioning"));
    assert_eq!(status, 200, "GET /{bucket}?versioning: {body}");
    body.split_once("<Status>")
        .and_then(|(_, rest)| rest.split_once("</Status>"))
        .map(|(value, _)| value.to_owned())
        .unwrap_or_default()
}
