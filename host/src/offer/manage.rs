//! Ranges, offers and vouchers as staff (and the CLI) create and list them. Every write is
//! checked field by field first ([`OfferError::Invalid`] names what is wrong) and then made
//! in one transaction.

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::voucher::{self, Usage};
use super::{OfferError, OfferType};
use crate::audit::{self, Actor};
use crate::catalogue::category::slugify;
use crate::infra::db::{Db, flag, now_text};
use crate::money::{Currency, Money};

/// Runs `sql` (an insert of two ids) once for `owner` and each of `others`: the link tables.
async fn link(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sql: &'static str,
    owner: i64,
    others: &[i64],
) -> Result<(), sqlx::Error> {
    for other in others {
        sqlx::query(sql)
            .bind(owner)
            .bind(*other)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Records a change to the offers' rules in its transaction: the audit entry, and a new
/// generation so every process reads the rules again (see `live::catalogue`).
async fn changed(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: Actor<'_>,
    action: &str,
    object_type: &str,
    object_id: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(), sqlx::Error> {
    super::live::bump(tx).await?;
    audit::record(tx, actor, action, object_type, object_id, before, after).await
}

/// The product codes in an uploaded or pasted list: one per line, or a CSV's first column
/// (quotes and blank lines ignored).
pub fn codes_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split(',').next())
        .map(|c| c.trim().trim_matches('"').to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

/// A new range: everything, or what the lists include, less what they exclude.
#[derive(Debug, Clone, Default)]
pub struct NewRange {
    pub name: String,
    pub description: String,
    pub includes_all: bool,
    pub products: Vec<i64>,
    pub excluded_products: Vec<i64>,
    pub classes: Vec<i64>,
    pub categories: Vec<i64>,
}

pub async fn create_range(db: &Db, actor: Actor<'_>, new: &NewRange) -> Result<i64, OfferError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(OfferError::Invalid(
            "A range needs a name of 1 to 128 characters.".into(),
        ));
    }
    let now = now_text();
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO offer_range (name, slug, description, includes_all, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(name)
    .bind(slugify(name))
    .bind(new.description.trim())
    .bind(new.includes_all)
    .bind(&now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| taken(e, "range"))?;
    for (products, excluded) in [(&new.products, false), (&new.excluded_products, true)] {
        for p in products {
            sqlx::query(
                "INSERT INTO offer_range_product (range_id, product_id, excluded) VALUES ($1, $2, $3) \
                 ON CONFLICT (range_id, product_id) DO UPDATE SET excluded = excluded.excluded",
            )
            .bind(id)
            .bind(*p)
            .bind(excluded)
            .execute(&mut *tx)
            .await?;
        }
    }
    link(
        &mut tx,
        "INSERT INTO offer_range_class (range_id, product_class_id) VALUES ($1, $2)",
        id,
        &new.classes,
    )
    .await?;
    link(
        &mut tx,
        "INSERT INTO offer_range_category (range_id, category_id) VALUES ($1, $2)",
        id,
        &new.categories,
    )
    .await?;
    let after = serde_json::json!({
        "name": name, "includes_all": new.includes_all, "products": new.products,
        "excluded_products": new.excluded_products, "classes": new.classes,
        "categories": new.categories,
    });
    changed(
        &mut tx,
        actor,
        "range.create",
        "offer_range",
        &id.to_string(),
        None,
        Some(&audit::json(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Adds the products named by `codes` (UPCs or partner SKUs, one per entry, as an uploaded
/// file lists them) to range `range_id`: (how many were added, the codes no product has).
pub async fn include_codes(
    db: &Db,
    actor: Actor<'_>,
    range_id: i64,
    codes: &[String],
) -> Result<(u64, Vec<String>), OfferError> {
    let mut tx = db.begin_write().await?;
    let (mut added, mut unknown) = (0, Vec::new());
    for code in codes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        let product: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM product WHERE upc = $1 UNION \
             SELECT product_id FROM stock_record WHERE partner_sku = $1 LIMIT 1",
        )
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?;
        match product {
            Some(p) => {
                added += sqlx::query(
                    "INSERT INTO offer_range_product (range_id, product_id, excluded) \
                     VALUES ($1, $2, FALSE) ON CONFLICT (range_id, product_id) DO NOTHING",
                )
                .bind(range_id)
                .bind(p)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            None => unknown.push(code.to_owned()),
        }
    }
    let after = serde_json::json!({ "added": added, "unknown": unknown });
    changed(
        &mut tx,
        actor,
        "range.include_codes",
        "offer_range",
        &range_id.to_string(),
        None,
        Some(&audit::json(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok((added, unknown))
}

/// A new offer. Amounts are in the shop's currency.
#[derive(Debug, Clone)]
pub struct NewOffer {
    pub name: String,
    pub description: String,
    pub offer_type: OfferType,
    pub priority: i64,
    pub exclusive: bool,
    /// `count`, `value`, `coverage` or `plugin`.
    pub condition_kind: String,
    pub condition_value: i64,
    pub condition_range: Option<i64>,
    pub condition_plugin: Option<String>,
    /// `percentage`, `absolute`, `fixed_unit_price`, `multibuy`, `fixed_price`,
    /// `shipping_absolute`, `shipping_percentage` or `shipping_fixed_price`.
    pub benefit_kind: String,
    pub benefit_amount_minor: i64,
    pub benefit_percent: Decimal,
    pub benefit_range: Option<i64>,
    pub max_affected_items: Option<i64>,
    pub max_global_applications: Option<i64>,
    pub max_user_applications: Option<i64>,
    pub max_basket_applications: Option<i64>,
    pub max_discount_minor: Option<i64>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub combines_with: Vec<i64>,
    pub groups: Vec<i64>,
}

impl NewOffer {
    /// An offer of `kind` with no limits, for filling in.
    pub fn new(name: &str, condition_kind: &str, benefit_kind: &str) -> NewOffer {
        NewOffer {
            name: name.to_owned(),
            description: String::new(),
            offer_type: OfferType::Site,
            priority: 0,
            exclusive: true,
            condition_kind: condition_kind.to_owned(),
            condition_value: 0,
            condition_range: None,
            condition_plugin: None,
            benefit_kind: benefit_kind.to_owned(),
            benefit_amount_minor: 0,
            benefit_percent: Decimal::ZERO,
            benefit_range: None,
            max_affected_items: None,
            max_global_applications: None,
            max_user_applications: None,
            max_basket_applications: None,
            max_discount_minor: None,
            starts_at: None,
            ends_at: None,
            combines_with: Vec::new(),
            groups: Vec::new(),
        }
    }
}

pub const CONDITION_KINDS: [&str; 4] = ["count", "value", "coverage", "plugin"];
pub const BENEFIT_KINDS: [&str; 8] = [
    "percentage",
    "absolute",
    "fixed_unit_price",
    "multibuy",
    "fixed_price",
    "shipping_absolute",
    "shipping_percentage",
    "shipping_fixed_price",
];

/// What is wrong with `new`, field by field.
pub fn problems(new: &NewOffer) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        out.push((
            "name",
            "Give the offer a name of 1 to 128 characters.".into(),
        ));
    }
    if !CONDITION_KINDS.contains(&new.condition_kind.as_str()) {
        out.push(("condition_kind", "Choose a kind of condition.".into()));
    } else if new.condition_kind == "plugin" {
        if new
            .condition_plugin
            .as_deref()
            .is_none_or(|p| p.trim().is_empty())
        {
            out.push((
                "condition_plugin",
                "Choose the offer-condition plugin.".into(),
            ));
        }
    } else {
        if new.condition_range.is_none() {
            out.push((
                "condition_range",
                "Choose the range the condition counts.".into(),
            ));
        }
        if new.condition_value <= 0 {
            out.push((
                "condition_value",
                "The condition needs a value above 0.".into(),
            ));
        }
    }
    if !BENEFIT_KINDS.contains(&new.benefit_kind.as_str()) {
        out.push(("benefit_kind", "Choose a kind of benefit.".into()));
    }
    if new.benefit_kind.ends_with("percentage")
        && (new.benefit_percent <= Decimal::ZERO || new.benefit_percent > Decimal::ONE_HUNDRED)
    {
        out.push((
            "benefit_percent",
            "A percentage is above 0 and at most 100.".into(),
        ));
    }
    if ["absolute", "shipping_absolute"].contains(&new.benefit_kind.as_str())
        && new.benefit_amount_minor <= 0
    {
        out.push((
            "benefit_amount",
            "The discount needs an amount above 0.".into(),
        ));
    }
    if new.benefit_amount_minor < 0 {
        out.push(("benefit_amount", "An amount cannot be negative.".into()));
    }
    for (field, v) in [
        ("max_affected_items", new.max_affected_items),
        ("max_global_applications", new.max_global_applications),
        ("max_user_applications", new.max_user_applications),
        ("max_basket_applications", new.max_basket_applications),
        ("max_discount", new.max_discount_minor),
    ] {
        if v.is_some_and(|v| v <= 0) {
            out.push((
                field,
                "A limit is above 0 (leave it empty for none).".into(),
            ));
        }
    }
    if let (Some(s), Some(e)) = (&new.starts_at, &new.ends_at)
        && e <= s
    {
        out.push(("ends_at", "The offer must end after it starts.".into()));
    }
    out
}

fn taken(e: sqlx::Error, what: &str) -> OfferError {
    match e.as_database_error().filter(|d| d.is_unique_violation()) {
        Some(_) => OfferError::Invalid(format!("Another {what} already has that name or code.")),
        None => OfferError::Db(e),
    }
}

pub async fn create_offer(
    db: &Db,
    actor: Actor<'_>,
    currency: Currency,
    new: &NewOffer,
) -> Result<i64, OfferError> {
    if let Some((_, message)) = problems(new).into_iter().next() {
        return Err(OfferError::Invalid(message));
    }
    let now = now_text();
    let name = new.name.trim();
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO offer (name, slug, description, offer_type, priority, exclusive, condition_kind, \
         condition_value, condition_range_id, condition_plugin, benefit_kind, benefit_amount_minor, \
         benefit_percent, benefit_range_id, max_affected_items, max_global_applications, \
         max_user_applications, max_basket_applications, max_discount_minor, starts_at, ends_at, \
         currency, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23) RETURNING id",
    )
    .bind(name)
    .bind(slugify(name))
    .bind(new.description.trim())
    .bind(new.offer_type.as_str())
    .bind(new.priority)
    .bind(new.exclusive)
    .bind(&new.condition_kind)
    .bind(new.condition_value)
    .bind(new.condition_range)
    .bind(new.condition_plugin.as_deref().map(str::trim))
    .bind(&new.benefit_kind)
    .bind(new.benefit_amount_minor)
    .bind(new.benefit_percent.normalize().to_string())
    .bind(new.benefit_range)
    .bind(new.max_affected_items)
    .bind(new.max_global_applications)
    .bind(new.max_user_applications)
    .bind(new.max_basket_applications)
    .bind(new.max_discount_minor)
    .bind(new.starts_at.as_deref())
    .bind(new.ends_at.as_deref())
    .bind(currency.code())
    .bind(&now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| taken(e, "offer"))?;
    link(
        &mut tx,
        "INSERT INTO offer_combination (offer_id, combines_with_id) VALUES ($1, $2)",
        id,
        &new.combines_with,
    )
    .await?;
    link(
        &mut tx,
        "INSERT INTO offer_customer_group (offer_id, group_id) VALUES ($1, $2)",
        id,
        &new.groups,
    )
    .await?;
    let after = serde_json::json!({
        "name": name, "type": new.offer_type.as_str(), "priority": new.priority,
        "exclusive": new.exclusive, "condition_kind": new.condition_kind,
        "condition_value": new.condition_value, "condition_range": new.condition_range,
        "condition_plugin": new.condition_plugin, "benefit_kind": new.benefit_kind,
        "benefit_amount_minor": new.benefit_amount_minor,
        "benefit_percent": new.benefit_percent.to_string(), "benefit_range": new.benefit_range,
        "max_affected_items": new.max_affected_items,
        "max_global_applications": new.max_global_applications,
        "max_user_applications": new.max_user_applications,
        "max_basket_applications": new.max_basket_applications,
        "max_discount_minor": new.max_discount_minor, "starts_at": new.starts_at,
        "ends_at": new.ends_at, "combines_with": new.combines_with, "groups": new.groups,
    });
    changed(
        &mut tx,
        actor,
        "offer.create",
        "offer",
        &id.to_string(),
        None,
        Some(&audit::json(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Opens or suspends an offer (`open`, `suspended`, `consumed`).
pub async fn set_status(
    db: &Db,
    actor: Actor<'_>,
    offer_id: i64,
    status: &str,
) -> Result<bool, OfferError> {
    if !["open", "suspended", "consumed"].contains(&status) {
        return Err(OfferError::Invalid(format!(
            "unknown offer status {status}"
        )));
    }
    let mut tx = db.begin_write().await?;
    let before: Option<String> = sqlx::query_scalar("SELECT status FROM offer WHERE id = $1")
        .bind(offer_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(before) = before else {
        return Ok(false);
    };
    sqlx::query("UPDATE offer SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(offer_id)
        .bind(status)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
    changed(
        &mut tx,
        actor,
        "offer.status",
        "offer",
        &offer_id.to_string(),
        Some(&audit::json(&serde_json::json!({ "status": before }))),
        Some(&audit::json(&serde_json::json!({ "status": status }))),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A new voucher for `offers`.
#[derive(Debug, Clone)]
pub struct NewVoucher {
    pub name: String,
    pub code: String,
    pub usage: Usage,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub offers: Vec<i64>,
}

pub async fn create_voucher(
    db: &Db,
    actor: Actor<'_>,
    new: &NewVoucher,
) -> Result<i64, OfferError> {
    let mut tx = db.begin_write().await?;
    let id = insert_voucher(&mut tx, new, None).await?;
    let after = serde_json::json!({
        "code": voucher::normalise(&new.code), "usage": new.usage.as_str(),
        "starts_at": new.starts_at, "ends_at": new.ends_at, "offers": new.offers,
    });
    changed(
        &mut tx,
        actor,
        "voucher.create",
        "voucher",
        &id.to_string(),
        None,
        Some(&audit::json(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn insert_voucher(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    new: &NewVoucher,
    set: Option<i64>,
) -> Result<i64, OfferError> {
    let code = voucher::normalise(&new.code);
    if code.is_empty()
        || code.chars().count() > voucher::MAX_CODE_CHARS
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(OfferError::Invalid(
            "A voucher code is 1 to 64 letters, digits, '-' or '_'.".into(),
        ));
    }
    if new.offers.is_empty() {
        return Err(OfferError::Invalid(
            "A voucher needs at least one offer.".into(),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO voucher (name, code, usage, starts_at, ends_at, voucher_set_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.name.trim())
    .bind(&code)
    .bind(new.usage.as_str())
    .bind(new.starts_at.as_deref())
    .bind(new.ends_at.as_deref())
    .bind(set)
    .bind(now_text())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| taken(e, "voucher"))?;
    link(
        tx,
        "INSERT INTO voucher_offer (voucher_id, offer_id) VALUES ($1, $2)",
        id,
        &new.offers,
    )
    .await?;
    Ok(id)
}

/// Letters and digits that cannot be mistaken for each other when read aloud or typed.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A set of `count` vouchers with unique random codes (`prefix` then 8 characters), sharing
/// `template`'s usage, dates and offers: (set id, the codes).
pub async fn create_voucher_set(
    db: &Db,
    actor: Actor<'_>,
    name: &str,
    prefix: &str,
    count: u32,
    template: &NewVoucher,
) -> Result<(i64, Vec<String>), OfferError> {
    if count == 0 || count > 100_000 {
        return Err(OfferError::Invalid(
            "A set holds 1 to 100,000 codes.".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    let set: i64 = sqlx::query_scalar(
        "INSERT INTO voucher_set (name, created_at) VALUES ($1, $2) RETURNING id",
    )
    .bind(name.trim())
    .bind(now_text())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| taken(e, "voucher set"))?;
    let mut codes = std::collections::BTreeSet::new();
    while codes.len() < count as usize {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| OfferError::Invalid(e.to_string()))?;
        let tail: String = bytes
            .iter()
            .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
            .collect();
        codes.insert(format!("{}{tail}", voucher::normalise(prefix)));
    }
    for code in &codes {
        let new = NewVoucher {
            name: format!("{} {code}", name.trim()),
            code: code.clone(),
            ..template.clone()
        };
        insert_voucher(&mut tx, &new, Some(set)).await?;
    }
    let after = serde_json::json!({
        "name": name.trim(), "count": count, "usage": template.usage.as_str(),
        "offers": template.offers,
    });
    changed(
        &mut tx,
        actor,
        "voucher_set.create",
        "voucher_set",
        &set.to_string(),
        None,
        Some(&audit::json(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok((set, codes.into_iter().collect()))
}

/// One row of the offer list, with its results so far.
#[derive(Debug, Clone, Serialize)]
pub struct ListedOffer {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub offer_type: String,
    pub status: String,
    pub priority: i64,
    pub exclusive: bool,
    pub condition_kind: String,
    pub benefit_kind: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub num_orders: i64,
    pub num_applications: i64,
    pub total_discount: Money,
}

/// Every offer, highest priority first.
pub async fn list(pool: &AnyPool, currency: Currency) -> Result<Vec<ListedOffer>, OfferError> {
    let rows = sqlx::query(
        "SELECT id, name, slug, description, offer_type, status, priority, exclusive, condition_kind, \
         benefit_kind, starts_at, ends_at, num_orders, num_applications, total_discount_minor \
         FROM offer ORDER BY priority DESC, id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ListedOffer {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                slug: r.try_get("slug")?,
                description: r.try_get("description")?,
                offer_type: r.try_get("offer_type")?,
                status: r.try_get("status")?,
                priority: r.try_get("priority")?,
                exclusive: flag(r, "exclusive")?,
                condition_kind: r.try_get("condition_kind")?,
                benefit_kind: r.try_get("benefit_kind")?,
                starts_at: r.try_get("starts_at")?,
                ends_at: r.try_get("ends_at")?,
                num_orders: r.try_get("num_orders")?,
                num_applications: r.try_get("num_applications")?,
                total_discount: Money::from_minor(r.try_get("total_discount_minor")?, currency),
            })
        })
        .collect()
}

/// A customer group by name, created when missing; adds `customers` to it.
pub async fn group_with(db: &Db, name: &str, customers: &[i64]) -> Result<i64, OfferError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO customer_group (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name.trim())
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM customer_group WHERE name = $1")
        .bind(name.trim())
        .fetch_one(&mut *tx)
        .await?;
    super::live::bump(&mut tx).await?;
    for c in customers {
        sqlx::query(
            "INSERT INTO customer_group_member (group_id, customer_id) VALUES ($1, $2) \
             ON CONFLICT (group_id, customer_id) DO NOTHING",
        )
        .bind(id)
        .bind(*c)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// What an offer has done: orders that got it, the discount it gave them and what those
/// orders were worth (after their discounts).
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub orders: i64,
    pub discount: Money,
    pub revenue: Money,
}

pub async fn results(
    pool: &AnyPool,
    currency: Currency,
    offer_id: i64,
) -> Result<Results, OfferError> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS orders, \
         CAST(COALESCE(SUM(d.discount), 0) AS BIGINT) AS discount, \
         CAST(COALESCE(SUM(so.total_incl_minor), 0) AS BIGINT) AS revenue \
         FROM (SELECT order_id, SUM(amount_incl_minor) AS discount FROM order_discount \
               WHERE offer_id = $1 GROUP BY order_id) d \
         JOIN shop_order so ON so.id = d.order_id",
    )
    .bind(offer_id)
    .fetch_one(pool)
    .await?;
    Ok(Results {
        orders: row.try_get("orders")?,
        discount: Money::from_minor(row.try_get("discount")?, currency),
        revenue: Money::from_minor(row.try_get("revenue")?, currency),
    })
}

/// A voucher as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedVoucher {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub usage: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub num_basket_additions: i64,
    pub num_orders: i64,
    pub total_discount: Money,
    pub set_name: Option<String>,
    pub offers: String,
}

const VOUCHER_LIST_SQL: &str = "SELECT v.id, v.code, v.name, v.usage, v.starts_at, v.ends_at, \
    v.num_basket_additions, v.num_orders, v.total_discount_minor, vs.name AS set_name, \
    (SELECT MIN(o.name) FROM voucher_offer vo JOIN offer o ON o.id = vo.offer_id \
     WHERE vo.voucher_id = v.id) AS offers \
    FROM voucher v LEFT JOIN voucher_set vs ON vs.id = v.voucher_set_id";

fn listed_voucher(r: &sqlx::any::AnyRow, currency: Currency) -> Result<ListedVoucher, sqlx::Error> {
    Ok(ListedVoucher {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        usage: r.try_get("usage")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        num_basket_additions: r.try_get("num_basket_additions")?,
        num_orders: r.try_get("num_orders")?,
        total_discount: Money::from_minor(r.try_get("total_discount_minor")?, currency),
        set_name: r.try_get("set_name")?,
        offers: r
            .try_get::<Option<String>, _>("offers")?
            .unwrap_or_default(),
    })
}

/// The newest 500 vouchers (a set's codes are downloaded when it is made).
pub async fn vouchers(
    pool: &AnyPool,
    currency: Currency,
) -> Result<Vec<ListedVoucher>, OfferError> {
    let sql = format!("{VOUCHER_LIST_SQL} ORDER BY v.id DESC LIMIT 500");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| listed_voucher(r, currency))
        .collect::<Result<_, _>>()?)
}

/// The codes that give offer `offer_id` (the first 200).
pub async fn vouchers_of(pool: &AnyPool, offer_id: i64) -> Result<Vec<String>, OfferError> {
    Ok(sqlx::query_scalar(
        "SELECT v.code FROM voucher_offer vo JOIN voucher v ON v.id = vo.voucher_id \
         WHERE vo.offer_id = $1 ORDER BY v.code LIMIT 200",
    )
    .bind(offer_id)
    .fetch_all(pool)
    .await?)
}

/// A range as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedRange {
    pub id: i64,
    pub name: String,
    pub includes_all: bool,
    pub products: i64,
    pub classes: i64,
    pub categories: i64,
}

pub async fn ranges(pool: &AnyPool) -> Result<Vec<ListedRange>, OfferError> {
    let rows = sqlx::query(
        "SELECT r.id, r.name, r.includes_all, \
         (SELECT COUNT(*) FROM offer_range_product p WHERE p.range_id = r.id AND p.excluded = FALSE) AS products, \
         (SELECT COUNT(*) FROM offer_range_class c WHERE c.range_id = r.id) AS classes, \
         (SELECT COUNT(*) FROM offer_range_category c WHERE c.range_id = r.id) AS categories \
         FROM offer_range r ORDER BY r.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(ListedRange {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                includes_all: flag(r, "includes_all")?,
                products: r.try_get("products")?,
                classes: r.try_get("classes")?,
                categories: r.try_get("categories")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}
