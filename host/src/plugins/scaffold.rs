//! `emporium plugin new` (a project from plugins/templates/<lang>/<world>/ with the host's WIT
//! package beside it) and `emporium plugin test` (load a built plugin and run it against sample
//! inputs of its world, printing its decisions).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::calls::{
    Address, Basket, BasketLine, Card, ConditionInput, Customer, PaymentRequest, PricingContext,
    PricingItem, Product, ShippingRequest, StockRecord,
};
use super::template_render::{display_name, render};
use super::{
    ConfigValues, InstallOptions, PaymentOutcome, PluginError, PluginRegistry, PluginRuntime,
    RuntimeConfig, World,
};
use crate::money::{Currency, Money};
use rust_decimal::Decimal;

/// The languages `plugin new` knows.
pub const LANGUAGES: [&str; 3] = ["rust", "python", "js"];

/// The WIT package version new projects target.
pub const WIT_VERSION: &str = "0.1.0";

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ScaffoldError + '_ {
    move |source| ScaffoldError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the templates and the WIT package are: `explicit` (a repository root or its
/// plugins/templates folder), else `$EMPORIUM_PLUGIN_TEMPLATES`, else a repository found from
/// the current directory or the executable upwards, else the source tree this binary was
/// built from.
pub fn find_sources(explicit: Option<&Path>) -> Result<(PathBuf, PathBuf), ScaffoldError> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        roots.push(p.to_path_buf());
        roots.extend(p.ancestors().nth(2).map(Path::to_path_buf));
    }
    if let Some(p) = std::env::var_os("EMPORIUM_PLUGIN_TEMPLATES") {
        let p = PathBuf::from(p);
        roots.extend(p.ancestors().nth(2).map(Path::to_path_buf));
        roots.push(p);
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for root in roots {
        let templates = root.join("plugins/templates");
        let wit = root.join("wit");
        if templates.is_dir() && wit.join("worlds.wit").is_file() {
            return Ok((templates, wit));
        }
    }
    Err(ScaffoldError::Invalid(
        "cannot find plugins/templates and wit/: pass --templates REPO_ROOT".into(),
    ))
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The (language, world) pairs that have a template.
pub fn available(templates: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for lang in LANGUAGES {
        if let Ok(entries) = std::fs::read_dir(templates.join(lang)) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    out.push((
                        lang.to_string(),
                        e.file_name().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
    }
    out.sort();
    out
}

/// Creates `parent/NAME/` from the template of `lang`/`world`, with `wit/` copied in.
pub fn new_project(
    templates: &Path,
    wit: &Path,
    parent: &Path,
    id: &str,
    display: Option<&str>,
    world: World,
    lang: &str,
) -> Result<PathBuf, ScaffoldError> {
    if !valid_id(id) {
        return Err(ScaffoldError::Invalid(format!(
            "{id:?}: a plugin name is 1-64 lower-case letters, digits and `-`, starting with a letter"
        )));
    }
    if !LANGUAGES.contains(&lang) {
        return Err(ScaffoldError::Invalid(format!(
            "unknown language {lang:?} (expected one of {})",
            LANGUAGES.join(", ")
        )));
    }
    let template = templates.join(lang).join(world.name());
    if !template.is_dir() {
        let have: Vec<String> = available(templates)
            .into_iter()
            .map(|(l, w)| format!("{l}/{w}"))
            .collect();
        return Err(ScaffoldError::Invalid(format!(
            "no {lang} template for the {world} world (templates: {})",
            have.join(", ")
        )));
    }
    let dest = parent.join(id);
    if dest.exists() {
        return Err(ScaffoldError::Invalid(format!(
            "{} already exists",
            dest.display()
        )));
    }
    let name = display
        .map(str::to_string)
        .unwrap_or_else(|| display_name(id));
    copy_tree(&template, &dest, &|text: &str| {
        render(text, id, &name, world.name(), WIT_VERSION)
    })?;
    copy_tree(wit, &dest.join("wit"), &|text: &str| text.to_string())?;
    Ok(dest)
}

/// Copies a folder, passing every UTF-8 file through `render` (other files are copied as is).
fn copy_tree(
    src: &Path,
    dest: &Path,
    render: &dyn Fn(&str) -> String,
) -> Result<(), ScaffoldError> {
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    for entry in std::fs::read_dir(src).map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if ["target", "node_modules", ".venv", "__pycache__", "build"].contains(&&*name_str)
            || name_str == "plugin.wasm"
        {
            continue;
        }
        let from = entry.path();
        let to = dest.join(&name);
        let kind = entry.file_type().map_err(io(&from))?;
        if kind.is_dir() {
            copy_tree(&from, &to, render)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(&from).map_err(io(&from))?;
            match String::from_utf8(bytes) {
                Ok(text) => std::fs::write(&to, render(&text)).map_err(io(&to))?,
                Err(e) => std::fs::write(&to, e.into_bytes()).map_err(io(&to))?,
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&from)
                    .map_err(io(&from))?
                    .permissions()
                    .mode();
                let _ = std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode));
            }
        }
    }
    Ok(())
}

/// How to build a new project, for the CLI to print.
pub fn build_hint(lang: &str) -> &'static str {
    match lang {
        "rust" => "./build.sh   (cargo test, then cargo build --target wasm32-wasip2)",
        "python" => "./build.sh   (python3 -m unittest, then componentize-py)",
        _ => "npm install && npm run build   (node --test, then componentize-js)",
    }
}

// ---- plugin test ----

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
pub fn run_samples(dir: &Path, config: ConfigValues) -> Result<String, ScaffoldError> {
    let cache = std::env::temp_dir().join("emporium-plugin-test-cache");
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: cache,
        pool_instances: 4,
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
        World::ThemeExtension => {
            let result = registry.theme_functions(&id).map(|fs| {
                fs.iter()
                    .map(|f| format!("{} ({:?})", f.name, f.kind))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            show(&mut out, "functions", result);
        }
    }
    Ok(out)
}
