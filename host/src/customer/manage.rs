//! Customer accounts as staff see them: the customer list (search by email), one account's
//! facts, and switching an account off (it can no longer sign in) or back on, with an audit
//! entry.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::audit::{self, Actor};
use crate::infra::db::{Db, flag};

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: i64,
    pub email: String,
    pub is_active: bool,
    pub created_at: String,
    pub last_login_at: Option<String>,
    pub orders: i64,
}

/// One account, with its open basket's size.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub is_active: bool,
    pub created_at: String,
    pub last_login_at: Option<String>,
    /// Units in the open basket, if there is one.
    pub basket_units: Option<i64>,
}

const ORDERS: &str = "(SELECT COUNT(*) FROM shop_order o WHERE o.customer_id = c.id) AS orders";

/// Customers whose email contains `query`, newest first: one page and the number of matches.
pub async fn search(
    pool: &AnyPool,
    query: &str,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let pattern = format!("%{}%", query.trim().to_lowercase());
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customer c WHERE c.email LIKE $1")
        .bind(&pattern)
        .fetch_one(pool)
        .await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    let sql = format!(
        "SELECT c.id, c.email, c.is_active, c.created_at, c.last_login_at, {ORDERS} \
         FROM customer c WHERE c.email LIKE $1 ORDER BY c.created_at DESC, c.id DESC \
         LIMIT {page_size} OFFSET {offset}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&pattern)
        .fetch_all(pool)
        .await?;
    let listed = rows
        .iter()
        .map(|r| {
            Ok(Listed {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                is_active: flag(r, "is_active")?,
                created_at: r.try_get("created_at")?,
                last_login_at: r.try_get("last_login_at")?,
                orders: r.try_get("orders")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((listed, total))
}

pub async fn find(pool: &AnyPool, id: i64) -> Result<Option<Account>, sqlx::Error> {
    let Some(r) = sqlx::query(
        "SELECT c.id, c.email, c.is_active, c.created_at, c.last_login_at, \
         (SELECT CAST(SUM(l.quantity) AS BIGINT) FROM basket b JOIN basket_line l ON l.basket_id = b.id \
          WHERE b.owner_id = c.id AND b.status = 'open' AND l.is_saved = FALSE) AS basket_units \
         FROM customer c WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(Account {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        is_active: flag(&r, "is_active")?,
        created_at: r.try_get("created_at")?,
        last_login_at: r.try_get("last_login_at")?,
        basket_units: r.try_get("basket_units")?,
    }))
}

/// Switches the account on or off (off: it can no longer sign in, and every session it is
/// signed in with ends). False when there is no such customer.
pub async fn set_active(
    db: &Db,
    sessions: &dyn crate::session::SessionStore,
    actor: Actor<'_>,
    id: i64,
    active: bool,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let changed = sqlx::query("UPDATE customer SET is_active = $2 WHERE id = $1")
        .bind(id)
        .bind(active)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if changed {
        audit::record(
            &mut tx,
            actor,
            if active {
                "customer.activate"
            } else {
                "customer.deactivate"
            },
            "customer",
            &id.to_string(),
            Some(&audit::json(&serde_json::json!({ "is_active": !active }))),
            Some(&audit::json(&serde_json::json!({ "is_active": active }))),
        )
        .await?;
    }
    tx.commit().await?;
    if changed && !active {
        super::identity::end_sessions(sessions, id).await;
    }
    Ok(changed)
}
