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
    click_to_where(c, css, Some(path)).await;
}

/// Like [`click_to`] for a page whose address is not known beforehand (a product just
/// made): waits for the next document, wherever it is, and returns its path.
async fn click_to_next(c: &Client, css: &str) -> String {
    click_to_where(c, css, None).await
}

async fn click_to_where(c: &Client, css: &str, path: Option<&str>) -> String {
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
            Some(at) if path.is_none_or(|p| p == at) => return at,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no new page at {path:?} after clicking {css}; at {:?}: {}",
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

/// Signs `email` (password [`support::staff::PASSWORD`]) in to the dashboard in Chromium.
async fn dashboard_sign_in(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/dashboard/login/")).await.unwrap();
    fill(c, "#id-email", email).await;
    fill(c, "#id-password", support::staff::PASSWORD).await;
    click_to(c, "#dash-sign-in", "/dashboard/").await;
}

/// A small PNG on disk, for a file input (a browser uploads files by path).
fn png_file(dir: &std::path::Path) -> std::path::PathBuf {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    let path = dir.join("lamp.png");
    img.save(&path).unwrap();
    path
}

/// A catalogue manager in Chromium adds a parent product, a variant with its stock record and
/// an image, all through the dashboard's forms; the storefront shows the product with the
/// image's thumbnail and the variant's price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_add_a_product_with_a_variant_and_an_image_in_chromium() {
    use emporium::fixtures::ClassBuilder;
    use support::staff::add_staff;
    let app = TestApp::start(Backend::Sqlite).await;
    // A class of its own, with no required attributes, so the form asks only for the basics.
    ClassBuilder::new()
        .name("Lamps")
        .create(&app.state.db)
        .await
        .unwrap();
    add_staff(
        &app,
        "catalogue@example.com",
        emporium::staff::Role::CatalogueManager,
        &[],
    )
    .await;
    let files = tempfile::tempdir().unwrap();
    let picture = png_file(files.path());

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    dashboard_sign_in(&c, &app.base, "catalogue@example.com").await;
    click_to(
        &c,
        "a[href=\"/dashboard/catalogue/\"]",
        "/dashboard/catalogue/",
    )
    .await;
    c.goto(&format!("{}/dashboard/catalogue/products/new/", app.base))
        .await
        .unwrap();
    let class = c.find(Locator::Css("#id-class")).await.unwrap();
    class.select_by_label("Lamps").await.unwrap();
    click(&c, "input[name=\"structure\"][value=\"parent\"]").await;
    click_to(
        &c,
        "form[action=\"/dashboard/catalogue/products/new/\"] button[type=\"submit\"]",
        "/dashboard/catalogue/products/new/",
    )
    .await;
    fill(&c, "#id-title", "Harbour desk lamp").await;
    fill(&c, "#id-upc", "LAMP-0001").await;
    let shown = c
        .find(Locator::Css("input[name=\"is_public\"]"))
        .await
        .unwrap();
    if !shown.is_selected().await.unwrap() {
        click(&c, "input[name=\"is_public\"]").await;
    }
    screenshot(&c, "10-new-product").await;
    let parent_path = click_to_next(&c, ".dash-product-form button[type=\"submit\"]").await;
    let parent_id: i64 = app
        .scalar_i64("SELECT id FROM product WHERE upc = 'LAMP-0001'")
        .await;
    assert_eq!(
        parent_path,
        format!("/dashboard/catalogue/products/{parent_id}/"),
        "{}",
        c.source().await.unwrap()
    );

    // A variant, with the stock record it is sold from.
    click_to(
        &c,
        &format!("a[href=\"/dashboard/catalogue/products/new/?parent={parent_id}\"]"),
        "/dashboard/catalogue/products/new/",
    )
    .await;
    fill(&c, "#id-title", "Harbour desk lamp, brass").await;
    fill(&c, "#id-upc", "LAMP-0001-B").await;
    let partner = c.find(Locator::Css("#id-stock-partner")).await.unwrap();
    partner.select_by_label("Emporium Warehouse").await.unwrap();
    fill(&c, "#id-stock-sku", "LMP-B").await;
    fill(&c, "#id-stock-price", "49.50").await;
    fill(&c, "#id-stock-num_in_stock", "7").await;
    let variant_path = click_to_next(&c, ".dash-product-form button[type=\"submit\"]").await;
    let variant_id: i64 = app
        .scalar_i64("SELECT id FROM product WHERE upc = 'LAMP-0001-B'")
        .await;
    assert_eq!(
        variant_path,
        format!("/dashboard/catalogue/products/{variant_id}/"),
        "{}",
        c.source().await.unwrap()
    );
    let in_stock: i64 =
        sqlx::query_scalar("SELECT num_in_stock FROM stock_record WHERE product_id = $1")
            .bind(variant_id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(in_stock, 7);
    screenshot(&c, "11-variant").await;

    // The parent's picture, uploaded through the file input.
    c.goto(&format!("{}{parent_path}", app.base)).await.unwrap();
    let images_path = format!("{parent_path}images/");
    click_to(&c, &format!("a[href=\"{images_path}\"]"), &images_path).await;
    c.find(Locator::Css("#id-image"))
        .await
        .unwrap()
        .send_keys(picture.to_str().unwrap())
        .await
        .unwrap();
    fill(&c, "#id-caption", "The lamp on an oak desk").await;
    click_to(
        &c,
        "form[enctype=\"multipart/form-data\"] button[type=\"submit\"]",
        &images_path,
    )
    .await;
    screenshot(&c, "12-images").await;
    let images: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM product_image WHERE product_id = $1")
            .bind(parent_id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(images, 1, "{}", c.source().await.unwrap());

    // The storefront: the product, its thumbnail (loaded, not broken), the variant's price.
    c.goto(&format!("{}{parent_path}", app.base)).await.unwrap();
    let shop_path = click_to_next(&c, ".dash-actions a:last-child").await;
    assert!(!shop_path.starts_with("/dashboard/"), "{shop_path}");
    let page = c.source().await.unwrap();
    assert!(page.contains("Harbour desk lamp"), "{page}");
    assert!(page.contains("49.50"), "{page}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let src = loop {
        let seen = c
            .execute(
                "const img = document.getElementById('gallery-main-image'); \
                 return img && img.complete && img.naturalWidth > 0 ? img.getAttribute('src') : null;",
                vec![],
            )
            .await
            .unwrap();
        if let Some(src) = seen.as_str() {
            break src.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the product's image never loaded: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(src.contains("/media/thumbs/"), "{src}");
    screenshot(&c, "13-storefront-product").await;
    c.close().await.unwrap();
}

/// A partner's user in Chromium sees their own products and orders, and not another
/// partner's, in the lists and at the other partner's addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_user_sees_only_their_own_world_in_chromium() {
    use emporium::fixtures::PartnerBuilder;
    use support::shopper;
    use support::staff::add_staff;
    let app = TestApp::start_with(
        Backend::Sqlite,
        support::Options {
            products: 0,
            ..Default::default()
        },
    )
    .await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let ours = PartnerBuilder::new()
        .code("ours")
        .name("Our Workshop")
        .create_in(&mut conn)
        .await
        .unwrap();
    let theirs = PartnerBuilder::new()
        .code("theirs")
        .name("Their Mill")
        .create_in(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let own = ProductBuilder::new()
        .title("Workshop teapot")
        .partner(&ours)
        .create(&app.state.db)
        .await
        .unwrap();
    let other = ProductBuilder::new()
        .title("Mill blanket")
        .partner(&theirs)
        .create(&app.state.db)
        .await
        .unwrap();
    let mut numbers = Vec::new();
    for product in [own.id, other.id] {
        let buyer = app.browser();
        shopper::add(&buyer, product, 1).await;
        let preview =
            shopper::to_preview(&buyer, Some("ada@example.com"), None, "test-card-gateway").await;
        let placed = shopper::place(&buyer, &preview, Some(shopper::GOOD_CARD)).await;
        assert_eq!(placed.status, 303, "{}", placed.body);
        numbers.push(
            app.scalar_text("SELECT number FROM shop_order ORDER BY id DESC LIMIT 1")
                .await,
        );
    }
    add_staff(
        &app,
        "workshop@example.com",
        emporium::staff::Role::Partner,
        &["ours"],
    )
    .await;

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    dashboard_sign_in(&c, &app.base, "workshop@example.com").await;
    click_to(
        &c,
        "a[href=\"/dashboard/catalogue/\"]",
        "/dashboard/catalogue/",
    )
    .await;
    screenshot(&c, "20-partner-catalogue").await;
    let page = c.source().await.unwrap();
    assert!(page.contains("Workshop teapot"), "{page}");
    assert!(!page.contains("Mill blanket"), "{page}");
    click_to(&c, "a[href=\"/dashboard/orders/\"]", "/dashboard/orders/").await;
    screenshot(&c, "21-partner-orders").await;
    let page = c.source().await.unwrap();
    assert!(page.contains(&numbers[0]), "{page}");
    assert!(!page.contains(&numbers[1]), "{page}");
    // The other partner's order and product, asked for by address: not found (the same
    // user's status codes read over HTTP, which the browser does not expose).
    let same_user = support::staff::staff_browser(&app, "workshop@example.com").await;
    for path in [
        format!("/dashboard/orders/{}/", numbers[1]),
        format!("/dashboard/catalogue/products/{}/", other.id),
    ] {
        c.goto(&format!("{}{path}", app.base)).await.unwrap();
        let page = c.source().await.unwrap();
        assert!(!page.contains("Mill blanket"), "{path}: {page}");
        assert_eq!(same_user.get(&path).await.status, 404, "{path}");
    }
    let own_order = format!("/dashboard/orders/{}/", numbers[0]);
    c.goto(&format!("{}{own_order}", app.base)).await.unwrap();
    assert!(c.source().await.unwrap().contains("Workshop teapot"));
    c.close().await.unwrap();
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

/// A customer's account in Chromium: forgets the password, resets it from the emailed link,
/// signs in with the new one, adds a product to a wishlist from its page, and re-orders a past
/// order into the basket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_resets_a_password_keeps_a_wishlist_and_reorders_in_chromium() {
    use support::smtp::SmtpServer;
    let smtp = SmtpServer::start();
    let options = support::Options {
        smtp_url: Some(smtp.url()),
        products: 0,
        ..Default::default()
    };
    let app = TestApp::start_with(Backend::Sqlite, options).await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    let teapot = ProductBuilder::new()
        .title("Stoneware teapot")
        .create(&app.state.db)
        .await
        .unwrap();
    let kettle = ProductBuilder::new()
        .title("Copper kettle")
        .create(&app.state.db)
        .await
        .unwrap();
    let ann = emporium::fixtures::CustomerBuilder::new()
        .email("ann@example.com")
        .create(&app.state.db)
        .await
        .unwrap();
    // A past order of the teapot, placed over HTTP.
    let earlier = app.browser();
    let t = earlier.get("/accounts/login/").await.csrf_token().unwrap();
    let signed = earlier
        .post(
            "/accounts/login/",
            &[
                ("csrf_token", &t),
                ("email", &ann.email),
                ("password", &ann.password),
            ],
        )
        .await;
    assert_eq!(signed.status, 303);
    support::shopper::add(&earlier, teapot.id, 1).await;
    let preview = support::shopper::to_preview(&earlier, None, None, "test-card-gateway").await;
    let placed =
        support::shopper::place(&earlier, &preview, Some(support::shopper::GOOD_CARD)).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let number = app.scalar_text("SELECT number FROM shop_order").await;

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    c.goto(&format!("{}/accounts/login/", app.base))
        .await
        .unwrap();
    click_to(&c, ".account-forgot a", "/accounts/password-reset/").await;
    fill(&c, "#id-email", "ann@example.com").await;
    click_to(
        &c,
        "form.account-form button[type=\"submit\"]",
        "/accounts/password-reset/",
    )
    .await;
    assert!(c.source().await.unwrap().contains("id=\"reset-sent\""));
    // The order's confirmation came first.
    let mail = smtp.wait_for(2, Duration::from_secs(30)).await;
    let text = mail
        .iter()
        .filter_map(|m| m.text.clone())
        .find(|t| t.contains("/accounts/reset/"))
        .unwrap_or_else(|| panic!("a reset link in {mail:#?}"));
    let at = text.find("/accounts/reset/").unwrap();
    let path: String = text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    c.goto(&format!("{}{path}", app.base)).await.unwrap();
    fill(&c, "#id-password", "my new password").await;
    fill(&c, "#id-password_confirm", "my new password").await;
    click_to(
        &c,
        "form.account-form button[type=\"submit\"]",
        "/accounts/login/",
    )
    .await;
    fill(&c, "#id-email", "ann@example.com").await;
    fill(&c, "#id-password", "my new password").await;
    click_to(&c, "form.account-form button[type=\"submit\"]", "/").await;

    // A wishlist item from the kettle's page.
    c.goto(&format!("{}{}", app.base, kettle.url()))
        .await
        .unwrap();
    click_to_next(&c, "form.wishlist-form button[type=\"submit\"]").await;
    c.goto(&format!("{}/accounts/wishlists/", app.base))
        .await
        .unwrap();
    let lists = c.source().await.unwrap();
    let list_link = c
        .find(Locator::Css("main a[href^=\"/accounts/wishlists/\"]"))
        .await
        .unwrap_or_else(|e| panic!("a wishlist link: {e}: {lists}"));
    let href = list_link.attr("href").await.unwrap().unwrap();
    c.goto(&format!("{}{href}", app.base)).await.unwrap();
    assert!(c.source().await.unwrap().contains("Copper kettle"));

    // The past order, again.
    c.goto(&format!("{}/accounts/orders/{number}/", app.base))
        .await
        .unwrap();
    click_to(&c, "form.order-reorder button[type=\"submit\"]", "/basket/").await;
    let basket = c.source().await.unwrap();
    assert!(basket.contains("Stoneware teapot"), "{basket}");
    c.close().await.unwrap();
}

/// An administrator in Chromium installs a shipping plugin from the shop's signed directory,
/// approving it with a charge of their own, and a shopper sees that method and price at
/// checkout at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_install_a_shipping_plugin_from_the_directory_in_chromium() {
    use emporium::plugins::distribution::publish::{PublisherKey, publish};
    let dir = tempfile::tempdir().unwrap();
    let key = PublisherKey::generate("shop-publisher").unwrap();
    let out = dir.path().join("directory");
    publish(
        &[support::repo_root().join("target/plugins/flat-rate-shipping")],
        Some(&key),
        &out,
    )
    .unwrap();
    let (location, trusted) = (out.display().to_string(), key.public_hex());
    let app = TestApp::start_tweaked(Backend::Sqlite, support::Options::default(), move |c| {
        c.plugin_directory = Some(location);
        c.plugin_trusted_keys
            .insert("shop-publisher".into(), trusted);
    })
    .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    support::staff::add_staff(&app, "admin@example.com", emporium::staff::Role::Admin, &[]).await;
    let product = ProductBuilder::new().create(&app.state.db).await.unwrap();

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    dashboard_sign_in(&c, &app.base, "admin@example.com").await;
    click_to(
        &c,
        "nav a[href=\"/dashboard/plugins/\"]",
        "/dashboard/plugins/",
    )
    .await;
    click_to(
        &c,
        "a[href=\"/dashboard/plugins/directory/\"]",
        "/dashboard/plugins/directory/",
    )
    .await;
    click_to(
        &c,
        "#directory-flat-rate-shipping a[href$=\"/0.1.0/\"]",
        "/dashboard/plugins/directory/flat-rate-shipping/0.1.0/",
    )
    .await;
    let signer = c
        .find(Locator::Css("#signer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(signer.contains("shop-publisher"), "{signer}");
    fill(&c, "#id-cfg_charge", "7.25").await;
    fill(&c, "#id-cfg_method_name", "Courier").await;
    // Without the approval nothing is installed.
    click_to(&c, "#install-plugin", "/dashboard/plugins/install/").await;
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("to confirm the permissions")
    );
    click(&c, "#approve").await;
    click_to(
        &c,
        "#install-plugin",
        "/dashboard/plugins/flat-rate-shipping/",
    )
    .await;
    let state = c
        .find(Locator::Css("#plugin-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(state, "enabled");
    screenshot(&c, "plugin-installed").await;

    // A shopper's checkout offers the new method at its charge.
    let b = app.browser();
    support::shopper::add(&b, product.id, 1).await;
    let page =
        support::shopper::to_preview(&b, Some("walker@example.com"), None, "test-card-gateway")
            .await;
    assert!(page.body.contains("Courier"), "{}", page.body);
    assert!(page.body.contains("7.25"), "{}", page.body);
    c.close().await.unwrap();
}

/// Issue 11: a staff user previews the bundled Harbour theme (only their browser shows it),
/// then activates it, and every visitor sees the storefront change with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_preview_and_switch_the_theme_in_chromium() {
    const HARBOUR: &str = "Harbour theme";
    let app = TestApp::start(Backend::Sqlite).await;
    support::staff::add_staff(&app, "admin@example.com", emporium::staff::Role::Admin, &[]).await;

    let driver = start_chromedriver();
    let c = browser(&driver).await;
    dashboard_sign_in(&c, &app.base, "admin@example.com").await;
    click_to(
        &c,
        "nav a[href=\"/dashboard/themes/\"]",
        "/dashboard/themes/",
    )
    .await;
    screenshot(&c, "themes").await;
    click_to(&c, "#theme-harbour form[action$=\"/preview/\"] button", "/").await;
    let previewed = c.source().await.unwrap();
    assert!(previewed.contains(HARBOUR), "the preview shows Harbour");
    assert!(previewed.contains("only you see this theme"), "the bar");
    screenshot(&c, "theme-preview").await;
    let (_, others) = app.get("/").await;
    assert!(!others.contains(HARBOUR), "other visitors keep Default");

    c.goto(&format!("{}/dashboard/themes/", app.base))
        .await
        .unwrap();
    click_to(
        &c,
        "#theme-harbour form[action$=\"/activate/\"] button",
        "/dashboard/themes/",
    )
    .await;
    let (_, others) = app.get("/").await;
    assert!(others.contains(HARBOUR), "every visitor sees Harbour now");
    c.goto(&format!("{}/", app.base)).await.unwrap();
    let live = c.source().await.unwrap();
    assert!(live.contains(HARBOUR));
    assert!(!live.contains("only you see this theme"), "no preview bar");
    screenshot(&c, "theme-harbour").await;
    c.close().await.unwrap();
}
