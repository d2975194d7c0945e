//! Offers and vouchers end to end, over HTTP against the real app on SQLite and PostgreSQL:
//! the basket shows the discount, the checkout charges the discounted total through the test
//! card gateway, and the order keeps what it got (per offer, per line, voucher uses, counters).
//! A plugin condition is decided by the bundled Rust offer-condition plugin (a real component).
//! A voucher with one use left, raced by 50 checkouts, goes to exactly one order.

mod support;

use std::sync::Arc;

use emporium::audit::Actor;
use emporium::fixtures::{CategoryBuilder, ProductBuilder};
use emporium::offer::OfferType;
use emporium::offer::manage::{self, NewOffer, NewRange, NewVoucher};
use emporium::offer::voucher::Usage;
use rust_decimal::Decimal;
use support::shopper::*;
use support::{Backend, Browser, TestApp};

async fn install_defaults(app: &TestApp) {
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
}

/// A "Paperbacks" category with `n` books at £10.00 (10 in stock each), and a range of it.
async fn books(app: &TestApp, n: usize) -> (Vec<i64>, i64) {
    // The test shop's demo catalogue has a "Books" category already.
    let cat = CategoryBuilder::new()
        .name("Paperbacks")
        .create(&app.state.db)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let p = ProductBuilder::new()
            .title(&format!("Book {i}"))
            .price("10.00")
            .stock(10)
            .category(&cat)
            .create(&app.state.db)
            .await
            .unwrap();
        ids.push(p.id);
    }
    let range = manage::create_range(
        &app.state.db,
        Actor::CommandLine,
        &NewRange {
            name: "Books".into(),
            categories: vec![cat.id],
            ..NewRange::default()
        },
    )
    .await
    .unwrap();
    (ids, range)
}

async fn offer(app: &TestApp, new: NewOffer) -> i64 {
    manage::create_offer(&app.state.db, Actor::CommandLine, app.state.currency, &new)
        .await
        .unwrap()
}

fn total_shown(page: &str) -> String {
    let marker = "id=\"basket-total\">";
    let at = page.find(marker).expect("a basket total") + marker.len();
    page[at..at + page[at..].find('<').unwrap()].to_owned()
}

async fn checkout(b: &Browser, email: Option<&str>) -> support::Page {
    let preview = to_preview(b, email, None, "test-card-gateway").await;
    let placed = place(b, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        placed.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        placed.body
    );
    preview
}

// 3 for 2 on books: the basket, the preview, the charge and the order's records.
both_backends!(
    three_for_two_from_basket_to_order,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let (ids, range) = books(&app, 2).await;
        let id = offer(
            &app,
            NewOffer {
                condition_value: 3,
                condition_range: Some(range),
                ..NewOffer::new("3 for 2 on books", "count", "multibuy")
            },
        )
        .await;
        let b = app.browser();
        // The offers pages: the list, and the offer with the products of its range.
        let list = b.get("/offers/").await;
        assert!(
            list.body
                .contains("Buy 3 from Books: the cheapest one free."),
            "{}",
            list.body
        );
        let detail = b.get("/offers/3-for-2-on-books/").await;
        assert_eq!(detail.status, 200, "{}", detail.body);
        assert!(
            detail.body.contains("Book 0") && detail.body.contains("Book 1"),
            "{}",
            detail.body
        );
        assert!(detail.body.contains("2 products"), "{}", detail.body);
        assert_eq!(b.get("/offers/no-such-offer/").await.status, 404);
        add(&b, ids[0], 2).await;
        let basket = b.get("/basket/").await;
        assert_eq!(total_shown(&basket.body), "£20.00");
        assert!(
            basket
                .body
                .contains("Add 1 more item from Books to get 3 for 2 on books."),
            "{}",
            basket.body
        );
        add(&b, ids[1], 1).await;
        let basket = b.get("/basket/").await;
        assert_eq!(total_shown(&basket.body), "£20.00", "{}", basket.body);
        assert!(basket.body.contains("3 for 2 on books"));
        assert!(basket.body.contains("You save £10.00"));

        let preview = checkout(&b, Some("ada@example.com")).await;
        assert!(preview.body.contains("−£10.00"), "{}", preview.body);
        assert!(preview.body.contains("£24.95"), "{}", preview.body);
        assert_eq!(
            app.scalar_i64("SELECT total_incl_minor FROM shop_order")
                .await,
            2495
        );
        assert_eq!(
            app.scalar_i64("SELECT discount_minor FROM shop_order")
                .await,
            1000
        );
        assert_eq!(
            app.scalar_i64("SELECT allocated_minor FROM payment_source")
                .await,
            2495
        );
        assert_eq!(
            app.scalar_i64("SELECT CAST(SUM(discount_incl_minor) AS BIGINT) FROM order_line")
                .await,
            1000
        );
        assert_eq!(
            app.scalar_i64(
                "SELECT CAST(SUM(amount_incl_minor) AS BIGINT) FROM order_line_discount"
            )
            .await,
            1000
        );
        assert_eq!(
            app.scalar_i64("SELECT offer_id FROM order_discount").await,
            id
        );
        assert_eq!(app.scalar_i64("SELECT num_orders FROM offer").await, 1);
        // The customer's order page shows the discount.
        let thanks = b.get("/checkout/thank-you/").await;
        assert!(thanks.body.contains("3 for 2 on books"), "{}", thanks.body);
    }
);

// A voucher for 10% over £50: refused with how much is missing, then accepted, then used up.
both_backends!(
    voucher_minimum_single_use_and_reasons,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let (ids, range) = books(&app, 1).await;
        let tenth = offer(
            &app,
            NewOffer {
                offer_type: OfferType::Voucher,
                condition_value: 5_000,
                condition_range: Some(range),
                benefit_percent: Decimal::TEN,
                ..NewOffer::new("10% off books over £50", "value", "percentage")
            },
        )
        .await;
        manage::create_voucher(
            &app.state.db,
            Actor::CommandLine,
            &NewVoucher {
                name: "Ten off".into(),
                code: "tenoff".into(),
                usage: Usage::Single,
                starts_at: None,
                ends_at: None,
                offers: vec![tenth],
            },
        )
        .await
        .unwrap();
        let b = app.browser();
        add(&b, ids[0], 4).await;
        let t = token(&b).await;
        let unknown = b
            .post_and_follow(
                "/basket/vouchers/add/",
                &[("csrf_token", &t), ("code", "NOPE")],
            )
            .await;
        assert!(
            unknown
                .body
                .contains("There is no voucher with the code NOPE."),
            "{}",
            unknown.body
        );
        let short = b
            .post_and_follow(
                "/basket/vouchers/add/",
                &[("csrf_token", &t), ("code", "tenoff")],
            )
            .await;
        assert!(
            short
                .body
                .contains("does not qualify for voucher TENOFF yet. Spend £10.00 more on Books"),
            "{}",
            short.body
        );
        assert_eq!(total_shown(&short.body), "£40.00");
        add(&b, ids[0], 2).await;
        let ok = b
            .post_and_follow(
                "/basket/vouchers/add/",
                &[("csrf_token", &t), ("code", " TenOff ")],
            )
            .await;
        assert!(ok.body.contains("Voucher TENOFF was added"), "{}", ok.body);
        assert_eq!(total_shown(&ok.body), "£54.00");
        checkout(&b, Some("ada@example.com")).await;
        assert_eq!(
            app.scalar_i64("SELECT total_incl_minor FROM shop_order")
                .await,
            5400 + 495
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM voucher_application")
                .await,
            1
        );
        assert_eq!(
            app.scalar_text("SELECT voucher_code FROM order_discount")
                .await,
            "TENOFF"
        );

        // Single use: the next shopper is told so (4 are left in stock).
        let other = app.browser();
        add(&other, ids[0], 4).await;
        let t = token(&other).await;
        let used = other
            .post_and_follow(
                "/basket/vouchers/add/",
                &[("csrf_token", &t), ("code", "TENOFF")],
            )
            .await;
        assert!(
            used.body.contains("Voucher TENOFF has already been used."),
            "{}",
            used.body
        );
        assert_eq!(total_shown(&used.body), "£40.00");
    }
);

// Free delivery over £30, decided at the shipping step; then two exclusive offers compete
// and the higher priority wins.
both_backends!(
    free_shipping_and_exclusive_offers,
    |app: TestApp| async move {
        install_defaults(&app).await;
        let (ids, range) = books(&app, 1).await;
        let free = offer(
            &app,
            NewOffer {
                condition_value: 3_000,
                condition_range: Some(range),
                benefit_percent: Decimal::ONE_HUNDRED,
                ..NewOffer::new("Free delivery over £30", "value", "shipping_percentage")
            },
        )
        .await;
        let b = app.browser();
        add(&b, ids[0], 2).await;
        let basket = b.get("/basket/").await;
        assert!(
            basket
                .body
                .contains("Spend £10.00 more on Books to get Free delivery over £30."),
            "{}",
            basket.body
        );
        add(&b, ids[0], 1).await;
        let basket = b.get("/basket/").await;
        assert!(
            basket.body.contains("taken off your delivery at checkout"),
            "{}",
            basket.body
        );
        let preview = checkout(&b, Some("ada@example.com")).await;
        assert!(
            preview.body.contains("Free delivery over £30"),
            "{}",
            preview.body
        );
        assert_eq!(
            app.scalar_i64("SELECT total_incl_minor FROM shop_order")
                .await,
            3000
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM order_discount WHERE category = 'shipping'")
                .await,
            1
        );

        manage::set_status(&app.state.db, Actor::CommandLine, free, "suspended")
            .await
            .unwrap();
        // A suspended offer is off the offers page.
        let list = app.browser().get("/offers/").await;
        assert!(!list.body.contains("Free delivery over"), "{}", list.body);
        for (name, priority, percent) in [("10% off books", 10, 10), ("20% off books", 5, 20)] {
            offer(
                &app,
                NewOffer {
                    priority,
                    condition_value: 1,
                    condition_range: Some(range),
                    benefit_percent: Decimal::from(percent),
                    ..NewOffer::new(name, "count", "percentage")
                },
            )
            .await;
        }
        let b = app.browser();
        add(&b, ids[0], 3).await;
        let basket = b.get("/basket/").await;
        assert_eq!(total_shown(&basket.body), "£27.00", "{}", basket.body);
        assert!(basket.body.contains("10% off books"));
        assert!(!basket.body.contains("20% off books"));
    }
);

// A voucher once per customer, used twice by the same customer; guests are asked to sign in.
both_backends!(once_per_customer_voucher, |app: TestApp| async move {
    install_defaults(&app).await;
    let (ids, range) = books(&app, 1).await;
    let five = offer(
        &app,
        NewOffer {
            offer_type: OfferType::Voucher,
            condition_value: 1,
            condition_range: Some(range),
            benefit_amount_minor: 500,
            ..NewOffer::new("£5 welcome", "count", "absolute")
        },
    )
    .await;
    manage::create_voucher(
        &app.state.db,
        Actor::CommandLine,
        &NewVoucher {
            name: "Welcome".into(),
            code: "WELCOME5".into(),
            usage: Usage::OncePerCustomer,
            starts_at: None,
            ends_at: None,
            offers: vec![five],
        },
    )
    .await
    .unwrap();
    let guest = app.browser();
    add(&guest, ids[0], 1).await;
    let t = token(&guest).await;
    let page = guest
        .post_and_follow(
            "/basket/vouchers/add/",
            &[("csrf_token", &t), ("code", "WELCOME5")],
        )
        .await;
    assert!(page.body.contains("sign in to use it"), "{}", page.body);

    let b = support::customers::registered(&app, "cat@example.com").await;
    for round in 0..2 {
        add(&b, ids[0], 1).await;
        let t = token(&b).await;
        let page = b
            .post_and_follow(
                "/basket/vouchers/add/",
                &[("csrf_token", &t), ("code", "WELCOME5")],
            )
            .await;
        if round == 0 {
            assert!(
                page.body.contains("Voucher WELCOME5 was added"),
                "{}",
                page.body
            );
            checkout(&b, None).await;
        } else {
            assert!(
                page.body
                    .contains("You have already used voucher WELCOME5."),
                "{}",
                page.body
            );
        }
    }
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM voucher_application")
            .await,
        1
    );
});

// An offer whose condition is the bundled Rust plugin: 2 books from "Paperbacks" earn £5 off.
both_backends!(plugin_condition_decides, |app: TestApp| async move {
    install_defaults(&app).await;
    app.install_plugin(
        "min-quantity-category",
        &[("category", "Paperbacks"), ("min_quantity", "2")],
        &[],
    )
    .await;
    let (ids, range) = books(&app, 2).await;
    offer(
        &app,
        NewOffer {
            condition_plugin: Some("min-quantity-category".into()),
            benefit_range: Some(range),
            benefit_amount_minor: 500,
            max_basket_applications: Some(1),
            ..NewOffer::new("£5 off two books", "plugin", "absolute")
        },
    )
    .await;
    let b = app.browser();
    add(&b, ids[0], 1).await;
    assert_eq!(total_shown(&b.get("/basket/").await.body), "£10.00");
    add(&b, ids[1], 1).await;
    let basket = b.get("/basket/").await;
    assert_eq!(total_shown(&basket.body), "£15.00", "{}", basket.body);
    checkout(&b, Some("ada@example.com")).await;
    assert_eq!(
        app.scalar_i64("SELECT total_incl_minor FROM shop_order")
            .await,
        1500 + 495
    );
});

async fn race_for_the_last_use(app: TestApp) {
    install_defaults(&app).await;
    let (ids, range) = books(&app, 1).await;
    sqlx::query("UPDATE stock_record SET num_in_stock = 1000")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let off = offer(
        &app,
        NewOffer {
            offer_type: OfferType::Voucher,
            condition_value: 1,
            condition_range: Some(range),
            benefit_amount_minor: 300,
            ..NewOffer::new("£3 off", "count", "absolute")
        },
    )
    .await;
    manage::create_voucher(
        &app.state.db,
        Actor::CommandLine,
        &NewVoucher {
            name: "Last one".into(),
            code: "LASTONE".into(),
            usage: Usage::Single,
            starts_at: None,
            ends_at: None,
            offers: vec![off],
        },
    )
    .await
    .unwrap();
    let app = Arc::new(app);
    let mut ready = Vec::new();
    for chunk in 0..5 {
        let mut set = tokio::task::JoinSet::new();
        for n in 0..10 {
            let (app, id) = (app.clone(), ids[0]);
            set.spawn(async move {
                let b = app.browser();
                add(&b, id, 1).await;
                let t = token(&b).await;
                let page = b
                    .post_and_follow(
                        "/basket/vouchers/add/",
                        &[("csrf_token", &t), ("code", "LASTONE")],
                    )
                    .await;
                assert!(page.body.contains("was added"), "{}", page.body);
                let email = format!("racer{}@example.com", chunk * 10 + n);
                let preview = to_preview(&b, Some(&email), None, "test-card-gateway").await;
                (b, preview)
            });
        }
        while let Some(r) = set.join_next().await {
            ready.push(r.unwrap());
        }
    }
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
    assert_eq!((won, lost), (1, 49));
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM shop_order").await, 1);
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM voucher_application")
            .await,
        1
    );
    assert_eq!(app.scalar_i64("SELECT num_orders FROM voucher").await, 1);
    assert_eq!(app.scalar_i64("SELECT num_orders FROM offer").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_checkouts_for_a_voucher_with_one_use_sqlite() {
    race_for_the_last_use(TestApp::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_checkouts_for_a_voucher_with_one_use_postgres() {
    race_for_the_last_use(TestApp::start(Backend::Postgres).await).await;
}

// The dashboard: a range and an offer made through the forms (a bad form re-rendered with
// its errors and what was typed), the offer's results after an order, the explanation of a
// basket, a voucher, a set downloaded as CSV; partner users are kept out.
both_backends!(dashboard_offers, |app: TestApp| async move {
    use emporium::staff::Role;
    use support::staff::{add_staff, staff_browser};
    install_defaults(&app).await;
    let (ids, _) = books(&app, 1).await;
    add_staff(&app, "boss@example.com", Role::Admin, &[]).await;
    let staff = staff_browser(&app, "boss@example.com").await;
    let t = staff.get("/dashboard/ranges/").await.csrf_token().unwrap();
    let made = staff
        .post(
            "/dashboard/ranges/",
            &[
                ("csrf_token", &t),
                ("name", "All of it"),
                ("includes_all", "on"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let range = app
        .scalar_i64("SELECT id FROM offer_range WHERE name = 'All of it'")
        .await;
    let range = range.to_string();
    let bad = staff
        .post(
            "/dashboard/offers/new/",
            &[
                ("csrf_token", &t),
                ("name", "Half off"),
                ("offer_type", "site"),
                ("priority", "0"),
                ("condition_kind", "value"),
                ("condition_value", "lots"),
                ("condition_range", &range),
                ("benefit_kind", "percentage"),
                ("benefit_value", "150"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("Enter an amount like 50.00."),
        "{}",
        bad.body
    );
    assert!(
        bad.body
            .contains("A percentage is above 0 and at most 100."),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("value=\"Half off\""), "{}", bad.body);
    let made = staff
        .post(
            "/dashboard/offers/new/",
            &[
                ("csrf_token", &t),
                ("name", "Half off over £15"),
                ("offer_type", "site"),
                ("priority", "0"),
                ("condition_kind", "value"),
                ("condition_value", "15.00"),
                ("condition_range", &range),
                ("benefit_kind", "percentage"),
                ("benefit_value", "50"),
                ("max_basket_applications", "1"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let offer = app.scalar_i64("SELECT id FROM offer").await;
    assert_eq!(
        made.location.as_deref(),
        Some(format!("/dashboard/offers/{offer}/").as_str())
    );
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'offer.create'")
            .await,
        1
    );

    // A shopper's basket: explained before it qualifies, then bought.
    let b = app.browser();
    add(&b, ids[0], 1).await;
    let basket = app.scalar_i64("SELECT MAX(id) FROM basket").await;
    let why = staff
        .get(&format!("/dashboard/offers/explain/?basket={basket}"))
        .await;
    assert!(
        why.body.contains("Condition not met: £5.00 short"),
        "{}",
        why.body
    );
    add(&b, ids[0], 1).await;
    let why = staff
        .get(&format!("/dashboard/offers/explain/?basket={basket}"))
        .await;
    assert!(
        why.body.contains("£10.00 to pay before delivery"),
        "{}",
        why.body
    );
    checkout(&b, Some("ada@example.com")).await;
    let detail = staff.get(&format!("/dashboard/offers/{offer}/")).await;
    assert!(
        detail
            .body
            .contains("<dt>Discount given</dt><dd>£10.00</dd>"),
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains("<dt>Orders</dt><dd>1</dd>"),
        "{}",
        detail.body
    );
    let list = staff.get("/dashboard/offers/").await;
    assert!(list.body.contains("Half off over £15"), "{}", list.body);

    // Vouchers: one code, then a set of three downloaded as CSV.
    let offer = offer.to_string();
    let made = staff
        .post(
            "/dashboard/vouchers/",
            &[
                ("csrf_token", &t),
                ("code", "half"),
                ("usage", "multi"),
                ("offer", &offer),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let again = staff
        .post(
            "/dashboard/vouchers/",
            &[
                ("csrf_token", &t),
                ("code", "HALF"),
                ("usage", "multi"),
                ("offer", &offer),
            ],
        )
        .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(
        again.body.contains("already has that name or code"),
        "{}",
        again.body
    );
    let set = staff
        .post(
            "/dashboard/vouchers/sets/",
            &[
                ("csrf_token", &t),
                ("name", "Winter"),
                ("count", "3"),
                ("prefix", "W-"),
                ("usage", "single"),
                ("offer", &offer),
            ],
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let codes: Vec<&str> = set.body.lines().skip(1).collect();
    assert_eq!(codes.len(), 3, "{}", set.body);
    assert!(
        codes.iter().all(|c| c.starts_with("W-") && c.len() == 10),
        "{codes:?}"
    );
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM voucher").await, 4);

    // Suspending takes it off the shop.
    let done = staff
        .post(
            &format!("/dashboard/offers/{offer}/status/"),
            &[("csrf_token", &t), ("status", "suspended")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        app.scalar_text("SELECT status FROM offer").await,
        "suspended"
    );

    // A partner user is kept out of every offer page.
    sqlx::query("INSERT INTO partner (code, name) VALUES ('other', 'Other')")
        .execute(&app.state.db.pool)
        .await
        .ok();
    add_staff(&app, "partner@example.com", Role::Partner, &["other"]).await;
    let partner = staff_browser(&app, "partner@example.com").await;
    for path in [
        "/dashboard/offers/",
        "/dashboard/vouchers/",
        "/dashboard/ranges/",
    ] {
        assert_eq!(partner.get(path).await.status, 403, "{path}");
    }
});
