//! What a signed-in customer does to their own account: change the password, change the email
//! address (confirmed from the new address, the old one told), sign out of every session, and
//! this module's part of deleting the account (the use case is [`crate::privacy`]).
//!
//! Each change that needs the current password checks it through the sign-in throttle
//! ([`super::throttled`]), so a session left open on a shared computer is no oracle for
//! guessing it. Changes that should lock out whoever else holds the account (a new password, a
//! new address, a deleted account) end every session of it; the caller signs the current
//! visitor back in under a fresh session id where that is right.
//!
//! Deleting an account keeps its orders, as the shop's accounts must, but unlinks them and
//! removes what identifies the person beyond what a tax record needs: the order's email
//! address and phone numbers go; the billing and delivery addresses stay (they decide the
//! tax of a distance sale). Baskets, saved addresses, reset and email-change links and
//! notifications go with the account; the message log addressed to it or in its email history
//! is emptied, save the goodbye note (which is in no account's history).

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use super::throttle::SignInThrottle;
use super::{Customer, CustomerError, Sender, SignInAttempt, normalize_email, throttled};
use crate::infra::db::{Db, flag, now_text, unique_violation};
use crate::infra::password;
use crate::session::SessionStore;

/// How long the link that confirms a new email address works.
pub const EMAIL_LINK_LIFETIME: time::Duration = time::Duration::hours(24);
/// One confirmation link per account in this many seconds.
pub const EMAIL_RESEND_WINDOW_SECS: i64 = 5 * 60;
/// The path of an email-change link; the token follows.
pub const EMAIL_LINK_PATH: &str = "/accounts/email/confirm/";

/// How a change that needed the current password went.
pub type Checked = SignInAttempt<Customer>;

/// Ends every session of the customer. A store that cannot be reached is logged, not
/// returned: the change that asked for it is committed, and failing the page would tell the
/// customer it was not.
pub async fn end_sessions(sessions: &dyn SessionStore, customer_id: i64) {
    match sessions.end_customer_sessions(customer_id).await {
        Ok(ended) => tracing::info!(customer = customer_id, ended, "sessions ended"),
        Err(e) => {
            tracing::error!(error = %e, customer = customer_id, "could not end the sessions")
        }
    }
}

/// The active customer `id` if `password` is theirs. Unlike signing in, it does not touch
/// `last_login_at`.
async fn password_holder(
    pool: &AnyPool,
    id: i64,
    password: &str,
) -> Result<Option<Customer>, CustomerError> {
    let row = sqlx::query("SELECT email, password_hash, is_active FROM customer WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let email: String = row.try_get("email")?;
    let hash: String = row.try_get("password_hash")?;
    let ok = password::matches(password, Some(hash)).await?;
    Ok((ok && flag(&row, "is_active")?).then_some(Customer { id, email }))
}

/// Checks that `password` is the current password of customer `id`, through the sign-in
/// throttle of their address.
pub(crate) async fn check_password(
    pool: &AnyPool,
    throttle: &SignInThrottle,
    id: i64,
    password: &str,
    address: Option<IpAddr>,
) -> Result<Checked, CustomerError> {
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM customer WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(email) = email else {
        return Ok(SignInAttempt::Refused { locked: false });
    };
    // Not worth hashing: no password we set is this long.
    if password.chars().count() > super::MAX_PASSWORD_CHARS {
        return Ok(SignInAttempt::Refused { locked: false });
    }
    throttled(
        pool,
        throttle,
        &email,
        address,
        password_holder(pool, id, password),
    )
    .await
}

/// What a password change needs besides the two passwords.
pub struct Context<'a> {
    pub db: &'a Db,
    pub sessions: &'a dyn SessionStore,
    pub throttle: &'a SignInThrottle,
    pub sender: &'a Sender<'a>,
    pub address: Option<IpAddr>,
}

/// Replaces the password of customer `id` when `current` is right (the new one is already
/// checked for length by the caller), spends the account's reset links, tells the customer by
/// email and ends every session of the account.
pub async fn change_password(
    cx: &Context<'_>,
    id: i64,
    current: &str,
    new_password: &str,
) -> Result<Checked, CustomerError> {
    let checked = check_password(&cx.db.pool, cx.throttle, id, current, cx.address).await?;
    let SignInAttempt::Welcome(customer) = &checked else {
        return Ok(checked);
    };
    let hash = super::hash_password(new_password.to_owned()).await?;
    let now = now_text();
    let mut tx = cx.db.begin_write().await?;
    sqlx::query("UPDATE customer SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE password_reset SET used_at = $2 WHERE customer_id = $1 AND used_at IS NULL",
    )
    .bind(id)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    let ctx = minijinja::context! {
        shop_name => cx.sender.shop_name,
        email => &customer.email,
        by_link => false,
    };
    let dedupe = format!("password-changed:{id}:{now}");
    super::notify(
        &mut tx,
        cx.sender,
        "password_changed",
        ctx,
        &customer.email,
        &dedupe,
        super::kept(id),
    )
    .await?;
    super::notify_password_changed(&mut tx, id, false, &dedupe).await?;
    tx.commit().await?;
    end_sessions(cx.sessions, id).await;
    Ok(checked)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn text_at(at: time::OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Customer `id` asks to use `new_email` (already checked for form): when `password` is right,
/// the new address gets a confirmation link, or, when it already has an account, a note that
/// someone tried to use it; the customer is told the same either way, so the form is no way
/// to learn who shops here. Nothing changes until the link is followed.
pub async fn request_email_change(
    cx: &Context<'_>,
    id: i64,
    password: &str,
    new_email: &str,
) -> Result<Checked, CustomerError> {
    let checked = check_password(&cx.db.pool, cx.throttle, id, password, cx.address).await?;
    let SignInAttempt::Welcome(customer) = &checked else {
        return Ok(checked);
    };
    let new_email = normalize_email(new_email);
    let now = time::OffsetDateTime::now_utc();
    let window = now.unix_timestamp() / EMAIL_RESEND_WINDOW_SECS;
    let mut tx = cx.db.begin_write().await?;
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM customer WHERE email = $1")
        .bind(&new_email)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        let ctx = minijinja::context! { shop_name => cx.sender.shop_name, email => &new_email };
        let dedupe = format!("email-change-taken:{new_email}:{window}");
        super::notify(
            &mut tx,
            cx.sender,
            "email_change_taken",
            ctx,
            &new_email,
            &dedupe,
            // About another account's address: in nobody's history.
            None,
        )
        .await?;
    } else {
        let token = crate::infra::random_token();
        let ctx = minijinja::context! {
            shop_name => cx.sender.shop_name,
            email => &new_email,
            old_email => &customer.email,
            link => format!("{}{EMAIL_LINK_PATH}{token}/", cx.sender.site_url),
            hours => EMAIL_LINK_LIFETIME.whole_hours(),
        };
        let dedupe = format!("email-change:{id}:{new_email}:{window}");
        if super::notify(
            &mut tx,
            cx.sender,
            "email_change_confirm",
            ctx,
            &new_email,
            &dedupe,
            super::secret(id),
        )
        .await?
        {
            sqlx::query(
                "INSERT INTO email_change (customer_id, new_email, token_hash, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(&new_email)
            .bind(token_hash(&token))
            .bind(text_at(now))
            .bind(text_at(now + EMAIL_LINK_LIFETIME))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(checked)
}

/// The new address a live (unused, unexpired) email-change link would give its account.
pub async fn pending_email_change(
    pool: &AnyPool,
    token: &str,
) -> Result<Option<String>, CustomerError> {
    Ok(sqlx::query_scalar(
        "SELECT e.new_email FROM email_change e JOIN customer c ON c.id = e.customer_id \
         WHERE e.token_hash = $1 AND e.used_at IS NULL AND e.expires_at > $2 AND c.is_active",
    )
    .bind(token_hash(token))
    .bind(now_text())
    .fetch_optional(pool)
    .await?)
}

/// How following an email-change link went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChange {
    /// The account now uses `customer.email`; `old_email` was told.
    Changed {
        customer: Customer,
        old_email: String,
    },
    /// The link is unknown, used or expired, or the account is switched off.
    Invalid,
    /// Another account took the address after the link was sent; the link still works if
    /// that account lets it go.
    Taken,
}

/// Follows an email-change link: the account takes the new address, every other link of the
/// account (email change and password reset, which went to the old address) is spent, the
/// old address is told, and every session of the account ends.
pub async fn confirm_email_change(
    db: &Db,
    sessions: &dyn SessionStore,
    sender: &Sender<'_>,
    token: &str,
) -> Result<EmailChange, CustomerError> {
    let now = now_text();
    let mut tx = db.begin_write().await?;
    // The conditional update is the claim: only one transaction can move used_at off NULL.
    let claimed = sqlx::query(
        "UPDATE email_change SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
         AND expires_at > $2 RETURNING customer_id, new_email",
    )
    .bind(token_hash(token))
    .bind(&now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(claimed) = claimed else {
        return Ok(EmailChange::Invalid);
    };
    let id: i64 = claimed.try_get("customer_id")?;
    let new_email: String = claimed.try_get("new_email")?;
    let old_email: Option<String> =
        sqlx::query_scalar("SELECT email FROM customer WHERE id = $1 AND is_active")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(old_email) = old_email else {
        return Ok(EmailChange::Invalid);
    };
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT id FROM customer WHERE email = $1 AND id <> $2")
            .bind(&new_email)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Ok(EmailChange::Taken);
    }
    let updated = sqlx::query("UPDATE customer SET email = $2 WHERE id = $1")
        .bind(id)
        .bind(&new_email)
        .execute(&mut *tx)
        .await;
    match updated {
        Ok(_) => {}
        // Registered in the instant between the check and the update.
        Err(e) if unique_violation(&e, "customer").is_some() => return Ok(EmailChange::Taken),
        Err(e) => return Err(e.into()),
    }
    for spend in [
        "UPDATE email_change SET used_at = $2 WHERE customer_id = $1 AND used_at IS NULL",
        "UPDATE password_reset SET used_at = $2 WHERE customer_id = $1 AND used_at IS NULL",
    ] {
        sqlx::query(spend)
            .bind(id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
    }
    let ctx = minijinja::context! {
        shop_name => sender.shop_name,
        email => &old_email,
        new_email => &new_email,
    };
    let dedupe = format!("email-changed:{id}:{now}");
    super::notify(
        &mut tx,
        sender,
        "email_changed",
        ctx,
        &old_email,
        &dedupe,
        super::kept(id),
    )
    .await?;
    let body = format!(
        "Your account now signs in and receives its messages at {new_email} instead of \
         {old_email}, and every browser signed in to it was signed out. If that wasn't you, \
         tell us at once."
    );
    let notice = crate::communication::notifications::Notice {
        subject: "Your email address was changed",
        body: &body,
        link: Some("/accounts/profile/"),
    };
    crate::communication::notifications::add(&mut tx, id, &notice, Some(&dedupe)).await?;
    tx.commit().await?;
    end_sessions(sessions, id).await;
    Ok(EmailChange::Changed {
        customer: Customer {
            id,
            email: new_email,
        },
        old_email,
    })
}

/// Ends every session of customer `id`, this one included (the caller starts a new one for
/// the visitor who asked).
pub async fn sign_out_everywhere(
    sessions: &dyn SessionStore,
    id: i64,
) -> Result<u64, CustomerError> {
    sessions
        .end_customer_sessions(id)
        .await
        .map_err(CustomerError::from)
}

/// The customer module's part of deleting an account, in the caller's transaction (see
/// [`crate::privacy::delete_account`], which also forgets what other modules keep about the
/// customer, before this): unlinks and strips their orders, drops their baskets, messages and
/// the account itself, and queues the goodbye. Returns how many orders were kept.
pub(crate) async fn erase_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sender: &Sender<'_>,
    customer: &Customer,
) -> Result<usize, CustomerError> {
    let id = customer.id;
    // Baskets that became orders stay with the orders; the rest go with the account.
    sqlx::query(
        "UPDATE basket SET owner_id = NULL WHERE owner_id = $1 \
         AND (id IN (SELECT basket_id FROM shop_order) \
              OR id IN (SELECT basket_id FROM pending_payment))",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    let orders = sqlx::query(
        "SELECT id, shipping_address, billing_address FROM shop_order WHERE customer_id = $1",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    for order in &orders {
        let order_id: i64 = order.try_get("id")?;
        let shipping = without_phone(&order.try_get::<String, _>("shipping_address")?);
        let billing = without_phone(&order.try_get::<String, _>("billing_address")?);
        sqlx::query(
            "UPDATE shop_order SET email = '', customer_id = NULL, shipping_address = $2, \
             billing_address = $3 WHERE id = $1",
        )
        .bind(order_id)
        .bind(shipping)
        .bind(billing)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE pending_payment SET email = '', customer_id = NULL WHERE customer_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    // The messages of the account (its history, whichever address they went to) and any
    // other message to its address; its notifications go with the account (ON DELETE CASCADE).
    sqlx::query("DELETE FROM mail_outbox WHERE recipient = $1 OR customer_id = $2")
        .bind(&customer.email)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM analytics_customer WHERE customer_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM customer WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let ctx = minijinja::context! { shop_name => sender.shop_name, email => &customer.email };
    let dedupe = format!("account-deleted:{id}");
    super::notify(
        tx,
        sender,
        "account_deleted",
        ctx,
        &customer.email,
        &dedupe,
        // The account is gone: the goodbye is in no history.
        None,
    )
    .await?;
    Ok(orders.len())
}

/// An address (JSON, as orders keep it) with its phone number removed.
fn without_phone(address: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(address) {
        Ok(serde_json::Value::Object(mut fields)) => {
            if fields.contains_key("phone") {
                fields.insert("phone".into(), serde_json::Value::String(String::new()));
            }
            serde_json::Value::Object(fields).to_string()
        }
        _ => address.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_leave_addresses_and_the_rest_stays() {
        let kept = without_phone(r#"{"name":"Ann","phone":"+44 1234","country":"GB"}"#);
        let kept: serde_json::Value = serde_json::from_str(&kept).unwrap();
        assert_eq!(kept["phone"], "");
        assert_eq!(kept["name"], "Ann");
        assert_eq!(without_phone("not json"), "not json");
    }
}
