//! panka under injected AWS faults: the fault proxy's errors are ones the SDK retries, and
//! the walkthrough's development apply through a proxy faulting 20 % of all calls succeeds
//! with no duplicate resource and state equal to what AWS holds.
//!
//! `PANKA_FAULT_SEED` picks the fault sequence (default 1); `PANKA_FAULT_RATE` the rate
//! (default 0.2). docs/reliability.md has the figures.

use std::time::Duration;

use crate::support::deployment::{
    self, Inventory, Repo, assert_state_matches, create_secret, env_or, run, success_json, text,
};
use crate::support::moto::{MotoServer, unique_account_id};
use crate::support::proxy::{FaultConfig, FaultProxy, Stats};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use panka_providers::aws::{AwsClients, AwsSettings, load_sdk_config_with};

/// Clients that reach moto through `proxy` (which picks the account), with `retry`.
async fn proxied_clients(proxy: &FaultProxy, retry: RetryConfig) -> AwsClients {
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(proxy.endpoint()),
    };
    let sdk = load_sdk_config_with(&settings, |loader| {
        loader
            .empty_test_environment()
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(retry)
    })
    .await;
    AwsClients::new(&sdk, &settings)
}

/// For every fault the proxy injects before forwarding, a call of each AWS protocol panka
/// uses (JSON 1.0, JSON 1.1, query, EC2 query, REST-XML) fails with the protocol's error
/// code after exactly three attempts: the SDK read the error and classified it retryable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_are_errors_the_sdk_retries() {
    let moto = MotoServer::start();
    let account = unique_account_id();
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1));
    // (fault, expected code per protocol: sqs, ecs, rds, ec2, s3)
    let cases: [(&str, FaultConfig, [Option<&str>; 5]); 4] = [
        (
            "throttle",
            FaultConfig {
                throttle: 1.0,
                ..FaultConfig::default()
            },
            [
                Some("ThrottlingException"),
                Some("ThrottlingException"),
                Some("Throttling"),
                Some("RequestLimitExceeded"),
                Some("SlowDown"),
            ],
        ),
        (
            "slow_down",
            FaultConfig {
                slow_down: 1.0,
                ..FaultConfig::default()
            },
            [Some("SlowDown"); 5],
        ),
        (
            "internal_error",
            FaultConfig {
                internal_error: 1.0,
                ..FaultConfig::default()
            },
            [
                Some("InternalFailure"),
                Some("InternalFailure"),
                Some("InternalError"),
                Some("InternalError"),
                Some("InternalError"),
            ],
        ),
        (
            "reset",
            FaultConfig {
                reset: 1.0,
                ..FaultConfig::default()
            },
            [None; 5],
        ),
    ];
    for (fault, config, codes) in cases {
        let proxy = FaultProxy::start(&moto.endpoint(), config.with_account(&account))
            .expect("start the proxy");
        let clients = proxied_clients(&proxy, retry.clone()).await;
        let results = [
            (
                "sqs:ListQueues",
                clients
                    .sqs
                    .list_queues()
                    .send()
                    .await
                    .err()
                    .map(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            ),
            (
                "ecs:ListClusters",
                clients
                    .ecs
                    .list_clusters()
                    .send()
                    .await
                    .err()
                    .map(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            ),
            (
                "rds:DescribeDBInstances",
                clients
                    .rds
                    .describe_db_instances()
                    .send()
                    .await
                    .err()
                    .map(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            ),
            (
                "ec2:DescribeVpcs",
                clients
                    .ec2
                    .describe_vpcs()
                    .send()
                    .await
                    .err()
                    .map(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            ),
            (
                "s3:ListBuckets",
                clients
                    .s3
                    .list_buckets()
                    .send()
                    .await
                    .err()
                    .map(|e| (e.code().map(str::to_owned), format!("{e:?}"))),
            ),
        ];
        let stats = proxy.stats();
        for ((call, result), code) in results.into_iter().zip(codes) {
            let (got, debug) = result.unwrap_or_else(|| panic!("{fault}: {call} succeeded"));
            assert_eq!(got.as_deref(), code, "{fault}: {call}: {debug}");
            assert_eq!(
                stats.count(call),
                3,
                "{fault}: {call} was not retried as a transient error: {stats:?}"
            );
        }
        assert_eq!(stats.forwarded, 0, "{fault}: nothing reaches moto");
    }
}

/// Faults after forwarding: the client sees a 500 or a reset, but moto did the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_after_forwarding_hide_work_that_was_done() {
    let moto = MotoServer::start();
    let account = unique_account_id();
    let direct = moto.clients_in(&account).await;
    for (name, config) in [
        (
            "hidden-by-500",
            FaultConfig {
                internal_error: 1.0,
                after_forward: 1.0,
                ..FaultConfig::default()
            },
        ),
        (
            "hidden-by-reset",
            FaultConfig {
                reset: 1.0,
                after_forward: 1.0,
                ..FaultConfig::default()
            },
        ),
    ] {
        let proxy = FaultProxy::start(&moto.endpoint(), config.with_account(&account))
            .expect("start the proxy");
        let clients = proxied_clients(&proxy, RetryConfig::disabled()).await;
        let result = clients.sqs.create_queue().queue_name(name).send().await;
        assert!(result.is_err(), "{name}: the client must see a failure");
        let stats = proxy.stats();
        assert_eq!(stats.forwarded, 1, "{stats:?}");
        let found = direct
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} was not created in moto: {e:?}"));
        assert!(found.queue_url().is_some_and(|u| u.ends_with(name)));
    }
}

fn report(label: &str, stats: &Stats) {
    eprintln!(
        "{label}: {} requests, {} forwarded, faults {:?}\n  per service {:?}",
        stats.requests,
        stats.forwarded,
        stats.faults,
        stats.by_service()
    );
    if !stats.fault_log.is_empty() {
        eprintln!("  faulted requests: {}", stats.fault_log.join(", "));
    }
}

/// The walkthrough's Day 1 development apply (database, queue, api) through a proxy that
/// faults 20 % of all calls succeeds; AWS then holds the same resources as after a
/// fault-free apply, none twice; state records every component and matches AWS (a refresh
/// plan finds nothing to change, and a re-apply reports `no_changes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_applies_under_20_percent_faults_without_duplicates() {
    let moto = MotoServer::start_with_env(deployment::MOTO_ENV);
    let seed: u64 = env_or("PANKA_FAULT_SEED", 1);
    let rate: f64 = env_or("PANKA_FAULT_RATE", 0.2);
    let (expected, _) = reference(&moto).await;
    let config = FaultConfig::uniform(rate, seed);
    let Applied {
        repo,
        proxy,
        clients,
    } = apply_converges(
        &moto,
        config,
        &expected,
        &format!("apply with {rate} faults, seed {seed}"),
    )
    .await;
    let stats = proxy.stats();
    assert!(
        stats.faults.contains_key("internal_error_after")
            || stats.faults.contains_key("reset_after"),
        "the run must include faults after forwarding: {stats:?}"
    );

    // State equals AWS: a refreshed plan (still through the faults) changes nothing, and
    // a re-apply writes nothing.
    let state = repo.current_state(&clients).await.expect("state");
    let plan = run(&mut repo.panka(
        &proxy.endpoint(),
        &[
            "plan",
            "--stack",
            deployment::STACK,
            "--environment",
            "development",
            "--var",
            "VERSION=v1.0.0",
            "--detailed-exitcode",
            "--output",
            "json",
        ],
    ));
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let again = success_json(&run(&mut repo.apply(&proxy.endpoint())));
    assert_eq!(again["result"], "no_changes", "{again}");
    let serial = state["serial"].clone();
    let now = repo.current_state(&clients).await.expect("state");
    assert_eq!(now["serial"], serial);
}

/// Whether `call` (`service:Action`) changes AWS.
fn is_write(call: &str) -> bool {
    let action = call.split(':').nth(1).unwrap_or("");
    [
        "Create",
        "Register",
        "Put",
        "Authorize",
        "Modify",
        "Update",
        "Tag",
    ]
    .iter()
    .any(|verb| action.starts_with(verb))
}

/// Every write of the walkthrough's apply (create, register, put, authorize ...) has its
/// first answer lost after AWS did the work: the SDK's retry or the executor's next try
/// finds what was made and adopts it, and nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_whose_answer_is_lost_is_adopted_not_duplicated() {
    let moto = MotoServer::start_with_env(deployment::MOTO_ENV);
    let (expected, stats) = reference(&moto).await;
    let writes: Vec<String> = stats
        .calls
        .keys()
        .filter(|call| is_write(call))
        .cloned()
        .collect();
    assert!(writes.len() >= 10, "{writes:?}");
    let config = FaultConfig {
        lose_first_answer: writes.clone(),
        ..FaultConfig::transparent()
    };
    let Applied { proxy, .. } =
        apply_converges(&moto, config, &expected, "apply losing first answers").await;
    assert_eq!(
        proxy.stats().faults.get("internal_error_after"),
        Some(&(writes.len() as u64)),
        "every write lost one answer: {writes:?}"
    );
}

/// A fault-free apply in its own account: what the apply should leave in AWS, and the
/// calls it makes.
async fn reference(moto: &MotoServer) -> (Inventory, Stats) {
    let reference_account = unique_account_id();
    let reference_proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig::transparent().with_account(&reference_account),
    )
    .expect("start the reference proxy");
    let reference_clients = moto.clients_in(&reference_account).await;
    create_secret(&reference_clients).await;
    let reference_repo = Repo::walkthrough();
    let applied = success_json(&run(&mut reference_repo.apply(&reference_proxy.endpoint())));
    assert_eq!(applied["result"], "success", "{applied}");
    let expected = Inventory::read(&reference_clients).await;
    let stats = reference_proxy.stats();
    report("fault-free apply", &stats);
    (expected, stats)
}

/// The walkthrough's apply in a fresh account through a proxy with `config` succeeds and
/// leaves exactly what `expected` holds, none twice, with state matching AWS.
///
/// With `PANKA_FAULT_BACKEND=s3`, state lives in S3 and the lock in DynamoDB (bootstrapped
/// without faults), so that their calls are faulted too.
async fn apply_converges(
    moto: &MotoServer,
    config: FaultConfig,
    expected: &Inventory,
    label: &str,
) -> Applied {
    let account = unique_account_id();
    let config = config.with_account(&account);
    let on_s3 = std::env::var("PANKA_FAULT_BACKEND").is_ok_and(|b| b == "s3");
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig::transparent().with_account(&account),
    )
    .expect("start the fault proxy");
    let clients = moto.clients_in(&account).await;
    create_secret(&clients).await;
    let repo = if on_s3 {
        let repo = Repo::walkthrough_on_s3();
        let bootstrap = run(&mut repo.panka(&proxy.endpoint(), &["init", "--bootstrap"]));
        assert_eq!(bootstrap.status.code(), Some(0), "{}", text(&bootstrap));
        proxy.reset_stats();
        repo
    } else {
        Repo::walkthrough()
    };
    proxy.set_config(config);
    let out = run(&mut repo.apply(&proxy.endpoint()));
    report(label, &proxy.stats());
    let retries: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|line| line.contains("\"waiting\"") && line.contains("retrying in"))
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            format!("{}: {}", event["component"], event["detail"])
        })
        .collect();
    eprintln!("  executor step retries: {}", retries.len());
    for retry in &retries {
        eprintln!("    {retry}");
    }
    let applied = success_json(&out);
    assert_eq!(applied["result"], "success", "{}", text(&out));

    let inventory = Inventory::read(&clients).await;
    assert_eq!(inventory.duplicates(), Default::default(), "{inventory:?}");
    assert_eq!(
        inventory.counts(),
        expected.counts(),
        "resources differ from a fault-free apply\nfaulted: {inventory:?}\nreference: {expected:?}"
    );
    let state = repo
        .current_state(&clients)
        .await
        .expect("state after the apply");
    assert_state_matches(&state, &inventory);
    Applied {
        repo,
        proxy,
        clients,
    }
}

/// A converged apply: its repo, its proxy (still faulting) and clients of its account.
struct Applied {
    repo: Repo,
    proxy: FaultProxy,
    clients: AwsClients,
}

/// With S3 state and the DynamoDB lock, the answers of taking the lock, of the first state
/// write and of releasing the lock are lost after AWS did the work (the SDK retries each
/// and meets its own earlier write): the apply still succeeds, state in S3 matches AWS, and
/// the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_to_state_and_lock_writes_do_not_fail_the_apply() {
    let moto = MotoServer::start_with_env(deployment::MOTO_ENV);
    let (expected, _) = reference(&moto).await;
    let account = unique_account_id();
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultConfig::transparent().with_account(&account),
    )
    .expect("start the proxy");
    let clients = moto.clients_in(&account).await;
    create_secret(&clients).await;
    let repo = Repo::walkthrough_on_s3();
    let bootstrap = run(&mut repo.panka(&proxy.endpoint(), &["init", "--bootstrap"]));
    assert_eq!(bootstrap.status.code(), Some(0), "{}", text(&bootstrap));

    let lost = [
        "dynamodb:PutItem",
        "s3:PutObject",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ];
    proxy.set_config(FaultConfig {
        lose_first_answer: lost.iter().map(|c| c.to_string()).collect(),
        ..FaultConfig::transparent().with_account(&account)
    });
    let out = run(&mut repo.apply(&proxy.endpoint()));
    let stats = proxy.stats();
    report("apply losing lock and state answers", &stats);
    let applied = success_json(&out);
    assert_eq!(applied["result"], "success", "{}", text(&out));
    // Taking the lock, the first state write and releasing the lock each lost an answer.
    for call in ["dynamodb:PutItem", "s3:PutObject", "dynamodb:DeleteItem"] {
        assert!(
            stats
                .fault_log
                .iter()
                .any(|line| line.contains(&format!(" {call} "))),
            "{call} lost no answer: {stats:?}"
        );
    }
    let status = repo.lock_status(&proxy.endpoint());
    assert_eq!(status["locked"], false, "the lock was released: {status}");
    let inventory = Inventory::read(&clients).await;
    assert_eq!(inventory.duplicates(), Default::default(), "{inventory:?}");
    assert_eq!(inventory.counts(), expected.counts(), "{inventory:?}");
    let state = deployment::s3_state(&clients).await.expect("state in S3");
    assert_state_matches(&state, &inventory);
    let again = success_json(&run(&mut repo.apply(&proxy.endpoint())));
    assert_eq!(again["result"], "no_changes", "{again}");
}
