//! A fault-injection HTTP/1.1 proxy for loopback tests: `panka → proxy → moto_server`.
//!
//! The proxy forwards every request to the upstream (one fresh upstream connection per
//! request, `Connection: close`, so any response framing the upstream uses is read to its
//! end and re-framed with a `Content-Length` for the client) and, at rates chosen in
//! [`FaultConfig`], answers instead:
//!
//! - **throttling**: HTTP 400 with the error body of the request's protocol (`__type`
//!   `ThrottlingException` for JSON services, `Throttling` for query services,
//!   `RequestLimitExceeded` for EC2; S3 has no 400 throttle, so it gets 503 `SlowDown`);
//! - **503 `SlowDown`** and **500 `InternalError`**;
//! - **connection reset mid-request**: all of the body but its last byte is read, then the
//!   socket is closed with `SO_LINGER` 0, which sends a TCP RST.
//!
//! Throttles and 503s always happen *before* forwarding (the upstream never saw the
//! request, as with real throttling). 500s and resets happen before forwarding too, except
//! for the share [`FaultConfig::after_forward`] of them, which happen *after* the upstream
//! did the work: the client sees a failure for a request that succeeded, which is what
//! proves that retries and the next run adopt instead of duplicating.
//!
//! Every request, faulted or not, can be delayed by [`FaultConfig::latency`], and is
//! counted per AWS service and action (the service from the SigV4 credential scope; the
//! action from `X-Amz-Target`, the `Action=` form field, or S3's `x-id` / method and path),
//! so tests and benchmarks can report API calls per component kind.
//!
//! Fault decisions come from a SplitMix64 generator seeded by [`FaultConfig::seed`], one
//! draw per request in arrival order.
//!
//! Kill tests use [`FaultConfig::freeze_after_forwarded`]: once that many requests reached
//! the upstream, the proxy holds every response and forwards nothing new, so a test can kill
//! the client between "AWS did it" and "panka recorded it", then [`FaultProxy::unfreeze`].
//!
//! Lock-race tests use [`FaultProxy::hold`]: requests of one `service:Action` prefix wait
//! before forwarding until [`FaultProxy::release`], which pins a process at a known point
//! (such as its first state write) without touching the others.
//!
//! A control path answers locally and is never forwarded: `GET /__proxy/stats` returns
//! [`Stats`] as JSON and `POST /__proxy/reset` zeroes the counters (for scripts; see
//! `examples/fault_proxy.rs`).
//!
//! The proxy runs on its own thread and runtime, so it works the same from synchronous
//! tests, from `#[tokio::test]`s that block on child processes, and from the example binary.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest request or response head the proxy accepts.
const MAX_HEAD: usize = 64 * 1024;
/// How long one upstream exchange may take before the client gets a 504.
const UPSTREAM_DEADLINE: Duration = Duration::from_secs(120);
/// How often a held response checks whether the proxy was unfrozen.
const FROZEN_POLL: Duration = Duration::from_millis(5);

/// What to inject, and how often. Rates are fractions of all requests (0.0 to 1.0); their
/// sum is the total fault rate.
#[derive(Clone, Debug, Default)]
pub struct FaultConfig {
    /// Seeds the fault decisions.
    pub seed: u64,
    /// Protocol-shaped throttling errors (HTTP 400; 503 `SlowDown` for S3).
    pub throttle: f64,
    /// HTTP 503 `SlowDown`.
    pub slow_down: f64,
    /// HTTP 500 `InternalError`.
    pub internal_error: f64,
    /// Connections reset mid-request.
    pub reset: f64,
    /// The share of 500s and resets injected after the upstream handled the request.
    pub after_forward: f64,
    /// Added to every request before it is answered or forwarded.
    pub latency: Duration,
    /// Sent upstream as `x-moto-account-id`, so that one moto server holds a separate
    /// account per proxy (a `panka` process cannot add the header itself).
    pub account_id: Option<String>,
    /// Hold every response, and forward nothing new, once this many requests have reached
    /// the upstream.
    pub freeze_after_forwarded: Option<u64>,
    /// Calls (`service:Action` prefixes, such as `iam:CreateRole`) whose first request is
    /// forwarded and then answered with a 500: the work is done, the answer lost. Targets
    /// the case the random faults reach only by chance.
    pub lose_first_answer: Vec<String>,
}

impl FaultConfig {
    /// No faults, no latency: a transparent, counting proxy.
    pub fn transparent() -> Self {
        Self::default()
    }

    /// `rate` of all requests faulted, split evenly over throttling, 503, 500 and resets,
    /// half of the 500s and resets after forwarding.
    pub fn uniform(rate: f64, seed: u64) -> Self {
        let each = rate / 4.0;
        FaultConfig {
            seed,
            throttle: each,
            slow_down: each,
            internal_error: each,
            reset: each,
            after_forward: 0.5,
            ..Self::default()
        }
    }

    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn with_account(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    pub fn total_rate(&self) -> f64 {
        self.throttle + self.slow_down + self.internal_error + self.reset
    }
}

/// What the proxy saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Requests received (control requests excluded).
    pub requests: u64,
    /// Requests that reached the upstream.
    pub forwarded: u64,
    /// Time spent waiting for the upstream's answers, summed over forwarded requests, in
    /// microseconds (the upstream's service time plus loopback, without injected latency).
    pub upstream_micros: u64,
    /// Requests by `service:Action`, such as `sqs:CreateQueue`, faulted ones included.
    pub calls: BTreeMap<String, u64>,
    /// Faults injected, by kind: `throttle`, `slow_down`, `internal_error`, `reset`, and
    /// `internal_error_after` / `reset_after` for the ones injected after forwarding.
    pub faults: BTreeMap<String, u64>,
    /// Every faulted request in arrival order, as `N service:Action fault` (N counts all
    /// requests from 1), to tell which call a failure came from.
    pub fault_log: Vec<String>,
}

impl Stats {
    /// Requests per AWS service (the SigV4 service name, such as `sqs` or `ecs`).
    pub fn by_service(&self) -> BTreeMap<String, u64> {
        let mut services = BTreeMap::new();
        for (call, count) in &self.calls {
            let service = call.split(':').next().unwrap_or(call);
            *services.entry(service.to_owned()).or_insert(0) += count;
        }
        services
    }

    /// The mean time the upstream took per forwarded request, in milliseconds.
    pub fn mean_upstream_ms(&self) -> f64 {
        if self.forwarded == 0 {
            0.0
        } else {
            self.upstream_micros as f64 / self.forwarded as f64 / 1000.0
        }
    }

    /// Every fault injected.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Requests of one `service:Action`.
    pub fn count(&self, call: &str) -> u64 {
        self.calls.get(call).copied().unwrap_or(0)
    }
}

/// A running proxy; dropping it stops it.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`).
    ///
    /// # Errors
    ///
    /// When the upstream URL is not `http://HOST:PORT`, or no port or runtime can be had.
    pub fn start(upstream: &str, config: FaultConfig) -> io::Result<FaultProxy> {
        Self::start_on(upstream, config, 0)
    }

    /// Like [`FaultProxy::start`], on the given loopback port (0: any free port).
    pub fn start_on(upstream: &str, config: FaultConfig, port: u16) -> io::Result<FaultProxy> {
        let upstream = parse_upstream(upstream)?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::new(upstream, config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()?;
        let (shutdown, stop) = tokio::sync::oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(err) => {
                            eprintln!("fault proxy: cannot listen: {err}");
                            return;
                        }
                    };
                    tokio::select! {
                        () = accept_loop(listener, serving) => {}
                        _ = stop => {}
                    }
                });
                // Connection tasks still holding responses are dropped with the runtime.
                runtime.shutdown_background();
            })?;
        Ok(FaultProxy {
            address,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT`, to give panka as its endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Zeroes the counters (the fault generator keeps its position).
    pub fn reset_stats(&self) {
        self.shared.reset_stats();
    }

    /// Replaces the fault configuration for requests that arrive from now on. The
    /// generator is re-seeded from the new seed.
    pub fn set_config(&self, config: FaultConfig) {
        self.shared.set_config(config);
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Whether [`FaultConfig::freeze_after_forwarded`] was reached.
    pub fn frozen(&self) -> bool {
        self.shared.frozen.load(Ordering::SeqCst)
    }

    /// Lets held responses go (to whoever is still listening) and new requests through,
    /// and clears the freeze point.
    pub fn unfreeze(&self) {
        self.shared.lock_config().freeze_after_forwarded = None;
        self.shared.frozen.store(false, Ordering::SeqCst);
    }

    /// From now on, requests whose `service:Action` starts with `call_prefix` (such as
    /// `s3:PutObject`) wait before forwarding until [`FaultProxy::release`].
    pub fn hold(&self, call_prefix: &str) {
        *self.shared.lock_hold() = Some(call_prefix.to_owned());
    }

    /// Lets held requests go on and stops holding.
    pub fn release(&self) {
        *self.shared.lock_hold() = None;
    }

    /// Requests waiting in a [`FaultProxy::hold`] right now.
    pub fn held(&self) -> u64 {
        self.shared.holding.load(Ordering::SeqCst)
    }

    /// Waits until `condition` holds or `timeout` passes; returns whether it held.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&FaultProxy) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn parse_upstream(url: &str) -> io::Result<String> {
    let authority = url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("upstream must be http://HOST:PORT, got {url}"),
            )
        })?;
    Ok(authority.to_owned())
}

/// What one request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Throttle,
    SlowDown,
    InternalError { after: bool },
    Reset { after: bool },
}

impl Fault {
    fn label(self) -> Option<&'static str> {
        match self {
            Fault::None => None,
            Fault::Throttle => Some("throttle"),
            Fault::SlowDown => Some("slow_down"),
            Fault::InternalError { after: false } => Some("internal_error"),
            Fault::InternalError { after: true } => Some("internal_error_after"),
            Fault::Reset { after: false } => Some("reset"),
            Fault::Reset { after: true } => Some("reset_after"),
        }
    }
}

/// SplitMix64: tiny, seedable, and good enough to spread faults.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

struct Shared {
    upstream: String,
    config: Mutex<FaultConfig>,
    rng: Mutex<Rng>,
    requests: AtomicU64,
    forwarded: AtomicU64,
    upstream_micros: AtomicU64,
    frozen: AtomicBool,
    hold: Mutex<Option<String>>,
    holding: AtomicU64,
    /// What is left of [`FaultConfig::lose_first_answer`].
    to_lose: Mutex<Vec<String>>,
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    calls: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    fault_log: Vec<String>,
}

impl Shared {
    fn new(upstream: String, config: FaultConfig) -> Self {
        Shared {
            to_lose: Mutex::new(config.lose_first_answer.clone()),
            upstream,
            rng: Mutex::new(Rng(config.seed)),
            config: Mutex::new(config),
            requests: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            upstream_micros: AtomicU64::new(0),
            frozen: AtomicBool::new(false),
            hold: Mutex::new(None),
            holding: AtomicU64::new(0),

            counters: Mutex::new(Counters::default()),
        }
    }

    // A panic while holding these locks can only come from a bug in this file; the data
    // (counters, config) stays usable, so poisoning is ignored.
    fn lock_config(&self) -> MutexGuard<'_, FaultConfig> {
        self.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_hold(&self) -> MutexGuard<'_, Option<String>> {
        self.hold.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_held(&self, call: &str) -> bool {
        self.lock_hold()
            .as_deref()
            .is_some_and(|prefix| call.starts_with(prefix))
    }

    /// Waits while `call` matches the hold.
    async fn wait_released(&self, call: &str) {
        if !self.is_held(call) {
            return;
        }
        self.holding.fetch_add(1, Ordering::SeqCst);
        while self.is_held(call) {
            tokio::time::sleep(FROZEN_POLL).await;
        }
        self.holding.fetch_sub(1, Ordering::SeqCst);
    }

    fn lock_counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_config(&self, config: FaultConfig) {
        *self.rng.lock().unwrap_or_else(|p| p.into_inner()) = Rng(config.seed);
        *self.to_lose.lock().unwrap_or_else(|p| p.into_inner()) = config.lose_first_answer.clone();
        *self.lock_config() = config;
    }

    fn config(&self) -> FaultConfig {
        self.lock_config().clone()
    }

    fn stats(&self) -> Stats {
        let counters = self.lock_counters();
        Stats {
            requests: self.requests.load(Ordering::SeqCst),
            forwarded: self.forwarded.load(Ordering::SeqCst),
            upstream_micros: self.upstream_micros.load(Ordering::SeqCst),
            calls: counters.calls.clone(),
            faults: counters.faults.clone(),
            fault_log: counters.fault_log.clone(),
        }
    }

    fn reset_stats(&self) {
        *self.lock_counters() = Counters::default();
        self.requests.store(0, Ordering::SeqCst);
        self.forwarded.store(0, Ordering::SeqCst);
        self.upstream_micros.store(0, Ordering::SeqCst);
    }

    /// Counts the request and draws its fault; returns the request's number too.
    fn decide(&self, config: &FaultConfig) -> (u64, Fault) {
        let number = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let (draw, after_draw) = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            (rng.next_f64(), rng.next_f64())
        };
        let after = after_draw < config.after_forward;
        let thresholds = [
            (config.throttle, Fault::Throttle),
            (config.slow_down, Fault::SlowDown),
            (config.internal_error, Fault::InternalError { after }),
            (config.reset, Fault::Reset { after }),
        ];
        let mut threshold = 0.0;
        for (rate, fault) in thresholds {
            threshold += rate;
            if draw < threshold {
                return (number, fault);
            }
        }
        (number, Fault::None)
    }

    /// A lost answer when `call` is the first of a [`FaultConfig::lose_first_answer`].
    fn targeted(&self, call: &str) -> Option<Fault> {
        let mut to_lose = self.to_lose.lock().unwrap_or_else(|p| p.into_inner());
        let index = to_lose
            .iter()
            .position(|prefix| call.starts_with(prefix.as_str()))?;
        to_lose.remove(index);
        Some(Fault::InternalError { after: true })
    }

    fn count(&self, number: u64, call: String, fault: Fault) {
        let mut counters = self.lock_counters();
        if let Some(label) = fault.label() {
            *counters.faults.entry(label.to_owned()).or_insert(0) += 1;
            counters.fault_log.push(format!("{number} {call} {label}"));
        }
        *counters.calls.entry(call).or_insert(0) += 1;
    }

    fn note_forwarded(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.upstream_micros.fetch_add(micros, Ordering::SeqCst);
        let forwarded = self.forwarded.fetch_add(1, Ordering::SeqCst) + 1;
        if self
            .lock_config()
            .freeze_after_forwarded
            .is_some_and(|at| forwarded >= at)
        {
            self.frozen.store(true, Ordering::SeqCst);
        }
    }

    async fn wait_unfrozen(&self) {
        while self.frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(FROZEN_POLL).await;
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    // A broken client connection ends only that connection.
                    let _ = serve_connection(shared, stream).await;
                });
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A parsed request or response head.
#[derive(Debug)]
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> io::Result<Head> {
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("head is not UTF-8"))?;
        let mut lines = text.split("\r\n").filter(|line| !line.is_empty());
        let start = lines
            .next()
            .ok_or_else(|| invalid("empty head"))?
            .to_owned();
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid("header without a colon"))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Ok(Head { start, headers })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn content_length(&self) -> io::Result<Option<usize>> {
        self.get("content-length")
            .map(|v| v.parse().map_err(|_| invalid("bad Content-Length")))
            .transpose()
    }

    fn chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// A connection with the bytes read past the current message.
struct Conn {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0_u8; 16 * 1024];
        let read = self.stream.read(&mut chunk).await?;
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(read)
    }

    /// The next head, or `None` when the peer closed between messages.
    async fn read_head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head: Vec<u8> = self.buffer.drain(..end + 4).collect();
                return Head::parse(&head).map(Some);
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(invalid("head too large"));
            }
            if self.fill().await? == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    async fn read_exact(&mut self, length: usize) -> io::Result<Vec<u8>> {
        while self.buffer.len() < length {
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buffer.drain(..length).collect())
    }

    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n") {
                let line: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(invalid("line too long"));
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line().await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_exact(size).await?);
            self.read_line().await?;
        }
    }

    async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buffer))
    }

    /// The body of a request: chunked, `Content-Length`, or none.
    async fn read_request_body(&mut self, head: &Head) -> io::Result<Vec<u8>> {
        if head.chunked() {
            self.read_chunked().await
        } else {
            let length = head.content_length()?.unwrap_or(0);
            self.read_exact(length).await
        }
    }

    /// Closes with a TCP RST instead of a FIN.
    fn reset(self) {
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A response ready to be written to the client.
struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// HEAD answers keep the upstream's `Content-Length` and carry no body.
    head_only: bool,
}

impl Response {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.status_line);
        for (name, value) in &self.headers {
            let length = name.eq_ignore_ascii_case("content-length");
            if is_hop_header(name) || (length && !self.head_only) {
                continue;
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.head_only {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// Headers that describe one connection or one message's framing, not the message.
fn is_hop_header(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ]
    .iter()
    .any(|hop| name.eq_ignore_ascii_case(hop))
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut client = Conn::new(stream);
    loop {
        let Some(head) = client.read_head().await? else {
            return Ok(());
        };
        let mut parts = head.start.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("/").to_owned();
        let close = head.has_token("connection", "close") || head.start.ends_with("HTTP/1.0");
        if head.has_token("expect", "100-continue") {
            client
                .stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        if target.starts_with("/__proxy/") {
            client.read_request_body(&head).await?;
            let response = control(&shared, &method, &target);
            client.stream.write_all(&response.to_bytes()).await?;
            if close {
                return Ok(());
            }
            continue;
        }

        let config = shared.config();
        let (number, fault) = shared.decide(&config);
        shared.wait_unfrozen().await;
        if !config.latency.is_zero() {
            tokio::time::sleep(config.latency).await;
        }
        let service = signing_service(&head);

        if fault == (Fault::Reset { after: false }) {
            // Take all of the body but its last byte (enough to name the call), then drop
            // the connection under the client: the request never completes.
            let most = head.content_length()?.unwrap_or(0).saturating_sub(1);
            let partial = client.read_exact(most).await.unwrap_or_default();
            let call = call_name(&service, &method, &target, &head, &partial);
            shared.count(number, call, fault);
            client.reset();
            return Ok(());
        }
        let body = client.read_request_body(&head).await?;
        let call = call_name(&service, &method, &target, &head, &body);
        let fault = shared.targeted(&call).unwrap_or(fault);
        shared.count(number, call.clone(), fault);
        shared.wait_released(&call).await;
        let protocol = Protocol::of(&head, &service);

        let response = match fault {
            Fault::Throttle => protocol.throttle(),
            Fault::SlowDown => protocol.error(503, "SlowDown", "Please reduce your request rate."),
            Fault::InternalError { after: false } => protocol.internal_error(),
            _ => {
                let sent = Instant::now();
                let forwarded = forward(&shared, &config, &method, &head, &body).await;
                shared.note_forwarded(sent.elapsed());
                shared.wait_unfrozen().await;
                match fault {
                    Fault::Reset { after: true } => {
                        client.reset();
                        return Ok(());
                    }
                    Fault::InternalError { after: true } => protocol.internal_error(),
                    _ => forwarded.unwrap_or_else(|err| {
                        protocol.error(502, "BadGateway", &format!("fault proxy: upstream: {err}"))
                    }),
                }
            }
        };
        shared.wait_unfrozen().await;
        client.stream.write_all(&response.to_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

/// The control paths: stats and counter reset.
fn control(shared: &Shared, method: &str, target: &str) -> Response {
    let (status_line, body) = match (method, target) {
        ("GET", "/__proxy/stats") => (
            "HTTP/1.1 200 OK",
            serde_json::to_vec(&shared.stats()).unwrap_or_default(),
        ),
        ("POST", "/__proxy/reset") => {
            shared.reset_stats();
            ("HTTP/1.1 200 OK", b"{}".to_vec())
        }
        _ => ("HTTP/1.1 404 Not Found", b"{}".to_vec()),
    };
    Response {
        status_line: status_line.to_owned(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
        head_only: false,
    }
}

/// Sends one request upstream on a fresh connection and reads the whole answer.
async fn forward(
    shared: &Shared,
    config: &FaultConfig,
    method: &str,
    head: &Head,
    body: &[u8],
) -> io::Result<Response> {
    let exchange = async {
        let stream = TcpStream::connect(&shared.upstream).await?;
        let _ = stream.set_nodelay(true);
        let mut upstream = Conn::new(stream);
        let mut request = format!("{}\r\n", head.start);
        for (name, value) in &head.headers {
            if is_hop_header(name)
                || name.eq_ignore_ascii_case("content-length")
                || (config.account_id.is_some() && name.eq_ignore_ascii_case("x-moto-account-id"))
            {
                continue;
            }
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(account) = &config.account_id {
            request.push_str(&format!("x-moto-account-id: {account}\r\n"));
        }
        request.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        upstream.stream.write_all(request.as_bytes()).await?;
        upstream.stream.write_all(body).await?;

        let mut answer = upstream
            .read_head()
            .await?
            .ok_or_else(|| invalid("upstream closed without answering"))?;
        // Interim answers (100 Continue) carry no body; the real one follows.
        while answer
            .start
            .split_whitespace()
            .nth(1)
            .is_some_and(|s| s.starts_with('1'))
        {
            answer = upstream
                .read_head()
                .await?
                .ok_or_else(|| invalid("upstream closed after an interim answer"))?;
        }
        let status = answer.start.split_whitespace().nth(1).unwrap_or("");
        let head_only = method.eq_ignore_ascii_case("HEAD");
        let body = if head_only || status == "204" || status == "304" {
            Vec::new()
        } else if answer.chunked() {
            upstream.read_chunked().await?
        } else if let Some(length) = answer.content_length()? {
            upstream.read_exact(length).await?
        } else {
            upstream.read_to_end().await?
        };
        Ok(Response {
            status_line: answer.start.clone(),
            headers: answer.headers,
            body,
            head_only,
        })
    };
    match tokio::time::timeout(UPSTREAM_DEADLINE, exchange).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no answer from {} within {UPSTREAM_DEADLINE:?}",
                shared.upstream
            ),
        )),
    }
}

/// The service from the SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/…`).
fn signing_service(head: &Head) -> String {
    head.get("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split([',', ' ']).next())
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned()
}

/// `service:Action` for the counters.
fn call_name(service: &str, method: &str, target: &str, head: &Head, body: &[u8]) -> String {
    let action = if let Some(amz_target) = head.get("x-amz-target") {
        amz_target
            .rsplit('.')
            .next()
            .unwrap_or(amz_target)
            .to_owned()
    } else if let Some(action) = form_field(body, "Action") {
        action
    } else if let Some(id) = query_field(target, "x-id") {
        id
    } else {
        let path = target.split('?').next().unwrap_or("/");
        let segments = path.split('/').filter(|s| !s.is_empty()).count();
        let object = match segments {
            0 => "service",
            1 => "bucket",
            _ => "object",
        };
        format!("{method} {object}")
    };
    format!("{service}:{action}")
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    field(text, name)
}

fn query_field(target: &str, name: &str) -> Option<String> {
    field(target.split_once('?')?.1, name)
}

fn field(pairs: &str, name: &str) -> Option<String> {
    pairs
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// How the request's service encodes errors.
enum Protocol {
    /// awsJson 1.0 / 1.1 (and restJson): `{"__type": …}` plus `x-amzn-errortype`.
    Json { content_type: String },
    /// awsQuery: `<ErrorResponse><Error><Code>`.
    Query,
    /// ec2Query: `<Response><Errors><Error><Code>`.
    Ec2,
    /// restXml (S3): `<Error><Code>`.
    RestXml,
}

impl Protocol {
    fn of(head: &Head, service: &str) -> Protocol {
        let content_type = head.get("content-type").unwrap_or("");
        // S3 bodies are the caller's (a JSON state file), not a protocol.
        if service == "s3" {
            Protocol::RestXml
        } else if head.get("x-amz-target").is_some() || content_type.contains("json") {
            Protocol::Json {
                content_type: if content_type.is_empty() {
                    "application/x-amz-json-1.1".to_owned()
                } else {
                    content_type.to_owned()
                },
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            if service == "ec2" {
                Protocol::Ec2
            } else {
                Protocol::Query
            }
        } else {
            Protocol::RestXml
        }
    }

    /// The protocol's throttling error, with a code the SDK's retry classifier knows.
    fn throttle(&self) -> Response {
        match self {
            Protocol::Json { .. } => self.error(400, "ThrottlingException", "Rate exceeded"),
            Protocol::Query => self.error(400, "Throttling", "Rate exceeded"),
            Protocol::Ec2 => self.error(400, "RequestLimitExceeded", "Request limit exceeded."),
            Protocol::RestXml => self.error(503, "SlowDown", "Please reduce your request rate."),
        }
    }

    fn internal_error(&self) -> Response {
        let code = match self {
            Protocol::Json { .. } => "InternalFailure",
            _ => "InternalError",
        };
        self.error(
            500,
            code,
            "We encountered an internal error. Please try again.",
        )
    }

    fn error(&self, status: u16, code: &str, message: &str) -> Response {
        let request_id = "fault-proxy-0000";
        let reason = match status {
            400 => "Bad Request",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Error",
        };
        let (content_type, body, mut headers) = match self {
            Protocol::Json { content_type } => (
                content_type.clone(),
                serde_json::json!({"__type": code, "message": message}).to_string(),
                vec![("x-amzn-ErrorType".to_owned(), code.to_owned())],
            ),
            Protocol::Query => (
                "text/xml".to_owned(),
                format!(
                    "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    if status >= 500 { "Receiver" } else { "Sender" }
                ),
                Vec::new(),
            ),
            Protocol::Ec2 => (
                "text/xml;charset=UTF-8".to_owned(),
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
                ),
                Vec::new(),
            ),
            Protocol::RestXml => (
                "application/xml".to_owned(),
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
                ),
                Vec::new(),
            ),
        };
        headers.push(("Content-Type".to_owned(), content_type));
        headers.push(("x-amzn-RequestId".to_owned(), request_id.to_owned()));
        Response {
            status_line: format!("HTTP/1.1 {status} {reason}"),
            headers,
            body: body.into_bytes(),
            head_only: false,
        }
    }
}
