//! `emporium offer …`: ranges, offers and vouchers from the command line (what the
//! dashboard's offer pages do), and `explain`, which shows for one basket which offers
//! applied, which did not and why.

use std::io::Write;

use anyhow::{Context, bail};
use clap::Subcommand;
use rust_decimal::Decimal;
use sqlx::AnyPool;

use crate::audit::Actor;
use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::money::{Currency, Money};
use crate::offer::OfferType;
use crate::offer::manage::{self, NewOffer, NewRange, NewVoucher};
use crate::offer::voucher::Usage;

#[derive(Subcommand)]
pub enum OfferCommand {
    /// Create a range of products: everything (--all) or what the options include.
    RangeCreate {
        name: String,
        #[arg(long)]
        all: bool,
        /// A product's UPC or partner SKU (repeatable).
        #[arg(long = "product", value_name = "CODE")]
        products: Vec<String>,
        /// A product to leave out, by UPC or SKU (repeatable).
        #[arg(long = "exclude", value_name = "CODE")]
        excluded: Vec<String>,
        /// A product class, by slug (repeatable).
        #[arg(long = "class", value_name = "SLUG")]
        classes: Vec<String>,
        /// A category with its subcategories, by its URL path ("books/fiction"; repeatable).
        #[arg(long = "category", value_name = "PATH")]
        categories: Vec<String>,
        /// A file of UPCs or SKUs, one per line (a first column of a CSV counts too).
        #[arg(long)]
        codes: Option<std::path::PathBuf>,
    },
    /// Create an offer. CONDITION: count:N, value:AMOUNT, coverage:N or plugin:ID.
    /// BENEFIT: percentage:P, absolute:AMOUNT, fixed-unit-price:AMOUNT, multibuy,
    /// fixed-price:AMOUNT, shipping-absolute:AMOUNT, shipping-percentage:P or
    /// shipping-fixed-price:AMOUNT.
    Create {
        name: String,
        #[arg(long)]
        condition: String,
        #[arg(long)]
        benefit: String,
        /// The range the condition counts, by name (not needed for plugin conditions).
        #[arg(long)]
        range: Option<String>,
        /// The range the benefit discounts (default: the condition's).
        #[arg(long)]
        benefit_range: Option<String>,
        /// site, voucher, user or session.
        #[arg(long = "type", default_value = "site")]
        offer_type: String,
        #[arg(long, default_value_t = 0)]
        priority: i64,
        /// Stack with other combinable offers (offers are exclusive by default).
        #[arg(long)]
        combinable: bool,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        max_affected: Option<i64>,
        #[arg(long)]
        max_global: Option<i64>,
        #[arg(long)]
        max_user: Option<i64>,
        #[arg(long)]
        max_basket: Option<i64>,
        #[arg(long)]
        max_discount: Option<String>,
        /// RFC 3339 (2026-12-24T00:00:00Z).
        #[arg(long)]
        starts: Option<String>,
        #[arg(long)]
        ends: Option<String>,
        /// For user offers: a customer group by name (repeatable).
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
    },
    /// Every offer with its state and results.
    List,
    /// Stop an offer applying (it stays listed, with its results).
    Suspend { name: String },
    /// Let a suspended offer apply again.
    Open { name: String },
    /// Create a voucher code for one or more voucher offers.
    VoucherCreate {
        code: String,
        #[arg(long = "offer", value_name = "NAME", required = true)]
        offers: Vec<String>,
        /// single, multi or once-per-customer.
        #[arg(long, default_value = "multi")]
        usage: String,
        #[arg(long)]
        starts: Option<String>,
        #[arg(long)]
        ends: Option<String>,
    },
    /// Create a set of COUNT unique codes and write them as CSV to standard output.
    VoucherSet {
        name: String,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value = "")]
        prefix: String,
        #[arg(long = "offer", value_name = "NAME", required = true)]
        offers: Vec<String>,
        #[arg(long, default_value = "single")]
        usage: String,
        #[arg(long)]
        starts: Option<String>,
        #[arg(long)]
        ends: Option<String>,
    },
    /// For one basket: every offer it may get, what each gave, and why the others gave nothing.
    Explain {
        basket_id: i64,
        /// Price as this customer (their user offers and per-customer limits).
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

fn amount(text: &str, currency: Currency) -> anyhow::Result<i64> {
    Ok(Money::parse(text, currency)
        .with_context(|| format!("{text:?} is not an amount in {}", currency.code()))?
        .to_minor()?)
}

async fn product_by_code(pool: &AnyPool, code: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT id FROM product WHERE upc = $1 UNION SELECT product_id FROM stock_record WHERE partner_sku = $1 LIMIT 1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await?
    .with_context(|| format!("no product has the UPC or SKU {code:?}"))
}

async fn id_by(pool: &AnyPool, sql: &'static str, key: &str, what: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("no {what} {key:?}"))
}

async fn offer_id(pool: &AnyPool, name: &str) -> anyhow::Result<i64> {
    id_by(
        pool,
        "SELECT id FROM offer WHERE name = $1 OR slug = $1",
        name,
        "offer",
    )
    .await
}

fn usage(text: &str) -> anyhow::Result<Usage> {
    Usage::parse(&text.replace('-', "_")).with_context(|| {
        format!("unknown usage {text:?}; choose single, multi or once-per-customer")
    })
}

pub async fn run(command: OfferCommand, config: Config) -> anyhow::Result<()> {
    let currency = config.default_currency()?;
    if let OfferCommand::Explain {
        basket_id,
        customer,
        json,
    } = command
    {
        return explain(config, basket_id, customer, json).await;
    }
    let db = Db::connect(&config.database_url(), 2).await?;
    let pool = &db.pool;
    match command {
        OfferCommand::RangeCreate {
            name,
            all,
            products,
            excluded,
            classes,
            categories,
            codes,
        } => {
            let mut range = NewRange {
                name,
                includes_all: all,
                ..NewRange::default()
            };
            for code in &products {
                range.products.push(product_by_code(pool, code).await?);
            }
            for code in &excluded {
                range
                    .excluded_products
                    .push(product_by_code(pool, code).await?);
            }
            for slug in &classes {
                range.classes.push(
                    id_by(
                        pool,
                        "SELECT id FROM product_class WHERE slug = $1",
                        slug,
                        "product class",
                    )
                    .await?,
                );
            }
            for path in &categories {
                range.categories.push(
                    id_by(
                        pool,
                        "SELECT id FROM category WHERE full_slug = $1",
                        path.trim_matches('/'),
                        "category",
                    )
                    .await?,
                );
            }
            let id = manage::create_range(&db, Actor::CommandLine, &range).await?;
            if let Some(file) = codes {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let codes = manage::codes_in(&text);
                let (added, unknown) =
                    manage::include_codes(&db, Actor::CommandLine, id, &codes).await?;
                println!("{added} products added from {}", file.display());
                for code in unknown {
                    eprintln!("no product has the code {code:?}");
                }
            }
            println!("created range {id}");
            Ok(())
        }
        OfferCommand::Create {
            name,
            condition,
            benefit,
            range,
            benefit_range,
            offer_type,
            priority,
            combinable,
            description,
            max_affected,
            max_global,
            max_user,
            max_basket,
            max_discount,
            starts,
            ends,
            groups,
        } => {
            let (ckind, cvalue) = condition
                .split_once(':')
                .unwrap_or((condition.as_str(), ""));
            let (bkind, bvalue) = benefit.split_once(':').unwrap_or((benefit.as_str(), ""));
            let bkind = bkind.replace('-', "_");
            let mut new = NewOffer::new(&name, ckind, &bkind);
            new.offer_type = OfferType::parse(&offer_type)
                .with_context(|| format!("unknown offer type {offer_type:?}"))?;
            match ckind {
                "count" | "coverage" => {
                    new.condition_value = cvalue.parse().context("the condition needs a number")?
                }
                "value" => new.condition_value = amount(cvalue, currency)?,
                "plugin" => new.condition_plugin = Some(cvalue.to_owned()),
                other => bail!("unknown condition {other:?}"),
            }
            if bkind.ends_with("percentage") {
                new.benefit_percent = bvalue
                    .parse::<Decimal>()
                    .context("the benefit needs a percentage")?;
            } else if bkind != "multibuy" {
                new.benefit_amount_minor = amount(bvalue, currency)?;
            }
            let range_id = |name: String| async move {
                id_by(
                    pool,
                    "SELECT id FROM offer_range WHERE name = $1 OR slug = $1",
                    &name,
                    "range",
                )
                .await
            };
            if let Some(r) = range {
                new.condition_range = Some(range_id(r).await?);
            }
            if let Some(r) = benefit_range {
                new.benefit_range = Some(range_id(r).await?);
            }
            new.priority = priority;
            new.exclusive = !combinable;
            new.description = description.unwrap_or_default();
            new.max_affected_items = max_affected;
            new.max_global_applications = max_global;
            new.max_user_applications = max_user;
            new.max_basket_applications = max_basket;
            new.max_discount_minor = max_discount.map(|m| amount(&m, currency)).transpose()?;
            new.starts_at = starts;
            new.ends_at = ends;
            for g in &groups {
                new.groups.push(manage::group_with(&db, g, &[]).await?);
            }
            if let Some((field, problem)) = manage::problems(&new).into_iter().next() {
                bail!("{field}: {problem}");
            }
            let id = manage::create_offer(&db, Actor::CommandLine, currency, &new).await?;
            println!("created offer {id}");
            Ok(())
        }
        OfferCommand::List => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "id\tname\ttype\tstatus\tpriority\tcondition\tbenefit\torders\tdiscount"
            )?;
            for o in manage::list(pool, currency).await? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    o.id,
                    o.name,
                    o.offer_type,
                    o.status,
                    o.priority,
                    o.condition_kind,
                    o.benefit_kind,
                    o.num_orders,
                    o.total_discount.display()
                )?;
            }
            Ok(())
        }
        command @ (OfferCommand::Suspend { .. } | OfferCommand::Open { .. }) => {
            let (name, status) = match command {
                OfferCommand::Suspend { name } => (name, "suspended"),
                OfferCommand::Open { name } => (name, "open"),
                _ => unreachable!("matched above"),
            };
            let id = offer_id(pool, &name).await?;
            manage::set_status(&db, Actor::CommandLine, id, status).await?;
            println!("offer {name} is {status}");
            Ok(())
        }
        OfferCommand::VoucherCreate {
            code,
            offers,
            usage: u,
            starts,
            ends,
        } => {
            let mut ids = Vec::new();
            for o in &offers {
                ids.push(offer_id(pool, o).await?);
            }
            let new = NewVoucher {
                name: code.clone(),
                code,
                usage: usage(&u)?,
                starts_at: starts,
                ends_at: ends,
                offers: ids,
            };
            let id = manage::create_voucher(&db, Actor::CommandLine, &new).await?;
            println!("created voucher {id}");
            Ok(())
        }
        OfferCommand::VoucherSet {
            name,
            count,
            prefix,
            offers,
            usage: u,
            starts,
            ends,
        } => {
            let mut ids = Vec::new();
            for o in &offers {
                ids.push(offer_id(pool, o).await?);
            }
            let template = NewVoucher {
                name: name.clone(),
                code: String::new(),
                usage: usage(&u)?,
                starts_at: starts,
                ends_at: ends,
                offers: ids,
            };
            let (_, codes) = manage::create_voucher_set(
                &db,
                Actor::CommandLine,
                &name,
                &prefix,
                count,
                &template,
            )
            .await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "code")?;
            for c in codes {
                writeln!(out, "{c}")?;
            }
            Ok(())
        }
        OfferCommand::Explain { .. } => unreachable!("handled above"),
    }
}

async fn explain(
    config: Config,
    basket_id: i64,
    customer: Option<i64>,
    json: bool,
) -> anyhow::Result<()> {
    let state = crate::app::build_state(config).await?;
    let pricer = crate::basket::Pricer {
        db: &state.db,
        pool: &state.db.pool,
        pricing: state.pricing.as_ref(),
        offers: state.offers.as_ref(),
        currency: state.currency,
        customer_id: customer,
    };
    let priced = crate::basket::priced(pricer, basket_id, false).await?;
    let d = &priced.discounts;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "basket": basket_id,
                "total_before_discounts": priced.total_incl_tax,
                "discount": d.total_incl_tax,
                "total": priced.due_incl_tax,
                "offers": d.explained,
                "shipping_offers": d.shipping,
                "vouchers": d.vouchers,
                "upsells": d.upsells,
            }))?
        );
        return Ok(());
    }
    println!(
        "basket {basket_id}: {} before discounts, {} off, {} to pay (before delivery)",
        priced.total_incl_tax.display(),
        d.total_incl_tax.display(),
        priced.due_incl_tax.display()
    );
    if d.explained.is_empty() {
        println!("no offer is running for this basket");
    }
    for e in &d.explained {
        let voucher = e
            .voucher
            .as_deref()
            .map(|v| format!(" (voucher {v})"))
            .unwrap_or_default();
        match (&e.reason, e.applications) {
            (None, n) => println!(
                "  applied  {}{voucher}: {n} time(s), {} off",
                e.name,
                e.discount.display()
            ),
            (Some(r), 0) => println!("  not      {}{voucher}: {r}", e.name),
            (Some(r), n) => println!(
                "  applied  {}{voucher}: {n} time(s), {} off; stopped: {r}",
                e.name,
                e.discount.display()
            ),
        }
    }
    for v in d.vouchers.iter().filter(|v| v.refused.is_some()) {
        println!(
            "  voucher  {}: {}",
            v.code,
            v.refused.as_deref().unwrap_or_default()
        );
    }
    for u in &d.upsells {
        println!("  upsell   {u}");
    }
    Ok(())
}

/// The demo shop's offers, made once (when the shop has no offer yet): 10 % off any basket of
/// £100 or more, £5 off three different products (a plugin condition: the bundled Python
/// plugin decides), and a £5 welcome voucher (WELCOME5) for a signed-in customer's first
/// order of £20 or more.
pub async fn add_demo_offers(db: &Db, currency: Currency) -> anyhow::Result<()> {
    let any: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM offer")
        .fetch_one(&db.pool)
        .await?;
    if any > 0 {
        return Ok(());
    }
    let everything = manage::create_range(
        db,
        Actor::CommandLine,
        &NewRange {
            name: "Everything".into(),
            includes_all: true,
            ..NewRange::default()
        },
    )
    .await?;
    let show = |minor: i64| Money::from_minor(minor, currency).display();
    let hundred = amount("100.00", currency)?;
    let mut spend = NewOffer::new(
        &format!("10% off when you spend {}", show(hundred)),
        "value",
        "percentage",
    );
    spend.condition_value = hundred;
    spend.condition_range = Some(everything);
    spend.benefit_percent = Decimal::TEN;
    spend.exclusive = false;
    spend.description = format!("Spend {} or more and take 10% off the lot.", show(hundred));
    manage::create_offer(db, Actor::CommandLine, currency, &spend).await?;
    let mut welcome = NewOffer::new("Welcome voucher", "value", "absolute");
    welcome.offer_type = OfferType::Voucher;
    welcome.condition_value = amount("20.00", currency)?;
    welcome.condition_range = Some(everything);
    welcome.benefit_amount_minor = amount("5.00", currency)?;
    welcome.exclusive = false;
    let welcome = manage::create_offer(db, Actor::CommandLine, currency, &welcome).await?;
    // Decided by the bundled Python offer-condition plugin (when it is installed; a plugin
    // missing or disabled leaves the offer out of every basket, nothing else).
    let mut mix = NewOffer::new("Mix and match", "plugin", "absolute");
    mix.condition_plugin = Some("py-coverage-condition".into());
    mix.benefit_range = Some(everything);
    mix.benefit_amount_minor = amount("5.00", currency)?;
    mix.max_basket_applications = Some(1);
    mix.exclusive = false;
    mix.description = format!(
        "{} off when your basket holds 3 different products.",
        show(amount("5.00", currency)?)
    );
    manage::create_offer(db, Actor::CommandLine, currency, &mix).await?;
    manage::create_voucher(
        db,
        Actor::CommandLine,
        &NewVoucher {
            name: "Welcome".into(),
            code: "WELCOME5".into(),
            usage: Usage::OncePerCustomer,
            starts_at: None,
            ends_at: None,
            offers: vec![welcome],
        },
    )
    .await?;
    println!(
        "demo offers: 10% off baskets of {} or more; mix and match (3 different products, a Python plugin decides); voucher WELCOME5 ({} off {}, once per signed-in customer)",
        show(hundred),
        show(amount("5.00", currency)?),
        show(amount("20.00", currency)?)
    );
    Ok(())
}
