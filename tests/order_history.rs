//! A customer's order history over HTTP, on SQLite and PostgreSQL: the list searched by
//! order number and product title, filtered by status and date, a page at a time; the order
//! and line pages; re-ordering a whole order or one line into the basket, with a message for
//! each line that can no longer be bought; and another customer finding none of it, by URL
//! or by form.

mod support;

use emporium::fixtures::ProductBuilder;
use support::customers;
use support::shopper::{GOOD_CARD, add, place, to_preview, token};
use support::{Backend, Browser, Options, TestApp};

async fn start(backend: Backend) -> TestApp {
    // One order a page, so two orders are two pages.
    let app = TestApp::start_with(
        backend,
        Options {
            products: 4,
            page_size: 1,
            ..Options::default()
        },
    )
    .await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    app
}

/// Runs a test body once per backend on this file's [`start`] (the shared `both_backends!`
/// starts a default shop).
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(start(Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(start(Backend::Postgres).await).await;
            }
        }
    };
}

/// Buys `lines` (product, units) as `b`; returns the order number.
async fn buy(app: &TestApp, b: &Browser, lines: &[(i64, i64)]) -> String {
    for (product, units) in lines {
        add(b, *product, *units).await;
    }
    let preview = to_preview(b, None, None, "test-card-gateway").await;
    let placed = place(b, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        placed.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        placed.body
    );
    sqlx::query_scalar("SELECT number FROM shop_order ORDER BY id DESC LIMIT 1")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn product(app: &TestApp, title: &str, units: i64) -> (i64, i64) {
    let p = ProductBuilder::new()
        .title(title)
        .price("10.00")
        .stock(units)
        .create(&app.state.db)
        .await
        .unwrap();
    (p.id, p.stock_record_id.unwrap())
}

/// Units on open basket lines of the customer with this email.
async fn basket_units(app: &TestApp, email: &str) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT l.product_id, l.quantity FROM basket_line l JOIN basket b ON b.id = l.basket_id \
         JOIN customer c ON c.id = b.owner_id WHERE c.email = $1 AND b.status = 'open' \
         AND l.is_saved = FALSE ORDER BY l.product_id",
    )
    .bind(email)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
}

async fn line_id(app: &TestApp, number: &str, product: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT l.id FROM order_line l JOIN shop_order o ON o.id = l.order_id \
         WHERE o.number = $1 AND l.product_id = $2",
    )
    .bind(number)
    .bind(product)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
}

async fn set_net_stock(app: &TestApp, record: i64, units: i64) {
    sqlx::query("UPDATE stock_record SET num_in_stock = num_allocated + $1 WHERE id = $2")
        .bind(units)
        .bind(record)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
}

async fn history_is_searched_filtered_and_paged(app: TestApp) {
    let (teapot, _) = product(&app, "Brown Betty Teapot", 10).await;
    let (mug, _) = product(&app, "Enamel Mug", 10).await;
    let b = customers::registered(&app, "ada@example.com").await;
    let first = buy(&app, &b, &[(teapot, 1)]).await;
    let second = buy(&app, &b, &[(mug, 2)]).await;

    // Newest first, one a page; the second page keeps the filters.
    let page = b.get("/accounts/orders/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&second) && !page.body.contains(&format!("/accounts/orders/{first}/"))
    );
    assert!(page.body.contains("2 orders"), "{}", page.body);
    let page2 = b.get("/accounts/orders/?page=2").await;
    assert!(page2.body.contains(&format!("/accounts/orders/{first}/")));
    assert_eq!(b.get("/accounts/orders/?page=zero").await.status, 400);

    // By number, by part of a product title (any case), by status and by date.
    let found = b.get(&format!("/accounts/orders/?q={first}")).await;
    assert!(found.body.contains("1 order found"), "{}", found.body);
    assert!(found.body.contains(&format!("/accounts/orders/{first}/")));
    let found = b.get("/accounts/orders/?q=enamel").await;
    assert!(found.body.contains(&format!("/accounts/orders/{second}/")));
    assert!(found.body.contains("1 order found"));
    // A LIKE wildcard is only itself.
    let none = b.get("/accounts/orders/?q=%25").await;
    assert!(none.body.contains("No orders match"), "{}", none.body);
    let status = app
        .scalar_text("SELECT status FROM shop_order LIMIT 1")
        .await;
    let by_status = b
        .get(&format!(
            "/accounts/orders/?status={}",
            status.replace(' ', "+")
        ))
        .await;
    assert!(
        by_status.body.contains("2 orders found"),
        "{}",
        by_status.body
    );
    let none = b.get("/accounts/orders/?status=Cancelled").await;
    assert!(none.body.contains("No orders match"));
    let today = app
        .scalar_text("SELECT placed_at FROM shop_order LIMIT 1")
        .await[..10]
        .to_owned();
    let dated = b
        .get(&format!("/accounts/orders/?from={today}&to={today}"))
        .await;
    assert!(dated.body.contains("2 orders found"), "{}", dated.body);
    let none = b.get("/accounts/orders/?to=2000-01-01").await;
    assert!(none.body.contains("No orders match"));
    let none = b.get("/accounts/orders/?from=2999-01-01").await;
    assert!(none.body.contains("No orders match"));
    // A date that isn't one is named, and the other filters still apply.
    let bad = b.get("/accounts/orders/?from=31/12/2026&q=enamel").await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("Enter a date like 2026-12-31."));
    assert!(bad.body.contains("1 order found"));

    // The order page and a line's page.
    let order = b.get(&format!("/accounts/orders/{second}/")).await;
    assert!(order.body.contains("Enamel Mug") && order.body.contains("Order all of this again"));
    let line = line_id(&app, &second, mug).await;
    let line_page = b
        .get(&format!("/accounts/orders/{second}/lines/{line}/"))
        .await;
    assert_eq!(line_page.status, 200);
    assert!(line_page.body.contains("Enamel Mug") && line_page.body.contains("Order 2 again"));
    // A line of another order under this one is no page.
    let other_line = line_id(&app, &first, teapot).await;
    assert_eq!(
        b.get(&format!("/accounts/orders/{second}/lines/{other_line}/"))
            .await
            .status,
        404
    );
    assert_eq!(
        b.get(&format!("/accounts/orders/{second}/lines/x/"))
            .await
            .status,
        404
    );

    // Signed out: the sign-in page, then back.
    let anon = app.browser();
    let to = anon.get("/accounts/orders/").await;
    assert_eq!(to.status, 303);
    assert!(to.location.unwrap().starts_with("/accounts/login/?next="));
}

both!(history_db, history_is_searched_filtered_and_paged);

async fn reorder_adds_what_can_be_bought(app: TestApp) {
    let (teapot, teapot_stock) = product(&app, "Brown Betty Teapot", 10).await;
    let (mug, mug_stock) = product(&app, "Enamel Mug", 10).await;
    let (spoon, _) = product(&app, "Caddy Spoon", 10).await;
    let (tray, tray_stock) = product(&app, "Tin Tray", 10).await;
    let email = "ada@example.com";
    let b = customers::registered(&app, email).await;
    let number = buy(&app, &b, &[(teapot, 1), (mug, 3), (spoon, 1), (tray, 1)]).await;
    assert!(basket_units(&app, email).await.is_empty());

    // Everything can still be bought: all of it goes back in, and the basket says so.
    let t = token(&b).await;
    let done = b
        .post(
            &format!("/accounts/orders/{number}/reorder/"),
            &[("csrf_token", &t)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/basket/"));
    let basket = b.get("/basket/").await;
    assert!(
        basket
            .body
            .contains("3 × “Enamel Mug” are now in your basket."),
        "{}",
        basket.body
    );
    let mut expected = vec![(teapot, 1), (mug, 3), (spoon, 1), (tray, 1)];
    expected.sort();
    assert_eq!(basket_units(&app, email).await, expected);

    // Empty the basket, then: the teapot is out of stock, only 2 mugs are left, the spoon is
    // no longer sold, the tray can't be bought at all.
    let lines: Vec<i64> = sqlx::query_scalar(
        "SELECT l.id FROM basket_line l JOIN basket b ON b.id = l.basket_id WHERE b.status = 'open'",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    for line in lines {
        let page = b
            .post(
                &format!("/basket/lines/{line}/remove/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert_eq!(page.status, 303);
    }
    set_net_stock(&app, teapot_stock, 0).await;
    set_net_stock(&app, mug_stock, 2).await;
    sqlx::query("UPDATE product SET is_public = FALSE WHERE id = $1")
        .bind(spoon)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM stock_record WHERE id = $1")
        .bind(tray_stock)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let done = b
        .post(
            &format!("/accounts/orders/{number}/reorder/"),
            &[("csrf_token", &t)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Nothing went in: back to the order, with a message for each line.
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/accounts/orders/{number}/").as_str())
    );
    let page = b.get(done.location.as_deref().unwrap()).await;
    for message in [
        "Sorry, “Brown Betty Teapot” is out of stock.",
        "Sorry, only 2 of “Enamel Mug” can be bought right now",
        "“Caddy Spoon” is no longer sold, so it was not added.",
        "Sorry, “Tin Tray” is not available right now.",
    ] {
        assert!(page.body.contains(message), "{message}: {}", page.body);
    }
    assert!(basket_units(&app, email).await.is_empty());

    // One line at a time: the mug alone is refused, and with stock back it goes in; the rest
    // of the order stays out.
    let mug_line = line_id(&app, &number, mug).await;
    let line_url = format!("/accounts/orders/{number}/lines/{mug_line}/reorder/");
    let refused = b.post_and_follow(&line_url, &[("csrf_token", &t)]).await;
    assert!(refused.body.contains("only 2 of “Enamel Mug”"));
    set_net_stock(&app, mug_stock, 5).await;
    let done = b.post(&line_url, &[("csrf_token", &t)]).await;
    assert_eq!(done.location.as_deref(), Some("/basket/"));
    assert_eq!(basket_units(&app, email).await, vec![(mug, 3)]);
    // A mix: the teapot comes back in stock, the rest don't; what can be bought is added and
    // the rest is named.
    set_net_stock(&app, teapot_stock, 1).await;
    let mixed = b
        .post_and_follow(
            &format!("/accounts/orders/{number}/reorder/"),
            &[("csrf_token", &t)],
        )
        .await;
    assert!(
        mixed
            .body
            .contains("“Brown Betty Teapot” is now in your basket.")
    );
    assert!(mixed.body.contains("“Caddy Spoon” is no longer sold"));
    // The mugs already in the basket count: 3 + 3 is more than the 5 left.
    assert!(
        mixed.body.contains("only 5 of “Enamel Mug”"),
        "{}",
        mixed.body
    );
    let mut expected = vec![(teapot, 1), (mug, 3)];
    expected.sort();
    assert_eq!(basket_units(&app, email).await, expected);

    // Without the token: refused, nothing added.
    let forged = b
        .post(&format!("/accounts/orders/{number}/reorder/"), &[])
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(basket_units(&app, email).await, expected);
}

both!(reorder_db, reorder_adds_what_can_be_bought);

async fn another_customer_finds_nothing(app: TestApp) {
    let (teapot, _) = product(&app, "Brown Betty Teapot", 10).await;
    let ada = customers::registered(&app, "ada@example.com").await;
    let number = buy(&app, &ada, &[(teapot, 1)]).await;
    let line = line_id(&app, &number, teapot).await;
    let eve = customers::registered(&app, "eve@example.com").await;

    // By URL: every page of Ada's order is a 404, and her list doesn't show it.
    for path in [
        format!("/accounts/orders/{number}/"),
        format!("/accounts/orders/{number}/lines/{line}/"),
    ] {
        assert_eq!(eve.get(&path).await.status, 404, "{path}");
    }
    let list = eve.get(&format!("/accounts/orders/?q={number}")).await;
    assert!(!list.body.contains(&format!("/accounts/orders/{number}/")));
    assert!(
        eve.get("/accounts/orders/")
            .await
            .body
            .contains("haven't ordered anything")
    );
    // A guest link needs the secret, not an account.
    assert_eq!(eve.get(&format!("/orders/{number}/")).await.status, 404);

    // By form, with Eve's own valid token: 404, nothing in her basket.
    let t = token(&eve).await;
    for path in [
        format!("/accounts/orders/{number}/reorder/"),
        format!("/accounts/orders/{number}/lines/{line}/reorder/"),
    ] {
        let page = eve.post(&path, &[("csrf_token", &t)]).await;
        assert_eq!(page.status, 404, "POST {path}");
    }
    assert!(basket_units(&app, "eve@example.com").await.is_empty());
    // Ada's own line id under a number that isn't hers is no better.
    let eve_order = buy(&app, &eve, &[(teapot, 1)]).await;
    let page = eve
        .post(
            &format!("/accounts/orders/{eve_order}/lines/{line}/reorder/"),
            &[("csrf_token", &t)],
        )
        .await;
    assert_eq!(page.status, 404);
    assert!(basket_units(&app, "eve@example.com").await.is_empty());
    // Signed out (a first visit: no session, so same-origin is the proof), a post goes to
    // sign in and adds nothing.
    let anon = app.browser();
    let page = anon
        .post(&format!("/accounts/orders/{number}/reorder/"), &[])
        .await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/accounts/login/"));
    assert_eq!(
        app.scalar_i64(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM basket_line l JOIN basket b ON b.id = l.basket_id \
             WHERE b.status = 'open'"
        )
        .await,
        0
    );
}

both!(isolation_db, another_customer_finds_nothing);
