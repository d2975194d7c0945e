//! Checkout and orders over HTTP against the real app, with real plugin components (shipping
//! and payment), on SQLite and PostgreSQL: guest and customer checkouts, every bundled shipping
//! and payment plugin (Rust, Python, JavaScript; the redirect gateway against the sandbox
//! provider on loopback), declines and failing gateways, idempotency, tampering, and 200
//! concurrent checkouts for 10 units.

mod support;

use std::sync::Arc;

use emporium::fixtures::ProductBuilder;
use sqlx::Row;
use support::shopper::*;
use support::{Backend, Browser, TestApp};

const DECLINED_CARD: &str = "4000000000000002";
const FAULT_CARD: &str = "4000000000000119";

/// An expiry that has passed: last year's.
fn expired_card_expiry() -> String {
    let year = time::OffsetDateTime::now_utc().year() - 1;
    format!("12/{:02}", year % 100)
}

/// A standalone product of a class that ships and tracks stock, with no options: `units` in
/// stock at £10.00: (id, title, stock record id).
async fn product(app: &TestApp, units: i64) -> (i64, String, i64) {
    built(app, ProductBuilder::new().stock(units)).await
}

/// [`product`] with 10 in stock at `price` (GBP), so that a test expects literal amounts
/// rather than computing them with the code under test.
async fn product_at(app: &TestApp, price: &str) -> (i64, String, i64) {
    built(app, ProductBuilder::new().price(price)).await
}

async fn built(app: &TestApp, product: ProductBuilder) -> (i64, String, i64) {
    let p = product.create(&app.state.db).await.unwrap();
    let record = p
        .stock_record_id
        .expect("a standalone product has a stock record");
    (p.id, p.title, record)
}

async fn allocated(app: &TestApp, record: i64) -> i64 {
    sqlx::query("SELECT num_allocated FROM stock_record WHERE id = $1")
        .bind(record)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn orders(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT COUNT(*) FROM shop_order").await
}

/// Registers the browser's visitor, then signs them in (registering alone does not).
async fn register(b: &Browser, email: &str) {
    let t = b.get("/accounts/register/").await.csrf_token().unwrap();
    let reg = b
        .post(
            "/accounts/register/",
            &[
                ("csrf_token", &t),
                ("email", email),
                ("password", "correct horse"),
                ("password_confirm", "correct horse"),
            ],
        )
        .await;
    assert_eq!(reg.status, 303, "{}", reg.body);
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    let login = b
        .post(
            "/accounts/login/",
            &[
                ("csrf_token", &t),
                ("email", email),
                ("password", "correct horse"),
            ],
        )
        .await;
    assert_eq!(login.status, 303, "{}", login.body);
}

async fn install_defaults(app: &TestApp) {
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
}

both_backends!(guest_buys_with_a_test_card, |app: TestApp| async move {
    install_defaults(&app).await;
    let (id, title, record) = product_at(&app, "12.50").await;
    let before = allocated(&app, record).await;
    let b = app.browser();
    add(&b, id, 2).await;

    // The gateway step asks a guest for an email; a bad one is shown again with the error.
    let start = b.get("/checkout/").await;
    assert_eq!(start.location.as_deref(), Some("/checkout/gateway/"));
    let t = token(&b).await;
    let bad = b
        .post(
            "/checkout/gateway/",
            &[("csrf_token", &t), ("email", "not-an-email")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("Enter a valid email address"),
        "{}",
        bad.body
    );

    // A bad address is shown again with an error per field, keeping what was typed.
    b.post(
        "/checkout/gateway/",
        &[("csrf_token", &t), ("email", "Ada@Example.com")],
    )
    .await;
    let bad = b
        .post(
            "/checkout/shipping-address/",
            &[
                ("csrf_token", &t),
                ("name", "Ada"),
                ("postcode", "nope"),
                ("country", "GB"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Enter the first line of the address"));
    assert!(bad.body.contains("Enter a UK postcode"));
    assert!(bad.body.contains("value=\"Ada\""));

    let preview = to_preview(&b, None, None, "test-card-gateway").await;
    // 2 × £12.50 + £4.95 delivery.
    assert!(preview.body.contains("£29.95"), "total £29.95 missing");
    assert!(preview.body.contains("Flat rate") || preview.body.contains("Standard delivery"));

    let done = place(&b, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        done.body
    );
    let thanks = b.get("/checkout/thank-you/").await;
    assert_eq!(thanks.status, 200);
    let number = app.scalar_text("SELECT number FROM shop_order").await;
    assert!(thanks.body.contains(&number));
    assert!(thanks.body.contains("ada@example.com"));

    // The order copied what it shows, allocated the stock and recorded the payment.
    let row = sqlx::query(
        "SELECT o.total_incl_minor, o.shipping_incl_minor, o.email, o.status, o.customer_id, \
         l.title, l.quantity, l.unit_incl_minor, p.plugin_id, p.allocated_minor, p.label \
         FROM shop_order o JOIN order_line l ON l.order_id = o.id JOIN payment_source p ON p.order_id = o.id",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(row.try_get::<i64, _>("total_incl_minor").unwrap(), 2995);
    assert_eq!(row.try_get::<i64, _>("shipping_incl_minor").unwrap(), 495);
    assert_eq!(
        row.try_get::<String, _>("email").unwrap(),
        "ada@example.com"
    );
    assert_eq!(row.try_get::<String, _>("status").unwrap(), "Pending");
    assert_eq!(row.try_get::<Option<i64>, _>("customer_id").unwrap(), None);
    assert_eq!(row.try_get::<String, _>("title").unwrap(), title);
    assert_eq!(row.try_get::<i64, _>("quantity").unwrap(), 2);
    assert_eq!(row.try_get::<i64, _>("unit_incl_minor").unwrap(), 1250);
    assert_eq!(
        row.try_get::<String, _>("plugin_id").unwrap(),
        "test-card-gateway"
    );
    assert_eq!(row.try_get::<i64, _>("allocated_minor").unwrap(), 2995);
    assert_eq!(
        row.try_get::<String, _>("label").unwrap(),
        "Card ending 4242"
    );
    assert_eq!(allocated(&app, record).await, before + 2);
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM payment_event WHERE kind = 'authorise'")
            .await,
        1
    );
    assert_eq!(
        app.scalar_text("SELECT status FROM basket").await,
        "submitted"
    );

    // The guest's link shows the order; a wrong secret or another number shows nothing.
    let marker = "id=\"order-status-link\" href=\"";
    let link_start = thanks.body.find(marker).expect("a guest link") + marker.len();
    let link = &thanks.body[link_start..];
    let link = link[..link.find('"').unwrap()]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    assert!(
        link.starts_with(&format!("/orders/{number}/?token=")),
        "{link}"
    );
    let status = b.get(&link).await;
    assert_eq!(status.status, 200, "{link}");
    assert!(status.body.contains(&title.replace('\'', "&#x27;")) || status.body.contains(&number));
    let stranger = app.browser();
    assert_eq!(
        stranger.get(&link).await.status,
        200,
        "the link alone is enough"
    );
    let wrong = link[..link.len() - 4].to_string() + "0000";
    assert_eq!(stranger.get(&wrong).await.status, 404);
    assert_eq!(
        stranger.get(&format!("/orders/{number}/")).await.status,
        404
    );
    // The basket is empty now: a new checkout goes back to the basket.
    assert_eq!(
        b.get("/checkout/").await.location.as_deref(),
        Some("/basket/")
    );
});

both_backends!(
    orders_copy_prices_from_the_pricing_plugin,
    |app: TestApp| async move {
        install_defaults(&app).await;
        // 10% off from 4 units, plus 20% tax: both differ from the built-in strategy (no tax).
        app.install_plugin(
            "tiered-pricing",
            &[("tiers", "1:0, 4:10"), ("tax_rate", "20")],
            &[],
        )
        .await;
        // £19.85 less 10% is £17.865: half-up gives £17.87 (banker's rounding would give
        // £17.86); plus 20% tax, £21.444, is £21.44 a unit; 4 × £21.44 + £4.95 = £90.71.
        let (id, _, _) = product_at(&app, "19.85").await;
        let b = app.browser();
        add(&b, id, 4).await;
        let preview = to_preview(&b, Some("volume@example.com"), None, "test-card-gateway").await;
        assert!(
            preview.body.contains("£90.71"),
            "total £90.71 missing:\n{}",
            preview.body
        );
        let done = place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(
            done.location.as_deref(),
            Some("/checkout/thank-you/"),
            "{}",
            done.body
        );
        let row = sqlx::query(
            "SELECT o.total_incl_minor, l.unit_incl_minor, l.unit_excl_minor \
             FROM shop_order o JOIN order_line l ON l.order_id = o.id",
        )
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(row.try_get::<i64, _>("unit_excl_minor").unwrap(), 1787);
        assert_eq!(row.try_get::<i64, _>("unit_incl_minor").unwrap(), 2144);
        assert_eq!(row.try_get::<i64, _>("total_incl_minor").unwrap(), 9071);
    }
);

/// Saved-for-later lines move to the next basket: a guest's through the session, a customer's
/// by owner.
async fn saved_for_later_lines_outlive_the_order(app: TestApp, as_customer: bool) {
    install_defaults(&app).await;
    let (bought, _, _) = product_at(&app, "10.00").await;
    let (kept, kept_title, _) = product(&app, 10).await;
    let b = app.browser();
    if as_customer {
        register(&b, "keeper@example.com").await;
    }
    add(&b, bought, 1).await;
    add(&b, kept, 1).await;
    let line: i64 = sqlx::query("SELECT id FROM basket_line WHERE product_id = $1")
        .bind(kept)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    let t = token(&b).await;
    let saved = b
        .post(
            &format!("/basket/lines/{line}/save/"),
            &[("csrf_token", &t)],
        )
        .await;
    assert_eq!(saved.status, 303);

    let email = (!as_customer).then_some("saver@example.com");
    let preview = to_preview(&b, email, None, "test-card-gateway").await;
    assert!(preview.body.contains("£14.95"), "£10.00 + £4.95 delivery");
    let done = place(&b, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        done.body
    );
    // The order has only the bought line; the saved one waits in the shopper's next basket.
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM order_line").await, 1);
    let basket = b.get("/basket/").await;
    assert!(
        basket.body.contains(&kept_title.replace('\'', "&#x27;")),
        "the saved line is gone:\n{}",
        basket.body
    );
    let row = sqlx::query(
        "SELECT b.status, l.is_saved FROM basket_line l JOIN basket b ON b.id = l.basket_id \
             WHERE l.product_id = $1",
    )
    .bind(kept)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(row.try_get::<String, _>("status").unwrap(), "open");
    assert!(emporium::infra::db::flag(&row, "is_saved").unwrap());
}

both_backends!(
    saved_lines_survive_a_guest_order,
    |app: TestApp| async move {
        saved_for_later_lines_outlive_the_order(app, false).await;
    }
);

both_backends!(
    saved_lines_survive_a_customer_order,
    |app: TestApp| async move {
        saved_for_later_lines_outlive_the_order(app, true).await;
    }
);

both_backends!(
    customer_checkout_uses_the_address_book,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let (id, _, _) = product(&app, 10).await;
        let b = app.browser();
        register(&b, "grace@example.com").await;
        add(&b, id, 1).await;
        // Signed in: no gateway step.
        assert_eq!(
            b.get("/checkout/").await.location.as_deref(),
            Some("/checkout/shipping-address/")
        );
        let preview = to_preview(&b, None, None, "test-card-gateway").await;
        assert_eq!(
            place(&b, &preview, Some(GOOD_CARD))
                .await
                .location
                .as_deref(),
            Some("/checkout/thank-you/")
        );
        let number = app.scalar_text("SELECT number FROM shop_order").await;
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM customer_address")
                .await,
            1
        );

        // The account lists the order and shows it; another customer gets a 404.
        let list = b.get("/accounts/orders/").await;
        assert!(list.body.contains(&number), "{}", list.body);
        assert_eq!(
            b.get(&format!("/accounts/orders/{number}/")).await.status,
            200
        );
        let other = app.browser();
        register(&other, "eve@example.com").await;
        assert_eq!(
            other
                .get(&format!("/accounts/orders/{number}/"))
                .await
                .status,
            404
        );
        assert_eq!(app.browser().get("/accounts/orders/").await.status, 303);

        // Second order: the saved address is offered and can be picked; it isn't saved twice.
        add(&b, id, 1).await;
        let page = b.get("/checkout/shipping-address/").await;
        let saved_id = field(&page, "address_id").expect("a saved address to pick");
        let t = token(&b).await;
        let picked = b
            .post(
                "/checkout/shipping-address/",
                &[("csrf_token", &t), ("address_id", &saved_id)],
            )
            .await;
        assert_eq!(
            picked.location.as_deref(),
            Some("/checkout/shipping-method/")
        );
        // Someone else's address id is not found.
        let foreign = b
            .post(
                "/checkout/shipping-address/",
                &[("csrf_token", &t), ("address_id", "999999")],
            )
            .await;
        assert_eq!(foreign.status, 404);
        let preview = to_preview(&b, None, None, "test-card-gateway").await;
        assert_eq!(place(&b, &preview, Some(GOOD_CARD)).await.status, 303);
        assert_eq!(orders(&app).await, 2);
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM customer_address")
                .await,
            1
        );
    }
);

both_backends!(
    declines_and_gateway_faults_place_nothing,
    |app: TestApp| async move {
        install_defaults(&app).await;
        app.install_plugin("hostile-gateway", &[("mode", "loop")], &[])
            .await;
        let (id, _, record) = product(&app, 10).await;
        let before = allocated(&app, record).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(&b, Some("dan@example.com"), None, "test-card-gateway").await;

        // Declined: the gateway's message, no order, no stock, basket still open.
        let page = place(&b, &preview, Some(DECLINED_CARD)).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        let again = b.get("/checkout/preview/").await;
        assert!(
            again.body.contains("Your card was declined."),
            "{}",
            again.body
        );
        // An expiry that has passed: the gateway checks it against today's date (which is why
        // every other card here expires next year, not on a fixed date).
        let page = place_expiring(&b, &again, Some(GOOD_CARD), &expired_card_expiry()).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        let again = b.get("/checkout/preview/").await;
        assert!(
            again.body.contains("Your card has expired."),
            "{}",
            again.body
        );
        // Gateway fault: a generic message, never the gateway's internals.
        let page = place(&b, &again, Some(FAULT_CARD)).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        let again = b.get("/checkout/preview/").await;
        assert!(again.body.contains("you have not been charged"));
        assert!(!again.body.contains("simulated processing error"));
        // A malformed card is the form again with field errors; the number is never echoed.
        let bad = place(&b, &again, Some("4242")).await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("card number"));
        assert!(!bad.body.contains("value=\"4242\""));

        // A gateway that loops is stopped by its time budget: no order, the shop answers.
        let t = token(&b).await;
        b.post(
            "/checkout/payment-method/",
            &[("csrf_token", &t), ("gateway", "hostile-gateway")],
        )
        .await;
        // (How fast the budget cuts a guest off is plugins_hostile.rs's and the benchmarks'
        // business; here the answer arriving at all, and the failure counted, is the point.)
        let preview = b.get("/checkout/preview/").await;
        let page = place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        let hostile = app
            .state
            .plugins
            .registry()
            .status("hostile-gateway")
            .unwrap();
        assert_eq!(
            (hostile.failures, hostile.consecutive_failures),
            (1, 1),
            "the overrun is counted against the gateway"
        );
        assert_eq!(b.get("/").await.status, 200);

        assert_eq!(orders(&app).await, 0);
        assert_eq!(allocated(&app, record).await, before);
        assert_eq!(app.scalar_text("SELECT status FROM basket").await, "open");
    }
);

both_backends!(
    gateway_that_overpays_or_panics_is_refused,
    |app: TestApp| async move {
        install_defaults(&app).await;
        app.install_plugin("hostile-gateway", &[("mode", "overpay")], &[])
            .await;
        let (id, _, record) = product(&app, 10).await;
        let before = allocated(&app, record).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(&b, Some("ola@example.com"), None, "hostile-gateway").await;
        let page = place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        app.install_plugin("hostile-gateway", &[("mode", "panic")], &[])
            .await;
        let preview = b.get("/checkout/preview/").await;
        let page = place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        assert_eq!(orders(&app).await, 0);
        assert_eq!(allocated(&app, record).await, before);
    }
);

both_backends!(place_order_is_idempotent, |app: TestApp| async move {
    install_defaults(&app).await;
    let (id, _, record) = product(&app, 10).await;
    let before = allocated(&app, record).await;
    let b = app.browser();
    add(&b, id, 1).await;
    let preview = to_preview(&b, Some("kim@example.com"), None, "test-card-gateway").await;
    // A double click: both posts at once.
    let (first, second) = tokio::join!(
        place(&b, &preview, Some(GOOD_CARD)),
        place(&b, &preview, Some(GOOD_CARD))
    );
    for page in [&first, &second] {
        assert_eq!(
            page.location.as_deref(),
            Some("/checkout/thank-you/"),
            "{}",
            page.body
        );
    }
    // A retry after the first one finished.
    let third = place(&b, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        third.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        third.body
    );
    assert_eq!(orders(&app).await, 1);
    assert_eq!(allocated(&app, record).await, before + 1);
    assert_eq!(b.get("/checkout/thank-you/").await.status, 200);
});

both_backends!(
    tampering_is_refused_and_changes_nothing,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let (id, _, record) = product(&app, 10).await;
        let (other_id, _, _) = product(&app, 10).await;
        let before = allocated(&app, record).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(&b, Some("tam@example.com"), None, "test-card-gateway").await;
        let t = preview.csrf_token().unwrap();
        let basket = field(&preview, "basket_id").unwrap();
        let fp = field(&preview, "fingerprint").unwrap();
        let expiry = card_expiry();
        let card = [
            ("card_number", GOOD_CARD),
            ("card_expiry", expiry.as_str()),
            ("card_cvc", "123"),
            ("card_name", "T"),
        ];
        let with = |extra: Vec<(&'static str, String)>| {
            let mut form: Vec<(String, String)> = card
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            for (k, v) in extra {
                form.push((k.to_string(), v));
            }
            form
        };
        let post = |form: Vec<(String, String)>| {
            let b = &b;
            async move {
                let pairs: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                b.post("/checkout/place/", &pairs).await
            }
        };
        // Another basket id: 400.
        let page = post(with(vec![
            ("csrf_token", t.clone()),
            ("basket_id", "999999".into()),
            ("fingerprint", fp.clone()),
        ]))
        .await;
        assert_eq!(page.status, 400);
        // No or wrong CSRF token: 403.
        let page = post(with(vec![
            ("basket_id", basket.clone()),
            ("fingerprint", fp.clone()),
        ]))
        .await;
        assert_eq!(page.status, 403);
        let page = post(with(vec![
            ("csrf_token", "0".repeat(64)),
            ("basket_id", basket.clone()),
            ("fingerprint", fp.clone()),
        ]))
        .await;
        assert_eq!(page.status, 403);
        // A stale preview (the basket changed in another tab): back to review, nothing placed.
        add(&b, other_id, 1).await;
        let page = post(with(vec![
            ("csrf_token", t.clone()),
            ("basket_id", basket.clone()),
            ("fingerprint", fp.clone()),
        ]))
        .await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        let again = b.get("/checkout/preview/").await;
        assert!(
            again.body.contains("changed since you reviewed"),
            "{}",
            again.body
        );
        // A shipping method the plugins don't offer: the form again.
        let m = b
            .post(
                "/checkout/shipping-method/",
                &[("csrf_token", &t), ("method", "builtin:free")],
            )
            .await;
        assert_eq!(m.status, 422);
        let g = b
            .post(
                "/checkout/payment-method/",
                &[("csrf_token", &t), ("gateway", "no-such")],
            )
            .await;
        assert_eq!(g.status, 422);
        // Bad quantities in the basket are refused before checkout ever sees them.
        for q in ["-1", "0", "1000000000000", "abc"] {
            let page = b
                .post(
                    &format!("/basket/add/{id}/"),
                    &[("csrf_token", &t), ("quantity", q)],
                )
                .await;
            assert_eq!(page.status, 400, "quantity {q}");
        }
        assert_eq!(orders(&app).await, 0);
        assert_eq!(allocated(&app, record).await, before);
    }
);

/// Caches that outlive the test, so only the sale's announcement can refresh the pages.
async fn long_cached(backend: Backend) -> TestApp {
    let options = support::Options {
        cache_ttl_secs: 3600,
        ..Default::default()
    };
    TestApp::start_with(backend, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_unit_sold_shows_sold_out_at_once_sqlite() {
    the_last_unit_sold_shows_sold_out_at_once(long_cached(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_unit_sold_shows_sold_out_at_once_postgres() {
    the_last_unit_sold_shows_sold_out_at_once(long_cached(Backend::Postgres).await).await;
}

async fn the_last_unit_sold_shows_sold_out_at_once(app: TestApp) {
    install_defaults(&app).await;
    let last = ProductBuilder::new()
        .stock(1)
        .create(&app.state.db)
        .await
        .unwrap();
    let (id, url) = (last.id, last.url());
    // Seen (and so cached, page and data) by anonymous visitors and by a shopper with a
    // session and a basket before the sale.
    let shopper = app.browser();
    let (other, ..) = product(&app, 1).await;
    add(&shopper, other, 1).await;
    for _ in 0..2 {
        let (status, page) = app.get(&url).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("availability--lowstock") || page.contains("availability--instock"),
            "{page}"
        );
        assert!(
            !shopper
                .get(&url)
                .await
                .body
                .contains("availability--outofstock")
        );
    }
    let buyer = app.browser();
    add(&buyer, id, 1).await;
    let preview = to_preview(&buyer, Some("last@example.com"), None, "test-card-gateway").await;
    let done = place(&buyer, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        done.body
    );
    // The very next views, with no wait for any cache to expire.
    let (_, page) = app.get(&url).await;
    assert!(page.contains("availability--outofstock"), "{page}");
    assert!(
        shopper
            .get(&url)
            .await
            .body
            .contains("availability--outofstock")
    );
    // And it can't be added any more: back to its page with the reason.
    let late = app.browser();
    add(&late, id, 1).await;
    assert!(late.get(&url).await.body.contains("is out of stock"));
}

/// 200 shoppers, 10 units: exactly 10 orders, never oversold.
async fn race_for_the_last_ten(app: TestApp) {
    install_defaults(&app).await;
    let (id, _, record) = product(&app, 10).await;
    let before = allocated(&app, record).await;
    let app = Arc::new(app);
    // Everyone reaches the preview first (in batches, to keep the machine responsive)…
    let mut ready = Vec::new();
    for chunk in 0..10 {
        let mut set = tokio::task::JoinSet::new();
        for n in 0..20 {
            let app = app.clone();
            set.spawn(async move {
                let b = app.browser();
                add(&b, id, 1).await;
                let email = format!("racer{}@example.com", chunk * 20 + n);
                let preview = to_preview(&b, Some(&email), None, "test-card-gateway").await;
                (b, preview)
            });
        }
        while let Some(r) = set.join_next().await {
            ready.push(r.unwrap());
        }
    }
    // …then all 200 press "Place order" at once.
    let mut set = tokio::task::JoinSet::new();
    for (b, preview) in ready {
        set.spawn(async move { place(&b, &preview, Some(GOOD_CARD)).await });
    }
    let (mut won, mut lost) = (0, 0);
    while let Some(page) = set.join_next().await {
        match page.unwrap().location.as_deref() {
            Some("/checkout/thank-you/") => won += 1,
            Some("/checkout/preview/") => lost += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((won, lost), (10, 190));
    assert_eq!(orders(&app).await, 10);
    assert_eq!(allocated(&app, record).await, before + 10);
    let stock: i64 =
        sqlx::query("SELECT num_in_stock - num_allocated FROM stock_record WHERE id = $1")
            .bind(record)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
    assert_eq!(stock, 0);
    // Every loser was approved, then refused for stock: each approval was voided at the
    // gateway (the ledger says `voided` only once the gateway confirmed it), and the winners'
    // are held by their orders.
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM payment_claim WHERE state = 'ordered'")
            .await,
        10
    );
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM payment_claim WHERE state = 'voided'")
            .await,
        190
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_checkouts_for_ten_units_sqlite() {
    race_for_the_last_ten(TestApp::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_checkouts_for_ten_units_postgres() {
    race_for_the_last_ten(TestApp::start(Backend::Postgres).await).await;
}

// The redirect gateway against the sandbox provider on loopback: out to the hosted page,
// pay (or cancel) there, and back.
both_backends!(redirect_gateway_round_trip, |app: TestApp| async move {
    use emporium::payment::sandbox::{Sandbox, serve};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = Sandbox::new("sk_test_checkout", &provider);
    tokio::spawn(serve(sandbox.clone(), listener));
    install_defaults(&app).await;
    let base_url = format!("{provider}/v1");
    app.install_plugin(
        "redirect-gateway",
        &[("base_url", &base_url), ("api_key", "sk_test_checkout")],
        &["127.0.0.1"],
    )
    .await;
    let (id, _, record) = product(&app, 10).await;
    let before = allocated(&app, record).await;
    let b = app.browser();
    add(&b, id, 1).await;
    let preview = to_preview(&b, Some("rae@example.com"), None, "redirect-gateway").await;
    assert!(
        !preview.body.contains("card_number"),
        "no card form for a redirect gateway"
    );

    // Out to the provider; cancel there; back with a message and nothing ordered.
    let out = place(&b, &preview, None).await;
    let hosted = out.location.clone().expect("a redirect to the provider");
    assert!(hosted.starts_with(&provider), "{hosted}");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = plain
        .get(&hosted)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sandbox payment provider"));
    let back = plain
        .post(format!("{hosted}/decline"))
        .send()
        .await
        .unwrap();
    let return_url = back.headers()["location"].to_str().unwrap().to_string();
    assert!(return_url.starts_with(&app.base), "{return_url}");
    let path = return_url.strip_prefix(&app.base).unwrap();
    let returned = b.get(path).await;
    assert_eq!(returned.location.as_deref(), Some("/checkout/preview/"));
    assert!(
        b.get("/checkout/preview/")
            .await
            .body
            .contains("not completed")
    );
    assert_eq!(orders(&app).await, 0);

    // Again, and pay this time: the order is placed with the provider's reference.
    let preview = b.get("/checkout/preview/").await;
    let out = place(&b, &preview, None).await;
    let hosted = out.location.clone().unwrap();
    let back = plain.post(format!("{hosted}/pay")).send().await.unwrap();
    let return_url = back.headers()["location"].to_str().unwrap().to_string();
    let returned = b.get(return_url.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(
        returned.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        returned.body
    );
    let reference = app
        .scalar_text("SELECT reference FROM payment_source")
        .await;
    assert_eq!(sandbox.payment(&reference).unwrap().status, "succeeded");
    assert_eq!(orders(&app).await, 1);
    assert_eq!(allocated(&app, record).await, before + 1);
    // A forged return (no payment in progress) places nothing more.
    let forged = b
        .get(&format!(
            "/checkout/payment/return/redirect-gateway/?payment_id={reference}"
        ))
        .await;
    assert_eq!(forged.location.as_deref(), Some("/checkout/thank-you/"));
    assert_eq!(orders(&app).await, 1);
});

// Every bundled shipping plugin (Rust, Python, JavaScript) quotes at checkout, and an order
// goes through with each; a shipping plugin returning garbage is left out.
// The customer pays at the provider and never comes back: the provider's webhook places the
// order. When the browser does return later, it is shown that order and nothing is voided.
both_backends!(
    redirect_payment_completes_by_webhook,
    |app: TestApp| async move {
        use emporium::payment::sandbox::{Sandbox, serve};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let provider = format!("http://{}", listener.local_addr().unwrap());
        let webhook = format!("{}/payment/redirect-gateway/webhook/", app.base);
        let sandbox = Sandbox::new("sk_test_checkout", &provider).with_webhook(&webhook);
        tokio::spawn(serve(sandbox.clone(), listener));
        install_defaults(&app).await;
        let base_url = format!("{provider}/v1");
        app.install_plugin(
            "redirect-gateway",
            &[("base_url", &base_url), ("api_key", "sk_test_checkout")],
            &["127.0.0.1"],
        )
        .await;
        let (id, _, record) = product(&app, 10).await;
        let before = allocated(&app, record).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(&b, Some("gone@example.com"), None, "redirect-gateway").await;
        let out = place(&b, &preview, None).await;
        let hosted = out.location.clone().expect("a redirect to the provider");
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM pending_payment").await,
            1
        );
        // The periodic sweep only forgets payments older than its cut-off.
        let swept = emporium::checkout::pending::sweep(&app.state.db.pool, "2000-01-01T00:00:00Z")
            .await
            .unwrap();
        assert_eq!(swept, 0);
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // Pay, and do not follow the provider's redirect back to the shop.
        let paid = plain.post(format!("{hosted}/pay")).send().await.unwrap();
        let return_url = paid.headers()["location"].to_str().unwrap().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while orders(&app).await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the webhook placed no order"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(orders(&app).await, 1);
        assert_eq!(allocated(&app, record).await, before + 1);
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM pending_payment").await,
            0
        );
        assert_eq!(
            app.scalar_text("SELECT email FROM shop_order").await,
            "gone@example.com"
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM mail_outbox").await,
            1,
            "the confirmation (with the guest link) is queued"
        );
        let reference = app
            .scalar_text("SELECT reference FROM payment_source")
            .await;

        // The customer comes back after all: the order is shown, the payment stands.
        let returned = b.get(return_url.strip_prefix(&app.base).unwrap()).await;
        assert_eq!(
            returned.location.as_deref(),
            Some("/checkout/thank-you/"),
            "{}",
            returned.body
        );
        let number = app.scalar_text("SELECT number FROM shop_order").await;
        assert!(b.get("/checkout/thank-you/").await.body.contains(&number));
        assert_eq!(sandbox.payment(&reference).unwrap().status, "succeeded");
        assert_eq!(orders(&app).await, 1);

        // Forged or stray notifications place nothing: the gateway asks the provider, which
        // knows no such payment; an unknown gateway is not a route at all.
        let forged = plain
            .post(&webhook)
            .header("content-type", "application/json")
            .body(r#"{"payment_id": "pay_999", "status": "succeeded"}"#)
            .send()
            .await
            .unwrap();
        // A client error: the shop refuses it. A 5xx would ask the provider to send it again,
        // and a crash (500) must fail here too.
        assert!(forged.status().is_client_error(), "{}", forged.status());
        let again = plain
            .post(&webhook)
            .body(format!(r#"{{"payment_id": "{reference}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 200, "a repeat is acknowledged");
        let stranger = plain
            .post(format!("{}/payment/no-such-gateway/webhook/", app.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(stranger.status().as_u16(), 404);
        assert_eq!(orders(&app).await, 1);
    }
);

both_backends!(
    every_shipping_plugin_ships_an_order,
    |app: TestApp| async move {
        app.install_plugin("test-card-gateway", &[], &[]).await;
        app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
            .await;
        app.install_plugin("weight-band-shipping", &[("bands", "100000:6.50")], &[])
            .await;
        app.install_plugin("free-shipping-over", &[("threshold", "0.01")], &[])
            .await;
        app.install_plugin(
            "py-zone-shipping",
            &[("currency", "GBP"), ("zones", "GB=3.95; *=20")],
            &[],
        )
        .await;
        app.install_plugin(
            "js-express-shipping",
            &[
                ("currency", "GBP"),
                ("countries", "GB,IE"),
                ("base", "9.50"),
            ],
            &[],
        )
        .await;
        app.install_plugin("hostile", &[("mode", "negative")], &[])
            .await;
        let (id, _, _) = product(&app, 10).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let t = token(&b).await;
        b.post(
            "/checkout/gateway/",
            &[("csrf_token", &t), ("email", "sam@example.com")],
        )
        .await;
        b.post("/checkout/shipping-address/", &address(&t)).await;
        let page = b.get("/checkout/shipping-method/").await;
        let keys = radios(&page, "method");
        for plugin in [
            "flat-rate-shipping",
            "weight-band-shipping",
            "free-shipping-over",
            "py-zone-shipping",
            "js-express-shipping",
        ] {
            assert!(
                keys.iter().any(|k| k.starts_with(&format!("{plugin}:"))),
                "{plugin} missing from {keys:?}"
            );
        }
        assert!(
            !keys.iter().any(|k| k.starts_with("hostile:")),
            "garbage quote shown: {keys:?}"
        );
        for key in &keys {
            let b = app.browser();
            add(&b, id, 1).await;
            let preview =
                to_preview(&b, Some("sam@example.com"), Some(key), "test-card-gateway").await;
            let done = place(&b, &preview, Some(GOOD_CARD)).await;
            assert_eq!(
                done.location.as_deref(),
                Some("/checkout/thank-you/"),
                "{key}: {}",
                done.body
            );
        }
        let shipped: Vec<String> =
            sqlx::query("SELECT shipping_plugin FROM shop_order ORDER BY id")
                .fetch_all(&app.state.db.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get(0).unwrap())
                .collect();
        assert_eq!(shipped.len(), keys.len());
        for plugin in [
            "py-zone-shipping",
            "js-express-shipping",
            "flat-rate-shipping",
        ] {
            assert!(
                shipped.iter().any(|s| s == plugin),
                "{plugin} not used: {shipped:?}"
            );
        }
    }
);

both_backends!(
    no_shipping_plugins_means_free_delivery,
    |app: TestApp| async move {
        app.install_plugin("test-card-gateway", &[], &[]).await;
        let (id, _, _) = product_at(&app, "12.34").await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(
            &b,
            Some("fay@example.com"),
            Some("builtin:free"),
            "test-card-gateway",
        )
        .await;
        assert!(preview.body.contains("£12.34"), "{}", preview.body);
        assert_eq!(
            place(&b, &preview, Some(GOOD_CARD))
                .await
                .location
                .as_deref(),
            Some("/checkout/thank-you/")
        );
        assert_eq!(
            app.scalar_i64("SELECT shipping_incl_minor FROM shop_order")
                .await,
            0
        );
    }
);

both_backends!(
    status_pipeline_moves_and_cancels,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let (id, _, record) = product(&app, 10).await;
        let before = allocated(&app, record).await;
        let b = app.browser();
        add(&b, id, 3).await;
        let preview = to_preview(&b, Some("pip@example.com"), None, "test-card-gateway").await;
        place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(allocated(&app, record).await, before + 3);
        let order_id = app.scalar_i64("SELECT id FROM shop_order").await;
        let pipeline = &app.state.pipeline;
        let mut tx = app.state.db.begin_write().await.unwrap();
        let wrong = emporium::order::set_status(&mut tx, pipeline, order_id, "Complete", "").await;
        assert!(matches!(
            wrong,
            Err(emporium::order::OrderError::BadTransition { .. })
        ));
        emporium::order::set_status(&mut tx, pipeline, order_id, "Cancelled", "customer asked")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            app.scalar_text("SELECT status FROM shop_order").await,
            "Cancelled"
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM order_status_change")
                .await,
            1
        );
        assert_eq!(
            allocated(&app, record).await,
            before,
            "cancelling releases the stock"
        );
    }
);

/// The confirmation goes out through a real SMTP server, after the order is written and never
/// in the request; with SMTP down the order stands and the message waits to be retried.
async fn confirmation_email(backend: Backend) {
    let mut smtp = support::smtp::SmtpServer::start();
    let app = TestApp::start_with(
        backend,
        support::Options {
            smtp_url: Some(smtp.url()),
            ..Default::default()
        },
    )
    .await;
    install_defaults(&app).await;
    let (id, title, _) = product_at(&app, "10.00").await;
    let b = app.browser();
    add(&b, id, 1).await;
    let preview = to_preview(&b, Some("mia@example.com"), None, "test-card-gateway").await;
    assert_eq!(
        place(&b, &preview, Some(GOOD_CARD))
            .await
            .location
            .as_deref(),
        Some("/checkout/thank-you/")
    );
    let number = app.scalar_text("SELECT number FROM shop_order").await;
    let mail = smtp.wait_for(1, std::time::Duration::from_secs(30)).await;
    assert_eq!(mail.len(), 1);
    let m = &mail[0];
    assert_eq!(m.rcpt_to, "mia@example.com");
    assert!(m.subject.contains(&number), "{}", m.subject);
    let text = m.text.as_deref().unwrap();
    assert!(text.contains(&title), "{text}");
    assert!(text.contains("£14.95"), "{text}");
    // Linked at the configured address (here the default one, not the port the test server
    // happens to listen on), never at the request's `Host`.
    assert!(
        text.contains(&format!(
            "{}/orders/{number}/?token=",
            app.state.config.site_url()
        )),
        "guest link missing: {text}"
    );
    assert!(m.html.as_deref().unwrap().contains(&number));

    // SMTP down: the next order is placed all the same; its mail waits, then goes out once.
    smtp.stop();
    let b = app.browser();
    add(&b, id, 1).await;
    let preview = to_preview(&b, Some("noor@example.com"), None, "test-card-gateway").await;
    assert_eq!(
        place(&b, &preview, Some(GOOD_CARD))
            .await
            .location
            .as_deref(),
        Some("/checkout/thank-you/")
    );
    assert_eq!(orders(&app).await, 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app
        .scalar_i64("SELECT COUNT(*) FROM mail_outbox WHERE status = 'pending' AND attempts > 0")
        .await
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sender never tried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    smtp.restart();
    // Time passes: the retry is due now.
    sqlx::query(
        "UPDATE mail_outbox SET next_attempt_at = '2000-01-01T00:00:00Z' WHERE status = 'pending'",
    )
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    app.state.mailer.wake();
    let mail = smtp.wait_for(2, std::time::Duration::from_secs(30)).await;
    assert_eq!(mail.len(), 2);
    assert!(
        mail.iter().any(|m| m.rcpt_to == "noor@example.com"),
        "retried mail not delivered"
    );
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_email_sqlite() {
    confirmation_email(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_email_postgres() {
    confirmation_email(Backend::Postgres).await;
}

/// A redirect checkout paid at the sandbox provider, the browser not yet back: the browser
/// (with its session), the return path the provider sent it to, and the payment's reference.
async fn paid_at_provider(
    app: &TestApp,
    plain: &reqwest::Client,
    product_id: i64,
    email: &str,
) -> (Browser, String, String) {
    let b = app.browser();
    add(&b, product_id, 1).await;
    let preview = to_preview(&b, Some(email), None, "redirect-gateway").await;
    let out = place(&b, &preview, None).await;
    let hosted = out.location.clone().expect("a redirect to the provider");
    let paid = plain.post(format!("{hosted}/pay")).send().await.unwrap();
    let return_url = paid.headers()["location"].to_str().unwrap().to_string();
    let path = return_url.strip_prefix(&app.base).unwrap().to_string();
    let reference = path
        .split("payment_id=")
        .nth(1)
        .expect("the provider names its payment in the return URL")
        .split('&')
        .next()
        .unwrap()
        .to_string();
    (b, path, reference)
}

/// The redirect gateway against a sandbox provider that sends no webhooks of its own: the
/// tests send them, at the moment they choose.
async fn redirect_gateway_without_webhooks(app: &TestApp) -> emporium::payment::sandbox::Sandbox {
    use emporium::payment::sandbox::{Sandbox, serve};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = Sandbox::new("sk_test_checkout", &provider);
    tokio::spawn(serve(sandbox.clone(), listener));
    install_defaults(app).await;
    let base_url = format!("{provider}/v1");
    app.install_plugin(
        "redirect-gateway",
        &[("base_url", &base_url), ("api_key", "sk_test_checkout")],
        &["127.0.0.1"],
    )
    .await;
    sandbox
}

/// After a race: one order per checkout, and every order's payment still standing at the
/// provider (never voided) and held by the order on the payment ledger.
async fn every_order_keeps_its_payment(
    app: &TestApp,
    sandbox: &emporium::payment::sandbox::Sandbox,
    references: &[String],
) {
    assert_eq!(orders(app).await, references.len() as i64);
    for reference in references {
        let at_provider = sandbox.payment(reference).expect("the provider knows it");
        assert_eq!(
            at_provider.status, "succeeded",
            "payment {reference} of a placed order was voided at the provider"
        );
        let holder: i64 = sqlx::query("SELECT COUNT(*) FROM payment_source WHERE reference = $1")
            .bind(reference)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(holder, 1, "payment {reference} pays for exactly one order");
        let claim =
            emporium::payment::claim::find(&app.state.db.pool, "redirect-gateway", reference)
                .await
                .unwrap()
                .expect("the approval is on the ledger");
        assert_eq!(claim.state, "ordered", "{reference}");
    }
}

const RACES: usize = 12;

/// `RACES` redirect checkouts, each of another product, paid at the provider and not yet back.
async fn paid_checkouts(
    app: &TestApp,
    plain: &reqwest::Client,
    who: &str,
) -> Vec<(Browser, String, String)> {
    let mut checkouts = Vec::new();
    for i in 0..RACES {
        let (id, ..) = product(app, 10).await;
        checkouts.push(paid_at_provider(app, plain, id, &format!("{who}{i}@example.com")).await);
    }
    checkouts
}

// The provider's webhook places the order while the customer's browser return is between its
// "is there an order?" check and its decision: the return must not void the order's payment.
both_backends!(
    webhook_and_browser_return_race_for_one_payment,
    |app: TestApp| async move {
        let sandbox = redirect_gateway_without_webhooks(&app).await;
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let webhook = format!("{}/payment/redirect-gateway/webhook/", app.base);
        let checkouts = paid_checkouts(&app, &plain, "w").await;
        let races = checkouts.iter().map(|(b, path, reference)| {
            let (plain, webhook) = (plain.clone(), webhook.clone());
            async move {
                let (returned, notified) = tokio::join!(
                    b.get(path),
                    plain
                        .post(&webhook)
                        .header("content-type", "application/json")
                        .body(format!(
                            r#"{{"payment_id": "{reference}", "status": "succeeded"}}"#
                        ))
                        .send()
                );
                assert_eq!(notified.unwrap().status().as_u16(), 200);
                assert_eq!(
                    returned.location.as_deref(),
                    Some("/checkout/thank-you/"),
                    "the customer sees the order: {}",
                    returned.body
                );
            }
        });
        futures::future::join_all(races).await;
        let references: Vec<String> = checkouts.iter().map(|(_, _, r)| r.clone()).collect();
        every_order_keeps_its_payment(&app, &sandbox, &references).await;
    }
);

// The same shopper sends the return URL twice (a reload while the first is still working):
// one order, and its payment is not voided by the second request.
both_backends!(
    browser_return_twice_keeps_the_payment,
    |app: TestApp| async move {
        let sandbox = redirect_gateway_without_webhooks(&app).await;
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let checkouts = paid_checkouts(&app, &plain, "r").await;
        let races = checkouts.iter().map(|(b, path, _)| async move {
            let (first, second) = tokio::join!(b.get(path), async {
                // About one round trip behind the first.
                tokio::task::yield_now().await;
                b.get(path).await
            });
            assert!(
                [&first, &second]
                    .iter()
                    .any(|p| p.location.as_deref() == Some("/checkout/thank-you/")),
                "{} / {}",
                first.body,
                second.body
            );
            assert!(
                b.get("/checkout/thank-you/").await.status == 200,
                "the shopper can see their order"
            );
        });
        futures::future::join_all(races).await;
        let references: Vec<String> = checkouts.iter().map(|(_, _, r)| r.clone()).collect();
        every_order_keeps_its_payment(&app, &sandbox, &references).await;
    }
);

// A basket changed after the customer left to pay: the approval is voided at the provider
// (nothing holds it), and recorded as voided on the ledger.
both_backends!(
    approval_for_a_changed_basket_is_voided_at_the_provider,
    |app: TestApp| async move {
        let sandbox = redirect_gateway_without_webhooks(&app).await;
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (id, ..) = product(&app, 10).await;
        let (b, path, reference) = paid_at_provider(&app, &plain, id, "c@example.com").await;
        add(&b, id, 1).await;
        let returned = b.get(&path).await;
        assert_eq!(returned.location.as_deref(), Some("/checkout/preview/"));
        assert_eq!(orders(&app).await, 0);
        assert_eq!(sandbox.payment(&reference).unwrap().status, "voided");
        let claim =
            emporium::payment::claim::find(&app.state.db.pool, "redirect-gateway", &reference)
                .await
                .unwrap()
                .unwrap();
        assert_eq!(claim.state, "voided", "{claim:?}");
    }
);

// A gateway that approves another currency than asked (10.00 JPY for a 10.00 GBP order): no
// order, and the approval is voided.
both_backends!(
    approval_in_another_currency_is_refused_and_voided,
    |app: TestApp| async move {
        install_defaults(&app).await;
        app.install_plugin("hostile-gateway", &[("mode", "wrong_currency")], &[])
            .await;
        let (id, _, record) = product(&app, 10).await;
        let before = allocated(&app, record).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(&b, Some("yen@example.com"), None, "hostile-gateway").await;
        let page = place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        assert_eq!(orders(&app).await, 0);
        assert_eq!(allocated(&app, record).await, before);
        assert_eq!(
            app.scalar_text("SELECT state FROM payment_claim").await,
            "voided"
        );
    }
);

// An overpaying approval is voided; when the void itself fails it is recorded, listed for the
// merchant, and retried until the provider accepts it.
both_backends!(
    a_failed_void_is_recorded_and_retried,
    |app: TestApp| async move {
        install_defaults(&app).await;
        app.install_plugin(
            "hostile-gateway",
            &[("mode", "overpay"), ("void_fails", "true")],
            &[],
        )
        .await;
        let (id, ..) = product(&app, 10).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(&b, Some("v@example.com"), None, "hostile-gateway").await;
        let page = place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(page.location.as_deref(), Some("/checkout/preview/"));
        assert_eq!(orders(&app).await, 0);
        let pool = &app.state.db.pool;
        let open = emporium::payment::claim::unsettled_voids(pool)
            .await
            .unwrap();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].state, "voiding");
        assert_eq!(open[0].attempts, 1);
        assert!(open[0].last_error.contains("refuses to void"), "{open:?}");

        // Not due yet: the retry waits for its back-off.
        let grace = std::time::Duration::from_secs(600);
        let tried =
            emporium::payment::claim::retry_due(&app.state.db, app.state.plugins.registry(), grace)
                .await
                .unwrap();
        assert_eq!(tried, 0);
        // Its time comes, the provider still refuses: counted again.
        sqlx::query("UPDATE payment_claim SET next_attempt_at = '2000-01-01T00:00:00Z'")
            .execute(pool)
            .await
            .unwrap();
        let tried =
            emporium::payment::claim::retry_due(&app.state.db, app.state.plugins.registry(), grace)
                .await
                .unwrap();
        assert_eq!(tried, 1);
        let open = emporium::payment::claim::unsettled_voids(pool)
            .await
            .unwrap();
        assert_eq!(open[0].attempts, 2);

        // The provider accepts voids again: the next retry settles it.
        app.install_plugin(
            "hostile-gateway",
            &[("mode", "overpay"), ("void_fails", "false")],
            &[],
        )
        .await;
        sqlx::query("UPDATE payment_claim SET next_attempt_at = '2000-01-01T00:00:00Z'")
            .execute(pool)
            .await
            .unwrap();
        emporium::payment::claim::retry_due(&app.state.db, app.state.plugins.registry(), grace)
            .await
            .unwrap();
        assert!(
            emporium::payment::claim::unsettled_voids(pool)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            app.scalar_text("SELECT state FROM payment_claim").await,
            "voided"
        );
    }
);

// The guest's order link is in the confirmation email and nowhere else: once the message is
// delivered, the outbox keeps who, what and when, not the body with the link's secret.
both_backends!(
    delivered_mail_keeps_no_guest_secret,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let (id, ..) = product(&app, 10).await;
        let b = app.browser();
        add(&b, id, 1).await;
        let preview = to_preview(&b, Some("sec@example.com"), None, "test-card-gateway").await;
        assert_eq!(
            place(&b, &preview, Some(GOOD_CARD))
                .await
                .location
                .as_deref(),
            Some("/checkout/thank-you/")
        );
        app.state.mailer.wake();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while app
            .scalar_i64("SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'")
            .await
            == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the mail was never sent"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let kept = app
            .scalar_text("SELECT subject || '|' || body_text || '|' || COALESCE(body_html, '') FROM mail_outbox")
            .await;
        assert!(!kept.contains("token="), "{kept}");
        let number = app.scalar_text("SELECT number FROM shop_order").await;
        assert!(
            kept.contains(&number),
            "the subject stays for the history: {kept}"
        );
        // The message itself did carry the link (written as an .eml file by the default
        // transport).
        let sent: String = std::fs::read_dir(app.state.config.data_dir.join("mail"))
            .unwrap()
            .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
            .collect();
        assert!(sent.contains("?token="), "{sent}");
    }
);

// The shop stopped between a provider's approval and the order's commit (the ledger has the
// approval, nothing took it): the recovery pass that runs at start-up leaves young approvals
// alone, voids old ones at the provider, and a customer who comes back afterwards gets no
// order for a payment that was given back.
both_backends!(
    recovery_voids_an_approval_a_crash_left_without_an_order,
    |app: TestApp| async move {
        let sandbox = redirect_gateway_without_webhooks(&app).await;
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (id, ..) = product(&app, 10).await;
        let (b, path, reference) = paid_at_provider(&app, &plain, id, "crash@example.com").await;
        let amount = emporium::money::Money::from_minor(
            app.scalar_i64("SELECT amount_minor FROM pending_payment")
                .await,
            emporium::money::Currency::from_code("GBP").unwrap(),
        );
        // What a process that died right after seeing the approval leaves behind.
        emporium::payment::claim::record_authorized(
            &app.state.db.pool,
            "redirect-gateway",
            &reference,
            amount,
        )
        .await
        .unwrap();
        let (db, plugins) = (&app.state.db, app.state.plugins.registry());
        let young = std::time::Duration::from_secs(600);
        assert_eq!(
            emporium::payment::claim::retry_due(db, plugins, young)
                .await
                .unwrap(),
            0,
            "an approval a checkout may still be placing is left alone"
        );
        assert_eq!(sandbox.payment(&reference).unwrap().status, "succeeded");
        let tried = emporium::payment::claim::retry_due(db, plugins, std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(tried, 1);
        assert_eq!(sandbox.payment(&reference).unwrap().status, "voided");
        assert_eq!(
            app.scalar_text("SELECT state FROM payment_claim").await,
            "voided"
        );
        // The customer comes back: nothing is ordered for money that went back.
        let returned = b.get(&path).await;
        assert_eq!(returned.location.as_deref(), Some("/checkout/preview/"));
        assert_eq!(orders(&app).await, 0);
    }
);
