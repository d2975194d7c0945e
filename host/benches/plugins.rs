//! Plugin call costs. Run: `cargo bench -p emporium --bench plugins` (after
//! `cargo xtask build-plugins`). Figures are recorded in BENCHMARKS.md.

#[path = "../../tests/plugins_support/mod.rs"]
mod plugins_support;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use emporium::plugins::calls::{PricingContext, PricingItem, StockRecord};
use emporium::plugins::*;
use plugins_support::*;

fn registry(rt: Arc<PluginRuntime>) -> PluginRegistry {
    let reg = PluginRegistry::new(rt);
    reg.install_dir(
        &plugin_dir("flat-rate-shipping"),
        InstallOptions {
            config: ConfigValues::new()
                .with("charge", "4.50")
                .with("tax_rate", "20"),
            ..Default::default()
        },
    )
    .expect("flat-rate-shipping");
    reg.install_dir(&plugin_dir("tiered-pricing"), InstallOptions::default())
        .expect("tiered-pricing");
    reg
}

fn config() -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: root().join("target/plugin-bench-cache"),
        // An epoch deadline is wall-clock: on this shared 2-core machine a call can be
        // descheduled past 10 ms and be interrupted (seen once in ~70k calls). The cost of
        // arming the deadline does not depend on its length, so the bench uses 1 s.
        call_budget: Duration::from_secs(1),
        ..RuntimeConfig::default()
    }
}

fn page(n: usize) -> Vec<PricingItem> {
    (0..n)
        .map(|i| PricingItem {
            product: product(&format!("p{i}"), "Books > Fiction", 300),
            stock_records: vec![StockRecord {
                partner_id: "warehouse".into(),
                partner_sku: format!("W{i}"),
                price_excl_tax: Some(money("12.50", "EUR")),
                num_in_stock: Some(20),
                num_allocated: 2,
            }],
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    ensure_built();
    let epoch = Arc::new(PluginRuntime::new(config()).expect("runtime"));
    let fuel = Arc::new(
        PluginRuntime::new(RuntimeConfig {
            fuel: Some(50_000_000),
            cache_dir: root().join("target/plugin-bench-cache-fuel"),
            ..config()
        })
        .expect("fuel runtime"),
    );
    let reg = registry(epoch.clone());
    let reg_fuel = registry(fuel);
    let basket = shipping_request(10);
    let one_line = shipping_request(1);
    let items = page(50);
    let ctx = PricingContext {
        customer: customer(),
        currency: currency("EUR"),
        quantity: 1,
    };

    let mut g = c.benchmark_group("plugins");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("shipping_quote_10_lines_epoch", |b| {
        b.iter(|| {
            reg.quote_shipping("flat-rate-shipping", &basket)
                .expect("quote")
        })
    });
    // The fixed cost of a call (fresh store, instantiate, call, drop) with little data to lift.
    g.bench_function("shipping_quote_1_line_epoch", |b| {
        b.iter(|| {
            reg.quote_shipping("flat-rate-shipping", &one_line)
                .expect("quote")
        })
    });
    g.bench_function("shipping_quote_10_lines_fuel", |b| {
        b.iter(|| {
            reg_fuel
                .quote_shipping("flat-rate-shipping", &basket)
                .expect("quote")
        })
    });
    g.bench_function("pricing_50_items_epoch", |b| {
        b.iter(|| reg.price("tiered-pricing", &ctx, &items).expect("price"))
    });
    g.bench_function("pricing_50_items_fuel", |b| {
        b.iter(|| {
            reg_fuel
                .price("tiered-pricing", &ctx, &items)
                .expect("price")
        })
    });
    let wasm = std::fs::read(plugin_dir("flat-rate-shipping").join("plugin.wasm")).expect("wasm");
    let (_, cached) = epoch.compile_cached(&wasm).expect("compile");
    g.bench_function("cold_load_from_cwasm_cache", |b| {
        b.iter(|| epoch.load_cached(&cached).expect("load"))
    });
    g.bench_function("load_plugin_dir_cached_to_instance_pre", |b| {
        b.iter(|| {
            epoch
                .load_dir(&plugin_dir("flat-rate-shipping"))
                .expect("load")
        })
    });
    g.finish();
}

criterion_group!(plugin_benches, benches);
criterion_main!(plugin_benches);
