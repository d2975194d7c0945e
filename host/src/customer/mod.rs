//! Customer accounts: an email address (unique, compared case-insensitively) and an Argon2id
//! password hash ([`crate::infra::password`]: slow on purpose, bounded per core). Signing in goes through [`sign_in`], which is throttled
//! ([`throttle`]); registering through [`register`], which answers the same whether or not
//! the email already has an account.

pub mod identity;
pub mod manage;
pub mod reset;
pub mod throttle;

use std::net::IpAddr;
use std::time::Duration;

use sqlx::{AnyPool, Row};

use crate::infra::db::{Db, flag, now_text};
use crate::infra::password::{self, PasswordError};
use crate::mail;
use crate::themes::Templates;
use throttle::{Admission, SignInThrottle};

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Long enough for any passphrase, short enough that hashing it is no denial of service.
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_EMAIL_CHARS: usize = 254;

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Hash(#[from] PasswordError),
    #[error(transparent)]
    Sessions(#[from] crate::session::StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: i64,
    pub email: String,
}

/// Trimmed and lower-cased: how emails are stored and looked up.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plain check that catches typos, not an RFC 5322 parser: one `@`, something before it,
/// a dotted domain after it, no spaces.
pub fn email_problem(email: &str) -> Option<&'static str> {
    if email.is_empty() {
        return Some("Enter your email address.");
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Some("That email address is too long.");
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    (!valid).then_some("Enter a valid email address, like name@example.com.")
}

pub fn password_problem(password: &str) -> Option<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Some(format!(
            "Use at least {MIN_PASSWORD_CHARS} characters for your password."
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Some(format!(
            "Use at most {MAX_PASSWORD_CHARS} characters for your password."
        ));
    }
    None
}

/// A new Argon2id hash of `password` (see [`password`]).
pub async fn hash_password(password: String) -> Result<String, CustomerError> {
    Ok(password::hash(password).await?)
}

/// The customer with this email and password, or `None`. Takes as long for an unknown email
/// as for a wrong password, so response times don't reveal who has an account.
pub async fn authenticate(
    pool: &AnyPool,
    email: &str,
    password: &str,
) -> Result<Option<Customer>, CustomerError> {
    let email = normalize_email(email);
    let row = sqlx::query("SELECT id, password_hash, is_active FROM customer WHERE email = $1")
        .bind(&email)
        .fetch_optional(pool)
        .await?;
    let (id, hash, active) = match &row {
        Some(row) => (
            row.try_get::<i64, _>("id")?,
            row.try_get::<String, _>("password_hash")?,
            flag(row, "is_active")?,
        ),
        None => (0, String::new(), false),
    };
    let stored = row.is_some().then_some(hash);
    let ok = password::matches(password, stored).await?;
    if !(ok && active) {
        return Ok(None);
    }
    sqlx::query("UPDATE customer SET last_login_at = $1 WHERE id = $2")
        .bind(now_text())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(Some(Customer { id, email }))
}

/// How one sign-in attempt went (for customers, `T` is a [`Customer`]; staff accounts use the
/// same throttle through [`throttled`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInAttempt<T> {
    Welcome(T),
    /// Wrong email or password; `locked` when this failure locked the account.
    Refused {
        locked: bool,
    },
    /// Too many failures: the account is locked, and the password was not checked.
    Locked {
        retry_after: Duration,
    },
    /// Too many attempts from the client's address; the password was not checked.
    Busy {
        retry_after: Duration,
    },
}

pub type SignIn = SignInAttempt<Customer>;

/// Signs a customer in through the throttle (see [`throttled`]).
pub async fn sign_in(
    pool: &AnyPool,
    throttle: &SignInThrottle,
    email: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<SignIn, CustomerError> {
    throttled(
        pool,
        throttle,
        email,
        address,
        authenticate(pool, email, password),
    )
    .await
}

/// One sign-in through the throttle: counts the attempt for `account` (an email, or a
/// prefixed one for another kind of account), runs `check` (the password check, which answers
/// the account or `None`) only when the account and the address are allowed one, locks the
/// account after repeated failures and answers failures that come close to the lock only after
/// a delay.
pub async fn throttled<T>(
    pool: &AnyPool,
    throttle: &SignInThrottle,
    account: &str,
    address: Option<IpAddr>,
    check: impl std::future::Future<Output = Result<Option<T>, CustomerError>>,
) -> Result<SignInAttempt<T>, CustomerError> {
    let attempt = match throttle.admit(pool, account, address).await? {
        Admission::Go { attempt } => attempt,
        Admission::AccountLocked { retry_after } => {
            return Ok(SignInAttempt::Locked { retry_after });
        }
        Admission::AddressBusy { retry_after } => return Ok(SignInAttempt::Busy { retry_after }),
    };
    if let Some(account_holder) = check.await? {
        throttle.succeeded(pool, account).await?;
        return Ok(SignInAttempt::Welcome(account_holder));
    }
    throttle.failed(pool, account, attempt).await?;
    if let Some(delay) = throttle::slow_down(attempt) {
        tokio::time::sleep(delay).await;
    }
    Ok(SignInAttempt::Refused {
        locked: attempt >= throttle::MAX_FAILURES,
    })
}

/// What [`register`] did. The visitor is told the same in both cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    New(Customer),
    /// The email already had an account; its owner was sent a note instead.
    Existing,
}

/// Creates an account, or (when the email has one) tells the owner that someone tried to
/// register with their address. Either way one message is queued in the same transaction, so
/// the answer, its timing and the outbox look alike to the visitor. The notes to an owner are
/// deduplicated per hour, so repeated tries cannot flood their inbox. The messages carry no
/// link: the only site address we have is the request's `Host`, which whoever registers
/// chooses.
pub async fn register(
    db: &Db,
    templates: &Templates,
    shop_name: &str,
    email: &str,
    password_hash: &str,
) -> Result<Registered, CustomerError> {
    let email = normalize_email(email);
    let mut tx = db.begin_write().await?;
    // `DO NOTHING` rather than catching the unique violation: on PostgreSQL a failed statement
    // aborts the transaction the owner's message must be queued in.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO customer (email, password_hash, created_at) VALUES ($1, $2, $3)          ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&email)
    .bind(password_hash)
    .bind(now_text())
    .fetch_optional(&mut *tx)
    .await?;
    let (template, dedupe, outcome) = match id {
        Some(id) => (
            "account_welcome",
            format!("account-welcome:{id}"),
            Registered::New(Customer {
                id,
                email: email.clone(),
            }),
        ),
        None => {
            let hour = now_secs_of_hour();
            (
                "account_exists",
                format!("account-exists:{email}:{hour}"),
                Registered::Existing,
            )
        }
    };
    let ctx = minijinja::context! { shop_name => shop_name, email => &email };
    // The welcome is the new account's; the note to an existing account's address is about
    // the address, not the account, and stays out of any account's history.
    let history = match &outcome {
        Registered::New(customer) => Some(mail::History {
            customer_id: customer.id,
            keep_body: true,
        }),
        Registered::Existing => None,
    };
    // A theme without the message, or an address that passed our check but not the
    // mailer's, costs the message, not the account: log it and go on.
    match mail::render_in(&mut tx, templates, template, ctx).await {
        Ok(message) => {
            match mail::enqueue_for(&mut tx, &message.to(&email), Some(&dedupe), history).await {
                Ok(_) => {}
                Err(mail::MailError::Db(e)) => return Err(e.into()),
                Err(e) => tracing::warn!(error = %e, template, "account message not queued"),
            }
        }
        Err(mail::MailError::Db(e)) => return Err(e.into()),
        Err(e) => tracing::error!(error = %e, template, "account message not rendered"),
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Creates an active account directly, without the welcome message or the "already
/// registered" note that [`register`] sends (importers, fixtures). Fails on an email that
/// already has an account.
pub async fn create_customer<'e, E>(
    db: E,
    email: &str,
    password_hash: &str,
) -> Result<Customer, CustomerError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let email = normalize_email(email);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO customer (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&email)
    .bind(password_hash)
    .bind(now_text())
    .fetch_one(db)
    .await?;
    Ok(Customer { id, email })
}

/// What account messages need to say who they are from and where their links go.
pub struct Sender<'a> {
    pub templates: &'a Templates,
    pub shop_name: &'a str,
    /// `Config::site_url()`: scheme and host, no trailing `/`.
    pub site_url: String,
}

impl<'a> Sender<'a> {
    /// The shop's own name and public address, from its configuration.
    pub fn new(templates: &'a Templates, config: &'a crate::infra::config::Config) -> Self {
        Sender {
            templates,
            shop_name: &config.shop_name,
            site_url: config.site_url(),
        }
    }
}

/// Queues the account message `template` to `to` in the caller's transaction, in the email
/// history of `history`'s account when given; false when it was not queued (already sent
/// under `dedupe`, or a theme or address problem, which is logged: it costs the message,
/// never the change it reports).
pub(crate) async fn notify(
    conn: &mut sqlx::AnyConnection,
    sender: &Sender<'_>,
    template: &str,
    ctx: minijinja::Value,
    to: &str,
    dedupe: &str,
    history: Option<mail::History>,
) -> Result<bool, CustomerError> {
    let message = match mail::render_in(conn, sender.templates, template, ctx).await {
        Ok(message) => message,
        Err(mail::MailError::Db(e)) => return Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, template, "account message not rendered");
            return Ok(false);
        }
    };
    match mail::enqueue_for(conn, &message.to(to), Some(dedupe), history).await {
        Ok(queued) => Ok(queued.is_some()),
        Err(mail::MailError::Db(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, template, "account message not queued");
            Ok(false)
        }
    }
}

/// In the account's history, with the text kept for the customer to read again.
pub(crate) fn kept(customer_id: i64) -> Option<mail::History> {
    Some(mail::History {
        customer_id,
        keep_body: true,
    })
}

/// In the account's history by subject and date only: the message carries a secret link.
pub(crate) fn secret(customer_id: i64) -> Option<mail::History> {
    Some(mail::History {
        customer_id,
        keep_body: false,
    })
}

/// Tells the customer in their notifications inbox that their password changed.
pub(crate) async fn notify_password_changed(
    conn: &mut sqlx::AnyConnection,
    customer_id: i64,
    by_link: bool,
    dedupe: &str,
) -> Result<(), CustomerError> {
    let how = if by_link {
        "with a reset link"
    } else {
        "from your account page"
    };
    let body = format!(
        "The password of your account was changed {how}, and every other browser signed in to          it was signed out. If that wasn't you, reset your password at once."
    );
    let notice = crate::communication::notifications::Notice {
        subject: "Your password was changed",
        body: &body,
        link: Some("/accounts/profile/"),
    };
    crate::communication::notifications::add(conn, customer_id, &notice, Some(dedupe)).await?;
    Ok(())
}

/// The current hour as a number, for "at most once an hour" keys.
fn now_secs_of_hour() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() / 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_loosely() {
        assert_eq!(normalize_email("  Ann@Example.COM "), "ann@example.com");
        assert!(email_problem("ann@example.com").is_none());
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b@c.d",
        ] {
            assert!(email_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_a_length() {
        assert!(password_problem("short").is_some());
        assert!(password_problem("long enough").is_none());
    }
}
