//! The offers a basket may get now, ready for the engine: open, inside their dates, of the
//! basket's type (every site offer; user offers of the customer's groups; session offers the
//! basket was given; the offers of its valid vouchers), with what is left of their global,
//! per-customer and per-basket limits, and their ranges resolved for the basket's products.

use std::collections::{BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::engine::{self, Benefit, Condition, Range};
use super::voucher::{self, BasketVoucher};
use super::{OfferError, OfferType};
use crate::infra::db::{flag, placeholders};
use crate::money::Currency;

/// An offer as the basket gets it.
#[derive(Debug, Clone)]
pub struct LiveOffer {
    /// What the engine needs (ranges resolved, limits as what is left of them).
    pub offer: engine::Offer,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub offer_type: OfferType,
    /// The voucher that brought it (voucher offers).
    pub voucher: Option<VoucherRef>,
    /// The offer as defined, kept on the order with its discount.
    pub definition: Definition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoucherRef {
    pub id: i64,
    pub code: String,
}

/// An offer's rules as stored, in the words of the tables (what an order's discount record
/// snapshots, and what the dashboard and the explanation show).
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub id: i64,
    pub offer_type: &'static str,
    pub priority: i64,
    pub exclusive: bool,
    pub condition_kind: String,
    pub condition_value: i64,
    pub condition_range: Option<String>,
    pub condition_plugin: Option<String>,
    pub benefit_kind: String,
    pub benefit_amount_minor: i64,
    pub benefit_percent: String,
    pub benefit_range: Option<String>,
    pub max_affected_items: Option<i64>,
    pub max_global_applications: Option<i64>,
    pub max_user_applications: Option<i64>,
    pub max_basket_applications: Option<i64>,
    pub max_discount_minor: Option<i64>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

const OFFER_COLUMNS: &str = "o.id, o.name, o.slug, o.description, o.offer_type, o.priority, \
    o.exclusive, o.condition_kind, o.condition_value, o.condition_range_id, o.condition_plugin, \
    o.benefit_kind, o.benefit_amount_minor, o.benefit_percent, o.benefit_range_id, \
    o.max_affected_items, o.max_global_applications, o.max_user_applications, \
    o.max_basket_applications, o.max_discount_minor, o.num_applications, \
    o.total_discount_minor, o.starts_at, o.ends_at, \
    cr.name AS condition_range_name, br.name AS benefit_range_name";

const OFFER_JOINS: &str = "LEFT JOIN offer_range cr ON cr.id = o.condition_range_id \
    LEFT JOIN offer_range br ON br.id = o.benefit_range_id";

/// A stored offer row before its ranges are resolved.
#[derive(Debug, Clone)]
struct Row0 {
    definition: Definition,
    name: String,
    slug: String,
    description: String,
    offer_type: OfferType,
    condition_range_id: Option<i64>,
    benefit_range_id: Option<i64>,
    num_applications: i64,
    total_discount_minor: i64,
}

fn read_offer(r: &AnyRow) -> Result<Row0, OfferError> {
    let offer_type: String = r.try_get("offer_type")?;
    let offer_type = OfferType::parse(&offer_type)
        .ok_or_else(|| OfferError::Invalid(format!("unknown offer type {offer_type}")))?;
    Ok(Row0 {
        definition: Definition {
            id: r.try_get("id")?,
            offer_type: offer_type.as_str(),
            priority: r.try_get("priority")?,
            exclusive: flag(r, "exclusive")?,
            condition_kind: r.try_get("condition_kind")?,
            condition_value: r.try_get("condition_value")?,
            condition_range: r.try_get("condition_range_name")?,
            condition_plugin: r.try_get("condition_plugin")?,
            benefit_kind: r.try_get("benefit_kind")?,
            benefit_amount_minor: r.try_get("benefit_amount_minor")?,
            benefit_percent: r.try_get("benefit_percent")?,
            benefit_range: r.try_get("benefit_range_name")?,
            max_affected_items: r.try_get("max_affected_items")?,
            max_global_applications: r.try_get("max_global_applications")?,
            max_user_applications: r.try_get("max_user_applications")?,
            max_basket_applications: r.try_get("max_basket_applications")?,
            max_discount_minor: r.try_get("max_discount_minor")?,
            starts_at: r.try_get("starts_at")?,
            ends_at: r.try_get("ends_at")?,
        },
        name: r.try_get("name")?,
        slug: r.try_get("slug")?,
        description: r.try_get("description")?,
        offer_type,
        condition_range_id: r.try_get("condition_range_id")?,
        benefit_range_id: r.try_get("benefit_range_id")?,
        num_applications: r.try_get("num_applications")?,
        total_discount_minor: r.try_get("total_discount_minor")?,
    })
}

/// The engine's condition and benefit for a definition.
pub fn rules(d: &Definition) -> Result<(Condition, Benefit), OfferError> {
    let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    let condition = match d.condition_kind.as_str() {
        "count" => Condition::Count(count(d.condition_value)),
        "value" => Condition::Value(d.condition_value),
        "coverage" => Condition::Coverage(count(d.condition_value)),
        "plugin" => Condition::Plugin(d.condition_plugin.clone().unwrap_or_default()),
        other => return Err(OfferError::Invalid(format!("unknown condition {other}"))),
    };
    let percent = || {
        d.benefit_percent
            .parse::<Decimal>()
            .map_err(|_| OfferError::Invalid(format!("bad percentage {}", d.benefit_percent)))
    };
    let amount = d.benefit_amount_minor;
    let benefit = match d.benefit_kind.as_str() {
        "percentage" => Benefit::Percentage(percent()?),
        "absolute" => Benefit::Absolute(amount),
        "fixed_unit_price" => Benefit::FixedUnitPrice(amount),
        "multibuy" => Benefit::Multibuy,
        "fixed_price" => Benefit::FixedPrice(amount),
        "shipping_absolute" => Benefit::ShippingAbsolute(amount),
        "shipping_percentage" => Benefit::ShippingPercentage(percent()?),
        "shipping_fixed_price" => Benefit::ShippingFixedPrice(amount),
        other => return Err(OfferError::Invalid(format!("unknown benefit {other}"))),
    };
    Ok((condition, benefit))
}

/// Who is asking, and for which basket.
#[derive(Debug, Clone, Copy)]
pub struct Shopper {
    pub basket_id: Option<i64>,
    pub customer_id: Option<i64>,
}

/// A range as stored, less its product lists (those are read for a basket's products only).
#[derive(Debug, Clone, Default)]
struct RangeDef {
    includes_all: bool,
    classes: BTreeSet<i64>,
    /// Materialised paths of its categories: a product in one of them or below is in it.
    category_paths: Vec<String>,
    /// Whether it includes or excludes products by name.
    lists_products: bool,
}

/// The shop's offer rules: every open offer in the shop's currency with its ranges and
/// combinations, read once per [generation](Catalogue::generation) (see `offer_generation`,
/// 0030). What changes with every order (the usage counters) is not kept here.
#[derive(Debug, Default)]
pub struct Catalogue {
    generation: i64,
    offers: Vec<Row0>,
    combinations: HashMap<i64, BTreeSet<i64>>,
    ranges: HashMap<i64, RangeDef>,
}

impl Catalogue {
    fn has(&self, t: OfferType) -> bool {
        self.offers.iter().any(|o| o.offer_type == t)
    }

    async fn load(
        pool: &AnyPool,
        currency: Currency,
        generation: i64,
    ) -> Result<Catalogue, OfferError> {
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offer o {OFFER_JOINS} \
             WHERE o.status = 'open' AND o.currency = $1 ORDER BY o.id"
        );
        let mut offers = Vec::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(currency.code())
            .fetch_all(pool)
            .await?
        {
            offers.push(read_offer(&r)?);
        }
        let mut catalogue = Catalogue {
            generation,
            offers,
            ..Catalogue::default()
        };
        if catalogue.offers.is_empty() {
            return Ok(catalogue);
        }
        for r in sqlx::query("SELECT offer_id, combines_with_id FROM offer_combination")
            .fetch_all(pool)
            .await?
        {
            catalogue
                .combinations
                .entry(r.try_get("offer_id")?)
                .or_default()
                .insert(r.try_get("combines_with_id")?);
        }
        let used: BTreeSet<i64> = catalogue
            .offers
            .iter()
            .flat_map(|o| [o.condition_range_id, o.benefit_range_id])
            .flatten()
            .collect();
        for r in sqlx::query(
            "SELECT r.id, r.includes_all, \
             (SELECT COUNT(*) FROM offer_range_product p WHERE p.range_id = r.id) AS listed \
             FROM offer_range r",
        )
        .fetch_all(pool)
        .await?
        {
            let id: i64 = r.try_get("id")?;
            if used.contains(&id) {
                let listed: i64 = r.try_get("listed")?;
                catalogue.ranges.insert(
                    id,
                    RangeDef {
                        includes_all: flag(&r, "includes_all")?,
                        lists_products: listed > 0,
                        ..RangeDef::default()
                    },
                );
            }
        }
        for r in sqlx::query("SELECT range_id, product_class_id FROM offer_range_class")
            .fetch_all(pool)
            .await?
        {
            if let Some(d) = catalogue.ranges.get_mut(&r.try_get("range_id")?) {
                d.classes.insert(r.try_get("product_class_id")?);
            }
        }
        for r in sqlx::query(
            "SELECT rc.range_id, c.path FROM offer_range_category rc \
             JOIN category c ON c.id = rc.category_id",
        )
        .fetch_all(pool)
        .await?
        {
            if let Some(d) = catalogue.ranges.get_mut(&r.try_get("range_id")?) {
                d.category_paths.push(r.try_get("path")?);
            }
        }
        Ok(catalogue)
    }
}

/// The offer rules as of now: the kept copy while the database's generation has not moved
/// (one single-row read), else read again. Shared by every basket this process prices.
pub async fn catalogue(
    pool: &AnyPool,
    currency: Currency,
    kept: &std::sync::RwLock<std::sync::Arc<Catalogue>>,
) -> Result<std::sync::Arc<Catalogue>, OfferError> {
    let generation: i64 =
        sqlx::query_scalar("SELECT generation FROM offer_generation WHERE id = 1")
            .fetch_optional(pool)
            .await?
            .unwrap_or(0);
    let current = kept.read().map(|c| c.clone()).unwrap_or_default();
    // The default copy is generation 0: a shop whose offers were never written has none.
    if current.generation == generation {
        return Ok(current);
    }
    let fresh = std::sync::Arc::new(Catalogue::load(pool, currency, generation).await?);
    if let Ok(mut slot) = kept.write() {
        *slot = fresh.clone();
    }
    Ok(fresh)
}

/// Moves the offers' generation on, inside the caller's transaction: every process reads
/// the rules again before it prices its next basket.
pub async fn bump(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE offer_generation SET generation = generation + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn in_force(o: &Row0, now: &str) -> bool {
    o.definition.starts_at.as_deref().is_none_or(|s| s <= now)
        && o.definition.ends_at.as_deref().is_none_or(|e| e > now)
}

/// The live offers for `shopper` over `product_ids`, and the basket's vouchers with the reason
/// each one that cannot be used now is refused.
pub async fn for_basket(
    pool: &AnyPool,
    catalogue: &Catalogue,
    shopper: Shopper,
    product_ids: &[i64],
    now: &str,
) -> Result<(Vec<LiveOffer>, Vec<BasketVoucher>), OfferError> {
    let mut vouchers = Vec::new();
    if catalogue.offers.is_empty() {
        return Ok((Vec::new(), vouchers));
    }
    // The user offers of the customer's groups, the session offers the basket was given.
    let mut mine: BTreeSet<i64> = BTreeSet::new();
    if let Some(customer) = shopper.customer_id
        && catalogue.has(OfferType::User)
    {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT g.offer_id FROM offer_customer_group g \
             JOIN customer_group_member m ON m.group_id = g.group_id WHERE m.customer_id = $1",
        )
        .bind(customer)
        .fetch_all(pool)
        .await?;
        mine.extend(ids);
    }
    if let Some(basket) = shopper.basket_id
        && catalogue.has(OfferType::Session)
    {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT offer_id FROM basket_session_offer WHERE basket_id = $1")
                .bind(basket)
                .fetch_all(pool)
                .await?;
        mine.extend(ids);
    }
    let mut rows: Vec<(Row0, Option<VoucherRef>)> = catalogue
        .offers
        .iter()
        .filter(|o| in_force(o, now))
        .filter(|o| match o.offer_type {
            OfferType::Site => true,
            OfferType::User | OfferType::Session => mine.contains(&o.definition.id),
            OfferType::Voucher => false,
        })
        .map(|o| (o.clone(), None))
        .collect();
    if let Some(basket_id) = shopper.basket_id
        && catalogue.has(OfferType::Voucher)
    {
        vouchers = voucher::in_basket(pool, basket_id, shopper.customer_id, now).await?;
        let usable: Vec<&BasketVoucher> = vouchers.iter().filter(|v| v.refused.is_none()).collect();
        if !usable.is_empty() {
            let sql = format!(
                "SELECT voucher_id, offer_id FROM voucher_offer WHERE voucher_id IN ({})",
                placeholders(1, usable.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &usable {
                query = query.bind(v.id);
            }
            for r in query.fetch_all(pool).await? {
                let (voucher_id, offer_id): (i64, i64) =
                    (r.try_get("voucher_id")?, r.try_get("offer_id")?);
                let Some(o) = catalogue.offers.iter().find(|o| {
                    o.definition.id == offer_id
                        && o.offer_type == OfferType::Voucher
                        && in_force(o, now)
                }) else {
                    continue;
                };
                let code = usable
                    .iter()
                    .find(|v| v.id == voucher_id)
                    .map(|v| v.code.clone())
                    .unwrap_or_default();
                rows.push((
                    o.clone(),
                    Some(VoucherRef {
                        id: voucher_id,
                        code,
                    }),
                ));
            }
        }
    }
    if rows.is_empty() {
        return Ok((Vec::new(), vouchers));
    }

    // The counters change with every order: read fresh for the offers they limit.
    let limited: Vec<i64> = rows
        .iter()
        .filter(|(r, _)| {
            r.definition.max_global_applications.is_some()
                || r.definition.max_discount_minor.is_some()
        })
        .map(|(r, _)| r.definition.id)
        .collect();
    if !limited.is_empty() {
        let sql = format!(
            "SELECT id, num_applications, total_discount_minor FROM offer WHERE id IN ({})",
            placeholders(1, limited.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &limited {
            query = query.bind(*id);
        }
        let mut counters: HashMap<i64, (i64, i64)> = HashMap::new();
        for r in query.fetch_all(pool).await? {
            counters.insert(
                r.try_get("id")?,
                (
                    r.try_get("num_applications")?,
                    r.try_get("total_discount_minor")?,
                ),
            );
        }
        for (row, _) in &mut rows {
            if let Some((n, d)) = counters.get(&row.definition.id) {
                row.num_applications = *n;
                row.total_discount_minor = *d;
            }
        }
    }

    // What the customer has used of each offer already.
    let mut used_by_customer: HashMap<i64, i64> = HashMap::new();
    if let Some(customer) = shopper.customer_id {
        let limited: Vec<i64> = rows
            .iter()
            .filter(|(r, _)| r.definition.max_user_applications.is_some())
            .map(|(r, _)| r.definition.id)
            .collect();
        if !limited.is_empty() {
            let sql = format!(
                "SELECT d.offer_id, CAST(SUM(d.applications) AS BIGINT) AS used FROM order_discount d \
                 JOIN shop_order so ON so.id = d.order_id \
                 WHERE so.customer_id = $1 AND d.offer_id IN ({}) GROUP BY d.offer_id",
                placeholders(2, limited.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer);
            for id in &limited {
                query = query.bind(*id);
            }
            for r in query.fetch_all(pool).await? {
                used_by_customer.insert(r.try_get("offer_id")?, r.try_get("used")?);
            }
        }
    }

    let mut range_ids: Vec<i64> = rows
        .iter()
        .flat_map(|(r, _)| [r.condition_range_id, r.benefit_range_id])
        .flatten()
        .collect();
    range_ids.sort_unstable();
    range_ids.dedup();
    let members = resolve_ranges(pool, catalogue, &range_ids, product_ids).await?;
    let range = |id: Option<i64>| match id {
        None => Range::All,
        Some(id) => Range::Products(members.get(&id).cloned().unwrap_or_default()),
    };

    let mut live = Vec::with_capacity(rows.len());
    for (row, voucher) in rows {
        let d = &row.definition;
        let (condition, benefit) = rules(d)?;
        let left = |max: Option<i64>, used: i64| max.map(|m| (m - used).max(0));
        let applications = [
            left(d.max_global_applications, row.num_applications),
            shopper.customer_id.and_then(|_| {
                left(
                    d.max_user_applications,
                    *used_by_customer.get(&d.id).unwrap_or(&0),
                )
            }),
            d.max_basket_applications.map(|m| m.max(0)),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX));
        let condition_range = range(row.condition_range_id);
        live.push(LiveOffer {
            offer: engine::Offer {
                id: d.id,
                name: row.name.clone(),
                priority: i32::try_from(d.priority).unwrap_or(0),
                exclusive: d.exclusive,
                condition_range,
                condition,
                // A benefit without its own range discounts what the condition covers.
                benefit_range: match row.benefit_range_id {
                    Some(_) => range(row.benefit_range_id),
                    None => range(row.condition_range_id),
                },
                benefit,
                max_affected_items: d
                    .max_affected_items
                    .map(|m| u32::try_from(m.max(0)).unwrap_or(u32::MAX)),
                max_applications: applications,
                max_discount: d
                    .max_discount_minor
                    .map(|m| (m - row.total_discount_minor).max(0)),
                combines_with: catalogue.combinations.get(&d.id).cloned(),
            },
            name: row.name,
            slug: row.slug,
            description: row.description,
            offer_type: row.offer_type,
            voucher,
            definition: row.definition,
        });
    }
    Ok((live, vouchers))
}

/// For each range, which of `product_ids` it holds. A variant belongs where its parent does
/// (class, categories, an inclusion or exclusion of the parent); a product that is not
/// discountable (or whose parent is not) is in no range; an exclusion beats every inclusion.
async fn resolve_ranges(
    pool: &AnyPool,
    catalogue: &Catalogue,
    range_ids: &[i64],
    product_ids: &[i64],
) -> Result<HashMap<i64, BTreeSet<i64>>, OfferError> {
    let mut out: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    if range_ids.is_empty() || product_ids.is_empty() {
        return Ok(out);
    }
    struct Facts {
        parent: Option<i64>,
        class: Option<i64>,
        discountable: bool,
    }
    let sql = format!(
        "SELECT p.id, p.parent_id, COALESCE(p.product_class_id, pp.product_class_id) AS class_id, \
         p.is_discountable, pp.is_discountable AS parent_discountable \
         FROM product p LEFT JOIN product pp ON pp.id = p.parent_id WHERE p.id IN ({})",
        placeholders(1, product_ids.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in product_ids {
        query = query.bind(*id);
    }
    let mut facts: HashMap<i64, Facts> = HashMap::new();
    for r in query.fetch_all(pool).await? {
        let parent: Option<i64> = r.try_get("parent_id")?;
        let parent_ok = match parent {
            Some(_) => crate::infra::db::optional_flag(&r, "parent_discountable")?.unwrap_or(true),
            None => true,
        };
        facts.insert(
            r.try_get("id")?,
            Facts {
                parent,
                class: r.try_get("class_id")?,
                discountable: flag(&r, "is_discountable")? && parent_ok,
            },
        );
    }
    // The products and their parents: what inclusions, exclusions and categories name.
    let mut subjects: Vec<i64> = facts
        .iter()
        .flat_map(|(id, f)| [Some(*id), f.parent])
        .flatten()
        .collect();
    subjects.sort_unstable();
    subjects.dedup();
    let defs: Vec<(i64, RangeDef)> = range_ids
        .iter()
        .map(|id| (*id, catalogue.ranges.get(id).cloned().unwrap_or_default()))
        .collect();

    let mut included: BTreeSet<(i64, i64)> = BTreeSet::new();
    let mut excluded: BTreeSet<(i64, i64)> = BTreeSet::new();
    let listing: Vec<i64> = defs
        .iter()
        .filter(|(_, d)| d.lists_products)
        .map(|(id, _)| *id)
        .collect();
    if !listing.is_empty() {
        let sql = format!(
            "SELECT range_id, product_id, excluded FROM offer_range_product \
             WHERE range_id IN ({}) AND product_id IN ({})",
            placeholders(1, listing.len()),
            placeholders(listing.len() + 1, subjects.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in listing.iter().chain(&subjects) {
            query = query.bind(*id);
        }
        for r in query.fetch_all(pool).await? {
            let key = (r.try_get("range_id")?, r.try_get("product_id")?);
            if flag(&r, "excluded")? {
                excluded.insert(key);
            } else {
                included.insert(key);
            }
        }
    }
    let mut product_paths: HashMap<i64, Vec<String>> = HashMap::new();
    if defs.iter().any(|(_, d)| !d.category_paths.is_empty()) {
        let sql = format!(
            "SELECT pc.product_id, c.path FROM product_category pc \
             JOIN category c ON c.id = pc.category_id WHERE pc.product_id IN ({})",
            placeholders(1, subjects.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &subjects {
            query = query.bind(*id);
        }
        for r in query.fetch_all(pool).await? {
            product_paths
                .entry(r.try_get("product_id")?)
                .or_default()
                .push(r.try_get("path")?);
        }
    }

    for (range, def) in &defs {
        let set = out.entry(*range).or_default();
        for (&product, f) in &facts {
            if !f.discountable {
                continue;
            }
            let own = [Some(product), f.parent];
            let names = |set: &BTreeSet<(i64, i64)>| {
                own.iter().flatten().any(|p| set.contains(&(*range, *p)))
            };
            if names(&excluded) {
                continue;
            }
            let in_category = || {
                own.iter().flatten().any(|p| {
                    product_paths.get(p).is_some_and(|paths| {
                        paths.iter().any(|path| {
                            def.category_paths
                                .iter()
                                .any(|prefix| path.starts_with(prefix.as_str()))
                        })
                    })
                })
            };
            if def.includes_all
                || names(&included)
                || f.class.is_some_and(|c| def.classes.contains(&c))
                || in_category()
            {
                set.insert(product);
            }
        }
    }
    Ok(out)
}
