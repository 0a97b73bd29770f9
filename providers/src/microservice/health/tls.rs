//! The readiness check's TLS: the SDK's own stack and trust (rustls over aws-lc-rs, the
//! platform's roots through rustls-native-certs), so a load balancer the SDK's clients
//! would trust is trusted here, and the handshake whose failures become the verdict's.

use super::Answer;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use std::sync::{Arc, LazyLock};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The configuration over the platform's roots, built once per process and only when an
/// HTTPS check is made: reading the roots takes milliseconds (more on macOS), which
/// commands that never check HTTPS should not pay. rustls-native-certs honours
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` as the SDK's client does.
static PLATFORM: LazyLock<Result<Arc<ClientConfig>, String>> = LazyLock::new(|| {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    // As the SDK: a listed certificate that does not parse is left out, not fatal; with
    // none at all, every certificate fails to verify and says so.
    roots.add_parsable_certificates(found.certs);
    client_config(roots)
        .map(Arc::new)
        .map_err(|err| format!("cannot set up TLS ({err})"))
});

pub(super) fn platform() -> Result<Arc<ClientConfig>, String> {
    PLATFORM.clone()
}

/// rustls with the aws-lc-rs provider named, not the process default, so the check
/// cannot depend on which provider something else installed; the protocol versions are
/// rustls's safe defaults (TLS 1.2 and 1.3, as ALB security policies offer).
pub(super) fn client_config(roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The check speaks HTTP/1.1 only; saying so keeps a listener from choosing h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS session over `stream`, `host` sent as SNI and the certificate verified for it.
/// A TLS error is `Failed` (waiting does not mend a certificate); the connection dropped
/// mid-handshake is `NoAnswer`, as a connection dropped before the HTTP answer.
pub(super) async fn handshake(
    stream: TcpStream,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<TcpStream>, Answer> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|err| Answer::Failed(format!("{host} is not a name TLS can verify ({err})")))?;
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|err| {
            // tokio-rustls carries rustls's own error inside the I/O error it returns.
            match err
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls) => Answer::Failed(format!("TLS with {host} failed: {tls}")),
                None => Answer::NoAnswer(format!(
                    "the connection failed during the TLS handshake ({err})"
                )),
            }
        })
}
