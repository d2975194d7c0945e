//! The filtered order list as CSV rows, read in batches newest first with a keyset cursor
//! (placed_at, id), so a large export never holds the whole list and never skips or repeats
//! an order while new ones arrive.

use sqlx::{AnyPool, Row};

use super::filter::{OrderFilter, where_sql};
use super::{currency_of, money};

/// The CSV's header row.
pub const HEADER: [&str; 11] = [
    "number",
    "placed_at",
    "status",
    "email",
    "name",
    "items",
    "currency",
    "total_incl_tax",
    "shipping_method",
    "captured",
    "refunded",
];

/// Where the next batch starts: after this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub placed_at: String,
    pub id: i64,
}

/// The number of orders `filter` matches within `scope`.
pub async fn count(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    filter: &OrderFilter,
) -> Result<i64, sqlx::Error> {
    let (condition, binds) = where_sql(scope, filter);
    let sql = format!("SELECT COUNT(*) FROM shop_order o WHERE {condition}");
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = query.bind(b);
    }
    query.fetch_one(pool).await
}

/// Up to `limit` rows after `after`, and the cursor of the last one.
pub async fn batch(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    filter: &OrderFilter,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<(Vec<[String; 11]>, Option<Cursor>), sqlx::Error> {
    let (mut condition, mut binds) = where_sql(scope, filter);
    if let Some(cursor) = after {
        binds.push(cursor.placed_at.clone());
        let at = binds.len();
        // The id is an integer read from the database.
        condition.push_str(&format!(
            " AND (o.placed_at < ${at} OR (o.placed_at = ${at} AND o.id < {}))",
            cursor.id
        ));
    }
    let sql = format!(
        "SELECT o.id, o.number, o.placed_at, o.status, o.email, o.shipping_address, o.currency, \
         o.total_incl_minor, o.shipping_name, \
         (SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM order_line l WHERE l.order_id = o.id) AS items, \
         (SELECT CAST(COALESCE(SUM(ps.debited_minor), 0) AS BIGINT) FROM payment_source ps WHERE ps.order_id = o.id) AS captured_minor, \
         (SELECT CAST(COALESCE(SUM(ps.refunded_minor), 0) AS BIGINT) FROM payment_source ps WHERE ps.order_id = o.id) AS refunded_minor \
         FROM shop_order o WHERE {condition} ORDER BY o.placed_at DESC, o.id DESC LIMIT {limit}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut last = None;
    for r in &rows {
        let currency = currency_of(r)?;
        let address: String = r.try_get("shipping_address")?;
        let name = serde_json::from_str::<serde_json::Value>(&address)
            .ok()
            .and_then(|a| a.get("name").and_then(|n| n.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let placed_at: String = r.try_get("placed_at")?;
        let amount = |column: &str| money(r, column, currency).map(|m| m.amount().to_string());
        out.push([
            r.try_get("number")?,
            placed_at.clone(),
            r.try_get("status")?,
            r.try_get("email")?,
            name,
            r.try_get::<i64, _>("items")?.to_string(),
            currency.code().to_owned(),
            amount("total_incl_minor")?,
            r.try_get("shipping_name")?,
            amount("captured_minor")?,
            amount("refunded_minor")?,
        ]);
        last = Some(Cursor {
            placed_at,
            id: r.try_get("id")?,
        });
    }
    Ok((out, last))
}
