//! A person's checkout in real headless Chromium (driven over WebDriver by chromedriver):
//! product page → add to basket → basket → checkout as a guest → address → delivery →
//! payment → card → place order → thank-you page, against the real app with real plugins.
//! `.ci/run` installs Debian's chromium and chromium-driver; `EMPORIUM_CHROMEDRIVER` and
//! `EMPORIUM_CHROMIUM` point elsewhere.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emporium::fixtures::ProductBuilder;
use fantoccini::{Client, ClientBuilder, Locator};
use support::{Backend, TestApp};

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::env::var("EMPORIUM_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{bin} must be installed for the browser tests (apt install chromium chromium-driver): {e}")
        });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver) -> Client {
    let chromium =
        std::env::var("EMPORIUM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a headless Chromium session")
}

/// A card expiry in the future whenever the test runs (December next year, MM/YY): the test
/// gateway checks it against the clock.
fn card_expiry() -> String {
    let year = time::OffsetDateTime::now_utc().year() + 1;
    format!("12/{:02}", year % 100)
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Scrolls the element to the middle of the window (as a person would) and clicks it.
async fn click(c: &Client, css: &str) {
    let element = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    c.execute(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
        vec![serde_json::to_value(&element).unwrap()],
    )
    .await
    .unwrap();
    if let Err(e) = element.click().await {
        if let Ok(png) = c.screenshot().await {
            let _ = std::fs::write("/tmp/emporium-browser-failure.png", png);
        }
        panic!("clicking {css}: {e} (screenshot: /tmp/emporium-browser-failure.png)");
    }
}

/// Clicks something that loads another page and waits until a new document has loaded at
/// `path`. Comparing URLs alone is not enough: a form that redirects back to the page it is on
/// (add to basket, a declined card) leaves the URL as it was, so the old document is marked
/// first and a page counts as the next one only once the mark is gone.
async fn click_to(c: &Client, css: &str, path: &str) {
    c.execute("window.emporiumOldPage = true;", vec![])
        .await
        .unwrap();
    click(c, css).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // While the browser navigates the script may fail (no document yet): not loaded.
        let loaded = c
            .execute(
                "return window.emporiumOldPage === undefined && document.readyState === 'complete' \
                 ? location.pathname : null;",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        match loaded {
            Some(at) if at == path => return,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no new page at {path} after clicking {css}; at {:?}: {}",
            c.current_url().await.map(|u| u.to_string()),
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_buys_a_product_in_chromium() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    let product = ProductBuilder::new().create(&app.state.db).await.unwrap();
    let (id, product_path) = (product.id, product.url());

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    c.goto(&format!("{}{product_path}", app.base))
        .await
        .unwrap();
    click_to(
        &c,
        &format!("form[action=\"/basket/add/{id}/\"] button[type=\"submit\"]"),
        &product_path,
    )
    .await;
    c.goto(&format!("{}/basket/", app.base)).await.unwrap();
    click_to(&c, "#proceed-to-checkout", "/checkout/gateway/").await;

    // A typo in the email is caught and shown next to the field.
    fill(&c, "#id-email", "ada.example.com").await;
    click_to(&c, "#continue-as-guest", "/checkout/gateway/").await;
    let error = c
        .find(Locator::Css("#id-email-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("valid email"), "{error}");
    fill(&c, "#id-email", "ada@example.com").await;
    click_to(&c, "#continue-as-guest", "/checkout/shipping-address/").await;

    fill(&c, "#id-name", "Ada Lovelace").await;
    fill(&c, "#id-line1", "12 St James's Square").await;
    fill(&c, "#id-city", "London").await;
    fill(&c, "#id-postcode", "SW1Y 4JH").await;
    click_to(&c, "#address-continue", "/checkout/shipping-method/").await;
    click_to(&c, "#method-continue", "/checkout/payment-method/").await;
    click_to(&c, "#payment-continue", "/checkout/preview/").await;

    // A declined card: the customer sees why and can try again.
    fill(&c, "#id-card_number", "4000 0000 0000 0002").await;
    fill(&c, "#id-card_expiry", &card_expiry()).await;
    fill(&c, "#id-card_cvc", "123").await;
    fill(&c, "#id-card_name", "Ada Lovelace").await;
    click_to(&c, "#place-order", "/checkout/preview/").await;
    // The new page (not the one the card was typed on) tells why.
    let page = c.source().await.unwrap();
    assert!(
        page.contains("Your card was declined."),
        "no decline message"
    );

    fill(&c, "#id-card_number", "4242 4242 4242 4242").await;
    fill(&c, "#id-card_expiry", &card_expiry()).await;
    fill(&c, "#id-card_cvc", "123").await;
    fill(&c, "#id-card_name", "Ada Lovelace").await;
    click_to(&c, "#place-order", "/checkout/thank-you/").await;
    let number = c
        .find(Locator::Css("#order-number"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        number,
        app.scalar_text("SELECT number FROM shop_order").await
    );

    // The guest's status link opens the order.
    click_to(&c, "#order-status-link", &format!("/orders/{number}/")).await;
    let status = c
        .find(Locator::Css("#order-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "Pending");
    c.close().await.unwrap();
}

/// Where the dashboard test keeps its screenshots (printed, so a person can look at them).
fn screenshot_dir() -> std::path::PathBuf {
    let dir = support::repo_root().join("target/screenshots/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Staff in Chromium: sign in to the dashboard, find a guest's order from the list, ship it
/// with a tracking reference, and the customer's email arrives at the SMTP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_ship_an_order_from_the_dashboard_in_chromium() {
    use support::shopper;
    let smtp = support::smtp::SmtpServer::start();
    let options = support::Options {
        smtp_url: Some(smtp.url()),
        ..Default::default()
    };
    let app = TestApp::start_with(Backend::Sqlite, options).await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    let product = emporium::fixtures::ProductBuilder::new()
        .create(&app.state.db)
        .await
        .unwrap()
        .id;
    let buyer = app.browser();
    shopper::add(&buyer, product, 1).await;
    let preview =
        shopper::to_preview(&buyer, Some("ada@example.com"), None, "test-card-gateway").await;
    let placed = shopper::place(&buyer, &preview, Some(shopper::GOOD_CARD)).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let number = app.scalar_text("SELECT number FROM shop_order").await;
    emporium::staff::add(
        &app.state.db,
        "admin@example.com",
        "admin password",
        emporium::staff::Role::Admin,
        &[],
    )
    .await
    .unwrap();

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    c.goto(&format!("{}/dashboard/", app.base)).await.unwrap();
    // Not signed in: the sign-in form, which comes back to the dashboard.
    assert_eq!(c.current_url().await.unwrap().path(), "/dashboard/login/");
    fill(&c, "#id-email", "admin@example.com").await;
    fill(&c, "#id-password", "admin password").await;
    screenshot(&c, "01-sign-in").await;
    click_to(&c, "#dash-sign-in", "/dashboard/").await;
    screenshot(&c, "02-home").await;
    click_to(&c, "a[href=\"/dashboard/orders/\"]", "/dashboard/orders/").await;
    screenshot(&c, "03-orders").await;
    let order_path = format!("/dashboard/orders/{number}/");
    click_to(&c, &format!("a[href=\"{order_path}\"]"), &order_path).await;
    screenshot(&c, "04-order").await;
    // Capture the whole authorisation (the form offers it), through the gateway plugin.
    click_to(&c, "#capture-submit", &order_path).await;
    let page = c.source().await.unwrap();
    assert!(page.contains("Captured £"), "{page}");
    assert_eq!(
        app.scalar_i64("SELECT debited_minor FROM payment_source")
            .await,
        app.scalar_i64("SELECT allocated_minor FROM payment_source")
            .await
    );
    fill(&c, "#id-tracking", "TRK-7781").await;
    click_to(&c, "#fulfil-submit", &order_path).await;
    screenshot(&c, "05-shipped").await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("The customer has been sent an email"),
        "{page}"
    );
    assert!(page.contains("Tracking: TRK-7781"));
    assert_eq!(
        app.scalar_text("SELECT status FROM shop_order").await,
        "Shipped"
    );
    // The confirmation and the shipping email, both at the SMTP server.
    let mail = smtp.wait_for(2, Duration::from_secs(60)).await;
    let shipped = mail
        .iter()
        .find(|m| m.subject.contains("is on its way"))
        .unwrap_or_else(|| panic!("no shipping email among {mail:?}"));
    assert_eq!(shipped.rcpt_to, "ada@example.com");
    assert!(
        shipped
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("TRK-7781")
    );
    // A partial refund (the delivery charge), by amount.
    fill(
        &c,
        "#payments input[name=\"amount\"][id^=\"id-refund-\"]",
        "4.95",
    )
    .await;
    click_to(&c, "#refund-amount-submit", &order_path).await;
    screenshot(&c, "06-refunded").await;
    let page = c.source().await.unwrap();
    assert!(page.contains("Refunded £4.95"), "{page}");
    assert_eq!(
        app.scalar_i64("SELECT refunded_minor FROM payment_source")
            .await,
        495
    );
    c.close().await.unwrap();
    println!("dashboard screenshots: {}", screenshot_dir().display());
}

/// The dashboard's vendored editor and pickers in a real browser: the description gets the
/// Trix editor and the recommendations a Tom Select picker searching the product lookup; what
/// they post is what the plain form would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_write_rich_text_and_pick_recommendations_in_chromium() {
    assert!(
        support::repo_root()
            .join("themes/default/static/vendor/trix.js")
            .exists(),
        "the dashboard's npm packages are not copied in: run `cargo xtask dashboard-assets`"
    );
    let app = TestApp::start(Backend::Sqlite).await;
    let product = ProductBuilder::new()
        .title("Browser kettle")
        .create(&app.state.db)
        .await
        .unwrap()
        .id;
    let teapot = ProductBuilder::new()
        .title("Browser teapot")
        .create(&app.state.db)
        .await
        .unwrap()
        .id;
    emporium::staff::add(
        &app.state.db,
        "admin@example.com",
        "admin password",
        emporium::staff::Role::Admin,
        &[],
    )
    .await
    .unwrap();
    let driver = start_chromedriver();
    let c = browser(&driver).await;
    c.goto(&format!("{}/dashboard/login/", app.base))
        .await
        .unwrap();
    fill(&c, "#id-email", "admin@example.com").await;
    fill(&c, "#id-password", "admin password").await;
    click_to(&c, "#dash-sign-in", "/dashboard/").await;
    let path = format!("/dashboard/catalogue/products/{product}/");
    c.goto(&format!("{}{path}", app.base)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.find(Locator::Css("trix-editor")).await.is_err()
        || c.find(Locator::Css(".ts-wrapper .ts-control input"))
            .await
            .is_err()
    {
        assert!(Instant::now() < deadline, "{}", c.source().await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let editor = c.find(Locator::Css("trix-editor")).await.unwrap();
    editor.click().await.unwrap();
    c.execute(
        "document.querySelector('trix-editor').editor.loadHTML('');",
        vec![],
    )
    .await
    .unwrap();
    editor.send_keys("Boils in a minute").await.unwrap();
    let search = c
        .find(Locator::Css(".ts-wrapper .ts-control input"))
        .await
        .unwrap();
    search.send_keys("teapot").await.unwrap();
    let option = format!(".ts-dropdown [data-value=\"{teapot}\"]");
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.find(Locator::Css(&option)).await.is_err() {
        assert!(Instant::now() < deadline, "the lookup found no teapot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    click(&c, &option).await;
    screenshot(&c, "10-rich-text-and-picker").await;
    click_to(&c, ".dash-product-form button[type=submit]", &path).await;
    let page = c.source().await.unwrap();
    assert!(page.contains("The product was saved."), "{page}");
    let description: String = sqlx::query_scalar("SELECT description FROM product WHERE id = $1")
        .bind(product)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert!(
        description.contains("Boils in a minute") && description.starts_with('<'),
        "{description}"
    );
    let recommended: Vec<i64> = sqlx::query_scalar(
        "SELECT recommended_id FROM product_recommendation WHERE primary_id = $1",
    )
    .bind(product)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(recommended, [teapot]);
}
