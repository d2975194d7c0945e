//! Password reset by email: a customer (or staff, from the dashboard) asks for a link; the link
//! carries a random 256-bit token of which only the SHA-256 is stored; it works once, for
//! [`LINK_LIFETIME`], and setting a new password through it spends every other link of the
//! account and tells the customer by email.
//!
//! Asking answers the same whether or not the address has an account (the caller shows one
//! message), so the form cannot be used to learn who shops here. The links point at the
//! configured site address (`Config::site_url`), never at the request's `Host`, which whoever
//! asks would choose. At most one link is sent per account per [`RESEND_WINDOW_SECS`], so the
//! form cannot flood someone's inbox.

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool, Row};

use super::{Customer, CustomerError, normalize_email};
use crate::audit::{self, Actor};
use crate::infra::db::{Db, flag, now_text};
use crate::session::SessionStore;

/// How long an emailed link works.
pub const LINK_LIFETIME: time::Duration = time::Duration::hours(1);
/// One link per account in this many seconds; another ask within it sends nothing new (the
/// link already sent still works).
pub const RESEND_WINDOW_SECS: i64 = 5 * 60;
/// The path of a reset link; the token follows.
pub const LINK_PATH: &str = "/accounts/reset/";

pub use super::Sender;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn text_at(at: time::OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Queues a reset link for the account `customer_id` (address `email`) on `conn`, the
/// caller's transaction. False when one was sent within the resend window.
async fn issue(
    conn: &mut AnyConnection,
    sender: &Sender<'_>,
    customer_id: i64,
    email: &str,
) -> Result<bool, CustomerError> {
    let token = crate::infra::random_token();
    let now = time::OffsetDateTime::now_utc();
    let ctx = minijinja::context! {
        shop_name => sender.shop_name,
        email => email,
        link => format!("{}{LINK_PATH}{token}/", sender.site_url),
        minutes => LINK_LIFETIME.whole_minutes(),
    };
    let window = now.unix_timestamp() / RESEND_WINDOW_SECS;
    let dedupe = format!("password-reset:{customer_id}:{window}");
    if !super::notify(
        conn,
        sender,
        "password_reset",
        ctx,
        email,
        &dedupe,
        super::secret(customer_id),
    )
    .await?
    {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO password_reset (customer_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(customer_id)
    .bind(token_hash(&token))
    .bind(text_at(now))
    .bind(text_at(now + LINK_LIFETIME))
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A visitor asks for a link to `email`. Sends one when the address has an active account;
/// answers nothing either way (see the module's note).
pub async fn request(db: &Db, sender: &Sender<'_>, email: &str) -> Result<(), CustomerError> {
    let email = normalize_email(email);
    let mut tx = db.begin_write().await?;
    let found = sqlx::query("SELECT id, is_active FROM customer WHERE email = $1")
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = found
        && flag(&row, "is_active")?
    {
        let id: i64 = row.try_get("id")?;
        issue(&mut tx, sender, id, &email).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What staff sending a link from the dashboard learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffSent {
    Sent,
    /// A link went out within the resend window; it still works.
    AlreadySent,
    /// The account is switched off: a link would not let it sign in.
    Inactive,
    NotFound,
}

/// Staff send customer `id` a reset link (the customer sets the password; staff never see
/// it); recorded in the audit log with the sending.
pub async fn send_by_staff(
    db: &Db,
    sender: &Sender<'_>,
    actor: Actor<'_>,
    id: i64,
) -> Result<StaffSent, CustomerError> {
    let mut tx = db.begin_write().await?;
    let Some(row) = sqlx::query("SELECT email, is_active FROM customer WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(StaffSent::NotFound);
    };
    if !flag(&row, "is_active")? {
        return Ok(StaffSent::Inactive);
    }
    let email: String = row.try_get("email")?;
    if !issue(&mut tx, sender, id, &email).await? {
        return Ok(StaffSent::AlreadySent);
    }
    audit::record(
        &mut tx,
        actor,
        "customer.password_reset_sent",
        "customer",
        &id.to_string(),
        None,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(StaffSent::Sent)
}

/// The account a link's `token` opens, while it is unused and unexpired.
pub async fn check(pool: &AnyPool, token: &str) -> Result<Option<Customer>, CustomerError> {
    let row = sqlx::query(
        "SELECT c.id, c.email FROM password_reset r JOIN customer c ON c.id = r.customer_id \
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND c.is_active",
    )
    .bind(token_hash(token))
    .bind(now_text())
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(r) => Some(Customer {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
        }),
        None => None,
    })
}

/// Sets the password of the account `token` opens to `password_hash`, spends every link of
/// that account and queues a "your password was changed" note, in one transaction, then ends
/// every session of the account (whoever knew the old password is out). `None` when the link
/// is used, expired or unknown (two tabs submitting at once: one wins).
pub async fn complete(
    db: &Db,
    sessions: &dyn SessionStore,
    sender: &Sender<'_>,
    token: &str,
    password_hash: &str,
) -> Result<Option<Customer>, CustomerError> {
    let now = now_text();
    let mut tx = db.begin_write().await?;
    // The conditional update is the claim: only one transaction can move used_at off NULL.
    let customer_id: Option<i64> = sqlx::query_scalar(
        "UPDATE password_reset SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         AND expires_at > $2 RETURNING customer_id",
    )
    .bind(token_hash(token))
    .bind(&now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(customer_id) = customer_id else {
        return Ok(None);
    };
    let email: Option<String> = sqlx::query_scalar(
        "UPDATE customer SET password_hash = $2 WHERE id = $1 AND is_active RETURNING email",
    )
    .bind(customer_id)
    .bind(password_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(email) = email else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE password_reset SET used_at = $2 WHERE customer_id = $1 AND used_at IS NULL",
    )
    .bind(customer_id)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    let ctx =
        minijinja::context! { shop_name => sender.shop_name, email => &email, by_link => true };
    let dedupe = format!("password-changed:{customer_id}:{now}");
    super::notify(
        &mut tx,
        sender,
        "password_changed",
        ctx,
        &email,
        &dedupe,
        super::kept(customer_id),
    )
    .await?;
    super::notify_password_changed(&mut tx, customer_id, true, &dedupe).await?;
    tx.commit().await?;
    super::identity::end_sessions(sessions, customer_id).await;
    Ok(Some(Customer {
        id: customer_id,
        email,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_of_a_token_is_kept() {
        let token = crate::infra::random_token();
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token);
        assert_eq!(hash, token_hash(&token));
    }
}
