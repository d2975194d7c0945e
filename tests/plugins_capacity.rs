//! When the host runs out of room for plugin calls, that is the host's condition, not the
//! plugin's failure: it is reported as `Capacity`, never counted, and never switches a plugin
//! off. The provider webhook, which anyone can call, is limited in how many notifications it
//! handles at once and in how much of a body it reads, so a flood cannot take the pool (or
//! the payment gateway) down.

mod plugins_support;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use emporium::plugins::*;
use support::{Backend, TestApp};

/// Only stops a test that would otherwise wait forever; a loaded machine may be slow.
const NEVER: Duration = Duration::from_secs(30);

/// A runtime with room for two calls at a time, whose calls may wait for up to `budget`.
fn small_pool(budget: Duration) -> Arc<PluginRuntime> {
    Arc::new(
        PluginRuntime::new(RuntimeConfig {
            pool_instances: 2,
            call_budget: budget,
            max_call_budget: budget,
            ..plugins_support::test_config()
        })
        .expect("runtime"),
    )
}

/// Two sleeping guests hold both instance slots; every call of another plugin meanwhile is
/// refused for want of room. Those refusals are `Capacity`, are not counted, and the plugin
/// stays on however many there are (the threshold is 3).
#[test]
fn pool_exhaustion_is_not_the_plugins_failure() {
    let reg = Arc::new(PluginRegistry::new(small_pool(Duration::from_secs(5))));
    reg.install_dir(
        &plugins_support::plugin_dir("hostile"),
        InstallOptions {
            config: ConfigValues::new().with("mode", "sleep"),
            ..Default::default()
        },
    )
    .unwrap();
    reg.install_dir(
        &plugins_support::plugin_dir("flat-rate-shipping"),
        InstallOptions {
            config: ConfigValues::new().with("charge", "4.95"),
            ..Default::default()
        },
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    for _ in 0..2 {
        let (reg, tx) = (reg.clone(), tx.clone());
        std::thread::spawn(move || {
            // The loop below may hold a slot just when a sleeper starts: it tries again.
            let slept = loop {
                match reg.quote_shipping("hostile", &plugins_support::shipping_request(1)) {
                    Err(PluginError::Capacity { .. }) => std::thread::yield_now(),
                    other => break other,
                }
            };
            let _ = tx.send(slept);
        });
    }
    let threshold = plugins_support::test_config().failure_threshold;
    let started = Instant::now();
    let mut refused = 0;
    // Until both sleepers hold their slots, calls go through; then each one is refused.
    while refused <= threshold * 2 {
        assert!(started.elapsed() < NEVER, "the pool never filled up");
        match reg.quote_shipping("flat-rate-shipping", &plugins_support::shipping_request(1)) {
            Ok(_) => std::thread::yield_now(),
            Err(PluginError::Capacity { plugin, .. }) => {
                assert_eq!(plugin.id, "flat-rate-shipping");
                refused += 1;
            }
            Err(e) => panic!("a full pool is reported as capacity, not as: {e}"),
        }
    }
    let status = reg.status("flat-rate-shipping").unwrap();
    assert!(status.enabled, "switched off by the host's own shortage");
    assert_eq!((status.consecutive_failures, status.failures), (0, 0));
    // The sleepers are cut off at their budget; then there is room again.
    for _ in 0..2 {
        let slept = rx.recv_timeout(NEVER).expect("a sleeper never returned");
        assert!(
            matches!(slept, Err(PluginError::Timeout { .. })),
            "{slept:?}"
        );
    }
    let quotes = reg
        .quote_shipping("flat-rate-shipping", &plugins_support::shipping_request(1))
        .unwrap();
    assert_eq!(quotes[0].charge_excl_tax.to_string(), "4.95");
}

/// A TCP proxy in front of the payment provider that holds every connection until `open` is
/// called, and counts how many it holds at once.
#[derive(Clone)]
struct HoldingProxy {
    held: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    gate: tokio::sync::watch::Sender<bool>,
}

impl HoldingProxy {
    async fn start(upstream: String) -> (HoldingProxy, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (gate, _) = tokio::sync::watch::channel(false);
        let proxy = HoldingProxy {
            held: Arc::default(),
            peak: Arc::default(),
            gate,
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (p, upstream) = (p.clone(), upstream.clone());
                tokio::spawn(async move {
                    let now = p.held.fetch_add(1, Ordering::SeqCst) + 1;
                    p.peak.fetch_max(now, Ordering::SeqCst);
                    let mut open = p.gate.subscribe();
                    let _ = open.wait_for(|o| *o).await;
                    p.held.fetch_sub(1, Ordering::SeqCst);
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        (proxy, address)
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }
}

/// ~200 provider notifications at once, each of which makes the gateway ask the provider
/// (held at the proxy until every notification was either turned away or is waiting there).
/// The webhook lets a bounded number in and answers the rest 503 with `Retry-After`; the shop
/// keeps serving pages meanwhile; and the gateway stays enabled, here and in the database.
async fn webhook_flood(app: TestApp) {
    use emporium::payment::sandbox::{Sandbox, serve};
    const FLOOD: usize = 200;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(
        Sandbox::new("sk_test_flood", &format!("http://{upstream}")),
        listener,
    ));
    let (proxy, provider) = HoldingProxy::start(upstream).await;
    let base_url = format!("{provider}/v1");
    app.install_plugin(
        "redirect-gateway",
        &[("base_url", &base_url), ("api_key", "sk_test_flood")],
        &["127.0.0.1"],
    )
    .await;
    let webhook = format!("{}/payment/redirect-gateway/webhook/", app.base);
    let answered = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let requests: Vec<_> = (0..FLOOD)
        .map(|i| {
            let (client, webhook, answered) = (client.clone(), webhook.clone(), answered.clone());
            tokio::spawn(async move {
                let response = client
                    .post(&webhook)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"payment_id": "pay_flood_{i}"}}"#))
                    .send()
                    .await
                    .expect("the shop answers every notification");
                answered.fetch_add(1, Ordering::SeqCst);
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap_or_default().to_string());
                (response.status().as_u16(), retry_after)
            })
        })
        .collect();
    // Every notification is either answered or waiting at the provider: the flood is at its
    // height. The shop still serves a page, then the provider answers.
    let started = Instant::now();
    while answered.load(Ordering::SeqCst) + proxy.held.load(Ordering::SeqCst) < FLOOD {
        assert!(started.elapsed() < NEVER, "the flood never settled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = app.get("/").await;
    assert_eq!(status, 200, "the shop stops serving during the flood");
    proxy.open();
    let mut turned_away = 0;
    for request in requests {
        let (status, retry_after) = request.await.unwrap();
        match status {
            503 => {
                assert!(retry_after.is_some(), "a 503 without Retry-After");
                turned_away += 1;
            }
            // Handled: the provider knows no such payment, so the gateway declines it.
            422 => {}
            other => panic!("unexpected answer to a notification: {other}"),
        }
    }
    let peak = proxy.peak.load(Ordering::SeqCst);
    assert!(turned_away > 0, "nothing was turned away");
    assert!(
        peak <= 16,
        "{peak} notifications reached the provider at once, more than the webhook's limit"
    );
    let status = app
        .state
        .plugins
        .registry()
        .status("redirect-gateway")
        .unwrap();
    assert!(
        status.enabled,
        "the flood switched the gateway off: {:?}",
        status.disabled_reason
    );
    assert_eq!(status.consecutive_failures, 0);
    let stored = emporium::plugins::lifecycle::store::get(&app.state.db.pool, "redirect-gateway")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.enabled, "the database has the gateway switched off");
}

both_backends!(webhook_flood_keeps_the_gateway_on, webhook_flood);

/// A notification larger than the limit is refused while it is being read: the answer comes
/// though the client has not finished (and never finishes) sending it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_webhook_is_refused_unread() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start(Backend::Sqlite).await;
    // Never asked: nothing reaches the gateway.
    app.install_plugin(
        "redirect-gateway",
        &[
            ("base_url", "http://127.0.0.1:9/v1"),
            ("api_key", "sk_test_big"),
        ],
        &["127.0.0.1"],
    )
    .await;
    let address = app.base.strip_prefix("http://").unwrap().to_string();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    tokio::spawn(async move {
        let head = format!(
            "POST /payment/redirect-gateway/webhook/ HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        );
        write.write_all(head.as_bytes()).await.unwrap();
        // A tenth of the promised body, then silence (the connection stays open).
        let _ = write.write_all(&vec![b' '; 100_000]).await;
        tokio::time::sleep(NEVER * 2).await;
        drop(write);
    });
    let mut answer = vec![0; 64];
    let n = tokio::time::timeout(NEVER, read.read(&mut answer))
        .await
        .expect("no answer until the whole body was sent")
        .unwrap();
    let status_line = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
}
