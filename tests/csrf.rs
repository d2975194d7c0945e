//! CSRF over every route of the router: each state-changing route refuses a missing or a wrong
//! token (and a cross-site post), and changes nothing when it does; the list of those routes
//! is checked against the router's source, so a new POST route without an entry here fails
//! this test. The payment webhook is outside the session and CSRF layers on purpose and is
//! checked separately: it must not act on (or even read) a session cookie.

mod support;

use std::collections::BTreeSet;

use emporium::fixtures::ProductBuilder;
use emporium::session::store_key;
use support::routes::{routes_in, rust_files};
use support::{Backend, Browser, TestApp, repo_root, shopper};

/// Every route that changes state, as the router spells it. Order matters for the final pass
/// with the right token (the line is removed near the end, the visitor signs out last).
const STATE_CHANGING: &[&str] = &[
    "/basket/add/{product_id}/",
    "/basket/lines/{line_id}/quantity/",
    "/basket/lines/{line_id}/save/",
    "/basket/lines/{line_id}/restore/",
    "/basket/vouchers/add/",
    "/basket/vouchers/remove/",
    "/checkout/gateway/",
    "/checkout/shipping-address/",
    "/checkout/shipping-method/",
    "/checkout/payment-method/",
    "/checkout/place/",
    "/accounts/addresses/new/",
    "/accounts/addresses/{address_id}/edit/",
    "/accounts/addresses/{address_id}/default/",
    "/accounts/addresses/{address_id}/delete/",
    "/dashboard/orders/{number}/status/",
    "/dashboard/orders/{number}/notes/",
    "/dashboard/orders/{number}/fulfil/",
    "/dashboard/orders/{number}/lines/status/",
    "/dashboard/orders/{number}/capture/",
    "/dashboard/orders/{number}/refund/",
    "/dashboard/orders/{number}/payments/{operation}/resolve/",
    "/dashboard/orders/{number}/cancel/",
    "/dashboard/orders/filters/",
    // A range, then an offer over it (the database's first of each), then its status, a
    // voucher for it and a set of two.
    "/dashboard/ranges/",
    "/dashboard/offers/new/",
    "/dashboard/offers/{offer_id}/status/",
    "/dashboard/vouchers/",
    "/dashboard/vouchers/sets/",
    "/dashboard/orders/filters/{filter_id}/delete/",
    "/dashboard/orders/export/",
    "/dashboard/reports/export/",
    "/dashboard/stock/{stock_id}/adjust/",
    "/dashboard/customers/{customer_id}/active/",
    "/dashboard/customers/{customer_id}/password-reset/",
    "/dashboard/partners/",
    "/dashboard/catalogue/bulk/",
    "/dashboard/catalogue/products/new/",
    "/dashboard/catalogue/products/{product_id}/",
    "/dashboard/catalogue/products/{product_id}/stock/",
    "/dashboard/catalogue/products/{product_id}/stock/{stock_id}/",
    "/dashboard/catalogue/categories/",
    "/dashboard/catalogue/categories/{category_id}/",
    "/dashboard/catalogue/categories/{category_id}/move/",
    "/dashboard/catalogue/categories/{category_id}/order/",
    "/dashboard/catalogue/classes/",
    "/dashboard/catalogue/classes/{class_id}/",
    "/dashboard/catalogue/classes/{class_id}/options/",
    "/dashboard/catalogue/classes/{class_id}/options/new/",
    "/dashboard/catalogue/classes/{class_id}/attributes/",
    "/dashboard/catalogue/classes/{class_id}/attributes/{attribute_id}/",
    "/dashboard/catalogue/classes/{class_id}/attributes/{attribute_id}/delete/",
    "/dashboard/partners/{partner_id}/",
    "/dashboard/partners/{partner_id}/users/",
    "/dashboard/partners/{partner_id}/users/{staff_id}/remove/",
    "/dashboard/catalogue/products/{product_id}/images/upload/",
    "/dashboard/catalogue/products/{product_id}/images/{image_id}/caption/",
    "/dashboard/catalogue/products/{product_id}/images/{image_id}/move/",
    "/dashboard/catalogue/products/{product_id}/images/{image_id}/delete/",
    "/dashboard/catalogue/import/",
    "/dashboard/catalogue/export/",
    "/dashboard/catalogue/categories/{category_id}/image/upload/",
    "/dashboard/catalogue/categories/{category_id}/image/caption/",
    "/dashboard/catalogue/categories/{category_id}/image/delete/",
    "/accounts/password/",
    "/accounts/email/",
    "/accounts/sign-out-everywhere/",
    "/accounts/delete/",
    "/alerts/products/{product_id}/",
    "/alerts/confirm/{token}/",
    "/accounts/alerts/{alert_id}/cancel/",
    "/alerts/unsubscribe/{token}/",
    // The customer's own review (made below; deleted last of these), on the product of `fill`.
    "/catalogue/{slug_id}/reviews/add/",
    // Approved first: only approved reviews take votes.
    "/dashboard/reviews/moderate/",
    "/reviews/{review_id}/vote/",
    "/accounts/reviews/{review_id}/edit/",
    "/accounts/reviews/{review_id}/delete/",
    // The customer's one notification (made below): read, archived, then deleted.
    "/accounts/notifications/read-all/",
    "/accounts/notifications/{notification_id}/read/",
    "/accounts/notifications/{notification_id}/archive/",
    "/accounts/notifications/{notification_id}/delete/",
    "/dashboard/content/emails/{template}/",
    "/dashboard/content/emails/{template}/reset/",
    // The flat-rate plugin installed below: its settings, hosts, off and on again; nothing to
    // roll back to and no directory to install or upgrade from; removed last.
    "/dashboard/plugins/install/",
    "/dashboard/plugins/{plugin_id}/config/",
    "/dashboard/plugins/{plugin_id}/permissions/",
    "/dashboard/plugins/{plugin_id}/disable/",
    "/dashboard/plugins/{plugin_id}/enable/",
    "/dashboard/plugins/{plugin_id}/upgrade/",
    "/dashboard/plugins/{plugin_id}/rollback/",
    "/dashboard/plugins/{plugin_id}/trace/",
    "/dashboard/plugins/{plugin_id}/replay/",
    "/dashboard/plugins/{plugin_id}/remove/",
    // Previewed, then made active and rolled back (a bundled theme: removing it is refused).
    "/dashboard/themes/{theme}/preview/",
    "/dashboard/themes/stop-preview/",
    "/dashboard/themes/{theme}/activate/",
    "/dashboard/themes/rollback/",
    // Not a multipart body: refused by the handler (400), after the token was accepted.
    "/dashboard/themes/install/",
    "/dashboard/themes/{theme}/remove/",
    "/dashboard/logout/",
    "/dashboard/login/",
    // The customer's own order and lists (made below); the list is deleted last.
    "/accounts/orders/{number}/reorder/",
    "/accounts/orders/{number}/lines/{order_line}/reorder/",
    "/accounts/wishlists/",
    "/accounts/wishlists/add/{product_id}/",
    "/accounts/wishlists/{list_id}/",
    "/accounts/wishlists/{list_id}/lines/{wishlist_line}/remove/",
    "/accounts/wishlists/{list_id}/lines/{wishlist_line}/move/",
    "/accounts/wishlists/{list_id}/lines/{wishlist_line}/basket/",
    "/accounts/wishlists/{list_id}/delete/",
    "/basket/lines/{line_id}/remove/",
    "/accounts/login/",
    "/accounts/register/",
    "/accounts/logout/",
    "/accounts/password-reset/",
    "/accounts/reset/{token}/",
    // After the reset: moving the account to a new address spends its reset links.
    "/accounts/email/confirm/{token}/",
];

/// Outside the CSRF layer on purpose (server to server).
const WEBHOOK: &str = "/payment/{gateway}/webhook/";

const REFUSAL: &str = "This form has expired or was sent from another site";

/// Every route path with a POST (or any other unsafe) method, from the web module's source.
fn unsafe_routes_in_source() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&repo_root().join("host/src/web"), &mut files);
    let mut unsafe_routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (path, methods) in routes_in(&text) {
            let m = methods.replace(char::is_whitespace, "");
            assert!(
                !m.contains("any(") && !m.contains("on(") && !m.contains("route_service"),
                "{}: route {path} answers methods this test cannot tell; list it by hand",
                file.display()
            );
            if ["post(", "put(", "patch(", "delete("]
                .iter()
                .any(|verb| m.contains(verb))
            {
                unsafe_routes.insert(path);
            }
        }
    }
    unsafe_routes
}

#[test]
fn the_list_covers_every_state_changing_route() {
    let mut listed: BTreeSet<String> = STATE_CHANGING.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed.len(), STATE_CHANGING.len(), "no route listed twice");
    listed.insert(WEBHOOK.to_owned());
    assert_eq!(
        unsafe_routes_in_source(),
        listed,
        "the routes with an unsafe method in host/src/web must be exactly the ones listed here"
    );
}

/// Something a refused post would have changed, if it had got through.
async fn state(app: &TestApp, sid: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for sql in [
        "SELECT CAST(COUNT(*) AS BIGINT) FROM basket_line",
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM basket_line",
        "SELECT CAST(COALESCE(SUM(CASE WHEN is_saved = TRUE THEN 1 ELSE 0 END), 0) AS BIGINT) FROM basket_line",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM shop_order",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM customer",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM customer WHERE is_active = TRUE",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM partner",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM customer_address",
        "SELECT CAST(COALESCE(SUM(id), 0) AS BIGINT) FROM customer_address WHERE is_default_shipping = TRUE",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM customer_address WHERE line1 = 'CSRF Lane 2'",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM mail_outbox",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM password_reset",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM pending_payment",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM order_status_change",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM order_note",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM shipping_event",
        "SELECT CAST(COALESCE(SUM(num_in_stock), 0) AS BIGINT) FROM stock_record",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product WHERE is_public = TRUE",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM category",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_class",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_attribute",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_option",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM offer_range",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM offer",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM offer WHERE status = 'open'",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM voucher",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_class_option",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_image",
        "SELECT CAST(COALESCE(SUM(display_order), 0) AS BIGINT) FROM product_image",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_image WHERE caption = 'csrf'",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM category_image WHERE caption = 'csrf'",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM export_job",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist WHERE name = 'CSRF' AND visibility = 'private'",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist_line",
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM wishlist_line",
        "SELECT CAST(COALESCE(SUM(wishlist_id), 0) AS BIGINT) FROM wishlist_line",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_review",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product_review WHERE status = 'approved'",
        "SELECT CAST(COALESCE(SUM(score), 0) AS BIGINT) FROM product_review",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM review_vote",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM notification",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM notification WHERE read_at IS NULL",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM notification WHERE archived_at IS NULL",
        "SELECT CAST(COUNT(*) AS BIGINT) FROM email_template_override",
    ] {
        seen.push(format!("{sql} = {}", app.scalar_i64(sql).await));
    }
    let session = app.state.sessions.load(&store_key(sid)).await.unwrap();
    seen.push(format!("session = {:?}", session.map(|r| r.data)));
    seen
}

async fn product_in_stock(app: &TestApp) -> i64 {
    // With two images, for the image routes.
    ProductBuilder::new()
        .image("demo/book-0.svg", "csrf")
        .image("demo/book-1.svg", "csrf")
        .create(&app.state.db)
        .await
        .unwrap()
        .id
}

/// The ids a route's path names: product, basket line, order number, stock record, customer,
/// product image, the customer's saved address.
struct Ids<'a> {
    product: i64,
    line: i64,
    order: &'a str,
    stock: i64,
    customer: i64,
    category: i64,
    /// A product class and one of its attributes.
    class: i64,
    attribute: i64,
    image: i64,
    address: i64,
    /// A line of the order (now the customer's).
    order_line: i64,
}

fn fill(route: &str, ids: &Ids) -> String {
    let Ids {
        product,
        line,
        order,
        stock,
        customer,
        category,
        class,
        attribute,
        image,
        address,
        order_line,
    } = *ids;
    // The customer's wishlists are the database's first two, with lines 1 to 3 on the first:
    // each line route gets a line of its own (one is removed, one moved, one bought).
    let wishlist_line = match route.rsplit('/').nth(1) {
        Some("remove") => "1",
        Some("move") => "2",
        _ => "3",
    };
    route
        .replace("{category_id}", &category.to_string())
        .replace("{class_id}", &class.to_string())
        .replace("{attribute_id}", &attribute.to_string())
        .replace("{image_id}", &image.to_string())
        .replace("{address_id}", &address.to_string())
        .replace("{product_id}", &product.to_string())
        .replace("{line_id}", &line.to_string())
        .replace("{number}", order)
        .replace("{stock_id}", &stock.to_string())
        .replace("{customer_id}", &customer.to_string())
        .replace("{order_line}", &order_line.to_string())
        .replace("{list_id}", "1")
        .replace("{wishlist_line}", wishlist_line)
        // The capture below is the database's first money action.
        .replace("{operation}", "1")
        // So is the saved filter.
        .replace("{filter_id}", "1")
        // The product's partner is the first; the partner user added below the second staff.
        .replace("{partner_id}", "1")
        .replace("{staff_id}", "2")
        .replace("{token}", &"ab".repeat(32))
        // The alert made below is the database's first.
        .replace("{alert_id}", "1")
        // A slug that isn't the product's: the handler answers with the canonical address.
        .replace("{slug_id}", &format!("csrf_{product}"))
        // The customer's review made below is the database's first.
        .replace("{review_id}", "1")
        .replace("{offer_id}", "1")
        // So is the notification.
        .replace("{notification_id}", "1")
        .replace("{template}", "order_shipped")
        .replace("{plugin_id}", "flat-rate-shipping")
        .replace("{theme}", "harbour")
}

const STAFF: (&str, &str) = ("staff@example.com", "staff password");

/// A form each route would accept, but for the token.
fn fields(route: &str) -> Vec<(&'static str, &'static str)> {
    match route {
        "/dashboard/ranges/" => vec![("name", "CSRF range"), ("includes_all", "on")],
        "/dashboard/offers/new/" => vec![
            ("name", "CSRF offer"),
            ("offer_type", "site"),
            ("priority", "0"),
            ("condition_kind", "count"),
            ("condition_value", "1"),
            ("condition_range", "1"),
            ("benefit_kind", "absolute"),
            ("benefit_value", "1.00"),
        ],
        "/dashboard/offers/{offer_id}/status/" => vec![("status", "suspended")],
        "/dashboard/vouchers/" => vec![("code", "CSRF1"), ("usage", "multi"), ("offer", "1")],
        "/dashboard/vouchers/sets/" => vec![
            ("name", "CSRF set"),
            ("count", "2"),
            ("usage", "single"),
            ("offer", "1"),
        ],
        r if r.starts_with("/basket/") => vec![("quantity", "2")],
        "/accounts/login/" => vec![
            ("email", "walker@example.com"),
            ("password", "correct horse"),
        ],
        "/accounts/register/" => vec![
            ("email", "new@example.com"),
            ("password", "correct horse"),
            ("password_confirm", "correct horse"),
        ],
        "/dashboard/login/" => vec![("email", STAFF.0), ("password", STAFF.1)],
        "/accounts/password-reset/" => vec![("email", "walker@example.com")],
        "/accounts/addresses/new/" => vec![
            ("name", "Walker"),
            ("line1", "CSRF Lane 1"),
            ("city", "London"),
            ("postcode", "SW1A 1AA"),
            ("country", "GB"),
        ],
        "/accounts/addresses/{address_id}/edit/" => vec![
            ("name", "Walker"),
            ("line1", "CSRF Lane 2"),
            ("city", "London"),
            ("postcode", "SW1A 1AA"),
            ("country", "GB"),
        ],
        "/accounts/addresses/{address_id}/default/" => vec![("which", "shipping")],
        "/accounts/reset/{token}/" => vec![
            ("password", "a new password"),
            ("password_confirm", "a new password"),
        ],
        // Wrong current passwords: the forms answer with their problems and change nothing.
        "/accounts/password/" => vec![
            ("current_password", "not my password"),
            ("password", "a new password"),
            ("password_confirm", "a new password"),
        ],
        "/accounts/email/" => vec![
            ("email", "moved@example.com"),
            ("password", "not my password"),
        ],
        "/accounts/delete/" => vec![("password", "not my password")],
        "/dashboard/orders/{number}/status/" => vec![("status", "Being processed")],
        "/dashboard/orders/{number}/notes/" => vec![("note", "Called the customer.")],
        "/dashboard/orders/{number}/fulfil/" => vec![("tracking", "TRK-1")],
        "/dashboard/orders/{number}/lines/status/" => vec![("status", "Returned")],
        // The order's payment is the database's first.
        "/dashboard/orders/{number}/capture/" => vec![
            ("key", "csrf-capture-0000000000"),
            ("source", "1"),
            ("amount", "0.01"),
        ],
        "/dashboard/orders/{number}/refund/" => vec![
            ("key", "csrf-refund-00000000000"),
            ("source", "1"),
            ("amount", "0.01"),
        ],
        "/dashboard/orders/{number}/payments/{operation}/resolve/" => vec![("outcome", "moved")],
        "/dashboard/orders/{number}/cancel/" => vec![("key", "csrf-cancel-00000000000")],
        "/dashboard/orders/filters/" => vec![("name", "Pending"), ("status", "Pending")],
        "/dashboard/orders/export/" => vec![("status", "Pending")],
        "/dashboard/reports/export/" => vec![("report", "orders")],
        "/dashboard/stock/{stock_id}/adjust/" => vec![("delta", "1"), ("reason", "found one")],
        "/dashboard/customers/{customer_id}/active/" => vec![("active", "1")],
        "/dashboard/partners/" => vec![("code", "csrf-partner"), ("name", "CSRF Partner")],
        "/dashboard/catalogue/bulk/" => vec![("action", "publish")],
        "/dashboard/catalogue/products/{product_id}/" => {
            vec![("title", "CSRF title"), ("is_public", "1")]
        }
        "/dashboard/catalogue/products/{product_id}/stock/" => vec![("stock_sku", "CSRF-SKU")],
        "/dashboard/catalogue/products/{product_id}/stock/{stock_id}/" => vec![
            ("stock_sku", "CSRF-SKU"),
            ("stock_price", "10.00"),
            ("stock_num_in_stock", "10"),
        ],
        "/dashboard/catalogue/categories/" => vec![("name", "CSRF category")],
        "/dashboard/catalogue/categories/{category_id}/" => {
            vec![("name", "CSRF renamed"), ("is_public", "1")]
        }
        "/dashboard/catalogue/categories/{category_id}/move/" => vec![("parent", "")],
        "/dashboard/catalogue/categories/{category_id}/order/" => vec![("direction", "up")],
        "/dashboard/catalogue/classes/" => vec![("name", "CSRF class")],
        "/dashboard/catalogue/classes/{class_id}/" => {
            vec![("name", "CSRF class renamed"), ("track_stock", "1")]
        }
        "/dashboard/catalogue/classes/{class_id}/options/new/" => vec![
            ("option_code", "csrf-option"),
            ("option_name", "CSRF option"),
            ("option_kind", "text"),
        ],
        "/dashboard/catalogue/classes/{class_id}/attributes/" => {
            vec![("code", "csrf"), ("name", "CSRF"), ("kind", "text")]
        }
        "/dashboard/catalogue/classes/{class_id}/attributes/{attribute_id}/" => {
            vec![("name", "CSRF attribute")]
        }
        "/dashboard/partners/{partner_id}/" => vec![("partner_name", "Renamed")],
        "/dashboard/content/emails/{template}/" => {
            vec![("subject_txt", "CSRF {{ order.number }}")]
        }
        "/accounts/wishlists/" => vec![("name", "CSRF list")],
        "/accounts/wishlists/{list_id}/" => vec![("name", "Renamed"), ("visibility", "shared")],
        "/accounts/wishlists/{list_id}/lines/{wishlist_line}/move/" => vec![("to", "2")],
        "/dashboard/partners/{partner_id}/users/" => vec![
            ("email", "partner-user@example.com"),
            ("password", "partner password"),
        ],
        "/reviews/{review_id}/vote/" => vec![("helpful", "yes")],
        "/accounts/reviews/{review_id}/edit/" => vec![
            ("score", "2"),
            ("title", "CSRF title"),
            ("body", "CSRF body"),
            ("name", "Walker"),
        ],
        "/dashboard/reviews/moderate/" => vec![("decision", "approve"), ("review", "1")],
        "/dashboard/plugins/{plugin_id}/config/" => vec![("cfg_charge", "4.95")],
        "/dashboard/plugins/{plugin_id}/upgrade/" => vec![("version", "0.2.0"), ("approve", "1")],
        r if r.ends_with("/caption/") => vec![("caption", "changed")],
        r if r.ends_with("/move/") => vec![("direction", "down")],
        _ => vec![],
    }
}

async fn refused(b: &Browser, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) {
    let page = b.post_with(path, form, headers).await;
    assert_eq!(page.status, 403, "POST {path} {headers:?}: {}", page.body);
    assert!(
        page.body.contains(REFUSAL),
        "POST {path}: the CSRF refusal page"
    );
}

async fn every_state_changing_route_needs_the_token(app: TestApp) {
    let product = product_in_stock(&app).await;
    // A signed-in customer with a basket line: the visitor a forged post would ride on.
    let b = app.browser();
    let t = b.get("/accounts/register/").await.csrf_token().unwrap();
    let form = [
        ("csrf_token", t.as_str()),
        ("email", "walker@example.com"),
        ("password", "correct horse"),
        ("password_confirm", "correct horse"),
    ];
    assert_eq!(b.post("/accounts/register/", &form).await.status, 303);
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    let login = [
        ("csrf_token", t.as_str()),
        ("email", "walker@example.com"),
        ("password", "correct horse"),
    ];
    assert_eq!(b.post("/accounts/login/", &login).await.status, 303);
    let token = b.get("/basket/").await.csrf_token().unwrap();
    let add = [("csrf_token", token.as_str()), ("quantity", "1")];
    assert_eq!(
        b.post(&format!("/basket/add/{product}/"), &add)
            .await
            .status,
        303
    );
    let line: i64 = app
        .scalar_i64("SELECT CAST(MAX(id) AS BIGINT) FROM basket_line")
        .await;
    // An order for the dashboard's order routes, bought by someone else; and the visitor is
    // signed in to the dashboard as staff too.
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    let buyer = app.browser();
    shopper::add(&buyer, product, 1).await;
    let preview =
        shopper::to_preview(&buyer, Some("buyer@example.com"), None, "test-card-gateway").await;
    let placed = shopper::place(&buyer, &preview, Some(shopper::GOOD_CARD)).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let order = app.scalar_text("SELECT number FROM shop_order").await;
    // The product's own record (the catalogue's stock routes name both).
    let stock: i64 = sqlx::query_scalar("SELECT id FROM stock_record WHERE product_id = $1")
        .bind(product)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let category = app
        .scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM category")
        .await;
    let attribute = app
        .scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM product_attribute")
        .await;
    // An image for the category's image routes (a demo file: deleting it removes no upload).
    sqlx::query(
        "INSERT INTO category_image (category_id, original, caption, width, height, updated_at) \
         VALUES ($1, 'demo/book-0.svg', 'csrf', 10, 10, '2024-01-01T00:00:00Z')",
    )
    .bind(category)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let class: i64 =
        sqlx::query_scalar("SELECT product_class_id FROM product_attribute WHERE id = $1")
            .bind(attribute)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    let customer = app
        .scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM customer")
        .await;
    // The order is the signed-in customer's, for the re-order routes.
    sqlx::query("UPDATE shop_order SET customer_id = $1")
        .bind(customer)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let order_line = app
        .scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM order_line")
        .await;
    // Two wishlists (ids 1 and 2), three lines of other products on the first.
    {
        use emporium::wishlist::{self, Limits, Visibility};
        let limits = Limits {
            max_lists: 20,
            max_lines: 500,
        };
        let db = &app.state.db;
        let first = wishlist::create(db, limits, customer, "CSRF", Visibility::Private)
            .await
            .unwrap();
        wishlist::create(db, limits, customer, "Other", Visibility::Private)
            .await
            .unwrap();
        for _ in 0..3 {
            let p = ProductBuilder::new().create(db).await.unwrap();
            wishlist::add_product(db, limits, customer, Some(first), p.id, 1)
                .await
                .unwrap();
        }
    }
    // A live reset link and email-change link for the customer (the token `fill` puts in
    // the path), so those routes answer from their handlers.
    {
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest("ab".repeat(32).as_bytes()));
        sqlx::query(
            "INSERT INTO password_reset (customer_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, '2026-01-01T00:00:00Z', '2999-01-01T00:00:00Z')",
        )
        .bind(customer)
        .bind(&hash)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        // A guest's alert waiting for confirmation, on a product that stays out of stock (so
        // the alert task leaves it alone), that the customer's account then holds.
        let gone = ProductBuilder::new()
            .stock(0)
            .create(&app.state.db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO product_alert (product_id, customer_id, email, status, confirm_hash, \
             unsubscribe_hash, created_at) \
             VALUES ($1, $2, 'walker@example.com', 'unconfirmed', $3, $3, '2026-01-01T00:00:00Z')",
        )
        .bind(gone.id)
        .bind(customer)
        .bind(&hash)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO email_change (customer_id, new_email, token_hash, created_at, \
             expires_at) VALUES ($1, 'moved@example.com', $2, '2026-01-01T00:00:00Z', \
             '2999-01-01T00:00:00Z')",
        )
        .bind(customer)
        .bind(&hash)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    }
    // The customer's review of the product (waiting for a moderator): the first review.
    emporium::review::write(
        &app.state.db,
        emporium::review::Rules {
            anonymous: false,
            moderated: true,
        },
        product,
        emporium::review::Author::Customer(customer),
        &emporium::review::Draft {
            score: "4".into(),
            title: "Mine".into(),
            body: "My review.".into(),
            name: "Walker".into(),
            email: String::new(),
        }
        .check(false)
        .unwrap(),
    )
    .await
    .unwrap();
    // A notification of the customer's, for the inbox's routes.
    sqlx::query(
        "INSERT INTO notification (customer_id, subject, body, link_url, created_at) \
         VALUES ($1, 'CSRF', 'A notification.', '/accounts/orders/', '2026-01-01T00:00:00Z')",
    )
    .bind(customer)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let image: i64 = sqlx::query_scalar(
        "SELECT CAST(MIN(id) AS BIGINT) FROM product_image WHERE product_id = $1",
    )
    .bind(product)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    // Two saved addresses of the signed-in customer's, for the address book's routes: the
    // first is the default, so making the second one the default changes something.
    let mut address = 0;
    for line1 in ["1 Walker Street", "2 Walker Street"] {
        address = emporium::address::book::add(
            &app.state.db,
            customer,
            &emporium::address::Address {
                name: "Walker".into(),
                line1: line1.into(),
                city: "London".into(),
                postcode: "SW1A 2AA".into(),
                country: "GB".into(),
                ..Default::default()
            },
            emporium::address::book::Defaults::default(),
        )
        .await
        .unwrap();
    }
    let ids = Ids {
        product,
        line,
        order: &order,
        stock,
        customer,
        category,
        class,
        attribute,
        image,
        address,
        order_line,
    };
    emporium::staff::add(
        &app.state.db,
        STAFF.0,
        STAFF.1,
        emporium::staff::Role::Admin,
        &[],
    )
    .await
    .unwrap();
    let t = b.get("/dashboard/login/").await.csrf_token().unwrap();
    let staff_login = [
        ("csrf_token", t.as_str()),
        ("email", STAFF.0),
        ("password", STAFF.1),
    ];
    let signed_in = b.post("/dashboard/login/", &staff_login).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let token = b.get("/basket/").await.csrf_token().unwrap();
    let sid = b.session_id().unwrap();
    let origin = b.base.clone();
    let stranger = app.browser();

    let before = state(&app, &sid).await;
    for route in STATE_CHANGING {
        let path = fill(route, &ids);
        let form: Vec<(&str, &str)> = fields(route);
        let same_origin = [("origin", origin.as_str())];
        // No token.
        refused(&b, &path, &form, &same_origin).await;
        // A wrong token, in the form and in the header.
        let mut wrong = form.clone();
        wrong.push((
            "csrf_token",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ));
        refused(&b, &path, &wrong, &same_origin).await;
        refused(
            &b,
            &path,
            &form,
            &[("origin", origin.as_str()), ("x-csrf-token", "forged")],
        )
        .await;
        // An empty token is no token.
        let mut empty = form.clone();
        empty.push(("csrf_token", ""));
        refused(&b, &path, &empty, &same_origin).await;
        // The right token from another site.
        let mut right = form.clone();
        right.push(("csrf_token", &token));
        refused(&b, &path, &right, &[("origin", "http://evil.test")]).await;
        refused(&b, &path, &right, &[("sec-fetch-site", "cross-site")]).await;
        // A visitor without a session: with no proof of origin, or from another site.
        refused(&stranger, &path, &form, &[]).await;
        refused(&stranger, &path, &form, &[("origin", "http://evil.test")]).await;
        // Someone else's token.
        let mut theirs = form.clone();
        theirs.push(("csrf_token", &token));
        refused(&stranger, &path, &theirs, &[("origin", origin.as_str())]).await;
    }
    assert_eq!(
        state(&app, &sid).await,
        before,
        "refused posts changed nothing"
    );
    assert_eq!(stranger.session_id(), None, "and started no session");

    // With the right token each listed route is answered by its handler (so the list names
    // real routes, not paths the fallback answers).
    for route in STATE_CHANGING {
        let path = fill(route, &ids);
        // Signing in or out rotates the token: read the current one each time.
        let token = b.get("/basket/").await.csrf_token().unwrap();
        let mut form: Vec<(&str, &str)> = fields(route);
        form.push(("csrf_token", &token));
        let page = b.post(&path, &form).await;
        assert!(
            ![403, 404, 405].contains(&page.status) && page.status < 500,
            "POST {path} with the right token: {} {}",
            page.status,
            page.body
        );
    }
    // The account routes ran as the signed-in customer (not a redirect to sign in): the
    // re-orders and the list actions all happened.
    for (sql, want) in [
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist WHERE name = 'CSRF'",
            0,
        ),
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist_line WHERE wishlist_id = 2",
            1,
        ),
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist WHERE name = 'CSRF list'",
            1,
        ),
    ] {
        assert_eq!(app.scalar_i64(sql).await, want, "{sql}");
    }
}

both_backends!(
    every_state_changing_route_needs_the_token_db,
    |app: TestApp| async move {
        every_state_changing_route_needs_the_token(app).await;
    }
);

/// The webhook carries no session: a session cookie sent with it is not read (no session
/// renewed, created or changed, no cookie set), and no CSRF token or origin is asked for,
/// because it acts on nothing the cookie's owner could be tricked into: a forged notification
/// to a real gateway places no order.
async fn webhook_ignores_session_cookies(app: TestApp) {
    use emporium::payment::sandbox::{Sandbox, serve};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = Sandbox::new("sk_test_csrf", &provider);
    tokio::spawn(serve(sandbox, listener));
    let base_url = format!("{provider}/v1");
    app.install_plugin(
        "redirect-gateway",
        &[("base_url", &base_url), ("api_key", "sk_test_csrf")],
        &["127.0.0.1"],
    )
    .await;

    let b = app.browser();
    b.get("/accounts/login/").await;
    let sid = b.session_id().unwrap();
    let key = store_key(&sid);
    // Half-way to expiry, so any request through the session layer would renew it.
    let mut record = app.state.sessions.load(&key).await.unwrap().unwrap();
    let ttl = i64::try_from(app.state.config.session_ttl_secs).unwrap();
    record.expires_at = emporium::session::store::now_secs() + ttl / 2 - 60;
    assert!(app.state.sessions.update(&key, &record).await.unwrap());

    for (gateway, origin) in [
        ("no-such-gateway", b.base.as_str()),
        ("redirect-gateway", b.base.as_str()),
        ("redirect-gateway", "http://provider.test"),
    ] {
        let path = WEBHOOK.replace("{gateway}", gateway);
        let response = b
            .client
            .post(format!("{}{path}", b.base))
            .header("origin", origin)
            .header("content-type", "application/json")
            .body(r#"{"payment_id": "pay_forged", "status": "succeeded"}"#)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_ne!(status, 403, "POST {path} was judged by the CSRF layer");
        if gateway == "no-such-gateway" {
            assert_eq!(status, 404, "POST {path}");
        }
        assert!(
            response.headers().get("set-cookie").is_none(),
            "POST {path} touched the session"
        );
    }
    assert_eq!(
        app.state.sessions.load(&key).await.unwrap(),
        Some(record),
        "the session is exactly as it was"
    );
    assert_eq!(
        app.scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM shop_order")
            .await,
        0
    );
}

both_backends!(
    webhook_ignores_session_cookies_db,
    |app: TestApp| async move {
        webhook_ignores_session_cookies(app).await;
    }
);
