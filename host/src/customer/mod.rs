//! Customer accounts: an email address (unique, compared case-insensitively) and an Argon2id
//! password hash. Hashing is deliberately slow, so callers run it on the blocking pool
//! ([`hash_password`], [`authenticate`] do that themselves).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sqlx::{AnyPool, Row};

use crate::infra::db::{flag, now_text};

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Long enough for any passphrase, short enough that hashing it is no denial of service.
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_EMAIL_CHARS: usize = 254;

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("password hashing: {0}")]
    Hash(String),
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

/// Argon2id with the crate's default (OWASP-recommended) parameters and a random salt.
pub async fn hash_password(password: String) -> Result<String, CustomerError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| CustomerError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| CustomerError::Hash(e.to_string()))?
}

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).ok().is_some_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Creates an account; a taken email is reported by the database's unique constraint, so two
/// concurrent registrations cannot both succeed.
pub async fn create(
    pool: &AnyPool,
    email: &str,
    password_hash: &str,
) -> Result<Customer, CustomerError> {
    let email = normalize_email(email);
    let row = sqlx::query(
        "INSERT INTO customer (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&email)
    .bind(password_hash)
    .bind(now_text())
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => CustomerError::EmailTaken,
        _ => CustomerError::Db(e),
    })?;
    Ok(Customer {
        id: row.try_get(0)?,
        email,
    })
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
        None => (0, dummy_hash().to_owned(), false),
    };
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify(&password, &hash))
        .await
        .map_err(|e| CustomerError::Hash(e.to_string()))?;
    if !(ok && active && row.is_some()) {
        return Ok(None);
    }
    sqlx::query("UPDATE customer SET last_login_at = $1 WHERE id = $2")
        .bind(now_text())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(Some(Customer { id, email }))
}

/// A valid hash of a random password, verified against when the email is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        Argon2::default()
            .hash_password(crate::session::random_token().as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
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
    fn passwords_hash_and_verify() {
        let hash = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse", &hash));
        assert!(!verify("wrong horse", &hash));
        assert!(!verify("x", "not a hash"));
        assert!(password_problem("short").is_some());
        assert!(password_problem("long enough").is_none());
    }
}
