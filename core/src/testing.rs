//! The conformance suite every state store and lock runs (in-memory and local here,
//! S3 and DynamoDB on moto in the root package's tests), so the fakes stay honest.
//!
//! Each check uses fresh random stack names, so suites may share a backend.

use crate::state::*;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Puts a lock the way another process or an operator would.
#[async_trait]
pub trait LockPlanter: Send + Sync {
    async fn plant(&self, key: &StateKey, info: &LockInfo);
    /// Whether a planted live lock frees itself at `ExpiresAt` (DynamoDB, memory) or only
    /// when its process ends (the local OS lock).
    fn expiry_frees_lock(&self) -> bool;
}

fn fresh_key(tag: &str) -> StateKey {
    let id = uuid::Uuid::new_v4().simple().to_string();
    StateKey::new(format!("conf-{tag}-{}", &id[..12]), "development")
}

fn doc(key: &StateKey) -> StateDocument {
    let mut d = StateDocument::new(&key.stack, &key.environment, jiff::Timestamp::now());
    d.serial = 1;
    d
}

fn component(deployment: &str) -> ComponentState {
    ComponentState {
        kind: crate::model::ComponentKind::Sqs,
        physical_ids: [("queue_url".to_string(), format!("https://sqs/{deployment}"))].into(),
        applied_spec: serde_json::json!({"visibility_timeout_seconds": 30}),
        outputs: [("url".to_string(), format!("https://sqs/{deployment}"))].into(),
        status: ComponentStatus::Ready,
        updated_at: jiff::Timestamp::now().to_string(),
        deployment_id: deployment.to_string(),
        depends_on: None,
    }
}

/// First write, read-back, conditional conflicts, lost races, 20 concurrent writers,
/// deployment records, and fencing of an expired holder.
pub async fn state_store_conformance(store: Arc<dyn StateStore>) {
    // Read of a state that was never written.
    let key = fresh_key("store");
    assert!(
        store.read(&key).await.expect("read absent").is_none(),
        "no state yet"
    );

    // First write, read-back.
    let mut first = doc(&key);
    first.components.insert("svc/queue".into(), component("d1"));
    let v1 = store.write(&key, &first, None).await.expect("first write");
    let read = store.read(&key).await.expect("read").expect("state exists");
    assert_eq!(read.state, first, "read-back equals what was written");
    assert_eq!(read.version, v1);

    // A second "first write" loses.
    let mut other = doc(&key);
    other.lineage = "another-lineage".into();
    let err = store
        .write(&key, &other, None)
        .await
        .expect_err("state exists already");
    assert!(matches!(err, StateError::Conflict { .. }), "{err:?}");

    // Conditional update; a writer holding the old version loses the race.
    let mut second = first.clone();
    second.serial = 2;
    let v2 = store.write(&key, &second, Some(&v1)).await.expect("update");
    assert_ne!(v1, v2);
    let mut stale = first.clone();
    stale.serial = 2;
    stale.components.clear();
    let err = store
        .write(&key, &stale, Some(&v1))
        .await
        .expect_err("stale writer");
    assert!(matches!(err, StateError::Conflict { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&key.stack),
        "the conflict names the state: {err}"
    );
    let read = store.read(&key).await.expect("read").expect("state");
    assert_eq!(read.state, second, "the lost race changed nothing");

    // 20 concurrent read-modify-write writers: no update is lost.
    let key = fresh_key("race");
    store.write(&key, &doc(&key), None).await.expect("seed");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            loop {
                let current = store.read(&key).await.expect("read").expect("seeded");
                let mut next = current.state.clone();
                next.serial += 1;
                next.components
                    .insert(format!("svc/c{i:02}"), component(&format!("w{i}")));
                match store.write(&key, &next, Some(&current.version)).await {
                    Ok(_) => return conflicts,
                    Err(StateError::Conflict { .. }) => conflicts += 1,
                    Err(e) => panic!("writer {i}: {e}"),
                }
                assert!(conflicts < 200, "writer {i} starved");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let last = store.read(&key).await.expect("read").expect("state");
    assert_eq!(
        last.state.components.len(),
        20,
        "every writer's component survived"
    );
    assert_eq!(last.state.serial, 21, "one serial per successful write");

    // Deployment records: written at start, updated at the end, listed newest first.
    let key = fresh_key("history");
    let record = |id: &str, minute: u32, result| DeploymentRecord {
        id: id.to_string(),
        version: format!("v1.0.{minute}"),
        by: "alice@laptop".into(),
        operation: "apply".into(),
        started_at: format!("2026-01-15T17:{minute:02}:00Z"),
        duration_s: None,
        result,
        plan_summary: [("create".to_string(), 3)].into(),
        spec: serde_json::json!({"svc/api": {"image": "api:v1"}}),
        ..Default::default()
    };
    assert!(
        store
            .list_deployments(&key, 10)
            .await
            .expect("list empty")
            .is_empty()
    );
    for (id, minute) in [("a", 1), ("c", 3), ("b", 2)] {
        store
            .put_deployment(&key, &record(id, minute, DeploymentResult::InProgress))
            .await
            .expect("put");
    }
    let mut done = record("c", 3, DeploymentResult::Success);
    done.duration_s = Some(42.5);
    store.put_deployment(&key, &done).await.expect("update");
    let listed = store.list_deployments(&key, 2).await.expect("list");
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["c", "b"],
        "newest first, limited"
    );
    assert_eq!(listed[0], done, "the update replaced the start record");
    assert_eq!(
        store.list_deployments(&key, 10).await.expect("list").len(),
        3
    );

    // Records by id: only those asked for, and only those that exist.
    let wanted: std::collections::BTreeSet<String> =
        ["b".to_string(), "missing".to_string()].into();
    let found = store.deployments_by_id(&key, &wanted).await.expect("by id");
    assert_eq!(
        found.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    assert!(
        store
            .deployments_by_id(&fresh_key("none"), &wanted)
            .await
            .expect("no records")
            .is_empty()
    );

    // Listing: every stack and environment with a state, sorted, once each; records alone
    // do not make a state.
    let development = fresh_key("list");
    let production = StateKey::new(development.stack.clone(), "production");
    for k in [&production, &development] {
        store.write(k, &doc(k), None).await.expect("write");
        store
            .write(k, &doc(k), None)
            .await
            .expect_err("second first write");
    }
    let listed = store.list_keys().await.expect("list keys");
    assert!(
        listed.contains(&development) && listed.contains(&production),
        "{listed:?}"
    );
    assert!(!listed.contains(&key), "records alone: {listed:?}");
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "sorted: {listed:?}");

    // Fencing: a holder whose lease expired cannot write once the new holder opened.
    let key = fresh_key("fence");
    let request = LockRequest {
        who: "a@host".into(),
        operation: "apply".into(),
        lease: Duration::from_secs(60),
    };
    let lock_a = request.to_info(jiff::Timestamp::now());
    let lock_b = request.to_info(jiff::Timestamp::now());
    let mut old = FencedState::open(store.as_ref(), &key, &lock_a, jiff::Timestamp::now())
        .await
        .expect("A opens");
    assert!(!old.existed);
    let mut new = FencedState::open(store.as_ref(), &key, &lock_b, jiff::Timestamp::now())
        .await
        .expect("B opens after taking over");
    assert!(new.existed);
    old.state
        .components
        .insert("svc/late".into(), component("a"));
    let err = old
        .save(jiff::Timestamp::now())
        .await
        .expect_err("A is fenced out");
    assert!(matches!(err, StateError::Conflict { .. }), "{err:?}");
    new.state
        .components
        .insert("svc/queue".into(), component("b"));
    new.save(jiff::Timestamp::now()).await.expect("B writes");
    let read = store.read(&key).await.expect("read").expect("state");
    assert_eq!(read.state.lock_id.as_deref(), Some(lock_b.id.as_str()));
    assert!(
        read.state.components.contains_key("svc/queue")
            && !read.state.components.contains_key("svc/late")
    );
    assert_eq!(
        read.state.lineage, new.state.lineage,
        "lineage never changes"
    );
}

fn request(who: &str) -> LockRequest {
    LockRequest {
        who: who.into(),
        operation: "apply".into(),
        lease: Duration::from_secs(600),
    }
}

/// Acquire, conflict with holder info, renew, release, wrong-id unlock, planted live and
/// expired locks, waiting, and 20 concurrent acquirers.
pub async fn lock_conformance(lock: Arc<dyn StateLock>, planter: Arc<dyn LockPlanter>) {
    let key = fresh_key("lock");
    assert!(lock.status(&key).await.expect("status").is_none());
    let held = lock
        .acquire(&key, &request("alice@laptop"))
        .await
        .expect("acquire free lock");
    assert_eq!(
        (held.who.as_str(), held.operation.as_str()),
        ("alice@laptop", "apply")
    );
    assert!(held.expires_at > jiff::Timestamp::now().as_second());
    assert_eq!(
        lock.status(&key).await.expect("status").map(|h| h.id),
        Some(held.id.clone())
    );

    // Conflict reports the holder.
    match lock.acquire(&key, &request("bob@ci")).await {
        Err(LockError::Held { holder, .. }) => {
            assert_eq!(holder.id, held.id);
            assert_eq!(holder.who, "alice@laptop");
            assert_eq!(holder.operation, "apply");
        }
        other => panic!("expected Held, got {other:?}"),
    }

    // Renewal by the holder only.
    let renewed = lock
        .renew(&key, &held.id, Duration::from_secs(1200))
        .await
        .expect("renew");
    assert!(
        renewed.expires_at >= held.expires_at + 500,
        "lease extended"
    );
    let err = lock
        .renew(&key, "not-the-id", Duration::from_secs(60))
        .await
        .expect_err("wrong id");
    assert!(matches!(err, LockError::Lost { .. }), "{err:?}");

    // Unlock with the wrong id, then the right one.
    match lock.release(&key, "wrong-id").await {
        Err(LockError::IdMismatch { holder, .. }) => assert_eq!(holder.id, held.id),
        other => panic!("expected IdMismatch, got {other:?}"),
    }
    lock.release(&key, &held.id).await.expect("release");
    assert!(lock.status(&key).await.expect("status").is_none());
    lock.release(&key, &held.id)
        .await
        .expect("releasing twice is fine");
    let again = lock
        .acquire(&key, &request("bob@ci"))
        .await
        .expect("free again");
    lock.release(&key, &again.id).await.expect("release");

    // A planted live lock blocks; a planted expired one is taken over.
    let key = fresh_key("planted");
    let now = jiff::Timestamp::now().as_second();
    let mut live = request("carol@ops").to_info(jiff::Timestamp::now());
    live.expires_at = now + 3600;
    planter.plant(&key, &live).await;
    match lock.acquire(&key, &request("bob@ci")).await {
        Err(LockError::Held { holder, .. }) => assert_eq!(holder.who, "carol@ops"),
        other => panic!("a live planted lock must block, got {other:?}"),
    }
    // Waiting gives up at the timeout and tells the holder once.
    let mut told = Vec::new();
    let start = std::time::Instant::now();
    let err = acquire_with_wait(
        lock.as_ref(),
        &key,
        &request("bob@ci"),
        Duration::from_millis(800),
        |h| told.push(h.who.clone()),
    )
    .await
    .expect_err("still held");
    assert!(matches!(err, LockError::Held { .. }));
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "waited until the timeout"
    );
    assert_eq!(told, ["carol@ops"], "holder printed once");
    lock.release(&key, &live.id)
        .await
        .expect("force unlock with the right id");

    let key = fresh_key("expired");
    let mut stale = request("dave@crashed").to_info(jiff::Timestamp::now());
    stale.expires_at = now - 10;
    planter.plant(&key, &stale).await;
    let taken = lock
        .acquire(&key, &request("bob@ci"))
        .await
        .expect("expired lock is taken over");
    assert_ne!(taken.id, stale.id);
    let err = lock
        .renew(&key, &stale.id, Duration::from_secs(60))
        .await
        .expect_err("old holder lost it");
    assert!(matches!(err, LockError::Lost { .. }), "{err:?}");
    lock.release(&key, &taken.id).await.expect("release");

    if planter.expiry_frees_lock() {
        // A lock expiring soon is acquired by a waiter once it expires.
        let key = fresh_key("wait");
        let mut short = request("erin@ci").to_info(jiff::Timestamp::now());
        short.expires_at = jiff::Timestamp::now().as_second() + 2;
        planter.plant(&key, &short).await;
        let got = acquire_with_wait(
            lock.as_ref(),
            &key,
            &request("bob@ci"),
            Duration::from_secs(15),
            |_| {},
        )
        .await
        .expect("acquired after expiry");
        lock.release(&key, &got.id).await.expect("release");
    }

    // 20 concurrent acquirers: exactly one wins, the others see the winner.
    let key = fresh_key("race");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (lock, key) = (lock.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            lock.acquire(&key, &request(&format!("runner{i}@ci"))).await
        }));
    }
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(info) => winners.push(info),
            Err(LockError::Held { holder, .. }) => seen.push(holder.id),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one acquirer wins");
    assert!(
        seen.iter().all(|id| *id == winners[0].id),
        "losers see the winner"
    );
    lock.release(&key, &winners[0].id).await.expect("release");
}

/// Planter for [`MemoryLock`].
pub struct MemoryPlanter(pub Arc<MemoryLock>);

#[async_trait]
impl LockPlanter for MemoryPlanter {
    async fn plant(&self, key: &StateKey, info: &LockInfo) {
        self.0.plant(key, info.clone());
    }
    fn expiry_frees_lock(&self) -> bool {
        true
    }
}

/// Planter for [`local::LocalLock`].
pub struct LocalPlanter(pub Arc<local::LocalLock>);

#[async_trait]
impl LockPlanter for LocalPlanter {
    async fn plant(&self, key: &StateKey, info: &LockInfo) {
        self.0.plant(key, info).expect("plant local lock");
    }
    fn expiry_frees_lock(&self) -> bool {
        false
    }
}
