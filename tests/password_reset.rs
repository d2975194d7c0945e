//! Password reset by email, over HTTP against the real app on SQLite and PostgreSQL with the
//! mail delivered to a real SMTP server on loopback: the link points at the configured site
//! address, works once and expires, the answer does not tell who has an account, and staff
//! can send a link from the dashboard (audited) without ever seeing a password.

mod support;

use std::time::Duration;

use emporium::fixtures::CustomerBuilder;
use emporium::staff::Role;
use support::smtp::SmtpServer;
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, Page, TestApp};

const SITE: &str = "https://shop.example.test";

async fn start(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let options = Options {
        smtp_url: Some(smtp.url()),
        products: 0,
        ..Default::default()
    };
    TestApp::start_tweaked(backend, options, |c| {
        c.site_url = Some(format!("{SITE}/"));
    })
    .await
}

async fn ask(b: &Browser, email: &str) -> Page {
    let t = b
        .get("/accounts/password-reset/")
        .await
        .csrf_token()
        .unwrap();
    b.post(
        "/accounts/password-reset/",
        &[("csrf_token", &t), ("email", email)],
    )
    .await
}

async fn set_password(b: &Browser, path: &str, password: &str, again: &str) -> Page {
    let t = b.get(path).await.csrf_token().unwrap();
    b.post(
        path,
        &[
            ("csrf_token", &t),
            ("password", password),
            ("password_confirm", again),
        ],
    )
    .await
}

async fn signs_in(app: &TestApp, email: &str, password: &str) -> bool {
    let b = app.browser();
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    let page = b
        .post(
            "/accounts/login/",
            &[("csrf_token", &t), ("email", email), ("password", password)],
        )
        .await;
    page.status == 303
}

/// The path of the reset link in a delivered message's text, after checking it points at the
/// configured site.
fn link_path(text: &str) -> String {
    let at = text
        .find(&format!("{SITE}/accounts/reset/"))
        .unwrap_or_else(|| panic!("no reset link to {SITE} in {text}"));
    let link: String = text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    link[SITE.len()..].to_owned()
}

/// The lead sentence of the "sent" page, without the address it names.
fn sent_words(page: &Page, email: &str) -> String {
    let at = page
        .body
        .find("id=\"reset-sent\"")
        .expect("the sent message");
    let rest = &page.body[at..];
    rest[..rest.find("</p>").expect("the message's end")].replace(email, "<email>")
}

async fn count(app: &TestApp, sql: &'static str, bind: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn reset_by_email(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let ann = CustomerBuilder::new()
        .email("ann@example.com")
        .create(&app.state.db)
        .await
        .unwrap();

    // The same answer for an account and for an address without one; one message only.
    let b = app.browser();
    let known = ask(&b, "  Ann@Example.com ").await;
    assert_eq!(known.status, 200, "{}", known.body);
    let unknown = ask(&app.browser(), "nobody@example.com").await;
    assert_eq!(unknown.status, known.status);
    assert_eq!(
        sent_words(&unknown, "nobody@example.com"),
        sent_words(&known, "ann@example.com")
    );
    let mail = smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0].rcpt_to, "ann@example.com");
    let path = link_path(mail[0].text.as_deref().unwrap());
    let token = path
        .trim_start_matches("/accounts/reset/")
        .trim_end_matches('/');
    // Only the token's hash is kept.
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM password_reset")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_ne!(stored, token);

    // The link's page names the account; a mismatch re-renders and changes nothing.
    let page = b.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("ann@example.com"));
    let mismatch = set_password(&b, &path, "a new password", "another one").await;
    assert_eq!(mismatch.status, 422, "{}", mismatch.body);
    assert!(
        mismatch.body.contains("don&#x27;t match"),
        "{}",
        mismatch.body
    );
    let short = set_password(&b, &path, "short", "short").await;
    assert_eq!(short.status, 422);
    assert!(signs_in(&app, "ann@example.com", &ann.password).await);

    let done = set_password(&b, &path, "a new password", "a new password").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/accounts/login/"));
    assert!(!signs_in(&app, "ann@example.com", &ann.password).await);
    assert!(signs_in(&app, "ann@example.com", "a new password").await);
    // The owner is told.
    let mail = smtp.wait_for(2, Duration::from_secs(30)).await;
    assert!(
        mail[1].subject.contains("was changed"),
        "{:?}",
        mail[1].subject
    );

    // Once only: the page says so, and a second post changes nothing.
    let again = b.get(&path).await;
    assert_eq!(again.status, 404);
    assert!(
        again.body.contains("id=\"reset-invalid\""),
        "{}",
        again.body
    );
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    let replay = b
        .post(
            &path,
            &[
                ("csrf_token", &t),
                ("password", "a third password"),
                ("password_confirm", "a third password"),
            ],
        )
        .await;
    assert_eq!(replay.status, 404);
    assert!(signs_in(&app, "ann@example.com", "a new password").await);
    // A made-up link is no link.
    assert_eq!(b.get("/accounts/reset/not-a-token/").await.status, 404);
    assert_eq!(
        b.get(&format!("/accounts/reset/{}/", "ab".repeat(32)))
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_email_sqlite() {
    reset_by_email(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_email_postgres() {
    reset_by_email(Backend::Postgres).await;
}

/// A link stops working when it expires; asking again within the resend window sends
/// nothing new; a switched-off account gets no link.
async fn expiry_resend_and_switched_off(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let bob = CustomerBuilder::new()
        .email("bob@example.com")
        .create(&app.state.db)
        .await
        .unwrap();
    let b = app.browser();
    assert_eq!(ask(&b, "bob@example.com").await.status, 200);
    assert_eq!(ask(&b, "bob@example.com").await.status, 200);
    let mail = smtp.wait_for(1, Duration::from_secs(30)).await;
    let path = link_path(mail[0].text.as_deref().unwrap());
    let links = "SELECT COUNT(*) FROM password_reset WHERE customer_id = $1";
    assert_eq!(count(&app, links, bob.id).await, 1, "one link per window");
    assert_eq!(b.get(&path).await.status, 200);
    sqlx::query("UPDATE password_reset SET expires_at = '2000-01-01T00:00:00Z'")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(b.get(&path).await.status, 404);
    let late = set_password(&b, &path, "too late now", "too late now").await;
    assert_eq!(late.status, 404);
    assert!(signs_in(&app, "bob@example.com", &bob.password).await);

    let off = CustomerBuilder::new()
        .email("off@example.com")
        .create(&app.state.db)
        .await
        .unwrap();
    sqlx::query("UPDATE customer SET is_active = $2 WHERE id = $1")
        .bind(off.id)
        .bind(false)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(ask(&b, "off@example.com").await.status, 200);
    assert_eq!(count(&app, links, off.id).await, 0);
    // A form with no address re-renders with the field's problem.
    let empty = ask(&b, "").await;
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("Enter your email address."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_resend_and_switched_off_sqlite() {
    expiry_resend_and_switched_off(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_resend_and_switched_off_postgres() {
    expiry_resend_and_switched_off(Backend::Postgres).await;
}

/// Staff who manage customers send a link from the customer's page (audited; the email
/// arrives); read-only staff may not.
async fn staff_send_a_link(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let cat = CustomerBuilder::new()
        .email("cat@example.com")
        .create(&app.state.db)
        .await
        .unwrap();
    add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;
    add_staff(&app, "reader@example.com", Role::ReadOnly, &[]).await;
    let detail = format!("/dashboard/customers/{}/", cat.id);
    let send = format!("{detail}password-reset/");

    let reader = staff_browser(&app, "reader@example.com").await;
    let page = reader.get(&detail).await;
    assert!(!page.body.contains("id=\"send-password-reset\""));
    let t = page.csrf_token().unwrap();
    assert_eq!(reader.post(&send, &[("csrf_token", &t)]).await.status, 403);
    let links = "SELECT COUNT(*) FROM password_reset WHERE customer_id = $1";
    assert_eq!(count(&app, links, cat.id).await, 0);

    let staff = staff_browser(&app, "orders@example.com").await;
    let page = staff.get(&detail).await;
    assert!(
        page.body.contains("id=\"send-password-reset\""),
        "{}",
        page.body
    );
    let t = page.csrf_token().unwrap();
    let sent = staff.post(&send, &[("csrf_token", &t)]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let shown = staff.get(&detail).await;
    assert!(shown.body.contains("A password-reset link is on its way"));
    let mail = smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mail[0].rcpt_to, "cat@example.com");
    let path = link_path(mail[0].text.as_deref().unwrap());
    let audited = "SELECT COUNT(*) FROM audit_log WHERE action = 'customer.password_reset_sent' \
                   AND object_id = CAST($1 AS TEXT)";
    assert_eq!(count(&app, audited, cat.id).await, 1);
    // A second press within the window sends nothing new and says so.
    let again = staff.post(&send, &[("csrf_token", &t)]).await;
    assert_eq!(again.status, 303);
    assert!(staff.get(&detail).await.body.contains("still works"));
    assert_eq!(count(&app, links, cat.id).await, 1);
    // The customer finishes it.
    let b = app.browser();
    let done = set_password(&b, &path, "chosen by cat", "chosen by cat").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(signs_in(&app, "cat@example.com", "chosen by cat").await);
    // No such customer.
    let missing = staff
        .post(
            "/dashboard/customers/999999/password-reset/",
            &[("csrf_token", &t)],
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_send_a_link_sqlite() {
    staff_send_a_link(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_send_a_link_postgres() {
    staff_send_a_link(Backend::Postgres).await;
}
