//! The dashboard's customer emails over HTTP, against the real app on SQLite and PostgreSQL
//! with the mail delivered to a real SMTP server on loopback: an administrator previews an
//! email with sample data, edits it, and the next email sent (read from SMTP) uses the edit;
//! a bad edit (a syntax error, an unknown variable) is shown again with its problem and
//! changes nothing; resetting brings the theme's version back; each save and reset is in the
//! audit log; other roles see the emails but may not change them, or not even see them.

mod support;

use std::time::Duration;

use emporium::fixtures::ProductBuilder;
use emporium::staff::Role;
use support::shopper::{GOOD_CARD, add, place, to_preview};
use support::smtp::{Delivered, SmtpServer};
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, Page, TestApp};

const WAIT: Duration = Duration::from_secs(30);
const URL: &str = "/dashboard/content/emails/order_shipped/";

async fn start(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let options = Options {
        smtp_url: Some(smtp.url()),
        products: 0,
        ..Default::default()
    };
    TestApp::start_tweaked(backend, options, |c| {
        c.site_url = Some("https://shop.example.test/".into());
    })
    .await
}

async fn token(b: &Browser) -> String {
    b.get("/dashboard/").await.csrf_token().unwrap()
}

async fn post(b: &Browser, path: &str, form: &[(&str, &str)]) -> Page {
    let t = token(b).await;
    let mut form = form.to_vec();
    form.push(("csrf_token", &t));
    b.post(path, &form).await
}

async fn overrides(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT COUNT(*) FROM email_template_override")
        .await
}

async fn audited(app: &TestApp, action: &'static str) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as("SELECT before_json, after_json FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
}

/// A guest order of one unit, shipped from the dashboard by `staff`; the shipping email.
async fn ship_an_order(app: &TestApp, smtp: &SmtpServer, staff: &Browser, who: &str) -> Delivered {
    let product = ProductBuilder::new()
        .price("12.50")
        .stock(10)
        .create(&app.state.db)
        .await
        .unwrap();
    let buyer = app.browser();
    add(&buyer, product.id, 1).await;
    let preview = to_preview(&buyer, Some(who), None, "test-card-gateway").await;
    assert_eq!(place(&buyer, &preview, Some(GOOD_CARD)).await.status, 303);
    let (number, line): (String, i64) = sqlx::query_as(
        "SELECT o.number, l.id FROM shop_order o JOIN order_line l ON l.order_id = o.id \
         WHERE o.email = $1",
    )
    .bind(who)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    let shipped = post(
        staff,
        &format!("/dashboard/orders/{number}/fulfil/"),
        &[("line", &line.to_string()), ("tracking", "TRK-7")],
    )
    .await;
    assert_eq!(shipped.status, 303, "{}", shipped.body);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(m) = smtp
            .messages()
            .into_iter()
            .find(|m| m.rcpt_to == who && m.text.as_deref().unwrap_or_default().contains("TRK-7"))
        {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:#?}",
            smtp.messages()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn edit_preview_reset(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
    let admin = staff_browser(&app, "admin@example.com").await;

    // The list has every customer email; the page previews one with sample data.
    let list = admin.get("/dashboard/content/emails/").await;
    assert_eq!(list.status, 200, "{}", list.body);
    for name in [
        "account_welcome",
        "password_reset",
        "password_changed",
        "email_changed",
        "order_confirmation",
        "order_shipped",
        "product_alert",
    ] {
        assert!(
            list.body
                .contains(&format!("/dashboard/content/emails/{name}/")),
            "{name}"
        );
    }
    let page = admin.get(URL).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("order 100042 is on its way"),
        "{}",
        page.body
    );
    assert!(page.body.contains("JD014600003828"), "the sample tracking");
    assert!(
        page.body.contains("sandbox=\"\"") && page.body.contains("srcdoc=\"&lt;!doctype html&gt;"),
        "the HTML in a sandboxed frame, escaped: {}",
        page.body
    );
    assert_eq!(
        admin.get("/dashboard/content/emails/nothing/").await.status,
        404
    );

    // A bad edit is shown again with its problem, and nothing is kept or audited.
    for (field, source, problem) in [
        ("subject_txt", "Order {{ order.numbr }}", "does not have"),
        ("body_txt", "Hello {% if %}", "syntax error"),
        ("body_html", "{{ nobody }}", "does not have"),
    ] {
        let refused = post(&admin, URL, &[(field, source), ("action", "save")]).await;
        assert_eq!(refused.status, 422, "{field}: {}", refused.body);
        assert!(refused.body.contains(problem), "{field}: {}", refused.body);
        assert!(refused.body.contains("Nothing was saved"));
        assert!(refused.body.contains(source), "what was typed is kept");
    }
    assert_eq!(overrides(&app).await, 0);
    assert!(audited(&app, "email_template.save").await.is_empty());

    // A preview of an edit keeps nothing.
    let subject = "Parcel {{ order.number }} from {{ shop_name }} is coming";
    let previewed = post(
        &admin,
        URL,
        &[("subject_txt", subject), ("action", "preview")],
    )
    .await;
    assert_eq!(previewed.status, 200, "{}", previewed.body);
    assert!(
        previewed.body.contains("Parcel 100042 from"),
        "{}",
        previewed.body
    );
    assert!(previewed.body.contains("not saved"));
    assert_eq!(overrides(&app).await, 0);

    // Saved: the next shipping email uses it, and the audit log has it.
    let saved = post(&admin, URL, &[("subject_txt", subject), ("action", "save")]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location.as_deref(), Some(URL));
    assert_eq!(overrides(&app).await, 1, "only the part that differs");
    let page = admin.get(URL).await;
    assert!(page.body.contains("Edited here"));
    assert!(page.body.contains("Parcel 100042 from"));
    let entries = audited(&app, "email_template.save").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_deref(), Some("{}"));
    assert!(entries[0].1.as_deref().unwrap().contains("Parcel"));
    let mail = ship_an_order(&app, &smtp, &admin, "ada@example.com").await;
    assert!(mail.subject.starts_with("Parcel "), "{mail:#?}");
    assert!(mail.subject.ends_with("is coming"), "{mail:#?}");
    assert!(
        mail.html.as_deref().unwrap_or_default().contains("TRK-7"),
        "the parts not edited are the theme's"
    );

    // Another process (its own templates, nothing shared but the database) renders the edit
    // too: overrides are read from the database at each message.
    let fresh = emporium::themes::Templates::load(
        &support::repo_root().join("themes"),
        "default",
        vec![],
        false,
    )
    .unwrap();
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let ctx = minijinja::context! {
        shop_name => "Elsewhere", order => minijinja::context! { number => "7" },
    };
    let body = emporium::mail::render_in(&mut conn, &fresh, "order_shipped", ctx)
        .await
        .unwrap();
    assert_eq!(body.subject, "Parcel 7 from Elsewhere is coming");
    drop(conn);

    // Other roles: an order manager sees the emails but may not change them; a catalogue
    // manager does not see them.
    add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
    add_staff(&app, "cat@example.com", Role::CatalogueManager, &[]).await;
    add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
    let orders = staff_browser(&app, "orders@example.com").await;
    let viewer = staff_browser(&app, "viewer@example.com").await;
    let cat = staff_browser(&app, "cat@example.com").await;
    let seen = orders.get(URL).await;
    assert_eq!(seen.status, 200);
    assert!(!seen.body.contains("name=\"subject_txt\""), "no edit form");
    for b in [&orders, &viewer] {
        let refused = post(b, URL, &[("subject_txt", "Mine"), ("action", "save")]).await;
        assert_eq!(refused.status, 403);
        let refused = post(b, &format!("{URL}reset/"), &[]).await;
        assert_eq!(refused.status, 403);
    }
    assert_eq!(cat.get("/dashboard/content/emails/").await.status, 403);
    assert_eq!(cat.get(URL).await.status, 403);
    assert_eq!(overrides(&app).await, 1, "nothing changed");

    // Reset: the theme's version again, audited with what it was.
    let reset = post(&admin, &format!("{URL}reset/"), &[]).await;
    assert_eq!(reset.status, 303);
    assert_eq!(overrides(&app).await, 0);
    let entries = audited(&app, "email_template.reset").await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0].0.as_deref().unwrap().contains("Parcel"));
    let mail = ship_an_order(&app, &smtp, &admin, "bea@example.com").await;
    assert!(mail.subject.ends_with("is on its way"), "{mail:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_preview_reset_sqlite() {
    edit_preview_reset(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_preview_reset_postgres() {
    edit_preview_reset(Backend::Postgres).await;
}
