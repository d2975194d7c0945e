//! The Python and JavaScript plugins, and the `emporium plugin new` templates, built from source
//! by `cargo xtask build-plugins` (componentize-py, componentize-js) and called through the real
//! runtime: exact quotes, configuration errors, and guest exceptions that become typed errors
//! while the host keeps serving.

mod plugins_support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use emporium::plugins::calls::ShippingRequest;
use emporium::plugins::runtime::wit_v0_1;
use emporium::plugins::*;
use plugins_support::*;

const PYTHON: &str = "py-zone-shipping";
const JS: &str = "js-express-shipping";
const TEMPLATE_PY: &str = "tpl-python-shipping-method";
const TEMPLATE_JS: &str = "tpl-js-shipping-method";

/// Where a component was built: bundled plugins in target/plugins/, rendered templates in
/// target/templates/<lang>-<world>/.
fn dir_of(id: &str) -> PathBuf {
    match id.strip_prefix("tpl-") {
        Some(rest) => root().join("target/templates").join(rest),
        None => root().join("target/plugins").join(id),
    }
}

/// Builds the Python/JS plugins and templates when a bare `cargo test` runs before
/// `cargo xtask build-plugins` (xtask skips whatever is up to date).
fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if [PYTHON, JS, TEMPLATE_PY, TEMPLATE_JS]
            .iter()
            .all(|id| dir_of(id).join("plugin.wasm").exists())
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

/// This binary's runtime: the shared test settings, with a CPU budget for interpreted guests.
/// A fresh CPython or SpiderMonkey instance answers in 1-3 ms on an idle machine with a release
/// host, but 3-14 ms with a debug host on a busy 2-core CI machine running these tests in
/// parallel; the epoch deadline counts wall-clock time, so 50 ms would make the tests flaky.
/// Budgets themselves are tested with the hostile guests (tests/plugins_hostile.rs).
fn runtime() -> Arc<PluginRuntime> {
    static RT: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
    RT.get_or_init(|| {
        let config = RuntimeConfig {
            call_budget: std::time::Duration::from_secs(2),
            ..test_config()
        };
        Arc::new(PluginRuntime::new(config).expect("runtime"))
    })
    .clone()
}

/// Each component is compiled once per test binary (a Python or JS component takes seconds;
/// the two compile side by side), then every test installs the same loaded plugin into a fresh
/// registry of its own.
fn loaded(id: &str) -> Arc<LoadedPlugin> {
    static LOADED: OnceLock<HashMap<&'static str, Arc<LoadedPlugin>>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            ensure_built();
            std::thread::scope(|s| {
                let handles: Vec<_> = [PYTHON, JS, TEMPLATE_PY, TEMPLATE_JS]
                    .into_iter()
                    .map(|id| {
                        s.spawn(move || {
                            let plugin = runtime()
                                .load_dir(&dir_of(id))
                                .unwrap_or_else(|e| panic!("loading {id}: {e}"));
                            (id, plugin)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("loading panicked"))
                    .collect()
            })
        })
        .get(id)
        .unwrap_or_else(|| panic!("{id} is not one of this test's plugins"))
        .clone()
}

fn install(id: &str, config: ConfigValues) -> PluginRegistry {
    let reg = PluginRegistry::new(runtime());
    reg.install(
        loaded(id),
        InstallOptions {
            config,
            ..InstallOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("installing {id}: {e}"));
    reg
}

fn to_country(mut req: ShippingRequest, country: &str) -> ShippingRequest {
    req.address = Some(address(country));
    req
}

/// (excl. tax, incl. tax) exactly as the plugin wrote them.
fn charges(quotes: &[Quote]) -> Vec<(String, String)> {
    quotes
        .iter()
        .map(|q| (q.charge_excl_tax.to_string(), q.charge_incl_tax.to_string()))
        .collect()
}

fn pair(excl: &str, incl: &str) -> Vec<(String, String)> {
    vec![(excl.to_string(), incl.to_string())]
}

// ---- Python: py-zone-shipping ----------------------------------------------------------------

fn zone_config() -> ConfigValues {
    ConfigValues::new()
        .with("currency", "GBP")
        .with("zones", "GB=4.95; IE=6.50; FR,DE,NL=9.90; *=24.00")
        .with("per_kg", "1.25")
        .with("tax_rate", "20")
        .with("free_over", "250")
}

#[test]
fn python_plugin_quotes_per_zone_and_weight() {
    let reg = install(PYTHON, zone_config());
    let req = shipping_request(10); // 10 lines, 5 kg, 240.00 incl. tax

    // 4.95 + 5 started kg x 1.25 = 11.20; +20 % = 13.44
    let gb = reg.quote_shipping(PYTHON, &req).unwrap();
    assert_eq!(charges(&gb), pair("11.20", "13.44"));
    assert_eq!(gb[0].code, "zone-standard");
    assert_eq!(gb[0].name, "Standard delivery");
    assert_eq!(gb[0].currency, "GBP");
    assert_eq!(
        gb[0].description,
        "Delivery to GB; free on orders over 250 GBP (add 10.00 more)"
    );

    let de = reg
        .quote_shipping(PYTHON, &to_country(req.clone(), "DE"))
        .unwrap();
    assert_eq!(charges(&de), pair("16.15", "19.38"));
    let us = reg
        .quote_shipping(PYTHON, &to_country(req.clone(), "US"))
        .unwrap();
    assert_eq!(charges(&us), pair("30.25", "36.30"));

    // 11 lines: 264.00 incl. tax, over the threshold.
    let free = reg.quote_shipping(PYTHON, &shipping_request(11)).unwrap();
    assert_eq!(charges(&free), pair("0", "0"));
    assert_eq!(free[0].description, "Free delivery on orders over 250 GBP");

    // No address yet, or a basket in another currency: no quote, not an error.
    let mut no_address = req.clone();
    no_address.address = None;
    assert!(reg.quote_shipping(PYTHON, &no_address).unwrap().is_empty());
    let mut euros = req.clone();
    euros.basket = basket("EUR", 2);
    assert!(reg.quote_shipping(PYTHON, &euros).unwrap().is_empty());
}

#[test]
fn python_plugin_without_rest_of_world_skips_unlisted_countries() {
    let reg = install(
        PYTHON,
        ConfigValues::new()
            .with("currency", "GBP")
            .with("zones", "GB=3"),
    );
    let req = shipping_request(1); // 500 g, per_kg defaults to 0, tax_rate to 0
    assert_eq!(
        charges(&reg.quote_shipping(PYTHON, &req).unwrap()),
        pair("3", "3")
    );
    assert!(
        reg.quote_shipping(PYTHON, &to_country(req, "FR"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn python_plugin_bad_config_is_a_clear_error() {
    // The host checks the schema's types before anything runs...
    let reg = PluginRegistry::new(runtime());
    let err = reg
        .install(
            loaded(PYTHON),
            InstallOptions {
                config: zone_config().with("free_over", "lots"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Config { errors, .. } if errors.iter().any(|e| e.field == "free_over")),
        "{err}"
    );
    let err = reg
        .install(
            loaded(PYTHON),
            InstallOptions {
                config: ConfigValues::new().with("currency", "GBP"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Config { errors, .. } if errors.iter().any(|e| e.field == "zones")),
        "{err}"
    );

    // ...and the plugin checks what a type cannot say, answering with its typed `config` error.
    let reg = install(PYTHON, zone_config().with("zones", "GB:4.95"));
    match reg
        .quote_shipping(PYTHON, &shipping_request(1))
        .unwrap_err()
    {
        PluginError::Guest {
            plugin,
            kind,
            message,
        } => {
            assert_eq!(plugin.id, PYTHON);
            assert_eq!(kind, GuestErrorKind::Config);
            assert_eq!(message, "zones: 'GB:4.95' should look like 'GB,IE=4.95'");
        }
        other => panic!("expected the plugin's config error, got {other}"),
    }
}

#[test]
fn python_exception_is_a_typed_error_and_the_host_keeps_serving() {
    let reg = install(PYTHON, zone_config());
    // A basket total the plugin cannot read: decimal.InvalidOperation escapes the plugin. The
    // host's own money can't hold one, so the request is changed as it crosses WIT 0.1.
    let mut bad = wit_v0_1::shipping_request(&shipping_request(2));
    bad.basket.total_incl_tax.amount = "not-a-number".into();
    let err = reg.quote_shipping_v0_1(PYTHON, &bad).unwrap_err();
    assert!(
        matches!(&err, PluginError::Trap { plugin, .. } if plugin.id == PYTHON),
        "{err}"
    );
    assert!(
        err.to_string().contains(PYTHON),
        "the error names the plugin: {err}"
    );

    // The next call gets a fresh instance and works.
    let ok = reg.quote_shipping(PYTHON, &shipping_request(2)).unwrap();
    assert_eq!(charges(&ok), pair("6.20", "7.44"));
    assert_eq!(reg.status(PYTHON).unwrap().consecutive_failures, 0);
}

#[test]
fn python_plugin_failing_repeatedly_is_switched_off() {
    let reg = install(PYTHON, zone_config());
    let mut bad = wit_v0_1::shipping_request(&shipping_request(1));
    bad.basket.total_incl_tax.amount = "x".into();
    for _ in 0..test_config().failure_threshold {
        assert!(reg.quote_shipping_v0_1(PYTHON, &bad).is_err());
    }
    let status = reg.status(PYTHON).unwrap();
    assert!(
        !status.enabled,
        "switched off after repeated failures: {status:?}"
    );
    assert!(matches!(
        reg.quote_shipping(PYTHON, &shipping_request(1)),
        Err(PluginError::Disabled { .. })
    ));
}

// ---- JavaScript: js-express-shipping ---------------------------------------------------------

fn express_config() -> ConfigValues {
    ConfigValues::new()
        .with("currency", "GBP")
        .with("countries", "GB, IE")
        .with("base", "7.50")
        .with("per_item", "1.25")
        .with("tax_rate", "20")
        .with("free_over", "300")
        .with("max_weight_grams", "20000")
}

#[test]
fn js_plugin_quotes_per_item_with_limits() {
    let reg = install(JS, express_config());
    let req = shipping_request(10); // 20 items, 5 kg, 240.00 incl. tax

    // 7.50 + 19 further items x 1.25 = 31.25; +20 % = 37.50
    let gb = reg.quote_shipping(JS, &req).unwrap();
    assert_eq!(charges(&gb), pair("31.25", "37.5"));
    assert_eq!(gb[0].code, "express");
    assert_eq!(gb[0].name, "Express delivery");
    assert!(
        gb[0].description.starts_with("Next-working-day delivery; "),
        "{}",
        gb[0].description
    );

    let ie = reg
        .quote_shipping(JS, &to_country(req.clone(), "ie"))
        .unwrap();
    assert_eq!(charges(&ie), pair("31.25", "37.5"));
    // Not served, too heavy (50 lines = 25 kg), or no address: no quote.
    assert!(
        reg.quote_shipping(JS, &to_country(req.clone(), "FR"))
            .unwrap()
            .is_empty()
    );
    assert!(
        reg.quote_shipping(JS, &shipping_request(50))
            .unwrap()
            .is_empty()
    );
    let mut no_address = req.clone();
    no_address.address = None;
    assert!(reg.quote_shipping(JS, &no_address).unwrap().is_empty());

    // One line of 2 items: 7.50 + 1.25 = 8.75; +20 % = 10.50
    assert_eq!(
        charges(&reg.quote_shipping(JS, &shipping_request(1)).unwrap()),
        pair("8.75", "10.5")
    );
    // Free from 240.00 (inclusive): the 240.00 basket ships free.
    let reg = install(JS, express_config().with("free_over", "240.00"));
    let free = reg.quote_shipping(JS, &req).unwrap();
    assert_eq!(charges(&free), pair("0", "0"));
    assert!(
        free[0]
            .description
            .starts_with("Free next-working-day delivery over 240 GBP; ")
    );
}

#[test]
fn js_plugin_bad_config_is_a_clear_error() {
    let reg = PluginRegistry::new(runtime());
    let err = reg
        .install(
            loaded(JS),
            InstallOptions {
                config: express_config().with("base", "cheap"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Config { errors, .. } if errors.iter().any(|e| e.field == "base")),
        "{err}"
    );

    let reg = install(JS, express_config().with("countries", "GB, GBR"));
    match reg.quote_shipping(JS, &shipping_request(1)).unwrap_err() {
        PluginError::Guest {
            plugin,
            kind,
            message,
        } => {
            assert_eq!(plugin.id, JS);
            assert_eq!(kind, GuestErrorKind::Config);
            assert_eq!(
                message,
                "countries: \"GBR\" is not a two-letter country code"
            );
        }
        other => panic!("expected the plugin's config error, got {other}"),
    }
}

#[test]
fn js_exception_is_a_typed_error_and_the_host_keeps_serving() {
    let reg = install(JS, express_config());
    let mut bad = wit_v0_1::shipping_request(&shipping_request(2));
    bad.basket.total_incl_tax.amount = "1e3".into();
    let err = reg.quote_shipping_v0_1(JS, &bad).unwrap_err();
    assert!(
        matches!(&err, PluginError::Trap { plugin, .. } if plugin.id == JS),
        "{err}"
    );
    assert!(
        err.to_string().contains(JS),
        "the error names the plugin: {err}"
    );

    let ok = reg.quote_shipping(JS, &shipping_request(2)).unwrap();
    assert_eq!(charges(&ok), pair("11.25", "13.5"));
}

// ---- templates of `emporium plugin new` ------------------------------------------------------

#[test]
fn scaffolded_plugins_load_and_quote() {
    for id in [TEMPLATE_PY, TEMPLATE_JS] {
        let reg = install(id, ConfigValues::new().with("free_over", "100"));
        let status = reg.status(id).unwrap();
        assert_eq!(status.world, World::ShippingMethod);
        assert_eq!(
            charges(&reg.quote_shipping(id, &shipping_request(1)).unwrap()),
            pair("4.95", "4.95"),
            "{id}"
        );
        assert_eq!(
            charges(&reg.quote_shipping(id, &shipping_request(5)).unwrap()),
            pair("0", "0"),
            "{id}"
        );
        let reg = install(id, ConfigValues::new().with("charge", "2.5"));
        assert_eq!(
            charges(&reg.quote_shipping(id, &shipping_request(5)).unwrap()),
            pair("2.5", "2.5"),
            "{id}"
        );
    }
}

#[test]
#[ignore = "timing probe"]
fn timing_probe() {
    for id in [PYTHON, JS, TEMPLATE_PY, TEMPLATE_JS] {
        let config = match id {
            PYTHON => zone_config(),
            JS => express_config(),
            _ => ConfigValues::new(),
        };
        let reg = install(id, config);
        let req = shipping_request(10);
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = std::time::Instant::now();
            reg.quote_shipping(id, &req).unwrap();
            times.push(t.elapsed().as_micros());
        }
        times.sort();
        println!(
            "{id}: min {} us, median {} us, max {} us",
            times[0], times[15], times[29]
        );
    }
}
