//! Partners (fulfilment partners) and their stock records: per product and partner, a SKU, a
//! price in one currency, how many are in stock and how many are allocated to placed orders.

pub mod manage;
pub mod stock;

use serde::Serialize;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::infra::db::{now_text, placeholders};
use crate::money::{Currency, Money, MoneyError};

#[derive(Debug, Clone, Serialize)]
pub struct Partner {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct StockRecord {
    pub id: i64,
    pub product_id: i64,
    pub partner_id: i64,
    pub partner_sku: String,
    pub price: Money,
    pub num_in_stock: i64,
    pub num_allocated: i64,
    pub low_stock_threshold: Option<i64>,
}

impl StockRecord {
    /// What can still be sold: physical stock less what placed orders have claimed.
    pub fn net_stock(&self) -> i64 {
        (self.num_in_stock - self.num_allocated).max(0)
    }

    pub fn is_low(&self) -> bool {
        self.low_stock_threshold
            .is_some_and(|threshold| self.net_stock() <= threshold)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("stock record {id}: {source}")]
    BadMoney { id: i64, source: MoneyError },
}

const STOCK_COLUMNS: &str = "sr.id, sr.product_id, sr.partner_id, sr.partner_sku, sr.currency, \
     sr.price_minor, sr.num_in_stock, sr.num_allocated, sr.low_stock_threshold";

fn stock_from_row(row: &sqlx::any::AnyRow) -> Result<StockRecord, PartnerError> {
    let id: i64 = row.try_get("id")?;
    let code: String = row.try_get("currency")?;
    let currency =
        Currency::from_code(&code).map_err(|source| PartnerError::BadMoney { id, source })?;
    Ok(StockRecord {
        id,
        product_id: row.try_get("product_id")?,
        partner_id: row.try_get("partner_id")?,
        partner_sku: row.try_get("partner_sku")?,
        price: Money::from_minor(row.try_get("price_minor")?, currency),
        num_in_stock: row.try_get("num_in_stock")?,
        num_allocated: row.try_get("num_allocated")?,
        low_stock_threshold: row.try_get("low_stock_threshold")?,
    })
}

/// Stock records of the given products and of their public children, in one query, each with
/// the id of the listed product it belongs to (the parent for a child's record).
pub async fn stock_for_products(
    pool: &AnyPool,
    product_ids: &[i64],
) -> Result<Vec<(i64, StockRecord)>, PartnerError> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(1, product_ids.len());
    let sql = format!(
        "SELECT {STOCK_COLUMNS}, COALESCE(p.parent_id, p.id) AS listing_id FROM stock_record sr JOIN product p ON p.id = sr.product_id \
         WHERE p.id IN ({list}) OR (p.parent_id IN ({list}) AND p.is_public = TRUE) \
         ORDER BY sr.product_id, sr.price_minor, sr.id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in product_ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("listing_id")?, stock_from_row(row)?)))
        .collect()
}

/// The partner with this code, if there is one.
pub async fn partner_by_code<'e, E>(db: E, code: &str) -> Result<Option<Partner>, PartnerError>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query("SELECT id, code, name FROM partner WHERE code = $1")
        .bind(code)
        .fetch_optional(db)
        .await?;
    Ok(match row {
        Some(row) => Some(Partner {
            id: row.try_get("id")?,
            code: row.try_get("code")?,
            name: row.try_get("name")?,
        }),
        None => None,
    })
}

pub async fn create_partner<'e, E>(db: E, code: &str, name: &str) -> Result<i64, PartnerError>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query("INSERT INTO partner (code, name) VALUES ($1, $2) RETURNING id")
        .bind(code)
        .bind(name)
        .fetch_one(db)
        .await?;
    Ok(row.try_get(0)?)
}

pub struct NewStockRecord<'a> {
    pub product_id: i64,
    pub partner_id: i64,
    pub partner_sku: &'a str,
    pub price: Money,
    pub num_in_stock: i64,
    pub low_stock_threshold: Option<i64>,
}

pub async fn create_stock_record<'e, E>(
    db: E,
    new: &NewStockRecord<'_>,
) -> Result<i64, PartnerError>
where
    E: Executor<'e, Database = Any>,
{
    let price_minor = new
        .price
        .to_minor()
        .map_err(|source| PartnerError::BadMoney { id: 0, source })?;
    let row = sqlx::query(
        "INSERT INTO stock_record (product_id, partner_id, partner_sku, currency, price_minor, \
         num_in_stock, num_allocated, low_stock_threshold, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) RETURNING id",
    )
    .bind(new.product_id)
    .bind(new.partner_id)
    .bind(new.partner_sku)
    .bind(new.price.currency().code())
    .bind(price_minor)
    .bind(new.num_in_stock)
    .bind(new.low_stock_threshold)
    .bind(now_text())
    .fetch_one(db)
    .await?;
    Ok(row.try_get(0)?)
}
