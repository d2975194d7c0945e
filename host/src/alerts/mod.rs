//! Back-in-stock alerts: "email me when this can be bought again".
//!
//! A signed-in customer's alert is active at once. A guest's waits until they follow the link
//! sent to the address they typed, so nobody can sign someone else up. Asking answers the same
//! whether or not an alert already exists. [`dispatch`], run by a background task, asks the
//! pricing strategy (the same one the product page asks) which products with active alerts
//! can be bought again, and queues one email per alert through the outbox in the transaction
//! that marks it sent. Every email carries an unsubscribe link that cancels every open alert
//! of its address. Only SHA-256 hashes of the links' secrets are stored, so a link's secret is
//! made when its email is written (the alert's own email gets a fresh unsubscribe link).

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool, Row};

use crate::customer::Sender;
use crate::infra::db::{Db, now_text};
use crate::mail;
use crate::money::Currency;
use crate::pricing::Pricing;

/// Open alerts one address may hold: enough for anyone, bounded for everyone.
pub const MAX_OPEN_PER_EMAIL: i64 = 50;
/// Alerts sent per pass; the next pass takes the rest.
const BATCH: i64 = 500;
pub const CONFIRM_PATH: &str = "/alerts/confirm/";
pub const UNSUBSCRIBE_PATH: &str = "/alerts/unsubscribe/";

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Pricing(#[from] crate::pricing::PricingError),
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What asking for an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// Active now (a customer's).
    Active,
    /// A guest's: a confirmation link is on its way (or was, or the address holds enough
    /// alerts already; the guest is told the same).
    ConfirmationSent,
    /// The product can be bought now: no alert needed.
    AvailableNow,
    /// There is already an open alert for this product and address (a customer's).
    AlreadyOpen,
    NoSuchProduct,
}

/// A product as alerts know it: its title and page.
struct Product {
    title: String,
    url: String,
    track_stock: bool,
    root_id: i64,
}

async fn product(pool: &AnyPool, id: i64) -> Result<Option<Product>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT p.title, p.slug, COALESCE(p.parent_id, p.id) AS root_id, \
         COALESCE(pc.track_stock, rc.track_stock, TRUE) AS track_stock \
         FROM product p LEFT JOIN product parent ON parent.id = p.parent_id \
         LEFT JOIN product_class pc ON pc.id = p.product_class_id \
         LEFT JOIN product_class rc ON rc.id = parent.product_class_id \
         WHERE p.id = $1 AND p.is_public AND p.structure <> 'parent'",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let slug: String = row.try_get("slug")?;
    Ok(Some(Product {
        title: row.try_get("title")?,
        url: crate::catalogue::product_url(&slug, id),
        track_stock: crate::infra::db::flag(&row, "track_stock")?,
        root_id: row.try_get("root_id")?,
    }))
}

/// Which of `products` (id → (root id, tracks stock)) the pricing strategy says can be
/// bought now.
async fn available(
    pricing: &Pricing,
    pool: &AnyPool,
    currency: Currency,
    products: &HashMap<i64, (i64, bool)>,
) -> Result<Vec<i64>, AlertError> {
    let mut roots: Vec<(i64, bool)> = products.values().copied().collect();
    roots.sort_unstable();
    roots.dedup();
    let priced = crate::pricing::price_listing(pricing, pool, currency, &roots).await?;
    Ok(products
        .keys()
        .copied()
        .filter(|id| priced.get(id).is_some_and(|p| p.availability.is_available))
        .collect())
}

/// Where the pricing strategy lives, for asking whether a product can be bought.
pub struct Shop<'a> {
    pub db: &'a Db,
    pub pricing: &'a Pricing,
    pub currency: Currency,
    pub sender: &'a Sender<'a>,
}

/// The page of a product alerts can be asked for (public, not a parent), if there is one.
pub async fn product_page(pool: &AnyPool, id: i64) -> Result<Option<String>, sqlx::Error> {
    Ok(product(pool, id).await?.map(|p| p.url))
}

/// Asks for an alert on `product_id` for `email` (a customer's own address when
/// `customer_id` is set; any address a guest typed otherwise, already checked for form).
pub async fn ask(
    shop: &Shop<'_>,
    product_id: i64,
    customer_id: Option<i64>,
    email: &str,
) -> Result<Asked, AlertError> {
    let pool = &shop.db.pool;
    let Some(found) = product(pool, product_id).await? else {
        return Ok(Asked::NoSuchProduct);
    };
    let one = HashMap::from([(product_id, (found.root_id, found.track_stock))]);
    if !available(shop.pricing, pool, shop.currency, &one)
        .await?
        .is_empty()
    {
        return Ok(Asked::AvailableNow);
    }
    let email = crate::customer::normalize_email(email);
    let mut tx = shop.db.begin_write().await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM product_alert WHERE email = $1 \
         AND status IN ('unconfirmed', 'active')",
    )
    .bind(&email)
    .fetch_one(&mut *tx)
    .await?;
    let exists: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, status FROM product_alert WHERE product_id = $1 AND email = $2 \
         AND status IN ('unconfirmed', 'active')",
    )
    .bind(product_id)
    .bind(&email)
    .fetch_optional(&mut *tx)
    .await?;
    let unsubscribe = crate::infra::random_token();
    let now = now_text();
    let outcome = match (customer_id, exists) {
        (Some(_), Some((id, status))) => {
            if status == "unconfirmed" {
                // The owner of the address is signed in: that is confirmation enough.
                sqlx::query(
                    "UPDATE product_alert SET status = 'active', confirmed_at = $2, \
                     customer_id = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(&now)
                .bind(customer_id)
                .execute(&mut *tx)
                .await?;
                Asked::Active
            } else {
                Asked::AlreadyOpen
            }
        }
        (None, Some(_)) => Asked::ConfirmationSent,
        (_, None) if open >= MAX_OPEN_PER_EMAIL => match customer_id {
            Some(_) => Asked::AlreadyOpen,
            None => Asked::ConfirmationSent,
        },
        (Some(customer_id), None) => {
            sqlx::query(
                "INSERT INTO product_alert (product_id, customer_id, email, status, \
                 unsubscribe_hash, created_at, confirmed_at) \
                 VALUES ($1, $2, $3, 'active', $4, $5, $5)",
            )
            .bind(product_id)
            .bind(customer_id)
            .bind(&email)
            .bind(hash(&unsubscribe))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            Asked::Active
        }
        (None, None) => {
            let confirm = crate::infra::random_token();
            sqlx::query(
                "INSERT INTO product_alert (product_id, email, status, confirm_hash, \
                 unsubscribe_hash, created_at) VALUES ($1, $2, 'unconfirmed', $3, $4, $5)",
            )
            .bind(product_id)
            .bind(&email)
            .bind(hash(&confirm))
            .bind(hash(&unsubscribe))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            let site = &shop.sender.site_url;
            let ctx = minijinja::context! {
                shop_name => shop.sender.shop_name,
                product => found.title,
                product_link => format!("{site}{}", found.url),
                confirm_link => format!("{site}{CONFIRM_PATH}{confirm}/"),
                unsubscribe_link => format!("{site}{UNSUBSCRIBE_PATH}{}/", unsubscribe),
            };
            let dedupe = format!("alert-confirm:{product_id}:{email}");
            queue(
                &mut tx,
                shop.sender,
                "product_alert_confirm",
                ctx,
                &email,
                &dedupe,
                // A guest's: in no account's history.
                None,
            )
            .await?;
            Asked::ConfirmationSent
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Queues an alert email (in the email history of `history`'s account when given); a theme
/// or address problem costs the message, not the change.
async fn queue(
    conn: &mut AnyConnection,
    sender: &Sender<'_>,
    template: &str,
    ctx: minijinja::Value,
    to: &str,
    dedupe: &str,
    history: Option<mail::History>,
) -> Result<(), sqlx::Error> {
    let message = match mail::render_in(conn, sender.templates, template, ctx).await {
        Ok(message) => message,
        Err(mail::MailError::Db(e)) => return Err(e),
        Err(e) => {
            tracing::error!(error = %e, template, "alert email not rendered");
            return Ok(());
        }
    };
    match mail::enqueue_for(conn, &message.to(to), Some(dedupe), history).await {
        Ok(_) => Ok(()),
        Err(mail::MailError::Db(e)) => Err(e),
        Err(e) => {
            tracing::warn!(error = %e, template, "alert email not queued");
            Ok(())
        }
    }
}

/// The product's title of the alert a live confirmation link would activate.
pub async fn pending_confirmation(
    pool: &AnyPool,
    token: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT p.title FROM product_alert a JOIN product p ON p.id = a.product_id \
         WHERE a.confirm_hash = $1 AND a.status IN ('unconfirmed', 'active')",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await
}

/// The address whose open alerts an unsubscribe link would cancel.
pub async fn unsubscribe_target(
    pool: &AnyPool,
    token: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM product_alert WHERE unsubscribe_hash = $1")
        .bind(hash(token))
        .fetch_optional(pool)
        .await
}

/// Follows a guest's confirmation link: the alert becomes active. The product's title when
/// the link was live (or was already followed), else `None`.
pub async fn confirm(db: &Db, token: &str) -> Result<Option<String>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let title: Option<String> = sqlx::query_scalar(
        "SELECT p.title FROM product_alert a JOIN product p ON p.id = a.product_id \
         WHERE a.confirm_hash = $1 AND a.status IN ('unconfirmed', 'active')",
    )
    .bind(hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE product_alert SET status = 'active', confirmed_at = $2 \
         WHERE confirm_hash = $1 AND status = 'unconfirmed'",
    )
    .bind(hash(token))
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(title)
}

/// Follows an unsubscribe link: every open alert of the link's address is cancelled. The
/// address, or `None` for a link that is no link of ours.
pub async fn unsubscribe(db: &Db, token: &str) -> Result<Option<String>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let email: Option<String> =
        sqlx::query_scalar("SELECT email FROM product_alert WHERE unsubscribe_hash = $1")
            .bind(hash(token))
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(email) = &email {
        sqlx::query(
            "UPDATE product_alert SET status = 'cancelled', cancelled_at = $2 \
             WHERE email = $1 AND status IN ('unconfirmed', 'active')",
        )
        .bind(email)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(email)
}

/// One of a customer's alerts, as their account lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: i64,
    pub product_title: String,
    pub product_url: String,
    pub status: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// The customer's alerts, open ones first, then the newest.
pub async fn for_customer(pool: &AnyPool, customer_id: i64) -> Result<Vec<Listed>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, p.title, p.slug, a.product_id, a.status, a.created_at, a.sent_at \
         FROM product_alert a JOIN product p ON p.id = a.product_id \
         WHERE a.customer_id = $1 AND a.status <> 'cancelled' \
         ORDER BY CASE WHEN a.status = 'active' THEN 0 ELSE 1 END, a.id DESC LIMIT 200",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let slug: String = r.try_get("slug")?;
            Ok(Listed {
                id: r.try_get("id")?,
                product_title: r.try_get("title")?,
                product_url: crate::catalogue::product_url(&slug, r.try_get("product_id")?),
                status: r.try_get("status")?,
                created_at: r.try_get("created_at")?,
                sent_at: r.try_get("sent_at")?,
            })
        })
        .collect()
}

/// Cancels one of the customer's open alerts; false when it isn't theirs or isn't open.
pub async fn cancel(db: &Db, customer_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE product_alert SET status = 'cancelled', cancelled_at = $3 \
         WHERE id = $1 AND customer_id = $2 AND status IN ('unconfirmed', 'active')",
    )
    .bind(id)
    .bind(customer_id)
    .bind(now_text())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(done == 1)
}

/// Sends the emails of active alerts whose product can be bought again: up to a batch per
/// call, each alert once (the update that marks it sent is the claim, so two processes
/// running passes at once send it once). Returns how many were sent.
pub async fn dispatch(shop: &Shop<'_>) -> Result<usize, AlertError> {
    let pool = &shop.db.pool;
    let rows = sqlx::query(
        "SELECT DISTINCT a.product_id, COALESCE(p.parent_id, p.id) AS root_id, \
         COALESCE(pc.track_stock, rc.track_stock, TRUE) AS track_stock \
         FROM product_alert a JOIN product p ON p.id = a.product_id \
         LEFT JOIN product parent ON parent.id = p.parent_id \
         LEFT JOIN product_class pc ON pc.id = p.product_class_id \
         LEFT JOIN product_class rc ON rc.id = parent.product_class_id \
         WHERE a.status = 'active' AND p.is_public",
    )
    .fetch_all(pool)
    .await?;
    let mut waiting = HashMap::new();
    for r in &rows {
        waiting.insert(
            r.try_get::<i64, _>("product_id")?,
            (
                r.try_get::<i64, _>("root_id")?,
                crate::infra::db::flag(r, "track_stock")?,
            ),
        );
    }
    if waiting.is_empty() {
        return Ok(0);
    }
    let mut sent = 0;
    for product_id in available(shop.pricing, pool, shop.currency, &waiting).await? {
        let Some(found) = product(pool, product_id).await? else {
            continue;
        };
        let alerts: Vec<(i64, String, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, email, customer_id FROM product_alert WHERE product_id = $1 \
             AND status = 'active' ORDER BY id LIMIT {BATCH}"
        )))
        .bind(product_id)
        .fetch_all(pool)
        .await?;
        let mut tx = shop.db.begin_write().await?;
        for (id, email, customer_id) in alerts {
            let unsubscribe = crate::infra::random_token();
            let claimed = sqlx::query(
                "UPDATE product_alert SET status = 'sent', sent_at = $2, unsubscribe_hash = $3 \
                 WHERE id = $1 AND status = 'active'",
            )
            .bind(id)
            .bind(now_text())
            .bind(hash(&unsubscribe))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                continue;
            }
            let site = &shop.sender.site_url;
            let ctx = minijinja::context! {
                shop_name => shop.sender.shop_name,
                product => &found.title,
                product_link => format!("{site}{}", found.url),
                unsubscribe_link => format!("{site}{UNSUBSCRIBE_PATH}{}/", unsubscribe),
            };
            queue(
                &mut tx,
                shop.sender,
                "product_alert",
                ctx,
                &email,
                &format!("alert:{id}"),
                customer_id.map(|customer_id| mail::History {
                    customer_id,
                    keep_body: true,
                }),
            )
            .await?;
            if let Some(customer_id) = customer_id {
                let body = format!(
                    "“{}” is back in stock, as you asked us to tell you. Stocks can run out \
                     again, so don't wait too long.",
                    found.title
                );
                let notice = crate::communication::notifications::Notice {
                    subject: "Back in stock",
                    body: &body,
                    link: Some(&found.url),
                };
                let key = format!("alert:{id}");
                crate::communication::notifications::add(&mut tx, customer_id, &notice, Some(&key))
                    .await?;
            }
            sent += 1;
        }
        tx.commit().await?;
    }
    if sent > 0 {
        tracing::info!(sent, "back-in-stock alerts sent");
    }
    Ok(sent)
}
