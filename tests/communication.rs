//! A customer's messages over HTTP, against the real app on SQLite and PostgreSQL with the
//! mail delivered to a real SMTP server on loopback: each event of the account (registering,
//! an order placed, the order shipped by staff, a product back in stock, the password changed)
//! produces its email (read from SMTP), its entry in the account's email history and, where it
//! matters, a notification in the inbox, whose unread count the header shows. The customer
//! reads, archives and deletes notifications; another customer reaches none of them, nor the
//! emails, by URL or by form (404). A message with a single-use link keeps no text.

mod support;

use std::time::Duration;

use emporium::fixtures::ProductBuilder;
use emporium::staff::Role;
use support::customers::{PASSWORD, registered};
use support::shopper::{GOOD_CARD, add, place, to_preview};
use support::smtp::{Delivered, SmtpServer};
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, Page, TestApp};

const SITE: &str = "https://shop.example.test";
const WAIT: Duration = Duration::from_secs(30);

async fn start(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let options = Options {
        smtp_url: Some(smtp.url()),
        products: 0,
        ..Default::default()
    };
    TestApp::start_tweaked(backend, options, |c| {
        c.site_url = Some(format!("{SITE}/"));
        c.alert_interval_secs = 1;
    })
    .await
}

/// Posts `form` with the CSRF token of the page at `from`.
async fn submit(b: &Browser, from: &str, to: &str, form: &[(&str, &str)]) -> Page {
    let t = b.get(from).await.csrf_token().unwrap();
    let mut form = form.to_vec();
    form.push(("csrf_token", &t));
    b.post(to, &form).await
}

/// Waits until a message to `to` whose subject contains `subject` arrived.
async fn mail_to(smtp: &SmtpServer, to: &str, subject: &str) -> Delivered {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(m) = smtp
            .messages()
            .into_iter()
            .find(|m| m.rcpt_to == to && m.subject.contains(subject))
        {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {subject:?} to {to}: {:#?}",
            smtp.messages()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The unread count the header shows (0 when it shows none).
async fn unread(b: &Browser) -> i64 {
    let page = b.get("/accounts/profile/").await;
    assert_eq!(page.status, 200);
    match page.body.find("id=\"unread-count\"") {
        None => 0,
        Some(at) => {
            let rest = &page.body[at..];
            let start = rest.find('>').unwrap() + 1;
            let end = rest.find("</span>").unwrap();
            rest[start..end].trim().parse().unwrap()
        }
    }
}

async fn customer_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM customer WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// The id of the newest notification of `customer` whose subject contains `like`.
async fn notification(app: &TestApp, customer: i64, like: &str) -> Option<i64> {
    sqlx::query_scalar(
        "SELECT id FROM notification WHERE customer_id = $1 AND subject LIKE $2 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(customer)
    .bind(format!("%{like}%"))
    .fetch_optional(&app.state.db.pool)
    .await
    .unwrap()
}

/// The id of the newest outbox row of `customer` whose subject contains `like`, once sent.
async fn sent_email(app: &TestApp, customer: i64, like: &str) -> i64 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM mail_outbox WHERE customer_id = $1 AND subject LIKE $2 \
             AND status = 'sent' ORDER BY id DESC LIMIT 1",
        )
        .bind(customer)
        .bind(format!("%{like}%"))
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap();
        if let Some(id) = id {
            return id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sent {like:?} for {customer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn messages(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let product = ProductBuilder::new()
        .price("12.50")
        .stock(10)
        .create(&app.state.db)
        .await
        .unwrap();
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;

    // Registering: the welcome email, in the new account's history with its text.
    let ann = registered(&app, "ann@example.com").await;
    let ann_id = customer_id(&app, "ann@example.com").await;
    let welcome = mail_to(&smtp, "ann@example.com", "Your account at").await;
    assert!(welcome.html.is_some(), "text and HTML");
    let welcome_id = sent_email(&app, ann_id, "Your account at").await;
    let history = ann.get("/accounts/emails/").await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert!(history.body.contains(&welcome.subject), "{}", history.body);
    assert!(history.body.contains("Sent"), "{}", history.body);
    let shown = ann.get(&format!("/accounts/emails/{welcome_id}/")).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("is ready"), "{}", shown.body);
    assert_eq!(unread(&ann).await, 0);

    // An order: its confirmation by email and a notification, the header counting it.
    add(&ann, product.id, 1).await;
    let preview = to_preview(&ann, None, None, "test-card-gateway").await;
    let placed = place(&ann, &preview, Some(GOOD_CARD)).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let number = app.scalar_text("SELECT number FROM shop_order").await;
    let confirmation = mail_to(&smtp, "ann@example.com", &number).await;
    assert!(
        confirmation
            .text
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("/accounts/orders/{number}/")),
        "{confirmation:#?}"
    );
    let placed_note = notification(&app, ann_id, "placed")
        .await
        .expect("notified");
    assert_eq!(unread(&ann).await, 1);
    let inbox = ann.get("/accounts/notifications/").await;
    assert_eq!(inbox.status, 200);
    assert!(inbox.body.contains(&format!("Order {number} placed")));
    assert!(inbox.body.contains("notification--unread"));
    sent_email(&app, ann_id, &number).await;

    // Staff ship it: the shipping email (with the tracking reference), its history entry, and
    // a notification.
    add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
    let staff = staff_browser(&app, "orders@example.com").await;
    let line: i64 = app
        .scalar_i64("SELECT CAST(MIN(id) AS BIGINT) FROM order_line")
        .await;
    let t = staff.get("/dashboard/").await.csrf_token().unwrap();
    let shipped = staff
        .post(
            &format!("/dashboard/orders/{number}/fulfil/"),
            &[
                ("csrf_token", &t),
                ("line", &line.to_string()),
                ("tracking", "TRK-42"),
            ],
        )
        .await;
    assert_eq!(shipped.status, 303, "{}", shipped.body);
    let on_its_way = mail_to(&smtp, "ann@example.com", "on its way").await;
    assert!(
        on_its_way
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("TRK-42")
    );
    let shipped_note = notification(&app, ann_id, "on its way")
        .await
        .expect("notified");
    assert_eq!(unread(&ann).await, 2);
    let shipped_email = sent_email(&app, ann_id, "on its way").await;
    let shown = ann.get(&format!("/accounts/emails/{shipped_email}/")).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("TRK-42"), "the text as sent");

    // Back in stock: a product Ann asked about returns; the alert's email and notification.
    let gone = ProductBuilder::new()
        .price("8.00")
        .stock(0)
        .create(&app.state.db)
        .await
        .unwrap();
    let asked = submit(
        &ann,
        "/accounts/profile/",
        &format!("/alerts/products/{}/", gone.id),
        &[],
    )
    .await;
    assert_eq!(asked.status, 303, "{}", asked.body);
    sqlx::query("UPDATE stock_record SET num_in_stock = 5 WHERE product_id = $1")
        .bind(gone.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    mail_to(&smtp, "ann@example.com", "Back in stock").await;
    let alert_note = notification(&app, ann_id, "Back in stock")
        .await
        .expect("notified");
    sent_email(&app, ann_id, "Back in stock").await;
    assert_eq!(unread(&ann).await, 3);

    // Another customer reaches none of it, by URL or by form: 404, and nothing changes.
    let bob = registered(&app, "bob@example.com").await;
    for path in [
        format!("/accounts/emails/{welcome_id}/"),
        format!("/accounts/emails/{shipped_email}/"),
    ] {
        assert_eq!(bob.get(&path).await.status, 404, "{path}");
    }
    let bobs_history = bob.get("/accounts/emails/").await;
    assert!(
        !bobs_history.body.contains(&number),
        "{}",
        bobs_history.body
    );
    let bobs_inbox = bob.get("/accounts/notifications/").await;
    assert!(!bobs_inbox.body.contains(&number));
    for action in ["read", "archive", "delete"] {
        let page = submit(
            &bob,
            "/accounts/notifications/",
            &format!("/accounts/notifications/{placed_note}/{action}/"),
            &[],
        )
        .await;
        assert_eq!(page.status, 404, "{action}");
    }
    let bobs_read_all = submit(
        &bob,
        "/accounts/notifications/",
        "/accounts/notifications/read-all/",
        &[],
    )
    .await;
    assert_eq!(bobs_read_all.status, 303);
    assert_eq!(unread(&ann).await, 3, "Bob changed nothing of Ann's");
    // Bob's order moved along by its status form, to Shipped without a shipment recorded
    // line by line: a notification per move, and the shipping email all the same.
    add(&bob, product.id, 1).await;
    let preview = to_preview(&bob, None, None, "test-card-gateway").await;
    assert_eq!(place(&bob, &preview, Some(GOOD_CARD)).await.status, 303);
    let bob_id = customer_id(&app, "bob@example.com").await;
    let bobs_number: String =
        sqlx::query_scalar("SELECT number FROM shop_order WHERE customer_id = $1")
            .bind(bob_id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    for status in ["Being processed", "Shipped"] {
        let moved = staff
            .post(
                &format!("/dashboard/orders/{bobs_number}/status/"),
                &[("csrf_token", &t), ("status", status)],
            )
            .await;
        assert_eq!(moved.status, 303, "{status}: {}", moved.body);
    }
    assert!(
        notification(&app, bob_id, "Being processed")
            .await
            .is_some()
    );
    assert!(notification(&app, bob_id, "on its way").await.is_some());
    let bobs_parcel = mail_to(&smtp, "bob@example.com", "on its way").await;
    assert!(bobs_parcel.subject.contains(&bobs_number));
    sent_email(&app, bob_id, "on its way").await;
    assert_eq!(unread(&bob).await, 3, "placed, being processed, shipped");

    // Both lists come in pages of 20.
    for i in 0..22 {
        sqlx::query(
            "INSERT INTO notification (customer_id, subject, body, created_at) \
             VALUES ($1, $2, 'Filler.', '2026-01-01T00:00:00Z')",
        )
        .bind(bob_id)
        .bind(format!("Filler {i}"))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO mail_outbox (recipient, subject, body_text, status, attempts, \
             next_attempt_at, created_at, sent_at, customer_id, keep_body) \
             VALUES ('bob@example.com', $1, '', 'sent', 1, '2026-01-01T00:00:00Z', \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', $2, FALSE)",
        )
        .bind(format!("Old news {i}"))
        .bind(bob_id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    }
    for list in ["/accounts/notifications/", "/accounts/emails/"] {
        let first = bob.get(list).await;
        assert!(
            first.body.contains("rel=\"next\""),
            "{list} has a next page"
        );
        let second = bob.get(&format!("{list}?page=2")).await;
        assert_eq!(second.status, 200);
        assert!(second.body.contains("rel=\"prev\""), "{list} page 2");
        assert_eq!(bob.get(&format!("{list}?page=0")).await.status, 400);
    }
    assert!(
        bob.get("/accounts/notifications/?page=2")
            .await
            .body
            .contains("Filler 0")
    );

    // A visitor is sent to sign in.
    let visitor = app.browser().get("/accounts/notifications/").await;
    assert_eq!(visitor.status, 303);
    assert_eq!(
        visitor.location.as_deref(),
        Some("/accounts/login/?next=%2Faccounts%2Fnotifications%2F")
    );

    // Ann reads one (the count drops), opens another (read, and off to its link), archives
    // one and deletes one.
    let read = submit(
        &ann,
        "/accounts/notifications/",
        &format!("/accounts/notifications/{placed_note}/read/"),
        &[],
    )
    .await;
    assert_eq!(read.status, 303);
    assert_eq!(read.location.as_deref(), Some("/accounts/notifications/"));
    assert_eq!(unread(&ann).await, 2);
    let opened = submit(
        &ann,
        "/accounts/notifications/",
        &format!("/accounts/notifications/{shipped_note}/read/"),
        &[("open", "1")],
    )
    .await;
    assert_eq!(
        opened.location.as_deref(),
        Some(format!("/accounts/orders/{number}/").as_str())
    );
    assert_eq!(unread(&ann).await, 1);
    let archived = submit(
        &ann,
        "/accounts/notifications/",
        &format!("/accounts/notifications/{alert_note}/archive/"),
        &[("back", "/accounts/notifications/archive/")],
    )
    .await;
    assert_eq!(
        archived.location.as_deref(),
        Some("/accounts/notifications/archive/")
    );
    assert_eq!(unread(&ann).await, 0, "archived is read");
    let inbox = ann.get("/accounts/notifications/").await;
    assert!(!inbox.body.contains(&format!("notification-{alert_note}\"")));
    let archive = ann.get("/accounts/notifications/archive/").await;
    assert!(
        archive
            .body
            .contains(&format!("notification-{alert_note}\""))
    );
    let also = ann.get("/accounts/notifications/?archive").await;
    assert!(also.body.contains("Archived notifications"));
    assert!(also.body.contains(&format!("notification-{alert_note}\"")));
    let deleted = submit(
        &ann,
        "/accounts/notifications/",
        &format!("/accounts/notifications/{placed_note}/delete/"),
        &[],
    )
    .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(notification(&app, ann_id, "placed").await, None);

    // A password change: its email and notification; "mark all read" clears the count.
    let changed = submit(
        &ann,
        "/accounts/password/",
        "/accounts/password/",
        &[
            ("current_password", PASSWORD),
            ("password", "a new password"),
            ("password_confirm", "a new password"),
        ],
    )
    .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    mail_to(&smtp, "ann@example.com", "was changed").await;
    assert!(notification(&app, ann_id, "password").await.is_some());
    assert_eq!(unread(&ann).await, 1);
    let all = submit(
        &ann,
        "/accounts/notifications/",
        "/accounts/notifications/read-all/",
        &[],
    )
    .await;
    assert_eq!(all.status, 303);
    assert_eq!(unread(&ann).await, 0);

    // A reset link: in the history by subject and date, its text (the link) never kept.
    let asked = submit(
        &app.browser(),
        "/accounts/password-reset/",
        "/accounts/password-reset/",
        &[("email", "ann@example.com")],
    )
    .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let reset_mail = mail_to(&smtp, "ann@example.com", "Reset your password").await;
    let reset_id = sent_email(&app, ann_id, "Reset your password").await;
    let shown = ann.get(&format!("/accounts/emails/{reset_id}/")).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains("its text is not kept"),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("/accounts/reset/"), "{}", shown.body);
    assert!(
        reset_mail
            .text
            .unwrap_or_default()
            .contains("/accounts/reset/")
    );
    let kept: String = sqlx::query_scalar("SELECT body_text FROM mail_outbox WHERE id = $1")
        .bind(reset_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(kept, "", "the link is stored nowhere once delivered");

    // Nothing is matched by address: Bob's welcome is Bob's alone, and a guest order to
    // Ann's address is in nobody's history.
    assert_eq!(
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM mail_outbox WHERE customer_id = $1 AND recipient <> $2"
        )
        .bind(bob_id)
        .bind("bob@example.com")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap(),
        0
    );
    let guest = app.browser();
    add(&guest, product.id, 1).await;
    let preview = to_preview(&guest, Some("ann@example.com"), None, "test-card-gateway").await;
    assert_eq!(place(&guest, &preview, Some(GOOD_CARD)).await.status, 303);
    let guest_number: String =
        sqlx::query_scalar("SELECT number FROM shop_order WHERE customer_id IS NULL")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    mail_to(&smtp, "ann@example.com", &guest_number).await;
    let history = ann.get("/accounts/emails/").await;
    assert!(!history.body.contains(&guest_number), "{}", history.body);

    // Deleting the account takes its history and notifications with it.
    let bye = submit(
        &ann,
        "/accounts/delete/",
        "/accounts/delete/",
        &[("password", "a new password")],
    )
    .await;
    assert_eq!(bye.status, 303, "{}", bye.body);
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notification WHERE customer_id = $1")
            .bind(ann_id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mail_outbox WHERE customer_id = $1")
            .bind(ann_id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sqlite() {
    messages(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_postgres() {
    messages(Backend::Postgres).await;
}
