//! The address book at `/accounts/addresses/` and the billing address at checkout, over HTTP
//! against the real app on SQLite and PostgreSQL: adding, editing, deleting and the two
//! defaults; forms with problems shown again with what was typed; one customer never seeing
//! or changing another's addresses, by URL or by form; and a checkout billed to an address
//! other than the delivery one ending with that address on the order, also when the order is
//! placed by a payment provider's webhook.

mod support;

use emporium::address::SavedAddress;
use emporium::fixtures::ProductBuilder;
use support::customers;
use support::shopper::{self, GOOD_CARD, field, radios, token};
use support::{Backend, Browser, Options, Page, TestApp};

const BOOK: &str = "/accounts/addresses/";
const NEW: &str = "/accounts/addresses/new/";

async fn start(backend: Backend) -> TestApp {
    let options = Options {
        products: 0,
        ..Default::default()
    };
    TestApp::start_with(backend, options).await
}

/// Runs a test body once per backend, on a shop without the demo catalogue.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(start(Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(start(Backend::Postgres).await).await;
            }
        }
    };
}

async fn customer_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM customer WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// The customer's book as the domain reads it (defaults first, then newest).
async fn book(app: &TestApp, email: &str) -> Vec<SavedAddress> {
    let id = customer_id(app, email).await;
    emporium::address::list(&app.state.db.pool, id)
        .await
        .unwrap()
}

const HOME: &[(&str, &str)] = &[
    ("name", "Ada Lovelace"),
    ("line1", "12 St James's Square"),
    ("city", "London"),
    ("postcode", "sw1y4jh"),
    ("country", "GB"),
];

const NEW_YORK: &[(&str, &str)] = &[
    ("name", "Grace Hopper"),
    ("line1", "1 Liberty Plaza"),
    ("city", "New York"),
    ("state", "new york"),
    ("postcode", "10006"),
    ("country", "US"),
    ("phone", "+1 212 555 0100"),
];

const OFFICE: &[(&str, &str)] = &[
    ("name", "Ada Lovelace"),
    ("line1", "Keizersgracht 100"),
    ("city", "Amsterdam"),
    ("postcode", "1015 aa"),
    ("country", "NL"),
];

/// Posts `fields` (and the token) to `path`.
async fn post(b: &Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let t = token(b).await;
    let mut form = vec![("csrf_token", t.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form).await
}

/// Adds an address through the form; returns the new entry's id.
async fn add(app: &TestApp, b: &Browser, email: &str, fields: &[(&str, &str)]) -> i64 {
    let page = post(b, NEW, fields).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some(BOOK));
    let newest = book(app, email).await.into_iter().map(|s| s.id).max();
    newest.expect("the address was saved")
}

fn by_id(book: &[SavedAddress], id: i64) -> &SavedAddress {
    book.iter().find(|s| s.id == id).expect("the address")
}

both!(add_edit_delete_and_defaults, |app: TestApp| async move {
    // Signed out: sent to sign in, back to where they were going.
    let visitor = app.browser();
    for path in [BOOK, NEW] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 303);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("/accounts/login/?next={path}").as_str())
        );
    }
    let b = customers::registered(&app, "ada@example.com").await;
    let empty = b.get(BOOK).await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("no saved addresses"), "{}", empty.body);
    // The account links lead here.
    assert!(empty.body.contains("href=\"/accounts/addresses/\""));
    assert_eq!(b.get(NEW).await.status, 200);

    // The first address is both defaults, tidied as the post office writes it.
    let home = add(&app, &b, "ada@example.com", HOME).await;
    let list = b.get(BOOK).await;
    assert!(list.body.contains("SW1Y 4JH"), "{}", list.body);
    assert!(list.body.contains("Default delivery address"));
    assert!(list.body.contains("Default billing address"));
    let saved = book(&app, "ada@example.com").await;
    assert!(by_id(&saved, home).is_default_shipping && by_id(&saved, home).is_default_billing);

    // A second one takes neither default unless asked; a US state is kept as its code.
    let ny = add(&app, &b, "ada@example.com", NEW_YORK).await;
    let saved = book(&app, "ada@example.com").await;
    let entry = by_id(&saved, ny);
    assert_eq!(entry.address.state, "NY");
    assert!(!entry.is_default_shipping && !entry.is_default_billing);

    // A form with problems: 422, a message per field, what was typed kept, nothing saved.
    let bad = post(
        &b,
        NEW,
        &[
            ("name", "Grace Hopper"),
            ("line1", "1 Main Street"),
            ("city", "Arlington"),
            ("postcode", "2220"),
            ("country", "US"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("Enter the state"), "{}", bad.body);
    assert!(bad.body.contains("Enter a ZIP code"), "{}", bad.body);
    assert!(bad.body.contains("value=\"Grace Hopper\""));
    assert!(bad.body.contains("value=\"1 Main Street\""));
    assert!(bad.body.contains("value=\"2220\""));
    let missing = post(&b, NEW, &[("country", "CA"), ("postcode", "K1A 0B1")]).await;
    assert_eq!(missing.status, 422);
    assert!(missing.body.contains("Enter the recipient&#x27;s name"));
    assert!(missing.body.contains("Enter the province or territory"));
    // The same address again (however it is typed) is refused, not saved twice.
    let again = post(
        &b,
        NEW,
        &[
            ("name", "ADA LOVELACE"),
            ("line1", "12 St James's  Square"),
            ("city", "london"),
            ("postcode", "SW1Y 4JH"),
            ("country", "GB"),
        ],
    )
    .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again.body.contains("in your address book already"));
    assert_eq!(book(&app, "ada@example.com").await.len(), 2);

    // Edit: the form shows the address; a good change is saved, a bad one shown again.
    let edit = format!("{BOOK}{ny}/edit/");
    let page = b.get(&edit).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("value=\"1 Liberty Plaza\""));
    let mut changed = NEW_YORK.to_vec();
    changed[1] = ("line1", "200 Park Avenue");
    let page = post(&b, &edit, &changed).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let saved = book(&app, "ada@example.com").await;
    assert_eq!(by_id(&saved, ny).address.line1, "200 Park Avenue");
    let mut broken = changed.clone();
    broken[2] = ("city", "");
    broken[1] = ("line1", "201 Park Avenue");
    let page = post(&b, &edit, &broken).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Enter the town or city"));
    assert!(page.body.contains("value=\"201 Park Avenue\""));
    // Edited into a copy of another entry: refused.
    let page = post(&b, &edit, HOME).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("in your address book already"));
    let saved = book(&app, "ada@example.com").await;
    assert_eq!(by_id(&saved, ny).address.line1, "200 Park Avenue");

    // Defaults move one at a time, each kind on its own.
    let default = format!("{BOOK}{ny}/default/");
    let page = post(&b, &default, &[("which", "shipping")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let saved = book(&app, "ada@example.com").await;
    assert_eq!(
        saved[0].id, ny,
        "the default delivery address is listed first"
    );
    assert!(by_id(&saved, ny).is_default_shipping && !by_id(&saved, ny).is_default_billing);
    assert!(!by_id(&saved, home).is_default_shipping && by_id(&saved, home).is_default_billing);
    assert_eq!(
        post(&b, &default, &[("which", "everything")]).await.status,
        400
    );
    assert_eq!(post(&b, &default, &[]).await.status, 400);
    let page = post(&b, &default, &[("which", "billing")]).await;
    assert_eq!(page.status, 303);
    let saved = book(&app, "ada@example.com").await;
    assert!(by_id(&saved, ny).is_default_billing && !by_id(&saved, home).is_default_billing);

    // Delete: gone from the book and the list; no other address becomes a default.
    let page = post(&b, &format!("{BOOK}{ny}/delete/"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let saved = book(&app, "ada@example.com").await;
    assert_eq!(saved.len(), 1);
    assert!(!saved[0].is_default_shipping && !saved[0].is_default_billing);
    let list = b.get(BOOK).await;
    assert!(!list.body.contains("Park Avenue"));
    // Deleting it again finds nothing.
    assert_eq!(
        post(&b, &format!("{BOOK}{ny}/delete/"), &[]).await.status,
        404
    );
    // Ids that aren't numbers name no address.
    assert_eq!(b.get(&format!("{BOOK}abc/edit/")).await.status, 404);
    assert_eq!(
        b.get(&format!("{BOOK}99999999999999999999/edit/"))
            .await
            .status,
        404
    );
});

/// Every column of one address row, for "nothing changed".
async fn row(app: &TestApp, id: i64) -> String {
    use sqlx::Row;
    let r = sqlx::query(
        "SELECT customer_id, name, line1, line2, city, state, postcode, country, phone, \
         fingerprint FROM customer_address WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    let mut out = format!("{}", r.try_get::<i64, _>(0).unwrap());
    for i in 1..10 {
        out.push('|');
        out.push_str(&r.try_get::<String, _>(i).unwrap());
    }
    out
}

both!(
    nobody_sees_or_changes_anothers_addresses,
    |app: TestApp| async move {
        let alice = customers::registered(&app, "alice@example.com").await;
        let theirs = add(&app, &alice, "alice@example.com", HOME).await;
        let before_row = row(&app, theirs).await;
        let before = book(&app, "alice@example.com").await;
        let eve = customers::registered(&app, "eve@example.com").await;
        let mine = add(&app, &eve, "eve@example.com", NEW_YORK).await;

        // By URL.
        let list = eve.get(BOOK).await;
        assert!(!list.body.contains("St James"), "{}", list.body);
        assert!(!list.body.contains(&format!("{BOOK}{theirs}/")));
        assert_eq!(eve.get(&format!("{BOOK}{theirs}/edit/")).await.status, 404);
        // By form: a good form, a bad one (no 422 that would tell the id exists), delete,
        // both defaults.
        let edit = format!("{BOOK}{theirs}/edit/");
        assert_eq!(post(&eve, &edit, OFFICE).await.status, 404);
        assert_eq!(post(&eve, &edit, &[("name", "x")]).await.status, 404);
        assert_eq!(post(&eve, &edit, NEW_YORK).await.status, 404);
        assert_eq!(
            post(&eve, &format!("{BOOK}{theirs}/delete/"), &[])
                .await
                .status,
            404
        );
        for which in ["shipping", "billing"] {
            let page = post(
                &eve,
                &format!("{BOOK}{theirs}/default/"),
                &[("which", which)],
            )
            .await;
            assert_eq!(page.status, 404, "default {which}");
        }
        // Nor at checkout, for delivery or billing.
        let product = ProductBuilder::new().create(&app.state.db).await.unwrap();
        shopper::add(&eve, product.id, 1).await;
        let t = token(&eve).await;
        let id = theirs.to_string();
        let ship = eve
            .post(
                "/checkout/shipping-address/",
                &[("csrf_token", &t), ("address_id", &id)],
            )
            .await;
        assert_eq!(ship.status, 404);
        let own = mine.to_string();
        let bill = eve
            .post(
                "/checkout/shipping-address/",
                &[("csrf_token", &t), ("address_id", &own), ("billing", &id)],
            )
            .await;
        assert_eq!(bill.status, 404);
        let page = eve.get("/checkout/shipping-address/").await;
        assert!(!page.body.contains("St James"));

        // Nothing of Alice's changed, and Eve's book is only hers.
        assert_eq!(row(&app, theirs).await, before_row);
        let after = book(&app, "alice@example.com").await;
        assert_eq!(after.len(), before.len());
        assert_eq!(
            (after[0].is_default_shipping, after[0].is_default_billing),
            (before[0].is_default_shipping, before[0].is_default_billing)
        );
        let eves = book(&app, "eve@example.com").await;
        assert_eq!(eves.iter().map(|s| s.id).collect::<Vec<_>>(), [mine]);
        assert!(eves[0].is_default_shipping && eves[0].is_default_billing);
        // Alice still has hers.
        assert_eq!(
            alice.get(&format!("{BOOK}{theirs}/edit/")).await.status,
            200
        );
    }
);

async fn install_defaults(app: &TestApp) {
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
}

/// From the delivery-method step to the preview: the first method, the test card gateway.
async fn method_to_preview(b: &Browser) -> Page {
    let t = token(b).await;
    let methods = b.get("/checkout/shipping-method/").await;
    let key = radios(&methods, "method")
        .first()
        .expect("a shipping method")
        .clone();
    let page = b
        .post(
            "/checkout/shipping-method/",
            &[("csrf_token", &t), ("method", &key)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = b
        .post(
            "/checkout/payment-method/",
            &[("csrf_token", &t), ("gateway", "test-card-gateway")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let preview = b.get("/checkout/preview/").await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    preview
}

/// The newest order's delivery and billing addresses, as stored.
async fn order_addresses(app: &TestApp) -> (serde_json::Value, serde_json::Value, String) {
    let (shipping, billing, number): (String, String, String) = sqlx::query_as(
        "SELECT shipping_address, billing_address, number FROM shop_order ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    (
        serde_json::from_str(&shipping).unwrap(),
        serde_json::from_str(&billing).unwrap(),
        number,
    )
}

/// `fields` with every name prefixed `billing_`.
fn billing(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (format!("billing_{k}"), v.to_string()))
        .collect()
}

both!(
    checkout_bills_a_distinct_address,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let product = ProductBuilder::new().create(&app.state.db).await.unwrap();
        let b = customers::registered(&app, "ada@example.com").await;
        let home = add(&app, &b, "ada@example.com", HOME).await;
        let office = add(&app, &b, "ada@example.com", OFFICE).await;

        // The book is offered, the default delivery address picked, billed there by default.
        shopper::add(&b, product.id, 1).await;
        let page = b.get("/checkout/shipping-address/").await;
        assert_eq!(page.status, 200);
        assert!(
            page.body
                .contains(&format!("name=\"address_id\" value=\"{home}\" checked")),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("name=\"billing\" value=\"same\" checked"),
            "{}",
            page.body
        );
        assert_eq!(
            field(&page, "address_id").as_deref(),
            Some(home.to_string().as_str())
        );

        // A new billing address with problems: shown again with its own errors, the delivery
        // choice and everything typed kept.
        let t = token(&b).await;
        let home_id = home.to_string();
        let bad_billing = billing(&[
            ("name", "Ada Lovelace"),
            ("line1", "Rue de Rivoli 1"),
            ("city", "Paris"),
            ("postcode", "7500"),
            ("country", "FR"),
        ]);
        let mut form: Vec<(&str, &str)> = vec![
            ("csrf_token", &t),
            ("address_id", &home_id),
            ("billing", "new"),
        ];
        form.extend(bad_billing.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let page = b.post("/checkout/shipping-address/", &form).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains("id=\"id-billing_postcode-error\""),
            "{}",
            page.body
        );
        assert!(page.body.contains("Enter a five-digit postcode"));
        assert!(
            page.body
                .contains("name=\"billing_line1\" value=\"Rue de Rivoli 1\"")
        );
        assert!(
            page.body
                .contains(&format!("name=\"address_id\" value=\"{home}\" checked"))
        );
        assert!(page.body.contains("name=\"billing\" value=\"new\" checked"));

        // Fixed: the order is delivered home and billed to Paris.
        let good_billing = billing(&[
            ("name", "Ada Lovelace"),
            ("line1", "Rue de Rivoli 1"),
            ("city", "Paris"),
            ("postcode", "75001"),
            ("country", "FR"),
        ]);
        let mut form: Vec<(&str, &str)> = vec![
            ("csrf_token", &t),
            ("address_id", &home_id),
            ("billing", "new"),
        ];
        form.extend(good_billing.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let page = b.post("/checkout/shipping-address/", &form).await;
        assert_eq!(
            page.location.as_deref(),
            Some("/checkout/shipping-method/"),
            "{}",
            page.body
        );
        let preview = method_to_preview(&b).await;
        assert!(preview.body.contains("Billed to"), "{}", preview.body);
        assert!(preview.body.contains("Rue de Rivoli 1"));
        let done = shopper::place(&b, &preview, Some(GOOD_CARD)).await;
        assert_eq!(
            done.location.as_deref(),
            Some("/checkout/thank-you/"),
            "{}",
            done.body
        );
        let (shipping, billed, number) = order_addresses(&app).await;
        assert_eq!(shipping["line1"], "12 St James's Square");
        assert_eq!(billed["line1"], "Rue de Rivoli 1");
        assert_eq!(billed["city"], "Paris");
        assert_eq!(billed["country"], "FR");
        let order_page = b.get(&format!("/accounts/orders/{number}/")).await;
        assert!(order_page.body.contains("id=\"order-billing-address\""));
        assert!(order_page.body.contains("Rue de Rivoli 1"));
        // The new billing address joined the book; the defaults the customer had stay theirs.
        let saved = book(&app, "ada@example.com").await;
        assert_eq!(saved.len(), 3);
        assert!(saved.iter().any(|s| s.address.city == "Paris"));
        assert!(by_id(&saved, home).is_default_shipping && by_id(&saved, home).is_default_billing);

        // Second order: billed to a saved address. And the default billing address, once it is
        // another one, is the one picked.
        let page = post(
            &b,
            &format!("{BOOK}{office}/default/"),
            &[("which", "billing")],
        )
        .await;
        assert_eq!(page.status, 303);
        shopper::add(&b, product.id, 1).await;
        let page = b.get("/checkout/shipping-address/").await;
        assert!(
            page.body
                .contains(&format!("name=\"billing\" value=\"{office}\" checked")),
            "{}",
            page.body
        );
        let t = token(&b).await;
        let office_id = office.to_string();
        let page = b
            .post(
                "/checkout/shipping-address/",
                &[
                    ("csrf_token", &t),
                    ("address_id", &home_id),
                    ("billing", &office_id),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let preview = method_to_preview(&b).await;
        assert_eq!(
            shopper::place(&b, &preview, Some(GOOD_CARD)).await.status,
            303
        );
        let (shipping, billed, _) = order_addresses(&app).await;
        assert_eq!(shipping["line1"], "12 St James's Square");
        assert_eq!(billed["city"], "Amsterdam");
        assert_eq!(billed["postcode"], "1015 AA");

        // Third: "same as delivery" bills the delivery address.
        shopper::add(&b, product.id, 1).await;
        let t = token(&b).await;
        let page = b
            .post(
                "/checkout/shipping-address/",
                &[
                    ("csrf_token", &t),
                    ("address_id", &office_id),
                    ("billing", "same"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let preview = method_to_preview(&b).await;
        assert!(!preview.body.contains("Billed to"));
        assert_eq!(
            shopper::place(&b, &preview, Some(GOOD_CARD)).await.status,
            303
        );
        let (shipping, billed, _) = order_addresses(&app).await;
        assert_eq!(shipping, billed);
        assert_eq!(billed["city"], "Amsterdam");
    }
);

both!(a_guest_is_billed_elsewhere_too, |app: TestApp| async move {
    install_defaults(&app).await;
    let product = ProductBuilder::new().create(&app.state.db).await.unwrap();
    let b = app.browser();
    shopper::add(&b, product.id, 1).await;
    let t = token(&b).await;
    let page = b
        .post(
            "/checkout/gateway/",
            &[("csrf_token", &t), ("email", "guest@example.com")],
        )
        .await;
    assert_eq!(page.status, 303);
    // Both addresses typed, both wrong: every problem at once, under its own address.
    let page = b
        .post(
            "/checkout/shipping-address/",
            &[
                ("csrf_token", &t),
                ("name", "Guest"),
                ("line1", "1 High Street"),
                ("city", "London"),
                ("postcode", "nope"),
                ("country", "GB"),
                ("billing", "new"),
                ("billing_name", "Guest"),
                ("billing_country", "US"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"id-postcode-error\""));
    assert!(page.body.contains("id=\"id-billing_line1-error\""));
    assert!(page.body.contains("id=\"id-billing_state-error\""));
    assert!(page.body.contains("name=\"line1\" value=\"1 High Street\""));
    // A guest has no book: a saved id is nobody's.
    let page = b
        .post(
            "/checkout/shipping-address/",
            &[
                ("csrf_token", &t),
                ("name", "Guest"),
                ("line1", "1 High Street"),
                ("city", "London"),
                ("postcode", "SW1A 1AA"),
                ("country", "GB"),
                ("billing", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, 404);
    let mut form: Vec<(&str, &str)> = vec![
        ("csrf_token", &t),
        ("name", "Guest"),
        ("line1", "1 High Street"),
        ("city", "London"),
        ("postcode", "SW1A 1AA"),
        ("country", "GB"),
        ("billing", "new"),
    ];
    let typed = billing(NEW_YORK);
    form.extend(typed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let page = b.post("/checkout/shipping-address/", &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let preview = method_to_preview(&b).await;
    assert_eq!(
        shopper::place(&b, &preview, Some(GOOD_CARD)).await.status,
        303
    );
    let (shipping, billed, _) = order_addresses(&app).await;
    assert_eq!(shipping["city"], "London");
    assert_eq!(billed["city"], "New York");
    assert_eq!(billed["state"], "NY");
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM customer_address")
            .await,
        0,
        "a guest's addresses are kept on the order only"
    );
});

// A redirect payment whose order the provider's webhook places (the customer never comes
// back): the billing address chosen before leaving is the one on the order.
both!(
    a_webhook_order_keeps_the_billing_address,
    |app: TestApp| async move {
        use emporium::payment::sandbox::{Sandbox, serve};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let provider = format!("http://{}", listener.local_addr().unwrap());
        let webhook = format!("{}/payment/redirect-gateway/webhook/", app.base);
        let sandbox = Sandbox::new("sk_test_billing", &provider).with_webhook(&webhook);
        tokio::spawn(serve(sandbox, listener));
        install_defaults(&app).await;
        let base_url = format!("{provider}/v1");
        app.install_plugin(
            "redirect-gateway",
            &[("base_url", &base_url), ("api_key", "sk_test_billing")],
            &["127.0.0.1"],
        )
        .await;
        let product = ProductBuilder::new().create(&app.state.db).await.unwrap();
        let b = customers::registered(&app, "away@example.com").await;
        let home = add(&app, &b, "away@example.com", HOME).await;
        let office = add(&app, &b, "away@example.com", OFFICE).await;
        shopper::add(&b, product.id, 1).await;
        let t = token(&b).await;
        let (home, office) = (home.to_string(), office.to_string());
        let page = b
            .post(
                "/checkout/shipping-address/",
                &[
                    ("csrf_token", &t),
                    ("address_id", &home),
                    ("billing", &office),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let methods = b.get("/checkout/shipping-method/").await;
        let key = radios(&methods, "method")[0].clone();
        b.post(
            "/checkout/shipping-method/",
            &[("csrf_token", &t), ("method", &key)],
        )
        .await;
        b.post(
            "/checkout/payment-method/",
            &[("csrf_token", &t), ("gateway", "redirect-gateway")],
        )
        .await;
        let preview = b.get("/checkout/preview/").await;
        let out = shopper::place(&b, &preview, None).await;
        let hosted = out.location.clone().expect("a redirect to the provider");
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // Pay, and never follow the provider's redirect back to the shop.
        plain.post(format!("{hosted}/pay")).send().await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while app.scalar_i64("SELECT COUNT(*) FROM shop_order").await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the webhook placed no order"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (shipping, billed, _) = order_addresses(&app).await;
        assert_eq!(shipping["city"], "London");
        assert_eq!(billed["city"], "Amsterdam");
    }
);
