//! `emporium plugin test`: loads a built plugin and runs it against sample inputs of its world,
//! printing its decisions, so a plugin author sees what the shop would get before installing.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::{InstallOptions, PluginError, PluginRegistry, PluginRuntime, RuntimeConfig};
use crate::money::{Currency, Money};
use crate::plugins::calls::{
    Address, Basket, BasketLine, Card, ConditionInput, Customer, PaymentOutcome, PaymentRequest,
    PricingContext, PricingItem, Product, ShippingRequest, StockRecord,
};
use crate::plugins::distribution::manifest::{ConfigValues, World};

/// A sample amount of whole pounds, written with pence ("10.00").
fn pounds(whole: u64) -> Money {
    let pence = i64::try_from(whole.saturating_mul(100)).unwrap_or(i64::MAX);
    Money::new(Decimal::new(pence, 2), Currency::GBP)
}

fn sample_customer() -> Customer {
    Customer {
        id: Some("customer-1".into()),
        email: Some("ada@example.com".into()),
        is_authenticated: true,
        groups: vec![],
    }
}

fn sample_address(country: &str) -> Address {
    Address {
        country: country.into(),
        postcode: Some("SW1A 1AA".into()),
        lines: vec!["1 Sample Street".into()],
        city: "London".into(),
        state: None,
    }
}

fn sample_product(id: &str, category: &str, grams: u32) -> Product {
    Product {
        id: id.into(),
        parent_id: None,
        sku: Some(format!("SKU-{id}")),
        title: format!("Sample product {id}"),
        product_class: "Book".into(),
        categories: vec![category.into()],
        attributes: vec![],
        weight_grams: Some(grams),
        requires_shipping: true,
    }
}

/// A basket of `lines` lines of `quantity` units at 10.00 (12.00 incl. tax), `grams` each.
fn sample_basket(lines: usize, quantity: u32, grams: u32) -> Basket {
    let lines: Vec<BasketLine> = (0..lines)
        .map(|i| {
            let q = u64::from(quantity);
            BasketLine {
                line_id: format!("line-{i}"),
                product: sample_product(
                    &format!("p{i}"),
                    if i % 2 == 0 { "Books" } else { "Music" },
                    grams,
                ),
                quantity,
                unit_price_excl_tax: pounds(10),
                unit_price_incl_tax: pounds(12),
                line_total_excl_tax: pounds(10 * q),
                line_total_incl_tax: pounds(12 * q),
                weight_grams: u64::from(grams) * q,
            }
        })
        .collect();
    let units: u64 = lines.iter().map(|l| u64::from(l.quantity)).sum();
    Basket {
        id: Some("sample-basket".into()),
        currency: Currency::GBP,
        total_excl_tax: pounds(10 * units),
        total_incl_tax: pounds(12 * units),
        total_weight_grams: lines.iter().map(|l| l.weight_grams).sum(),
        num_items: u32::try_from(units).unwrap_or(u32::MAX),
        lines,
    }
}

/// Loads the plugin in `dir` (plugin.toml + plugin.wasm) with `config` and runs it against
/// the sample inputs of its world; returns the report (one decision per line).
pub fn run_samples(dir: &Path, config: ConfigValues) -> Result<String, PluginError> {
    let cache = std::env::temp_dir().join("emporium-plugin-test-cache");
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: cache,
        pool_instances: 4,
        // A report shows every sample's answer: failed samples (and the theme helpers' probes
        // below) must not switch the plugin off half way through.
        failure_threshold: u32::MAX,
        ..RuntimeConfig::default()
    })?);
    let registry = PluginRegistry::new(runtime.clone());
    let loaded = runtime.load_dir(dir)?;
    let manifest = loaded.manifest.clone();
    let id = loaded.plugin.id.clone();
    let approved_hosts = manifest.permissions.http.hosts.clone();
    registry.install(
        loaded,
        InstallOptions {
            config,
            approved_hosts,
            ..InstallOptions::default()
        },
    )?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{id}@{} ({}), time budget {:?}",
        manifest.version,
        manifest.world,
        runtime.budget_for(&manifest)
    );
    let show = |out: &mut String, label: &str, result: Result<String, PluginError>| {
        let _ = match result {
            Ok(text) => writeln!(out, "{label}: {text}"),
            Err(e) => writeln!(out, "{label}: ERROR {e}"),
        };
    };
    match manifest.world {
        World::ShippingMethod | World::ShippingMethodHttp => {
            let cases = [
                (
                    "1 line, 1 item, 0.5 kg, to GB",
                    sample_basket(1, 1, 500),
                    "GB",
                ),
                (
                    "3 lines, 6 items, 3 kg, to GB",
                    sample_basket(3, 2, 500),
                    "GB",
                ),
                (
                    "10 lines, 50 items, 25 kg, to GB",
                    sample_basket(10, 5, 500),
                    "GB",
                ),
                (
                    "1 line, 1 item, 0.5 kg, to US",
                    sample_basket(1, 1, 500),
                    "US",
                ),
            ];
            for (label, basket, country) in cases {
                let request = ShippingRequest {
                    basket,
                    customer: sample_customer(),
                    address: Some(sample_address(country)),
                };
                let result = registry.quote_shipping(&id, &request).map(|quotes| {
                    if quotes.is_empty() {
                        "no methods".to_string()
                    } else {
                        quotes
                            .iter()
                            .map(|q| {
                                format!(
                                    "{} \"{}\" {} {} (incl. tax {})",
                                    q.code,
                                    q.name,
                                    q.charge_excl_tax,
                                    q.currency,
                                    q.charge_incl_tax
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    }
                });
                show(&mut out, label, result);
            }
        }
        World::PricingStrategy => {
            let items: Vec<PricingItem> = ["p1", "p2"]
                .iter()
                .map(|p| PricingItem {
                    product: sample_product(p, "Books", 250),
                    stock_records: vec![StockRecord {
                        partner_id: "warehouse".into(),
                        partner_sku: format!("W-{p}"),
                        price_excl_tax: Some(pounds(10)),
                        num_in_stock: Some(20),
                        num_allocated: 0,
                    }],
                })
                .collect();
            for quantity in [1, 10, 50] {
                let context = PricingContext {
                    customer: sample_customer(),
                    currency: Currency::GBP,
                    quantity,
                };
                let result = registry.price(&id, &context, &items).map(|priced| {
                    priced
                        .iter()
                        .map(|p| match p.unit_price {
                            Some((excl, incl)) => format!(
                                "{}: {excl} GBP (incl. tax {incl}), {:?}",
                                p.product_id, p.status
                            ),
                            None => format!("{}: not for sale, {:?}", p.product_id, p.status),
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                show(&mut out, &format!("quantity {quantity}"), result);
            }
        }
        World::OfferCondition => {
            for (label, basket) in [
                ("1 line, 1 item", sample_basket(1, 1, 250)),
                ("4 lines, 12 items", sample_basket(4, 3, 250)),
            ] {
                let input = ConditionInput {
                    basket,
                    customer: sample_customer(),
                    already_consumed: vec![],
                };
                let result = registry.check_condition(&id, &input).map(|r| {
                    format!(
                        "satisfied={} consumed=[{}]{}",
                        r.is_satisfied,
                        r.consumed
                            .iter()
                            .map(|c| format!("{}x{}", c.line_id, c.quantity))
                            .collect::<Vec<_>>()
                            .join(", "),
                        r.upsell_message
                            .map(|m| format!(" upsell={m:?}"))
                            .unwrap_or_default()
                    )
                });
                show(&mut out, label, result);
            }
        }
        World::PaymentGateway => {
            for (label, number, amount) in [
                (
                    "card 4242 4242 4242 4242, 25.00 GBP",
                    "4242424242424242",
                    25,
                ),
                (
                    "card 4000 0000 0000 0002, 25.00 GBP",
                    "4000000000000002",
                    25,
                ),
                (
                    "card 4242 4242 4242 4242, 5000.00 GBP",
                    "4242424242424242",
                    5000,
                ),
            ] {
                let amount = pounds(amount);
                let request = PaymentRequest {
                    order_number: "SAMPLE-1".into(),
                    amount,
                    customer: sample_customer(),
                    billing_address: Some(sample_address("GB")),
                    card: Some(Card {
                        number: number.into(),
                        expiry_month: 12,
                        expiry_year: 2030,
                        cvc: "123".into(),
                        holder_name: "Ada Lovelace".into(),
                    }),
                    return_url: "http://127.0.0.1:8000/checkout/return".into(),
                    idempotency_key: format!("sample-{number}-{}", amount.amount()),
                };
                let result = registry.authorize(&id, &request).map(|o| match o {
                    PaymentOutcome::Approved {
                        reference,
                        amount,
                        currency,
                    } => format!("approved {amount} {currency} (reference {reference})"),
                    PaymentOutcome::Declined { message } => format!("declined: {message}"),
                    PaymentOutcome::Error { message } => format!("gateway error: {message}"),
                    PaymentOutcome::Redirect { url, reference } => {
                        format!("redirect to {url} (reference {reference})")
                    }
                });
                show(&mut out, label, result);
            }
        }
        World::ThemeExtension => match registry.theme_functions(&id) {
            Ok(functions) => {
                let listed = functions
                    .iter()
                    .map(|f| format!("{} ({:?})", f.name, f.kind))
                    .collect::<Vec<_>>()
                    .join(", ");
                show(&mut out, "functions", Ok(listed));
                for f in &functions {
                    show(&mut out, &f.name, theme_sample(&registry, &id, f));
                }
            }
            Err(e) => show(&mut out, "functions", Err(e)),
        },
    }
    Ok(out)
}

/// Argument lists a theme helper is tried with, in order, since the WIT does not say what a
/// helper expects: the first one it accepts shows what it does. They cover the usual shapes
/// of template values: text, a count with a word, an amount with a currency, two amounts.
const THEME_SAMPLE_ARGS: [&str; 6] = [
    r#"["Ada Lovelace"]"#,
    r#"[3, "item"]"#,
    r#"["1234.5", "GBP"]"#,
    r#"["20.00", "15.00"]"#,
    "[3]",
    "[]",
];

/// The helper called on the first sample arguments it accepts, written the way a template
/// calls it (`"1234.5" | format_amount("GBP") = "£1,234.50"`), or the last error when it
/// accepts none.
fn theme_sample(
    registry: &PluginRegistry,
    id: &str,
    f: &crate::plugins::calls::FunctionInfo,
) -> Result<String, PluginError> {
    let mut last = None;
    for args in THEME_SAMPLE_ARGS {
        let Ok(serde_json::Value::Array(args)) = serde_json::from_str::<serde_json::Value>(args)
        else {
            continue;
        };
        match registry.theme_call(id, &f.name, &serde_json::Value::Array(args.clone())) {
            Ok(result) => {
                let text = |v: &[serde_json::Value]| {
                    v.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let call = match (&f.kind, args.split_first()) {
                    (crate::plugins::calls::FunctionKind::Filter, Some((value, []))) => {
                        format!("{value} | {}", f.name)
                    }
                    (crate::plugins::calls::FunctionKind::Filter, Some((value, rest))) => {
                        format!("{value} | {}({})", f.name, text(rest))
                    }
                    _ => format!("{}({})", f.name, text(&args)),
                };
                return Ok(format!("{call} = {result}"));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| PluginError::NotFound(f.name.clone())))
}
