//! The catalogue as CSV: `emporium catalogue export` writes every product, and `emporium
//! catalogue import FILE` creates or updates products by UPC through the same use cases as the
//! dashboard's form ([`products::create_in`], [`products::update_in`]), so a row is checked
//! exactly as the form would be.
//!
//! Columns: `upc` (required), `title`, `structure` (standalone, parent or child; a new
//! product's, default standalone), `parent_upc` (a new child's parent), `class` (a new
//! product's class, by name or slug), `description`, `is_public` (yes/no), `categories` (full
//! slugs such as `clothing/shirts`, separated by `|`), `partner` (a partner's code) with
//! `partner_sku`, `price` and `num_in_stock` for that partner's stock record, and one
//! `attr:CODE` column per attribute (several values of a multi-option separated by `|`). On
//! an update, a column that is absent leaves that field as it is.
//!
//! An import is one transaction, each row in a savepoint of its own: a row with problems is
//! reported (with its line) and changes nothing, the others go in; a dry run reports the same
//! and rolls everything back. A row that would change nothing is counted as unchanged and
//! writes nothing (no audit entry either), so importing an export again is a no-op.
//!
//! The dashboard runs both as background jobs (`crate::exports::catalogue`). An export takes
//! the partner scope of whoever asks (their own products, with their own stock records); an
//! import does not: it finds products, classes, categories and partners shop-wide, so only
//! staff with the whole catalogue in scope may run it.

use std::collections::HashMap;
use std::io::{Read, Write};

use serde::Serialize;
use sqlx::{Acquire, Any, AnyConnection, AnyPool, Row, Transaction};

use super::products::{self, NewKind, ProductInput, Who};
use super::stock::{self, StockInput};
use super::{ManageError, id_list, scope_condition};
use crate::audit;
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, now_text};
use crate::money::{Currency, Money};

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Invalid(String),
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Report {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    /// Rows naming an existing product with nothing to change.
    #[serde(default)]
    pub unchanged: usize,
    pub errors: Vec<RowError>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RowError {
    /// The line of the file the row starts on.
    pub line: u64,
    pub upc: String,
    pub message: String,
}

const FIXED: [&str; 12] = [
    "upc",
    "title",
    "structure",
    "parent_upc",
    "class",
    "description",
    "is_public",
    "categories",
    "partner",
    "partner_sku",
    "price",
    "num_in_stock",
];

/// A cell a spreadsheet would run as a formula gets a leading `'` (and loses it on import).
fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

fn undefuse(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => cell,
    }
}

/// How many products [`export`] writes for `scope`.
pub async fn count(pool: &AnyPool, scope: Option<&[i64]>) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM product p WHERE {}",
        scope_condition(scope, "p")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
}

/// Writes every product within `scope` (all without one) to `out` as CSV, parents before
/// their children, with a stock record of the scope's partners; `progress` hears (done,
/// total). Returns the number of products written.
pub async fn export<W: Write>(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    out: W,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<u64, TransferError> {
    let mut conn = pool.acquire().await?;
    let codes: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT code FROM product_attribute ORDER BY code")
            .fetch_all(&mut *conn)
            .await?;
    let mut writer = csv::Writer::from_writer(out);
    let mut header: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    header.extend(codes.iter().map(|c| format!("attr:{c}")));
    writer.write_record(&header)?;
    let products_sql = format!(
        "SELECT p.id, p.upc, p.title, p.structure, pp.upc AS parent_upc, \
         COALESCE(pc.name, '') AS class_name, p.description, p.is_public \
         FROM product p LEFT JOIN product pp ON pp.id = p.parent_id \
         LEFT JOIN product_class pc ON pc.id = p.product_class_id WHERE {} \
         ORDER BY COALESCE(p.parent_id, p.id), p.parent_id IS NOT NULL, p.id",
        scope_condition(scope, "p")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(products_sql))
        .fetch_all(&mut *conn)
        .await?;
    // A partner user sees their own partners' stock records only.
    let stock_sql = format!(
        "SELECT pa.code, sr.partner_sku, sr.currency, sr.price_minor, sr.num_in_stock \
         FROM stock_record sr JOIN partner pa ON pa.id = sr.partner_id \
         WHERE sr.product_id = $1{} ORDER BY sr.id LIMIT 1",
        match scope {
            None => String::new(),
            Some(ids) => format!(" AND sr.partner_id IN ({})", id_list(ids)),
        }
    );
    let total = rows.len() as u64;
    for (n, r) in rows.iter().enumerate() {
        let id: i64 = r.try_get("id")?;
        let categories: Vec<String> = sqlx::query_scalar(
            "SELECT c.full_slug FROM product_category x JOIN category c ON c.id = x.category_id \
             WHERE x.product_id = $1 ORDER BY c.path",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let stock = sqlx::query(sqlx::AssertSqlSafe(stock_sql.clone()))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        let (partner, sku, price, units) = match &stock {
            Some(s) => {
                let minor: i64 = s.try_get("price_minor")?;
                let price = Currency::from_code(&s.try_get::<String, _>("currency")?)
                    .map(|c| Money::from_minor(minor, c).amount().to_string())
                    .unwrap_or_else(|_| minor.to_string());
                (
                    s.try_get::<String, _>("code")?,
                    s.try_get::<String, _>("partner_sku")?,
                    price,
                    s.try_get::<i64, _>("num_in_stock")?.to_string(),
                )
            }
            None => Default::default(),
        };
        let values = products::attribute_inputs(&mut conn, id).await?;
        let mut record: Vec<String> = vec![
            r.try_get::<Option<String>, _>("upc")?.unwrap_or_default(),
            r.try_get("title")?,
            r.try_get("structure")?,
            r.try_get::<Option<String>, _>("parent_upc")?
                .unwrap_or_default(),
            r.try_get("class_name")?,
            r.try_get("description")?,
            if crate::infra::db::flag(r, "is_public")? {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            categories.join("|"),
            partner,
            sku,
            price,
            units,
        ];
        for code in &codes {
            record.push(values.get(code).map(|v| v.join("|")).unwrap_or_default());
        }
        let record: Vec<String> = record.iter().map(|c| defuse(c)).collect();
        writer.write_record(&record)?;
        progress(n as u64 + 1, total);
    }
    writer.flush().map_err(csv::Error::from)?;
    Ok(total)
}

enum Done {
    Created,
    Updated,
    Unchanged,
}

/// The file's columns, checked: a file without a `upc` column or with one we don't know is
/// refused as a whole, before any row is read.
pub fn check_header<R: Read>(input: R) -> Result<Vec<String>, TransferError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    header_of(&mut reader)
}

fn header_of<R: Read>(reader: &mut csv::Reader<R>) -> Result<Vec<String>, TransferError> {
    let header: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if !header.iter().any(|h| h == "upc") {
        return Err(TransferError::Invalid(
            "the file has no upc column (the first line names the columns)".into(),
        ));
    }
    if let Some(unknown) = header
        .iter()
        .find(|h| !FIXED.contains(&h.as_str()) && !h.starts_with("attr:"))
    {
        return Err(TransferError::Invalid(format!(
            "unknown column {unknown:?}: use {} or attr:CODE",
            FIXED.join(", ")
        )));
    }
    Ok(header)
}

/// Imports the CSV in `input` as `who` (the audit log names them); `progress` hears (rows
/// done, rows). See the module's doc.
pub async fn import<R: Read>(
    db: &Db,
    changes: &Changes,
    currency: Currency,
    input: R,
    dry_run: bool,
    who: Who<'_>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Report, TransferError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header = header_of(&mut reader)?;
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record?;
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let row: HashMap<String, String> = header
            .iter()
            .cloned()
            .zip(record.iter().map(|c| undefuse(c).to_owned()))
            .collect();
        records.push((line, row));
    }
    let total = records.len() as u64;
    let mut report = Report {
        rows: records.len(),
        dry_run,
        ..Report::default()
    };
    let mut tx = db.begin_write().await?;
    for (n, (line, row)) in records.iter().enumerate() {
        let upc = row.get("upc").map(|u| u.trim()).unwrap_or_default();
        let mut savepoint = tx.begin().await?;
        match import_row(&mut savepoint, who, currency, row).await {
            Ok(done) => {
                savepoint.commit().await?;
                match done {
                    Done::Created => report.created += 1,
                    Done::Updated => report.updated += 1,
                    Done::Unchanged => report.unchanged += 1,
                }
            }
            Err(e) => {
                savepoint.rollback().await?;
                let message = match e {
                    ManageError::Invalid(problems) => problems
                        .into_iter()
                        .map(|(field, m)| format!("{field}: {m}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                    ManageError::NotFound => "its parent or class was not found".into(),
                    ManageError::Refused(m) => m,
                    ManageError::Db(e) => format!("database error: {e}"),
                };
                report.errors.push(RowError {
                    line: *line,
                    upc: upc.to_owned(),
                    message,
                });
            }
        }
        progress(n as u64 + 1, total);
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
        changes.announce(Change::Catalogue);
    }
    Ok(report)
}

fn invalid(field: &str, message: impl Into<String>) -> ManageError {
    ManageError::field(field, message)
}

async fn id_by(
    conn: &mut AnyConnection,
    sql: &'static str,
    value: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(sql)
        .bind(value)
        .fetch_optional(&mut *conn)
        .await
}

/// One row, inside its savepoint.
async fn import_row(
    tx: &mut Transaction<'_, Any>,
    who: Who<'_>,
    currency: Currency,
    row: &HashMap<String, String>,
) -> Result<Done, ManageError> {
    let get = |k: &str| row.get(k).map(|v| v.trim().to_owned());
    let upc = get("upc").unwrap_or_default();
    if upc.is_empty() {
        return Err(invalid("upc", "every row needs a UPC"));
    }
    let existing = id_by(tx, "SELECT id FROM product WHERE upc = $1", &upc).await?;
    let mut input = match existing {
        Some(id) => {
            let p = products::find_in(tx, None, id)
                .await?
                .ok_or(ManageError::NotFound)?;
            ProductInput {
                title: p.title,
                upc: upc.clone(),
                description: p.description,
                is_public: p.is_public,
                categories: p.category_ids.iter().map(i64::to_string).collect(),
                attributes: p.values,
                recommendations: p
                    .recommendations
                    .iter()
                    .map(|r| r.id.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                stock: StockInput::default(),
            }
        }
        None => ProductInput {
            upc: upc.clone(),
            is_public: true,
            ..ProductInput::default()
        },
    };
    let before = input.clone();
    if let Some(title) = get("title") {
        input.title = title;
    }
    if let Some(description) = row.get("description") {
        input.description = description.clone();
    }
    if let Some(public) = get("is_public") {
        input.is_public = match public.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" | "" => true,
            "no" | "false" | "0" => false,
            other => return Err(invalid("is_public", format!("{other:?} is not yes or no"))),
        };
    }
    if let Some(categories) = get("categories") {
        input.categories.clear();
        for slug in categories
            .split('|')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let id = id_by(tx, "SELECT id FROM category WHERE full_slug = $1", slug)
                .await?
                .ok_or_else(|| invalid("categories", format!("there is no category {slug:?}")))?;
            input.categories.push(id.to_string());
        }
    }
    for (column, value) in row {
        if let Some(code) = column.strip_prefix("attr:") {
            let values: Vec<String> = value
                .split('|')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            input.attributes.insert(code.to_owned(), values);
        }
    }
    let partner = get("partner").filter(|p| !p.is_empty());
    let partner_id = match &partner {
        Some(code) => Some(
            id_by(tx, "SELECT id FROM partner WHERE code = $1", code)
                .await?
                .ok_or_else(|| invalid("partner", format!("there is no partner {code:?}")))?,
        ),
        None => None,
    };
    let stock_input = partner_id.map(|id| StockInput {
        partner: id.to_string(),
        sku: get("partner_sku").unwrap_or_default(),
        price: get("price").unwrap_or_default(),
        num_in_stock: get("num_in_stock").unwrap_or_default(),
        low_stock_threshold: String::new(),
    });
    match existing {
        Some(id) => {
            let product_changed = !same_product(&before, &input);
            if product_changed {
                products::update_in(tx, who, id, &input).await?;
            }
            let stock_changed = match stock_input {
                Some(s) => set_stock(tx, who, currency, id, &s).await?,
                None => false,
            };
            Ok(if product_changed || stock_changed {
                Done::Updated
            } else {
                Done::Unchanged
            })
        }
        None => {
            let kind = match get("structure").unwrap_or_default().as_str() {
                "child" => {
                    let parent_upc = get("parent_upc").unwrap_or_default();
                    let parent_id = id_by(
                        tx,
                        "SELECT id FROM product WHERE upc = $1 AND structure = 'parent'",
                        &parent_upc,
                    )
                    .await?
                    .ok_or_else(|| {
                        invalid(
                            "parent_upc",
                            format!("there is no parent product with UPC {parent_upc:?}"),
                        )
                    })?;
                    NewKind::Child { parent_id }
                }
                structure @ ("" | "standalone" | "parent") => {
                    let class = get("class").unwrap_or_default();
                    let class_id = id_by(
                        tx,
                        "SELECT id FROM product_class WHERE name = $1 OR slug = $1",
                        &class,
                    )
                    .await?
                    .ok_or_else(|| {
                        invalid("class", format!("there is no product class {class:?}"))
                    })?;
                    if structure == "parent" {
                        NewKind::Parent { class_id }
                    } else {
                        NewKind::Standalone { class_id }
                    }
                }
                other => {
                    return Err(invalid(
                        "structure",
                        format!("{other:?} is not standalone, parent or child"),
                    ));
                }
            };
            if let Some(s) = stock_input {
                input.stock = s;
            }
            products::create_in(tx, who, currency, kind, &input).await?;
            Ok(Done::Created)
        }
    }
}

/// Whether a row leaves a product's fields as they are (the description as it would be
/// stored, attributes without their empty values: an export writes every attribute column).
fn same_product(before: &ProductInput, after: &ProductInput) -> bool {
    let attributes = |p: &ProductInput| -> Vec<(String, Vec<String>)> {
        let mut all: Vec<(String, Vec<String>)> = p
            .attributes
            .iter()
            .filter(|(_, v)| v.iter().any(|x| !x.trim().is_empty()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort();
        all
    };
    let categories = |p: &ProductInput| {
        let mut c = p.categories.clone();
        c.sort();
        c
    };
    before.title == after.title
        && before.upc == after.upc
        && super::rich_text::clean(&before.description)
            == super::rich_text::clean(&after.description)
        && before.is_public == after.is_public
        && categories(before) == categories(after)
        && attributes(before) == attributes(after)
        && before.recommendations == after.recommendations
}

/// Sets the product's stock record at the row's partner (adding it when there is none);
/// whether anything changed.
async fn set_stock(
    tx: &mut Transaction<'_, Any>,
    who: Who<'_>,
    currency: Currency,
    product_id: i64,
    input: &StockInput,
) -> Result<bool, ManageError> {
    let partners = stock::partners(tx, None).await?;
    let valid = stock::validate(input, currency, true, &partners).map_err(ManageError::Invalid)?;
    let partner_id = valid.partner_id.unwrap_or_default();
    let existing = sqlx::query(
        "SELECT id, num_allocated, partner_sku, currency, price_minor, num_in_stock \
         FROM stock_record WHERE product_id = $1 AND partner_id = $2",
    )
    .bind(product_id)
    .bind(partner_id)
    .fetch_optional(&mut **tx)
    .await?;
    let id = match existing {
        None => stock::insert(tx, product_id, &valid).await?,
        Some(r) => {
            let id: i64 = r.try_get("id")?;
            let allocated: i64 = r.try_get("num_allocated")?;
            let unchanged = r.try_get::<String, _>("partner_sku")? == valid.sku
                && r.try_get::<String, _>("currency")? == valid.price.currency().code()
                && valid.price.to_minor().ok() == Some(r.try_get::<i64, _>("price_minor")?)
                && r.try_get::<i64, _>("num_in_stock")? == valid.num_in_stock;
            if unchanged {
                return Ok(false);
            }
            if valid.num_in_stock < allocated {
                return Err(invalid(
                    "num_in_stock",
                    format!("{allocated} are allocated to placed orders: keep at least that many"),
                ));
            }
            let price_minor = valid
                .price
                .to_minor()
                .map_err(|_| invalid("price", "too many decimals"))?;
            sqlx::query(
                "UPDATE stock_record SET partner_sku = $2, currency = $3, price_minor = $4, \
                 num_in_stock = $5, updated_at = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(&valid.sku)
            .bind(valid.price.currency().code())
            .bind(price_minor)
            .bind(valid.num_in_stock)
            .bind(now_text())
            .execute(&mut **tx)
            .await?;
            id
        }
    };
    audit::record(
        tx,
        who.actor,
        "stock_record.import",
        "stock_record",
        &id.to_string(),
        None,
        Some(&audit::json(&serde_json::json!({
            "product_id": product_id,
            "partner_id": partner_id,
            "partner_sku": valid.sku,
            "price": valid.price.amount().to_string(),
            "num_in_stock": valid.num_in_stock,
        }))),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_round_trip_defused() {
        assert_eq!(defuse("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(undefuse(&defuse("=SUM(A1)")), "=SUM(A1)");
        assert_eq!(defuse("Plain"), "Plain");
        assert_eq!(undefuse("'quoted"), "'quoted");
    }
}
