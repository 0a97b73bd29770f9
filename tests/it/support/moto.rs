//! A `moto_server` on loopback for end-to-end tests, and SDK clients isolated per account.
//!
//! One server per test: [`MotoServer::start`] spawns it on a free port and waits until it
//! answers (well under a second here); dropping the [`MotoServer`] kills it. Within one
//! server, each [`MotoAccount`] is a separate AWS account: its clients send moto's
//! `x-moto-account-id` header with a fresh 12-digit id, so resources of one account are
//! invisible to another.
//!
//! ```ignore
//! use crate::support::moto::MotoServer;
//!
//! #[tokio::test]
//! async fn something() {
//!     let moto = MotoServer::start();
//!     let account = moto.account().await;
//!     account.clients.s3.create_bucket().bucket("b").send().await.expect("create");
//! }
//! ```
//!
//! Nothing here sets process-wide environment variables: tests run on parallel threads of
//! one process, so credentials, region and endpoint are passed explicitly.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Credentials, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use panka_providers::aws::{
    AwsClients, AwsSettings, Intercept, SdkConfig, SharedInterceptor, load_sdk_config_with,
};

/// The environment variable naming the `moto_server` executable; `moto_server` from `PATH`
/// when unset.
pub const MOTO_SERVER_ENV: &str = "PANKA_MOTO_SERVER";
/// The request header by which moto picks the account a request acts in.
pub const ACCOUNT_ID_HEADER: &str = "x-moto-account-id";
/// The region every test client uses.
pub const REGION: &str = "us-east-1";
/// moto's account when a request names none; never handed out by [`unique_account_id`].
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The walkthrough's database password secret (`fixtures/notification-platform`), which an
/// apply of it reads.
pub const DB_SECRET: &str = "/stacks/notification-platform/email-service/db-password";

/// How long `moto_server` may take to answer after it is spawned.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How often readiness is probed.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How many times to spawn on a new port when the server exits at once, which happens when
/// another process took the free port between our probe and moto's bind.
const SPAWN_ATTEMPTS: u32 = 3;

/// A running `moto_server` child process, killed when this value is dropped.
pub struct MotoServer {
    child: Child,
    port: u16,
    log_path: PathBuf,
    startup: Duration,
    // Holds the log file's directory until the server is gone.
    _log_dir: tempfile::TempDir,
}

impl MotoServer {
    /// Spawns `moto_server -H 127.0.0.1 -p PORT` on a free loopback port and waits until
    /// `GET /moto-api/` answers 200.
    ///
    /// The executable is `$PANKA_MOTO_SERVER` when set, else `moto_server` from `PATH`.
    /// Its stdout and stderr go to a log file in a temporary directory.
    ///
    /// # Panics
    ///
    /// When the executable cannot be spawned (moto not installed), when the server exits
    /// before answering on every attempt, or when it does not answer within 30 s; the
    /// message carries the server's log.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Like [`MotoServer::start`], with extra environment variables for the server, such
    /// as `MOTO_ECS_SERVICE_RUNNING` (how many tasks ECS services report running).
    pub fn start_with_env(server_env: &[(&str, &str)]) -> Self {
        Self::start_with(server_env, false)
    }

    /// Like [`MotoServer::start_with_env`], recording every request it answers.
    pub fn start_recording(server_env: &[(&str, &str)]) -> (Self, Recording) {
        let dir = tempfile::tempdir().expect("tempdir");
        let recording = Recording {
            path: dir.path().join("requests.jsonl"),
            _dir: dir,
        };
        let path = recording.path.to_string_lossy().into_owned();
        let mut server_env = server_env.to_vec();
        server_env.extend([
            ("MOTO_ENABLE_RECORDING", "true"),
            ("MOTO_RECORDER_FILEPATH", &path),
        ]);
        (Self::start_with_env(&server_env), recording)
    }

    /// Like [`MotoServer::start`], answering one request at a time. moto's conditional
    /// writes are not atomic across its request threads (a DynamoDB `PutItem` with
    /// `attribute_not_exists` checks, then writes: two racing puts can both succeed, which
    /// DynamoDB never allows); lock-race tests need the serialised server AWS behaves like.
    pub fn start_serialized() -> Self {
        Self::start_with(&[], true)
    }

    fn start_with(server_env: &[(&str, &str)], serialized: bool) -> Self {
        let executable = std::env::var_os(MOTO_SERVER_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("moto_server"));
        let log_dir = tempfile::Builder::new()
            .prefix("panka-moto-")
            .tempdir()
            .expect("create a temporary directory for the moto_server log");
        let started = Instant::now();
        let deadline = started + READY_DEADLINE;

        for attempt in 1..=SPAWN_ATTEMPTS {
            let port = free_loopback_port();
            let log_path = log_dir.path().join(format!("moto_server-{port}.log"));
            let mut child = if serialized {
                spawn_serialized(port, &log_path)
            } else {
                spawn(&executable, port, &log_path, server_env)
            };
            match wait_until_ready(&mut child, port, deadline) {
                Readiness::Ready => {
                    let startup = started.elapsed();
                    eprintln!(
                        "moto_server pid {} on 127.0.0.1:{port} ready in {} ms (log: {})",
                        child.id(),
                        startup.as_millis(),
                        log_path.display()
                    );
                    return Self {
                        child,
                        port,
                        log_path,
                        startup,
                        _log_dir: log_dir,
                    };
                }
                Readiness::Exited(status) if attempt < SPAWN_ATTEMPTS => {
                    eprintln!(
                        "moto_server on port {port} exited with {status} before answering; \
                         retrying on another port. Its log:\n{}",
                        read_log(&log_path)
                    );
                }
                Readiness::Exited(status) => panic!(
                    "moto_server exited with {status} before answering on 127.0.0.1:{port} \
                     ({attempt} attempts). Its log:\n{}",
                    read_log(&log_path)
                ),
                Readiness::TimedOut => {
                    kill(&mut child);
                    panic!(
                        "moto_server did not answer GET http://127.0.0.1:{port}/moto-api/ \
                         within {READY_DEADLINE:?}. Its log:\n{}",
                        read_log(&log_path)
                    );
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How long the server took from spawn to its first answer.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The server's log so far (its stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// Sends an unsigned `GET path` (such as `/bucket?versioning`) acting in `account_id`
    /// and returns the status and the body. moto does not check signatures; this reads
    /// answers the SDK cannot parse (moto 5.2.1 answers GetBucketVersioning with the root
    /// element `GetBucketVersioningResponse` where S3 sends `VersioningConfiguration`).
    ///
    /// # Panics
    ///
    /// When the server cannot be reached or answers something that is not HTTP.
    pub fn raw_get(&self, account_id: &str, path: &str) -> (u16, String) {
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n{ACCOUNT_ID_HEADER}: {account_id}\r\n\r\n",
            self.port
        );
        let response = exchange(self.port, &request, &format!("GET {path}"));
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("GET {path}: not an HTTP answer: {head}"));
        (status, body.to_owned())
    }

    /// Settings that point the SDK at this server, in [`REGION`].
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: Some(REGION.to_owned()),
            profile: None,
            endpoint_url: Some(self.endpoint()),
        }
    }

    /// Clients acting in moto's default account, the one a `panka` process pointed at this
    /// server acts in (a separate process cannot carry the account header).
    pub async fn clients(&self) -> AwsClients {
        let settings = self.settings();
        AwsClients::new(&test_sdk_config(&settings).await, &settings)
    }

    /// Clients acting in the account `account_id` (one of [`unique_account_id`]).
    pub async fn clients_in(&self, account_id: &str) -> AwsClients {
        let settings = self.settings();
        account_clients(&test_sdk_config(&settings).await, &settings, account_id)
    }

    /// Settings for this server together with a fresh account id, for tests that build
    /// their clients themselves with [`test_sdk_config`] and [`account_clients`].
    pub fn account_settings(&self) -> (AwsSettings, String) {
        (self.settings(), unique_account_id())
    }

    /// A fresh account on this server, with clients whose every request acts in it.
    pub async fn account(&self) -> MotoAccount {
        let (settings, account_id) = self.account_settings();
        let sdk_config = test_sdk_config(&settings).await;
        let clients = account_clients(&sdk_config, &settings, &account_id);
        MotoAccount {
            account_id,
            settings,
            sdk_config,
            clients,
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Sends `POST path` with `headers` and `body` to the moto server on `port` over plain
/// HTTP/1.0 and returns the whole answer (status line, headers, body): for calls the SDK
/// cannot make from these tests (a crate they do not depend on, moto's own API). Blocking;
/// it takes the port, so an async test can move it into `spawn_blocking`.
pub fn raw_post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut request = format!("POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    exchange(port, &request, &format!("POST {path}"))
}

/// The `Authorization` header of an unsigned request to the AWS `service` (`sts`, `logs`,
/// …): moto checks no signature while IAM is not enforced, but finds the service in the
/// credential scope.
pub fn unsigned_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

/// Whether an answer of [`raw_post`] has status 200.
pub fn answered_ok(answer: &str) -> bool {
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// `text` (an ARN) as a form value: its `:` and `/` escaped.
pub fn form_value(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}

/// Sends `request` to the server on `port` and reads the answer to its end (the server
/// closes an HTTP/1.0 connection after answering).
fn exchange(port: u16, request: &str, what: &str) -> String {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .unwrap_or_else(|err| panic!("connect to moto_server on {address}: {err}"));
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|err| panic!("send {what}: {err}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|err| panic!("read the answer to {what}: {err}"));
    response
}

/// Creates the secret `name` holding `value` (plain text or JSON): its ARN.
pub async fn create_secret(clients: &AwsClients, name: &str, value: &str) -> String {
    clients
        .secretsmanager
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|err| panic!("create the secret {name}: {err:?}"))
        .arn()
        .expect("a secret ARN")
        .to_string()
}

/// The requests a moto server recorded (`MOTO_ENABLE_RECORDING`), one JSON object a line,
/// in a file of a temporary folder ([`MotoServer::start_recording`]).
pub struct Recording {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Recording {
    /// Every request recorded so far.
    pub fn entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a recorded request"))
            .collect()
    }

    /// The AWS operations of the requests recorded after the first `from`.
    pub fn operations_since(&self, from: usize) -> Vec<String> {
        self.entries().iter().skip(from).map(operation).collect()
    }
}

/// The operation a recorded request called: the JSON protocols name it in
/// `X-Amz-Target` (`AmazonEC2ContainerServiceV20141113.DescribeServices`), the query
/// protocols (EC2, RDS, ELB, IAM) in the body's `Action=`, form-encoded text that moto may
/// store base64-encoded.
fn operation(entry: &serde_json::Value) -> String {
    let target = entry["headers"].as_object().and_then(|headers| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, value)| value.as_str())
    });
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let body = entry["body"].as_str().unwrap_or_default();
    let body = if entry["body_encoded"].as_bool() == Some(true) {
        String::from_utf8_lossy(&super::decode::base64(body)).to_string()
    } else {
        body.to_string()
    };
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "<unknown: {} {}>",
                entry["method"].as_str().unwrap_or("?"),
                entry["url"].as_str().unwrap_or("?")
            )
        })
}

/// Whether an operation only reads (`Describe…`, `List…`, `Get…`).
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

/// The walkthrough's stack ready for `panka apply` on moto.
pub struct Walkthrough {
    /// A server whose ECS services report two running tasks (moto starts none, and an
    /// apply waits for them).
    pub moto: MotoServer,
    /// A deployment repo holding a copy of the stack at `stacks/notification-platform`.
    pub repo: tempfile::TempDir,
    /// Clients in moto's default account, the one a `panka` process acts in.
    pub clients: AwsClients,
    /// The ARN of the database secret [`DB_SECRET`].
    pub secret_arn: String,
}

impl Walkthrough {
    /// Starts the server and creates the database secret holding `{"password":"…"}`.
    pub async fn on_moto(password: &str) -> Walkthrough {
        let moto = MotoServer::start_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "2")]);
        let repo = super::files::walkthrough_repo();
        let clients = moto.clients().await;
        let secret_arn = create_secret(
            &clients,
            DB_SECRET,
            &format!(r#"{{"password":"{password}"}}"#),
        )
        .await;
        Walkthrough {
            moto,
            repo,
            clients,
            secret_arn,
        }
    }
}

/// One isolated account on a [`MotoServer`].
pub struct MotoAccount {
    /// The 12-digit account id every request of `clients` carries.
    pub account_id: String,
    /// The settings `sdk_config` was loaded from.
    pub settings: AwsSettings,
    /// The SDK config, with fixed test credentials; it does not carry the account header,
    /// so clients built from it alone act in moto's default account.
    pub sdk_config: SdkConfig,
    /// Clients built by `panka_providers`, acting in `account_id`.
    pub clients: AwsClients,
}

/// Loads the SDK config the way the CLI does ([`load_sdk_config_with`]), but with fixed test
/// credentials and without reading the host's environment or `~/.aws` files.
pub async fn test_sdk_config(settings: &AwsSettings) -> SdkConfig {
    load_sdk_config_with(settings, |loader| {
        loader
            .empty_test_environment()
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
    })
    .await
}

/// [`AwsClients`] whose every request carries `x-moto-account-id: account_id`.
pub fn account_clients(
    sdk_config: &SdkConfig,
    settings: &AwsSettings,
    account_id: &str,
) -> AwsClients {
    let header = SharedInterceptor::new(MotoAccountHeader {
        account_id: account_id.to_owned(),
    });
    AwsClients::with_interceptors(sdk_config, settings, &[header])
}

/// A 12-digit account id that no other call in this process returns, and that differs
/// between processes with high probability; never moto's [`DEFAULT_ACCOUNT_ID`].
pub fn unique_account_id() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const SPAN: u64 = 900_000_000_000;
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0);
        // Leave room below SPAN for the counter.
        (nanos ^ (u64::from(std::process::id()) << 20)) % (SPAN / 1_000_000) * 1_000_000
    });
    loop {
        let id = 100_000_000_000 + (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        let id = id.to_string();
        if id != DEFAULT_ACCOUNT_ID {
            return id;
        }
    }
}

/// Adds `x-moto-account-id` to every request, before it is signed.
#[derive(Debug)]
struct MotoAccountHeader {
    account_id: String,
}

impl Intercept for MotoAccountHeader {
    fn name(&self) -> &'static str {
        "MotoAccountHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert(ACCOUNT_ID_HEADER, self.account_id.clone());
        Ok(())
    }
}

enum Readiness {
    Ready,
    Exited(ExitStatus),
    TimedOut,
}

/// A loopback port that was free a moment ago: bind port 0, read the port, release it.
fn free_loopback_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port on 127.0.0.1");
    listener.local_addr().expect("read the bound port").port()
}

fn spawn(executable: &Path, port: u16, log_path: &Path, server_env: &[(&str, &str)]) -> Child {
    let log =
        File::create(log_path).unwrap_or_else(|err| panic!("create {}: {err}", log_path.display()));
    let log_err = log
        .try_clone()
        .unwrap_or_else(|err| panic!("duplicate {}: {err}", log_path.display()));
    Command::new(executable)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .envs(server_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "could not start `{}`: {err}.\n\
                 The end-to-end tests need moto's server: run the test command from \
                 README.md, which installs moto (`pip install 'moto[server]'`), or set \
                 {MOTO_SERVER_ENV} to the path of a `moto_server` executable.",
                executable.display()
            )
        })
}

/// moto's own server, started with werkzeug's single-threaded server instead of
/// `moto_server`'s threaded one (the same app; `scripts/moto-env` installs moto for this
/// `python3`).
fn spawn_serialized(port: u16, log_path: &Path) -> Child {
    const SERVER: &str = "import sys\n\
        from werkzeug.serving import run_simple\n\
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app\n\
        run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)\n";
    let log =
        File::create(log_path).unwrap_or_else(|err| panic!("create {}: {err}", log_path.display()));
    let log_err = log
        .try_clone()
        .unwrap_or_else(|err| panic!("duplicate {}: {err}", log_path.display()));
    let python = std::env::var_os("PANKA_MOTO_PYTHON").unwrap_or_else(|| "python3".into());
    Command::new(python)
        .args(["-c", SERVER, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|err| panic!("could not start moto with python3: {err}"))
}

fn wait_until_ready(child: &mut Child, port: u16, deadline: Instant) -> Readiness {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Readiness::Exited(status),
            Ok(None) => {}
            Err(err) => panic!("poll the moto_server child: {err}"),
        }
        if answers(port) {
            return Readiness::Ready;
        }
        if Instant::now() >= deadline {
            return Readiness::TimedOut;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Whether `GET /moto-api/` on the port answers with status 200 (plain HTTP/1.0).
fn answers(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = Duration::from_secs(1);
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err()
        || stream.set_write_timeout(Some(timeout)).is_err()
    {
        return false;
    }
    let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = Vec::new();
    let mut buffer = [0_u8; 256];
    while !head.contains(&b'\n') {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
    let status_line = String::from_utf8_lossy(&head);
    let mut parts = status_line.split_whitespace();
    matches!(
        (parts.next(), parts.next()),
        (Some(version), Some("200")) if version.starts_with("HTTP/")
    )
}

fn kill(child: &mut Child) {
    // Errors mean the child is already gone, which is the goal.
    let _ = child.kill();
    let _ = child.wait();
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| format!("<could not read {}: {err}>", path.display()))
}
