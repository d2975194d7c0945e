//! The dashboard's product list: every product (public or not) within the user's scope,
//! searched by title or UPC, filtered by class and structure, newest first.
//!
//! A page reads its ids first, from the `product_dashboard*` indexes (0011) in id order, and
//! only then the rows it shows, so a deep page of 100,000 products costs an index walk, not a
//! sort of every row. Without a structure filter the list shows top-level products
//! (standalone and parents, a parent with its number of variants); `structure=child` lists
//! the variants themselves.

use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};

use super::scope_condition;
use crate::catalogue::Structure;
use crate::infra::db::{COUNT_CAP, capped_count_sql, flag, placeholders};

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of the title (any case), or the whole UPC. One or two characters match the start
    /// of the title (see [`SHORT_QUERY`]).
    pub query: String,
    pub class_id: Option<i64>,
    pub structure: Option<Structure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: i64,
    pub title: String,
    pub upc: Option<String>,
    pub structure: &'static str,
    pub is_public: bool,
    pub class_name: String,
    pub parent_title: Option<String>,
    pub variants: i64,
    pub stock_records: i64,
    pub updated_at: String,
}

/// Queries shorter than this match the start of a title, not any part of it. A substring of
/// one or two letters is in most titles and no index can find it (PostgreSQL's trigram index
/// needs three), so every title would be read on each keystroke of a 100,000-product
/// catalogue; a prefix is a range of the `product_title_prefix` index (0029).
pub const SHORT_QUERY: usize = 3;

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
pub(crate) fn like_literal(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// One page of the list (1-based, `page_size` rows) and the number of matches, counted up to
/// [`COUNT_CAP`] + 1.
pub async fn products(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    filter: &Filter,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let mut binds: Vec<String> = Vec::new();
    let mut class_bind: Option<i64> = None;
    let mut condition = match filter.structure {
        Some(Structure::Child) => "p.structure = 'child'".to_owned(),
        Some(Structure::Parent) => "p.parent_id IS NULL AND p.structure = 'parent'".to_owned(),
        Some(Structure::Standalone) => {
            "p.parent_id IS NULL AND p.structure = 'standalone'".to_owned()
        }
        None => "p.parent_id IS NULL".to_owned(),
    };
    let q = filter.query.trim();
    if !q.is_empty() {
        let term = like_literal(&q.to_lowercase());
        binds.push(if q.chars().count() < SHORT_QUERY {
            format!("{term}%")
        } else {
            format!("%{term}%")
        });
        binds.push(q.to_owned());
        condition.push_str(" AND (LOWER(p.title) LIKE $1 ESCAPE '\\' OR p.upc = $2)");
    }
    if let Some(class_id) = filter.class_id {
        let n = binds.len() + 1;
        class_bind = Some(class_id);
        if filter.structure == Some(Structure::Child) {
            condition.push_str(&format!(
                " AND p.parent_id IN (SELECT cp.id FROM product cp WHERE cp.product_class_id = ${n})"
            ));
        } else {
            condition.push_str(&format!(" AND p.product_class_id = ${n}"));
        }
    }
    condition.push_str(" AND ");
    condition.push_str(&scope_condition(scope, "p"));

    let count_sql = capped_count_sql(&format!("product p WHERE {condition}"));
    // Planned with each search's own values, not kept prepared: see `order::manage::search`.
    let mut count = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)).persistent(false);
    for b in &binds {
        count = count.bind(b.clone());
    }
    if let Some(c) = class_bind {
        count = count.bind(c);
    }
    let total: i64 = count.fetch_one(pool).await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    if total == 0 || (offset >= total && total <= COUNT_CAP) {
        return Ok((Vec::new(), total));
    }
    let ids_sql = format!(
        "SELECT p.id FROM product p WHERE {condition} ORDER BY p.id DESC \
         LIMIT {page_size} OFFSET {offset}"
    );
    let mut ids_query = sqlx::query_scalar(sqlx::AssertSqlSafe(ids_sql)).persistent(false);
    for b in binds {
        ids_query = ids_query.bind(b);
    }
    if let Some(c) = class_bind {
        ids_query = ids_query.bind(c);
    }
    let ids: Vec<i64> = ids_query.fetch_all(pool).await?;
    let mut conn = pool.acquire().await?;
    Ok((rows_by_id(&mut conn, &ids).await?, total))
}

/// The list's rows for `ids`, in that order.
pub async fn rows_by_id(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Listed>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT p.id, p.title, p.upc, p.structure, p.is_public, p.updated_at, \
         COALESCE(pc.name, ppc.name, '') AS class_name, pp.title AS parent_title, \
         (SELECT COUNT(*) FROM product ch WHERE ch.parent_id = p.id) AS variants, \
         (SELECT COUNT(*) FROM stock_record sr WHERE sr.product_id = p.id) AS stock_records \
         FROM product p LEFT JOIN product pp ON pp.id = p.parent_id \
         LEFT JOIN product_class pc ON pc.id = p.product_class_id \
         LEFT JOIN product_class ppc ON ppc.id = pp.product_class_id \
         WHERE p.id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let mut rows = Vec::with_capacity(ids.len());
    for r in query.fetch_all(&mut *conn).await? {
        let title: String = r.try_get("title")?;
        let parent_title: Option<String> = r.try_get("parent_title")?;
        rows.push(Listed {
            id: r.try_get("id")?,
            title: if title.is_empty() {
                parent_title.clone().unwrap_or_default()
            } else {
                title
            },
            upc: r.try_get("upc")?,
            structure: Structure::parse(&r.try_get::<String, _>("structure")?).as_str(),
            is_public: flag(&r, "is_public")?,
            class_name: r.try_get("class_name")?,
            parent_title,
            variants: r.try_get("variants")?,
            stock_records: r.try_get("stock_records")?,
            updated_at: r.try_get("updated_at")?,
        });
    }
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    Ok(rows)
}

/// Product classes, by name: (id, name), for filters and the new-product form.
pub async fn classes(pool: &AnyPool) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query("SELECT id, name FROM product_class ORDER BY name, id")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escapes() {
        assert_eq!(like_literal("10%_a\\"), "10\\%\\_a\\\\");
    }
}
