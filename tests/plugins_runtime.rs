//! Every world called through the real runtime with the real bundled components.

mod plugins_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use emporium::plugins::calls::{
    Callback, CallbackKind, Card, ConsumedLine, PaymentRequest, PricingContext, PricingItem,
    StockRecord, StockStatus,
};
use emporium::plugins::distribution::manifest::Manifest;
use emporium::plugins::*;
use plugins_support::*;
use rust_decimal::Decimal;

fn registry() -> PluginRegistry {
    PluginRegistry::new(runtime())
}

fn install(reg: &PluginRegistry, id: &str, config: ConfigValues) -> PluginStatus {
    reg.install_dir(
        &plugin_dir(id),
        InstallOptions {
            config,
            ..InstallOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("installing {id}: {e}"))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn shipping_plugins_quote_a_basket() {
    let reg = registry();
    install(
        &reg,
        "flat-rate-shipping",
        ConfigValues::new()
            .with("charge", "4.50")
            .with("tax_rate", "20")
            .with("countries", "GB,IE"),
    );
    install(
        &reg,
        "weight-band-shipping",
        ConfigValues::new().with("bands", "1000:3.00, 10000:8.00"),
    );
    install(
        &reg,
        "free-shipping-over",
        ConfigValues::new().with("threshold", "100"),
    );

    let req = shipping_request(10); // 10 lines, 5 kg, 240.00 incl. tax
    let flat = reg.quote_shipping("flat-rate-shipping", &req).unwrap();
    assert_eq!(flat.len(), 1);
    assert_eq!(flat[0].charge_excl_tax, dec("4.50"));
    assert_eq!(flat[0].charge_incl_tax, dec("5.40"));
    assert_eq!(flat[0].currency, "GBP");

    let band = reg.quote_shipping("weight-band-shipping", &req).unwrap();
    assert_eq!(band[0].charge_excl_tax, dec("8.00"));
    let light = shipping_request(1);
    assert_eq!(
        reg.quote_shipping("weight-band-shipping", &light).unwrap()[0].charge_excl_tax,
        dec("3.00")
    );

    assert_eq!(
        reg.quote_shipping("free-shipping-over", &req).unwrap()[0].charge_incl_tax,
        Decimal::ZERO
    );
    assert!(
        reg.quote_shipping("free-shipping-over", &light)
            .unwrap()
            .is_empty()
    );

    let mut abroad = shipping_request(1);
    abroad.address = Some(address("US"));
    assert!(
        reg.quote_shipping("flat-rate-shipping", &abroad)
            .unwrap()
            .is_empty()
    );

    assert_eq!(reg.enabled_ids(ExtensionPoint::Shipping).len(), 3);
}

#[test]
fn tiered_pricing_prices_a_page_in_one_call() {
    let reg = registry();
    install(
        &reg,
        "tiered-pricing",
        ConfigValues::new()
            .with("tiers", "1:0, 10:5, 50:10")
            .with("tax_rate", "20"),
    );
    let items: Vec<PricingItem> = (0..50)
        .map(|i| PricingItem {
            product: product(&format!("p{i}"), "Books", 300),
            stock_records: vec![StockRecord {
                partner_id: "warehouse".into(),
                partner_sku: format!("W{i}"),
                price_excl_tax: Some(money("10.00", "EUR")),
                num_in_stock: Some(if i == 7 { 0 } else { 20 }),
                num_allocated: 0,
            }],
        })
        .collect();
    let ctx = PricingContext {
        customer: customer(),
        currency: currency("EUR"),
        quantity: 10,
    };
    let priced = reg.price("tiered-pricing", &ctx, &items).unwrap();
    assert_eq!(priced.len(), 50);
    assert_eq!(priced[0].unit_price, Some((dec("9.50"), dec("11.40"))));
    assert_eq!(priced[0].status, StockStatus::InStock);
    assert_eq!(priced[7].status, StockStatus::OutOfStock);
    assert_eq!(priced[49].product_id, "p49");

    // Asking in a currency no partner sells in: unavailable, not an error.
    let gbp = PricingContext {
        currency: currency("GBP"),
        ..ctx
    };
    let none = reg.price("tiered-pricing", &gbp, &items[..2]).unwrap();
    assert!(
        none.iter()
            .all(|p| p.unit_price.is_none() && p.status == StockStatus::Unavailable)
    );
}

#[test]
fn offer_condition_consumes_lines() {
    let reg = registry();
    install(
        &reg,
        "min-quantity-category",
        ConfigValues::new()
            .with("category", "Books")
            .with("min_quantity", "3"),
    );
    let result = reg
        .check_condition("min-quantity-category", &condition_input(4))
        .unwrap();
    assert!(result.is_satisfied);
    let consumed: u32 = result.consumed.iter().map(|c| c.quantity).sum();
    assert_eq!(consumed, 3);

    let mut input = condition_input(4);
    input.already_consumed = vec![ConsumedLine {
        line_id: "l0".into(),
        quantity: 2,
    }];
    let result = reg
        .check_condition("min-quantity-category", &input)
        .unwrap();
    assert!(!result.is_satisfied);
    assert!(result.upsell_message.unwrap().contains("Add 1 more"));
}

fn card_request(number: &str) -> PaymentRequest {
    PaymentRequest {
        order_number: "100001".into(),
        amount: money("49.99", "EUR"),
        customer: customer(),
        billing_address: Some(address("FR")),
        card: Some(Card {
            number: number.into(),
            expiry_month: 12,
            expiry_year: 2099,
            cvc: "123".into(),
            holder_name: "Ada Lovelace".into(),
        }),
        return_url: "http://127.0.0.1/checkout/return".into(),
        idempotency_key: "idem-1".into(),
    }
}

#[test]
fn test_card_gateway_behaves_like_a_sandbox() {
    let reg = registry();
    install(&reg, "test-card-gateway", ConfigValues::new());
    match reg
        .authorize("test-card-gateway", &card_request("4242424242424242"))
        .unwrap()
    {
        PaymentOutcome::Approved {
            reference,
            amount,
            currency,
        } => {
            assert_eq!(reference, "tc_100001");
            assert_eq!(amount, dec("49.99"));
            assert_eq!(currency, "EUR");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        reg.authorize("test-card-gateway", &card_request("4000000000000002")).unwrap(),
        PaymentOutcome::Declined { message } if message.contains("declined")
    ));
    assert!(matches!(
        reg.authorize("test-card-gateway", &card_request("4000000000000119"))
            .unwrap(),
        PaymentOutcome::Error { .. }
    ));
    assert!(matches!(
        reg.authorize("test-card-gateway", &card_request("1234567812345678")).unwrap(),
        PaymentOutcome::Declined { message } if message.contains("invalid")
    ));
    let captured = reg
        .capture("test-card-gateway", "tc_100001", &money("49.99", "EUR"))
        .unwrap();
    assert!(matches!(captured, PaymentOutcome::Approved { amount, .. } if amount == dec("49.99")));
    assert!(matches!(
        reg.refund("test-card-gateway", "tc_100001", &money("10", "EUR"))
            .unwrap(),
        PaymentOutcome::Approved { .. }
    ));
    assert!(matches!(
        reg.void("test-card-gateway", "tc_100001").unwrap(),
        PaymentOutcome::Approved { .. }
    ));
    assert!(matches!(
        reg.void("test-card-gateway", "someone-elses").unwrap(),
        PaymentOutcome::Error { .. }
    ));
    // Payment can never be configured to fail open.
    assert!(
        reg.set_policy(ExtensionPoint::Payment, FailurePolicy::Skip)
            .is_err()
    );
}

#[test]
fn theme_extension_lists_and_calls_helpers() {
    let reg = registry();
    install(&reg, "text-helpers", ConfigValues::new());
    let names: Vec<String> = reg
        .theme_functions("text-helpers")
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["initials", "pluralize", "stars"]);
    let out = reg
        .theme_call(
            "text-helpers",
            "pluralize",
            &serde_json::json!([3, "box", "boxes"]),
        )
        .unwrap();
    assert_eq!(out, serde_json::json!("3 boxes"));
    assert!(matches!(
        reg.theme_call("text-helpers", "nope", &serde_json::json!([])),
        Err(PluginError::Guest {
            kind: GuestErrorKind::InvalidInput,
            ..
        })
    ));
}

/// A tiny payment provider on loopback: create a payment, then report it as paid.
struct Provider {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Provider {
    fn start() -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !halt.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut len = 0;
                let mut chunked = false;
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                        chunked = true;
                    }
                    if lower.starts_with("authorization:") {
                        auth = h.trim().to_string();
                    }
                }
                // Read the whole body: closing a socket with unread bytes sends a reset, which
                // can reach the client before the response does (a flaky "protocol error").
                if chunked {
                    loop {
                        let mut size = String::new();
                        reader.read_line(&mut size).unwrap();
                        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                        let mut chunk = vec![0; n + 2];
                        reader.read_exact(&mut chunk).unwrap();
                        if n == 0 {
                            break;
                        }
                    }
                } else {
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                }
                let target = line
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                log.lock().unwrap().push(format!("{target} {auth}"));
                let (status, json) = if !auth.ends_with("Bearer sk_test_123") {
                    ("401 Unauthorized", "{}".to_string())
                } else if target == "POST /v1/payments" {
                    (
                        "201 Created",
                        format!(
                            r#"{{"id":"pay_1","redirect_url":"http://127.0.0.1:{port}/hosted/pay_1"}}"#
                        ),
                    )
                } else if target == "GET /v1/payments/pay_1" {
                    (
                        "200 OK",
                        r#"{"id":"pay_1","status":"succeeded","amount":"49.99","currency":"EUR"}"#
                            .to_string(),
                    )
                } else if target.starts_with("POST /v1/payments/pay_1/") {
                    ("200 OK", r#"{"status":"succeeded"}"#.to_string())
                } else {
                    ("404 Not Found", "{}".to_string())
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                    json.len()
                );
            }
        });
        Provider {
            port,
            requests,
            stop,
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn redirect_gateway_talks_to_its_provider_over_wasi_http() {
    let provider = Provider::start();
    let reg = registry();
    let config = ConfigValues::new()
        .with("base_url", format!("http://127.0.0.1:{}/v1", provider.port))
        .with("api_key", "sk_test_123");
    reg.install_dir(
        &plugin_dir("redirect-gateway"),
        InstallOptions {
            config: config.clone(),
            approved_hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let mut request = card_request("4242424242424242");
    request.card = None;
    let reference = match reg.authorize("redirect-gateway", &request).unwrap() {
        PaymentOutcome::Redirect { url, reference } => {
            assert_eq!(
                url,
                format!("http://127.0.0.1:{}/hosted/pay_1", provider.port)
            );
            reference
        }
        other => panic!("{other:?}"),
    };
    let callback = Callback {
        kind: CallbackKind::BrowserReturn,
        method: "GET".into(),
        query: format!("payment_id={reference}"),
        headers: vec![],
        body: vec![],
        reference: None,
    };
    assert!(matches!(
        reg.handle_callback("redirect-gateway", &callback).unwrap(),
        PaymentOutcome::Approved { amount, .. } if amount == dec("49.99")
    ));
    let captured = reg
        .capture("redirect-gateway", &reference, &money("49.99", "EUR"))
        .unwrap();
    assert!(
        matches!(captured, PaymentOutcome::Approved { .. }),
        "{captured:?}"
    );
    let seen = provider.requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[0].starts_with("POST /v1/payments"));

    // Not approved by the admin: no request leaves, and the error says why.
    let denied = PluginRegistry::new(runtime());
    denied
        .install_dir(
            &plugin_dir("redirect-gateway"),
            InstallOptions {
                config,
                approved_hosts: vec![],
                ..Default::default()
            },
        )
        .unwrap();
    let err = denied.authorize("redirect-gateway", &request).unwrap_err();
    assert!(
        matches!(&err, PluginError::Denied { capability, .. } if capability.contains("127.0.0.1")),
        "{err}"
    );
    assert_eq!(
        provider.requests.lock().unwrap().len(),
        3,
        "a denied request reached the provider"
    );
}

#[test]
fn loading_refuses_mismatches_and_bad_config() {
    let rt = runtime();
    // A shipping component declared as a pricing strategy.
    let dir = plugin_dir("flat-rate-shipping");
    let text = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    let lying = Manifest::parse(&text.replace(
        "world = \"shipping-method\"",
        "world = \"pricing-strategy\"",
    ))
    .unwrap();
    let wasm = std::fs::read(dir.join("plugin.wasm")).unwrap();
    let err = rt.load(lying, &wasm).unwrap_err();
    assert!(
        matches!(&err, PluginError::Load { reason, plugin } if reason.contains("emporium:plugin/pricing") && plugin.id == "flat-rate-shipping"),
        "{err}"
    );

    let garbage = Manifest::parse(&text).unwrap();
    assert!(matches!(
        rt.load(garbage, b"not wasm"),
        Err(PluginError::Load { .. })
    ));

    let reg = registry();
    let err = reg
        .install_dir(
            &plugin_dir("free-shipping-over"),
            InstallOptions {
                config: ConfigValues::new()
                    .with("threshold", "lots")
                    .with("colour", "red"),
                ..Default::default()
            },
        )
        .unwrap_err();
    match err {
        PluginError::Config { errors, .. } => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["colour", "threshold"]);
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        reg.quote_shipping("free-shipping-over", &shipping_request(1)),
        Err(PluginError::NotFound(_))
    ));
}

#[test]
fn calling_the_wrong_extension_point_is_refused() {
    let reg = registry();
    install(&reg, "text-helpers", ConfigValues::new());
    assert!(matches!(
        reg.quote_shipping("text-helpers", &shipping_request(1)),
        Err(PluginError::WrongWorld { .. })
    ));
}

#[test]
fn hot_swap_while_calls_run() {
    let reg = Arc::new(registry());
    install(
        &reg,
        "flat-rate-shipping",
        ConfigValues::new().with("charge", "1.00"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    // The charge the workers' latest call returned, so each swap can wait until they saw it.
    let latest = Arc::new(Mutex::new(String::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (reg, stop, calls, latest) =
                (reg.clone(), stop.clone(), calls.clone(), latest.clone());
            std::thread::spawn(move || {
                let req = shipping_request(3);
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let quotes = reg
                        .quote_shipping("flat-rate-shipping", &req)
                        .expect("no call may fail during a swap");
                    let charge = quotes[0].charge_excl_tax.to_string();
                    *latest.lock().unwrap() = charge.clone();
                    seen.insert(charge);
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();
    let limit = std::time::Instant::now() + Duration::from_secs(60);
    for i in 0..20 {
        let charge = format!("{}.00", 2 + i % 3);
        if i % 2 == 0 {
            reg.configure(
                "flat-rate-shipping",
                ConfigValues::new().with("charge", charge),
            )
            .unwrap();
        } else {
            install(
                &reg,
                "flat-rate-shipping",
                ConfigValues::new().with("charge", charge),
            );
        }
        // The swap is in place for new calls; wait until a worker's call has run on it (the
        // limit only stops a test that would never finish).
        let expected = reg
            .quote_shipping("flat-rate-shipping", &shipping_request(3))
            .unwrap()[0]
            .charge_excl_tax
            .to_string();
        while *latest.lock().unwrap() != expected {
            assert!(
                std::time::Instant::now() < limit,
                "the workers never saw swap {i}"
            );
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for w in workers {
        seen.extend(w.join().unwrap());
    }
    assert!(calls.load(Ordering::Relaxed) >= 20);
    assert!(
        seen.len() >= 3,
        "calls should have seen every configuration: {seen:?}"
    );
    assert_eq!(
        reg.status("flat-rate-shipping")
            .unwrap()
            .consecutive_failures,
        0
    );
}

#[test]
fn failure_policy_turns_errors_into_decisions() {
    let reg = registry();
    reg.set_policy(ExtensionPoint::Shipping, FailurePolicy::Skip)
        .unwrap();
    let skipped = reg
        .decide(
            ExtensionPoint::Shipping,
            reg.quote_shipping("missing", &shipping_request(1)),
        )
        .unwrap();
    assert!(matches!(skipped, Decision::Skip(PluginError::NotFound(_))));
    reg.set_policy(ExtensionPoint::Pricing, FailurePolicy::Builtin)
        .unwrap();
    assert!(matches!(
        reg.decide::<()>(
            ExtensionPoint::Pricing,
            Err(PluginError::NotFound("x".into()))
        )
        .unwrap(),
        Decision::Builtin(_)
    ));
    reg.set_policy(ExtensionPoint::Offer, FailurePolicy::FailClosed)
        .unwrap();
    assert!(
        reg.decide::<()>(
            ExtensionPoint::Offer,
            Err(PluginError::NotFound("x".into()))
        )
        .is_err()
    );
    assert!(
        reg.decide::<()>(
            ExtensionPoint::Payment,
            Err(PluginError::NotFound("x".into()))
        )
        .is_err()
    );
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let rt = runtime();
    let wasm = std::fs::read(plugin_dir("weight-band-shipping").join("plugin.wasm")).unwrap();
    let path = rt.cache_path(&wasm);
    rt.compile_cached(&wasm).unwrap();
    assert!(path.exists());
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.contains("wasmtime48"), "{name}");
    // A second load reuses the compilation on disk instead of compiling again (which would
    // write a new file in place of this one).
    use std::os::unix::fs::MetadataExt;
    let before = std::fs::metadata(&path).unwrap();
    let (_, again) = rt.compile_cached(&wasm).unwrap();
    assert_eq!(again, path);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
    rt.load_cached(&path).unwrap();
    // Only files inside the host's own cache directory are deserialized.
    assert!(
        rt.load_cached(&plugin_dir("weight-band-shipping").join("plugin.wasm"))
            .is_err()
    );
}
