//! Baskets (Oscar's basket app): one open basket per anonymous session or per customer, lines
//! of concrete products (standalone or child) with chosen options, and the unit price the
//! customer saw when adding. Lines are re-priced by the active strategy whenever the basket is
//! shown; [`PricedLine::warnings`] says when the price moved or availability dropped.
//!
//! Limits: each line at most `max_line_quantity`, the basket (lines not saved for later) at
//! most `max_basket_quantity` units, and no product beyond what the strategy says can be
//! bought (`availability.max_quantity`, i.e. net stock for the built-in strategy). Every
//! mutation writes and then checks inside one transaction, and rolls back when a limit is
//! broken, so a refused request changes nothing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

pub mod actions;
pub mod snapshot;

use crate::catalogue::{self, Image, Structure, product_url};
use crate::infra::db::{Db, flag, now_text, placeholders};
use crate::money::{Currency, Money};
use crate::offer::discounts::{OfferLine, PluginBasket};
use crate::offer::live::{self, Shopper};
use crate::offer::{BasketDiscounts, OfferError, Offers};
use crate::partner::{self, StockRecord};
use crate::pricing::{
    Availability, AvailabilityCode, Price, Pricing, PricingContext, PricingError, PricingItem,
    PurchaseInfo,
};

/// Text option values are cut off here (engraving lines, gift messages).
pub const MAX_OPTION_CHARS: usize = 200;
/// Session key of an anonymous visitor's basket id.
pub const SESSION_KEY: &str = "basket_id";

#[derive(Debug, thiserror::Error)]
pub enum BasketError {
    #[error("not found")]
    NotFound,
    /// Malformed input: a 400, nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// A well-formed request that the shop's rules refuse; shown to the customer.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("stock: {0}")]
    Stock(#[from] partner::PartnerError),
    #[error("catalogue: {0}")]
    Catalogue(#[from] catalogue::CatalogueError),
    #[error("pricing: {0}")]
    Pricing(#[from] PricingError),
    #[error("offers: {0}")]
    Offer(#[from] OfferError),
}

/// What the basket needs to price: the catalogue database and the shop's pricing.
#[derive(Clone, Copy)]
pub struct Pricer<'a> {
    pub db: &'a Db,
    pub pool: &'a AnyPool,
    pub pricing: &'a Pricing,
    /// The offers the basket may get (discounts are worked out whenever it is priced).
    pub offers: &'a Offers,
    pub currency: Currency,
    pub customer_id: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_line_quantity: i64,
    pub max_basket_quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineOption {
    pub code: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub id: i64,
    pub product_id: i64,
    pub stock_record_id: Option<i64>,
    pub quantity: i64,
    pub options: Vec<LineOption>,
    /// Unit price when added.
    pub price_excl_tax: Money,
    pub price_incl_tax: Money,
    pub is_saved: bool,
}

/// A product as the basket sees it.
#[derive(Debug, Clone)]
pub struct BuyableProduct {
    pub id: i64,
    pub structure: Structure,
    pub title: String,
    pub url: String,
    pub parent_id: Option<i64>,
    pub class_id: Option<i64>,
    pub track_stock: bool,
}

// A variant without a title of its own is called by its parent's (in the basket and on the
// order lines copied from it).
const PRODUCT_SQL: &str = "SELECT p.id, p.structure, \
     CASE WHEN p.title = '' THEN COALESCE(pp.title, '') ELSE p.title END AS title, p.slug, p.parent_id, \
     COALESCE(p.product_class_id, pp.product_class_id) AS class_id, \
     COALESCE(pc.track_stock, ppc.track_stock) AS track_stock \
     FROM product p LEFT JOIN product pp ON pp.id = p.parent_id \
     LEFT JOIN product_class pc ON pc.id = p.product_class_id \
     LEFT JOIN product_class ppc ON ppc.id = pp.product_class_id \
     WHERE p.is_public = TRUE AND (pp.id IS NULL OR pp.is_public = TRUE)";

fn product_from_row(row: &AnyRow) -> Result<BuyableProduct, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let slug: String = row.try_get("slug")?;
    Ok(BuyableProduct {
        id,
        structure: Structure::parse(&row.try_get::<String, _>("structure")?),
        title: row.try_get("title")?,
        url: product_url(&slug, id),
        parent_id: row.try_get("parent_id")?,
        class_id: row.try_get("class_id")?,
        track_stock: crate::infra::db::optional_flag(row, "track_stock")?.unwrap_or(true),
    })
}

/// Public products by id (hidden ones, and children of hidden parents, are left out).
pub async fn products(
    pool: &AnyPool,
    ids: &[i64],
) -> Result<HashMap<i64, BuyableProduct>, BasketError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("{PRODUCT_SQL} AND p.id IN ({})", placeholders(1, ids.len()));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let p = product_from_row(row)?;
            Ok((p.id, p))
        })
        .collect()
}

#[derive(Debug, Clone)]
struct OptionSpec {
    code: String,
    name: String,
    kind: String,
    required: bool,
}

async fn option_specs(
    pool: &AnyPool,
    product: &BuyableProduct,
) -> Result<Vec<OptionSpec>, BasketError> {
    let root = product.parent_id.unwrap_or(product.id);
    let rows = sqlx::query(
        "SELECT o.code, o.name, o.kind, o.required FROM product_option o \
         WHERE o.id IN (SELECT option_id FROM product_class_option WHERE product_class_id = $1) \
            OR o.id IN (SELECT option_id FROM product_product_option WHERE product_id = $2) \
         ORDER BY o.sort_order, o.id",
    )
    .bind(product.class_id.unwrap_or_default())
    .bind(root)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OptionSpec {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                kind: r.try_get("kind")?,
                required: flag(r, "required")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(BasketError::from)
}

/// The chosen options from form fields `option_<code>`, in the product's option order.
/// Unknown fields are ignored; a missing required option or a malformed value is refused.
fn choose_options(
    specs: &[OptionSpec],
    fields: &HashMap<String, String>,
) -> Result<Vec<LineOption>, BasketError> {
    let mut chosen = Vec::new();
    for spec in specs {
        let raw = fields
            .get(&format!("option_{}", spec.code))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty());
        let value = match (spec.kind.as_str(), raw) {
            (_, None) => None,
            ("boolean", Some(v)) => {
                matches!(v.to_ascii_lowercase().as_str(), "true" | "on" | "1" | "yes")
                    .then(|| "Yes".to_owned())
            }
            ("integer", Some(v)) => match v.parse::<i64>() {
                Ok(n) => Some(n.to_string()),
                Err(_) => {
                    return Err(BasketError::Refused(format!(
                        "“{}” must be a whole number.",
                        spec.name
                    )));
                }
            },
            (_, Some(v)) => {
                if v.chars().count() > MAX_OPTION_CHARS {
                    return Err(BasketError::Refused(format!(
                        "“{}” can be at most {MAX_OPTION_CHARS} characters long.",
                        spec.name
                    )));
                }
                Some(v.to_owned())
            }
        };
        match value {
            Some(value) => chosen.push(LineOption {
                code: spec.code.clone(),
                name: spec.name.clone(),
                value,
            }),
            None if spec.required => {
                return Err(BasketError::Refused(format!(
                    "Please fill in “{}” before adding this to your basket.",
                    spec.name
                )));
            }
            None => {}
        }
    }
    Ok(chosen)
}

/// Product id plus a digest of the options: equal for the same product with the same choices.
pub fn line_reference(product_id: i64, options: &[LineOption]) -> String {
    if options.is_empty() {
        return product_id.to_string();
    }
    let json = serde_json::to_string(options).unwrap_or_default();
    let digest = hex::encode(Sha256::digest(json.as_bytes()));
    format!("{product_id}:{}", &digest[..16])
}

/// Prices concrete products, one batched call. Each entry is (product, tracks stock, quantity
/// wanted): volume pricing plugins price on the quantity.
pub async fn price(
    pricer: Pricer<'_>,
    basket_id: Option<i64>,
    products: &[(i64, bool, u32)],
) -> Result<HashMap<i64, PurchaseInfo>, BasketError> {
    if products.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = products.iter().map(|(id, _, _)| *id).collect();
    let stock = partner::stock_for_products(pricer.pool, &ids).await?;
    let mut by_product: HashMap<i64, Vec<&StockRecord>> = HashMap::new();
    for (_, record) in &stock {
        by_product
            .entry(record.product_id)
            .or_default()
            .push(record);
    }
    let empty = Vec::new();
    let items: Vec<PricingItem<'_>> = products
        .iter()
        .map(|(id, track_stock, quantity)| PricingItem {
            product_id: *id,
            track_stock: *track_stock,
            stock: by_product.get(id).unwrap_or(&empty),
            quantity: *quantity,
        })
        .collect();
    let ctx = PricingContext {
        currency: pricer.currency,
        customer_id: pricer.customer_id,
        basket_id,
    };
    let results = pricer.pricing.price_all(pricer.pool, &ctx, &items).await?;
    Ok(ids.into_iter().zip(results).collect())
}

/// A validated add-to-basket request, priced, ready to write.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub product: BuyableProduct,
    pub options: Vec<LineOption>,
    pub reference: String,
    pub stock_record_id: i64,
    pub price: Price,
    pub availability: Availability,
}

/// Checks the product can be bought with these options and prices it.
pub async fn prepare_line(
    pricer: Pricer<'_>,
    product_id: i64,
    fields: &HashMap<String, String>,
) -> Result<NewLine, BasketError> {
    let product = products(pricer.pool, &[product_id])
        .await?
        .remove(&product_id)
        .ok_or(BasketError::NotFound)?;
    if product.structure == Structure::Parent {
        return Err(BasketError::Invalid(format!(
            "“{}” comes in several variants: choose one to add it to your basket.",
            product.title
        )));
    }
    let specs = option_specs(pricer.pool, &product).await?;
    let options = choose_options(&specs, fields)?;
    let info = price(pricer, None, &[(product.id, product.track_stock, 1)])
        .await?
        .remove(&product.id);
    let unavailable = || {
        BasketError::Refused(format!(
            "Sorry, “{}” is not available right now.",
            product.title
        ))
    };
    let info = info.ok_or_else(unavailable)?;
    if info.availability.code == AvailabilityCode::OutOfStock {
        // Said as it is: the customer may come back for it (a re-order names it too).
        return Err(BasketError::Refused(format!(
            "Sorry, “{}” is out of stock.",
            product.title
        )));
    }
    let (Some(price), Some(stock_record_id), true) = (
        info.price,
        info.stock_record_id,
        info.availability.is_available,
    ) else {
        return Err(unavailable());
    };
    Ok(NewLine {
        reference: line_reference(product.id, &options),
        product,
        options,
        stock_record_id,
        price,
        availability: info.availability,
    })
}

/// Who a basket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// An anonymous session, with the basket id its session data names (if any).
    Session(Option<i64>),
    Customer(i64),
}

/// The owner's open basket, if there is one.
pub async fn find_open(pool: &AnyPool, owner: Owner) -> Result<Option<i64>, BasketError> {
    let row = match owner {
        Owner::Customer(id) => {
            sqlx::query("SELECT id FROM basket WHERE owner_id = $1 AND status = 'open'")
                .bind(id)
                .fetch_optional(pool)
                .await?
        }
        Owner::Session(Some(id)) => {
            sqlx::query(
                "SELECT id FROM basket WHERE id = $1 AND owner_id IS NULL AND status = 'open'",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }
        Owner::Session(None) => None,
    };
    Ok(match row {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

/// The owner's open basket, created if needed (race-free for customers: the unique index on
/// open baskets per owner decides).
pub async fn open_basket(tx: &mut Transaction<'_, Any>, owner: Owner) -> Result<i64, BasketError> {
    let now = now_text();
    match owner {
        Owner::Customer(customer_id) => {
            sqlx::query(
                "INSERT INTO basket (owner_id, status, created_at, updated_at) VALUES ($1, 'open', $2, $2) \
                 ON CONFLICT (owner_id) WHERE status = 'open' AND owner_id IS NOT NULL DO NOTHING",
            )
            .bind(customer_id)
            .bind(&now)
            .execute(&mut **tx)
            .await?;
            let row = sqlx::query("SELECT id FROM basket WHERE owner_id = $1 AND status = 'open'")
                .bind(customer_id)
                .fetch_one(&mut **tx)
                .await?;
            Ok(row.try_get(0)?)
        }
        Owner::Session(existing) => {
            if let Some(id) = existing {
                let row = sqlx::query(
                    "SELECT id FROM basket WHERE id = $1 AND owner_id IS NULL AND status = 'open'",
                )
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(row) = row {
                    return Ok(row.try_get(0)?);
                }
            }
            let row = sqlx::query(
                "INSERT INTO basket (owner_id, status, created_at, updated_at) VALUES (NULL, 'open', $1, $1) RETURNING id",
            )
            .bind(&now)
            .fetch_one(&mut **tx)
            .await?;
            Ok(row.try_get(0)?)
        }
    }
}

fn saved_sql(saved: bool) -> &'static str {
    if saved { "TRUE" } else { "FALSE" }
}

/// Adds `quantity` of a prepared line (merging with an equal line), then checks the limits.
pub async fn add_line(
    tx: &mut Transaction<'_, Any>,
    basket_id: i64,
    line: &NewLine,
    quantity: i64,
    limits: Limits,
) -> Result<i64, BasketError> {
    let now = now_text();
    let minor = |m: Money| {
        m.to_minor()
            .map_err(|e| BasketError::Invalid(e.to_string()))
    };
    let row = sqlx::query(
        "INSERT INTO basket_line (basket_id, product_id, stock_record_id, line_reference, quantity, \
         options, currency, price_excl_tax_minor, price_incl_tax_minor, is_saved, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, $10, $10) \
         ON CONFLICT (basket_id, line_reference, is_saved) DO UPDATE SET \
           quantity = basket_line.quantity + excluded.quantity, \
           stock_record_id = excluded.stock_record_id, \
           currency = excluded.currency, \
           price_excl_tax_minor = excluded.price_excl_tax_minor, \
           price_incl_tax_minor = excluded.price_incl_tax_minor, \
           updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(basket_id)
    .bind(line.product.id)
    .bind(line.stock_record_id)
    .bind(&line.reference)
    .bind(quantity)
    .bind(serde_json::to_string(&line.options).unwrap_or_else(|_| "[]".into()))
    .bind(line.price.incl_tax.currency().code())
    .bind(minor(line.price.excl_tax)?)
    .bind(minor(line.price.incl_tax)?)
    .bind(&now)
    .fetch_one(&mut **tx)
    .await?;
    let line_id: i64 = row.try_get(0)?;
    check_limits(
        tx,
        basket_id,
        line_id,
        &line.product,
        &line.availability,
        limits,
    )
    .await?;
    touch(tx, basket_id).await?;
    Ok(line_id)
}

async fn touch(tx: &mut Transaction<'_, Any>, basket_id: i64) -> Result<(), BasketError> {
    sqlx::query("UPDATE basket SET updated_at = $1 WHERE id = $2")
        .bind(now_text())
        .bind(basket_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// After a write: the line, the basket and the product's stock must still be within limits.
async fn check_limits(
    tx: &mut Transaction<'_, Any>,
    basket_id: i64,
    line_id: i64,
    product: &BuyableProduct,
    availability: &Availability,
    limits: Limits,
) -> Result<(), BasketError> {
    let row = sqlx::query(
        "SELECT \
           (SELECT quantity FROM basket_line WHERE id = $1) AS line_qty, \
           (SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM basket_line WHERE basket_id = $2 AND is_saved = FALSE) AS basket_qty, \
           (SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM basket_line WHERE basket_id = $2 AND is_saved = FALSE AND product_id = $3) AS product_qty",
    )
    .bind(line_id)
    .bind(basket_id)
    .bind(product.id)
    .fetch_one(&mut **tx)
    .await?;
    let line_qty: i64 = row.try_get::<Option<i64>, _>("line_qty")?.unwrap_or(0);
    let basket_qty: i64 = row.try_get("basket_qty")?;
    let product_qty: i64 = row.try_get("product_qty")?;
    if line_qty > limits.max_line_quantity {
        return Err(BasketError::Refused(format!(
            "You can have at most {} of one item on a basket line.",
            limits.max_line_quantity
        )));
    }
    if basket_qty > limits.max_basket_quantity {
        return Err(BasketError::Refused(format!(
            "Your basket can hold at most {} items.",
            limits.max_basket_quantity
        )));
    }
    if !availability.is_available && product_qty > 0 {
        return Err(BasketError::Refused(format!(
            "Sorry, “{}” is not available right now.",
            product.title
        )));
    }
    if let Some(max) = availability.max_quantity
        && product_qty > max
    {
        return Err(BasketError::Refused(if max == 0 {
            format!("Sorry, “{}” is out of stock.", product.title)
        } else {
            format!(
                "Sorry, only {max} of “{}” can be bought right now, and that many would make {product_qty} in your basket.",
                product.title
            )
        }));
    }
    Ok(())
}

const LINE_COLUMNS: &str = "id, product_id, stock_record_id, quantity, options, currency, \
     price_excl_tax_minor, price_incl_tax_minor, is_saved";

fn line_from_row(row: &AnyRow) -> Result<Line, BasketError> {
    let code: String = row.try_get("currency")?;
    let currency = Currency::from_code(&code).map_err(|e| BasketError::Invalid(e.to_string()))?;
    let options: String = row.try_get("options")?;
    Ok(Line {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        stock_record_id: row.try_get("stock_record_id")?,
        quantity: row.try_get("quantity")?,
        options: serde_json::from_str(&options).unwrap_or_default(),
        price_excl_tax: Money::from_minor(row.try_get("price_excl_tax_minor")?, currency),
        price_incl_tax: Money::from_minor(row.try_get("price_incl_tax_minor")?, currency),
        is_saved: flag(row, "is_saved")?,
    })
}

pub async fn lines(pool: &AnyPool, basket_id: i64) -> Result<Vec<Line>, BasketError> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM basket_line WHERE basket_id = $1 ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(basket_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(line_from_row)
        .collect()
}

/// A line of this basket, read outside any transaction.
async fn line_by_id(pool: &AnyPool, basket_id: i64, line_id: i64) -> Result<Line, BasketError> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM basket_line WHERE id = $1 AND basket_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(line_id)
        .bind(basket_id)
        .fetch_optional(pool)
        .await?
        .ok_or(BasketError::NotFound)?;
    line_from_row(&row)
}

async fn line_in(
    tx: &mut Transaction<'_, Any>,
    basket_id: i64,
    line_id: i64,
) -> Result<(Line, String), BasketError> {
    let sql = format!(
        "SELECT {LINE_COLUMNS}, line_reference FROM basket_line WHERE id = $1 AND basket_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(line_id)
        .bind(basket_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(BasketError::NotFound)?;
    Ok((line_from_row(&row)?, row.try_get("line_reference")?))
}

/// Availability of one product now, for re-checking limits on a change.
async fn availability_of(
    pricer: Pricer<'_>,
    product_id: i64,
) -> Result<(BuyableProduct, Availability), BasketError> {
    let product = products(pricer.pool, &[product_id])
        .await?
        .remove(&product_id)
        .ok_or_else(|| BasketError::Refused("Sorry, that product is no longer sold.".into()))?;
    let availability = price(pricer, None, &[(product.id, product.track_stock, 1)])
        .await?
        .remove(&product.id)
        .map(|i| i.availability)
        .unwrap_or_else(Availability::unavailable);
    Ok((product, availability))
}

/// Sets a line's quantity (0 removes it). The line must belong to `basket_id`.
pub async fn set_quantity(
    pricer: Pricer<'_>,
    basket_id: i64,
    line_id: i64,
    quantity: i64,
    limits: Limits,
) -> Result<(), BasketError> {
    // Stock is looked up before the write lock is taken (it needs other connections).
    let current = line_by_id(pricer.pool, basket_id, line_id).await?;
    let stock = if !current.is_saved && quantity > current.quantity {
        Some(availability_of(pricer, current.product_id).await?)
    } else {
        None
    };
    let mut tx = pricer.db.begin_write().await?;
    let (line, _) = line_in(&mut tx, basket_id, line_id).await?;
    if quantity == 0 {
        remove_in(&mut tx, basket_id, line_id).await?;
        tx.commit().await?;
        return Ok(());
    }
    sqlx::query("UPDATE basket_line SET quantity = $1, updated_at = $2 WHERE id = $3")
        .bind(quantity)
        .bind(now_text())
        .bind(line_id)
        .execute(&mut *tx)
        .await?;
    if let (false, true, Some((product, availability))) =
        (line.is_saved, quantity > line.quantity, &stock)
    {
        // Only growing a line needs stock; shrinking one is always allowed.
        check_limits(&mut tx, basket_id, line_id, product, availability, limits).await?;
    } else if quantity > limits.max_line_quantity {
        return Err(BasketError::Refused(format!(
            "You can have at most {} of one item on a basket line.",
            limits.max_line_quantity
        )));
    }
    touch(&mut tx, basket_id).await?;
    tx.commit().await?;
    Ok(())
}

async fn remove_in(
    tx: &mut Transaction<'_, Any>,
    basket_id: i64,
    line_id: i64,
) -> Result<(), BasketError> {
    let done = sqlx::query("DELETE FROM basket_line WHERE id = $1 AND basket_id = $2")
        .bind(line_id)
        .bind(basket_id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(BasketError::NotFound);
    }
    touch(tx, basket_id).await
}

pub async fn remove_line(db: &Db, basket_id: i64, line_id: i64) -> Result<(), BasketError> {
    let mut tx = db.begin_write().await?;
    remove_in(&mut tx, basket_id, line_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a line to "saved for later" (`to_saved`) or back into the basket, merging with an
/// equal line already there. Moving back re-checks stock and limits.
pub async fn move_line(
    pricer: Pricer<'_>,
    basket_id: i64,
    line_id: i64,
    to_saved: bool,
    limits: Limits,
) -> Result<(), BasketError> {
    let current = line_by_id(pricer.pool, basket_id, line_id).await?;
    if current.is_saved == to_saved {
        return Ok(());
    }
    let stock = if to_saved {
        None
    } else {
        Some(availability_of(pricer, current.product_id).await?)
    };
    let mut tx = pricer.db.begin_write().await?;
    let (line, reference) = line_in(&mut tx, basket_id, line_id).await?;
    if line.is_saved == to_saved {
        return Ok(());
    }
    let sql = format!(
        "UPDATE basket_line SET quantity = quantity + $1, updated_at = $2 \
         WHERE basket_id = $3 AND line_reference = $4 AND is_saved = {} RETURNING id",
        saved_sql(to_saved)
    );
    let merged = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(line.quantity)
        .bind(now_text())
        .bind(basket_id)
        .bind(&reference)
        .fetch_optional(&mut *tx)
        .await?;
    let target = match merged {
        Some(row) => {
            sqlx::query("DELETE FROM basket_line WHERE id = $1")
                .bind(line_id)
                .execute(&mut *tx)
                .await?;
            row.try_get(0)?
        }
        None => {
            let sql = format!(
                "UPDATE basket_line SET is_saved = {}, updated_at = $1 WHERE id = $2",
                saved_sql(to_saved)
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now_text())
                .bind(line_id)
                .execute(&mut *tx)
                .await?;
            line_id
        }
    };
    if to_saved {
        let quantity: i64 = sqlx::query("SELECT quantity FROM basket_line WHERE id = $1")
            .bind(target)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if quantity > limits.max_line_quantity {
            return Err(BasketError::Refused(format!(
                "You can have at most {} of one item on a basket line.",
                limits.max_line_quantity
            )));
        }
    } else if let Some((product, availability)) = &stock {
        check_limits(&mut tx, basket_id, target, product, availability, limits).await?;
    }
    touch(&mut tx, basket_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves every line of basket `from` into `into`, then marks `from` merged. Returns how many
/// lines moved. Both limits hold afterwards: equal lines add up to at most the line limit, and
/// units that would take the basket past its total limit go to "saved for later" instead (a
/// shopper's anonymous basket plus their account's could otherwise hold twice the limit, and
/// checkout would price and reserve all of it). Saved lines count towards no total.
pub async fn merge(db: &Db, from: i64, into: i64, limits: Limits) -> Result<u64, BasketError> {
    if from == into {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let mut total: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM basket_line \
         WHERE basket_id = $1 AND is_saved = FALSE",
    )
    .bind(into)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let incoming = sqlx::query(
        "SELECT id, line_reference, quantity, is_saved FROM basket_line WHERE basket_id = $1 ORDER BY id",
    )
    .bind(from)
    .fetch_all(&mut *tx)
    .await?;
    let mut moved = 0;
    for row in &incoming {
        let line_id: i64 = row.try_get("id")?;
        let reference: String = row.try_get("line_reference")?;
        let quantity: i64 = row.try_get("quantity")?;
        if flag(row, "is_saved")? {
            merge_line(&mut tx, into, line_id, quantity, true, limits).await?;
            moved += 1;
            continue;
        }
        let present: i64 = sqlx::query(
            "SELECT quantity FROM basket_line \
             WHERE basket_id = $1 AND line_reference = $2 AND is_saved = FALSE",
        )
        .bind(into)
        .bind(&reference)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?
        .unwrap_or(0);
        let line_room = (limits.max_line_quantity - present).max(0);
        let basket_room = (limits.max_basket_quantity - total).max(0);
        let to_basket = quantity.min(line_room).min(basket_room);
        if to_basket > 0 {
            merge_line(&mut tx, into, line_id, to_basket, false, limits).await?;
            total += to_basket;
        }
        if quantity > to_basket {
            merge_line(&mut tx, into, line_id, quantity - to_basket, true, limits).await?;
        }
        moved += 1;
    }
    sqlx::query("DELETE FROM basket_line WHERE basket_id = $1")
        .bind(from)
        .execute(&mut *tx)
        .await?;
    // The vouchers the shopper entered before signing in stay with their basket.
    crate::offer::voucher::move_to(&mut tx, from, into).await?;
    sqlx::query("UPDATE basket SET status = 'merged', updated_at = $1 WHERE id = $2")
        .bind(now_text())
        .bind(from)
        .execute(&mut *tx)
        .await?;
    touch(&mut tx, into).await?;
    tx.commit().await?;
    Ok(moved)
}

/// Adds `quantity` of line `line_id` (of another basket) to basket `into`, in the basket or
/// saved for later, adding up with an equal line there up to the line limit.
async fn merge_line(
    tx: &mut Transaction<'_, Any>,
    into: i64,
    line_id: i64,
    quantity: i64,
    saved: bool,
    limits: Limits,
) -> Result<(), BasketError> {
    let sql = format!(
        "INSERT INTO basket_line (basket_id, product_id, stock_record_id, line_reference, quantity, \
         options, currency, price_excl_tax_minor, price_incl_tax_minor, is_saved, created_at, updated_at) \
         SELECT $1, product_id, stock_record_id, line_reference, $2, options, currency, \
                price_excl_tax_minor, price_incl_tax_minor, {saved}, created_at, $3 \
         FROM basket_line WHERE id = $4 \
         ON CONFLICT (basket_id, line_reference, is_saved) DO UPDATE SET \
           quantity = CASE WHEN basket_line.quantity + excluded.quantity > $5 THEN $5 \
                           ELSE basket_line.quantity + excluded.quantity END, \
           price_excl_tax_minor = excluded.price_excl_tax_minor, \
           price_incl_tax_minor = excluded.price_incl_tax_minor, \
           updated_at = excluded.updated_at",
        saved = saved_sql(saved)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(into)
        .bind(quantity.min(limits.max_line_quantity))
        .bind(now_text())
        .bind(line_id)
        .bind(limits.max_line_quantity)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes anonymous baskets nobody has touched since `before` (RFC 3339): their sessions
/// are gone. Their lines go with them (`ON DELETE CASCADE`).
///
/// A basket that became an order stays: the order references it (`shop_order.basket_id`,
/// without cascade on purpose, since an order is never deleted with its basket), and one such
/// row in the DELETE would fail the whole statement, every time, from then on. A basket with
/// a payment in flight stays too: deleting it would cascade the pending payment away, and
/// with it the provider's only way to place the order it was paid for; the pending-payment
/// sweep removes those rows first, and a later pass takes the basket.
pub async fn sweep_abandoned(pool: &AnyPool, before: &str) -> Result<u64, BasketError> {
    Ok(sqlx::query(
        "DELETE FROM basket WHERE owner_id IS NULL AND updated_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM shop_order o WHERE o.basket_id = basket.id) \
         AND NOT EXISTS (SELECT 1 FROM pending_payment p WHERE p.basket_id = basket.id)",
    )
    .bind(before)
    .execute(pool)
    .await?
    .rows_affected())
}

/// A line as shown: re-priced now, with what changed since it was added.
#[derive(Debug, Clone, Serialize)]
pub struct PricedLine {
    pub id: i64,
    pub product_id: i64,
    /// The partner's stock record the strategy chose (the one an order allocates from).
    pub stock_record_id: Option<i64>,
    /// Whether the product's class counts stock (if not, nothing is allocated).
    pub track_stock: bool,
    pub title: String,
    pub url: Option<String>,
    pub image: Option<Image>,
    pub quantity: i64,
    pub options: Vec<LineOption>,
    /// The unit price now (none when it can no longer be bought).
    pub unit_price: Option<Price>,
    pub line_total: Option<Money>,
    /// What offers take off this line (incl. tax), and the line's total after it.
    pub discount: Option<Money>,
    pub discounted_total: Option<Money>,
    pub price_when_added: Money,
    pub availability: Availability,
    pub warnings: Vec<String>,
    pub is_saved: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PricedBasket {
    pub id: i64,
    pub lines: Vec<PricedLine>,
    pub saved: Vec<PricedLine>,
    /// Units in the basket (saved lines don't count).
    pub num_items: i64,
    pub total_incl_tax: Money,
    pub total_excl_tax: Money,
    pub total_tax: Money,
    /// Whether every line can be bought as it stands.
    pub is_purchasable: bool,
    /// The offers' discounts on the lines (shipping discounts follow the chosen method).
    pub discounts: BasketDiscounts,
    /// The lines' total after their discounts.
    pub due_incl_tax: Money,
    pub due_excl_tax: Money,
}

impl PricedBasket {
    /// The shipping discounts on a method's charge: (offer id, incl. tax, excl. tax) each.
    pub fn shipping_discounts(
        &self,
        charge_incl: Money,
        charge_excl: Money,
    ) -> Vec<(i64, Money, Money)> {
        self.discounts
            .on_shipping(charge_incl, charge_excl)
            .into_iter()
            .map(|(s, i, e)| (s.offer_id, i, e))
            .collect()
    }
}

/// The basket with every line re-priced by the strategy in one call.
pub async fn priced(
    pricer: Pricer<'_>,
    basket_id: i64,
    with_images: bool,
) -> Result<PricedBasket, BasketError> {
    let lines = lines(pricer.pool, basket_id).await?;
    let mut ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let products = products(pricer.pool, &ids).await?;
    // How many of each product the basket holds: compared with what's available, and the
    // quantity a volume-pricing plugin prices on.
    let mut per_product: HashMap<i64, i64> = HashMap::new();
    for line in lines.iter().filter(|l| !l.is_saved) {
        *per_product.entry(line.product_id).or_default() += line.quantity;
    }
    let to_price: Vec<(i64, bool, u32)> = products
        .values()
        .map(|p| {
            let wanted = per_product.get(&p.id).copied().unwrap_or(1).max(1);
            (
                p.id,
                p.track_stock,
                u32::try_from(wanted).unwrap_or(u32::MAX),
            )
        })
        .collect();
    let infos = price(pricer, Some(basket_id), &to_price).await?;
    let images = if with_images {
        let mut wanted: Vec<(i64, &str)> = Vec::new();
        for p in products.values() {
            wanted.push((p.id, p.title.as_str()));
            if let Some(parent) = p.parent_id {
                wanted.push((parent, p.title.as_str()));
            }
        }
        catalogue::primary_images(pricer.pool, &wanted).await?
    } else {
        HashMap::new()
    };
    let currency = pricer.currency;
    let zero = Money::zero(currency);
    let (mut total_incl, mut total_excl) = (zero, zero);
    let mut num_items = 0;
    let mut purchasable = true;
    let (mut open, mut saved) = (Vec::new(), Vec::new());
    for line in lines {
        let product = products.get(&line.product_id);
        let info = infos.get(&line.product_id);
        let unit_price = info
            .and_then(|i| i.price)
            .filter(|p| p.incl_tax.currency() == currency);
        let availability = info
            .map(|i| i.availability.clone())
            .unwrap_or_else(Availability::unavailable);
        let title = product
            .map(|p| p.title.clone())
            .unwrap_or_else(|| "A product no longer sold".into());
        let mut warnings = Vec::new();
        match (product, unit_price) {
            (None, _) => {
                warnings.push("This product is no longer sold; please remove it.".to_owned())
            }
            (Some(_), None) => {
                warnings.push("This product has no price right now and can't be bought.".to_owned())
            }
            (Some(_), Some(now)) if now.incl_tax != line.price_incl_tax => warnings.push(format!(
                "The price has changed from {} to {} since you added it.",
                line.price_incl_tax.display(),
                now.incl_tax.display()
            )),
            _ => {}
        }
        if !line.is_saved && product.is_some() {
            if !availability.is_available {
                warnings.push("This product is no longer available.".to_owned());
            } else if let Some(max) = availability.max_quantity {
                let wanted = per_product.get(&line.product_id).copied().unwrap_or(0);
                if wanted > max {
                    warnings.push(format!(
                        "Only {max} can be bought right now; please lower the quantity."
                    ));
                }
            }
        }
        let line_total = unit_price.and_then(|p| p.incl_tax.checked_mul(line.quantity.into()).ok());
        if !line.is_saved {
            num_items += line.quantity;
            if product.is_none() || unit_price.is_none() || !availability.is_available {
                purchasable = false;
            }
            if let Some(price) = unit_price {
                let q = rust_decimal::Decimal::from(line.quantity);
                total_incl = total_incl
                    .checked_add(price.incl_tax.checked_mul(q).unwrap_or(zero))
                    .unwrap_or(total_incl);
                total_excl = total_excl
                    .checked_add(price.excl_tax.checked_mul(q).unwrap_or(zero))
                    .unwrap_or(total_excl);
            }
        }
        let image = product.and_then(|p| {
            images
                .get(&p.id)
                .or_else(|| p.parent_id.and_then(|parent| images.get(&parent)))
                .cloned()
        });
        let priced = PricedLine {
            id: line.id,
            product_id: line.product_id,
            stock_record_id: info.and_then(|i| i.stock_record_id),
            track_stock: product.is_none_or(|p| p.track_stock),
            title,
            url: product.map(|p| p.url.clone()),
            image,
            quantity: line.quantity,
            options: line.options,
            unit_price,
            line_total,
            discount: None,
            discounted_total: line_total,
            price_when_added: line.price_incl_tax,
            availability,
            warnings,
            is_saved: line.is_saved,
        };
        if priced.is_saved {
            saved.push(priced);
        } else {
            open.push(priced);
        }
    }
    let total_tax = Money::new(total_incl.amount() - total_excl.amount(), currency);
    let mut basket = PricedBasket {
        id: basket_id,
        is_purchasable: purchasable && !open.is_empty(),
        lines: open,
        saved,
        num_items,
        total_incl_tax: total_incl,
        total_excl_tax: total_excl,
        total_tax,
        discounts: BasketDiscounts::none(currency),
        due_incl_tax: total_incl,
        due_excl_tax: total_excl,
    };
    apply_offers(pricer, &mut basket).await?;
    Ok(basket)
}

/// Works out the basket's discounts and writes them onto its lines and totals.
async fn apply_offers(pricer: Pricer<'_>, basket: &mut PricedBasket) -> Result<(), BasketError> {
    let lines: Vec<OfferLine> = basket
        .lines
        .iter()
        .filter(|l| l.availability.is_available)
        .filter_map(|l| {
            let price = l.unit_price?;
            Some(OfferLine {
                line_id: l.id,
                product_id: l.product_id,
                quantity: u32::try_from(l.quantity).ok()?,
                unit_incl_tax: price.incl_tax,
                unit_excl_tax: price.excl_tax,
            })
        })
        .collect();
    let mut ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let shopper = Shopper {
        basket_id: Some(basket.id),
        customer_id: pricer.customer_id,
    };
    let catalogue = live::catalogue(pricer.pool, pricer.currency, &pricer.offers.kept).await?;
    let (offers, vouchers) =
        live::for_basket(pricer.pool, &catalogue, shopper, &ids, &now_text()).await?;
    let plugin_basket = if offers.iter().any(|o| {
        matches!(
            o.offer.condition,
            crate::offer::engine::Condition::Plugin(_)
        )
    }) {
        let tree = match pricer.offers.categories.get(&()) {
            Some(tree) => tree,
            None => std::sync::Arc::new(catalogue::load_category_tree(pricer.pool).await?),
        };
        let facts = catalogue::snapshot::facts(pricer.pool, &tree, &ids).await?;
        Some(PluginBasket {
            basket: snapshot::basket(basket, &facts),
            customer: crate::plugins::calls::Customer::new(pricer.customer_id, None),
        })
    } else {
        None
    };
    let discounts = pricer
        .offers
        .apply(offers, vouchers, &lines, plugin_basket)
        .await;
    for line in &mut basket.lines {
        if let Some(d) = discounts.of_line(line.id) {
            line.discount = Some(d.incl_tax);
            line.discounted_total = line
                .line_total
                .map(|t| Money::new(t.amount() - d.incl_tax.amount(), t.currency()));
        }
    }
    basket.due_incl_tax = Money::new(
        basket.total_incl_tax.amount() - discounts.total_incl_tax.amount(),
        pricer.currency,
    );
    basket.due_excl_tax = Money::new(
        basket.total_excl_tax.amount() - discounts.total_excl_tax.amount(),
        pricer.currency,
    );
    basket.discounts = discounts;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(code: &str, kind: &str, required: bool) -> OptionSpec {
        OptionSpec {
            code: code.into(),
            name: code.to_uppercase(),
            kind: kind.into(),
            required,
        }
    }

    #[test]
    fn options_are_validated_and_ordered() {
        let specs = [
            spec("engraving", "text", true),
            spec("gift-wrap", "boolean", false),
        ];
        let fields = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(matches!(
            choose_options(&specs, &fields(&[("option_gift-wrap", "true")])),
            Err(BasketError::Refused(_))
        ));
        let chosen = choose_options(
            &specs,
            &fields(&[
                ("option_gift-wrap", "true"),
                ("option_engraving", " Hi "),
                ("option_x", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(chosen.len(), 2);
        assert_eq!(
            (chosen[0].value.as_str(), chosen[1].value.as_str()),
            ("Hi", "Yes")
        );
        let long = "x".repeat(MAX_OPTION_CHARS + 1);
        assert!(choose_options(&specs, &fields(&[("option_engraving", &long)])).is_err());
        let int = [spec("n", "integer", false)];
        assert!(choose_options(&int, &fields(&[("option_n", "2x")])).is_err());
    }

    #[test]
    fn references_tell_options_apart() {
        let a = vec![LineOption {
            code: "e".into(),
            name: "E".into(),
            value: "A".into(),
        }];
        let b = vec![LineOption {
            code: "e".into(),
            name: "E".into(),
            value: "B".into(),
        }];
        assert_eq!(line_reference(7, &[]), "7");
        assert_ne!(line_reference(7, &a), line_reference(7, &b));
        assert_eq!(line_reference(7, &a), line_reference(7, &a.clone()));
    }
}
