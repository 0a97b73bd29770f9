//! The readiness path asked over the load balancer: after ECS reports the rollout done, a
//! plain `GET <path>` on the ALB's listener must answer 2xx before the change counts as
//! finished — the proof that the load balancer routes to a healthy task, which ECS's own
//! view (tasks running) does not give.
//!
//! One request per probe, with its own timeout; the engine repeats probes and owns the
//! overall deadline. A load balancer that cannot be reached from here at all (its name
//! does not resolve, the connection is refused or never made — an internal ALB, a
//! network without a route, an emulator such as moto) is skipped rather than failed:
//! the check is extra assurance, and ECS's readiness already held.
//!
//! HTTP only: panka's listener is always HTTP (the spec has no certificate), so there is
//! no TLS here.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// How long one request may take, from name resolution to the status line.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer read while looking for its status line.
const MAX_HEAD: usize = 8 * 1024;

/// How requests are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// Limit of one request (resolution, connection and the answer's first line).
    pub timeout: Duration,
    /// Connect here instead of resolving the load balancer's name; the `Host` header still
    /// names the load balancer. For tests, and for reaching an ALB through a tunnel.
    pub connect_to: Option<SocketAddr>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            timeout: DEFAULT_TIMEOUT,
            connect_to: None,
        }
    }
}

/// What to ask: `GET http://host:port/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The load balancer's DNS name.
    pub host: String,
    /// The listener's port.
    pub port: u16,
    /// The readiness path (the target group's health check path).
    pub path: String,
}

impl Target {
    fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `http://host[:port]/path`, for messages.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host_header(), self.path)
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
}

/// What one answer means for the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Keep waiting; the detail says why (`GET /health/ready → 503, retrying`).
    Retry(String),
    /// The check cannot be made from here; the detail says why.
    Skip(String),
}

/// Judges an answer to `GET target.path`.
pub fn verdict(target: &Target, answer: &Answer) -> Verdict {
    match answer {
        Answer::Status(code) if (200..300).contains(code) => Verdict::Healthy,
        Answer::Status(code) => Verdict::Retry(format!("GET {} → {code}, retrying", target.path)),
        Answer::NoAnswer(why) => Verdict::Retry(format!("GET {}: {why}, retrying", target.path)),
        Answer::Unreachable(why) => Verdict::Skip(format!(
            "HTTP check of {} skipped: {why}",
            target.url()
        )),
    }
}

/// Sends `GET target.path` and reads the status line, within `check.timeout`.
pub async fn get(target: &Target, check: &HttpCheck) -> Answer {
    let deadline = Instant::now() + check.timeout;
    let seconds = check.timeout.as_secs_f64();
    let addresses: Vec<SocketAddr> = match check.connect_to {
        Some(address) => vec![address],
        None => {
            let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
            match timeout_at(deadline, lookup).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(err)) => {
                    return Answer::Unreachable(format!("{} does not resolve ({err})", target.host));
                }
                Err(_) => {
                    return Answer::Unreachable(format!(
                        "{} did not resolve within {seconds}s",
                        target.host
                    ));
                }
            }
        }
    };
    if addresses.is_empty() {
        return Answer::Unreachable(format!("{} does not resolve", target.host));
    }
    let mut stream = None;
    let mut failure = String::new();
    // An ALB's name resolves to one address per zone; any of them will do.
    for address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(connected)) => {
                stream = Some(connected);
                break;
            }
            Ok(Err(err)) => failure = format!("cannot connect to {address} ({err})"),
            Err(_) => {
                failure = format!("no connection to {address} within {seconds}s");
                break;
            }
        }
    }
    let Some(mut stream) = stream else {
        return Answer::Unreachable(failure);
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: panka/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.host_header(),
        env!("CARGO_PKG_VERSION"),
    );
    match timeout_at(deadline, exchange(&mut stream, &request)).await {
        Ok(Ok(status)) => Answer::Status(status),
        Ok(Err(why)) => Answer::NoAnswer(why),
        Err(_) => Answer::NoAnswer(format!("no answer within {seconds}s")),
    }
}

/// Writes the request and reads up to the end of the status line.
async fn exchange(stream: &mut TcpStream, request: &str) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|err| format!("cannot send the request ({err})"))?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0_u8; 512];
    loop {
        if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
            return status_of(&head[..end]);
        }
        if head.len() > MAX_HEAD {
            return status_of(&head[..MAX_HEAD]);
        }
        let read = stream
            .read(&mut buffer)
            .await
            .map_err(|err| format!("the connection failed ({err})"))?;
        if read == 0 {
            if head.is_empty() {
                return Err("the connection closed without an answer".to_string());
            }
            return status_of(&head);
        }
        head.extend_from_slice(&buffer[..read]);
    }
}

/// The code of a status line such as `HTTP/1.1 503 Service Unavailable`.
fn status_of(line: &[u8]) -> Result<u16, String> {
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|c| c.parse::<u16>().ok())) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") && (100..600).contains(&code) => {
            Ok(code)
        }
        _ => Err(format!(
            "not an HTTP answer: {:?}",
            line.chars().take(60).collect::<String>()
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    /// A local HTTP server answering its n-th request with `statuses[n]` (the last one
    /// from then on); `None` accepts and never answers. Returns its address and the
    /// number of requests seen so far.
    pub(crate) async fn server(statuses: Vec<Option<u16>>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let status = statuses
                    .get(n)
                    .or(statuses.last())
                    .copied()
                    .flatten();
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let Some(status) = status else {
                    // Never answer, and keep the connection open.
                    held.push(socket);
                    continue;
                };
                // Anything but the expected request is answered 400, which fails the test.
                let head = String::from_utf8_lossy(&request).to_string();
                let expected = head.starts_with("GET /health/ready HTTP/1.1\r\n")
                    && head.contains("\r\nHost: api.example.test:8080\r\n");
                let status = if expected { status } else { 400 };
                let answer = format!(
                    "HTTP/1.1 {status} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (address, seen)
    }

    pub(crate) fn target() -> Target {
        Target {
            host: "api.example.test".into(),
            port: 8080,
            path: "/health/ready".into(),
        }
    }

    pub(crate) fn through(address: SocketAddr) -> HttpCheck {
        HttpCheck {
            timeout: Duration::from_millis(500),
            connect_to: Some(address),
        }
    }

    #[tokio::test]
    async fn unhealthy_then_healthy() {
        let (address, seen) = server(vec![Some(503), Some(200)]).await;
        let check = through(address);
        let first = get(&target(), &check).await;
        assert_eq!(first, Answer::Status(503));
        assert_eq!(
            verdict(&target(), &first),
            Verdict::Retry("GET /health/ready → 503, retrying".into())
        );
        let second = get(&target(), &check).await;
        assert_eq!(second, Answer::Status(200));
        assert_eq!(verdict(&target(), &second), Verdict::Healthy);
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_hits_the_request_deadline() {
        let (address, _) = server(vec![None]).await;
        let answer = get(&target(), &through(address)).await;
        assert_eq!(answer, Answer::NoAnswer("no answer within 0.5s".into()));
        assert_eq!(
            verdict(&target(), &answer),
            Verdict::Retry("GET /health/ready: no answer within 0.5s, retrying".into())
        );
    }

    #[tokio::test]
    async fn refused_and_unresolvable_are_skipped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let refused = get(&target(), &through(address)).await;
        assert!(
            matches!(&refused, Answer::Unreachable(why) if why.starts_with(&format!("cannot connect to {address}"))),
            "{refused:?}"
        );
        assert!(
            matches!(verdict(&target(), &refused), Verdict::Skip(note)
                if note.starts_with("HTTP check of http://api.example.test:8080/health/ready skipped: cannot connect")),
        );

        // `.invalid` never resolves (RFC 6761).
        let nowhere = Target {
            host: "panka-alb.invalid".into(),
            port: 80,
            path: "/health/ready".into(),
        };
        let answer = get(&nowhere, &HttpCheck::default()).await;
        let Answer::Unreachable(why) = &answer else {
            panic!("{answer:?}");
        };
        assert!(why.starts_with("panka-alb.invalid"), "{why}");
        assert!(
            matches!(verdict(&nowhere, &answer), Verdict::Skip(note)
                if note.starts_with("HTTP check of http://panka-alb.invalid/health/ready skipped")),
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 204 No Content"), Ok(204));
        assert_eq!(status_of(b"HTTP/1.0 500"), Ok(500));
        assert!(status_of(b"SSH-2.0-OpenSSH").is_err());
        assert!(status_of(b"HTTP/1.1 abc").is_err());
    }
}
