//! Bulk actions on products chosen in the dashboard's list: publish, unpublish, file in one
//! category (in place of their others), delete. Each is one transaction with an audit entry
//! per product; a product outside the user's scope makes the whole action "not found", and
//! nothing changes.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::list::{self, Listed};
use super::{ManageError, scope_condition};
use crate::audit::{self, Actor};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, now_text, placeholders};
use crate::staff::Staff;

/// The most products one action takes.
pub const MAX_PRODUCTS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Publish,
    Unpublish,
    /// Files each (top-level) product in this category only.
    SetCategory(i64),
    Delete,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Unpublish => "unpublish",
            Action::SetCategory(_) => "category",
            Action::Delete => "delete",
        }
    }
}

/// The chosen products, in the list's form, all within the user's scope (else not found).
pub async fn chosen(db: &Db, staff: &Staff, ids: &[i64]) -> Result<Vec<Listed>, ManageError> {
    let mut conn = db.pool.acquire().await?;
    check_scope(&mut conn, staff, ids).await?;
    Ok(list::rows_by_id(&mut conn, ids).await?)
}

async fn check_scope(
    conn: &mut AnyConnection,
    staff: &Staff,
    ids: &[i64],
) -> Result<(), ManageError> {
    if ids.is_empty() {
        return Err(ManageError::field("ids", "Choose at least one product."));
    }
    if ids.len() > MAX_PRODUCTS {
        return Err(ManageError::field(
            "ids",
            format!("Choose at most {MAX_PRODUCTS} products at a time."),
        ));
    }
    let sql = format!(
        "SELECT COUNT(*) FROM product p WHERE p.id IN ({}) AND {}",
        placeholders(1, ids.len()),
        scope_condition(staff.partner_scope(), "p")
    );
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    let found: i64 = q.fetch_one(&mut *conn).await?;
    if found != ids.len() as i64 {
        return Err(ManageError::NotFound);
    }
    Ok(())
}

/// Applies `action` to products `ids`; returns how many it changed.
pub async fn apply(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    ids: &[i64],
    action: Action,
) -> Result<usize, ManageError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut tx = db.begin_write().await?;
    check_scope(&mut tx, staff, &ids).await?;
    let list_sql = placeholders(1, ids.len());
    let rows = {
        let sql = format!(
            "SELECT p.id, p.title, p.upc, p.structure, p.is_public FROM product p WHERE p.id IN ({list_sql}) ORDER BY p.id"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            q = q.bind(*id);
        }
        q.fetch_all(&mut *tx).await?
    };
    if let Action::SetCategory(category) = action {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM category WHERE id = $1")
            .bind(category)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(ManageError::field(
                "category",
                "Choose a category from the list.",
            ));
        }
    }
    if action == Action::Delete {
        let sql = format!(
            "SELECT COUNT(*) FROM stock_record sr JOIN product p ON p.id = sr.product_id \
             WHERE (p.id IN ({list_sql}) OR p.parent_id IN ({list_sql})) AND sr.num_allocated > 0"
        );
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            q = q.bind(*id);
        }
        let allocated: i64 = q.fetch_one(&mut *tx).await?;
        if allocated > 0 {
            return Err(ManageError::field(
                "ids",
                "Some of these products have stock allocated to placed orders: unpublish them instead.",
            ));
        }
    }
    let now = now_text();
    let mut changed = 0;
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let structure: String = r.try_get("structure")?;
        let is_public = crate::infra::db::flag(r, "is_public")?;
        let before = audit::json(&serde_json::json!({
            "title": r.try_get::<String, _>("title")?,
            "upc": r.try_get::<Option<String>, _>("upc")?,
            "is_public": is_public,
        }));
        let after = match action {
            Action::Publish | Action::Unpublish => {
                let public = action == Action::Publish;
                if public == is_public {
                    continue;
                }
                sqlx::query("UPDATE product SET is_public = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(public)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                Some(audit::json(&serde_json::json!({ "is_public": public })))
            }
            Action::SetCategory(category) => {
                if structure == "child" {
                    // A variant is filed where its parent is.
                    continue;
                }
                sqlx::query("DELETE FROM product_category WHERE product_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO product_category (product_id, category_id) VALUES ($1, $2)",
                )
                .bind(id)
                .bind(category)
                .execute(&mut *tx)
                .await?;
                Some(audit::json(
                    &serde_json::json!({ "categories": [category] }),
                ))
            }
            Action::Delete => {
                sqlx::query("DELETE FROM product WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                None
            }
        };
        audit::record(
            &mut tx,
            Actor::from(staff),
            &format!("product.{}", action.name()),
            "product",
            &id.to_string(),
            Some(&before),
            after.as_deref(),
        )
        .await?;
        changed += 1;
    }
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(changed)
}
