//! Redirect payments in flight, kept in the database (not only in the customer's session) so
//! that the provider's server-to-server notification can place the order when the customer
//! paid but never came back to the shop. Whichever arrives first, the browser return or the
//! webhook, places the order; the other finds it placed (one order per basket).

use sqlx::{AnyPool, Row};

use super::{CheckoutError, Current, Deps, Outcome, PendingPayment, Submission};
use crate::address::Address;
use crate::basket::{self, BasketError, Pricer};
use crate::infra::db::now_text;
use crate::money::{Currency, Money};
use crate::plugins::PaymentOutcome;
use crate::shipping::Method;

/// A pending payment as checkout left it when the customer went to the provider.
#[derive(Debug, Clone)]
pub struct Stored {
    pub basket_id: i64,
    pub customer_id: Option<i64>,
    pub email: String,
    pub shipping_address: Address,
    /// `None`: billed to the shipping address.
    pub billing_address: Option<Address>,
    pub method: Method,
    pub fingerprint: String,
    pub amount: Money,
    pub site_url: String,
}

/// Remembers a redirect payment that just started (a retried start keeps the first row).
pub async fn remember(
    pool: &AnyPool,
    sub: &Submission<'_>,
    pending: &PendingPayment,
) -> Result<(), CheckoutError> {
    sqlx::query(
        "INSERT INTO pending_payment (gateway, reference, basket_id, customer_id, email, \
         shipping_address, billing_address, shipping_method, fingerprint, currency, amount_minor, \
         site_url, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (gateway, reference) DO NOTHING",
    )
    .bind(&pending.gateway)
    .bind(&pending.reference)
    .bind(sub.basket.id)
    .bind(sub.customer_id)
    .bind(sub.email)
    .bind(serde_json::to_string(sub.shipping_address)?)
    .bind(
        (sub.billing_address != sub.shipping_address)
            .then(|| serde_json::to_string(sub.billing_address))
            .transpose()?,
    )
    .bind(serde_json::to_string(sub.method)?)
    .bind(&pending.fingerprint)
    .bind(pending.amount.currency().code())
    .bind(pending.amount.to_minor()?)
    .bind(sub.site_url)
    .bind(now_text())
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a payment once it is decided.
pub async fn forget(pool: &AnyPool, gateway: &str, reference: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM pending_payment WHERE gateway = $1 AND reference = $2")
        .bind(gateway)
        .bind(reference)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets payments started before `before` (RFC 3339) that nothing decided: a declined
/// payment whose customer never came back leaves its row, and no provider keeps an
/// authorization open for weeks. Returns how many were removed.
pub async fn sweep(pool: &AnyPool, before: &str) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM pending_payment WHERE created_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub async fn find(
    pool: &AnyPool,
    gateway: &str,
    reference: &str,
) -> Result<Option<Stored>, CheckoutError> {
    let row = sqlx::query(
        "SELECT basket_id, customer_id, email, shipping_address, billing_address, shipping_method, \
         fingerprint, currency, amount_minor, site_url FROM pending_payment \
         WHERE gateway = $1 AND reference = $2",
    )
    .bind(gateway)
    .bind(reference)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let currency = Currency::from_code(&row.try_get::<String, _>("currency")?)?;
    Ok(Some(Stored {
        basket_id: row.try_get("basket_id")?,
        customer_id: row.try_get("customer_id")?,
        email: row.try_get("email")?,
        shipping_address: serde_json::from_str(&row.try_get::<String, _>("shipping_address")?)?,
        billing_address: row
            .try_get::<Option<String>, _>("billing_address")?
            .map(|text| serde_json::from_str(&text))
            .transpose()?,
        method: serde_json::from_str(&row.try_get::<String, _>("shipping_method")?)?,
        fingerprint: row.try_get("fingerprint")?,
        amount: Money::from_minor(row.try_get("amount_minor")?, currency),
        site_url: row.try_get("site_url")?,
    }))
}

/// What a provider's notification led to.
#[derive(Debug)]
pub enum WebhookResult {
    /// No payment of ours is pending under that reference (already decided, or not ours).
    Unknown,
    /// The payment was decided: the order placed (now or before), or the payment refused or
    /// voided (the message says why).
    Decided(Outcome),
}

/// Places the order of a redirect payment the provider says was approved, exactly as the
/// browser return would have, from what checkout stored when the customer left.
pub async fn complete_from_webhook<'p>(
    deps: &Deps<'_>,
    pricer: impl Fn(Option<i64>) -> Pricer<'p>,
    gateway: &str,
    outcome: PaymentOutcome,
) -> Result<WebhookResult, CheckoutError> {
    let PaymentOutcome::Approved { reference, .. } = &outcome else {
        return Ok(WebhookResult::Unknown);
    };
    let reference = reference.clone();
    let Some(stored) = find(&deps.db.pool, gateway, &reference).await? else {
        return Ok(WebhookResult::Unknown);
    };
    let pending = PendingPayment {
        gateway: gateway.to_string(),
        reference: reference.clone(),
        fingerprint: stored.fingerprint.clone(),
        amount: stored.amount,
        basket_id: Some(stored.basket_id),
    };
    // A basket that is gone or was ordered meanwhile can't be ordered again; the approval is
    // then voided unless an order holds it.
    let priced = match basket::priced(pricer(stored.customer_id), stored.basket_id, false).await {
        Ok(priced) => Some(priced),
        Err(BasketError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let fingerprint = priced
        .as_ref()
        .map(|p| super::fingerprint(p, &stored.method))
        .unwrap_or_default();
    let current = match &priced {
        Some(priced) => Current::Ready(Box::new(Submission {
            basket: priced,
            customer_id: stored.customer_id,
            email: &stored.email,
            shipping_address: &stored.shipping_address,
            billing_address: stored
                .billing_address
                .as_ref()
                .unwrap_or(&stored.shipping_address),
            method: &stored.method,
            gateway,
            card: None,
            return_url: String::new(),
            fingerprint: &fingerprint,
            site_url: &stored.site_url,
        })),
        None => Current::Gone,
    };
    let decided = super::complete_redirect(deps, &pending, outcome, current).await?;
    forget(&deps.db.pool, gateway, &reference).await?;
    Ok(WebhookResult::Decided(decided))
}
