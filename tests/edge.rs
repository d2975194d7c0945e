//! The shop at its edges: the abandoned-basket sweep next to placed orders (SQLite and
//! PostgreSQL), hostile or slow clients (slowloris, slow and oversized bodies, requests that
//! take too long), and a panicking handler, all against the real server on loopback.
//!
//! Timeouts are configured to a second here so the tests wait for the server's cut-off
//! events; every wait has a generous bound that only fails a test whose server never cuts.

mod support;

use std::time::Duration;

use emporium::fixtures::{BasketBuilder, CreatedProduct, ProductBuilder};
use emporium::infra::config::Config;
use support::{Backend, Browser, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the server to cut a slow client off before it fails: far more
/// than any configured timeout, so only a server that never cuts fails it.
const GIVE_UP: Duration = Duration::from_secs(90);

// ----- the abandoned-basket sweep -------------------------------------------------------

async fn newest_basket(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT MAX(id) FROM basket").await
}

/// A standalone product of a class that ships and tracks stock, with no options, in stock.
async fn simple_product(app: &TestApp) -> CreatedProduct {
    ProductBuilder::new().create(&app.state.db).await.unwrap()
}

/// A new anonymous basket (no session names it) holding one unit of `product`.
async fn basket_of(app: &TestApp, product: &CreatedProduct) -> i64 {
    BasketBuilder::new()
        .line(product, 1)
        .create(
            &app.state.db,
            &app.state.pricing,
            &app.state.offers,
            app.state.currency,
        )
        .await
        .unwrap()
}

/// An anonymous visitor puts one unit in a new basket.
async fn add_to_basket(b: &Browser, product: i64) {
    let token = b.get("/basket/").await.csrf_token();
    let mut form = vec![("quantity", "1")];
    if let Some(t) = &token {
        form.push(("csrf_token", t));
    }
    let page = b.post(&format!("/basket/add/{product}/"), &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    let rest = &body[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A guest checks out their basket with the test card gateway.
async fn guest_checkout(b: &Browser) {
    let t = b.get("/basket/").await.csrf_token().unwrap();
    let t = t.as_str();
    let steps: [(&str, Vec<(&str, &str)>); 2] = [
        (
            "/checkout/gateway/",
            vec![("csrf_token", t), ("email", "sweep@example.com")],
        ),
        (
            "/checkout/shipping-address/",
            vec![
                ("csrf_token", t),
                ("name", "Ada Lovelace"),
                ("line1", "12 St James's Square"),
                ("city", "London"),
                ("postcode", "SW1Y 4JH"),
                ("country", "GB"),
            ],
        ),
    ];
    for (path, form) in steps {
        let page = b.post(path, &form).await;
        assert_eq!(page.status, 303, "{path}: {}", page.body);
    }
    let methods = b.get("/checkout/shipping-method/").await;
    let method = hidden(
        &methods
            .body
            .replace("type=\"radio\" name=\"method\"", "name=\"method\""),
        "method",
    );
    for (path, form) in [
        (
            "/checkout/shipping-method/",
            vec![("csrf_token", t), ("method", method.as_str())],
        ),
        (
            "/checkout/payment-method/",
            vec![("csrf_token", t), ("gateway", "test-card-gateway")],
        ),
    ] {
        let page = b.post(path, &form).await;
        assert_eq!(page.status, 303, "{path}: {}", page.body);
    }
    let preview = b.get("/checkout/preview/").await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    // A card that expires next year, whenever the test runs.
    let year = time::OffsetDateTime::now_utc().year() + 1;
    let expiry = format!("12/{:02}", year % 100);
    let basket_id = hidden(&preview.body, "basket_id");
    let fingerprint = hidden(&preview.body, "fingerprint");
    let page = b
        .post(
            "/checkout/place/",
            &[
                ("csrf_token", t),
                ("basket_id", &basket_id),
                ("fingerprint", &fingerprint),
                ("card_number", "4242424242424242"),
                ("card_expiry", &expiry),
                ("card_cvc", "123"),
                ("card_name", "Ada Lovelace"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "placing the order: {}", page.body);
}

async fn basket_exists(app: &TestApp, id: i64) -> bool {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM basket WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
        == 1
}

async fn lines_of(app: &TestApp, id: i64) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM basket_line WHERE basket_id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

both_backends!(
    abandoned_basket_sweep_keeps_ordered_baskets,
    |app: TestApp| async move {
        app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
            .await;
        app.install_plugin("test-card-gateway", &[], &[]).await;
        let product = simple_product(&app).await;
        let pool = &app.state.db.pool;

        // Old and ordered: a guest's basket, submitted, that shop_order references.
        let buyer = app.browser();
        add_to_basket(&buyer, product.id).await;
        let ordered = newest_basket(&app).await;
        guest_checkout(&buyer).await;
        assert!(
            emporium::order::number_of_basket(pool, ordered)
                .await
                .unwrap()
                .is_some()
        );
        // Old and open: left behind with a line in it.
        let abandoned = basket_of(&app, &product).await;
        assert_eq!(lines_of(&app, abandoned).await, 1);
        // Old and open, but with a redirect payment in flight: the provider's webhook will
        // still need it.
        let paying = basket_of(&app, &product).await;
        sqlx::query(
            "INSERT INTO pending_payment (gateway, reference, basket_id, email, shipping_address, \
             shipping_method, fingerprint, currency, amount_minor, site_url, created_at) \
             VALUES ('redirect-gateway', 'pay_1', $1, 'p@example.com', '{}', '{}', 'f', 'GBP', 100, \
             'http://shop.test', '2000-01-01T00:00:00Z')",
        )
        .bind(paying)
        .execute(pool)
        .await
        .unwrap();
        // New: somebody's basket right now.
        let fresh = basket_of(&app, &product).await;

        for id in [ordered, abandoned, paying] {
            sqlx::query("UPDATE basket SET updated_at = '2000-01-01T00:00:00Z' WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .unwrap();
        }
        let cut_off = "2001-01-01T00:00:00Z";
        let swept = emporium::basket::sweep_abandoned(pool, cut_off).await;
        assert_eq!(swept.as_ref().ok(), Some(&1), "{swept:?}");
        assert!(!basket_exists(&app, abandoned).await);
        assert_eq!(lines_of(&app, abandoned).await, 0);
        assert!(basket_exists(&app, ordered).await, "the order's basket");
        assert!(basket_exists(&app, paying).await, "a basket being paid for");
        assert!(basket_exists(&app, fresh).await, "a new basket");
        assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM shop_order").await, 1);
        // The next run has nothing to do and still succeeds.
        let again = emporium::basket::sweep_abandoned(pool, cut_off).await;
        assert_eq!(again.as_ref().ok(), Some(&0), "{again:?}");
        // Once the pending payment is swept (it is as old), the basket goes on the next pass.
        emporium::checkout::pending::sweep(pool, cut_off)
            .await
            .unwrap();
        let third = emporium::basket::sweep_abandoned(pool, cut_off).await;
        assert_eq!(third.as_ref().ok(), Some(&1), "{third:?}");
        assert!(!basket_exists(&app, paying).await);
        assert!(basket_exists(&app, ordered).await);
    }
);

// ----- slow and hostile clients ---------------------------------------------------------

/// A shop (SQLite, a small catalogue) served on loopback with the given configuration tweaks.
struct Shop {
    addr: String,
    base: String,
    _data: tempfile::TempDir,
}

async fn shop(tweak: impl FnOnce(&mut Config)) -> Shop {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data.path().to_path_buf(),
        database_url: Some(format!(
            "sqlite://{}?mode=rwc",
            data.path().join("shop.db").display()
        )),
        themes_dir: support::repo_root().join("themes"),
        db_max_connections: 4,
        ..Config::default()
    };
    tweak(&mut config);
    let currency = config.default_currency().unwrap();
    let state = emporium::app::build_state(config).await.expect("app state");
    emporium::demo::load(&state.db.pool, 120, currency, &state.media, false)
        .await
        .expect("demo catalogue");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        emporium::server::serve(state, listener).await.unwrap();
    });
    Shop {
        base: format!("http://{addr}"),
        addr,
        _data: data,
    }
}

/// What the server did to a client that kept sending: closed the connection, or answered.
#[derive(Debug)]
enum CutOff {
    Closed,
    Answered(String),
}

/// Sends `head`, then `trickle` one byte a second, until the server answers or closes the
/// connection. Panics if it has done neither after [`GIVE_UP`].
async fn trickle(addr: &str, head: &str, trickle: &[u8]) -> CutOff {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut sent = 0;
    let mut buf = vec![0u8; 4096];
    while started.elapsed() < GIVE_UP {
        if sent < trickle.len() {
            if stream.write_all(&trickle[sent..sent + 1]).await.is_err() {
                return CutOff::Closed;
            }
            sent += 1;
        }
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => return CutOff::Closed,
            Ok(Ok(n)) => return CutOff::Answered(String::from_utf8_lossy(&buf[..n]).into()),
        }
    }
    panic!("the server still waits for a client that sent {sent} bytes one a second");
}

fn status_of(cut: &CutOff) -> Option<u16> {
    match cut {
        CutOff::Closed => None,
        CutOff::Answered(text) => text.split(' ').nth(1).and_then(|s| s.parse().ok()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_headers_are_cut_off_while_others_are_served() {
    let shop = shop(|c| c.header_read_timeout_secs = 1).await;
    let head = "GET / HTTP/1.1\r\nHost: shop.test\r\nX-Slow: ";
    let slow = tokio::spawn({
        let addr = shop.addr.clone();
        async move { trickle(&addr, head, &[b'a'; 200]).await }
    });
    // Others are served while the slow client holds its connection.
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let page = client.get(format!("{}/", shop.base)).send().await.unwrap();
        assert_eq!(page.status(), 200);
    }
    let cut = slow.await.unwrap();
    assert!(
        matches!(cut, CutOff::Closed) || status_of(&cut) == Some(408),
        "{cut:?}"
    );
    // A connection that never sends a byte is closed too.
    let idle = trickle(&shop.addr, "", &[]).await;
    assert!(
        matches!(idle, CutOff::Closed) || status_of(&idle) == Some(408),
        "{idle:?}"
    );
    let page = client.get(format!("{}/", shop.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_are_cut_off() {
    let shop = shop(|c| c.body_read_timeout_secs = 1).await;
    // A form post: the CSRF check reads the body before any handler runs.
    let form_head = format!(
        "POST /basket/add/1/ HTTP/1.1\r\nHost: {0}\r\nOrigin: http://{0}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n",
        shop.addr
    );
    let cut = trickle(&shop.addr, &form_head, &[b'a'; 200]).await;
    assert_eq!(status_of(&cut), Some(408), "{cut:?}");
    // The payment webhook, outside the CSRF check, reads its body in the handler.
    let webhook_head = format!(
        "POST /payment/redirect-gateway/webhook/ HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n",
        shop.addr
    );
    let cut = trickle(&shop.addr, &webhook_head, &[b' '; 200]).await;
    assert!(
        matches!(cut, CutOff::Closed) || status_of(&cut).is_some_and(|s| (400..500).contains(&s)),
        "{cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_takes_too_long_gets_408() {
    // The body deadline is out of the way: only the whole-request timeout can answer.
    let shop = shop(|c| {
        c.request_timeout_secs = 1;
        c.body_read_timeout_secs = 3600;
    })
    .await;
    let head = format!(
        "POST /payment/redirect-gateway/webhook/ HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n",
        shop.addr
    );
    let cut = trickle(&shop.addr, &head, &[b' '; 200]).await;
    assert_eq!(status_of(&cut), Some(408), "{cut:?}");
    let CutOff::Answered(text) = cut else {
        unreachable!()
    };
    assert!(text.contains("text/html"), "the theme's page: {text}");
}

/// Sends `request` and reads what the server answers first.
async fn answer_to(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 8192];
    // Until the page is complete or the server closes the connection.
    while !String::from_utf8_lossy(&answer).contains("</html>") {
        match tokio::time::timeout(GIVE_UP, stream.read(&mut buf))
            .await
            .expect("an answer")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413() {
    let shop = shop(|_| {}).await;
    // A declared length over the limit is refused before a byte of the body is read (so the
    // test sends none: the answer must not wait for it).
    for path in ["/basket/add/1/", "/payment/redirect-gateway/webhook/"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {0}\r\nOrigin: http://{0}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n",
            shop.addr
        );
        let answer = answer_to(&shop.addr, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(answer.contains("Request too large"), "{path}: {answer}");
    }
    // Without a declared length the body fails once it passes the limit: one byte more than
    // the limit is sent (all of it is read, so the answer is not lost to a reset).
    let over = emporium::web::MAX_BODY_BYTES + 1;
    let mut request = format!(
        "POST /basket/add/1/ HTTP/1.1\r\nHost: {0}\r\nOrigin: http://{0}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         {1:x}\r\n",
        shop.addr,
        over + 100
    )
    .into_bytes();
    request.extend(std::iter::repeat_n(b'b', over));
    let answer = answer_to(&shop.addr, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

// ----- panics ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multibyte_postcode_is_a_form_error() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    let b = app.browser();
    add_to_basket(&b, simple_product(&app).await.id).await;
    let t = b.get("/basket/").await.csrf_token().unwrap();
    let page = b
        .post(
            "/checkout/gateway/",
            &[("csrf_token", t.as_str()), ("email", "nl@example.com")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    // `postcode=123%C3%A95`: six bytes, five characters.
    let page = b
        .post(
            "/checkout/shipping-address/",
            &[
                ("csrf_token", t.as_str()),
                ("name", "Jan"),
                ("line1", "Dam 1"),
                ("city", "Amsterdam"),
                ("country", "NL"),
                ("postcode", "123\u{e9}5"),
            ],
        )
        .await;
    // The form again, with the postcode's error (the shop answers invalid forms 422).
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("Enter a postcode like 1234 AB."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_gets_the_500_page() {
    use tower::ServiceExt;
    let app = TestApp::start(Backend::Sqlite).await;
    let boom = axum::Router::new().route(
        "/test/boom/",
        axum::routing::get(|| async {
            if std::hint::black_box(true) {
                panic!("a handler bug");
            }
            "unreachable"
        }),
    );
    let router = emporium::web::router_with(app.state.clone(), boom);
    let response = router
        .oneshot(
            axum::http::Request::get("/test/boom/")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&body);
    assert!(page.contains("Something went wrong"), "{page}");
    // And the shop goes on serving.
    assert_eq!(app.get("/").await.0, 200);
}
