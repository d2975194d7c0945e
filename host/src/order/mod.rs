//! Orders (Oscar's order app): placing an order in one transaction (stock allocated, never
//! oversold; everything the order shows copied onto it), order numbers, the status pipeline,
//! payment and shipping events, and reading orders back for their owners.
//!
//! Exactly once: an order is tied to its basket by a unique key, and placing marks the basket
//! submitted with a conditional update in the same transaction, so a double submit finds the
//! first order ([`OrderError::AlreadyPlaced`]) instead of making a second.

pub mod export;
pub mod filter;
pub mod history;
pub mod manage;
pub mod payments;
pub mod saved_filters;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::address::Address;
use crate::basket::{LineOption, PricedBasket};
use crate::infra::config::PipelineSettings;
use crate::infra::db::now_text;
use crate::money::{Currency, Money, MoneyError};
use crate::shipping::Method;

/// Order numbers start here (then the basket id is added), so they look like order numbers.
const NUMBER_OFFSET: i64 = 100_000;

/// Statuses and the moves allowed between them, for orders and for their lines. Built once at
/// start-up from the configuration ([`Pipeline::from_settings`]), which it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Status of a newly placed order.
    pub initial: String,
    /// Status → statuses it may move to.
    pub statuses: BTreeMap<String, Vec<String>>,
    pub line_initial: String,
    pub line_statuses: BTreeMap<String, Vec<String>>,
}

impl Default for Pipeline {
    fn default() -> Self {
        let map = |pairs: &[(&str, &[&str])]| {
            pairs
                .iter()
                .map(|(from, to)| (from.to_string(), to.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        Pipeline {
            initial: "Pending".into(),
            statuses: map(&[
                ("Pending", &["Being processed", "Cancelled"]),
                ("Being processed", &["Shipped", "Cancelled"]),
                ("Shipped", &["Complete"]),
                ("Complete", &[]),
                ("Cancelled", &[]),
            ]),
            line_initial: "Pending".into(),
            line_statuses: map(&[
                ("Pending", &["Being processed", "Cancelled"]),
                ("Being processed", &["Shipped", "Cancelled"]),
                ("Shipped", &["Returned"]),
                ("Returned", &[]),
                ("Cancelled", &[]),
            ]),
        }
    }
}

impl Pipeline {
    /// The configured pipeline, Oscar's default where the settings leave a part out; an
    /// error names what is inconsistent.
    pub fn from_settings(settings: &PipelineSettings) -> Result<Pipeline, String> {
        let default = Pipeline::default();
        let pipeline = Pipeline {
            initial: settings.initial.clone().unwrap_or(default.initial),
            statuses: settings.statuses.clone().unwrap_or(default.statuses),
            line_initial: settings
                .line_initial
                .clone()
                .unwrap_or(default.line_initial),
            line_statuses: settings
                .line_statuses
                .clone()
                .unwrap_or(default.line_statuses),
        };
        pipeline.check()?;
        Ok(pipeline)
    }

    /// Every status named as a target is itself in the pipeline, and so is the initial one.
    fn check(&self) -> Result<(), String> {
        for (initial, map, what) in [
            (&self.initial, &self.statuses, "statuses"),
            (&self.line_initial, &self.line_statuses, "line_statuses"),
        ] {
            if !map.contains_key(initial) {
                return Err(format!("the initial status {initial:?} is not in {what}"));
            }
            for (from, targets) in map {
                if from.trim().is_empty() || from.len() > 64 {
                    return Err(format!("{what}: status names are 1 to 64 characters"));
                }
                if let Some(t) = targets.iter().find(|t| !map.contains_key(*t)) {
                    return Err(format!("{what}: {from:?} moves to unknown status {t:?}"));
                }
            }
        }
        Ok(())
    }

    pub fn allows(&self, from: &str, to: &str) -> bool {
        self.statuses
            .get(from)
            .is_some_and(|t| t.iter().any(|s| s == to))
    }

    /// The shortest walk of order statuses from `from` to `to` (excluding `from`), or `None`
    /// when the pipeline has no way there.
    pub fn path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        walk(&self.statuses, from, to)
    }

    /// [`Pipeline::path`] for line statuses.
    pub fn line_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        walk(&self.line_statuses, from, to)
    }
}

/// Breadth-first search over a status map.
fn walk(map: &BTreeMap<String, Vec<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    if from == to {
        return Some(Vec::new());
    }
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(status) = queue.pop_front() {
        for next in map.get(status).into_iter().flatten() {
            if next == from || came_from.contains_key(next.as_str()) {
                continue;
            }
            came_from.insert(next, status);
            if next == to {
                let mut path = vec![to.to_owned()];
                let mut at = to;
                while let Some(prev) = came_from.get(at).copied().filter(|p| *p != from) {
                    path.push(prev.to_owned());
                    at = prev;
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(next);
        }
    }
    None
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The basket already became an order (a double submit).
    #[error("this basket was already ordered as {number}")]
    AlreadyPlaced { number: String },
    /// The basket is not open any more (and no order was made from it).
    #[error("this basket can no longer be ordered")]
    BasketClosed,
    #[error("only {available} of “{title}” left")]
    OutOfStock { title: String, available: i64 },
    #[error("“{title}” can't be bought right now")]
    Unavailable { title: String },
    #[error("the order is empty")]
    Empty,
    /// The payment was voided before the order could take it (a void won the race).
    #[error("the payment was cancelled before the order could be placed")]
    PaymentWithdrawn,
    #[error("status {from:?} can't move to {to:?}")]
    BadTransition { from: String, to: String },
    /// A partner user asked to move an order that also holds other partners' lines.
    #[error("the order also holds other partners' lines")]
    SharedWithOtherPartners,
    /// Cancelling voids the payment, so it is its own action (`payments::cancel`), not a move.
    #[error("cancel the order with its Cancel action, which voids the payment")]
    UseCancel,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("basket: {0}")]
    Basket(Box<crate::basket::BasketError>),
    /// Another order took what was left of an offer or a voucher between pricing and placing.
    #[error("{0}")]
    OfferEnded(String),
}

/// The payment that pays for an order, as the gateway approved it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payment {
    pub plugin_id: String,
    pub reference: String,
    pub amount: Money,
    /// What receipts may show ("Card ending 4242").
    pub label: String,
}

pub struct NewOrder<'a> {
    pub basket: &'a PricedBasket,
    pub customer_id: Option<i64>,
    pub email: &'a str,
    pub shipping_address: &'a Address,
    pub billing_address: &'a Address,
    pub shipping: &'a Method,
    pub payment: Option<&'a Payment>,
    /// SHA-256 of the secret in a guest's order link.
    pub guest_token_hash: Option<String>,
    pub pipeline: &'a Pipeline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub id: i64,
    pub number: String,
    /// The basket the lines saved for later moved to (for an anonymous shopper the session
    /// must point at it); `None` when nothing was saved.
    pub next_basket: Option<i64>,
}

pub fn number_for_basket(basket_id: i64) -> String {
    (NUMBER_OFFSET + basket_id).to_string()
}

/// The order total the customer pays: the lines after their discounts, plus shipping less
/// its discounts.
pub fn total_incl_tax(basket: &PricedBasket, shipping: &Method) -> Result<Money, MoneyError> {
    Ok(totals(basket, shipping)?.total_incl)
}

/// An order's sums: every discount (lines and shipping) and the totals after them.
#[derive(Debug, Clone, Copy)]
pub struct Totals {
    pub discount_incl: Money,
    pub discount_excl: Money,
    pub total_incl: Money,
    pub total_excl: Money,
}

pub fn totals(basket: &PricedBasket, shipping: &Method) -> Result<Totals, MoneyError> {
    let (ship_incl, ship_excl) = basket
        .discounts
        .shipping_total(shipping.charge_incl_tax, shipping.charge_excl_tax);
    let discount_incl = basket.discounts.total_incl_tax.checked_add(ship_incl)?;
    let discount_excl = basket.discounts.total_excl_tax.checked_add(ship_excl)?;
    let currency = basket.total_incl_tax.currency();
    let total_incl = basket
        .total_incl_tax
        .checked_add(shipping.charge_incl_tax)?;
    let total_excl = basket
        .total_excl_tax
        .checked_add(shipping.charge_excl_tax)?;
    Ok(Totals {
        discount_incl,
        discount_excl,
        total_incl: Money::new(total_incl.amount() - discount_incl.amount(), currency),
        total_excl: Money::new(total_excl.amount() - discount_excl.amount(), currency),
    })
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The order placed from a basket, if any.
pub async fn number_of_basket(
    pool: &AnyPool,
    basket_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT number FROM shop_order WHERE basket_id = $1")
        .bind(basket_id)
        .fetch_optional(pool)
        .await?
        .map(|r| r.try_get(0))
        .transpose()
}

/// The number of the order with this id.
pub async fn number_by_id(pool: &AnyPool, order_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT number FROM shop_order WHERE id = $1")
        .bind(order_id)
        .fetch_optional(pool)
        .await?
        .map(|r| r.try_get(0))
        .transpose()
}

/// Writes the order inside the caller's transaction (which should be a write transaction:
/// `Db::begin_write`). On any error the caller rolls back and nothing is written.
pub async fn place_in(
    tx: &mut Transaction<'_, Any>,
    new: NewOrder<'_>,
) -> Result<Placed, OrderError> {
    let basket = new.basket;
    if basket.lines.is_empty() {
        return Err(OrderError::Empty);
    }
    let now = now_text();
    let claimed = sqlx::query(
        "UPDATE basket SET status = 'submitted', updated_at = $2 WHERE id = $1 AND status = 'open'",
    )
    .bind(basket.id)
    .bind(&now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if claimed != 1 {
        let existing = sqlx::query("SELECT number FROM shop_order WHERE basket_id = $1")
            .bind(basket.id)
            .fetch_optional(&mut **tx)
            .await?;
        return Err(match existing {
            Some(row) => OrderError::AlreadyPlaced {
                number: row.try_get(0)?,
            },
            None => OrderError::BasketClosed,
        });
    }

    // Allocate in stock-record order so two orders never wait on each other in a cycle.
    let mut allocations: Vec<(i64, i64, &str)> = Vec::new();
    for line in &basket.lines {
        if line.unit_price.is_none() || !line.availability.is_available {
            return Err(OrderError::Unavailable {
                title: line.title.clone(),
            });
        }
        if let (true, Some(record)) = (line.track_stock, line.stock_record_id) {
            match allocations.iter_mut().find(|(r, _, _)| *r == record) {
                Some(a) => a.1 += line.quantity,
                None => allocations.push((record, line.quantity, &line.title)),
            }
        }
    }
    allocations.sort_unstable_by_key(|a| a.0);
    for (record, quantity, title) in &allocations {
        let done = sqlx::query(
            "UPDATE stock_record SET num_allocated = num_allocated + $2, updated_at = $3 \
             WHERE id = $1 AND num_in_stock - num_allocated >= $2",
        )
        .bind(record)
        .bind(quantity)
        .bind(&now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if done != 1 {
            let available: i64 =
                sqlx::query("SELECT num_in_stock - num_allocated FROM stock_record WHERE id = $1")
                    .bind(record)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?
                    .unwrap_or(0);
            return Err(OrderError::OutOfStock {
                title: title.to_string(),
                available: available.max(0),
            });
        }
    }

    let currency = basket.total_incl_tax.currency();
    let sums = totals(basket, new.shipping)?;
    let (total_incl, total_excl) = (sums.total_incl, sums.total_excl);
    let number = number_for_basket(basket.id);
    let row = sqlx::query(
        "INSERT INTO shop_order (number, basket_id, customer_id, email, guest_token_hash, status, \
         currency, lines_excl_minor, lines_incl_minor, shipping_excl_minor, shipping_incl_minor, \
         total_excl_minor, total_incl_minor, shipping_plugin, shipping_code, shipping_name, \
         shipping_address, billing_address, placed_at, discount_minor, discount_excl_minor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21) RETURNING id",
    )
    .bind(&number)
    .bind(basket.id)
    .bind(new.customer_id)
    .bind(new.email)
    .bind(new.guest_token_hash.as_deref())
    .bind(&new.pipeline.initial)
    .bind(currency.code())
    .bind(basket.total_excl_tax.to_minor()?)
    .bind(basket.total_incl_tax.to_minor()?)
    .bind(new.shipping.charge_excl_tax.to_minor()?)
    .bind(new.shipping.charge_incl_tax.to_minor()?)
    .bind(total_excl.to_minor()?)
    .bind(total_incl.to_minor()?)
    .bind(&new.shipping.plugin)
    .bind(&new.shipping.code)
    .bind(&new.shipping.name)
    .bind(serde_json::to_string(new.shipping_address).unwrap_or_default())
    .bind(serde_json::to_string(new.billing_address).unwrap_or_default())
    .bind(&now)
    .bind(sums.discount_incl.to_minor()?)
    .bind(sums.discount_excl.to_minor()?)
    .fetch_one(&mut **tx)
    .await?;
    let order_id: i64 = row.try_get(0)?;
    let mut order_lines: HashMap<i64, i64> = HashMap::new();

    let records: Vec<i64> = basket
        .lines
        .iter()
        .filter_map(|l| l.stock_record_id)
        .collect();
    let partners = partner_names(tx, &records).await?;
    for line in &basket.lines {
        let Some(price) = line.unit_price else {
            continue;
        };
        let q = rust_decimal::Decimal::from(line.quantity);
        let (partner_name, partner_sku) = line
            .stock_record_id
            .and_then(|r| partners.get(&r).cloned())
            .unwrap_or_default();
        let (discount_incl, discount_excl) = basket
            .discounts
            .of_line(line.id)
            .map_or((Ok(0), Ok(0)), |d| {
                (d.incl_tax.to_minor(), d.excl_tax.to_minor())
            });
        let order_line: i64 = sqlx::query_scalar(
            "INSERT INTO order_line (order_id, product_id, stock_record_id, partner_name, \
             partner_sku, title, options, quantity, unit_excl_minor, unit_incl_minor, \
             line_excl_minor, line_incl_minor, status, discount_incl_minor, discount_excl_minor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(order_id)
        .bind(line.product_id)
        .bind(line.stock_record_id)
        .bind(partner_name)
        .bind(partner_sku)
        .bind(&line.title)
        .bind(serde_json::to_string(&line.options).unwrap_or_else(|_| "[]".into()))
        .bind(line.quantity)
        .bind(price.excl_tax.to_minor()?)
        .bind(price.incl_tax.to_minor()?)
        .bind(price.excl_tax.checked_mul(q)?.to_minor()?)
        .bind(price.incl_tax.checked_mul(q)?.to_minor()?)
        .bind(&new.pipeline.line_initial)
        .bind(discount_incl?)
        .bind(discount_excl?)
        .fetch_one(&mut **tx)
        .await?;
        order_lines.insert(line.id, order_line);
    }
    let shipping_discounts =
        basket.shipping_discounts(new.shipping.charge_incl_tax, new.shipping.charge_excl_tax);
    crate::offer::record::record_in(
        tx,
        order_id,
        new.customer_id,
        &basket.discounts,
        &shipping_discounts,
        &order_lines,
        basket.discounts.incl_basis,
        &now,
    )
    .await
    .map_err(|e| match e {
        crate::offer::OfferError::NoLongerAvailable(message) => OrderError::OfferEnded(message),
        crate::offer::OfferError::Db(e) => OrderError::Db(e),
        other => OrderError::Basket(Box::new(crate::basket::BasketError::Offer(other))),
    })?;

    if let Some(p) = new.payment {
        // The order takes the payment on the ledger in this transaction; a void that got
        // there first means the money is going back, so there is no order.
        if !crate::payment::claim::hold_for_order(
            tx,
            &p.plugin_id,
            &p.reference,
            p.amount,
            order_id,
        )
        .await?
        {
            return Err(OrderError::PaymentWithdrawn);
        }
        let amount = p.amount.to_minor()?;
        sqlx::query(
            "INSERT INTO payment_source (order_id, plugin_id, reference, currency, allocated_minor, label) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(order_id)
        .bind(&p.plugin_id)
        .bind(&p.reference)
        .bind(p.amount.currency().code())
        .bind(amount)
        .bind(&p.label)
        .execute(&mut **tx)
        .await?;
        add_payment_event(tx, order_id, "authorise", amount, &p.reference).await?;
    }
    if let Some(customer) = new.customer_id {
        crate::address::remember(tx, customer, new.shipping_address, new.billing_address).await?;
    }
    // What was saved for later is still the shopper's: it moves to their next basket.
    let next_basket = if basket.saved.is_empty() {
        None
    } else {
        let owner = match new.customer_id {
            Some(customer) => crate::basket::Owner::Customer(customer),
            None => crate::basket::Owner::Session(None),
        };
        let next = crate::basket::open_basket(tx, owner)
            .await
            .map_err(|e| OrderError::Basket(Box::new(e)))?;
        sqlx::query(
            "UPDATE basket_line SET basket_id = $1, updated_at = $2 \
             WHERE basket_id = $3 AND is_saved = TRUE",
        )
        .bind(next)
        .bind(&now)
        .bind(basket.id)
        .execute(&mut **tx)
        .await?;
        Some(next)
    };
    Ok(Placed {
        id: order_id,
        number,
        next_basket,
    })
}

async fn partner_names(
    tx: &mut Transaction<'_, Any>,
    records: &[i64],
) -> Result<std::collections::HashMap<i64, (String, String)>, sqlx::Error> {
    let mut out = std::collections::HashMap::new();
    if records.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT s.id, p.name, s.partner_sku FROM stock_record s JOIN partner p ON p.id = s.partner_id \
         WHERE s.id IN ({})",
        crate::infra::db::placeholders(1, records.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in records {
        query = query.bind(*r);
    }
    for row in query.fetch_all(&mut **tx).await? {
        out.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    Ok(out)
}

pub async fn add_payment_event(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
    kind: &str,
    amount_minor: i64,
    reference: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_event (order_id, kind, amount_minor, reference, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(kind)
    .bind(amount_minor)
    .bind(reference)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a shipping event (dispatched, delivered, returned…) for some of the lines.
pub async fn add_shipping_event(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
    kind: &str,
    lines: &[(i64, i64)],
    note: &str,
) -> Result<(), sqlx::Error> {
    let lines: Vec<_> = lines
        .iter()
        .map(|(line_id, quantity)| serde_json::json!({"line_id": line_id, "quantity": quantity}))
        .collect();
    sqlx::query(
        "INSERT INTO shipping_event (order_id, kind, lines, note, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(kind)
    .bind(serde_json::Value::from(lines).to_string())
    .bind(note)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an order along the pipeline (refusing moves it doesn't allow) and records the change.
/// Cancelling releases the stock the order had allocated.
pub async fn set_status(
    tx: &mut Transaction<'_, Any>,
    pipeline: &Pipeline,
    order_id: i64,
    to: &str,
    note: &str,
) -> Result<(), OrderError> {
    let from: String = sqlx::query("SELECT status FROM shop_order WHERE id = $1")
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(OrderError::NotFound)?
        .try_get(0)?;
    if !pipeline.allows(&from, to) {
        return Err(OrderError::BadTransition {
            from,
            to: to.to_string(),
        });
    }
    // Conditional on the status read, so two concurrent moves can't both apply.
    let moved = sqlx::query("UPDATE shop_order SET status = $3 WHERE id = $1 AND status = $2")
        .bind(order_id)
        .bind(&from)
        .bind(to)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if moved != 1 {
        return Err(OrderError::BadTransition {
            from,
            to: to.to_string(),
        });
    }
    sqlx::query(
        "INSERT INTO order_status_change (order_id, old_status, new_status, note, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(&from)
    .bind(to)
    .bind(note)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    if to == "Cancelled" {
        release_allocations(tx, order_id, None).await?;
        sqlx::query("UPDATE order_line SET status = 'Cancelled' WHERE order_id = $1")
            .bind(order_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Tells the order's customer (a guest has no inbox) in their notifications that the order
/// moved to `status`, in the move's transaction (once per move staff make: a walk through
/// several statuses at once tells only where it ended).
pub(crate) async fn tell_status(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
    status: &str,
) -> Result<(), OrderError> {
    let row = sqlx::query("SELECT number, customer_id FROM shop_order WHERE id = $1")
        .bind(order_id)
        .fetch_one(&mut **tx)
        .await?;
    let Some(customer_id) = row.try_get::<Option<i64>, _>("customer_id")? else {
        return Ok(());
    };
    let number: String = row.try_get("number")?;
    let (subject, body) = match status {
        "Shipped" => (
            format!("Order {number} is on its way"),
            format!("Your order {number} has been shipped."),
        ),
        "Cancelled" => (
            format!("Order {number} was cancelled"),
            format!("Your order {number} was cancelled. Any payment taken for it is refunded."),
        ),
        other => (
            format!("Order {number}: {other}"),
            format!("Your order {number} is now “{other}”."),
        ),
    };
    let link = format!("/accounts/orders/{number}/");
    let notice = crate::communication::notifications::Notice {
        subject: &subject,
        body: &body,
        link: Some(&link),
    };
    crate::communication::notifications::add(tx, customer_id, &notice, None).await?;
    Ok(())
}

/// Line statuses whose stock has left the allocation: shipped (taken out of stock), returned
/// after that, or cancelled (given back).
const RELEASED: &str = "('Shipped', 'Returned', 'Cancelled')";

/// Gives back the stock allocated to the order's lines (`lines`, or all) that still hold it;
/// call before those lines' status changes.
pub(crate) async fn release_allocations(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
    lines: Option<&[i64]>,
) -> Result<(), sqlx::Error> {
    move_allocations(tx, order_id, lines, false).await
}

/// Takes shipped lines' stock out: the units leave both the stock and its allocation.
pub(crate) async fn consume_allocations(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
    lines: &[i64],
) -> Result<(), sqlx::Error> {
    move_allocations(tx, order_id, Some(lines), true).await
}

async fn move_allocations(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
    lines: Option<&[i64]>,
    consume: bool,
) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, stock_record_id, quantity FROM order_line WHERE order_id = $1 \
         AND stock_record_id IS NOT NULL AND status NOT IN {RELEASED} ORDER BY stock_record_id"
    )))
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    let set = if consume {
        "num_in_stock = num_in_stock - $2, num_allocated = num_allocated - $2"
    } else {
        "num_allocated = num_allocated - $2"
    };
    for line in rows {
        let (id, record, quantity): (i64, i64, i64) =
            (line.try_get(0)?, line.try_get(1)?, line.try_get(2)?);
        if lines.is_some_and(|chosen| !chosen.contains(&id)) {
            continue;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE stock_record SET {set}, updated_at = $3 \
             WHERE id = $1 AND num_allocated >= $2 AND num_in_stock >= $2"
        )))
        .bind(record)
        .bind(quantity)
        .bind(now_text())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

// ---- reading orders back ----

/// The order with this number if it is within `scope`.
pub async fn find_within(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    number: &str,
) -> Result<Option<Order>, sqlx::Error> {
    if scope.is_some() {
        let sql = format!(
            "SELECT COUNT(*) FROM shop_order o WHERE o.number = $1 AND {}",
            filter::scope_condition(scope)
        );
        let visible: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(number)
            .fetch_one(pool)
            .await?;
        if visible == 0 {
            return Ok(None);
        }
    }
    by_number(pool, number).await
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderLine {
    pub id: i64,
    pub product_id: Option<i64>,
    pub title: String,
    pub partner_sku: String,
    pub options: Vec<LineOption>,
    pub quantity: i64,
    pub unit_price_incl_tax: Money,
    pub unit_price_excl_tax: Money,
    pub line_total_incl_tax: Money,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentSourceView {
    pub id: i64,
    pub plugin_id: String,
    pub label: String,
    /// Authorized at checkout.
    pub allocated: Money,
    pub captured: Money,
    pub refunded: Money,
    /// Released by a void (never to be captured).
    pub voided: Money,
    /// Reserved by actions still with the gateway (or whose outcome is unknown).
    pub pending: Money,
    /// Still open to a capture (or a void).
    pub capturable: Money,
    /// Captured and not yet refunded (nor being refunded).
    pub refundable: Money,
    pub can_capture: bool,
    pub can_refund: bool,
    pub reference: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    pub old_status: String,
    pub new_status: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: i64,
    pub number: String,
    pub basket_id: i64,
    pub customer_id: Option<i64>,
    pub email: String,
    #[serde(skip)]
    pub guest_token_hash: Option<String>,
    pub status: String,
    pub lines_total_incl_tax: Money,
    pub lines_total_excl_tax: Money,
    pub discount: Money,
    pub shipping_incl_tax: Money,
    pub shipping_excl_tax: Money,
    pub total_incl_tax: Money,
    pub total_excl_tax: Money,
    pub total_tax: Money,
    pub shipping_plugin: String,
    pub shipping_code: String,
    pub shipping_name: String,
    pub shipping_address: Address,
    pub shipping_address_lines: Vec<String>,
    pub billing_address: Address,
    pub billing_address_lines: Vec<String>,
    pub placed_at: String,
    pub lines: Vec<OrderLine>,
    pub payments: Vec<PaymentSourceView>,
    pub history: Vec<StatusChange>,
    /// What offers and vouchers took off, per offer.
    pub discounts: Vec<crate::offer::record::Recorded>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderSummary {
    pub number: String,
    pub status: String,
    pub total_incl_tax: Money,
    pub num_items: i64,
    pub placed_at: String,
}

fn money(row: &AnyRow, column: &str, currency: Currency) -> Result<Money, sqlx::Error> {
    Ok(Money::from_minor(row.try_get(column)?, currency))
}

fn currency_of(row: &AnyRow) -> Result<Currency, sqlx::Error> {
    let code: String = row.try_get("currency")?;
    Currency::from_code(&code).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// An order with its lines, payments and history, by number.
pub async fn by_number(pool: &AnyPool, number: &str) -> Result<Option<Order>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, number, basket_id, customer_id, email, guest_token_hash, status, currency, \
         lines_excl_minor, lines_incl_minor, discount_minor, shipping_excl_minor, shipping_incl_minor, \
         total_excl_minor, total_incl_minor, shipping_plugin, shipping_code, shipping_name, \
         shipping_address, billing_address, placed_at FROM shop_order WHERE number = $1",
    )
    .bind(number)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let currency = currency_of(&row)?;
    let id: i64 = row.try_get("id")?;
    let address = |column: &str| -> Result<Address, sqlx::Error> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    let shipping_address = address("shipping_address")?;
    let billing_address = address("billing_address")?;
    let total_incl = money(&row, "total_incl_minor", currency)?;
    let total_excl = money(&row, "total_excl_minor", currency)?;
    let lines = sqlx::query(
        "SELECT id, product_id, title, partner_sku, options, quantity, unit_excl_minor, \
         unit_incl_minor, line_incl_minor, status FROM order_line WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|l| {
        Ok(OrderLine {
            id: l.try_get("id")?,
            product_id: l.try_get("product_id")?,
            title: l.try_get("title")?,
            partner_sku: l.try_get("partner_sku")?,
            options: serde_json::from_str(&l.try_get::<String, _>("options")?).unwrap_or_default(),
            quantity: l.try_get("quantity")?,
            unit_price_excl_tax: money(l, "unit_excl_minor", currency)?,
            unit_price_incl_tax: money(l, "unit_incl_minor", currency)?,
            line_total_incl_tax: money(l, "line_incl_minor", currency)?,
            status: l.try_get("status")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let payments = sqlx::query(
        "SELECT id, plugin_id, label, allocated_minor, debited_minor, refunded_minor, voided_minor, \
         capturing_minor + refunding_minor + voiding_minor AS pending_minor, \
         allocated_minor - debited_minor - voided_minor - capturing_minor - voiding_minor AS capturable_minor, \
         debited_minor - refunded_minor - refunding_minor AS refundable_minor, reference, currency \
         FROM payment_source WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|p| {
        let currency = currency_of(p)?;
        let (capturable, refundable): (i64, i64) =
            (p.try_get("capturable_minor")?, p.try_get("refundable_minor")?);
        Ok(PaymentSourceView {
            id: p.try_get("id")?,
            plugin_id: p.try_get("plugin_id")?,
            label: p.try_get("label")?,
            allocated: money(p, "allocated_minor", currency)?,
            captured: money(p, "debited_minor", currency)?,
            refunded: money(p, "refunded_minor", currency)?,
            voided: money(p, "voided_minor", currency)?,
            pending: money(p, "pending_minor", currency)?,
            capturable: money(p, "capturable_minor", currency)?,
            refundable: money(p, "refundable_minor", currency)?,
            can_capture: capturable > 0,
            can_refund: refundable > 0,
            reference: p.try_get("reference")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let history = sqlx::query(
        "SELECT old_status, new_status, created_at FROM order_status_change WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|h| {
        Ok(StatusChange {
            old_status: h.try_get(0)?,
            new_status: h.try_get(1)?,
            at: h.try_get(2)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let discounts = crate::offer::record::for_order(pool, id, currency).await?;
    Ok(Some(Order {
        discounts,
        id,
        number: row.try_get("number")?,
        basket_id: row.try_get("basket_id")?,
        customer_id: row.try_get("customer_id")?,
        email: row.try_get("email")?,
        guest_token_hash: row.try_get("guest_token_hash")?,
        status: row.try_get("status")?,
        lines_total_incl_tax: money(&row, "lines_incl_minor", currency)?,
        lines_total_excl_tax: money(&row, "lines_excl_minor", currency)?,
        discount: money(&row, "discount_minor", currency)?,
        shipping_incl_tax: money(&row, "shipping_incl_minor", currency)?,
        shipping_excl_tax: money(&row, "shipping_excl_minor", currency)?,
        total_tax: Money::new(total_incl.amount() - total_excl.amount(), currency),
        total_incl_tax: total_incl,
        total_excl_tax: total_excl,
        shipping_plugin: row.try_get("shipping_plugin")?,
        shipping_code: row.try_get("shipping_code")?,
        shipping_name: row.try_get("shipping_name")?,
        shipping_address_lines: shipping_address.lines(),
        shipping_address,
        billing_address_lines: billing_address.lines(),
        billing_address,
        placed_at: row.try_get("placed_at")?,
        lines,
        payments,
        history,
    }))
}

/// The order if `token` is the secret of its guest link (compared as digests, so timing
/// says nothing about the secret).
pub async fn for_guest_link(
    pool: &AnyPool,
    number: &str,
    token: &str,
) -> Result<Option<Order>, sqlx::Error> {
    let order = by_number(pool, number).await?;
    let wanted = token_hash(token);
    Ok(order.filter(|o| {
        o.guest_token_hash
            .as_deref()
            .is_some_and(|h| constant_time_eq(h.as_bytes(), wanted.as_bytes()))
    }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A customer's orders, newest first.
pub async fn for_customer(
    pool: &AnyPool,
    customer_id: i64,
) -> Result<Vec<OrderSummary>, sqlx::Error> {
    sqlx::query(
        "SELECT o.number, o.status, o.currency, o.total_incl_minor, o.placed_at, \
         (SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM order_line l WHERE l.order_id = o.id) AS num_items \
         FROM shop_order o WHERE o.customer_id = $1 ORDER BY o.placed_at DESC, o.id DESC LIMIT 200",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let currency = currency_of(r)?;
        Ok(OrderSummary {
            number: r.try_get("number")?,
            status: r.try_get("status")?,
            total_incl_tax: money(r, "total_incl_minor", currency)?,
            num_items: r.try_get("num_items")?,
            placed_at: r.try_get("placed_at")?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_walk_the_pipeline() {
        let p = Pipeline::default();
        assert_eq!(
            p.path("Pending", "Shipped").unwrap(),
            ["Being processed", "Shipped"]
        );
        assert_eq!(p.path("Shipped", "Shipped").unwrap(), Vec::<String>::new());
        assert_eq!(p.path("Cancelled", "Shipped"), None);
        assert_eq!(
            p.line_path("Being processed", "Shipped").unwrap(),
            ["Shipped"]
        );
        assert_eq!(p.line_path("Shipped", "Pending"), None);
    }

    #[test]
    fn default_pipeline_is_consistent() {
        let p = Pipeline::default();
        p.check().unwrap();
        assert!(p.allows("Pending", "Being processed"));
        assert!(!p.allows("Complete", "Pending"));
        assert!(!p.allows("Nope", "Pending"));
    }

    #[test]
    fn broken_pipelines_are_refused() {
        let p = Pipeline {
            initial: "Limbo".into(),
            ..Pipeline::default()
        };
        assert!(p.check().unwrap_err().contains("Limbo"));
        let mut p = Pipeline::default();
        p.statuses
            .insert("Pending".into(), vec!["Teleported".into()]);
        assert!(p.check().unwrap_err().contains("Teleported"));
    }

    #[test]
    fn numbers_and_tokens() {
        assert_eq!(number_for_basket(42), "100042");
        assert_eq!(token_hash("a"), token_hash("a"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
