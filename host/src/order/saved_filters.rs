//! Order-list filters a staff member keeps under a name: the list's query string, shown as a
//! link above the list. Each user's own; names are unique per user (saving a name again
//! replaces its filter).

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::audit::{self, Actor};
use crate::infra::db::{Db, now_text};
use crate::staff::Staff;

/// Longest name kept.
pub const MAX_NAME_CHARS: usize = 60;
/// Most filters one user keeps.
pub const MAX_PER_USER: i64 = 50;

#[derive(Debug, Clone, Serialize)]
pub struct SavedFilter {
    pub id: i64,
    pub name: String,
    /// The order list's query string (without `?`).
    pub query: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// `staff`'s filters, by name.
pub async fn list(pool: &AnyPool, staff: &Staff) -> Result<Vec<SavedFilter>, sqlx::Error> {
    sqlx::query("SELECT id, name, query FROM saved_order_filter WHERE staff_id = $1 ORDER BY name")
        .bind(staff.id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(SavedFilter {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                query: r.try_get("query")?,
            })
        })
        .collect()
}

/// Keeps `query` as `name` for `staff` (replacing a filter of that name).
pub async fn save(db: &Db, staff: &Staff, name: &str, query: &str) -> Result<(), SaveError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(SaveError::Invalid(format!(
            "Give the filter a name of 1 to {MAX_NAME_CHARS} characters."
        )));
    }
    if query.is_empty() {
        return Err(SaveError::Invalid(
            "Choose some filters first: this is every order.".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM saved_order_filter WHERE staff_id = $1 AND name = $2")
        .bind(staff.id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let kept: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM saved_order_filter WHERE staff_id = $1")
            .bind(staff.id)
            .fetch_one(&mut *tx)
            .await?;
    if kept >= MAX_PER_USER {
        return Err(SaveError::Invalid(format!(
            "You keep {MAX_PER_USER} filters already; delete one first."
        )));
    }
    sqlx::query(
        "INSERT INTO saved_order_filter (staff_id, name, query, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(staff.id)
    .bind(name)
    .bind(query)
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "order_filter.save",
        "staff",
        &staff.id.to_string(),
        None,
        Some(&audit::json(
            &serde_json::json!({ "name": name, "query": query }),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Forgets `staff`'s filter `id`; false when they have no such filter.
pub async fn delete(db: &Db, staff: &Staff, id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let gone = sqlx::query("DELETE FROM saved_order_filter WHERE id = $1 AND staff_id = $2")
        .bind(id)
        .bind(staff.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if gone {
        audit::record(
            &mut tx,
            Actor::from(staff),
            "order_filter.delete",
            "staff",
            &staff.id.to_string(),
            Some(&audit::json(&serde_json::json!({ "id": id }))),
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(gone)
}
