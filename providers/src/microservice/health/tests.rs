//! The check against local servers: HTTP, and HTTPS with a self-signed certificate for
//! `api.example.test` (`providers/tests-data/tls/`, made once with
//! `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
//! -subj /CN=api.example.test -addext subjectAltName=DNS:api.example.test
//! -addext basicConstraints=critical,CA:FALSE -addext keyUsage=critical,digitalSignature
//! -addext extendedKeyUsage=serverAuth`, valid until 2126).

use super::*;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const CERTIFICATE: &str = include_str!("../../../tests-data/tls/api.example.test.crt");
const KEY: &str = include_str!("../../../tests-data/tls/api.example.test.key");

/// A local HTTP server answering its n-th request with `statuses[n]` (the last one from
/// then on); `None` accepts and never answers. Returns its address and the number of
/// requests seen so far.
pub(crate) async fn server(statuses: Vec<Option<u16>>) -> (SocketAddr, Arc<AtomicUsize>) {
    serve(statuses, None).await
}

/// The same over TLS, with the certificate for `api.example.test`.
pub(crate) async fn tls_server(statuses: Vec<Option<u16>>) -> (SocketAddr, Arc<AtomicUsize>) {
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("test key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate()], key)
        .expect("server certificate");
    serve(statuses, Some(TlsAcceptor::from(Arc::new(config)))).await
}

fn certificate() -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(CERTIFICATE.as_bytes()).expect("test certificate")
}

async fn serve(
    statuses: Vec<Option<u16>>,
    tls: Option<TlsAcceptor>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        // Connections never answered, kept open.
        let mut held: Vec<Box<dyn Send>> = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let status = statuses.get(n).or(statuses.last()).copied().flatten();
            match &tls {
                None => answer(socket, status, &mut held).await,
                Some(acceptor) => {
                    // A handshake the client refused ends that connection only.
                    if let Ok(secured) = acceptor.accept(socket).await {
                        answer(secured, status, &mut held).await;
                    }
                }
            }
        }
    });
    (address, seen)
}

/// Reads the request's head and answers `status`, or holds the connection on `None`.
async fn answer<S>(mut socket: S, status: Option<u16>, held: &mut Vec<Box<dyn Send>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut request = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let Some(status) = status else {
        held.push(Box::new(socket));
        return;
    };
    // Anything but the expected request is answered 400, which fails the test (header
    // names in any case, as HTTP allows): the service's host, on whatever port it listens.
    let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let expected = head.starts_with("get /health/ready http/1.1\r\n")
        && head.contains("\r\nhost: api.example.test:");
    let status = if expected { status } else { 400 };
    let answer =
        format!("HTTP/1.1 {status} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = socket.write_all(answer.as_bytes()).await;
    let _ = socket.shutdown().await;
}

pub(crate) fn target() -> Target {
    Target {
        scheme: Scheme::Http,
        host: "api.example.test".into(),
        address: "alb-1.example.test".into(),
        port: 8080,
        path: "/health/ready".into(),
    }
}

fn https_target() -> Target {
    Target {
        scheme: Scheme::Https,
        ..target()
    }
}

pub(crate) fn through(address: SocketAddr) -> HttpCheck {
    HttpCheck {
        timeout: Duration::from_millis(500),
        connect_to: Some(address),
        ..HttpCheck::default()
    }
}

/// `through`, trusting the test certificate.
pub(crate) fn trusting(address: SocketAddr) -> HttpCheck {
    through(address)
        .with_root_certificates([certificate()])
        .expect("test root")
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
    for target in [target(), https_target()] {
        let refused = get(&target, &through(address)).await;
        let Answer::Unreachable(why) = &refused else {
            panic!("{refused:?}");
        };
        assert!(
            why.starts_with(&format!("cannot connect to {address}")),
            "{why}"
        );
        assert_eq!(
            verdict(&target, &refused),
            Verdict::Skip(format!("GET /health/ready skipped: {why}"))
        );
    }

    // `.invalid` never resolves (RFC 6761).
    let nowhere = Target {
        scheme: Scheme::Http,
        host: "panka-alb.invalid".into(),
        address: "panka-alb.invalid".into(),
        port: 80,
        path: "/health/ready".into(),
    };
    let answer = get(&nowhere, &HttpCheck::default()).await;
    let Answer::Unreachable(why) = &answer else {
        panic!("{answer:?}");
    };
    assert!(why.starts_with("panka-alb.invalid"), "{why}");
    assert!(matches!(verdict(&nowhere, &answer), Verdict::Skip(note)
            if note.starts_with("GET /health/ready skipped: panka-alb.invalid")),);
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        if let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
            let _ = socket.shutdown().await;
        }
    });
    let answer = get(&target(), &through(address)).await;
    let Answer::NoAnswer(why) = &answer else {
        panic!("{answer:?}");
    };
    assert!(why.starts_with("not an HTTP answer"), "{why}");
    assert!(matches!(verdict(&target(), &answer), Verdict::Retry(_)));
}

#[tokio::test]
async fn https_answers_are_judged_as_http_ones() {
    let (address, seen) = tls_server(vec![Some(503), Some(200)]).await;
    let check = trusting(address);
    let first = get(&https_target(), &check).await;
    assert_eq!(first, Answer::Status(503));
    assert_eq!(
        verdict(&https_target(), &first),
        Verdict::Retry("GET /health/ready → 503, retrying".into())
    );
    let second = get(&https_target(), &check).await;
    assert_eq!(second, Answer::Status(200));
    assert_eq!(verdict(&https_target(), &second), Verdict::Healthy);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_https_server_that_never_answers_hits_the_request_deadline() {
    let (address, _) = tls_server(vec![None]).await;
    let answer = get(&https_target(), &trusting(address)).await;
    assert_eq!(answer, Answer::NoAnswer("no answer within 0.5s".into()));
}

#[tokio::test]
async fn a_certificate_for_another_name_fails_the_check() {
    let (address, _) = tls_server(vec![Some(200)]).await;
    let elsewhere = Target {
        host: "other.example.test".into(),
        ..https_target()
    };
    let answer = get(&elsewhere, &trusting(address)).await;
    let Answer::Failed(why) = &answer else {
        panic!("a certificate that does not verify is not skipped: {answer:?}");
    };
    assert!(
        why.starts_with("TLS with other.example.test failed: invalid peer certificate")
            && why.contains("other.example.test"),
        "{why}"
    );
    assert_eq!(
        verdict(&elsewhere, &answer),
        Verdict::Fail(format!("GET /health/ready: {why}"))
    );
}

#[tokio::test]
async fn a_certificate_the_platform_does_not_trust_fails_the_check() {
    let (address, _) = tls_server(vec![Some(200)]).await;
    let answer = get(&https_target(), &through(address)).await;
    let Answer::Failed(why) = &answer else {
        panic!("{answer:?}");
    };
    assert!(
        why.starts_with("TLS with api.example.test failed: invalid peer certificate"),
        "{why}"
    );
}

/// A service on its domain: the check resolves the load balancer's name (`address`) and
/// asks for the service's host, which the certificate is for (SNI and `Host`).
#[tokio::test]
async fn the_host_is_asked_for_at_the_load_balancers_address() {
    let (address, seen) = tls_server(vec![Some(200)]).await;
    let on_domain = Target {
        scheme: Scheme::Https,
        host: "api.example.test".into(),
        address: "127.0.0.1".into(),
        port: address.port(),
        path: "/health/ready".into(),
    };
    let check = HttpCheck {
        timeout: Duration::from_millis(500),
        ..HttpCheck::default()
    }
    .with_root_certificates([certificate()])
    .expect("test root");
    let answer = get(&on_domain, &check).await;
    assert_eq!(answer, Answer::Status(200));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}
