//! `panka logs` on moto: events put with the SDK into the component's log group, read
//! back with the default window, `--since`, `--filter`, JSON, the stack found from the
//! service, the log group recorded in state, and `--follow` printing each new event
//! exactly once and stopping cleanly on Ctrl-C.

use crate::support::cli::{panka_aws_std, text};
use crate::support::files::walkthrough_repo;
use crate::support::moto::{MotoServer, answered_ok, raw_post, unsigned_authorization};
use assert_cmd::Command;
use panka_core::model::{ComponentId, ComponentKind};
use panka_core::state::local::LocalStore;
use panka_core::state::{ComponentState, ComponentStatus, StateDocument, StateKey, StateStore};
use panka_providers::aws::AwsClients;
use panka_providers::log_events::{LogQuery, LogReader};
use serde_json::Value;
use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const GROUP: &str = "/panka/notification-platform/development/email-service/api";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as panka prints it.
fn stamp(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .expect("time")
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

struct Env {
    moto: MotoServer,
    repo: tempfile::TempDir,
    clients: AwsClients,
}

impl Env {
    async fn new() -> Env {
        let moto = MotoServer::start();
        let repo = walkthrough_repo();
        let clients = moto.clients().await;
        Env {
            moto,
            repo,
            clients,
        }
    }

    fn command(&self) -> std::process::Command {
        let home = self.repo.path();
        panka_aws_std(home, home, &self.moto.endpoint())
    }

    fn panka(&self) -> Command {
        Command::from_std(self.command())
    }

    async fn group(&self, group: &str, streams: &[&str]) {
        self.clients
            .cloudwatchlogs
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
            .expect("log group");
        for stream in streams {
            self.clients
                .cloudwatchlogs
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(*stream)
                .send()
                .await
                .expect("log stream");
        }
    }

    /// PutLogEvents. Sent as moto's JSON protocol over plain HTTP: this test crate does
    /// not depend on `aws-sdk-cloudwatchlogs`, whose `InputLogEvent` the SDK call needs
    /// (moto does not check signatures; the credential scope names the service).
    async fn put(&self, group: &str, stream: &str, events: &[(i64, &str)]) {
        let body = serde_json::json!({
            "logGroupName": group,
            "logStreamName": stream,
            "logEvents": events
                .iter()
                .map(|(ts, message)| serde_json::json!({"timestamp": ts, "message": message}))
                .collect::<Vec<_>>(),
        })
        .to_string();
        let port = self.moto.port();
        let answer = tokio::task::spawn_blocking(move || {
            raw_post(
                port,
                "/",
                &[
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", "Logs_20140328.PutLogEvents"),
                    ("Authorization", &unsigned_authorization("logs")),
                ],
                &body,
            )
        })
        .await
        .expect("join");
        assert!(answered_ok(&answer), "PutLogEvents: {answer}");
    }
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_since_filter_json_and_stack_discovery() {
    let env = Env::new().await;
    env.group(GROUP, &["api/api/1", "api/api/2"]).await;
    let now = now_ms();
    let old = now - 2 * 3600 * 1000;
    let recent = now - 5 * 60 * 1000;
    env.put(GROUP, "api/api/1", &[(old, "INFO booted long ago")])
        .await;
    env.put(
        GROUP,
        "api/api/1",
        &[
            (recent, "INFO Starting email-api v1.0.0"),
            (
                recent + 1000,
                r#"{"level":"error","msg":"queue unreachable"}"#,
            ),
        ],
    )
    .await;
    env.put(GROUP, "api/api/2", &[(recent + 500, "GET /health 200")])
        .await;

    // The default window (10 minutes), the stack found as the only one with the service.
    let out = env
        .panka()
        .args(["logs", "--component", "email-service/api"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            format!("{} INFO Starting email-api v1.0.0", stamp(recent)),
            format!("{} GET /health 200", stamp(recent + 500)),
            format!("{} ERROR queue unreachable", stamp(recent + 1000)),
        ]
    );

    // --since reaches the older event.
    let out = env
        .panka()
        .args([
            "logs",
            "-c",
            "email-service/api",
            "--stack",
            "notification-platform",
            "--since",
            "3h",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], format!("{} INFO booted long ago", stamp(old)));

    // --filter passes CloudWatch's filter pattern.
    let out = env
        .panka()
        .args([
            "logs",
            "-c",
            "email-service/api",
            "--since",
            "3h",
            "--filter",
            "Starting",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stdout_lines(&out),
        [format!("{} INFO Starting email-api v1.0.0", stamp(recent))]
    );

    // One JSON document.
    let out = env
        .panka()
        .args(["logs", "-c", "email-service/api", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["log_group"], GROUP);
    let events = doc["events"].as_array().expect("events");
    assert_eq!(events.len(), 3);
    assert_eq!(events[2]["level"], "ERROR");
    assert_eq!(events[2]["message"], "queue unreachable");
    assert_eq!(events[2]["stream"], "api/api/1");
    assert_eq!(events[1]["level"], Value::Null);
    assert!(
        events[0]["timestamp"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{doc}"
    );

    // Nothing in a narrow window: said on stderr, exit 0.
    let out = env
        .panka()
        .args(["logs", "-c", "email-service/api", "--since", "1m"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty());
    assert!(text(&out).contains("No events in"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_microservices_have_logs_and_missing_groups_are_explained() {
    let env = Env::new().await;
    let out = env
        .panka()
        .args(["logs", "-c", "email-service/queue"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("email-service/queue is of kind SQS: only MicroService components have logs"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("components with logs: email-service/api"));

    let out = env
        .panka()
        .args(["logs", "-c", "email-service/apj"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("did you mean `email-service/api`?"),
        "{}",
        text(&out)
    );

    let out = env
        .panka()
        .args(["logs", "-c", "email-service/api"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("log group {GROUP} does not exist")),
        "{}",
        text(&out)
    );

    let out = env
        .panka()
        .args(["logs", "-c", "api"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is not `service/component`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_group_recorded_in_state_wins() {
    let env = Env::new().await;
    let custom = "/custom/email-api";
    env.group(custom, &["s"]).await;
    env.group(GROUP, &["s"]).await;
    let recent = now_ms() - 60_000;
    env.put(custom, "s", &[(recent, "WARN from the recorded group")])
        .await;
    env.put(GROUP, "s", &[(recent, "INFO from the derived group")])
        .await;

    let store = LocalStore::new(env.repo.path().join(".panka"));
    let key = StateKey::new("notification-platform", "development");
    let mut doc = StateDocument::new(
        "notification-platform",
        "development",
        jiff::Timestamp::now(),
    );
    doc.components.insert(
        ComponentId::new("email-service", "api").to_string(),
        ComponentState {
            kind: ComponentKind::MicroService,
            physical_ids: [("log_group".to_string(), custom.to_string())].into(),
            applied_spec: Value::Null,
            outputs: Default::default(),
            status: ComponentStatus::Ready,
            updated_at: "2024-01-15T17:00:00Z".into(),
            deployment_id: "d1".into(),
            depends_on: None,
        },
    );
    store.write(&key, &doc, None).await.expect("state");

    let out = env
        .panka()
        .args(["logs", "-c", "email-service/api"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stdout_lines(&out),
        [format!("{} WARN from the recorded group", stamp(recent))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_each_new_event_once_and_stops_on_ctrl_c() {
    let env = Env::new().await;
    env.group(GROUP, &["a", "b"]).await;
    let start = now_ms() - 30_000;
    env.put(GROUP, "a", &[(start, "INFO first")]).await;

    let mut child = env
        .command()
        .args([
            "logs",
            "-c",
            "email-service/api",
            "--follow",
            "--poll-interval",
            "200ms",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line for {what} within 30 s"))
    };
    assert_eq!(
        next("the first event"),
        format!("{} INFO first", stamp(start))
    );

    // New events in both streams, one stamped before the last one printed (ingested
    // late), then more after a few polls.
    let now = now_ms();
    env.put(
        GROUP,
        "b",
        &[(start - 1000, "INFO late"), (now, "INFO second")],
    )
    .await;
    let mut got = vec![next("late"), next("second")];
    env.put(GROUP, "a", &[(now + 1, "ERROR third")]).await;
    got.push(next("third"));
    got.sort();
    let mut expected = vec![
        format!("{} INFO late", stamp(start - 1000)),
        format!("{} INFO second", stamp(now)),
        format!("{} ERROR third", stamp(now + 1)),
    ];
    expected.sort();
    assert_eq!(got, expected);

    // Several more polls print nothing again.
    let quiet_until = Instant::now() + Duration::from_millis(1500);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Ok(line) = lines.recv_timeout(left) {
            panic!("printed again: {line}");
        }
    }

    let interrupt = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupt.success());
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    assert_eq!(status.code(), Some(0), "Ctrl-C ends --follow with exit 0");
    assert!(lines.try_recv().is_err(), "nothing printed after Ctrl-C");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_follows_pagination_tokens_and_hands_out_each_event_once() {
    let env = Env::new().await;
    env.group(GROUP, &["a", "b"]).await;
    let base = now_ms() - 10_000;
    env.put(GROUP, "a", &[(base, "1"), (base + 1, "2"), (base + 2, "3")])
        .await;
    env.put(GROUP, "b", &[(base + 1, "4"), (base + 3, "5")])
        .await;
    let mut reader = LogReader::new(
        env.clients.cloudwatchlogs.clone(),
        LogQuery {
            group: GROUP.into(),
            start_ms: Some(base - 1),
            filter: None,
            page_size: Some(2),
        },
    );
    let mut pages = Vec::new();
    let count = reader
        .poll(|page| pages.push(page.iter().map(|e| e.message.clone()).collect::<Vec<_>>()))
        .await
        .expect("poll");
    assert_eq!(count, 5);
    assert!(pages.len() >= 3, "five events in pages of two: {pages:?}");
    let mut all: Vec<String> = pages.concat();
    all.sort();
    assert_eq!(all, ["1", "2", "3", "4", "5"]);

    assert_eq!(reader.poll(|_| {}).await.expect("poll"), 0);
    env.put(GROUP, "b", &[(base + 4, "6")]).await;
    let mut fresh = Vec::new();
    reader
        .poll(|page| fresh.extend(page.into_iter().map(|e| e.message)))
        .await
        .expect("poll");
    assert_eq!(fresh, ["6"]);
}
