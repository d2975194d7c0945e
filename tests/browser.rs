//! A person's checkout in real headless Chromium (driven over WebDriver by chromedriver):
//! product page → add to basket → basket → checkout as a guest → address → delivery →
//! payment → card → place order → thank-you page, against the real app with real plugins.
//! `.ci/run` installs Debian's chromium and chromium-driver; `EMPORIUM_CHROMEDRIVER` and
//! `EMPORIUM_CHROMIUM` point elsewhere.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use sqlx::Row;
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

async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = c.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stuck at {url}, wanted {path}: {}",
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
    let row = sqlx::query(
        "SELECT p.id, p.slug FROM product p JOIN product_class pc ON pc.id = p.product_class_id \
         JOIN stock_record sr ON sr.product_id = p.id \
         WHERE p.structure = 'standalone' AND p.is_public = TRUE AND pc.requires_shipping = TRUE \
           AND sr.num_in_stock - sr.num_allocated >= 5 \
           AND NOT EXISTS (SELECT 1 FROM product_class_option pco JOIN product_option o \
                ON o.id = pco.option_id WHERE pco.product_class_id = p.product_class_id AND o.required = TRUE) \
         ORDER BY p.id LIMIT 1",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    let id: i64 = row.try_get("id").unwrap();
    let slug: String = row.try_get("slug").unwrap();
    let product_path = emporium::catalogue::product_url(&slug, id);

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    c.goto(&format!("{}{product_path}", app.base))
        .await
        .unwrap();
    click(
        &c,
        &format!("form[action=\"/basket/add/{id}/\"] button[type=\"submit\"]"),
    )
    .await;
    wait_for_path(&c, &product_path).await;
    c.goto(&format!("{}/basket/", app.base)).await.unwrap();
    click(&c, "#proceed-to-checkout").await;
    wait_for_path(&c, "/checkout/gateway/").await;

    // A typo in the email is caught and shown next to the field.
    fill(&c, "#id-email", "ada.example.com").await;
    click(&c, "#continue-as-guest").await;
    let error = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#id-email-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("valid email"), "{error}");
    fill(&c, "#id-email", "ada@example.com").await;
    click(&c, "#continue-as-guest").await;
    wait_for_path(&c, "/checkout/shipping-address/").await;

    fill(&c, "#id-name", "Ada Lovelace").await;
    fill(&c, "#id-line1", "12 St James's Square").await;
    fill(&c, "#id-city", "London").await;
    fill(&c, "#id-postcode", "SW1Y 4JH").await;
    click(&c, "#address-continue").await;
    wait_for_path(&c, "/checkout/shipping-method/").await;
    click(&c, "#method-continue").await;
    wait_for_path(&c, "/checkout/payment-method/").await;
    click(&c, "#payment-continue").await;
    wait_for_path(&c, "/checkout/preview/").await;

    // A declined card: the customer sees why and can try again.
    fill(&c, "#id-card_number", "4000 0000 0000 0002").await;
    fill(&c, "#id-card_expiry", "12/30").await;
    fill(&c, "#id-card_cvc", "123").await;
    fill(&c, "#id-card_name", "Ada Lovelace").await;
    click(&c, "#place-order").await;
    wait_for_path(&c, "/checkout/preview/").await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("Your card was declined."),
        "no decline message"
    );

    fill(&c, "#id-card_number", "4242 4242 4242 4242").await;
    fill(&c, "#id-card_expiry", "12/30").await;
    fill(&c, "#id-card_cvc", "123").await;
    fill(&c, "#id-card_name", "Ada Lovelace").await;
    click(&c, "#place-order").await;
    wait_for_path(&c, "/checkout/thank-you/").await;
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
    click(&c, "#order-status-link").await;
    wait_for_path(&c, &format!("/orders/{number}/")).await;
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
