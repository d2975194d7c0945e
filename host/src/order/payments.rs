//! Money actions staff take on an order, through the gateway plugin that took its payment:
//! capture, refund (by amount or by lines) and cancel (the authorization voided, the stock
//! released).
//!
//! Every action is one row of `payment_operation`, keyed by the idempotency key of the form
//! that asked for it, and runs in three steps:
//! 1. *reserve*: in one transaction, the row is written `pending` and its amount is reserved on
//!    the payment source with a conditional update (`capturing`, `refunding`, `voiding`), so
//!    two actions can never together capture more than was authorized or refund more than was
//!    captured, whichever process or request they come from; a second submit of the same form
//!    finds the row and moves no money;
//! 2. the gateway is asked, outside any transaction (it may take seconds);
//! 3. *settle*: in one transaction, the row becomes `succeeded` (the reservation becomes
//!    captured, refunded or voided money, with its payment event and audit entry) or `failed`
//!    with the gateway's message (the reservation is released and nothing else changes).
//!
//! A process that dies between 2 and 3 leaves the row `pending` with its amount reserved: the
//! order page shows it as "outcome unknown" and staff settle it by hand once they have
//! checked the provider ([`resolve_pending`]); WIT 0.1 has no call to ask the gateway.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::find_within as find;
use super::{Order, OrderError, Pipeline, add_payment_event, set_status};
use crate::audit::{self, Actor};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, now_text};
use crate::money::{Currency, Money, MoneyError};
use crate::plugins::{PaymentOutcome, PluginError, PluginRegistry};
use crate::staff::Staff;

/// Status an order is cancelled to (the pipeline must allow the move).
pub const CANCELLED: &str = "Cancelled";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Capture,
    Refund,
    Void,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Capture => "capture",
            Kind::Refund => "refund",
            Kind::Void => "void",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "capture" => Some(Kind::Capture),
            "refund" => Some(Kind::Refund),
            "void" => Some(Kind::Void),
            _ => None,
        }
    }

    /// The column of `payment_source` that holds this kind's reservations.
    fn pending_column(self) -> &'static str {
        match self {
            Kind::Capture => "capturing_minor",
            Kind::Refund => "refunding_minor",
            Kind::Void => "voiding_minor",
        }
    }

    /// The column a successful action adds its amount to.
    fn settled_column(self) -> &'static str {
        match self {
            Kind::Capture => "debited_minor",
            Kind::Refund => "refunded_minor",
            Kind::Void => "voided_minor",
        }
    }

    /// How much of a source is still open to this kind of action (SQL over its columns).
    fn available_sql(self) -> &'static str {
        match self {
            Kind::Capture | Kind::Void => {
                "allocated_minor - debited_minor - voided_minor - capturing_minor - voiding_minor"
            }
            Kind::Refund => "debited_minor - refunded_minor - refunding_minor",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Kind::Capture => "Captured",
            Kind::Refund => "Refunded",
            Kind::Void => "Voided",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Capture => "Capture",
            Kind::Refund => "Refund",
            Kind::Void => "Void",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentActionError {
    /// The gateway declined or failed; its message, and nothing changed.
    #[error("the payment gateway said: {message}")]
    Gateway { message: String },
    /// More than the payment has open for this action.
    #[error("at most {} can be taken here", available.display())]
    TooMuch { available: Money },
    /// The same form was submitted again while its first submission is still with the gateway.
    #[error("this action is already in progress")]
    InProgress,
    /// The amount typed can't be taken (said why).
    #[error("{0}")]
    BadAmount(String),
    /// The action makes no sense for this order now (said why).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What a successful action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The money moved now.
    Applied,
    /// This form was already carried out (a double submit): nothing moved again.
    Repeated,
}

/// What a refund gives back.
#[derive(Debug, Clone)]
pub enum RefundOf {
    Amount(Decimal),
    /// These lines' totals (each line at most once across refunds).
    Lines(Vec<i64>),
}

/// One payment source of an order, as a money action needs it.
#[derive(Debug, Clone)]
struct Source {
    id: i64,
    gateway: String,
    reference: String,
    currency: Currency,
}

/// One money action, as the order page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub id: i64,
    pub kind: Kind,
    pub amount: Money,
    pub state: String,
    pub message: String,
    pub actor: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Money actions are the shop's, never a partner user's: a partner sees only their lines and
/// a payment pays for the whole order.
fn shop_staff_only(staff: &Staff) -> Result<(), PaymentActionError> {
    if staff.partner_scope().is_some() {
        return Err(PaymentActionError::Refused(
            "Only the shop's own staff can move an order's money.".into(),
        ));
    }
    Ok(())
}

async fn source_of(
    pool: &AnyPool,
    order_id: i64,
    source_id: i64,
) -> Result<Source, PaymentActionError> {
    let row = sqlx::query(
        "SELECT id, plugin_id, reference, currency FROM payment_source WHERE id = $1 AND order_id = $2",
    )
    .bind(source_id)
    .bind(order_id)
    .fetch_optional(pool)
    .await?
    .ok_or(OrderError::NotFound)?;
    source_from_row(&row)
}

fn source_from_row(row: &sqlx::any::AnyRow) -> Result<Source, PaymentActionError> {
    let code: String = row.try_get("currency")?;
    Ok(Source {
        id: row.try_get("id")?,
        gateway: row.try_get("plugin_id")?,
        reference: row.try_get("reference")?,
        currency: Currency::from_code(&code)?,
    })
}

/// Captures `amount` of the order's payment `source_id`.
pub async fn capture(
    db: &Db,
    gateways: &Arc<PluginRegistry>,
    staff: &Staff,
    number: &str,
    source_id: i64,
    amount: Decimal,
    key: &str,
) -> Result<Done, PaymentActionError> {
    shop_staff_only(staff)?;
    let order = find(&db.pool, None, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    if order.status == CANCELLED {
        return Err(PaymentActionError::Refused(
            "A cancelled order's payment can't be captured.".into(),
        ));
    }
    let source = source_of(&db.pool, order.id, source_id).await?;
    let amount = positive_in(amount, source.currency)?;
    run(
        db,
        gateways,
        staff,
        &order,
        &source,
        Kind::Capture,
        amount,
        &[],
        key,
    )
    .await
}

/// Refunds part of what was captured on `source_id`: an amount, or the totals of some lines.
pub async fn refund(
    db: &Db,
    gateways: &Arc<PluginRegistry>,
    staff: &Staff,
    number: &str,
    source_id: i64,
    of: RefundOf,
    key: &str,
) -> Result<Done, PaymentActionError> {
    shop_staff_only(staff)?;
    let order = find(&db.pool, None, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    let source = source_of(&db.pool, order.id, source_id).await?;
    let (amount, lines) = match of {
        RefundOf::Amount(amount) => (positive_in(amount, source.currency)?, Vec::new()),
        RefundOf::Lines(ids) => {
            let already = refunded_line_ids(&db.pool, order.id).await?;
            let mut total = rust_decimal::Decimal::ZERO;
            let mut lines = Vec::new();
            for id in ids {
                if lines.contains(&id) {
                    continue;
                }
                let line = order
                    .lines
                    .iter()
                    .find(|l| l.id == id)
                    .ok_or(OrderError::NotFound)?;
                if already.contains(&id) {
                    return Err(PaymentActionError::Refused(format!(
                        "“{}” was already refunded.",
                        line.title
                    )));
                }
                total += line.line_total_incl_tax.amount();
                lines.push(id);
            }
            if lines.is_empty() {
                return Err(PaymentActionError::Refused(
                    "Choose the lines to refund.".into(),
                ));
            }
            (positive_in(total, source.currency)?, lines)
        }
    };
    run(
        db,
        gateways,
        staff,
        &order,
        &source,
        Kind::Refund,
        amount,
        &lines,
        key,
    )
    .await
}

/// Cancels the order: every authorization still open is voided at its gateway, then the
/// order moves to `Cancelled` and its stock is released, in one transaction with its audit
/// entry. Captured money must be refunded first. A void the gateway refuses stops the
/// cancellation with the gateway's message and the order as it was; cancelling again picks
/// up where it stopped (a void already done is not asked for twice).
#[allow(clippy::too_many_arguments)]
pub async fn cancel(
    db: &Db,
    gateways: &Arc<PluginRegistry>,
    pipeline: &Pipeline,
    changes: &Changes,
    staff: &Staff,
    number: &str,
    note: &str,
    key: &str,
) -> Result<Done, PaymentActionError> {
    shop_staff_only(staff)?;
    let order = find(&db.pool, None, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    if order.status == CANCELLED {
        return Ok(Done::Repeated);
    }
    if !pipeline.allows(&order.status, CANCELLED) {
        return Err(OrderError::BadTransition {
            from: order.status.clone(),
            to: CANCELLED.into(),
        }
        .into());
    }
    let rows = sqlx::query(
        "SELECT id, plugin_id, reference, currency, debited_minor - refunded_minor AS kept, \
         capturing_minor + refunding_minor + voiding_minor AS pending, \
         allocated_minor - debited_minor - voided_minor AS open FROM payment_source \
         WHERE order_id = $1 ORDER BY id",
    )
    .bind(order.id)
    .fetch_all(&db.pool)
    .await?;
    let mut to_void = Vec::new();
    for row in &rows {
        let source = source_from_row(row)?;
        let (kept, pending, open): (i64, i64, i64) = (
            row.try_get("kept")?,
            row.try_get("pending")?,
            row.try_get("open")?,
        );
        if pending > 0 {
            return Err(PaymentActionError::InProgress);
        }
        if kept > 0 {
            return Err(PaymentActionError::Refused(format!(
                "{} of this order's payment was captured: refund it before cancelling.",
                Money::from_minor(kept, source.currency).display()
            )));
        }
        if open > 0 {
            to_void.push((source, open));
        }
    }
    for (source, open) in &to_void {
        let amount = Money::from_minor(*open, source.currency);
        let key = format!("{key}/void/{}", source.id);
        run(
            db,
            gateways,
            staff,
            &order,
            source,
            Kind::Void,
            amount,
            &[],
            &key,
        )
        .await?;
    }
    let mut tx = db.begin_write().await?;
    set_status(&mut tx, pipeline, order.id, CANCELLED, note).await?;
    super::tell_status(&mut tx, order.id, CANCELLED).await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "order.cancel",
        "order",
        number,
        Some(&audit::json(&serde_json::json!({ "status": order.status }))),
        Some(&audit::json(
            &serde_json::json!({ "status": CANCELLED, "note": note, "voided": to_void.len() }),
        )),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Stock(
        order.lines.iter().filter_map(|l| l.product_id).collect(),
    ));
    Ok(Done::Applied)
}

/// `amount` in the payment's currency: above zero, and with no more decimal places than the
/// currency has.
fn positive_in(amount: Decimal, currency: Currency) -> Result<Money, PaymentActionError> {
    if amount <= Decimal::ZERO {
        return Err(PaymentActionError::BadAmount(
            "Enter an amount above zero.".into(),
        ));
    }
    Money::parse(&amount.to_string(), currency).map_err(|_| {
        PaymentActionError::BadAmount(format!(
            "Enter an amount in {} with at most {} decimal places.",
            currency.code(),
            currency.minor_digits()
        ))
    })
}

/// Lines already in a refund that succeeded or is still with the gateway.
pub async fn refunded_line_ids(pool: &AnyPool, order_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT lines FROM payment_operation WHERE order_id = $1 AND kind = 'refund' \
         AND state IN ('pending', 'succeeded')",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .flat_map(|l| serde_json::from_str::<Vec<i64>>(l).unwrap_or_default())
        .collect())
}

/// The three steps of one action (see the module's documentation).
#[allow(clippy::too_many_arguments)]
async fn run(
    db: &Db,
    gateways: &Arc<PluginRegistry>,
    staff: &Staff,
    order: &Order,
    source: &Source,
    kind: Kind,
    amount: Money,
    lines: &[i64],
    key: &str,
) -> Result<Done, PaymentActionError> {
    let minor = amount.to_minor()?;
    let Some(operation) = reserve(db, staff, order, source, kind, minor, lines, key).await? else {
        return Ok(Done::Repeated);
    };
    let outcome = ask_gateway(gateways, source, kind, amount).await;
    // The crash test stops here: the gateway has moved the money, the shop has not said so.
    crate::infra::crash_point("money-answered");
    let failure = match outcome {
        Ok(PaymentOutcome::Approved { .. }) => None,
        Ok(PaymentOutcome::Declined { message }) => Some(message),
        Ok(PaymentOutcome::Error { message }) => Some(message),
        Ok(PaymentOutcome::Redirect { .. }) => Some(format!(
            "the gateway answered a {} with a redirect",
            kind.as_str()
        )),
        Err(e) => Some(e.to_string()),
    };
    if let Some(message) = &failure {
        tracing::warn!(order = %order.number, gateway = %source.gateway, "{} of {} failed: {message}", kind.noun(), amount.display());
    }
    let settled = settle(
        db,
        staff,
        order,
        source,
        kind,
        operation,
        minor,
        failure.as_deref(),
    )
    .await;
    if let Err(e) = &settled {
        // The gateway has answered but the shop could not record it: the row stays pending
        // and the order page asks staff to settle it by hand.
        tracing::error!(
            order = %order.number, gateway = %source.gateway, reference = %source.reference,
            "{} of {} {} at the gateway but was NOT recorded ({e}); settle it by hand",
            kind.noun(), amount.display(), if failure.is_none() { "succeeded" } else { "failed" }
        );
    }
    settled?;
    match failure {
        None => Ok(Done::Applied),
        Some(message) => Err(PaymentActionError::Gateway { message }),
    }
}

/// Step 1: the pending row and the reservation, or `None` when this key already succeeded.
#[allow(clippy::too_many_arguments)]
async fn reserve(
    db: &Db,
    staff: &Staff,
    order: &Order,
    source: &Source,
    kind: Kind,
    minor: i64,
    lines: &[i64],
    key: &str,
) -> Result<Option<i64>, PaymentActionError> {
    if let Some(row) = sqlx::query(
        "SELECT state, message FROM payment_operation WHERE idempotency_key = $1 AND order_id = $2",
    )
    .bind(key)
    .bind(order.id)
    .fetch_optional(&db.pool)
    .await?
    {
        let state: String = row.try_get("state")?;
        return match state.as_str() {
            "succeeded" => Ok(None),
            "pending" => Err(PaymentActionError::InProgress),
            _ => Err(PaymentActionError::Gateway {
                message: row.try_get("message")?,
            }),
        };
    }
    let now = now_text();
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO payment_operation (order_id, source_id, kind, amount_minor, idempotency_key, \
         state, lines, staff_id, actor, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(order.id)
    .bind(source.id)
    .bind(kind.as_str())
    .bind(minor)
    .bind(key)
    .bind(serde_json::to_string(lines).unwrap_or_else(|_| "[]".into()))
    .bind(staff.id)
    .bind(&staff.email)
    .bind(&now)
    .fetch_one(&mut *tx)
    .await;
    let operation: i64 = match inserted {
        Ok(row) => row.try_get(0)?,
        // The same form, submitted at the same moment from another request.
        Err(e) if crate::infra::db::unique_violation(&e, "payment_operation").is_some() => {
            return Err(PaymentActionError::InProgress);
        }
        Err(e) => return Err(e.into()),
    };
    let (pending, available) = (kind.pending_column(), kind.available_sql());
    let sql = format!(
        "UPDATE payment_source SET {pending} = {pending} + $2 WHERE id = $1 AND {available} >= $2"
    );
    let reserved = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(source.id)
        .bind(minor)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !reserved {
        let sql = format!("SELECT {available} FROM payment_source WHERE id = $1");
        let open: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(source.id)
            .fetch_one(&mut *tx)
            .await?;
        return Err(PaymentActionError::TooMuch {
            available: Money::from_minor(open.max(0), source.currency),
        });
    }
    tx.commit().await?;
    Ok(Some(operation))
}

async fn ask_gateway(
    gateways: &Arc<PluginRegistry>,
    source: &Source,
    kind: Kind,
    amount: Money,
) -> Result<PaymentOutcome, PluginError> {
    let registry = gateways.clone();
    let (gateway, reference) = (source.gateway.clone(), source.reference.clone());
    tokio::task::spawn_blocking(move || match kind {
        Kind::Capture => registry.capture(&gateway, &reference, &amount),
        Kind::Refund => registry.refund(&gateway, &reference, &amount),
        Kind::Void => registry.void(&gateway, &reference),
    })
    .await
    .map_err(|e| PluginError::Runtime(format!("payment task failed: {e}")))?
}

/// Step 3: the gateway's answer recorded; `failure` is its message when it refused.
#[allow(clippy::too_many_arguments)]
async fn settle(
    db: &Db,
    staff: &Staff,
    order: &Order,
    source: &Source,
    kind: Kind,
    operation: i64,
    minor: i64,
    failure: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    settle_in(
        &mut tx,
        Actor::from(staff),
        order,
        source,
        kind,
        operation,
        minor,
        failure,
    )
    .await?;
    tx.commit().await
}

#[allow(clippy::too_many_arguments)]
async fn settle_in(
    tx: &mut Transaction<'_, Any>,
    actor: Actor<'_>,
    order: &Order,
    source: &Source,
    kind: Kind,
    operation: i64,
    minor: i64,
    failure: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_text();
    // The row leaves `pending` once: whoever settles it second (a racing resolve) changes
    // nothing.
    let first = sqlx::query(
        "UPDATE payment_operation SET state = $2, message = $3, updated_at = $4 WHERE id = $1 AND state = 'pending'",
    )
    .bind(operation)
    .bind(if failure.is_none() { "succeeded" } else { "failed" })
    .bind(failure.unwrap_or_default())
    .bind(&now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !first {
        return Ok(());
    }
    let (pending, settled) = (kind.pending_column(), kind.settled_column());
    let sql = match failure {
        None => format!(
            "UPDATE payment_source SET {pending} = {pending} - $2, {settled} = {settled} + $2 WHERE id = $1"
        ),
        Some(_) => format!("UPDATE payment_source SET {pending} = {pending} - $2 WHERE id = $1"),
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(source.id)
        .bind(minor)
        .execute(&mut **tx)
        .await?;
    if failure.is_none() {
        add_payment_event(tx, order.id, kind.as_str(), minor, &source.reference).await?;
        if kind == Kind::Void {
            // The ledger of authorizations agrees: this one is released, not held by an order.
            sqlx::query(
                "UPDATE payment_claim SET state = 'voided', updated_at = $3 \
                 WHERE gateway = $1 AND reference = $2 AND state = 'ordered'",
            )
            .bind(&source.gateway)
            .bind(&source.reference)
            .bind(&now)
            .execute(&mut **tx)
            .await?;
        }
    }
    let amount = Money::from_minor(minor, source.currency);
    audit::record(
        tx,
        actor,
        &format!("order.{}", kind.as_str()),
        "order",
        &order.number,
        None,
        Some(&audit::json(&serde_json::json!({
            "amount": amount.amount().to_string(),
            "currency": source.currency.code(),
            "gateway": source.gateway,
            "reference": source.reference,
            "succeeded": failure.is_none(),
            "message": failure,
        }))),
    )
    .await?;
    Ok(())
}

/// Staff settle an action whose outcome the shop never recorded (it stopped while the
/// gateway answered), once they have checked at the provider whether the money moved.
pub async fn resolve_pending(
    db: &Db,
    staff: &Staff,
    number: &str,
    operation: i64,
    money_moved: bool,
) -> Result<(), PaymentActionError> {
    shop_staff_only(staff)?;
    let order = find(&db.pool, None, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    let row = sqlx::query(
        "SELECT o.kind, o.amount_minor, o.state, s.id, s.plugin_id, s.reference, s.currency \
         FROM payment_operation o JOIN payment_source s ON s.id = o.source_id \
         WHERE o.id = $1 AND o.order_id = $2",
    )
    .bind(operation)
    .bind(order.id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(OrderError::NotFound)?;
    if row.try_get::<String, _>("state")? != "pending" {
        // A second click, or someone else settled it first.
        return Err(PaymentActionError::Refused(
            "This action was already settled.".into(),
        ));
    }
    let kind = Kind::parse(&row.try_get::<String, _>("kind")?)
        .ok_or_else(|| PaymentActionError::Refused("This action is of an unknown kind.".into()))?;
    let minor: i64 = row.try_get("amount_minor")?;
    let source = source_from_row(&row)?;
    let failure = format!("settled by hand by {}: the money did not move", staff.email);
    let mut tx = db.begin_write().await?;
    settle_in(
        &mut tx,
        Actor::from(staff),
        &order,
        &source,
        kind,
        operation,
        minor,
        (!money_moved).then_some(failure.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The order's money actions, oldest first.
pub async fn operations(pool: &AnyPool, order_id: i64) -> Result<Vec<Operation>, sqlx::Error> {
    sqlx::query(
        "SELECT o.id, o.kind, o.amount_minor, o.state, o.message, o.actor, o.created_at, \
         o.updated_at, s.currency FROM payment_operation o \
         JOIN payment_source s ON s.id = o.source_id WHERE o.order_id = $1 ORDER BY o.id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?
    .iter()
    .filter_map(|r| {
        let currency = Currency::from_code(&r.try_get::<String, _>("currency").ok()?).ok()?;
        let kind = Kind::parse(&r.try_get::<String, _>("kind").ok()?)?;
        Some(Ok(Operation {
            id: r.try_get("id").ok()?,
            kind,
            amount: Money::from_minor(r.try_get("amount_minor").ok()?, currency),
            state: r.try_get("state").ok()?,
            message: r.try_get("message").ok()?,
            actor: r.try_get("actor").ok()?,
            created_at: r.try_get("created_at").ok()?,
            updated_at: r.try_get("updated_at").ok()?,
        }))
    })
    .collect()
}

impl Operation {
    /// "Captured £10.00", "Refund of £5.00 failed", "Void of £17.45: outcome unknown".
    pub fn summary(&self) -> String {
        let amount = self.amount.display();
        match self.state.as_str() {
            "succeeded" => format!("{} {amount}", self.kind.past()),
            "failed" => format!("{} of {amount} failed", self.kind.noun()),
            _ => format!("{} of {amount}: with the gateway", self.kind.noun()),
        }
    }
}
