//! Voucher codes on a basket: looked up without regard to case, checked against their dates
//! and their usage (single use, multi use, once per customer), and refused with a reason the
//! customer can act on. Whether the basket qualifies for the voucher's offers is the
//! engine's answer, asked by the basket when a code is added.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::OfferError;
use crate::infra::db::Db;

/// Longest code a customer may type (generated codes are far shorter).
pub const MAX_CODE_CHARS: usize = 64;

/// How often a voucher may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// By one order, ever.
    Single,
    /// By any number of orders.
    Multi,
    /// Once by each signed-in customer.
    OncePerCustomer,
}

impl Usage {
    pub const ALL: [Usage; 3] = [Usage::Single, Usage::Multi, Usage::OncePerCustomer];

    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Single => "single",
            Usage::Multi => "multi",
            Usage::OncePerCustomer => "once_per_customer",
        }
    }

    pub fn parse(s: &str) -> Option<Usage> {
        Usage::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

/// The form codes are kept in: trimmed, upper case.
pub fn normalise(code: &str) -> String {
    code.trim().to_uppercase()
}

/// A voucher on a basket and, when it cannot be used now, why.
#[derive(Debug, Clone, Serialize)]
pub struct BasketVoucher {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub refused: Option<String>,
}

struct Stored {
    id: i64,
    code: String,
    name: String,
    usage: Usage,
    starts_at: Option<String>,
    ends_at: Option<String>,
    num_orders: i64,
}

const VOUCHER_COLUMNS: &str = "v.id, v.code, v.name, v.usage, v.starts_at, v.ends_at, v.num_orders";

fn read(r: &sqlx::any::AnyRow) -> Result<Stored, OfferError> {
    let usage: String = r.try_get("usage")?;
    Ok(Stored {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        usage: Usage::parse(&usage)
            .ok_or_else(|| OfferError::Invalid(format!("unknown voucher usage {usage}")))?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        num_orders: r.try_get("num_orders")?,
    })
}

fn day(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

/// Why `v` cannot be used by `customer` at `now`, if it cannot.
async fn refusal(
    pool: &AnyPool,
    v: &Stored,
    customer: Option<i64>,
    now: &str,
) -> Result<Option<String>, OfferError> {
    if v.starts_at.as_deref().is_some_and(|s| s > now) {
        return Ok(Some(format!(
            "Voucher {} can be used from {}.",
            v.code,
            day(v.starts_at.as_deref().unwrap_or_default())
        )));
    }
    if let Some(end) = v.ends_at.as_deref().filter(|e| *e <= now) {
        return Ok(Some(format!("Voucher {} expired on {}.", v.code, day(end))));
    }
    match v.usage {
        Usage::Single if v.num_orders > 0 => {
            return Ok(Some(format!("Voucher {} has already been used.", v.code)));
        }
        Usage::OncePerCustomer => {
            let Some(customer) = customer else {
                return Ok(Some(format!(
                    "Voucher {} is for signed-in customers: sign in to use it.",
                    v.code
                )));
            };
            let used: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM voucher_application WHERE voucher_id = $1 AND customer_id = $2",
            )
            .bind(v.id)
            .bind(customer)
            .fetch_one(pool)
            .await?;
            if used > 0 {
                return Ok(Some(format!("You have already used voucher {}.", v.code)));
            }
        }
        _ => {}
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM voucher_offer vo JOIN offer o ON o.id = vo.offer_id \
         WHERE vo.voucher_id = $1 AND o.status = 'open' \
         AND (o.starts_at IS NULL OR o.starts_at <= $2) AND (o.ends_at IS NULL OR o.ends_at > $2)",
    )
    .bind(v.id)
    .bind(now)
    .fetch_one(pool)
    .await?;
    if live == 0 {
        return Ok(Some(format!(
            "Voucher {} has no offer running now.",
            v.code
        )));
    }
    Ok(None)
}

/// The basket's vouchers, oldest first, each with the reason it is refused now (if it is).
pub async fn in_basket(
    pool: &AnyPool,
    basket_id: i64,
    customer: Option<i64>,
    now: &str,
) -> Result<Vec<BasketVoucher>, OfferError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VOUCHER_COLUMNS} FROM basket_voucher bv JOIN voucher v ON v.id = bv.voucher_id \
         WHERE bv.basket_id = $1 ORDER BY bv.added_at, v.id"
    )))
    .bind(basket_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let v = read(r)?;
        let refused = refusal(pool, &v, customer, now).await?;
        out.push(BasketVoucher {
            id: v.id,
            code: v.code,
            name: v.name,
            refused,
        });
    }
    Ok(out)
}

/// Puts the voucher with `code` on the basket, or says why not (a message for the
/// customer). Adding a code the basket already holds changes nothing.
pub async fn add(
    db: &Db,
    basket_id: i64,
    customer: Option<i64>,
    code: &str,
    now: &str,
) -> Result<Result<BasketVoucher, String>, OfferError> {
    let code = normalise(code);
    if code.is_empty() {
        return Ok(Err("Enter a voucher code.".to_owned()));
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Ok(Err("That is not a voucher code.".to_owned()));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VOUCHER_COLUMNS} FROM voucher v WHERE v.code = $1"
    )))
    .bind(&code)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(Err(format!("There is no voucher with the code {code}.")));
    };
    let v = read(&row)?;
    if let Some(reason) = refusal(&db.pool, &v, customer, now).await? {
        return Ok(Err(reason));
    }
    let mut tx = db.begin_write().await?;
    let added = sqlx::query(
        "INSERT INTO basket_voucher (basket_id, voucher_id, added_at) VALUES ($1, $2, $3) \
         ON CONFLICT (basket_id, voucher_id) DO NOTHING",
    )
    .bind(basket_id)
    .bind(v.id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 1 {
        sqlx::query(
            "UPDATE voucher SET num_basket_additions = num_basket_additions + 1 WHERE id = $1",
        )
        .bind(v.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(BasketVoucher {
        id: v.id,
        code: v.code,
        name: v.name,
        refused: None,
    }))
}

/// Takes the voucher with `code` off the basket; `false` when the basket did not hold it.
pub async fn remove(db: &Db, basket_id: i64, code: &str) -> Result<bool, OfferError> {
    let done = sqlx::query(
        "DELETE FROM basket_voucher WHERE basket_id = $1 \
         AND voucher_id IN (SELECT id FROM voucher WHERE code = $2)",
    )
    .bind(basket_id)
    .bind(normalise(code))
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(done > 0)
}

/// Moves the vouchers of basket `from` onto `into` (a merge at sign-in), inside the
/// caller's transaction.
pub async fn move_to(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    from: i64,
    into: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO basket_voucher (basket_id, voucher_id, added_at) \
         SELECT $2, voucher_id, added_at FROM basket_voucher WHERE basket_id = $1 \
         ON CONFLICT (basket_id, voucher_id) DO NOTHING",
    )
    .bind(from)
    .bind(into)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
