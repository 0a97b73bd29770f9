//! The readiness path asked over the load balancer: after ECS reports the rollout done, a
//! `GET <path>` on the ALB's listener must answer 2xx before the change counts as
//! finished — the proof that the load balancer routes to a healthy task, which ECS's own
//! view (tasks running) does not give.
//!
//! One request per probe, with its own timeout; the engine repeats probes and owns the
//! overall deadline. A load balancer that cannot be reached from here at all (its name
//! does not resolve, the connection is refused or never made — an internal ALB, a
//! network without a route, an emulator such as moto) is skipped rather than failed:
//! the check is extra assurance, and ECS's readiness already held.
//!
//! HTTP or HTTPS, as the listener speaks. HTTPS is checked as the service's clients will
//! see it: the load balancer's name sent as SNI and the certificate verified for it
//! against the platform's roots (`tls.rs`). A TLS failure is not "unreachable": something
//! answered, and clients would refuse it, so a certificate that does not verify fails the
//! change at once with the TLS error instead of passing as skipped.
//!
//! hyper speaks HTTP/1.1 on one connection per probe (`hyper::client::conn::http1`), and
//! this module makes that connection itself, step by step — resolve, connect, handshake —
//! because each step's failure means something else for the verdict (skip, fail, retry),
//! which a pooled client folds into one opaque connect error; it also makes `connect_to`
//! a plain address, and nothing outlives a probe's timeout.

use hyper::client::conn::http1;
use hyper::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

#[cfg(test)]
mod poll_tests;
#[cfg(test)]
pub(crate) mod tests;
mod tls;

/// How long one request may take, from name resolution to the answer's status.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How requests are made.
#[derive(Clone, Debug)]
pub struct HttpCheck {
    /// Limit of one request (resolution, connection, TLS handshake and the answer's head).
    pub timeout: Duration,
    /// Connect here instead of resolving the load balancer's name; the `Host` header, SNI
    /// and the certificate's verification still use the load balancer's name. For tests,
    /// and for reaching an ALB through a tunnel.
    pub connect_to: Option<SocketAddr>,
    /// The roots HTTPS trusts: `None` for the platform's, as the SDK's (read on the first
    /// HTTPS check, so commands that make none never read them).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            timeout: DEFAULT_TIMEOUT,
            connect_to: None,
            tls: None,
        }
    }
}

impl HttpCheck {
    /// Trusts exactly these roots over HTTPS instead of the platform's: a private
    /// certificate authority, or a test's self-signed certificate.
    pub fn with_root_certificates(
        mut self,
        roots: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Self, rustls::Error> {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root)?;
        }
        self.tls = Some(Arc::new(tls::client_config(store)?));
        Ok(self)
    }

    fn tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        match &self.tls {
            Some(config) => Ok(config.clone()),
            None => tls::platform(),
        }
    }
}

/// How the listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// What to ask: `GET scheme://host:port/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The listener's protocol.
    pub scheme: Scheme,
    /// The name the request is for (`Host`, and the TLS server name): the service's
    /// host under the environment's domain, else the load balancer's DNS name.
    pub host: String,
    /// The name resolved to connect: the load balancer's DNS name. A service's own host
    /// may not resolve yet (a record just written, a resolver caching its absence), and
    /// the load balancer answers for it all the same.
    pub address: String,
    /// The listener's port.
    pub port: u16,
    /// The readiness path (the target group's health check path).
    pub path: String,
}

impl Target {
    fn host_header(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One request's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The status code of the answer.
    Status(u16),
    /// Connected, but no usable answer in time (or not HTTP): worth retrying.
    NoAnswer(String),
    /// Nothing to talk to from here: the name does not resolve, the connection is
    /// refused or not made in time.
    Unreachable(String),
    /// Reached, but asking cannot succeed: the TLS handshake failed (a certificate that
    /// does not verify for the name, no common protocol) or the request cannot be written.
    Failed(String),
}

/// What one answer means for the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Keep waiting; the detail says why (`GET /health/ready → 503, retrying`).
    Retry(String),
    /// The check cannot be made from here; the detail says why.
    Skip(String),
    /// The change fails: waiting would not fix what the detail says.
    Fail(String),
}

/// Judges an answer to `GET target.path`.
pub fn verdict(target: &Target, answer: &Answer) -> Verdict {
    match answer {
        Answer::Status(code) if (200..300).contains(code) => Verdict::Healthy,
        Answer::Status(code) => Verdict::Retry(format!("GET {} → {code}, retrying", target.path)),
        Answer::NoAnswer(why) => Verdict::Retry(format!("GET {}: {why}, retrying", target.path)),
        Answer::Unreachable(why) => Verdict::Skip(format!("GET {} skipped: {why}", target.path)),
        Answer::Failed(why) => Verdict::Fail(format!("GET {}: {why}", target.path)),
    }
}

/// Sends `GET target.path` and reads the answer's status, within `check.timeout`.
pub async fn get(target: &Target, check: &HttpCheck) -> Answer {
    let request = match request(target) {
        Ok(request) => request,
        Err(why) => return Answer::Failed(why),
    };
    let tls = match target.scheme {
        Scheme::Http => None,
        Scheme::Https => match check.tls() {
            Ok(config) => Some(config),
            Err(why) => return Answer::Failed(why),
        },
    };
    let deadline = Instant::now() + check.timeout;
    let no_answer = || Answer::NoAnswer(format!("no answer within {}s", seconds(check)));
    let stream = match connect(target, check, deadline).await {
        Ok(stream) => stream,
        Err(unreachable) => return unreachable,
    };
    let exchanged = match tls {
        None => timeout_at(deadline, exchange(stream, request)).await,
        Some(config) => {
            let handshake = tls::handshake(stream, &target.host, config);
            match timeout_at(deadline, handshake).await {
                Ok(Ok(secured)) => timeout_at(deadline, exchange(secured, request)).await,
                Ok(Err(answer)) => return answer,
                Err(_) => return no_answer(),
            }
        }
    };
    match exchanged {
        Ok(Ok(status)) => Answer::Status(status),
        Ok(Err(why)) => Answer::NoAnswer(why),
        Err(_) => no_answer(),
    }
}

fn seconds(check: &HttpCheck) -> f64 {
    check.timeout.as_secs_f64()
}

/// The request, built before anything is connected: a path or name that cannot be
/// written fails every probe alike.
fn request(target: &Target) -> Result<hyper::Request<String>, String> {
    hyper::Request::get(target.path.as_str())
        .header(HOST, target.host_header())
        .header(USER_AGENT, concat!("panka/", env!("CARGO_PKG_VERSION")))
        .header(ACCEPT, "*/*")
        // Only the status is read; the load balancer may close once it is sent.
        .header(CONNECTION, "close")
        .body(String::new())
        .map_err(|err| format!("cannot write the request to {} ({err})", target.host))
}

/// A connection to the load balancer (or to `connect_to`), or why there is none.
async fn connect(
    target: &Target,
    check: &HttpCheck,
    deadline: Instant,
) -> Result<TcpStream, Answer> {
    let seconds = seconds(check);
    let addresses: Vec<SocketAddr> = match check.connect_to {
        Some(address) => vec![address],
        None => {
            let lookup = tokio::net::lookup_host((target.address.as_str(), target.port));
            match timeout_at(deadline, lookup).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(err)) => {
                    return Err(Answer::Unreachable(format!(
                        "{} does not resolve ({err})",
                        target.address
                    )));
                }
                Err(_) => {
                    return Err(Answer::Unreachable(format!(
                        "{} did not resolve within {seconds}s",
                        target.address
                    )));
                }
            }
        }
    };
    if addresses.is_empty() {
        return Err(Answer::Unreachable(format!(
            "{} does not resolve",
            target.address
        )));
    }
    let mut failure = String::new();
    // An ALB's name resolves to one address per zone; any of them will do.
    for address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(connected)) => return Ok(connected),
            Ok(Err(err)) => failure = format!("cannot connect to {address} ({err})"),
            Err(_) => {
                failure = format!("no connection to {address} within {seconds}s");
                break;
            }
        }
    }
    Err(Answer::Unreachable(failure))
}

/// Sends the request over `io` and returns the answer's status once its head is read.
async fn exchange<T>(io: T, request: hyper::Request<String>) -> Result<u16, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|err| describe(&err))?;
    // The connection is driven only while this waits for the head: dropping it then
    // closes the socket, so nothing runs on after the probe.
    let answer = std::pin::pin!(sender.send_request(request));
    let driven = futures_util::future::select(answer, Box::pin(connection)).await;
    let response = match driven {
        futures_util::future::Either::Left((answer, _connection)) => answer,
        // The connection ended first (closed or failed); the request then resolves at
        // once, with the answer if it was read, else the connection's own error.
        futures_util::future::Either::Right((ended, answer)) => match (answer.await, ended) {
            (Ok(response), _) => Ok(response),
            (Err(_), Err(err)) | (Err(err), Ok(())) => Err(err),
        },
    };
    response
        .map(|response| response.status().as_u16())
        .map_err(|err| describe(&err))
}

/// Why an exchange gave no status, in the words of the readiness detail.
fn describe(err: &hyper::Error) -> String {
    if err.is_incomplete_message() {
        "the connection closed without an answer".to_string()
    } else if err.is_parse() {
        format!("not an HTTP answer ({err})")
    } else {
        format!("the connection failed ({err})")
    }
}
