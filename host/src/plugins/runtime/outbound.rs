//! How a plugin's HTTP request leaves, once the [`super::sandbox::HttpGate`] has allowed it:
//! over TLS for `https://` (the only scheme that leaves this machine), verified against the
//! system's root certificates plus any the merchant adds (`EMPORIUM_PLUGIN_CA_FILE`: a
//! provider's private CA, or the test CA of tests/plugins_tls.rs). wasmtime-wasi-http's own
//! sender trusts a fixed root list and nothing else, so a shop could not add one.
//!
//! One HTTP/1.1 connection per request, as the default sender does: a gateway call is rare
//! next to a page view, and a fresh connection keeps one call's socket out of another's.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// What a request's connection needs: the TLS client settings, built once per runtime.
pub struct Outbound {
    tls: tokio_rustls::TlsConnector,
    /// How many roots are trusted (for the log line at start-up and for tests).
    pub roots: usize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("roots", &self.roots)
            .finish()
    }
}

/// The response head and body, and the future that drives the rest of the connection.
pub type Sent = (
    http::Response<WasiBody>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
);

impl Outbound {
    /// Trusts the system's roots and every certificate in the PEM file `extra_ca`. A system
    /// without a readable root store is logged, not fatal: `extra_ca` may be all a test or a
    /// closed network needs.
    pub fn new(extra_ca: Option<&Path>) -> Result<Outbound, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "reading the system's root certificates");
        }
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!(
                "no system root certificates were found: plugins' https:// requests trust only \
                 EMPORIUM_PLUGIN_CA_FILE"
            );
        }
        if let Some(path) = extra_ca {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect())
                .map_err(|e| format!("reading the CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "the CA file {} holds no certificate",
                    path.display()
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("a certificate in {}: {e}", path.display()))?;
            }
        }
        // The crypto provider is named: two are compiled in (by different dependencies), and
        // rustls will not guess between them.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        Ok(Outbound {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            roots: roots.len(),
        })
    }

    /// Sends `request` and waits for the response head; each phase is bounded by `options`
    /// (the gate fills them in). The body streams afterwards through the returned future.
    pub async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: RequestOptions,
    ) -> wasmtime_wasi_http::Result<Sent> {
        let uri = request.uri().clone();
        let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_owned();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let limit = |d: Option<Duration>| d.unwrap_or(Duration::from_secs(30));
        let connect_timeout = limit(options.connect_timeout);
        let tcp = tokio::time::timeout(
            connect_timeout,
            TcpStream::connect((bare_host.as_str(), port)),
        )
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(connect_error)?;
        // Only the path goes on the request line (the authority is in `Host`).
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
        if !request.headers().contains_key(http::header::HOST) {
            let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
            let value = http::HeaderValue::from_str(authority.as_str())
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            request.headers_mut().insert(http::header::HOST, value);
        }
        let first_byte = limit(options.first_byte_timeout);
        if https {
            let name = rustls::pki_types::ServerName::try_from(bare_host)
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            let tls = tokio::time::timeout(connect_timeout, self.tls.connect(name, tcp))
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(tls_error)?;
            exchange(TokioIo::new(tls), request, connect_timeout, first_byte).await
        } else {
            exchange(TokioIo::new(tcp), request, connect_timeout, first_byte).await
        }
    }
}

/// One HTTP/1.1 exchange on `io`. The connection runs in its own task until the body is read
/// or dropped; the call's own deadline bounds how long the guest reads it.
async fn exchange<T>(
    io: T,
    request: http::Request<WasiBody>,
    connect_timeout: Duration,
    first_byte: Duration,
) -> wasmtime_wasi_http::Result<Sent>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        tokio::time::timeout(connect_timeout, hyper::client::conn::http1::handshake(io))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = done_tx.send(connection.await);
    });
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let io = async move {
        match done_rx.await {
            Ok(Err(e)) => Err(Error::from(e)),
            _ => Ok(()),
        }
    };
    Ok((response, Box::new(io)))
}

fn connect_error(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        _ => Error::Connect(e),
    }
}

/// A certificate the roots do not vouch for is its own error, so the plugin (and the log) can
/// tell a misconfigured provider from a network failure.
fn tls_error(e: std::io::Error) -> Error {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    if certificate {
        Error::TlsCertificateError
    } else {
        Error::Tls(e)
    }
}
