//! The dashboard over HTTP against the real app, on SQLite and PostgreSQL: staff sign-in (and
//! who is kept out), the home figures, the order list and an order's page with its actions,
//! the audit log, a permission matrix over roles and partner scopes, and `emporium staff`.

mod support;

use emporium::fixtures::{PartnerBuilder, ProductBuilder};
use emporium::staff::{self, Role};
use sqlx::Row;
use support::shopper::{GOOD_CARD, add, place, to_preview};
use support::staff::{PASSWORD, add_staff, staff_browser};
use support::{Backend, Browser, TestApp};

/// A product of its own partner with 10 in stock at £12.50: (product id, stock record id,
/// partner code, product page).
async fn product_at_1250(app: &TestApp) -> (i64, i64, String, String) {
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let partner = PartnerBuilder::new().create_in(&mut conn).await.unwrap();
    drop(conn);
    let product = ProductBuilder::new()
        .price("12.50")
        .stock(10)
        .partner(&partner)
        .create(&app.state.db)
        .await
        .unwrap();
    let url = product.url();
    (
        product.id,
        product.stock_record_id.unwrap(),
        partner.code,
        url,
    )
}

/// A guest buys one of `product` (£12.50 + £4.95 delivery = £17.45); returns the order number.
async fn guest_order(app: &TestApp, product: i64) -> String {
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    let buyer = app.browser();
    add(&buyer, product, 1).await;
    let preview = to_preview(&buyer, Some("ada@example.com"), None, "test-card-gateway").await;
    let done = place(&buyer, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        done.body
    );
    app.scalar_text("SELECT number FROM shop_order").await
}

async fn token(b: &Browser) -> String {
    b.get("/dashboard/").await.csrf_token().unwrap()
}

/// The id of the line of order `number` that bought `product`.
async fn line_of(app: &TestApp, number: &str, product: i64) -> i64 {
    sqlx::query(
        "SELECT l.id FROM order_line l JOIN shop_order o ON o.id = l.order_id \
         WHERE o.number = $1 AND l.product_id = $2",
    )
    .bind(number)
    .bind(product)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
    .get(0)
}

/// The idempotency key of the order page's money form `form` (capture, refund_amount,
/// refund_lines, cancel).
fn form_key(body: &str, form: &str) -> String {
    let marker = format!("data-key=\"{form}\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {form} form on the page:\n{body}"));
    let before = &body[..at];
    let start = before.rfind("value=\"").unwrap() + "value=\"".len();
    before[start..].split('"').next().unwrap().to_owned()
}

async fn status_of(app: &TestApp, number: &str) -> String {
    sqlx::query("SELECT status FROM shop_order WHERE number = $1")
        .bind(number)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get(0)
}

both_backends!(
    staff_sign_in_keeps_everyone_else_out,
    |app: TestApp| async move {
        // Nobody signed in: pages redirect to the sign-in form, remembering where they were.
        let anonymous = app.browser();
        let page = anonymous.get("/dashboard/orders/?status=Pending").await;
        assert_eq!(page.status, 303);
        assert_eq!(
            page.location.as_deref(),
            Some("/dashboard/login/?next=%2Fdashboard%2Forders%2F%3Fstatus%3DPending")
        );
        // A customer account is not a staff account.
        add_staff(&app, "boss@example.com", Role::Admin, &[]).await;
        let b = app.browser();
        let t = b.get("/dashboard/login/").await.csrf_token().unwrap();
        let wrong = b
            .post(
                "/dashboard/login/",
                &[
                    ("csrf_token", &t),
                    ("email", "boss@example.com"),
                    ("password", "nope nope"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 422);
        assert!(
            wrong.body.contains("don&#x27;t match an account")
                || wrong.body.contains("don't match an account"),
            "{}",
            wrong.body
        );
        assert!(
            wrong.body.contains("value=\"boss@example.com\""),
            "the email is kept"
        );
        let empty = b.post("/dashboard/login/", &[("csrf_token", &t)]).await;
        assert_eq!(empty.status, 422);
        assert!(empty.body.contains("Enter your password."));
        // The right password signs in (a new session id) and goes where the visitor was going.
        let before = b.session_id();
        let ok = b
            .post(
                "/dashboard/login/",
                &[
                    ("csrf_token", &t),
                    ("email", "Boss@Example.com"),
                    ("password", PASSWORD),
                    ("next", "/dashboard/orders/"),
                ],
            )
            .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        assert_eq!(ok.location.as_deref(), Some("/dashboard/orders/"));
        assert_ne!(b.session_id(), before, "the session id rotates");
        let home = b.get("/dashboard/").await;
        assert_eq!(home.status, 200);
        assert!(home.body.contains("boss@example.com"));
        let response = b
            .client
            .get(format!("{}/dashboard/", b.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["cache-control"],
            "no-store",
            "no browser or proxy keeps a dashboard page"
        );
        // An offsite `next` is ignored.
        let t = b.get("/dashboard/login/").await.csrf_token().unwrap();
        let offsite = b
            .post(
                "/dashboard/login/",
                &[
                    ("csrf_token", &t),
                    ("email", "boss@example.com"),
                    ("password", PASSWORD),
                    ("next", "//evil.example/"),
                ],
            )
            .await;
        assert_eq!(offsite.location.as_deref(), Some("/dashboard/"));

        // Removing the account ends its sessions at once.
        assert!(
            staff::remove(&app.state.db, "boss@example.com")
                .await
                .unwrap()
        );
        assert_eq!(b.get("/dashboard/").await.status, 303);
        let t = b.get("/dashboard/login/").await.csrf_token().unwrap();
        let gone = b
            .post(
                "/dashboard/login/",
                &[
                    ("csrf_token", &t),
                    ("email", "boss@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(gone.status, 422);
    }
);

both_backends!(
    a_staff_sign_in_expires_sooner_than_the_session,
    |app: TestApp| async move {
        add_staff(&app, "night@example.com", Role::ReadOnly, &[]).await;
        let b = staff_browser(&app, "night@example.com").await;
        assert_eq!(b.get("/dashboard/").await.status, 200);
        // Push the dashboard sign-in's expiry into the past; the session itself lives on.
        let key = emporium::session::store_key(&b.session_id().unwrap());
        let mut record = app.state.sessions.load(&key).await.unwrap().unwrap();
        let mut data: serde_json::Value = serde_json::from_str(&record.data).unwrap();
        data["_staff"]["expires_at"] = serde_json::json!(1);
        record.data = data.to_string();
        assert!(app.state.sessions.update(&key, &record).await.unwrap());
        let page = b.get("/dashboard/").await;
        assert_eq!(page.status, 303);
        assert!(page.location.unwrap().starts_with("/dashboard/login/"));
        assert_eq!(
            b.get("/basket/").await.status,
            200,
            "the storefront still works"
        );
    }
);

both_backends!(
    orders_are_found_moved_and_noted_with_an_audit_trail,
    |app: TestApp| async move {
        let (product, record, _, _) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
        let b = staff_browser(&app, "orders@example.com").await;

        // Home: today's figures include the order (literal amounts).
        let home = b.get("/dashboard/").await;
        assert_eq!(home.status, 200, "{}", home.body);
        assert!(
            home.body.contains("£17.45"),
            "today's revenue: {}",
            home.body
        );
        assert!(
            home.body.contains("1 order waiting to be fulfilled"),
            "{}",
            home.body
        );
        assert!(home.body.contains("<svg"), "the revenue chart");

        // The list, its search, its filters; a bad date is a field error.
        let list = b.get("/dashboard/orders/").await;
        assert!(list.body.contains(&number) && list.body.contains("ada@example.com"));
        assert!(
            b.get("/dashboard/orders/?q=ADA@example")
                .await
                .body
                .contains(&number)
        );
        assert!(
            b.get(&format!("/dashboard/orders/?q={number}"))
                .await
                .body
                .contains(&number)
        );
        let none = b.get("/dashboard/orders/?q=nobody@example.com").await;
        assert!(!none.body.contains(&number) && none.body.contains("0 orders"));
        let shipped = b.get("/dashboard/orders/?status=Shipped").await;
        assert!(!shipped.body.contains(&format!(">{number}<")));
        let today = time::OffsetDateTime::now_utc().date();
        let dated = b
            .get(&format!("/dashboard/orders/?from={today}&to={today}"))
            .await;
        assert!(dated.body.contains(&number), "{}", dated.body);
        let bad = b.get("/dashboard/orders/?from=yesterday").await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Enter a date like 2026-12-31."));

        // The order's page.
        let url = format!("/dashboard/orders/{number}/");
        let detail = b.get(&url).await;
        assert_eq!(detail.status, 200);
        assert!(detail.body.contains("£17.45") && detail.body.contains("Ada Lovelace"));
        assert!(detail.body.contains("value=\"Being processed\""));

        // A move the pipeline does not allow is refused on the page, keeping the note typed.
        let t = token(&b).await;
        let refused = b
            .post(
                &format!("{url}status/"),
                &[
                    ("csrf_token", &t),
                    ("status", "Complete"),
                    ("note", "skip ahead"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422);
        assert!(
            refused.body.contains("can&#x27;t become Complete")
                || refused.body.contains("can't become Complete"),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("skip ahead"));
        assert_eq!(status_of(&app, &number).await, "Pending");

        let moved = b
            .post(
                &format!("{url}status/"),
                &[
                    ("csrf_token", &t),
                    ("status", "Being processed"),
                    ("note", "picked"),
                ],
            )
            .await;
        assert_eq!(moved.status, 303, "{}", moved.body);
        assert_eq!(status_of(&app, &number).await, "Being processed");
        let detail = b.get(&url).await;
        assert!(detail.body.contains("is now Being processed"), "the flash");
        assert!(detail.body.contains("Pending → Being processed"));
        assert!(detail.body.contains("orders@example.com"), "who moved it");

        // Notes: an empty one is a field error; a real one is on the timeline.
        let empty = b
            .post(
                &format!("{url}notes/"),
                &[("csrf_token", &t), ("note", "  ")],
            )
            .await;
        assert_eq!(empty.status, 422);
        assert!(empty.body.contains("Write the note first."));
        let noted = b
            .post(
                &format!("{url}notes/"),
                &[
                    ("csrf_token", &t),
                    ("note", "Customer asked for gift wrap."),
                ],
            )
            .await;
        assert_eq!(noted.status, 303);
        assert!(
            b.get(&url)
                .await
                .body
                .contains("Customer asked for gift wrap.")
        );

        // Every write is in the audit log, with who and before/after.
        let rows = sqlx::query(
            "SELECT actor, action, before_json, after_json FROM audit_log \
             WHERE object_type = 'order' AND object_id = $1 ORDER BY id",
        )
        .bind(&number)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        let entries: Vec<(String, String, Option<String>, Option<String>)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0].0, "orders@example.com");
        assert_eq!(entries[0].1, "order.status");
        assert!(entries[0].2.as_deref().unwrap().contains("\"Pending\""));
        assert!(
            entries[0]
                .3
                .as_deref()
                .unwrap()
                .contains("\"Being processed\"")
        );
        assert_eq!(entries[1].1, "order.note");

        // Cancelling releases the stock, and the storefront knows at once.
        let allocated = |app: &TestApp| {
            let pool = app.state.db.pool.clone();
            async move {
                let n: i64 = sqlx::query("SELECT num_allocated FROM stock_record WHERE id = $1")
                    .bind(record)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                    .get(0);
                n
            }
        };
        let held = allocated(&app).await;
        // Not as a status move: cancelling voids the payment, so it is its own action.
        let moved = b
            .post(
                &format!("{url}status/"),
                &[("csrf_token", &t), ("status", "Cancelled")],
            )
            .await;
        assert_eq!(moved.status, 422);
        assert!(
            moved.body.contains("also voids its payment"),
            "{}",
            moved.body
        );
        assert_eq!(status_of(&app, &number).await, "Being processed");
        let page = b.get(&url).await;
        let cancelled = b
            .post(
                &format!("{url}cancel/"),
                &[
                    ("csrf_token", &t),
                    ("key", &form_key(&page.body, "cancel")),
                    ("note", "customer changed their mind"),
                ],
            )
            .await;
        assert_eq!(cancelled.status, 303, "{}", cancelled.body);
        assert_eq!(allocated(&app).await, held - 1);
        assert!(b.get(&url).await.body.contains("is final"));
        // Unknown orders are not found.
        assert_eq!(b.get("/dashboard/orders/999999999/").await.status, 404);
    }
);

both_backends!(
    roles_and_partner_scopes_are_enforced,
    |app: TestApp| async move {
        let (product, _, partner, _) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        emporium::partner::create_partner(&app.state.db.pool, "elsewhere", "Elsewhere Ltd")
            .await
            .unwrap();
        add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
        add_staff(&app, "cat@example.com", Role::CatalogueManager, &[]).await;
        add_staff(&app, "own@example.com", Role::Partner, &[&partner]).await;
        add_staff(&app, "other@example.com", Role::Partner, &["elsewhere"]).await;
        let url = format!("/dashboard/orders/{number}/");

        // Read-only and catalogue staff see the order but can't move it or note it.
        for who in ["viewer@example.com", "cat@example.com"] {
            let b = staff_browser(&app, who).await;
            let page = b.get(&url).await;
            assert_eq!(page.status, 200, "{who}");
            assert!(
                !page.body.contains("Change status"),
                "{who}: no actions offered"
            );
            let t = token(&b).await;
            let post = b
                .post(
                    &format!("{url}status/"),
                    &[("csrf_token", &t), ("status", "Being processed")],
                )
                .await;
            assert_eq!(post.status, 403, "{who}");
            let note = b
                .post(
                    &format!("{url}notes/"),
                    &[("csrf_token", &t), ("note", "hi")],
                )
                .await;
            assert_eq!(note.status, 403, "{who}");
        }
        // The partner whose stock the order took sees it and may move it.
        let own = staff_browser(&app, "own@example.com").await;
        assert!(own.get("/dashboard/orders/").await.body.contains(&number));
        assert_eq!(own.get(&url).await.status, 200);
        assert!(
            own.get("/dashboard/").await.body.contains("£12.50"),
            "their lines' revenue only"
        );
        // Another partner's user does not find it at all: not in the list, 404 on its page,
        // and a post is refused as if it did not exist.
        let other = staff_browser(&app, "other@example.com").await;
        let list = other.get("/dashboard/orders/").await;
        assert!(!list.body.contains(&number) && list.body.contains("0 orders"));
        assert_eq!(other.get(&url).await.status, 404);
        let t = token(&other).await;
        let post = other
            .post(
                &format!("{url}status/"),
                &[("csrf_token", &t), ("status", "Being processed")],
            )
            .await;
        assert_eq!(post.status, 404);
        let note = other
            .post(
                &format!("{url}notes/"),
                &[("csrf_token", &t), ("note", "mine now")],
            )
            .await;
        assert_eq!(note.status, 404);
        assert!(!other.get("/dashboard/").await.body.contains("£12.50"));
        assert_eq!(status_of(&app, &number).await, "Pending", "nothing changed");
        assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM order_note").await, 0);
        // A signed-in customer is no staff member.
        let customer = app.browser();
        assert_eq!(customer.get(&url).await.status, 303);
    }
);

both_backends!(
    shipping_an_order_emails_the_tracking_reference,
    |app: TestApp| async move {
        let (product, ..) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        add_staff(&app, "packer@example.com", Role::OrderManager, &[]).await;
        let b = staff_browser(&app, "packer@example.com").await;
        let url = format!("/dashboard/orders/{number}/");
        let line: i64 = sqlx::query(
            "SELECT l.id FROM order_line l JOIN shop_order o ON o.id = l.order_id WHERE o.number = $1",
        )
        .bind(&number)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get(0);
        let page = b.get(&url).await;
        assert!(
            page.body
                .contains(&format!("name=\"line\" value=\"{line}\"")),
            "{}",
            page.body
        );
        let t = token(&b).await;
        // Nothing chosen: a field error, and the typed tracking reference is kept.
        let none = b
            .post(
                &format!("{url}fulfil/"),
                &[("csrf_token", &t), ("tracking", "TRK-0042")],
            )
            .await;
        assert_eq!(none.status, 422);
        assert!(none.body.contains("Choose the lines you are shipping."));
        assert!(none.body.contains("value=\"TRK-0042\""));
        let line_id = line.to_string();
        let shipped = b
            .post(
                &format!("{url}fulfil/"),
                &[
                    ("csrf_token", &t),
                    ("line", &line_id),
                    ("tracking", "TRK-0042"),
                ],
            )
            .await;
        assert_eq!(shipped.status, 303, "{}", shipped.body);
        // The line and (every line being shipped) the order walked the pipeline to Shipped.
        assert_eq!(status_of(&app, &number).await, "Shipped");
        let history: Vec<String> = sqlx::query(
            "SELECT c.new_status FROM order_status_change c JOIN shop_order o ON o.id = c.order_id \
             WHERE o.number = $1 ORDER BY c.id",
        )
        .bind(&number)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
        assert_eq!(history, ["Being processed", "Shipped"]);
        let detail = b.get(&url).await;
        assert!(
            detail.body.contains("Tracking: TRK-0042"),
            "{}",
            detail.body
        );
        assert!(detail.body.contains("Every line has shipped."));
        // Shipping it again is refused and changes nothing.
        let again = b
            .post(
                &format!("{url}fulfil/"),
                &[("csrf_token", &t), ("line", &line_id)],
            )
            .await;
        assert_eq!(again.status, 422);
        assert!(
            again.body.contains("can&#x27;t be shipped") || again.body.contains("can't be shipped")
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM shipping_event").await,
            1
        );
        // The customer's email: queued with the order's shipment and delivered once.
        let mail_dir = app.state.config.mail_dir();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let delivered = loop {
            let found: Vec<String> = std::fs::read_dir(&mail_dir)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                        .filter(|m| m.contains("is on its way"))
                        .collect()
                })
                .unwrap_or_default();
            if !found.is_empty() || std::time::Instant::now() > deadline {
                break found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(delivered.len(), 1, "one shipping email");
        assert!(delivered[0].contains("ada@example.com"));
        assert!(delivered[0].contains("TRK-0042"));
        assert!(delivered[0].contains(&number));
    }
);

both_backends!(
    stock_is_adjusted_with_a_reason_and_shows_at_once,
    |app: TestApp| async move {
        let (product, record, _, page) = product_at_1250(&app).await;
        guest_order(&app, product).await;
        emporium::partner::create_partner(&app.state.db.pool, "elsewhere", "Elsewhere Ltd")
            .await
            .unwrap();
        add_staff(&app, "stock@example.com", Role::CatalogueManager, &[]).await;
        add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
        add_staff(&app, "other@example.com", Role::Partner, &["elsewhere"]).await;
        let b = staff_browser(&app, "stock@example.com").await;
        let (in_stock, allocated): (i64, i64) = {
            let r =
                sqlx::query("SELECT num_in_stock, num_allocated FROM stock_record WHERE id = $1")
                    .bind(record)
                    .fetch_one(&app.state.db.pool)
                    .await
                    .unwrap();
            (r.get(0), r.get(1))
        };
        assert_eq!(allocated, 1, "the order holds one");
        let url = format!("/dashboard/stock/{record}/");
        assert_eq!(b.get(&url).await.status, 200);
        let t = token(&b).await;
        let adjust = format!("{url}adjust/");
        // Taking away more than is free is refused, keeping what was typed.
        let too_many = format!("-{in_stock}");
        let refused = b
            .post(
                &adjust,
                &[
                    ("csrf_token", &t),
                    ("delta", &too_many),
                    ("reason", "stocktake"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422);
        assert!(
            refused.body.contains("allocated to orders"),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("value=\"stocktake\""));
        let no_reason = b.post(&adjust, &[("csrf_token", &t), ("delta", "5")]).await;
        assert_eq!(no_reason.status, 422);
        assert!(no_reason.body.contains("Say why"));
        let junk = b
            .post(
                &adjust,
                &[("csrf_token", &t), ("delta", "1.5"), ("reason", "x")],
            )
            .await;
        assert_eq!(junk.status, 422);

        // Sell-out by hand: everything free taken away; the storefront shows it at once.
        assert!(!app.get(&page).await.1.contains("availability--outofstock"));
        let take = format!("-{}", in_stock - allocated);
        let emptied = b
            .post(
                &adjust,
                &[
                    ("csrf_token", &t),
                    ("delta", &take),
                    ("reason", "damaged in the warehouse"),
                ],
            )
            .await;
        assert_eq!(emptied.status, 303, "{}", emptied.body);
        assert!(app.get(&page).await.1.contains("availability--outofstock"));
        let restocked = b
            .post(
                &adjust,
                &[
                    ("csrf_token", &t),
                    ("delta", "+12"),
                    ("reason", "delivery from supplier"),
                ],
            )
            .await;
        assert_eq!(restocked.status, 303);
        assert!(!app.get(&page).await.1.contains("availability--outofstock"));
        let detail = b.get(&url).await;
        assert!(detail.body.contains("Stock is now 13."), "{}", detail.body);
        assert!(
            detail.body.contains("delivery from supplier")
                && detail.body.contains("damaged in the warehouse")
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'stock.adjust'")
                .await,
            2
        );
        // Search finds it by its SKU; with 13 in stock it is not low.
        let sku: String = sqlx::query("SELECT partner_sku FROM stock_record WHERE id = $1")
            .bind(record)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .get(0);
        // Links are HTML-escaped in the page.
        let link = format!("href=\"{}\"", url.replace('/', "&#x2f;"));
        let found = b.get(&format!("/dashboard/stock/?q={sku}")).await;
        assert!(found.body.contains(&link), "{sku}: {}", found.body);
        let low = b.get(&format!("/dashboard/stock/?q={sku}&low=1")).await;
        assert!(!low.body.contains(&link), "{}", low.body);
        // A read-only user sees but can't adjust; another partner's user doesn't find it.
        let viewer = staff_browser(&app, "viewer@example.com").await;
        assert_eq!(viewer.get(&url).await.status, 200);
        let vt = token(&viewer).await;
        let denied = viewer
            .post(
                &adjust,
                &[("csrf_token", &vt), ("delta", "1"), ("reason", "x")],
            )
            .await;
        assert_eq!(denied.status, 403);
        let other = staff_browser(&app, "other@example.com").await;
        assert_eq!(other.get(&url).await.status, 404);
        assert!(
            other
                .get("/dashboard/stock/")
                .await
                .body
                .contains("0 stock records")
        );
        let ot = token(&other).await;
        let hidden = other
            .post(
                &adjust,
                &[("csrf_token", &ot), ("delta", "1"), ("reason", "x")],
            )
            .await;
        assert_eq!(hidden.status, 404);
        let after: i64 = sqlx::query("SELECT num_in_stock FROM stock_record WHERE id = $1")
            .bind(record)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(after, 13, "only the manager's adjustments applied");
    }
);

async fn customer_signs_in(app: &TestApp, email: &str) -> u16 {
    let b = app.browser();
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    b.post(
        "/accounts/login/",
        &[
            ("csrf_token", &t),
            ("email", email),
            ("password", "correct horse"),
        ],
    )
    .await
    .status
}

both_backends!(
    customers_are_found_and_switched_off,
    |app: TestApp| async move {
        let hash = emporium::customer::hash_password("correct horse".into())
            .await
            .unwrap();
        let registered = emporium::customer::register(
            &app.state.db,
            &app.state.templates,
            "Shop",
            "grace@example.com",
            &hash,
        )
        .await
        .unwrap();
        let emporium::customer::Registered::New(customer) = registered else {
            panic!("a new account");
        };
        add_staff(&app, "care@example.com", Role::OrderManager, &[]).await;
        add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
        add_staff(&app, "partner@example.com", Role::Partner, &["demo"]).await;
        let b = staff_browser(&app, "care@example.com").await;
        let list = b.get("/dashboard/customers/?q=GRACE").await;
        assert!(list.body.contains("grace@example.com"), "{}", list.body);
        assert!(
            b.get("/dashboard/customers/?q=nobody")
                .await
                .body
                .contains("0 customers")
        );
        let url = format!("/dashboard/customers/{}/", customer.id);
        let page = b.get(&url).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("No orders yet."));
        assert_eq!(customer_signs_in(&app, "grace@example.com").await, 303);

        let t = token(&b).await;
        let off = b
            .post(
                &format!("{url}active/"),
                &[("csrf_token", &t), ("active", "0")],
            )
            .await;
        assert_eq!(off.status, 303);
        assert!(b.get(&url).await.body.contains("switched off"));
        assert_eq!(
            customer_signs_in(&app, "grace@example.com").await,
            422,
            "can't sign in"
        );
        let on = b
            .post(
                &format!("{url}active/"),
                &[("csrf_token", &t), ("active", "1")],
            )
            .await;
        assert_eq!(on.status, 303);
        assert_eq!(customer_signs_in(&app, "grace@example.com").await, 303);
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM audit_log WHERE object_type = 'customer'")
                .await,
            2
        );
        let junk = b
            .post(
                &format!("{url}active/"),
                &[("csrf_token", &t), ("active", "maybe")],
            )
            .await;
        assert_eq!(junk.status, 400);
        assert_eq!(b.get("/dashboard/customers/999999/").await.status, 404);

        // Read-only staff look but don't touch; partner users don't see customers at all.
        let viewer = staff_browser(&app, "viewer@example.com").await;
        assert_eq!(viewer.get(&url).await.status, 200);
        let vt = token(&viewer).await;
        let denied = viewer
            .post(
                &format!("{url}active/"),
                &[("csrf_token", &vt), ("active", "0")],
            )
            .await;
        assert_eq!(denied.status, 403);
        let partner = staff_browser(&app, "partner@example.com").await;
        assert_eq!(partner.get("/dashboard/customers/").await.status, 403);
        assert_eq!(partner.get(&url).await.status, 403);
        assert!(
            !partner
                .get("/dashboard/")
                .await
                .body
                .contains("/dashboard/customers/")
        );
    }
);

both_backends!(
    global_search_finds_what_each_user_may_see,
    |app: TestApp| async move {
        let (product, ..) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        let title: String = sqlx::query("SELECT title FROM product WHERE id = $1")
            .bind(product)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .get(0);
        emporium::partner::create_partner(&app.state.db.pool, "elsewhere", "Elsewhere Ltd")
            .await
            .unwrap();
        add_staff(&app, "boss@example.com", Role::Admin, &[]).await;
        add_staff(&app, "cat@example.com", Role::CatalogueManager, &[]).await;
        add_staff(&app, "other@example.com", Role::Partner, &["elsewhere"]).await;
        let boss = staff_browser(&app, "boss@example.com").await;
        let by_number = boss.get(&format!("/dashboard/search/?q={number}")).await;
        assert!(
            by_number.body.contains("ada@example.com"),
            "{}",
            by_number.body
        );
        let encoded: String = title.replace(' ', "+");
        let by_title = boss.get(&format!("/dashboard/search/?q={encoded}")).await;
        assert!(by_title.body.contains(&title), "{}", by_title.body);
        let nothing = boss.get("/dashboard/search/?q=zzzz-no-such-thing").await;
        assert!(nothing.body.contains("Nothing matches"));
        // The search box is on every page.
        assert!(
            boss.get("/dashboard/orders/")
                .await
                .body
                .contains("id=\"id-global-search\"")
        );
        // Catalogue staff find products but no orders' customers list; another partner's user
        // finds neither the order nor the product.
        let cat = staff_browser(&app, "cat@example.com").await;
        let page = cat.get(&format!("/dashboard/search/?q={encoded}")).await;
        assert!(page.body.contains(&title));
        let other = staff_browser(&app, "other@example.com").await;
        let theirs = other.get(&format!("/dashboard/search/?q={number}")).await;
        assert!(!theirs.body.contains("ada@example.com"), "{}", theirs.body);
        let theirs = other.get(&format!("/dashboard/search/?q={encoded}")).await;
        assert!(theirs.body.contains("Nothing matches"), "{}", theirs.body);
    }
);

both_backends!(
    partners_are_listed_and_added_with_field_errors,
    |app: TestApp| async move {
        add_staff(&app, "boss@example.com", Role::Admin, &[]).await;
        add_staff(&app, "own@example.com", Role::Partner, &["demo"]).await;
        let boss = staff_browser(&app, "boss@example.com").await;
        let list = boss.get("/dashboard/partners/").await;
        assert!(list.body.contains("Emporium Warehouse") && list.body.contains("own@example.com"));
        let t = token(&boss).await;
        let bad = boss
            .post(
                "/dashboard/partners/",
                &[("csrf_token", &t), ("code", "no spaces"), ("name", "")],
            )
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("Use 1 to 64 letters") && bad.body.contains("Enter the partner"));
        assert!(bad.body.contains("value=\"no spaces\""));
        // A code that is taken: the database's unique constraint, shown on the field.
        let taken = boss
            .post(
                "/dashboard/partners/",
                &[("csrf_token", &t), ("code", "demo"), ("name", "Again")],
            )
            .await;
        assert_eq!(taken.status, 422, "{}", taken.body);
        assert!(
            taken.body.contains("The code demo is taken"),
            "{}",
            taken.body
        );
        let added = boss
            .post(
                "/dashboard/partners/",
                &[
                    ("csrf_token", &t),
                    ("code", "north"),
                    ("name", "North Depot"),
                ],
            )
            .await;
        assert_eq!(added.status, 303);
        assert!(
            boss.get("/dashboard/partners/")
                .await
                .body
                .contains("North Depot")
        );
        // A partner user sees only their own partner, and can't add one.
        let own = staff_browser(&app, "own@example.com").await;
        let theirs = own.get("/dashboard/partners/").await;
        assert!(theirs.body.contains("Emporium Warehouse") && !theirs.body.contains("North Depot"));
        let ot = token(&own).await;
        let denied = own
            .post(
                "/dashboard/partners/",
                &[("csrf_token", &ot), ("code", "mine"), ("name", "Mine")],
            )
            .await;
        assert_eq!(denied.status, 403);
    }
);

both_backends!(
    a_partner_ships_their_lines_of_a_shared_order_but_leaves_its_status,
    |app: TestApp| async move {
        let (mine, _, partner, _) = product_at_1250(&app).await;
        let (theirs, ..) = product_at_1250(&app).await;
        app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
            .await;
        app.install_plugin("test-card-gateway", &[], &[]).await;
        let buyer = app.browser();
        add(&buyer, mine, 1).await;
        add(&buyer, theirs, 1).await;
        let preview = to_preview(&buyer, Some("ada@example.com"), None, "test-card-gateway").await;
        assert_eq!(place(&buyer, &preview, Some(GOOD_CARD)).await.status, 303);
        let number = app.scalar_text("SELECT number FROM shop_order").await;
        add_staff(&app, "own@example.com", Role::Partner, &[&partner]).await;
        let own = staff_browser(&app, "own@example.com").await;
        let url = format!("/dashboard/orders/{number}/");
        let t = token(&own).await;
        let refused = own
            .post(
                &format!("{url}status/"),
                &[("csrf_token", &t), ("status", "Being processed")],
            )
            .await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("other partners"), "{}", refused.body);
        assert_eq!(status_of(&app, &number).await, "Pending");
        // Their own line ships; the other partner's stays, and so does the order's status.
        let my_line = line_of(&app, &number, mine).await;
        let their_line = line_of(&app, &number, theirs).await;
        let not_mine = own
            .post(
                &format!("{url}fulfil/"),
                &[("csrf_token", &t), ("line", &their_line.to_string())],
            )
            .await;
        assert_eq!(not_mine.status, 404, "another partner's line is not found");
        let shipped = own
            .post(
                &format!("{url}fulfil/"),
                &[
                    ("csrf_token", &t),
                    ("line", &my_line.to_string()),
                    ("tracking", "P-1"),
                ],
            )
            .await;
        assert_eq!(shipped.status, 303, "{}", shipped.body);
        assert_eq!(status_of(&app, &number).await, "Pending");
        let statuses: Vec<String> = sqlx::query("SELECT status FROM order_line ORDER BY id")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(statuses.iter().filter(|s| *s == "Shipped").count(), 1);
    }
);

/// `emporium staff add|list|remove` with the real binary; the password comes on stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_accounts_from_the_command_line() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let data = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        data.path().join("shop.db").display()
    );
    let emporium = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_emporium"))
            .args(args)
            .env("EMPORIUM_DATA_DIR", data.path())
            .env("EMPORIUM_DATABASE_URL", &db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = emporium(
        &[
            "staff",
            "add",
            "Ops@Example.com",
            "--role",
            "order-manager",
            "--password-stdin",
        ],
        Some("long enough secret\n"),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("added ops@example.com (Order manager)"),
        "{out}"
    );
    let (ok, out) = emporium(
        &["staff", "add", "ops@example.com", "--password-stdin"],
        Some("another secret"),
    );
    assert!(!ok && out.contains("already has a staff account"), "{out}");
    let (ok, out) = emporium(
        &[
            "staff",
            "add",
            "p@example.com",
            "--role",
            "partner",
            "--password-stdin",
        ],
        Some("long enough secret"),
    );
    assert!(!ok && out.contains("needs at least one --partner"), "{out}");
    let (ok, out) = emporium(
        &[
            "staff",
            "add",
            "x@example.com",
            "--role",
            "owner",
            "--password-stdin",
        ],
        Some("long enough secret"),
    );
    assert!(!ok && out.contains("unknown role"), "{out}");
    let (ok, out) = emporium(
        &["staff", "add", "short@example.com", "--password-stdin"],
        Some("short"),
    );
    assert!(!ok && out.contains("at least 8 characters"), "{out}");
    let (ok, out) = emporium(&["staff", "list"], None);
    assert!(
        ok && out.contains("ops@example.com  Order manager"),
        "{out}"
    );
    assert!(!out.contains("short@example.com"));
    // The password typed on stdin (without its newline) signs in.
    let pool = sqlx::AnyPool::connect(&db).await.unwrap();
    let hash: String =
        sqlx::query("SELECT password_hash FROM staff_user WHERE email = 'ops@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
    assert!(
        emporium::infra::password::matches("long enough secret", Some(hash))
            .await
            .unwrap()
    );
    let (ok, out) = emporium(&["staff", "remove", "ops@example.com"], None);
    assert!(ok, "{out}");
    let (ok, out) = emporium(&["staff", "remove", "ops@example.com"], None);
    assert!(!ok && out.contains("no staff user"), "{out}");
    let audit: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log WHERE actor = '(command line)'")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(audit, 2, "the add and the remove are audited");
}

/// The order's payment source: (id, captured, refunded, voided) in minor units.
async fn payment_of(app: &TestApp, number: &str) -> (i64, i64, i64, i64) {
    let row = sqlx::query(
        "SELECT s.id, s.debited_minor, s.refunded_minor, s.voided_minor FROM payment_source s \
         JOIN shop_order o ON o.id = s.order_id WHERE o.number = $1",
    )
    .bind(number)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// Posts the order page's money form `form` (its key read from a fresh page) with `fields`.
async fn money_form(
    b: &Browser,
    number: &str,
    action: &str,
    form: &str,
    fields: &[(&str, &str)],
) -> support::Page {
    let url = format!("/dashboard/orders/{number}/");
    let page = b.get(&url).await;
    let key = form_key(&page.body, form);
    let t = page.csrf_token().unwrap();
    let mut all = vec![("csrf_token", t.as_str()), ("key", key.as_str())];
    all.extend_from_slice(fields);
    b.post(&format!("{url}{action}/"), &all).await
}

both_backends!(
    staff_capture_and_refund_through_the_gateway_exactly_once,
    |app: TestApp| async move {
        let (product, _, _, _) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
        let b = staff_browser(&app, "orders@example.com").await;
        let (source, ..) = payment_of(&app, &number).await;
        let source = source.to_string();
        let url = format!("/dashboard/orders/{number}/");
        let page = b.get(&url).await;
        assert!(
            page.body.contains("Capture (up to £17.45)"),
            "{}",
            page.body
        );

        // A partial capture; the same form submitted again moves no more money.
        let key = form_key(&page.body, "capture");
        let t = page.csrf_token().unwrap();
        let capture = [
            ("csrf_token", t.as_str()),
            ("key", key.as_str()),
            ("source", source.as_str()),
            ("amount", "10.00"),
        ];
        let done = b.post(&format!("{url}capture/"), &capture).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(payment_of(&app, &number).await.1, 1000);
        let again = b.post(&format!("{url}capture/"), &capture).await;
        assert_eq!(again.status, 303);
        assert!(b.get(&url).await.body.contains("already done"));
        assert_eq!(payment_of(&app, &number).await.1, 1000, "captured once");
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM payment_event WHERE kind = 'capture'")
                .await,
            1
        );

        // More than is left, or nonsense, is refused at the form and nothing moves.
        let over = money_form(
            &b,
            &number,
            "capture",
            "capture",
            &[("source", &source), ("amount", "7.46")],
        )
        .await;
        assert_eq!(over.status, 422);
        assert!(over.body.contains("At most £7.45"), "{}", over.body);
        for (amount, message) in [
            ("ten", "Enter an amount like 12.50."),
            ("1.234", "at most 2 decimal places"),
            ("0", "above zero"),
        ] {
            let bad = money_form(
                &b,
                &number,
                "capture",
                "capture",
                &[("source", &source), ("amount", amount)],
            )
            .await;
            assert_eq!(bad.status, 422, "{amount}");
            assert!(bad.body.contains(message), "{amount}: {}", bad.body);
            assert!(
                bad.body.contains(&format!("value=\"{amount}\"")),
                "kept what was typed"
            );
        }
        assert_eq!(payment_of(&app, &number).await.1, 1000);

        // Captured money can't be left behind by a cancellation.
        let cancel = money_form(&b, &number, "cancel", "cancel", &[]).await;
        assert_eq!(cancel.status, 422);
        assert!(
            cancel.body.contains("refund it before cancelling"),
            "{}",
            cancel.body
        );
        assert_eq!(status_of(&app, &number).await, "Pending");

        // Refund by line: its total (£12.50) is more than captured so far, so that first waits
        // for the rest to be captured; a line is refunded once.
        let line = line_of(&app, &number, product).await.to_string();
        let early = money_form(
            &b,
            &number,
            "refund",
            "refund_lines",
            &[("source", &source), ("by", "lines"), ("line", &line)],
        )
        .await;
        assert_eq!(early.status, 422);
        assert!(early.body.contains("At most £10.00"), "{}", early.body);
        let rest = money_form(
            &b,
            &number,
            "capture",
            "capture",
            &[("source", &source), ("amount", "7.45")],
        )
        .await;
        assert_eq!(rest.status, 303, "{}", rest.body);
        let by_line = money_form(
            &b,
            &number,
            "refund",
            "refund_lines",
            &[("source", &source), ("by", "lines"), ("line", &line)],
        )
        .await;
        assert_eq!(by_line.status, 303, "{}", by_line.body);
        assert_eq!(payment_of(&app, &number).await.2, 1250);
        let page = b.get(&url).await;
        let key = form_key(&page.body, "refund_lines");
        let twice = b
            .post(
                &format!("{url}refund/"),
                &[
                    ("csrf_token", &t),
                    ("key", &key),
                    ("source", &source),
                    ("by", "lines"),
                    ("line", &line),
                ],
            )
            .await;
        assert_eq!(twice.status, 422);
        assert!(
            twice.body.contains("was already refunded"),
            "{}",
            twice.body
        );

        // The rest by amount; then nothing is left to refund.
        let shipping = money_form(
            &b,
            &number,
            "refund",
            "refund_amount",
            &[("source", &source), ("by", "amount"), ("amount", "4.95")],
        )
        .await;
        assert_eq!(shipping.status, 303, "{}", shipping.body);
        assert_eq!(
            payment_of(&app, &number).await,
            (source.parse().unwrap(), 1745, 1745, 0)
        );
        let page = b.get(&url).await;
        assert!(
            !page.body.contains("data-key=\"refund_amount\""),
            "nothing left to refund"
        );

        // The timeline and the audit log have every action, with who took it.
        for line in [
            "Captured £10.00",
            "Captured £7.45",
            "Refunded £12.50",
            "Refunded £4.95",
        ] {
            assert!(page.body.contains(line), "{line}: {}", page.body);
        }
        let audited = app
            .scalar_i64(
                "SELECT COUNT(*) FROM audit_log WHERE actor = 'orders@example.com' \
                 AND action IN ('order.capture', 'order.refund')",
            )
            .await;
        assert_eq!(audited, 4);

        // Roles without payments, and partner users, can't move money.
        add_staff(&app, "cat@example.com", Role::CatalogueManager, &[]).await;
        let cat = staff_browser(&app, "cat@example.com").await;
        let t = token(&cat).await;
        let refused = cat
            .post(
                &format!("{url}capture/"),
                &[
                    ("csrf_token", &t),
                    ("key", &"k".repeat(32)),
                    ("source", &source),
                    ("amount", "1.00"),
                ],
            )
            .await;
        assert_eq!(refused.status, 403);
        assert!(!cat.get(&url).await.body.contains("data-key="));
    }
);

both_backends!(
    two_captures_at_once_never_take_more_than_was_authorised,
    |app: TestApp| async move {
        let (product, _, _, _) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
        let b = staff_browser(&app, "orders@example.com").await;
        let (source, ..) = payment_of(&app, &number).await;
        let source = source.to_string();
        let url = format!("/dashboard/orders/{number}/");
        let page = b.get(&url).await;
        let t = page.csrf_token().unwrap();
        // Two different forms for £10 each (two members of staff), and one form sent twice.
        let (k1, k2) = ("a".repeat(32), "b".repeat(32));
        let post = |key: String| {
            let (b, url, t, source) = (&b, &url, &t, &source);
            async move {
                b.post(
                    &format!("{url}capture/"),
                    &[
                        ("csrf_token", t.as_str()),
                        ("key", key.as_str()),
                        ("source", source.as_str()),
                        ("amount", "10.00"),
                    ],
                )
                .await
                .status
            }
        };
        let (s1, s2, s3) = tokio::join!(post(k1.clone()), post(k2), post(k1));
        let statuses = [s1, s2, s3];
        assert!(
            statuses.iter().all(|s| *s == 303 || *s == 422),
            "{statuses:?}"
        );
        assert_eq!(payment_of(&app, &number).await.1, 1000, "{statuses:?}");
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM payment_operation WHERE state = 'succeeded'")
                .await,
            1
        );
        assert_eq!(
            app.scalar_i64("SELECT capturing_minor FROM payment_source")
                .await,
            0,
            "no reservation left behind"
        );
    }
);

both_backends!(
    a_refusing_gateway_changes_nothing_and_cancel_voids_the_payment,
    |app: TestApp| async move {
        let (product, record, _, _) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        emporium::plugins::lifecycle::service::configure(
            &app.state.db,
            &app.state.plugins,
            emporium::audit::Actor::CommandLine,
            "test-card-gateway",
            &[("refuse".to_owned(), "capture,void".to_owned())],
        )
        .await
        .unwrap();
        add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
        let b = staff_browser(&app, "admin@example.com").await;
        let (source, ..) = payment_of(&app, &number).await;
        let source = source.to_string();
        let allocated = || async {
            let n: i64 = sqlx::query("SELECT num_allocated FROM stock_record WHERE id = $1")
                .bind(record)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap()
                .get(0);
            n
        };
        assert_eq!(allocated().await, 1);

        // The gateway's message is shown; no money, status or stock moved.
        let capture = money_form(
            &b,
            &number,
            "capture",
            "capture",
            &[("source", &source), ("amount", "17.45")],
        )
        .await;
        assert_eq!(capture.status, 422);
        assert!(
            capture.body.contains("refuses every capture"),
            "{}",
            capture.body
        );
        assert!(capture.body.contains("Nothing was changed."));
        let cancel = money_form(&b, &number, "cancel", "cancel", &[("note", "out of stock")]).await;
        assert_eq!(cancel.status, 422);
        assert!(
            cancel.body.contains("refuses every void"),
            "{}",
            cancel.body
        );
        assert_eq!(
            payment_of(&app, &number).await.1..=payment_of(&app, &number).await.3,
            0..=0
        );
        assert_eq!(status_of(&app, &number).await, "Pending");
        assert_eq!(allocated().await, 1, "stock still held");
        assert_eq!(
            app.scalar_text("SELECT state FROM payment_claim").await,
            "ordered"
        );
        let page = b.get(&format!("/dashboard/orders/{number}/")).await;
        assert!(
            page.body.contains("Capture of £17.45 failed"),
            "{}",
            page.body
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'order.capture'")
                .await,
            1,
            "the failed attempt is recorded"
        );

        // Once the provider agrees, cancelling voids the authorization and releases the stock.
        emporium::plugins::lifecycle::service::configure(
            &app.state.db,
            &app.state.plugins,
            emporium::audit::Actor::CommandLine,
            "test-card-gateway",
            &[("refuse".to_owned(), String::new())],
        )
        .await
        .unwrap();
        let cancel = money_form(&b, &number, "cancel", "cancel", &[("note", "out of stock")]).await;
        assert_eq!(cancel.status, 303, "{}", cancel.body);
        assert_eq!(status_of(&app, &number).await, "Cancelled");
        assert_eq!(payment_of(&app, &number).await.3, 1745, "voided");
        assert_eq!(allocated().await, 0, "stock released");
        assert_eq!(
            app.scalar_text("SELECT state FROM payment_claim").await,
            "voided"
        );
        let page = b.get(&format!("/dashboard/orders/{number}/")).await;
        assert!(page.body.contains("Voided £17.45"), "{}", page.body);
        assert!(
            !page.body.contains("data-key=\"capture\""),
            "a cancelled order takes no capture"
        );
    }
);

both_backends!(
    an_action_whose_answer_was_never_recorded_is_settled_by_hand,
    |app: TestApp| async move {
        let (product, _, _, _) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
        let b = staff_browser(&app, "orders@example.com").await;
        let (source, ..) = payment_of(&app, &number).await;
        // What a shop that stopped while the gateway answered leaves behind: the action
        // pending with its amount reserved.
        sqlx::query("UPDATE payment_source SET capturing_minor = 1745 WHERE id = $1")
            .bind(source)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO payment_operation (order_id, source_id, kind, amount_minor, idempotency_key, \
             state, actor, created_at, updated_at) SELECT order_id, id, 'capture', 1745, 'lost', \
             'pending', 'orders@example.com', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' \
             FROM payment_source WHERE id = $1",
        )
        .bind(source)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        let url = format!("/dashboard/orders/{number}/");
        let page = b.get(&url).await;
        assert!(
            page.body.contains("Capture of £17.45: with the gateway"),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("data-key=\"capture\""),
            "nothing left to capture meanwhile"
        );
        let cancel = money_form(&b, &number, "cancel", "cancel", &[]).await;
        assert_eq!(cancel.status, 422);
        assert!(
            cancel.body.contains("settle it below first"),
            "{}",
            cancel.body
        );

        let operation = app.scalar_i64("SELECT id FROM payment_operation").await;
        let t = page.csrf_token().unwrap();
        let settled = b
            .post(
                &format!("{url}payments/{operation}/resolve/"),
                &[("csrf_token", &t), ("outcome", "moved")],
            )
            .await;
        assert_eq!(settled.status, 303, "{}", settled.body);
        assert_eq!(payment_of(&app, &number).await.1, 1745);
        assert_eq!(
            app.scalar_i64("SELECT capturing_minor FROM payment_source")
                .await,
            0
        );
        // Settling twice (a second click) changes nothing.
        let again = b
            .post(
                &format!("{url}payments/{operation}/resolve/"),
                &[("csrf_token", &t), ("outcome", "not_moved")],
            )
            .await;
        assert_eq!(again.status, 422);
        assert!(again.body.contains("already settled"), "{}", again.body);
        assert_eq!(payment_of(&app, &number).await.1, 1745);
    }
);

both_backends!(
    the_order_list_filters_by_payment_amount_partner_and_customer,
    |app: TestApp| async move {
        let (product, _, partner, _) = product_at_1250(&app).await;
        let first = guest_order(&app, product).await;
        // A second order, of two items (£25.00 + £4.95), by another guest.
        let buyer = app.browser();
        add(&buyer, product, 2).await;
        let preview =
            to_preview(&buyer, Some("grace@example.com"), None, "test-card-gateway").await;
        assert_eq!(place(&buyer, &preview, Some(GOOD_CARD)).await.status, 303);
        let second = app
            .scalar_text("SELECT number FROM shop_order WHERE email = 'grace@example.com'")
            .await;
        add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
        let b = staff_browser(&app, "orders@example.com").await;
        let (source, ..) = payment_of(&app, &first).await;
        let captured = money_form(
            &b,
            &first,
            "capture",
            "capture",
            &[("source", &source.to_string()), ("amount", "17.45")],
        )
        .await;
        assert_eq!(captured.status, 303);

        let listed = |query: &'static str| {
            let b = &b;
            async move {
                let page = b.get(&format!("/dashboard/orders/?{query}")).await;
                assert_eq!(page.status, 200, "{query}: {}", page.body);
                page.body
            }
        };
        // The list links each order it shows (the URL as the template escapes it).
        let links = |body: &str, number: &str| body.contains(&format!("{number}&#x2f;\""));
        let only =
            |body: &str, number: &str, other: &str| links(body, number) && !links(body, other);
        let body = listed("payment=captured").await;
        assert!(only(&body, &first, &second), "{body}");
        let body = listed("payment=authorised").await;
        assert!(only(&body, &second, &first), "{body}");
        let body = listed("min_total=20").await;
        assert!(only(&body, &second, &first), "{body}");
        let body = listed("max_total=%C2%A317.45").await;
        assert!(only(&body, &first, &second), "{body}");
        let body = listed("q=GRACE").await;
        assert!(only(&body, &second, &first), "{body}");
        // Both orders took the partner's stock; an unknown partner has none, a customer
        // number nobody has no orders.
        let body = b
            .get(&format!("/dashboard/orders/?partner={partner}"))
            .await
            .body;
        assert!(body.contains("2 orders"), "{body}");
        assert!(listed("partner=nobody").await.contains("0 orders"));
        assert!(listed("customer=424242").await.contains("0 orders"));
        // What can't be used is a field error, with what was typed kept.
        let bad = b
            .get("/dashboard/orders/?min_total=lots&payment=paid")
            .await;
        assert_eq!(bad.status, 422);
        assert!(
            bad.body.contains("Enter an amount like 25.00."),
            "{}",
            bad.body
        );
        assert!(bad.body.contains("value=\"lots\""));
        assert!(bad.body.contains("Choose a payment state from the list."));
    }
);

both_backends!(
    filters_are_saved_and_the_filtered_list_exports_as_csv_in_the_background,
    |app: TestApp| async move {
        let (product, _, _, _) = product_at_1250(&app).await;
        let first = guest_order(&app, product).await;
        let buyer = app.browser();
        add(&buyer, product, 2).await;
        let preview =
            to_preview(&buyer, Some("grace@example.com"), None, "test-card-gateway").await;
        assert_eq!(place(&buyer, &preview, Some(GOOD_CARD)).await.status, 303);
        add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
        add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
        let b = staff_browser(&app, "orders@example.com").await;
        let t = token(&b).await;

        // A filter kept under a name comes back as a link; a bad name is a field error.
        let unnamed = b
            .post(
                "/dashboard/orders/filters/",
                &[("csrf_token", &t), ("name", " "), ("max_total", "20")],
            )
            .await;
        assert_eq!(unnamed.status, 422);
        assert!(
            unnamed.body.contains("Give the filter a name"),
            "{}",
            unnamed.body
        );
        assert!(
            unnamed.body.contains("value=\"20\""),
            "the filters are kept"
        );
        let saved = b
            .post(
                "/dashboard/orders/filters/",
                &[
                    ("csrf_token", &t),
                    ("name", "Small orders"),
                    ("max_total", "20"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let list = b.get("/dashboard/orders/").await;
        assert!(list.body.contains("Small orders"), "{}", list.body);
        assert!(list.body.contains("max_total=20"));
        let viewer = staff_browser(&app, "viewer@example.com").await;
        assert!(
            !viewer
                .get("/dashboard/orders/")
                .await
                .body
                .contains("Small orders"),
            "each user's own"
        );

        // The export of the filtered list: a job with a progress page, then the file.
        let started = b
            .post(
                "/dashboard/orders/export/",
                &[("csrf_token", &t), ("max_total", "20")],
            )
            .await;
        assert_eq!(started.status, 303, "{}", started.body);
        let job_url = started.location.clone().unwrap();
        assert!(job_url.starts_with("/dashboard/exports/"), "{job_url}");
        let mut page = b.get(&job_url).await;
        for _ in 0..100 {
            if !page.body.contains("data-export=\"running\"") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            page = b.get(&job_url).await;
        }
        assert!(page.body.contains("data-export=\"done\""), "{}", page.body);
        assert!(page.body.contains("1 order exported"), "{}", page.body);
        let download = b
            .client
            .get(format!("{}{job_url}download/", b.base))
            .send()
            .await
            .unwrap();
        assert_eq!(download.status(), 200);
        assert!(
            download.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("attachment")
        );
        let csv = download.text().await.unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 2, "{csv}");
        assert!(
            rows[0].starts_with("number,placed_at,status,email,name"),
            "{csv}"
        );
        assert!(rows[1].starts_with(&format!("{first},")), "{csv}");
        assert!(
            rows[1].contains("ada@example.com") && rows[1].contains(",17.45,"),
            "{csv}"
        );
        // Nobody else's to see or download.
        assert_eq!(viewer.get(&job_url).await.status, 404);
        assert_eq!(viewer.get(&format!("{job_url}download/")).await.status, 404);

        // Deleting the filter.
        let id = app.scalar_i64("SELECT id FROM saved_order_filter").await;
        let gone = b
            .post(
                &format!("/dashboard/orders/filters/{id}/delete/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert_eq!(gone.status, 303);
        assert!(
            !b.get("/dashboard/orders/")
                .await
                .body
                .contains("Small orders")
        );
        let t = token(&viewer).await;
        let not_theirs = viewer
            .post(
                &format!("/dashboard/orders/filters/{id}/delete/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert_eq!(not_theirs.status, 404);
    }
);

/// The partner of a stock record.
async fn partner_of(app: &TestApp, record: i64) -> i64 {
    sqlx::query("SELECT partner_id FROM stock_record WHERE id = $1")
        .bind(record)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get(0)
}

/// (num_in_stock, num_allocated) of a stock record.
async fn stock_of(app: &TestApp, record: i64) -> (i64, i64) {
    let row = sqlx::query("SELECT num_in_stock, num_allocated FROM stock_record WHERE id = $1")
        .bind(record)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

both_backends!(
    lines_move_on_their_own_and_stock_follows_them_once,
    |app: TestApp| async move {
        let (kept, kept_record, _, _) = product_at_1250(&app).await;
        let (dropped, dropped_record, _, _) = product_at_1250(&app).await;
        app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
            .await;
        app.install_plugin("test-card-gateway", &[], &[]).await;
        let buyer = app.browser();
        add(&buyer, kept, 1).await;
        add(&buyer, dropped, 2).await;
        let preview = to_preview(&buyer, Some("ada@example.com"), None, "test-card-gateway").await;
        assert_eq!(place(&buyer, &preview, Some(GOOD_CARD)).await.status, 303);
        let number = app.scalar_text("SELECT number FROM shop_order").await;
        assert_eq!(stock_of(&app, dropped_record).await, (10, 2));
        add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
        let b = staff_browser(&app, "orders@example.com").await;
        let t = token(&b).await;
        let url = format!("/dashboard/orders/{number}/");
        let (kept_line, dropped_line) = (
            line_of(&app, &number, kept).await.to_string(),
            line_of(&app, &number, dropped).await.to_string(),
        );

        // A move the line pipeline doesn't have is refused, and nothing changes.
        let refused = b
            .post(
                &format!("{url}lines/status/"),
                &[
                    ("csrf_token", &t),
                    ("line", &dropped_line),
                    ("status", "Returned"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422);
        assert!(
            refused
                .body
                .contains("A line that is Pending can&#x27;t become Returned"),
            "{}",
            refused.body
        );
        // Cancelling one line gives its stock back; the order goes on.
        let cancelled = b
            .post(
                &format!("{url}lines/status/"),
                &[
                    ("csrf_token", &t),
                    ("line", &dropped_line),
                    ("status", "Cancelled"),
                ],
            )
            .await;
        assert_eq!(cancelled.status, 303, "{}", cancelled.body);
        assert_eq!(stock_of(&app, dropped_record).await, (10, 0));
        assert_eq!(status_of(&app, &number).await, "Pending");

        // Shipping the other takes its unit out of stock; the order is then shipped.
        let shipped = b
            .post(
                &format!("{url}fulfil/"),
                &[
                    ("csrf_token", &t),
                    ("line", &kept_line),
                    ("tracking", "TRK-1"),
                ],
            )
            .await;
        assert_eq!(shipped.status, 303, "{}", shipped.body);
        assert_eq!(stock_of(&app, kept_record).await, (9, 0));
        assert_eq!(status_of(&app, &number).await, "Shipped");
        let returned = b
            .post(
                &format!("{url}lines/status/"),
                &[
                    ("csrf_token", &t),
                    ("line", &kept_line),
                    ("status", "Returned"),
                ],
            )
            .await;
        assert_eq!(returned.status, 303, "{}", returned.body);
        // Neither line's stock moved again.
        assert_eq!(stock_of(&app, kept_record).await, (9, 0));
        assert_eq!(stock_of(&app, dropped_record).await, (10, 0));
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'order.line_status'")
                .await,
            2
        );
    }
);

both_backends!(
    cancelling_an_order_releases_only_what_its_lines_still_hold,
    |app: TestApp| async move {
        let (first, first_record, _, _) = product_at_1250(&app).await;
        let (second, second_record, _, _) = product_at_1250(&app).await;
        app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
            .await;
        app.install_plugin("test-card-gateway", &[], &[]).await;
        let buyer = app.browser();
        add(&buyer, first, 1).await;
        add(&buyer, second, 3).await;
        let preview = to_preview(&buyer, Some("ada@example.com"), None, "test-card-gateway").await;
        assert_eq!(place(&buyer, &preview, Some(GOOD_CARD)).await.status, 303);
        let number = app.scalar_text("SELECT number FROM shop_order").await;
        // Someone else holds one more unit of the first product.
        sqlx::query("UPDATE stock_record SET num_allocated = num_allocated + 1 WHERE id = $1")
            .bind(first_record)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
        let b = staff_browser(&app, "admin@example.com").await;
        let t = token(&b).await;
        let url = format!("/dashboard/orders/{number}/");
        let line = line_of(&app, &number, first).await.to_string();
        let cancelled = b
            .post(
                &format!("{url}lines/status/"),
                &[("csrf_token", &t), ("line", &line), ("status", "Cancelled")],
            )
            .await;
        assert_eq!(cancelled.status, 303);
        assert_eq!(stock_of(&app, first_record).await, (10, 1));
        let cancel = money_form(&b, &number, "cancel", "cancel", &[]).await;
        assert_eq!(cancel.status, 303, "{}", cancel.body);
        assert_eq!(status_of(&app, &number).await, "Cancelled");
        assert_eq!(
            stock_of(&app, first_record).await,
            (10, 1),
            "the other shopper's unit stays held"
        );
        assert_eq!(stock_of(&app, second_record).await, (10, 0));
    }
);

/// Every dashboard route and its methods, read from the source (so a new route is covered
/// the day it is added, or this test says what it needs to know about it).
fn dashboard_routes() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let dir = support::repo_root().join("host/src/web/dashboard");
    for (path, methods) in support::routes::routes_under(&dir) {
        let m = methods.replace(char::is_whitespace, "");
        if m.starts_with("get(") || m.contains(".get(") {
            out.push((path.clone(), "GET"));
        }
        if m.starts_with("post(") || m.contains(".post(") {
            out.push((path, "POST"));
        }
    }
    assert!(out.len() > 20, "read the routes: {out:?}");
    out
}

/// `route` with its placeholders filled from `ids`; a placeholder this test doesn't know
/// fails it (add a real object for it).
fn filled(route: &str, ids: &[(&str, String)]) -> String {
    let mut path = route.to_owned();
    for (name, value) in ids {
        path = path.replace(&format!("{{{name}}}"), value);
    }
    assert!(
        !path.contains('{'),
        "the access matrix needs a value for a placeholder of {route}"
    );
    path
}

/// Routes anyone may reach: signing in and out.
const OPEN: [&str; 3] = ["/dashboard/login/", "/dashboard/logout/", "/dashboard"];
/// Writes that are a user's own (their saved filters, their exports), allowed to every role.
const OWN: [&str; 5] = [
    "/dashboard/orders/filters/",
    "/dashboard/orders/filters/{filter_id}/delete/",
    "/dashboard/orders/export/",
    "/dashboard/reports/export/",
    "/dashboard/catalogue/export/",
];

/// Pages only administrators see (the shop's themes).
const ADMIN_ONLY: [&str; 2] = [
    "/dashboard/themes/",
    "/dashboard/themes/{theme}/screenshot/",
];

both_backends!(
    every_dashboard_route_keeps_out_whoever_may_not_use_it,
    |app: TestApp| async move {
        let (product, record, partner, _) = product_at_1250(&app).await;
        let number = guest_order(&app, product).await;
        emporium::partner::create_partner(&app.state.db.pool, "elsewhere", "Elsewhere Ltd")
            .await
            .unwrap();
        let hash = emporium::customer::hash_password("correct horse".into())
            .await
            .unwrap();
        emporium::customer::register(
            &app.state.db,
            &app.state.templates,
            "Shop",
            "walker@example.com",
            &hash,
        )
        .await
        .unwrap();
        let customer = app
            .scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM customer")
            .await;
        add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
        let admin = staff_browser(&app, "admin@example.com").await;
        // One of each object a route can name: a filter and an export of the admin's.
        let t = token(&admin).await;
        admin
            .post(
                "/dashboard/orders/filters/",
                &[("csrf_token", &t), ("name", "Mine"), ("status", "Pending")],
            )
            .await;
        admin
            .post("/dashboard/orders/export/", &[("csrf_token", &t)])
            .await;
        let ids: Vec<(&str, String)> = vec![
            ("number", number.clone()),
            ("product_id", product.to_string()),
            ("stock_id", record.to_string()),
            ("customer_id", customer.to_string()),
            ("operation", "1".into()),
            (
                "filter_id",
                app.scalar_i64("SELECT id FROM saved_order_filter")
                    .await
                    .to_string(),
            ),
            (
                "export_id",
                app.scalar_i64("SELECT id FROM export_job")
                    .await
                    .to_string(),
            ),
            ("partner_id", partner_of(&app, record).await.to_string()),
            (
                "category_id",
                app.scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM category")
                    .await
                    .to_string(),
            ),
            (
                "class_id",
                app.scalar_i64("SELECT CAST(MIN(product_class_id) AS BIGINT) FROM product")
                    .await
                    .to_string(),
            ),
            (
                "attribute_id",
                app.scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM product_attribute")
                    .await
                    .to_string(),
            ),
            ("image_id", {
                sqlx::query(
                    "INSERT INTO product_image (product_id, original, caption, display_order, width, height) \
                     VALUES ($1, 'demo/book-0.svg', 'matrix', 0, 10, 10)",
                )
                .bind(product)
                .execute(&app.state.db.pool)
                .await
                .unwrap();
                app.scalar_i64("SELECT CAST(MAX(id) AS BIGINT) FROM product_image")
                    .await
                    .to_string()
            }),
            (
                "staff_id",
                app.scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM staff_user")
                    .await
                    .to_string(),
            ),
            ("template", "order_shipped".into()),
            // No plugin is installed and no directory configured: those pages are 404s.
            ("plugin_id", "no-such-plugin".into()),
            ("version", "1.0.0".into()),
            ("theme", "harbour".into()),
            // No offer exists: its page is a 404, its status form refused or a 404.
            ("offer_id", "999999".into()),
        ];
        let routes = dashboard_routes();
        let audited = || app.scalar_i64("SELECT COUNT(*) FROM audit_log");
        let before = audited().await;

        // Nobody signed in to the dashboard (a visitor, a signed-in customer): every page
        // sends them to sign in, every action is refused.
        let visitor = app.browser();
        let customer_browser = app.browser();
        let t = customer_browser
            .get("/accounts/login/")
            .await
            .csrf_token()
            .unwrap();
        let signed_in = customer_browser
            .post(
                "/accounts/login/",
                &[
                    ("csrf_token", &t),
                    ("email", "walker@example.com"),
                    ("password", "correct horse"),
                ],
            )
            .await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        for who in [&visitor, &customer_browser] {
            let t = who.get("/dashboard/login/").await.csrf_token().unwrap();
            for (route, method) in &routes {
                if OPEN.contains(&route.as_str()) {
                    continue;
                }
                let path = filled(route, &ids);
                let page = match *method {
                    "GET" => who.get(&path).await,
                    _ => who.post(&path, &[("csrf_token", &t)]).await,
                };
                match *method {
                    "GET" => {
                        assert_eq!(page.status, 303, "{method} {path}");
                        assert!(
                            page.location
                                .as_deref()
                                .unwrap_or_default()
                                .starts_with("/dashboard/login/"),
                            "{method} {path}"
                        );
                    }
                    _ => assert_eq!(page.status, 403, "{method} {path}: {}", page.body),
                }
            }
        }
        assert_eq!(audited().await, before, "nothing changed");

        // Read-only staff see every page and change nothing but their own filters and exports.
        add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
        let viewer = staff_browser(&app, "viewer@example.com").await;
        let t = token(&viewer).await;
        // (Adding a staff user is itself audited.)
        let before = audited().await;
        for (route, method) in &routes {
            if OPEN.contains(&route.as_str()) || OWN.contains(&route.as_str()) {
                continue;
            }
            let path = filled(route, &ids);
            let page = match *method {
                "GET" => viewer.get(&path).await,
                _ => viewer.post(&path, &[("csrf_token", &t)]).await,
            };
            match *method {
                "GET" if ADMIN_ONLY.contains(&route.as_str()) => {
                    assert_eq!(page.status, 403, "GET {path}")
                }
                "GET" => assert!(
                    [200, 404].contains(&page.status),
                    "GET {path}: {}",
                    page.status
                ),
                _ => assert_eq!(page.status, 403, "POST {path}: {}", page.body),
            }
        }
        assert_eq!(audited().await, before, "read-only changed nothing");

        // A partner user of another partner finds nothing of this partner's: every route
        // about the order, the product or its stock is a 404 and changes nothing.
        add_staff(&app, "other@example.com", Role::Partner, &["elsewhere"]).await;
        let other = staff_browser(&app, "other@example.com").await;
        let t = token(&other).await;
        let before = audited().await;
        for (route, method) in &routes {
            let names_theirs = ["{number}", "{product_id}", "{stock_id}", "{partner_id}"]
                .iter()
                .any(|p| route.contains(p));
            if !names_theirs {
                continue;
            }
            let path = filled(route, &ids);
            let page = match *method {
                "GET" => other.get(&path).await,
                _ => other.post(&path, &[("csrf_token", &t)]).await,
            };
            assert!(
                [403, 404].contains(&page.status),
                "{method} {path} as another partner: {}",
                page.status
            );
            if *method == "GET" {
                assert_eq!(page.status, 404, "GET {path} as another partner");
            }
        }
        assert_eq!(audited().await, before, "another partner changed nothing");

        // Every role (and this partner's own user) gets an answer from every page, never an
        // error.
        for (email, role, partners) in [
            ("cat@example.com", Role::CatalogueManager, vec![]),
            ("orders@example.com", Role::OrderManager, vec![]),
            ("own@example.com", Role::Partner, vec![partner.as_str()]),
        ] {
            add_staff(&app, email, role, &partners).await;
        }
        for email in [
            "admin@example.com",
            "cat@example.com",
            "orders@example.com",
            "own@example.com",
        ] {
            let b = staff_browser(&app, email).await;
            for (route, method) in &routes {
                if *method != "GET" || OPEN.contains(&route.as_str()) {
                    continue;
                }
                let path = filled(route, &ids);
                let status = b.get(&path).await.status;
                assert!(
                    [200, 403, 404].contains(&status),
                    "GET {path} as {email}: {status}"
                );
            }
        }
    }
);

both_backends!(
    a_partner_has_an_address_and_users_that_administrators_manage,
    |app: TestApp| async move {
        let (_, record, code, _) = product_at_1250(&app).await;
        let partner = partner_of(&app, record).await;
        add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
        add_staff(&app, "own@example.com", Role::Partner, &[&code]).await;
        let admin = staff_browser(&app, "admin@example.com").await;
        let t = token(&admin).await;
        let url = format!("/dashboard/partners/{partner}/");
        assert!(
            admin
                .get("/dashboard/partners/")
                .await
                .body
                .contains(&format!("/dashboard/partners/{partner}/"))
        );

        // The address is checked like any address, and what was typed is kept.
        let bad = admin
            .post(
                &url,
                &[
                    ("csrf_token", &t),
                    ("partner_name", "North Warehouse"),
                    ("line1", "1 Dock Road"),
                    ("country", "ZZ"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("value=\"1 Dock Road\""), "{}", bad.body);
        let saved = admin
            .post(
                &url,
                &[
                    ("csrf_token", &t),
                    ("partner_name", "North Warehouse"),
                    ("name", "Dispatch"),
                    ("line1", "1 Dock Road"),
                    ("city", "Hull"),
                    ("postcode", "hu1 1aa"),
                    ("country", "gb"),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let page = admin.get(&url).await;
        assert!(
            page.body.contains("North Warehouse") && page.body.contains("HU1 1AA"),
            "{}",
            page.body
        );

        // Users: added with a password they sign in with, removed again.
        let weak = admin
            .post(
                &format!("{url}users/"),
                &[
                    ("csrf_token", &t),
                    ("email", "new@example.com"),
                    ("password", "x"),
                ],
            )
            .await;
        assert_eq!(weak.status, 422);
        assert!(
            weak.body.contains("value=\"new@example.com\"") && !weak.body.contains("value=\"x\"")
        );
        let added = admin
            .post(
                &format!("{url}users/"),
                &[
                    ("csrf_token", &t),
                    ("email", "new@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
        let newcomer = staff_browser(&app, "new@example.com").await;
        assert_eq!(newcomer.get(&url).await.status, 200, "their own partner");
        let id = app
            .scalar_i64("SELECT id FROM staff_user WHERE email = 'new@example.com'")
            .await;
        let removed = admin
            .post(&format!("{url}users/{id}/remove/"), &[("csrf_token", &t)])
            .await;
        assert_eq!(removed.status, 303);
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM staff_user WHERE email = 'new@example.com'")
                .await,
            0
        );
        assert_eq!(
            newcomer.get(&url).await.status,
            303,
            "signed out: the account is gone"
        );

        // The partner's own user edits its address but not its users.
        let own = staff_browser(&app, "own@example.com").await;
        let page = own.get(&url).await;
        assert!(
            page.body.contains("Save partner") && !page.body.contains("Add a user"),
            "{}",
            page.body
        );
        let ot = token(&own).await;
        let refused = own
            .post(
                &format!("{url}users/"),
                &[
                    ("csrf_token", &ot),
                    ("email", "sneaky@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(refused.status, 403);
        let audited = app
            .scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action IN ('partner.update', 'partner.remove_user') AND actor = 'admin@example.com'")
            .await;
        assert_eq!(audited, 2);
    }
);
