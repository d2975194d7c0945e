//! What an order keeps of its discounts, written in the order's transaction: a record per
//! offer (with a snapshot of the offer and the voucher code), per line, the vouchers' uses,
//! and the offers' counters. Each counter moves in one `UPDATE` that checks the limit it
//! guards, so of two checkouts racing for an offer's or a voucher's last use one wins and
//! the other is refused ([`OfferError::NoLongerAvailable`]) and rolls back.

use std::collections::{BTreeMap, HashMap};

use sqlx::{Any, Transaction};

use super::OfferError;
use super::discounts::BasketDiscounts;
use super::live::{Definition, VoucherRef};
use crate::money::Money;

/// One discount as the order records it.
struct Entry<'a> {
    offer_id: i64,
    name: &'a str,
    definition: &'a Definition,
    voucher: Option<&'a VoucherRef>,
    category: &'static str,
    incl: i64,
    excl: i64,
    applications: u32,
    lines: &'a [(i64, i64, i64, u32)],
}

/// Records `discounts` (and the shipping discounts `shipping`: offer id, incl., excl.) on
/// order `order_id`. `order_lines` maps basket line ids to the order's line ids.
#[allow(clippy::too_many_arguments)]
pub async fn record_in(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
    customer_id: Option<i64>,
    discounts: &BasketDiscounts,
    shipping: &[(i64, Money, Money)],
    order_lines: &HashMap<i64, i64>,
    incl_basis: bool,
    now: &str,
) -> Result<(), OfferError> {
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for d in &discounts.offers {
        entries.push(Entry {
            offer_id: d.offer_id,
            name: &d.name,
            definition: &d.definition,
            voucher: d.voucher.as_ref(),
            category: "basket",
            incl: d.incl_tax.to_minor()?,
            excl: d.excl_tax.to_minor()?,
            applications: d.applications,
            lines: &d.lines,
        });
    }
    for (offer_id, incl, excl) in shipping {
        let Some(s) = discounts.shipping.iter().find(|s| s.offer_id == *offer_id) else {
            continue;
        };
        entries.push(Entry {
            offer_id: s.offer_id,
            name: &s.name,
            definition: &s.definition,
            voucher: s.voucher.as_ref(),
            category: "shipping",
            incl: incl.to_minor()?,
            excl: excl.to_minor()?,
            applications: 1,
            lines: &[],
        });
    }
    // Offers in id order, so two orders never wait on each other's rows in a cycle.
    entries.sort_by_key(|e| e.offer_id);
    let mut by_voucher: BTreeMap<i64, (&VoucherRef, i64)> = BTreeMap::new();
    for e in &entries {
        let basis = if incl_basis { e.incl } else { e.excl };
        let counted = sqlx::query(
            "UPDATE offer SET num_applications = num_applications + $2, num_orders = num_orders + 1, \
             total_discount_minor = total_discount_minor + $3, updated_at = $4 \
             WHERE id = $1 AND status = 'open' \
             AND (max_global_applications IS NULL OR num_applications + $2 <= max_global_applications) \
             AND (max_discount_minor IS NULL OR total_discount_minor + $3 <= max_discount_minor)",
        )
        .bind(e.offer_id)
        .bind(i64::from(e.applications))
        .bind(basis)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if counted != 1 {
            return Err(OfferError::NoLongerAvailable(format!(
                "The offer “{}” has just ended or run out; please check your basket again.",
                e.name
            )));
        }
        if let (Some(max), Some(customer)) = (e.definition.max_user_applications, customer_id) {
            // The offer's row is locked by the UPDATE above: this count cannot race.
            let used: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(d.applications), 0) AS BIGINT) FROM order_discount d \
                 JOIN shop_order so ON so.id = d.order_id WHERE so.customer_id = $1 AND d.offer_id = $2",
            )
            .bind(customer)
            .bind(e.offer_id)
            .fetch_one(&mut **tx)
            .await?;
            if used + i64::from(e.applications) > max {
                return Err(OfferError::NoLongerAvailable(format!(
                    "You have already had the offer “{}” as often as it allows.",
                    e.name
                )));
            }
        }
        let snapshot = serde_json::to_string(e.definition).unwrap_or_else(|_| "{}".into());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO order_discount (order_id, offer_id, offer_name, offer_snapshot, voucher_id, \
             voucher_code, category, amount_incl_minor, amount_excl_minor, applications, message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(order_id)
        .bind(e.offer_id)
        .bind(e.name)
        .bind(snapshot)
        .bind(e.voucher.map(|v| v.id))
        .bind(e.voucher.map(|v| v.code.clone()))
        .bind(e.category)
        .bind(e.incl)
        .bind(e.excl)
        .bind(i64::from(e.applications))
        .bind(e.name)
        .fetch_one(&mut **tx)
        .await?;
        for (basket_line, incl, excl, quantity) in e.lines {
            let Some(order_line) = order_lines.get(basket_line) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO order_line_discount (order_line_id, order_discount_id, \
                 amount_incl_minor, amount_excl_minor, quantity) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(order_line)
            .bind(id)
            .bind(incl)
            .bind(excl)
            .bind(i64::from(*quantity))
            .execute(&mut **tx)
            .await?;
        }
        if let Some(v) = e.voucher {
            by_voucher.entry(v.id).or_insert((v, 0)).1 += basis;
        }
    }
    for (voucher_id, (v, discount)) in by_voucher {
        // The voucher's row is locked from here to the commit: the checks below cannot race.
        let usage: Option<String> = sqlx::query_scalar(
            "UPDATE voucher SET num_orders = num_orders + 1, \
             total_discount_minor = total_discount_minor + $2 \
             WHERE id = $1 AND (usage <> 'single' OR num_orders = 0) \
             AND (starts_at IS NULL OR starts_at <= $3) AND (ends_at IS NULL OR ends_at > $3) \
             RETURNING usage",
        )
        .bind(voucher_id)
        .bind(discount)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(usage) = usage else {
            return Err(OfferError::NoLongerAvailable(format!(
                "Voucher {} has just been used or has expired; please check your basket again.",
                v.code
            )));
        };
        if usage == "once_per_customer" {
            let Some(customer) = customer_id else {
                return Err(OfferError::NoLongerAvailable(format!(
                    "Voucher {} is for signed-in customers: sign in to use it.",
                    v.code
                )));
            };
            let used: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM voucher_application WHERE voucher_id = $1 AND customer_id = $2",
            )
            .bind(voucher_id)
            .bind(customer)
            .fetch_one(&mut **tx)
            .await?;
            if used > 0 {
                return Err(OfferError::NoLongerAvailable(format!(
                    "You have already used voucher {}.",
                    v.code
                )));
            }
        }
        sqlx::query(
            "INSERT INTO voucher_application (voucher_id, order_id, customer_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(voucher_id)
        .bind(order_id)
        .bind(customer_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A discount an order got, as its pages and emails show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    pub offer_id: Option<i64>,
    pub name: String,
    pub voucher_code: Option<String>,
    /// `basket` or `shipping`.
    pub category: String,
    pub amount_incl_tax: Money,
    pub amount_excl_tax: Money,
    pub applications: i64,
}

/// The discounts recorded on order `order_id`, in the order they were written.
pub async fn for_order(
    pool: &sqlx::AnyPool,
    order_id: i64,
    currency: crate::money::Currency,
) -> Result<Vec<Recorded>, sqlx::Error> {
    use sqlx::Row;
    sqlx::query(
        "SELECT offer_id, offer_name, voucher_code, category, amount_incl_minor, amount_excl_minor, \
         applications FROM order_discount WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(Recorded {
            offer_id: r.try_get("offer_id")?,
            name: r.try_get("offer_name")?,
            voucher_code: r.try_get("voucher_code")?,
            category: r.try_get("category")?,
            amount_incl_tax: Money::from_minor(r.try_get("amount_incl_minor")?, currency),
            amount_excl_tax: Money::from_minor(r.try_get("amount_excl_minor")?, currency),
            applications: r.try_get("applications")?,
        })
    })
    .collect()
}
