//! A customer's own account over HTTP, against the real app on SQLite and PostgreSQL with the
//! mail delivered to a real SMTP server on loopback: changing the password (every other
//! browser is signed out), changing the email address (confirmed from the new address, the old
//! one told, no hint of who has an account), "remember me", signing out everywhere, deleting
//! the account (orders kept without the personal data), and staff switching an account off
//! (its sessions end).

mod support;

use std::time::Duration;

use emporium::fixtures::{CreatedCustomer, CustomerBuilder};
use emporium::staff::Role;
use support::smtp::{Delivered, SmtpServer};
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, Page, TestApp, shopper};

const SITE: &str = "https://shop.example.test";
const WAIT: Duration = Duration::from_secs(30);

async fn start(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let options = Options {
        smtp_url: Some(smtp.url()),
        ..Default::default()
    };
    TestApp::start_tweaked(backend, options, |c| {
        c.site_url = Some(format!("{SITE}/"));
    })
    .await
}

async fn customer(app: &TestApp, email: &str) -> CreatedCustomer {
    CustomerBuilder::new()
        .email(email)
        .create(&app.state.db)
        .await
        .unwrap()
}

async fn sign_in_with(
    app: &TestApp,
    email: &str,
    password: &str,
    remember: bool,
) -> (Browser, Page) {
    let b = app.browser();
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    let mut form = vec![
        ("csrf_token", t.as_str()),
        ("email", email),
        ("password", password),
    ];
    if remember {
        form.push(("remember", "on"));
    }
    let page = b.post("/accounts/login/", &form).await;
    (b, page)
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let (b, page) = sign_in_with(app, email, password, false).await;
    assert_eq!(page.status, 303, "sign in as {email}: {}", page.body);
    b
}

async fn signs_in(app: &TestApp, email: &str, password: &str) -> bool {
    sign_in_with(app, email, password, false).await.1.status == 303
}

/// Whether the browser is still signed in: its profile page opens instead of sending it to
/// the sign-in form.
async fn still_signed_in(b: &Browser) -> bool {
    let page = b.get("/accounts/profile/").await;
    match page.status {
        200 => true,
        303 => false,
        other => panic!("profile: {other} {}", page.body),
    }
}

/// Posts `form` with the CSRF token of the page at `from`.
async fn submit(b: &Browser, from: &str, to: &str, form: &[(&str, &str)]) -> Page {
    let t = b.get(from).await.csrf_token().unwrap();
    let mut form = form.to_vec();
    form.push(("csrf_token", &t));
    b.post(to, &form).await
}

fn text(mail: &Delivered) -> &str {
    mail.text.as_deref().unwrap_or_default()
}

/// The site path of the first link to `SITE` under `prefix` in a message's text.
fn link_path(mail: &Delivered, prefix: &str) -> String {
    let body = text(mail);
    let at = body
        .find(&format!("{SITE}{prefix}"))
        .unwrap_or_else(|| panic!("no {prefix} link to {SITE} in {body}"));
    let link: String = body[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    link[SITE.len()..].to_owned()
}

async fn count(app: &TestApp, sql: &'static str, bind: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn password_change(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let ann = customer(&app, "ann@example.com").await;
    let here = signed_in(&app, "ann@example.com", &ann.password).await;
    let elsewhere = signed_in(&app, "ann@example.com", &ann.password).await;

    // A visitor is sent to sign in first.
    let visitor = app.browser().get("/accounts/password/").await;
    assert_eq!(visitor.status, 303);
    assert_eq!(
        visitor.location.as_deref(),
        Some("/accounts/login/?next=/accounts/password/")
    );

    // Problems re-render the form and change nothing.
    let wrong = submit(
        &here,
        "/accounts/password/",
        "/accounts/password/",
        &[
            ("current_password", "not my password"),
            ("password", "a new password"),
            ("password_confirm", "a new password"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(
        wrong.body.contains("isn&#x27;t your current password"),
        "{}",
        wrong.body
    );
    let mismatch = submit(
        &here,
        "/accounts/password/",
        "/accounts/password/",
        &[
            ("current_password", &ann.password),
            ("password", "a new password"),
            ("password_confirm", "another password"),
        ],
    )
    .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body.contains("don&#x27;t match"));
    assert!(still_signed_in(&elsewhere).await);

    let done = submit(
        &here,
        "/accounts/password/",
        "/accounts/password/",
        &[
            ("current_password", &ann.password),
            ("password", "a new password"),
            ("password_confirm", "a new password"),
        ],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/accounts/profile/"));
    assert!(still_signed_in(&here).await, "this browser stays signed in");
    assert!(!still_signed_in(&elsewhere).await, "the other one is out");
    assert!(!signs_in(&app, "ann@example.com", &ann.password).await);
    assert!(signs_in(&app, "ann@example.com", "a new password").await);
    let mail = smtp.wait_for(1, WAIT).await;
    let told: Vec<_> = mail
        .iter()
        .filter(|m| m.rcpt_to == "ann@example.com")
        .collect();
    assert_eq!(told.len(), 1, "{mail:#?}");
    assert!(
        told[0].subject.contains("was changed"),
        "{:?}",
        told[0].subject
    );
    assert!(text(told[0]).contains("from your account page"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_sqlite() {
    password_change(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_postgres() {
    password_change(Backend::Postgres).await;
}

/// The words of the "sent" message, without the address it names.
fn sent_words(page: &Page, email: &str) -> String {
    let at = page
        .body
        .find("id=\"email-change-sent\"")
        .expect("the sent message");
    let rest = &page.body[at..];
    rest[..rest.find("</p>").unwrap()].replace(email, "<email>")
}

async fn email_change(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let bob = customer(&app, "bob@example.com").await;
    let taken = customer(&app, "taken@example.com").await;
    let b = signed_in(&app, "bob@example.com", &bob.password).await;
    let elsewhere = signed_in(&app, "bob@example.com", &bob.password).await;

    let ask = |email: &'static str, password: String| {
        let b = &b;
        async move {
            submit(
                b,
                "/accounts/email/",
                "/accounts/email/",
                &[("email", email), ("password", &password)],
            )
            .await
        }
    };
    // A wrong password, a bad address, the same address: the form again.
    let wrong = ask("new-bob@example.com", "not my password".into()).await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("isn&#x27;t your current password"));
    assert_eq!(
        ask("not-an-address", bob.password.clone()).await.status,
        422
    );
    let same = ask("bob@example.com", bob.password.clone()).await;
    assert_eq!(same.status, 422);
    assert!(same.body.contains("already your email address"));

    // An address with an account and one without get the same answer.
    let to_taken = ask("taken@example.com", bob.password.clone()).await;
    assert_eq!(to_taken.status, 200, "{}", to_taken.body);
    let to_new = ask("new-bob@example.com", bob.password.clone()).await;
    assert_eq!(to_new.status, 200, "{}", to_new.body);
    assert_eq!(
        sent_words(&to_taken, "taken@example.com"),
        sent_words(&to_new, "new-bob@example.com")
    );
    let mail = smtp.wait_for(2, WAIT).await;
    assert_eq!(mail.len(), 2, "{mail:#?}");
    let note = mail
        .iter()
        .find(|m| m.rcpt_to == "taken@example.com")
        .unwrap();
    assert!(
        !text(note).contains("/accounts/email/confirm/"),
        "no link to a taken address"
    );
    let links = "SELECT COUNT(*) FROM email_change WHERE customer_id = $1";
    assert_eq!(
        count(&app, links, bob.id).await,
        1,
        "only the free address got a link"
    );
    let message = mail
        .iter()
        .find(|m| m.rcpt_to == "new-bob@example.com")
        .unwrap();
    let path = link_path(message, "/accounts/email/confirm/");
    // Nothing went to the old address yet, and nothing changed.
    assert!(signs_in(&app, "bob@example.com", &bob.password).await);

    // Following the link shows a button and changes nothing (a mail scanner may fetch it).
    let page = b.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("new-bob@example.com"));
    assert!(signs_in(&app, "bob@example.com", &bob.password).await);

    let done = submit(&b, &path, &path, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/accounts/profile/"));
    let profile = b.get("/accounts/profile/").await;
    assert!(
        profile.body.contains("new-bob@example.com"),
        "{}",
        profile.body
    );
    assert!(
        !still_signed_in(&elsewhere).await,
        "other browsers are signed out"
    );
    assert!(signs_in(&app, "new-bob@example.com", &bob.password).await);
    assert!(!signs_in(&app, "bob@example.com", &bob.password).await);
    let mail = smtp.wait_for(3, WAIT).await;
    let told = mail
        .iter()
        .find(|m| m.rcpt_to == "bob@example.com")
        .expect("the old address is told");
    assert!(text(told).contains("new-bob@example.com"));

    // Once only.
    let again = b.get(&path).await;
    assert_eq!(again.status, 404);
    assert!(again.body.contains("id=\"email-link-invalid\""));
    assert_eq!(
        submit(&b, "/accounts/profile/", &path, &[]).await.status,
        404
    );
    assert_eq!(
        b.get("/accounts/email/confirm/not-a-token/").await.status,
        404
    );

    // A link whose address another account took meanwhile changes nothing.
    let asked = ask("late@example.com", bob.password.clone()).await;
    assert_eq!(asked.status, 200);
    let mail = smtp.wait_for(4, WAIT).await;
    let late = mail
        .iter()
        .find(|m| m.rcpt_to == "late@example.com")
        .unwrap();
    let late_path = link_path(late, "/accounts/email/confirm/");
    customer(&app, "late@example.com").await;
    let refused = submit(&b, &late_path, &late_path, &[]).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(signs_in(&app, "new-bob@example.com", &bob.password).await);
    assert!(signs_in(&app, "taken@example.com", &taken.password).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_change_sqlite() {
    email_change(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_change_postgres() {
    email_change(Backend::Postgres).await;
}

fn session_cookie(page: &Page) -> String {
    page.set_cookie
        .iter()
        .find(|c| c.starts_with(&format!("{}=", emporium::session::COOKIE_NAME)))
        .cloned()
        .expect("a session cookie")
}

/// "Remember me" decides whether the cookie outlives the browser; "sign out everywhere" ends
/// every other session and keeps this one.
async fn remember_and_sign_out_everywhere(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let cat = customer(&app, "cat@example.com").await;

    let (_, forgetful) = sign_in_with(&app, "cat@example.com", &cat.password, false).await;
    assert_eq!(forgetful.status, 303);
    let cookie = session_cookie(&forgetful);
    assert!(
        !cookie.contains("Max-Age"),
        "ends with the browser: {cookie}"
    );
    let (remembered, kept) = sign_in_with(&app, "cat@example.com", &cat.password, true).await;
    let cookie = session_cookie(&kept);
    let month = app.state.config.remember_ttl_secs;
    assert!(cookie.contains(&format!("Max-Age={month}")), "{cookie}");
    let profile = remembered.get("/accounts/profile/").await;
    assert!(profile.body.contains("stays signed in"), "{}", profile.body);
    // A visitor's cookie still lasts (their basket should survive a restart).
    let visitor = app.browser().get("/accounts/login/").await;
    let ttl = app.state.config.session_ttl_secs;
    assert!(session_cookie(&visitor).contains(&format!("Max-Age={ttl}")));

    let other = signed_in(&app, "cat@example.com", &cat.password).await;
    let dan = customer(&app, "dan@example.com").await;
    let someone_else = signed_in(&app, "dan@example.com", &dan.password).await;
    let done = submit(
        &remembered,
        "/accounts/profile/",
        "/accounts/sign-out-everywhere/",
        &[],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let renewed = session_cookie(&done);
    assert!(
        renewed.contains(&format!("Max-Age={month}")),
        "still remembered: {renewed}"
    );
    assert!(still_signed_in(&remembered).await);
    assert!(!still_signed_in(&other).await);
    assert!(
        still_signed_in(&someone_else).await,
        "another customer is untouched"
    );
    let left = "SELECT COUNT(*) FROM web_session WHERE customer_id = $1";
    if app.state.sessions.name() == "database" {
        assert_eq!(count(&app, left, cat.id).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remember_and_sign_out_everywhere_sqlite() {
    remember_and_sign_out_everywhere(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remember_and_sign_out_everywhere_postgres() {
    remember_and_sign_out_everywhere(Backend::Postgres).await;
}

/// Deleting the account: the password is asked for; the orders stay without the email
/// address, phone numbers or the link to the account; everything else of the account goes.
async fn account_deletion(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    for id in ["flat-rate-shipping", "test-card-gateway"] {
        emporium::plugins::lifecycle::service::set_trace_mode(
            &app.state.db,
            &app.state.plugins,
            emporium::audit::Actor::CommandLine,
            id,
            emporium::plugins::runtime::TraceMode::All,
        )
        .await
        .unwrap();
    }
    let eve = customer(&app, "eve@example.com").await;
    let b = signed_in(&app, "eve@example.com", &eve.password).await;
    let elsewhere = signed_in(&app, "eve@example.com", &eve.password).await;
    let product = app
        .scalar_i64("SELECT CAST(MIN(product_id) AS BIGINT) FROM stock_record")
        .await;
    shopper::add(&b, product, 1).await;
    let preview = shopper::to_preview(&b, None, None, "test-card-gateway").await;
    let placed = shopper::place(&b, &preview, Some(shopper::GOOD_CARD)).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    // Something left in the basket, which goes with the account.
    shopper::add(&b, product, 1).await;
    let order = app.scalar_text("SELECT number FROM shop_order").await;

    let wrong = submit(
        &b,
        "/accounts/delete/",
        "/accounts/delete/",
        &[("password", "nope")],
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let customers = "SELECT COUNT(*) FROM customer WHERE id = $1";
    assert_eq!(count(&app, customers, eve.id).await, 1);
    let traces = app.state.plugins.traces().unwrap();
    traces.flush().await;
    let recorded = "SELECT COUNT(*) FROM plugin_trace";
    assert!(
        app.scalar_i64(recorded).await > 0,
        "her checkout's quotes and payment were recorded"
    );

    let done = submit(
        &b,
        "/accounts/delete/",
        "/accounts/delete/",
        &[("password", &eve.password)],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/"));
    assert_eq!(count(&app, customers, eve.id).await, 0);
    assert!(!still_signed_in(&b).await);
    assert!(!still_signed_in(&elsewhere).await);
    assert!(!signs_in(&app, "eve@example.com", &eve.password).await);
    let kept: (String, Option<i64>, String) = sqlx::query_as(
        "SELECT email, customer_id, shipping_address FROM shop_order WHERE number = $1",
    )
    .bind(&order)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(kept.0, "", "the order's email is gone");
    assert_eq!(kept.1, None);
    assert!(!kept.2.contains("7946"), "the phone is gone: {}", kept.2);
    assert!(kept.2.contains("SW1Y 4JH"), "the address stays: {}", kept.2);
    let baskets = "SELECT COUNT(*) FROM basket WHERE owner_id = $1";
    assert_eq!(count(&app, baskets, eve.id).await, 0);
    // Her recorded plugin decisions went with the account.
    traces.flush().await;
    assert_eq!(app.scalar_i64(recorded).await, 0);
    // The order confirmation and the goodbye: waiting for one alone can see only the first.
    let mail = smtp.wait_for(2, WAIT).await;
    let goodbye = mail.iter().find(|m| m.subject.contains("has been deleted"));
    assert!(
        goodbye.is_some_and(|m| m.rcpt_to == "eve@example.com"),
        "{mail:#?}"
    );
    // The address is free again.
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM customer WHERE email = 'eve@example.com'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_deletion_sqlite() {
    account_deletion(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_deletion_postgres() {
    account_deletion(Backend::Postgres).await;
}

/// A customer switched off by staff is signed out at once, on every backend of sessions.
async fn switched_off_customers_are_signed_out(app: TestApp) {
    let fay = customer(&app, "fay@example.com").await;
    let b = signed_in(&app, "fay@example.com", &fay.password).await;
    assert!(still_signed_in(&b).await);
    add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
    let staff = staff_browser(&app, "admin@example.com").await;
    let detail = format!("/dashboard/customers/{}/", fay.id);
    let off = submit(
        &staff,
        &detail,
        &format!("{detail}active/"),
        &[("active", "0")],
    )
    .await;
    assert_eq!(off.status, 303, "{}", off.body);
    assert!(!still_signed_in(&b).await);
    assert!(!signs_in(&app, "fay@example.com", &fay.password).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_customers_are_signed_out_sqlite() {
    switched_off_customers_are_signed_out(TestApp::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_customers_are_signed_out_redis() {
    let options = Options {
        redis_url: Some("redis://127.0.0.1:6379".into()),
        ..Options::default()
    };
    let app = TestApp::start_with(Backend::Postgres, options).await;
    assert_eq!(app.state.sessions.name(), "redis");
    switched_off_customers_are_signed_out(app).await;
}
