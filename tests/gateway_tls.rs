//! Payment gateways over HTTPS (issue 11): the bundled redirect gateway talks to the sandbox
//! provider through a TLS front on loopback whose certificate a test CA signed
//! (tests/fixtures/tls). A shop configured to trust that CA (`EMPORIUM_PLUGIN_CA_FILE`)
//! places the order; a shop that trusts only the system's roots refuses the provider's
//! certificate, places nothing and stays up. The refusal of plain `http://` to any host but
//! loopback is tested beside the gate (`plugins::runtime::sandbox`).

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use emporium::fixtures::ProductBuilder;
use emporium::payment::sandbox::{Sandbox, serve};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::shopper::{add, place, to_preview};
use support::{Backend, Options, TestApp};

fn fixtures() -> PathBuf {
    support::repo_root().join("tests/fixtures/tls")
}

/// A TLS front for `backend` on loopback with the `localhost` certificate: each connection
/// is decrypted and passed on. Counts the handshakes that failed (a client that does not
/// trust the certificate hangs up during the handshake).
async fn tls_front(backend: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixtures().join("localhost.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixtures().join("localhost.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    counter.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (addr, refused)
}

/// The sandbox provider, reachable over TLS only as `https://localhost:PORT`; the plain
/// address is for the customer's browser in the test (it is not what is under test).
struct Provider {
    sandbox: Sandbox,
    https: String,
    plain: String,
    refused: Arc<AtomicUsize>,
}

async fn provider() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let (front, refused) = tls_front(backend).await;
    let https = format!("https://localhost:{}", front.port());
    let sandbox = Sandbox::new("sk_test_tls", &https);
    tokio::spawn(serve(sandbox.clone(), listener));
    Provider {
        sandbox,
        https,
        plain: format!("http://{backend}"),
        refused,
    }
}

async fn shop(trust_test_ca: bool, provider: &Provider) -> TestApp {
    let ca = fixtures().join("ca.pem");
    let app = TestApp::start_tweaked(Backend::Sqlite, Options::default(), move |c| {
        if trust_test_ca {
            c.plugin_ca_file = Some(ca);
        }
    })
    .await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    let base_url = format!("{}/v1", provider.https);
    app.install_plugin(
        "redirect-gateway",
        &[("base_url", &base_url), ("api_key", "sk_test_tls")],
        &["localhost"],
    )
    .await;
    app
}

async fn orders(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT COUNT(*) FROM shop_order").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_gateway_pays_over_https_with_the_shops_ca() {
    let provider = provider().await;
    let app = shop(true, &provider).await;
    let product = ProductBuilder::new().create(&app.state.db).await.unwrap();
    let b = app.browser();
    add(&b, product.id, 1).await;
    let preview = to_preview(&b, Some("tls@example.com"), None, "redirect-gateway").await;
    // The gateway created the payment over TLS, then sent the customer to the hosted page.
    let out = place(&b, &preview, None).await;
    let hosted = out.location.clone().expect("a redirect to the provider");
    assert!(hosted.starts_with(&provider.https), "{hosted}");
    let customer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paid = customer
        .post(format!(
            "{}/pay",
            hosted.replace(&provider.https, &provider.plain)
        ))
        .send()
        .await
        .unwrap();
    let return_url = paid.headers()["location"].to_str().unwrap().to_string();
    // Back at the shop, the gateway confirms the payment with the provider over TLS again.
    let returned = b.get(return_url.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(
        returned.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        returned.body
    );
    assert_eq!(orders(&app).await, 1);
    let reference = app
        .scalar_text("SELECT reference FROM payment_source")
        .await;
    assert_eq!(
        provider.sandbox.payment(&reference).unwrap().status,
        "succeeded"
    );
    assert_eq!(provider.refused.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_certificate_the_shop_does_not_trust_is_refused() {
    let provider = provider().await;
    let app = shop(false, &provider).await;
    let product = ProductBuilder::new().create(&app.state.db).await.unwrap();
    let b = app.browser();
    add(&b, product.id, 1).await;
    let preview = to_preview(&b, Some("untrusted@example.com"), None, "redirect-gateway").await;
    let out = place(&b, &preview, None).await;
    // Not sent to the provider: the payment could not be created; nothing is ordered.
    assert!(
        !out.location
            .as_deref()
            .unwrap_or_default()
            .starts_with(&provider.https),
        "{:?} {}",
        out.location,
        out.body
    );
    assert!(out.status < 500, "{} {}", out.status, out.body);
    assert_eq!(orders(&app).await, 0);
    assert!(
        provider.refused.load(Ordering::SeqCst) >= 1,
        "the TLS handshake was tried and refused"
    );
    assert!(provider.sandbox.payments().is_empty(), "no payment created");
    // The shop is still up and the basket kept.
    let again = b.get("/checkout/preview/").await;
    assert_eq!(again.status, 200, "{}", again.body);
}
