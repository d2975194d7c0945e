//! The catalogue as staff see and change it (the dashboard's catalogue section, and any other
//! front door that manages products): every product, public or not; a partner user's own
//! products only.
//!
//! A partner user's products are those of a family (a standalone product, or a parent with its
//! children) with a stock record of one of their partners; [`scope_condition`] says so in SQL,
//! and every read and write here applies it, so a product outside the scope is "not found".
//! Every write is one transaction with its audit entry, and announces [`Change::Catalogue`]
//! after it commits, so the storefront shows it at once.
//!
//! [`Change::Catalogue`]: crate::infra::changes::Change::Catalogue

pub mod bulk;
pub mod categories;
pub mod classes;
pub mod list;
pub mod products;
pub mod rich_text;
pub mod stock;
pub mod transfer;

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::infra::db::flag;

/// What a catalogue use case refuses, or fails with.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// No such object within the user's scope.
    #[error("not found")]
    NotFound,
    /// Problems per form field (the field's name, what to change), for the form to show.
    #[error("the form has problems")]
    Invalid(Vec<(String, String)>),
    /// Not for this user (a partner user changing the shop-wide category tree).
    #[error("{0}")]
    Refused(String),
}

impl ManageError {
    pub(crate) fn field(name: &str, message: impl Into<String>) -> ManageError {
        ManageError::Invalid(vec![(name.to_owned(), message.into())])
    }
}

impl From<super::CatalogueError> for ManageError {
    fn from(e: super::CatalogueError) -> Self {
        match e {
            super::CatalogueError::Db(e) => ManageError::Db(e),
            super::CatalogueError::Attribute(a) => ManageError::field("attributes", a.to_string()),
            super::CatalogueError::Invalid(m) => ManageError::field("form", m),
        }
    }
}

/// `partner_id IN (…)` for a scope (partner ids are integers read from the database, so they
/// are formatted, not bound).
fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "NULL".to_owned();
    }
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQL that is true when the product aliased `p` is within `scope`: its family (itself, or
/// its parent with all the parent's children) has a stock record of one of the partners.
/// Always true without a scope.
pub(crate) fn scope_condition(scope: Option<&[i64]>, p: &str) -> String {
    match scope {
        None => "1 = 1".to_owned(),
        Some(ids) => format!(
            "COALESCE({p}.parent_id, {p}.id) IN (SELECT COALESCE(sp.parent_id, sp.id) \
             FROM stock_record ssr JOIN product sp ON sp.id = ssr.product_id \
             WHERE ssr.partner_id IN ({}))",
            id_list(ids)
        ),
    }
}

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
