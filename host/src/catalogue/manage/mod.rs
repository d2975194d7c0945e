//! The catalogue as staff see it: every product, public or not, found by title or UPC; a
//! partner user's own products only (those with a stock record of theirs).

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::infra::db::flag;

#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub id: i64,
    pub title: String,
    pub upc: Option<String>,
    pub structure: String,
    pub is_public: bool,
}

/// Products whose title or UPC contains `query`, within `scope`; at most `limit`, by title.
pub async fn search(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    query: &str,
    limit: i64,
) -> Result<Vec<Found>, sqlx::Error> {
    let scope_sql = match scope {
        None => String::new(),
        // Partner ids are integers read from the database.
        Some(ids) => format!(
            "AND EXISTS (SELECT 1 FROM stock_record sr WHERE sr.partner_id IN ({}) \
             AND (sr.product_id = p.id OR sr.product_id IN (SELECT c.id FROM product c WHERE c.parent_id = p.id)))",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let sql = format!(
        "SELECT p.id, p.title, p.upc, p.structure, p.is_public FROM product p \
         WHERE (LOWER(p.title) LIKE $1 OR LOWER(COALESCE(p.upc, '')) LIKE $1) {scope_sql} \
         ORDER BY p.title, p.id LIMIT {limit}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format!("%{}%", query.trim().to_lowercase()))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Found {
                id: r.try_get("id")?,
                title: r.try_get("title")?,
                upc: r.try_get("upc")?,
                structure: r.try_get("structure")?,
                is_public: flag(r, "is_public")?,
            })
        })
        .collect()
}
