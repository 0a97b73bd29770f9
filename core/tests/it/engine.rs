//! The executor against fake reconcilers and the in-memory store, with paused time:
//! dependency order, the parallelism bound, state saved after each change, rollback of
//! the failed wave and later ones, `--on-failure stop`, and Ctrl-C.

use async_trait::async_trait;
use panka_core::engine::{
    EnvRef, Event, EventSink, ExecOptions, Job, OnFailure, Outcome, ReconcilerSet, StepState,
    execute,
};
use panka_core::model::{ComponentId, ComponentKind, ComponentSpec, DeadLetterQueue, SqsSpec};
use panka_core::plan::Action;
use panka_core::reconcile::*;
use panka_core::state::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A reconciler that takes `delay` per call, records calls, fails where told, and becomes
/// ready after one `Waiting`.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    fail_create: BTreeSet<String>,
    /// Creates refused under the ownership policy: `Foreign`, nothing changed.
    foreign_create: BTreeSet<String>,
    fail_ready: BTreeSet<String>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    polls: Mutex<BTreeMap<String, usize>>,
    seen_env: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl Fake {
    async fn work(&self, call: String) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        // Reported as a step of the change in scope, as the AWS reconcilers do.
        let step = panka_core::progress::step(format!("{} {call}", panka_core::progress::verb()));
        tokio::time::sleep(Duration::from_secs(10)).await;
        step.done();
        self.running.fetch_sub(1, Ordering::SeqCst);
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn observed(ctx: &ResourceContext) -> Observed {
        Observed {
            physical_ids: [(
                "queue_url".to_string(),
                format!("https://sqs/{}", ctx.id.component),
            )]
            .into(),
            fields: serde_json::json!({}),
            outputs: [(
                "url".to_string(),
                format!("https://sqs/{}", ctx.id.component),
            )]
            .into(),
        }
    }
}

#[async_trait]
impl Reconciler for Fake {
    fn kind(&self) -> ComponentKind {
        ComponentKind::Sqs
    }
    fn normalise(&self, _: &ResourceContext, _: &ComponentSpec, _: &Inputs) -> serde_json::Value {
        serde_json::json!({})
    }
    fn field_change(&self, _: &str) -> FieldChange {
        FieldChange::InPlace
    }
    async fn read(
        &self,
        _: &ResourceContext,
        _: &KnownIds,
    ) -> Result<Option<Observed>, ProviderError> {
        Ok(None)
    }
    async fn create(
        &self,
        ctx: &ResourceContext,
        _: &ComponentSpec,
        inputs: &Inputs,
    ) -> Result<Observed, ProviderError> {
        if let Ok(mut env) = self.seen_env.lock() {
            env.insert(ctx.id.component.clone(), inputs.resolved_env.clone());
        }
        self.work(format!("create {}", ctx.id.component)).await;
        if self.fail_create.contains(&ctx.id.component) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("cannot create {}", ctx.id),
            ));
        }
        if self.foreign_create.contains(&ctx.id.component) {
            return Err(ProviderError::new(
                ErrorKind::Foreign,
                format!("{} exists and was not created by panka", ctx.id),
            ));
        }
        Ok(Self::observed(ctx))
    }
    async fn update(
        &self,
        ctx: &ResourceContext,
        _: &ComponentSpec,
        _: &Inputs,
    ) -> Result<Observed, ProviderError> {
        self.work(format!("update {}", ctx.id.component)).await;
        Ok(Self::observed(ctx))
    }
    async fn delete(
        &self,
        ctx: &ResourceContext,
        _: &KnownIds,
        _: DeleteOptions,
    ) -> Result<(), ProviderError> {
        self.work(format!("delete {}", ctx.id.component)).await;
        Ok(())
    }
    async fn poll_ready(
        &self,
        ctx: &ResourceContext,
        _: &KnownIds,
    ) -> Result<Readiness, ProviderError> {
        let n = {
            let mut polls = self
                .polls
                .lock()
                .map_err(|_| ProviderError::new(ErrorKind::Other, "poisoned"))?;
            let n = polls.entry(ctx.id.component.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if self.fail_ready.contains(&ctx.id.component) {
            return Ok(Readiness::Failed {
                reason: "circuit breaker rolled back".into(),
            });
        }
        Ok(if n == 1 {
            panka_core::progress::waiting("Waiting until ready", "0/1 running", Some(0));
            Readiness::Waiting {
                detail: "0/1 running".into(),
                progress: Some(0),
            }
        } else {
            Readiness::Ready
        })
    }
    async fn live_status(
        &self,
        _: &ResourceContext,
        _: &KnownIds,
    ) -> Result<LiveStatus, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Other,
            "the engine never reads live status",
        ))
    }
    async fn tagged(
        &self,
        _: &panka_core::drift::Owner,
    ) -> Result<Vec<panka_core::drift::TaggedResource>, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Other,
            "the engine never lists tagged resources",
        ))
    }
}

struct Set(Arc<Fake>);
impl ReconcilerSet for Set {
    fn for_kind(&self, _: ComponentKind) -> &dyn Reconciler {
        self.0.as_ref()
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);
impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        if let Ok(mut e) = self.0.lock() {
            e.push(event);
        }
    }
}

fn spec() -> ComponentSpec {
    ComponentSpec::Sqs(SqsSpec {
        fifo: false,
        message_retention_seconds: 345_600,
        visibility_timeout_seconds: 30,
        delay_seconds: 0,
        max_message_size_bytes: 262_144,
        receive_wait_time_seconds: 0,
        content_based_deduplication: false,
        dead_letter_queue: Some(DeadLetterQueue {
            max_receive_count: 3,
            message_retention_seconds: 1_209_600,
        }),
    })
}

fn job(name: &str, action: Action, wave: usize, deps: &[&str]) -> Job {
    let id = ComponentId::new("svc", name);
    Job {
        ctx: ResourceContext {
            stack: "shop".into(),
            environment: "development".into(),
            id,
            region: "us-east-1".into(),
            production: false,
            network: None,
            domain: None,
        },
        kind: ComponentKind::Sqs,
        action,
        wave,
        depends_on: deps.iter().map(|d| ComponentId::new("svc", *d)).collect(),
        desired: (action != Action::Delete).then(spec),
        env_refs: deps
            .iter()
            .map(|d| EnvRef {
                name: format!("{}_URL", d.to_uppercase()),
                component: ComponentId::new("svc", *d),
                output: "url".into(),
            })
            .collect(),
        reads_outputs_of: deps.iter().map(|d| ComponentId::new("svc", *d)).collect(),
        config_files: BTreeMap::new(),
    }
}

fn options(parallelism: usize, on_failure: OnFailure) -> ExecOptions {
    ExecOptions {
        parallelism,
        on_failure,
        ready_timeout: Duration::from_secs(600),
        poll_interval: Duration::from_secs(5),
        deployment_id: "d-1".into(),
        delete_options: DeleteOptions::default(),
    }
}

struct Run {
    outcome: Outcome,
    fake: Arc<Fake>,
    store: Arc<MemoryStore>,
    events: Vec<Event>,
    elapsed: Duration,
}

async fn run(jobs: Vec<Job>, fake: Fake, opts: ExecOptions, seed: Option<StateDocument>) -> Run {
    let store = Arc::new(MemoryStore::new());
    let key = StateKey::new("shop", "development");
    if let Some(doc) = seed {
        store.write(&key, &doc, None).await.expect("seed");
    }
    let lock = LockRequest {
        who: "t@h".into(),
        operation: "apply".into(),
        lease: Duration::from_secs(60),
    }
    .to_info(jiff::Timestamp::now());
    let mut state = FencedState::open(store.as_ref(), &key, &lock, jiff::Timestamp::now())
        .await
        .expect("open");
    let fake = Arc::new(fake);
    let recorder = Arc::new(Recorder::default());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let start = tokio::time::Instant::now();
    let outcome = execute(
        jobs,
        Arc::new(Set(fake.clone())),
        &mut state,
        &opts,
        recorder.clone(),
        rx,
    )
    .await;
    let events = recorder.0.lock().map(|e| e.clone()).unwrap_or_default();
    Run {
        outcome,
        fake,
        store: store.clone(),
        events,
        elapsed: start.elapsed(),
    }
}

async fn stored(store: &MemoryStore) -> StateDocument {
    store
        .read(&StateKey::new("shop", "development"))
        .await
        .expect("read")
        .expect("state")
        .state
}

#[tokio::test(start_paused = true)]
async fn dependencies_first_and_outputs_flow_into_dependents() {
    let jobs = vec![
        job("database", Action::Create, 1, &[]),
        job("queue", Action::Create, 1, &[]),
        job("api", Action::Create, 2, &["database", "queue"]),
    ];
    let r = run(
        jobs,
        Fake::default(),
        options(10, OnFailure::Rollback),
        None,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Success);
    let calls = r.fake.calls();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("create api"),
        "{calls:?}"
    );
    assert_eq!(
        r.fake.max_running.load(Ordering::SeqCst),
        2,
        "wave 1 in parallel"
    );
    let env = r
        .fake
        .seen_env
        .lock()
        .map(|e| e.get("api").cloned().unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(
        env.get("DATABASE_URL").map(String::as_str),
        Some("https://sqs/database")
    );
    assert_eq!(
        env.get("QUEUE_URL").map(String::as_str),
        Some("https://sqs/queue")
    );
    // Two rounds of (10 s call + one 250 ms readiness wait, the first poll interval): the
    // critical path, not the sum.
    assert_eq!(r.elapsed, Duration::from_millis(20_500));
    let state = stored(&r.store).await;
    assert_eq!(state.components.len(), 3);
    assert_eq!(
        state.serial, 4,
        "fence write plus one save per finished change"
    );
    assert_eq!(state.components["svc/api"].deployment_id, "d-1");
    assert_eq!(
        state.components["svc/api"].depends_on,
        Some(vec!["svc/database".to_string(), "svc/queue".to_string()]),
        "what it depended on is kept for deleting in order"
    );
    assert_eq!(state.components["svc/queue"].depends_on, Some(vec![]));
    let saves = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::StateSaved { .. }))
        .count();
    assert_eq!(saves, 3);
    assert!(
        r.events.iter().any(|e| matches!(e, Event::Waiting { .. })),
        "progress while waiting"
    );
}

#[tokio::test(start_paused = true)]
async fn parallelism_bounds_concurrent_changes() {
    let jobs: Vec<Job> = (0..20)
        .map(|i| job(&format!("q{i:02}"), Action::Create, 1, &[]))
        .collect();
    let r = run(
        jobs.clone(),
        Fake::default(),
        options(10, OnFailure::Rollback),
        None,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.fake.max_running.load(Ordering::SeqCst), 10);
    assert_eq!(r.elapsed, Duration::from_millis(20_500));
    let serial = run(jobs, Fake::default(), options(1, OnFailure::Rollback), None).await;
    assert_eq!(serial.fake.max_running.load(Ordering::SeqCst), 1);
    assert_eq!(
        serial.elapsed,
        Duration::from_millis(205_000),
        "20 × (10 s + 250 ms)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_reverts_the_failed_wave_and_later_ones() {
    let mut previous = StateDocument::new("shop", "development", jiff::Timestamp::now());
    previous.serial = 1;
    previous.components.insert(
        "svc/old".into(),
        ComponentState {
            kind: ComponentKind::Sqs,
            physical_ids: BTreeMap::new(),
            applied_spec: serde_json::to_value(spec()).expect("json"),
            outputs: BTreeMap::new(),
            status: ComponentStatus::Ready,
            updated_at: "2026-01-01T00:00:00Z".into(),
            deployment_id: "d-0".into(),
            depends_on: None,
        },
    );
    let jobs = vec![
        job("early", Action::Create, 1, &[]),
        job("old", Action::Update, 2, &["early"]),
        job("broken", Action::Create, 2, &["early"]),
        job("late", Action::Create, 3, &["broken"]),
    ];
    let fake = Fake {
        fail_create: ["broken".to_string()].into(),
        ..Fake::default()
    };
    let r = run(jobs, fake, options(10, OnFailure::Rollback), Some(previous)).await;
    let Outcome::RolledBack { failed } = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(failed[0].0, ComponentId::new("svc", "broken"));
    let calls = r.fake.calls();
    assert!(
        !calls.contains(&"create late".to_string()),
        "nothing new starts after a failure: {calls:?}"
    );
    // Wave 2's finished update is reverted (back to the recorded spec), the failed create
    // is cleaned up; wave 1 stays.
    let rollback: Vec<&str> = calls
        .iter()
        .skip_while(|c| *c != "create broken")
        .skip(1)
        .map(String::as_str)
        .collect();
    assert_eq!(rollback, ["update old", "delete broken"], "{calls:?}");
    let state = stored(&r.store).await;
    assert!(state.components.contains_key("svc/early"));
    assert_eq!(
        state.components["svc/old"].deployment_id, "d-0",
        "restored to the previous record"
    );
    assert!(!state.components.contains_key("svc/broken"));
}

#[tokio::test(start_paused = true)]
async fn a_change_refused_as_foreign_is_not_reverted_itself() {
    let jobs = vec![
        job("early", Action::Create, 1, &[]),
        job("queue", Action::Create, 2, &["early"]),
        job("taken", Action::Create, 2, &["early"]),
    ];
    let fake = Fake {
        foreign_create: ["taken".to_string()].into(),
        ..Fake::default()
    };
    let r = run(jobs, fake, options(10, OnFailure::Rollback), None).await;
    let Outcome::RolledBack { failed } = &r.outcome else {
        panic!("a refusal rolls back cleanly: {:?}", r.outcome)
    };
    assert_eq!(failed[0].0, ComponentId::new("svc", "taken"));
    // The wave's finished create is reverted; the refused one changed nothing, and a
    // delete of it would only be refused again.
    let calls = r.fake.calls();
    assert!(calls.contains(&"delete queue".to_string()), "{calls:?}");
    assert!(!calls.contains(&"delete taken".to_string()), "{calls:?}");
    assert!(!calls.contains(&"delete early".to_string()), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn stop_leaves_things_for_inspection_and_readiness_failures_fail() {
    let jobs = vec![
        job("api", Action::Create, 1, &[]),
        job("worker", Action::Create, 1, &[]),
    ];
    let fake = Fake {
        fail_ready: ["api".to_string()].into(),
        ..Fake::default()
    };
    let r = run(jobs, fake, options(10, OnFailure::Stop), None).await;
    let Outcome::Failed {
        failed,
        rollback_errors,
    } = &r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert!(
        failed[0].1.contains("circuit breaker rolled back"),
        "{failed:?}"
    );
    assert!(rollback_errors.is_empty());
    assert!(
        !r.fake.calls().iter().any(|c| c.starts_with("delete")),
        "nothing reverted"
    );
    let state = stored(&r.store).await;
    assert!(
        state.components.contains_key("svc/worker"),
        "the finished change is recorded"
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_finishes_in_flight_work_and_starts_nothing_new() {
    let store = Arc::new(MemoryStore::new());
    let key = StateKey::new("shop", "development");
    let lock = LockRequest {
        who: "t@h".into(),
        operation: "apply".into(),
        lease: Duration::from_secs(60),
    }
    .to_info(jiff::Timestamp::now());
    let mut state = FencedState::open(store.as_ref(), &key, &lock, jiff::Timestamp::now())
        .await
        .expect("open");
    let fake = Arc::new(Fake::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let jobs = vec![
        job("first", Action::Create, 1, &[]),
        job("second", Action::Create, 2, &["first"]),
    ];
    let interrupter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let _ = tx.send(true);
        tx
    });
    let outcome = execute(
        jobs,
        Arc::new(Set(fake.clone())),
        &mut state,
        &options(10, OnFailure::Rollback),
        Arc::new(Recorder::default()),
        rx,
    )
    .await;
    let _tx = interrupter.await.expect("interrupter");
    assert_eq!(outcome, Outcome::Interrupted);
    assert_eq!(
        fake.calls(),
        ["create first"],
        "in-flight work finished, nothing new started"
    );
    let saved = store.read(&key).await.expect("read").expect("state").state;
    assert!(
        saved.components.contains_key("svc/first"),
        "finished work is saved"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fenced_out_run_stops_at_its_next_save() {
    let store = Arc::new(MemoryStore::new());
    let key = StateKey::new("shop", "development");
    let request = LockRequest {
        who: "t@h".into(),
        operation: "apply".into(),
        lease: Duration::from_secs(60),
    };
    let mut old = FencedState::open(
        store.as_ref(),
        &key,
        &request.to_info(jiff::Timestamp::now()),
        jiff::Timestamp::now(),
    )
    .await
    .expect("open");
    // Another run takes the lock over and fences this one out.
    FencedState::open(
        store.as_ref(),
        &key,
        &request.to_info(jiff::Timestamp::now()),
        jiff::Timestamp::now(),
    )
    .await
    .expect("takeover");
    let fake = Arc::new(Fake::default());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let jobs = vec![
        job("a", Action::Create, 1, &[]),
        job("b", Action::Create, 2, &["a"]),
    ];
    let outcome = execute(
        jobs,
        Arc::new(Set(fake.clone())),
        &mut old,
        &options(10, OnFailure::Rollback),
        Arc::new(Recorder::default()),
        rx,
    )
    .await;
    let Outcome::Failed { failed, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        failed
            .iter()
            .any(|(_, m)| m.contains("changed since it was read")),
        "{failed:?}"
    );
    assert_eq!(
        fake.calls(),
        ["create a"],
        "nothing more after the failed save"
    );
}

fn recorded(depends_on: Option<&[&str]>, deployment_id: &str) -> ComponentState {
    ComponentState {
        kind: ComponentKind::Sqs,
        physical_ids: BTreeMap::new(),
        applied_spec: serde_json::to_value(spec()).expect("json"),
        outputs: BTreeMap::new(),
        status: ComponentStatus::Ready,
        updated_at: "2026-01-01T00:00:00Z".into(),
        deployment_id: deployment_id.into(),
        depends_on: depends_on.map(|d| d.iter().map(|s| s.to_string()).collect()),
    }
}

/// Destroy's path from state to the executor: dependencies read back from state (or,
/// for a state written before they were kept, from the deployment record), delete waves
/// dependents first, and jobs that start a delete only once its dependents are gone.
#[tokio::test(start_paused = true)]
async fn deletes_run_dependents_first_from_recorded_dependencies() {
    use panka_core::desired::{current_components, jobs, records_for_deletes};
    use panka_core::loader::ResolvedStack;
    use panka_core::model::StackSpec;
    use panka_core::plan::plan;

    // worker → api → database, queue. The worker's state predates `depends_on`: its
    // dependencies come from the record of the deployment that applied it.
    let mut previous = StateDocument::new("shop", "development", jiff::Timestamp::now());
    previous.serial = 1;
    for (name, state) in [
        ("api", recorded(Some(&["svc/database", "svc/queue"]), "d-1")),
        ("database", recorded(Some(&[]), "d-1")),
        ("queue", recorded(Some(&[]), "d-1")),
        ("worker", recorded(None, "d-0")),
    ] {
        previous.components.insert(format!("svc/{name}"), state);
    }
    let wanted = records_for_deletes(Some(&previous), &[]);
    assert_eq!(
        wanted,
        BTreeSet::from(["d-0".to_string()]),
        "only the old one"
    );
    let old_record = DeploymentRecord {
        id: "d-0".into(),
        pieces: [(
            "svc/worker".to_string(),
            RecordedPiece {
                depends_on: vec!["svc/api".into()],
                config_files: BTreeMap::new(),
            },
        )]
        .into(),
        ..DeploymentRecord::default()
    };
    let current = current_components(
        Some(&previous),
        &BTreeMap::new(),
        &|_, _| Some(serde_json::json!({})),
        &[("d-0".to_string(), old_record)].into(),
    );
    let planned = plan("shop", "development", None, &[], &current, &|_, _| {
        FieldChange::InPlace
    });
    let waves: Vec<Vec<(&str, Action)>> = planned
        .waves
        .iter()
        .map(|w| {
            w.iter()
                .map(|c| (c.component.component.as_str(), c.action))
                .collect()
        })
        .collect();
    assert_eq!(
        waves,
        [
            vec![("worker", Action::Delete)],
            vec![("api", Action::Delete)],
            vec![("database", Action::Delete), ("queue", Action::Delete)],
        ]
    );

    let stack = ResolvedStack {
        name: "shop".into(),
        // No file is read: the stack has no components.
        boundary: panka_core::repo_path::Boundary::at("/nonexistent"),
        description: None,
        spec: StackSpec {
            provider: "aws",
            region: "us-east-1".into(),
            tags: BTreeMap::new(),
        },
        environment: Some("development".into()),
        environment_spec: None,
        services: vec!["svc".into()],
        components: Vec::new(),
    };
    let work = jobs(&planned, &[], &stack, "development");
    let r = run(
        work,
        Fake::default(),
        options(10, OnFailure::Rollback),
        Some(previous),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Success);
    let position = |started: bool, name: &str| {
        r.events
            .iter()
            .position(|e| match e {
                Event::ChangeStarted { component, .. } if started => component.component == name,
                Event::ChangeFinished { component, .. } if !started => component.component == name,
                _ => false,
            })
            .unwrap_or_else(|| panic!("no event for {name}: {:?}", r.events))
    };
    assert!(position(false, "worker") < position(true, "api"));
    for used in ["database", "queue"] {
        assert!(
            position(false, "api") < position(true, used),
            "{used} waits for the api: {:?}",
            r.events
        );
    }
    // 10 s per delete, no readiness waits: three rounds, the last two in parallel.
    assert_eq!(r.elapsed, Duration::from_secs(30));
    assert_eq!(r.fake.max_running.load(Ordering::SeqCst), 2);
    assert!(stored(&r.store).await.components.is_empty());
}

#[tokio::test(start_paused = true)]
async fn steps_are_reported_for_the_change_that_takes_them() {
    // Two changes in parallel, one failing: each step is attributed to its own component,
    // with the time it took; a wait still open when its change ended is closed with it;
    // the rollback's steps are reported too, with the rollback's verb.
    let fake = Fake {
        fail_create: BTreeSet::from(["b".to_string()]),
        ..Fake::default()
    };
    let r = run(
        vec![
            job("a", Action::Create, 1, &[]),
            job("b", Action::Create, 1, &[]),
        ],
        fake,
        options(10, OnFailure::Rollback),
        None,
    )
    .await;
    assert!(
        matches!(r.outcome, Outcome::RolledBack { .. }),
        "{:?}",
        r.outcome
    );
    let steps: Vec<(String, String, StepState)> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Step {
                component,
                step,
                state,
            } => Some((component.component.clone(), step.clone(), state.clone())),
            _ => None,
        })
        .collect();
    let of = |name: &str| -> Vec<(String, StepState)> {
        steps
            .iter()
            .filter(|(c, _, _)| c == name)
            .map(|(_, s, st)| (s.clone(), st.clone()))
            .collect()
    };
    let ten = Duration::from_secs(10);
    assert_eq!(
        of("a"),
        vec![
            ("Creating create a".to_string(), StepState::Started),
            (
                "Creating create a".to_string(),
                StepState::Done { elapsed: ten }
            ),
            ("Waiting until ready".to_string(), StepState::Started),
            (
                "Waiting until ready".to_string(),
                StepState::Progress {
                    detail: "0/1 running".into(),
                    percent: Some(0)
                }
            ),
            // Closed as done when the change succeeded (the wait's 250 ms).
            (
                "Waiting until ready".to_string(),
                StepState::Done {
                    elapsed: Duration::from_millis(250)
                }
            ),
            ("Deleting delete a".to_string(), StepState::Started),
            (
                "Deleting delete a".to_string(),
                StepState::Done { elapsed: ten }
            ),
        ]
    );
    // b's create step itself ended (the fake fails after its work), then the change failed.
    assert_eq!(
        of("b")[..2],
        [
            ("Creating create b".to_string(), StepState::Started),
            (
                "Creating create b".to_string(),
                StepState::Done { elapsed: ten }
            ),
        ]
    );
}
