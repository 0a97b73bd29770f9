//! End-to-end tests of `panka_providers`' clients against a local `moto_server`.
//!
//! Each test starts its own server (see `support::moto`), so tests are independent and may
//! run in parallel.

use crate::support::moto::{DEFAULT_ACCOUNT_ID, MotoServer};
use aws_sdk_s3::primitives::ByteStream;
use panka_providers::aws::AwsClients;

/// Creates `bucket`, puts `body` at `key`, and checks that listing and reading it back
/// return exactly that object.
async fn round_trip(clients: &AwsClients, bucket: &str, key: &str, body: &'static [u8]) {
    let s3 = &clients.s3;
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|err| panic!("create bucket {bucket}: {err:?}"));
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap_or_else(|err| panic!("put s3://{bucket}/{key}: {err:?}"));

    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|err| panic!("list s3://{bucket}: {err:?}"));
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key]);

    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|err| panic!("get s3://{bucket}/{key}: {err:?}"));
    let read = object
        .body
        .collect()
        .await
        .expect("read the object body")
        .into_bytes();
    assert_eq!(&read[..], body);
}

async fn bucket_names(clients: &AwsClients) -> Vec<String> {
    let mut names: Vec<String> = clients
        .s3
        .list_buckets()
        .send()
        .await
        .expect("list buckets")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn put_object_then_list_finds_its_key() {
    let moto = MotoServer::start();
    let account = moto.account().await;
    assert!(account.clients.endpoint_overridden());

    round_trip(
        &account.clients,
        "panka-state",
        "stacks/notification-platform/dev.json",
        br#"{"serial":1}"#,
    )
    .await;
}

#[tokio::test]
async fn accounts_do_not_see_each_others_buckets() {
    let moto = MotoServer::start();
    let first = moto.account().await;
    let second = moto.account().await;
    assert_ne!(first.account_id, second.account_id);

    let s3 = &first.clients.s3;
    s3.create_bucket()
        .bucket("panka-first-only")
        .send()
        .await
        .expect("create bucket in the first account");
    second
        .clients
        .s3
        .create_bucket()
        .bucket("panka-second-only")
        .send()
        .await
        .expect("create bucket in the second account");

    assert_eq!(bucket_names(&first.clients).await, ["panka-first-only"]);
    assert_eq!(bucket_names(&second.clients).await, ["panka-second-only"]);

    // Clients without the account header act in moto's default account, which has neither,
    // so the header, not luck, keeps the accounts apart.
    assert_ne!(first.account_id, DEFAULT_ACCOUNT_ID);
    let default_account = AwsClients::new(&first.sdk_config, &first.settings);
    assert_eq!(bucket_names(&default_account).await, Vec::<String>::new());
}

#[tokio::test]
async fn bucket_names_with_dots_work_through_path_style() {
    let moto = MotoServer::start();
    let account = moto.account().await;

    // Virtual-hosted style would send these to `panka.state.e2e.127.0.0.1`, which moto
    // cannot serve; path style puts the bucket in the path.
    round_trip(
        &account.clients,
        "panka.state.e2e",
        "stacks/dev/state.json",
        b"{}",
    )
    .await;
    assert_eq!(bucket_names(&account.clients).await, ["panka.state.e2e"]);
}
