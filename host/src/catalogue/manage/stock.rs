//! A product's stock records as its dashboard page edits them: one per partner, with the
//! partner's SKU, a price in the shop's currency, the units in stock and a low-stock threshold.
//! A partner user adds and edits records of their own partners only. Changing the units here
//! is recorded in the stock history like any adjustment, and never goes below what placed
//! orders have allocated.

use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};

use super::{ManageError, id_list, scope_condition};
use crate::audit::{self, Actor};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, now_text, unique_violation};
use crate::money::{Currency, Money};
use crate::partner::Partner;
use crate::staff::Staff;

pub const MAX_SKU_CHARS: usize = 128;
/// The most units a record may hold.
pub const MAX_UNITS: i64 = 10_000_000;

/// A stock record form, as typed (field names `stock_partner`, `stock_sku`, …).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StockInput {
    pub partner: String,
    pub sku: String,
    pub price: String,
    pub num_in_stock: String,
    pub low_stock_threshold: String,
}

impl StockInput {
    pub fn is_blank(&self) -> bool {
        [
            &self.partner,
            &self.sku,
            &self.price,
            &self.num_in_stock,
            &self.low_stock_threshold,
        ]
        .iter()
        .all(|f| f.trim().is_empty())
    }
}

#[derive(Debug, Clone)]
pub struct ValidStock {
    pub partner_id: Option<i64>,
    pub sku: String,
    pub price: Money,
    pub num_in_stock: i64,
    pub low_stock_threshold: Option<i64>,
}

/// Checks a stock form; `new` asks for the partner too (it is fixed once the record exists),
/// one of `partners`.
pub fn validate(
    input: &StockInput,
    currency: Currency,
    new: bool,
    partners: &[Partner],
) -> Result<ValidStock, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut err = |f: &str, m: String| errors.push((format!("stock_{f}"), m));
    let partner_id = if new {
        match input.partner.trim().parse::<i64>() {
            Ok(id) if partners.iter().any(|p| p.id == id) => Some(id),
            _ => {
                err("partner", "Choose the partner who holds the stock.".into());
                None
            }
        }
    } else {
        None
    };
    let sku = input.sku.trim().to_owned();
    if sku.is_empty() {
        err("sku", "Enter the partner's SKU.".into());
    } else if sku.chars().count() > MAX_SKU_CHARS {
        err(
            "sku",
            format!("A SKU has at most {MAX_SKU_CHARS} characters."),
        );
    }
    let price = match Money::parse(input.price.trim(), currency) {
        Ok(p) if !p.is_negative() => Some(p),
        _ => {
            err(
                "price",
                format!("Enter a price in {} like 12.50.", currency.code()),
            );
            None
        }
    };
    let units = |raw: &str| {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_UNITS).contains(n))
    };
    let num_in_stock = match units(&input.num_in_stock) {
        Some(n) => n,
        None if input.num_in_stock.trim().is_empty() => 0,
        None => {
            err(
                "num_in_stock",
                "Enter a whole number of units (0 or more).".into(),
            );
            0
        }
    };
    let low_stock_threshold = if input.low_stock_threshold.trim().is_empty() {
        None
    } else {
        match units(&input.low_stock_threshold) {
            Some(n) => Some(n),
            None => {
                err(
                    "low_stock_threshold",
                    "Enter a whole number of units, or leave it blank.".into(),
                );
                None
            }
        }
    };
    match price {
        Some(price) if errors.is_empty() => Ok(ValidStock {
            partner_id,
            sku,
            price,
            num_in_stock,
            low_stock_threshold,
        }),
        _ => Err(errors),
    }
}

/// The partners a user may hold stock for (all of them without a scope).
pub async fn partners(
    conn: &mut AnyConnection,
    scope: Option<&[i64]>,
) -> Result<Vec<Partner>, sqlx::Error> {
    let condition = match scope {
        None => "1 = 1".to_owned(),
        Some(ids) => format!("id IN ({})", id_list(ids)),
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, code, name FROM partner WHERE {condition} ORDER BY name, id"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Partner {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            name: r.try_get("name")?,
        })
    })
    .collect()
}

/// A record as the product page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: i64,
    pub partner: String,
    pub partner_sku: String,
    /// The price as the form shows it ("12.50").
    pub price: String,
    pub currency: String,
    pub num_in_stock: i64,
    pub num_allocated: i64,
    pub low_stock_threshold: Option<i64>,
}

/// The product's records a user may see: a partner user sees their own partners' only.
pub async fn for_product(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    product_id: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let condition = match scope {
        None => "1 = 1".to_owned(),
        Some(ids) => format!("sr.partner_id IN ({})", id_list(ids)),
    };
    let sql = format!(
        "SELECT sr.id, pa.name AS partner, sr.partner_sku, sr.currency, sr.price_minor, \
         sr.num_in_stock, sr.num_allocated, sr.low_stock_threshold FROM stock_record sr \
         JOIN partner pa ON pa.id = sr.partner_id WHERE sr.product_id = $1 AND {condition} \
         ORDER BY pa.name, sr.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(product_id)
        .fetch_all(pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let code: String = r.try_get("currency")?;
        let minor: i64 = r.try_get("price_minor")?;
        let price = Currency::from_code(&code)
            .map(|c| Money::from_minor(minor, c).amount().to_string())
            .unwrap_or_else(|_| minor.to_string());
        out.push(Record {
            id: r.try_get("id")?,
            partner: r.try_get("partner")?,
            partner_sku: r.try_get("partner_sku")?,
            price,
            currency: code,
            num_in_stock: r.try_get("num_in_stock")?,
            num_allocated: r.try_get("num_allocated")?,
            low_stock_threshold: r.try_get("low_stock_threshold")?,
        });
    }
    Ok(out)
}

fn clash(e: sqlx::Error) -> ManageError {
    match unique_violation(&e, "stock_record").as_deref() {
        Some("partner_id") | Some("product_id") => ManageError::field(
            "stock_partner",
            "That partner already has a stock record for this product: edit it instead.",
        ),
        Some("partner_sku") => ManageError::field(
            "stock_sku",
            "That partner already uses this SKU for another product.",
        ),
        _ => ManageError::Db(e),
    }
}

/// Inserts a checked record for `product_id` inside the caller's transaction.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    product_id: i64,
    s: &ValidStock,
) -> Result<i64, ManageError> {
    let partner_id = s
        .partner_id
        .ok_or_else(|| ManageError::field("stock_partner", "Choose the partner."))?;
    let price_minor = s
        .price
        .to_minor()
        .map_err(|_| ManageError::field("stock_price", "That price has too many decimals."))?;
    // Either unique constraint may break; SQLite's message names the columns, PostgreSQL's
    // constraint names do only for single columns, so the pair is checked first.
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT id FROM stock_record WHERE product_id = $1 AND partner_id = $2")
            .bind(product_id)
            .bind(partner_id)
            .fetch_optional(&mut *conn)
            .await?;
    if taken.is_some() {
        return Err(clash_partner());
    }
    sqlx::query_scalar(
        "INSERT INTO stock_record (product_id, partner_id, partner_sku, currency, price_minor, \
         num_in_stock, num_allocated, low_stock_threshold, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) RETURNING id",
    )
    .bind(product_id)
    .bind(partner_id)
    .bind(&s.sku)
    .bind(s.price.currency().code())
    .bind(price_minor)
    .bind(s.num_in_stock)
    .bind(s.low_stock_threshold)
    .bind(now_text())
    .fetch_one(&mut *conn)
    .await
    .map_err(sku_clash)
}

fn clash_partner() -> ManageError {
    ManageError::field(
        "stock_partner",
        "That partner already has a stock record for this product: edit it instead.",
    )
}

fn sku_clash(e: sqlx::Error) -> ManageError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        ManageError::field(
            "stock_sku",
            "That partner already uses this SKU for another product.",
        )
    } else {
        clash(e)
    }
}

/// The product's id and structure, if it is within `scope`.
async fn product_in_scope(
    conn: &mut AnyConnection,
    scope: Option<&[i64]>,
    product_id: i64,
) -> Result<String, ManageError> {
    let sql = format!(
        "SELECT p.structure FROM product p WHERE p.id = $1 AND {}",
        scope_condition(scope, "p")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(product_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ManageError::NotFound)
}

/// Adds a stock record to product `product_id`.
pub async fn add(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    currency: Currency,
    product_id: i64,
    input: &StockInput,
) -> Result<i64, ManageError> {
    let scope = staff.partner_scope();
    let mut tx = db.begin_write().await?;
    let structure = product_in_scope(&mut tx, scope, product_id).await?;
    if structure == "parent" {
        return Err(ManageError::field(
            "form",
            "A parent product has no stock of its own: add stock to its variants.",
        ));
    }
    let partners = partners(&mut tx, scope).await?;
    let valid = validate(input, currency, true, &partners).map_err(ManageError::Invalid)?;
    let id = insert(&mut tx, product_id, &valid).await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "stock_record.create",
        "stock_record",
        &id.to_string(),
        None,
        Some(&audit::json(&serde_json::json!({
            "product_id": product_id,
            "partner_id": valid.partner_id,
            "partner_sku": valid.sku,
            "price": valid.price.amount().to_string(),
            "num_in_stock": valid.num_in_stock,
            "low_stock_threshold": valid.low_stock_threshold,
        }))),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(id)
}

/// Saves the form over record `stock_id` of product `product_id` (the user's own partners'
/// records only).
pub async fn update(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    currency: Currency,
    product_id: i64,
    stock_id: i64,
    input: &StockInput,
) -> Result<(), ManageError> {
    let scope = staff.partner_scope();
    let mut tx = db.begin_write().await?;
    product_in_scope(&mut tx, scope, product_id).await?;
    let partner_condition = match scope {
        None => "1 = 1".to_owned(),
        Some(ids) => format!("partner_id IN ({})", id_list(ids)),
    };
    let sql = format!(
        "SELECT partner_sku, currency, price_minor, num_in_stock, num_allocated, low_stock_threshold \
         FROM stock_record WHERE id = $1 AND product_id = $2 AND {partner_condition}"
    );
    let before = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stock_id)
        .bind(product_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ManageError::NotFound)?;
    let valid = validate(input, currency, false, &[]).map_err(ManageError::Invalid)?;
    let allocated: i64 = before.try_get("num_allocated")?;
    let in_stock_before: i64 = before.try_get("num_in_stock")?;
    if valid.num_in_stock < allocated {
        return Err(ManageError::field(
            "stock_num_in_stock",
            format!("{allocated} are allocated to placed orders: keep at least that many."),
        ));
    }
    let price_minor = valid
        .price
        .to_minor()
        .map_err(|_| ManageError::field("stock_price", "That price has too many decimals."))?;
    let now = now_text();
    sqlx::query(
        "UPDATE stock_record SET partner_sku = $2, currency = $3, price_minor = $4, \
         num_in_stock = $5, low_stock_threshold = $6, updated_at = $7 WHERE id = $1",
    )
    .bind(stock_id)
    .bind(&valid.sku)
    .bind(valid.price.currency().code())
    .bind(price_minor)
    .bind(valid.num_in_stock)
    .bind(valid.low_stock_threshold)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .map_err(sku_clash)?;
    if valid.num_in_stock != in_stock_before {
        sqlx::query(
            "INSERT INTO stock_adjustment (stock_record_id, delta, num_in_stock_after, reason, \
             staff_id, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(stock_id)
        .bind(valid.num_in_stock - in_stock_before)
        .bind(valid.num_in_stock)
        .bind("Set on the product's page")
        .bind(staff.id)
        .bind(&staff.email)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        Actor::from(staff),
        "stock_record.update",
        "stock_record",
        &stock_id.to_string(),
        Some(&audit::json(&serde_json::json!({
            "partner_sku": before.try_get::<String, _>("partner_sku")?,
            "currency": before.try_get::<String, _>("currency")?,
            "price_minor": before.try_get::<i64, _>("price_minor")?,
            "num_in_stock": in_stock_before,
            "low_stock_threshold": before.try_get::<Option<i64>, _>("low_stock_threshold")?,
        }))),
        Some(&audit::json(&serde_json::json!({
            "partner_sku": valid.sku,
            "currency": valid.price.currency().code(),
            "price_minor": price_minor,
            "num_in_stock": valid.num_in_stock,
            "low_stock_threshold": valid.low_stock_threshold,
        }))),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbp() -> Currency {
        Currency::from_code("GBP").unwrap()
    }

    #[test]
    fn stock_forms_are_checked() {
        let partners = [Partner {
            id: 3,
            code: "p".into(),
            name: "P".into(),
        }];
        let ok = StockInput {
            partner: "3".into(),
            sku: "SKU-1".into(),
            price: "12.50".into(),
            num_in_stock: "4".into(),
            low_stock_threshold: String::new(),
        };
        let v = validate(&ok, gbp(), true, &partners).unwrap();
        assert_eq!((v.partner_id, v.num_in_stock), (Some(3), 4));
        let bad = StockInput {
            partner: "4".into(),
            price: "-1".into(),
            num_in_stock: "x".into(),
            ..StockInput::default()
        };
        let errors = validate(&bad, gbp(), true, &partners).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "stock_partner",
                "stock_sku",
                "stock_price",
                "stock_num_in_stock"
            ]
        );
        assert!(StockInput::default().is_blank());
    }
}
