//! Who holds each approved authorization: an order, or a void.
//!
//! An approval is recorded (`authorized`) as soon as the shop sees it. Placing the order moves
//! the row to `ordered` inside the order's own transaction; voiding moves it to `voiding` first
//! and only then asks the provider. Both moves start only from `authorized`, in one conditional
//! statement on one row, so exactly one of them wins, on SQLite (one writer) and PostgreSQL (the
//! row lock makes the loser wait and then see the winner's state). Whatever races (a webhook
//! and the browser return, a double submit, a crash and the recovery pass), a payment an order
//! holds is never voided and a voided payment never pays for an order.
//!
//! A void the provider refuses stays `voiding` and is retried with back-off by [`retry_due`]
//! (the background sweep), then `void_failed` for the merchant to settle by hand.

use std::sync::Arc;

use sqlx::{Any, AnyPool, Row, Transaction};

use crate::infra::db::{Db, now_text};
use crate::money::Money;
use crate::plugins::{PaymentOutcome, PluginRegistry};

/// Void attempts before a void is left to the merchant (`void_failed`).
pub const MAX_VOID_ATTEMPTS: i64 = 10;

/// How long a void in progress belongs to the request (or sweep) that started it: the retry
/// pass leaves it alone meanwhile, so two processes never void the same payment at once.
const LEASE: std::time::Duration = std::time::Duration::from_secs(300);

/// What became of a void the shop wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoidResult {
    /// The provider cancelled the authorization.
    Voided,
    /// An order holds this payment: it was not voided, and must not be.
    HeldByOrder { order_id: Option<i64> },
    /// Another request already voided it (or is voiding it).
    AlreadyVoided,
    /// The provider refused or failed; recorded and retried later.
    Failed { error: String },
}

/// One row of the ledger, for the recovery pass and for the merchant's view.
#[derive(Debug, Clone)]
pub struct Claim {
    pub gateway: String,
    pub reference: String,
    pub state: String,
    pub order_id: Option<i64>,
    pub amount: Money,
    pub attempts: i64,
    pub last_error: String,
}

/// Records an approval nobody has decided on yet. Recording the same approval again (a retried
/// submit the gateway answered with the same authorization) keeps the first row as it is.
pub async fn record_authorized(
    pool: &AnyPool,
    gateway: &str,
    reference: &str,
    amount: Money,
) -> Result<(), sqlx::Error> {
    let now = now_text();
    sqlx::query(
        "INSERT INTO payment_claim (gateway, reference, state, currency, amount_minor, \
         next_attempt_at, created_at, updated_at) VALUES ($1, $2, 'authorized', $3, $4, $5, $5, $5) \
         ON CONFLICT (gateway, reference) DO NOTHING",
    )
    .bind(gateway)
    .bind(reference)
    .bind(amount.currency().code())
    .bind(minor(amount)?)
    .bind(&now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Inside the order's transaction: the order takes the payment. False when a void got there
/// first (the order must then not be written).
pub async fn hold_for_order(
    tx: &mut Transaction<'_, Any>,
    gateway: &str,
    reference: &str,
    amount: Money,
    order_id: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_text();
    let done = sqlx::query(
        "INSERT INTO payment_claim (gateway, reference, state, order_id, currency, amount_minor, \
         next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, 'ordered', $3, $4, $5, $6, $6, $6) \
         ON CONFLICT (gateway, reference) DO UPDATE SET state = 'ordered', \
         order_id = excluded.order_id, updated_at = excluded.updated_at \
         WHERE payment_claim.state = 'authorized'",
    )
    .bind(gateway)
    .bind(reference)
    .bind(order_id)
    .bind(amount.currency().code())
    .bind(minor(amount)?)
    .bind(&now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Voids `reference` unless an order holds it. The decision is taken on the ledger row first;
/// only a void that won the row calls the provider.
pub async fn void_unless_held(
    db: &Db,
    plugins: &Arc<PluginRegistry>,
    gateway: &str,
    reference: &str,
    amount: Money,
) -> Result<VoidResult, sqlx::Error> {
    let now = now_text();
    let won = sqlx::query(
        "INSERT INTO payment_claim (gateway, reference, state, currency, amount_minor, \
         next_attempt_at, created_at, updated_at) VALUES ($1, $2, 'voiding', $3, $4, $6, $5, $5) \
         ON CONFLICT (gateway, reference) DO UPDATE SET state = 'voiding', \
         next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at \
         WHERE payment_claim.state = 'authorized'",
    )
    .bind(gateway)
    .bind(reference)
    .bind(amount.currency().code())
    .bind(minor(amount)?)
    .bind(&now)
    .bind(after(LEASE))
    .execute(&db.pool)
    .await?
    .rows_affected()
        == 1;
    if !won {
        let row = sqlx::query(
            "SELECT state, order_id FROM payment_claim WHERE gateway = $1 AND reference = $2",
        )
        .bind(gateway)
        .bind(reference)
        .fetch_one(&db.pool)
        .await?;
        let state: String = row.try_get("state")?;
        return Ok(if state == "ordered" {
            tracing::info!(
                "Kept payment {reference} at {gateway}: an order holds it, so it is not voided."
            );
            VoidResult::HeldByOrder {
                order_id: row.try_get("order_id")?,
            }
        } else {
            VoidResult::AlreadyVoided
        });
    }
    attempt_void(db, plugins, gateway, reference).await
}

/// One call to the provider for a void this process owns (state `voiding`), recorded.
async fn attempt_void(
    db: &Db,
    plugins: &Arc<PluginRegistry>,
    gateway: &str,
    reference: &str,
) -> Result<VoidResult, sqlx::Error> {
    let error = match crate::payment::void(plugins, gateway, reference).await {
        Ok(PaymentOutcome::Approved { .. }) => None,
        Ok(PaymentOutcome::Declined { message }) => Some(format!("declined: {message}")),
        Ok(PaymentOutcome::Error { message }) => Some(message),
        Ok(PaymentOutcome::Redirect { .. }) => {
            Some("the gateway answered a void with a redirect".into())
        }
        Err(e) => Some(e.to_string()),
    };
    let now = now_text();
    match error {
        None => {
            sqlx::query(
                "UPDATE payment_claim SET state = 'voided', attempts = attempts + 1, \
                 last_error = '', updated_at = $3 WHERE gateway = $1 AND reference = $2",
            )
            .bind(gateway)
            .bind(reference)
            .bind(&now)
            .execute(&db.pool)
            .await?;
            tracing::warn!("Voided payment {reference} at {gateway}: no order was written for it.");
            Ok(VoidResult::Voided)
        }
        Some(error) => {
            let row = sqlx::query(
                "UPDATE payment_claim SET attempts = attempts + 1, last_error = $3, updated_at = $4 \
                 WHERE gateway = $1 AND reference = $2 RETURNING attempts",
            )
            .bind(gateway)
            .bind(reference)
            .bind(&error)
            .bind(&now)
            .fetch_one(&db.pool)
            .await?;
            let attempts: i64 = row.try_get(0)?;
            let gave_up = attempts >= MAX_VOID_ATTEMPTS;
            sqlx::query(
                "UPDATE payment_claim SET state = $3, next_attempt_at = $4 \
                 WHERE gateway = $1 AND reference = $2",
            )
            .bind(gateway)
            .bind(reference)
            .bind(if gave_up { "void_failed" } else { "voiding" })
            .bind(after(backoff(attempts)))
            .execute(&db.pool)
            .await?;
            if gave_up {
                tracing::error!(
                    "VOID FAILED for good: payment {reference} at {gateway} has no order and the \
                     provider refused {attempts} voids (last: {error}); cancel it by hand."
                );
            } else {
                tracing::error!(
                    "Void of payment {reference} at {gateway} failed (attempt {attempts}: {error}); \
                     it will be retried."
                );
            }
            Ok(VoidResult::Failed { error })
        }
    }
}

/// The recovery pass, at start-up and from the background sweep: voids that are due again, and
/// approvals older than `undecided_grace` that no order took (the process died between the
/// approval and the order's commit). Returns how many voids were attempted.
pub async fn retry_due(
    db: &Db,
    plugins: &Arc<PluginRegistry>,
    undecided_grace: std::time::Duration,
) -> Result<usize, sqlx::Error> {
    let now = now_text();
    let due: Vec<(String, String)> = sqlx::query(
        "SELECT gateway, reference FROM payment_claim \
         WHERE state = 'voiding' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 100",
    )
    .bind(&now)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let undecided_before = before(undecided_grace);
    let undecided: Vec<(String, String, Money)> = sqlx::query(
        "SELECT gateway, reference, currency, amount_minor FROM payment_claim \
         WHERE state = 'authorized' AND created_at <= $1 ORDER BY created_at LIMIT 100",
    )
    .bind(&undecided_before)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .filter_map(|r| {
        let currency = crate::money::Currency::from_code(&r.try_get::<String, _>(2).ok()?).ok()?;
        Some((
            r.try_get(0).ok()?,
            r.try_get(1).ok()?,
            Money::from_minor(r.try_get(3).ok()?, currency),
        ))
    })
    .collect();
    let mut attempted = 0;
    for (gateway, reference) in &due {
        // Take the lease first: another process's sweep may have picked the same row.
        let mine = sqlx::query(
            "UPDATE payment_claim SET next_attempt_at = $4 WHERE gateway = $1 AND reference = $2 \
             AND state = 'voiding' AND next_attempt_at <= $3",
        )
        .bind(gateway)
        .bind(reference)
        .bind(&now)
        .bind(after(LEASE))
        .execute(&db.pool)
        .await?
        .rows_affected()
            == 1;
        if mine {
            attempt_void(db, plugins, gateway, reference).await?;
            attempted += 1;
        }
    }
    for (gateway, reference, amount) in undecided {
        tracing::warn!(
            "Payment {reference} at {gateway} was approved but no order took it (the shop \
             stopped mid-checkout); voiding it."
        );
        if matches!(
            void_unless_held(db, plugins, &gateway, &reference, amount).await?,
            VoidResult::Voided | VoidResult::Failed { .. }
        ) {
            attempted += 1;
        }
    }
    Ok(attempted)
}

/// Voids not yet confirmed by the provider (`voiding`, `void_failed`), oldest first: the
/// merchant's to-do list.
pub async fn unsettled_voids(pool: &AnyPool) -> Result<Vec<Claim>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT gateway, reference, state, order_id, currency, amount_minor, attempts, last_error \
         FROM payment_claim WHERE state IN ('voiding', 'void_failed') ORDER BY created_at",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(claim_from_row).collect()
}

/// The ledger row of one payment.
pub async fn find(
    pool: &AnyPool,
    gateway: &str,
    reference: &str,
) -> Result<Option<Claim>, sqlx::Error> {
    sqlx::query(
        "SELECT gateway, reference, state, order_id, currency, amount_minor, attempts, last_error \
         FROM payment_claim WHERE gateway = $1 AND reference = $2",
    )
    .bind(gateway)
    .bind(reference)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(claim_from_row)
    .transpose()
}

fn claim_from_row(row: &sqlx::any::AnyRow) -> Result<Claim, sqlx::Error> {
    let code: String = row.try_get("currency")?;
    let currency =
        crate::money::Currency::from_code(&code).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Claim {
        gateway: row.try_get("gateway")?,
        reference: row.try_get("reference")?,
        state: row.try_get("state")?,
        order_id: row.try_get("order_id")?,
        amount: Money::from_minor(row.try_get("amount_minor")?, currency),
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

fn minor(amount: Money) -> Result<i64, sqlx::Error> {
    amount
        .to_minor()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// 30 s doubling per attempt, at most an hour (like the mail outbox).
fn backoff(attempts: i64) -> std::time::Duration {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    std::time::Duration::from_secs((30u64 << exp).min(3600))
}

fn after(d: std::time::Duration) -> String {
    shift(time::Duration::try_from(d).unwrap_or(time::Duration::HOUR))
}

fn before(d: std::time::Duration) -> String {
    shift(-time::Duration::try_from(d).unwrap_or(time::Duration::HOUR))
}

fn shift(by: time::Duration) -> String {
    let at = time::OffsetDateTime::now_utc() + by;
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(backoff(1).as_secs(), 30);
        assert_eq!(backoff(2).as_secs(), 60);
        assert_eq!(backoff(5).as_secs(), 480);
        assert_eq!(backoff(9).as_secs(), 3600);
    }
}
