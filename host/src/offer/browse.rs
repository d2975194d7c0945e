//! Offers as shoppers browse them: the open site offers in force, each in words ("Buy 3 from
//! Books: the cheapest free"), and the products of an offer's range, a page at a time.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::OfferError;
use crate::money::{Currency, Money};

/// An offer on the offers pages.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub name: String,
    pub slug: String,
    pub url: String,
    pub description: String,
    /// The rules in a sentence.
    pub summary: String,
    pub ends_at: Option<String>,
    /// The range whose products the detail page lists (the benefit's, else the condition's).
    #[serde(skip)]
    pub range_id: Option<i64>,
}

pub fn url(slug: &str) -> String {
    format!("/offers/{slug}/")
}

fn words(r: &sqlx::any::AnyRow, currency: Currency) -> Result<String, sqlx::Error> {
    let money = |m: i64| Money::from_minor(m, currency).display();
    let value: i64 = r.try_get("condition_value")?;
    let range: Option<String> = r.try_get("range_name")?;
    let from = range.map(|n| format!(" from {n}")).unwrap_or_default();
    let condition = match r.try_get::<String, _>("condition_kind")?.as_str() {
        "count" => format!("Buy {value}{from}"),
        "value" => format!("Spend {}{}", money(value), from.replace(" from ", " on ")),
        "coverage" => format!("Buy {value} different products{from}"),
        _ => "When your basket qualifies".to_owned(),
    };
    let amount: i64 = r.try_get("benefit_amount_minor")?;
    let percent: String = r.try_get("benefit_percent")?;
    let benefit = match r.try_get::<String, _>("benefit_kind")?.as_str() {
        "percentage" => format!("{percent}% off"),
        "absolute" => format!("{} off", money(amount)),
        "fixed_unit_price" => format!("{} each", money(amount)),
        "multibuy" => "the cheapest one free".to_owned(),
        "fixed_price" => format!("all for {}", money(amount)),
        "shipping_absolute" => format!("{} off delivery", money(amount)),
        "shipping_percentage" if percent == "100" => "free delivery".to_owned(),
        "shipping_percentage" => format!("{percent}% off delivery"),
        "shipping_fixed_price" => format!("delivery for {}", money(amount)),
        other => other.to_owned(),
    };
    Ok(format!("{condition}: {benefit}."))
}

const SHOWN_SQL: &str = "SELECT o.name, o.slug, o.description, o.ends_at, o.condition_kind, \
    o.condition_value, o.benefit_kind, o.benefit_amount_minor, o.benefit_percent, \
    COALESCE(o.benefit_range_id, o.condition_range_id) AS range_id, cr.name AS range_name \
    FROM offer o LEFT JOIN offer_range cr ON cr.id = o.condition_range_id \
    WHERE o.offer_type = 'site' AND o.status = 'open' AND o.currency = $2 \
    AND (o.starts_at IS NULL OR o.starts_at <= $1) AND (o.ends_at IS NULL OR o.ends_at > $1)";

fn shown(r: &sqlx::any::AnyRow, currency: Currency) -> Result<Shown, sqlx::Error> {
    let slug: String = r.try_get("slug")?;
    Ok(Shown {
        name: r.try_get("name")?,
        url: url(&slug),
        slug,
        description: r.try_get("description")?,
        summary: words(r, currency)?,
        ends_at: r.try_get("ends_at")?,
        range_id: r.try_get("range_id")?,
    })
}

/// The site offers in force at `now`, highest priority first.
pub async fn open_offers(
    pool: &AnyPool,
    currency: Currency,
    now: &str,
) -> Result<Vec<Shown>, OfferError> {
    let sql = format!("{SHOWN_SQL} ORDER BY o.priority DESC, o.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(currency.code())
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| shown(r, currency))
        .collect::<Result<_, _>>()?)
}

/// One site offer in force, by slug.
pub async fn by_slug(
    pool: &AnyPool,
    currency: Currency,
    slug: &str,
    now: &str,
) -> Result<Option<Shown>, OfferError> {
    let sql = format!("{SHOWN_SQL} AND o.slug = $3");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(currency.code())
        .bind(slug)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| shown(&r, currency)).transpose()?)
}

/// SQL true for a public top-level product (`p`) in range `$1`: a variant's range is its
/// parent's (see `live::resolve_ranges`, which decides the same for a basket's lines).
const IN_RANGE: &str = "p.parent_id IS NULL AND p.is_public = TRUE AND p.is_discountable = TRUE \
    AND NOT EXISTS (SELECT 1 FROM offer_range_product x WHERE x.range_id = $1 \
        AND x.product_id = p.id AND x.excluded = TRUE) \
    AND (EXISTS (SELECT 1 FROM offer_range r WHERE r.id = $1 AND r.includes_all = TRUE) \
      OR EXISTS (SELECT 1 FROM offer_range_product i WHERE i.range_id = $1 AND i.excluded = FALSE \
        AND (i.product_id = p.id OR i.product_id IN (SELECT v.id FROM product v WHERE v.parent_id = p.id))) \
      OR EXISTS (SELECT 1 FROM offer_range_class rc WHERE rc.range_id = $1 \
        AND rc.product_class_id = p.product_class_id) \
      OR EXISTS (SELECT 1 FROM offer_range_category rcat JOIN category rcc ON rcc.id = rcat.category_id \
        JOIN product_category pc ON pc.product_id = p.id JOIN category c ON c.id = pc.category_id \
        WHERE rcat.range_id = $1 AND c.path LIKE rcc.path || '%'))";

/// A page of the range's products (ids, by priority then newest) and how many there are,
/// counted up to [`crate::infra::db::COUNT_CAP`] + 1.
pub async fn products(
    pool: &AnyPool,
    range_id: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<i64>, i64), OfferError> {
    let count_sql = crate::infra::db::capped_count_sql(&format!("product p WHERE {IN_RANGE}"));
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(range_id)
        .fetch_one(pool)
        .await?;
    let sql = format!(
        "SELECT p.id FROM product p WHERE {IN_RANGE} ORDER BY p.priority DESC, p.id DESC \
         LIMIT {limit} OFFSET {offset}"
    );
    let ids = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(range_id)
        .fetch_all(pool)
        .await?;
    Ok((ids, total))
}
