//! Shared by the plugin tests: builds the guests once (via `cargo xtask build-plugins` when
//! their components are missing), one runtime per test binary, and snapshot builders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use emporium::plugins::bindings::offer::ConditionInput;
use emporium::plugins::bindings::shipping::ShippingRequest;
use emporium::plugins::bindings::{Address, Basket, BasketLine, Customer, Money, Product};
use emporium::plugins::{PluginRuntime, RuntimeConfig};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Makes sure the bundled and test guests are built. `cargo xtask test` builds them before the
/// test run; a bare `cargo test` builds them here once if they are missing.
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let marker = root().join("target/test-plugins/hostile/plugin.wasm");
        if marker.exists()
            && root()
                .join("target/plugins/flat-rate-shipping/plugin.wasm")
                .exists()
        {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["run", "--quiet", "--package", "xtask", "--target-dir"])
            .arg(root().join("target/xtask-for-tests"))
            .args(["--", "build-plugins"])
            .status()
            .expect("running cargo xtask build-plugins");
        assert!(status.success(), "building the plugins failed");
    });
}

pub fn plugin_dir(id: &str) -> PathBuf {
    ensure_built();
    let shipped = root().join("target/plugins").join(id);
    if shipped.exists() {
        shipped
    } else {
        root().join("target/test-plugins").join(id)
    }
}

pub fn test_config() -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: root().join("target/plugin-test-cache"),
        // Debug builds of the host run slower; the budget is for the guest and stays tight.
        call_budget: std::time::Duration::from_millis(50),
        http_call_budget: std::time::Duration::from_secs(5),
        http_timeout: std::time::Duration::from_secs(2),
        failure_threshold: 3,
        pool_instances: 32,
        ..RuntimeConfig::default()
    }
}

/// One runtime (engine + epoch thread) per test binary, as in the shop.
pub fn runtime() -> Arc<PluginRuntime> {
    static RT: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
    RT.get_or_init(|| Arc::new(PluginRuntime::new(test_config()).expect("runtime")))
        .clone()
}

pub fn money(amount: &str, currency: &str) -> Money {
    Money {
        amount: amount.into(),
        currency: currency.into(),
    }
}

pub fn customer() -> Customer {
    Customer {
        id: Some("c1".into()),
        email: Some("ada@example.com".into()),
        is_authenticated: true,
        groups: vec![],
    }
}

pub fn address(country: &str) -> Address {
    Address {
        country: country.into(),
        postcode: Some("SW1A 1AA".into()),
        lines: vec!["1 Test Street".into()],
        city: "London".into(),
        state: None,
    }
}

pub fn product(id: &str, category: &str, grams: u32) -> Product {
    Product {
        id: id.into(),
        parent_id: None,
        sku: Some(format!("SKU-{id}")),
        title: format!("Product {id}"),
        product_class: "Book".into(),
        categories: vec![category.into()],
        attributes: vec![],
        weight_grams: Some(grams),
        requires_shipping: true,
    }
}

/// A basket of `lines` lines, each 2 units of a 10.00 (12.00 incl. tax) product of 250 g.
pub fn basket(currency: &str, lines: usize) -> Basket {
    let lines: Vec<BasketLine> = (0..lines)
        .map(|i| BasketLine {
            line_id: format!("l{i}"),
            product: product(
                &format!("p{i}"),
                if i % 2 == 0 {
                    "Books > Fiction"
                } else {
                    "Music"
                },
                250,
            ),
            quantity: 2,
            unit_price_excl_tax: money("10.00", currency),
            unit_price_incl_tax: money("12.00", currency),
            line_total_excl_tax: money("20.00", currency),
            line_total_incl_tax: money("24.00", currency),
            weight_grams: 500,
        })
        .collect();
    let n = lines.len() as u64;
    Basket {
        id: Some("b1".into()),
        currency: currency.into(),
        total_excl_tax: money(&format!("{}.00", 20 * n), currency),
        total_incl_tax: money(&format!("{}.00", 24 * n), currency),
        total_weight_grams: 500 * n,
        num_items: 2 * n as u32,
        lines,
    }
}

pub fn shipping_request(lines: usize) -> ShippingRequest {
    ShippingRequest {
        basket: basket("GBP", lines),
        customer: customer(),
        address: Some(address("GB")),
    }
}

pub fn condition_input(lines: usize) -> ConditionInput {
    ConditionInput {
        basket: basket("EUR", lines),
        customer: customer(),
        already_consumed: vec![],
    }
}
