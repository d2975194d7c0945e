//! Back-in-stock alerts over HTTP, against the real app on SQLite and PostgreSQL, with the
//! alert task running (every second here) and the mail read from a real SMTP server on
//! loopback: a customer's alert is active at once, a guest's only after the emailed link is
//! confirmed; when stock returns each active alert is emailed once; the unsubscribe link
//! cancels every open alert of its address; one customer cannot cancel another's alert.

mod support;

use std::time::Duration;

use emporium::fixtures::{CreatedProduct, CustomerBuilder, ProductBuilder};
use support::smtp::{Delivered, SmtpServer};
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

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let who = CustomerBuilder::new()
        .email(email)
        .create(&app.state.db)
        .await
        .unwrap();
    let b = app.browser();
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    let page = b
        .post(
            "/accounts/login/",
            &[
                ("csrf_token", &t),
                ("email", email),
                ("password", &who.password),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    b
}

/// Asks for an alert from the product page, as the page's form does; the page it lands on.
async fn ask(b: &Browser, product: &CreatedProduct, email: Option<&str>) -> Page {
    let page = b.get(&product.url()).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("class=\"stock-alert-form\""),
        "an out-of-stock page offers the alert: {}",
        page.body
    );
    let mut form = vec![];
    let token = page.csrf_token();
    if let Some(t) = &token {
        form.push(("csrf_token", t.as_str()));
    }
    if let Some(email) = email {
        form.push(("email", email));
    }
    b.post_and_follow(&format!("/alerts/products/{}/", product.id), &form)
        .await
}

fn link(mail: &Delivered, prefix: &str) -> String {
    let body = mail.text.as_deref().unwrap_or_default();
    let at = body
        .find(&format!("{SITE}{prefix}"))
        .unwrap_or_else(|| panic!("no {prefix} link in {body}"));
    let link: String = body[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    link[SITE.len()..].to_owned()
}

/// Presses the button on an emailed link's page.
async fn press(b: &Browser, path: &str) -> Page {
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    let t = page.csrf_token().unwrap();
    b.post(path, &[("csrf_token", &t)]).await
}

async fn statuses(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT email, status FROM product_alert ORDER BY email")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
}

async fn alerts(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = start(backend, &smtp).await;
    let gone = ProductBuilder::new()
        .title("Copper kettle")
        .stock(0)
        .create(&app.state.db)
        .await
        .unwrap();
    let plenty = ProductBuilder::new()
        .stock(5)
        .create(&app.state.db)
        .await
        .unwrap();

    // A customer: active at once; asking twice keeps one alert.
    let ann = signed_in(&app, "ann@example.com").await;
    let page = ask(&ann, &gone, None).await;
    assert!(
        page.body.contains("We&#x27;ll email ann@example.com"),
        "{}",
        page.body
    );
    let page = ask(&ann, &gone, None).await;
    assert!(
        page.body.contains("already going to email"),
        "{}",
        page.body
    );
    // Nothing to wait for on a product in stock.
    let in_stock = ann.get(&plenty.url()).await;
    assert!(!in_stock.body.contains("class=\"stock-alert-form\""));
    let t = in_stock.csrf_token().unwrap();
    let page = ann
        .post_and_follow(
            &format!("/alerts/products/{}/", plenty.id),
            &[("csrf_token", &t)],
        )
        .await;
    assert!(page.body.contains("in stock now"), "{}", page.body);

    // Guests: a bad address is refused; a good one gets a confirmation link and nothing is
    // active until it is pressed.
    let guest = app.browser();
    let page = ask(&guest, &gone, Some("not an address")).await;
    assert!(
        page.body.contains("Enter a valid email address"),
        "{}",
        page.body
    );
    let page = ask(&guest, &gone, Some("Ben@Example.com")).await;
    assert!(
        page.body.contains("sent a link to ben@example.com"),
        "{}",
        page.body
    );
    let lurker = app.browser();
    ask(&lurker, &gone, Some("cat@example.com")).await;
    let quitter = app.browser();
    ask(&quitter, &gone, Some("dan@example.com")).await;
    let mail = smtp.wait_for(3, WAIT).await;
    let to = |who: &str| mail.iter().find(|m| m.rcpt_to == who).cloned().unwrap();
    let confirm = link(&to("ben@example.com"), "/alerts/confirm/");
    assert!(guest.get(&confirm).await.body.contains("Copper kettle"));
    assert_eq!(
        statuses(&app).await,
        [
            ("ann@example.com".into(), "active".into()),
            ("ben@example.com".into(), "unconfirmed".into()),
            ("cat@example.com".into(), "unconfirmed".into()),
            ("dan@example.com".into(), "unconfirmed".into()),
        ],
        "following the link alone confirms nothing"
    );
    let done = press(&guest, &confirm).await;
    assert!(
        done.body.contains("id=\"alert-confirmed\""),
        "{}",
        done.body
    );
    let dan_confirm = link(&to("dan@example.com"), "/alerts/confirm/");
    press(&quitter, &dan_confirm).await;
    let unsubscribe = link(&to("dan@example.com"), "/alerts/unsubscribe/");
    let done = press(&quitter, &unsubscribe).await;
    assert!(
        done.body.contains("id=\"alert-unsubscribed\""),
        "{}",
        done.body
    );
    assert_eq!(
        app.browser()
            .get("/alerts/confirm/not-a-token/")
            .await
            .status,
        404
    );

    // Another customer cannot cancel Ann's alert.
    let ann_alert = app
        .scalar_i64("SELECT CAST(id AS BIGINT) FROM product_alert WHERE email = 'ann@example.com'")
        .await;
    let eve = signed_in(&app, "eve@example.com").await;
    let t = eve.get("/accounts/alerts/").await.csrf_token().unwrap();
    let cancel = format!("/accounts/alerts/{ann_alert}/cancel/");
    assert_eq!(eve.post(&cancel, &[("csrf_token", &t)]).await.status, 404);
    let listed = ann.get("/accounts/alerts/").await;
    assert!(listed.body.contains("Copper kettle") && listed.body.contains("Waiting for stock"));
    assert!(
        !eve.get("/accounts/alerts/")
            .await
            .body
            .contains("Copper kettle")
    );

    // Stock returns: the two active alerts are emailed, once each; the unconfirmed and the
    // unsubscribed are not.
    sqlx::query("UPDATE stock_record SET num_in_stock = 3 WHERE product_id = $1")
        .bind(gone.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let mail = smtp.wait_for(5, WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mail_now = smtp.messages();
    assert_eq!(mail_now.len(), mail.len(), "each alert is sent once");
    let back: Vec<&str> = mail_now
        .iter()
        .filter(|m| m.subject.contains("Back in stock"))
        .map(|m| m.rcpt_to.as_str())
        .collect();
    assert_eq!(back.len(), 2, "{mail_now:#?}");
    assert!(back.contains(&"ann@example.com") && back.contains(&"ben@example.com"));
    let sent = mail_now
        .iter()
        .find(|m| m.rcpt_to == "ann@example.com" && m.subject.contains("Back in stock"))
        .unwrap();
    assert!(
        sent.text
            .as_deref()
            .unwrap()
            .contains(&format!("{SITE}{}", gone.url()))
    );
    assert_eq!(
        statuses(&app).await,
        [
            ("ann@example.com".into(), "sent".into()),
            ("ben@example.com".into(), "sent".into()),
            ("cat@example.com".into(), "unconfirmed".into()),
            ("dan@example.com".into(), "cancelled".into()),
        ]
    );
    assert!(ann.get("/accounts/alerts/").await.body.contains("Emailed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_sqlite() {
    alerts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_postgres() {
    alerts(Backend::Postgres).await;
}
