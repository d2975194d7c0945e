//! Offers whose condition is a bundled plugin written in Python (py-coverage-condition: enough
//! different products) or JavaScript (js-spend-condition: a minimum spend), end to end over HTTP
//! on SQLite and PostgreSQL: the real components decide, the basket page shows the plugin's
//! upsell until the condition is met and the discount once it is, and the order placed with the
//! test card gateway is charged the discounted total and records the discount.

mod support;

use std::process::Command;
use std::sync::OnceLock;

use emporium::audit::Actor;
use emporium::fixtures::ProductBuilder;
use emporium::offer::manage::{self, NewOffer, NewRange};
use support::shopper::*;
use support::{Backend, Browser, TestApp};

const PYTHON: &str = "py-coverage-condition";
const JS: &str = "js-spend-condition";

/// Builds the plugins when a bare `cargo test` runs before `cargo xtask build-plugins` (xtask
/// skips whatever is up to date), once per test binary.
fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let plugins = support::repo_root().join("target/plugins");
        if [PYTHON, JS, "flat-rate-shipping", "test-card-gateway"]
            .iter()
            .all(|id| plugins.join(id).join("plugin.wasm").exists())
        {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(support::repo_root())
            .args(["run", "--quiet", "--package", "xtask", "--target-dir"])
            .arg(support::repo_root().join("target/xtask-for-tests"))
            .args(["--", "build-plugins"])
            .status()
            .expect("running cargo xtask build-plugins");
        assert!(status.success(), "building the plugins failed");
    });
}

/// Flat-rate delivery at £4.95, the test card gateway, and `plugin` with `config`.
async fn install(app: &TestApp, plugin: &str, config: &[(&str, &str)]) {
    // Blocking (it may run a build), but only the first test of the binary waits for it.
    tokio::task::block_in_place(ensure_built);
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    app.install_plugin(plugin, config, &[]).await;
}

/// Products at these prices (10 in stock each), by id.
async fn products(app: &TestApp, prices: &[&str]) -> Vec<i64> {
    let mut ids = Vec::new();
    for (i, price) in prices.iter().enumerate() {
        let p = ProductBuilder::new()
            .title(&format!("Polyglot product {i}"))
            .price(price)
            .stock(10)
            .create(&app.state.db)
            .await
            .unwrap();
        ids.push(p.id);
    }
    ids
}

/// "£5 off" the whole basket, once, when `plugin` says the basket qualifies.
async fn five_off_when(app: &TestApp, plugin: &str) -> i64 {
    let everything = manage::create_range(
        &app.state.db,
        Actor::CommandLine,
        &NewRange {
            name: "Everything".into(),
            includes_all: true,
            ..NewRange::default()
        },
    )
    .await
    .unwrap();
    manage::create_offer(
        &app.state.db,
        Actor::CommandLine,
        app.state.currency,
        &NewOffer {
            condition_plugin: Some(plugin.into()),
            benefit_range: Some(everything),
            benefit_amount_minor: 500,
            max_basket_applications: Some(1),
            ..NewOffer::new("£5 off", "plugin", "absolute")
        },
    )
    .await
    .unwrap()
}

fn total_shown(page: &str) -> String {
    let marker = "id=\"basket-total\">";
    let at = page.find(marker).expect("a basket total") + marker.len();
    page[at..at + page[at..].find('<').unwrap()].to_owned()
}

/// The basket page: its total, and that `upsell` is shown (or, with `None`, that no upsell is).
async fn basket_shows(b: &Browser, total: &str, upsell: Option<&str>) {
    let page = b.get("/basket/").await;
    assert_eq!(total_shown(&page.body), total, "{}", page.body);
    match upsell {
        Some(message) => assert!(page.body.contains(message), "{message}: {}", page.body),
        None => assert!(
            !page.body.contains("class=\"basket-upsell\""),
            "{}",
            page.body
        ),
    }
}

/// Checks out with the test card, then checks the order: charged `total_minor` (delivery
/// included), with the £5 recorded as the offer's discount on the order and over its lines.
async fn checkout_and_check(app: &TestApp, b: &Browser, offer: i64, total_minor: i64) {
    let preview = to_preview(b, Some("ada@example.com"), None, "test-card-gateway").await;
    assert!(preview.body.contains("−£5.00"), "{}", preview.body);
    let placed = place(b, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        placed.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        placed.body
    );
    assert_eq!(
        app.scalar_i64("SELECT total_incl_minor FROM shop_order")
            .await,
        total_minor
    );
    assert_eq!(
        app.scalar_i64("SELECT discount_minor FROM shop_order")
            .await,
        500
    );
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM order_discount").await,
        1
    );
    assert_eq!(
        app.scalar_i64("SELECT offer_id FROM order_discount").await,
        offer
    );
    assert_eq!(
        app.scalar_i64("SELECT amount_incl_minor FROM order_discount")
            .await,
        500
    );
    assert_eq!(
        app.scalar_i64("SELECT CAST(SUM(amount_incl_minor) AS BIGINT) FROM order_line_discount")
            .await,
        500
    );
    assert_eq!(app.scalar_i64("SELECT num_orders FROM offer").await, 1);
}

// Python: three different products (the manifest's default `min_distinct`) earn £5 off; two
// units of one product are still one product.
both_backends!(python_coverage_condition, |app: TestApp| async move {
    install(&app, PYTHON, &[]).await;
    let ids = products(&app, &["12.00", "8.00", "5.00"]).await;
    let offer = five_off_when(&app, PYTHON).await;
    let b = app.browser();
    add(&b, ids[0], 2).await;
    basket_shows(
        &b,
        "£24.00",
        Some("Add 2 more different products to qualify."),
    )
    .await;
    add(&b, ids[1], 1).await;
    basket_shows(
        &b,
        "£32.00",
        Some("Add 1 more different product to qualify."),
    )
    .await;
    add(&b, ids[2], 1).await;
    // £37.00 less £5.00.
    basket_shows(&b, "£32.00", None).await;
    checkout_and_check(&app, &b, offer, 3200 + 495).await;
});

// JavaScript: £30.00 spent (configured; the default is £25.00) earns £5 off. The upsell names
// the shortfall exactly, in the basket's currency code (the WIT types carry no symbol).
both_backends!(js_spend_condition, |app: TestApp| async move {
    install(&app, JS, &[("min_spend", "30.00")]).await;
    let ids = products(&app, &["10.00", "4.50"]).await;
    let offer = five_off_when(&app, JS).await;
    let b = app.browser();
    add(&b, ids[0], 2).await;
    basket_shows(&b, "£20.00", Some("Spend GBP 10.00 more to qualify.")).await;
    add(&b, ids[1], 2).await;
    basket_shows(&b, "£29.00", Some("Spend GBP 1.00 more to qualify.")).await;
    add(&b, ids[0], 1).await;
    // £39.00 less £5.00.
    basket_shows(&b, "£34.00", None).await;
    checkout_and_check(&app, &b, offer, 3400 + 495).await;
});
