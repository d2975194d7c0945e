//! Stock as staff manage it: the stock list (a partner user's own records only), a record's
//! adjustment history, and adjusting a level by hand with a reason. An adjustment is one
//! transaction with its history row and audit entry, never takes stock below what placed
//! orders have allocated, and is announced so the storefront shows the new availability at
//! once.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::audit::{self, Actor};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, now_text};
use crate::staff::Staff;

pub const MAX_REASON_CHARS: usize = 200;
/// The largest change one adjustment may make, either way.
pub const MAX_DELTA: i64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// No such record within the user's scope.
    #[error("not found")]
    NotFound,
    /// The level would go below what orders have allocated (or below zero).
    #[error("only {allocatable} can be taken away: the rest is allocated to orders")]
    BelowAllocated { allocatable: i64 },
}

/// A stock record as the stock list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub id: i64,
    pub product_id: i64,
    pub title: String,
    pub partner: String,
    pub partner_sku: String,
    pub num_in_stock: i64,
    pub num_allocated: i64,
    pub free: i64,
    pub low_stock_threshold: Option<i64>,
    pub is_low: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Adjustment {
    pub delta: i64,
    pub num_in_stock_after: i64,
    pub reason: String,
    pub actor: String,
    pub created_at: String,
}

/// Stock is low at or below this many free units when its record sets no threshold.
pub const DEFAULT_LOW_STOCK: i64 = 5;

fn scope_condition(scope: Option<&[i64]>) -> String {
    match scope {
        None => "1 = 1".to_owned(),
        // Partner ids are integers read from the database.
        Some(ids) => format!(
            "sr.partner_id IN ({})",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

const LINE_SQL: &str = "SELECT sr.id, sr.product_id, p.title, pa.name AS partner, sr.partner_sku, \
     sr.num_in_stock, sr.num_allocated, sr.low_stock_threshold \
     FROM stock_record sr JOIN product p ON p.id = sr.product_id JOIN partner pa ON pa.id = sr.partner_id";

fn line_from(row: &sqlx::any::AnyRow) -> Result<Line, sqlx::Error> {
    let num_in_stock: i64 = row.try_get("num_in_stock")?;
    let num_allocated: i64 = row.try_get("num_allocated")?;
    let threshold: Option<i64> = row.try_get("low_stock_threshold")?;
    let free = (num_in_stock - num_allocated).max(0);
    Ok(Line {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        title: row.try_get("title")?,
        partner: row.try_get("partner")?,
        partner_sku: row.try_get("partner_sku")?,
        num_in_stock,
        num_allocated,
        free,
        low_stock_threshold: threshold,
        is_low: free <= threshold.unwrap_or(DEFAULT_LOW_STOCK),
    })
}

/// Stock records within `scope` whose product title or SKU contains `query`, optionally only
/// the low ones; a page of `page_size` and the number of matches.
pub async fn search(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    query: Option<&str>,
    low_only: bool,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Line>, i64), sqlx::Error> {
    let mut condition = scope_condition(scope);
    let pattern = query
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| format!("%{}%", q.to_lowercase()));
    if pattern.is_some() {
        condition.push_str(" AND (LOWER(p.title) LIKE $1 OR LOWER(sr.partner_sku) LIKE $1)");
    }
    if low_only {
        condition.push_str(&format!(
            " AND sr.num_in_stock - sr.num_allocated <= COALESCE(sr.low_stock_threshold, {DEFAULT_LOW_STOCK})"
        ));
    }
    let count_sql = format!(
        "SELECT COUNT(*) FROM stock_record sr JOIN product p ON p.id = sr.product_id WHERE {condition}"
    );
    let mut count = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql));
    if let Some(p) = &pattern {
        count = count.bind(p.clone());
    }
    let total: i64 = count.fetch_one(pool).await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    let sql = format!(
        "{LINE_SQL} WHERE {condition} ORDER BY sr.num_in_stock - sr.num_allocated, p.title, sr.id \
         LIMIT {page_size} OFFSET {offset}"
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(p) = pattern {
        rows = rows.bind(p);
    }
    let lines = rows
        .fetch_all(pool)
        .await?
        .iter()
        .map(line_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((lines, total))
}

/// One record within `scope`.
pub async fn find(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    id: i64,
) -> Result<Option<Line>, sqlx::Error> {
    let sql = format!("{LINE_SQL} WHERE sr.id = $1 AND {}", scope_condition(scope));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(line_from)
        .transpose()
}

/// The record's adjustments, newest first.
pub async fn history(pool: &AnyPool, id: i64) -> Result<Vec<Adjustment>, sqlx::Error> {
    sqlx::query(
        "SELECT delta, num_in_stock_after, reason, actor, created_at FROM stock_adjustment \
         WHERE stock_record_id = $1 ORDER BY id DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(Adjustment {
            delta: r.try_get("delta")?,
            num_in_stock_after: r.try_get("num_in_stock_after")?,
            reason: r.try_get("reason")?,
            actor: r.try_get("actor")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .collect()
}

/// Adds `delta` (negative: takes away) to the record's stock for `reason` (the caller checks
/// both are within [`MAX_DELTA`] and [`MAX_REASON_CHARS`]). Returns the new level.
pub async fn adjust(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    id: i64,
    delta: i64,
    reason: &str,
) -> Result<i64, StockError> {
    let line = find(&db.pool, staff.partner_scope(), id)
        .await?
        .ok_or(StockError::NotFound)?;
    let mut tx = db.begin_write().await?;
    // Conditional in the statement itself: a concurrent allocation can't be undercut.
    let after: Option<i64> = sqlx::query_scalar(
        "UPDATE stock_record SET num_in_stock = num_in_stock + $2, updated_at = $3 \
         WHERE id = $1 AND num_in_stock + $2 >= num_allocated RETURNING num_in_stock",
    )
    .bind(id)
    .bind(delta)
    .bind(now_text())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(after) = after else {
        let allocatable: i64 = sqlx::query_scalar(
            "SELECT num_in_stock - num_allocated FROM stock_record WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        return Err(StockError::BelowAllocated {
            allocatable: allocatable.max(0),
        });
    };
    sqlx::query(
        "INSERT INTO stock_adjustment (stock_record_id, delta, num_in_stock_after, reason, \
         staff_id, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(delta)
    .bind(after)
    .bind(reason)
    .bind(staff.id)
    .bind(&staff.email)
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "stock.adjust",
        "stock_record",
        &id.to_string(),
        Some(&audit::json(
            &serde_json::json!({ "num_in_stock": line.num_in_stock }),
        )),
        Some(&audit::json(
            &serde_json::json!({ "num_in_stock": after, "reason": reason }),
        )),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Stock(vec![line.product_id]));
    Ok(after)
}
