//! Password hashing for every kind of account (customers, staff): Argon2id with the crate's
//! default (OWASP-recommended) parameters and a random salt. Hashing is deliberately slow
//! (~19 MiB and tens of milliseconds), so it runs on the blocking pool, at most one hash per
//! CPU core at a time.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
#[error("password hashing: {0}")]
pub struct PasswordError(String);

/// Password hashes running at once: one per core. The blocking pool is shared with plugin
/// calls and file I/O and grows to hundreds of threads, so without this bound a burst of
/// sign-ins would run hundreds of 19 MiB hashes side by side and starve everything else.
fn hashing_permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// Runs password hashing work on the blocking pool once a permit is free. The permit moves
/// into the blocking task, so a request dropped while its hash runs still holds it until the
/// hash is done.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let permit = hashing_permits()
        .acquire_owned()
        .await
        .map_err(|e| PasswordError(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| PasswordError(e.to_string()))
}

/// A new Argon2id hash of `password`.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    hashing(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError(e.to_string()))
    })
    .await?
}

/// Whether `password` matches the `stored` hash. With no stored hash (no such account) a
/// dummy hash is checked instead, so the answer takes as long either way and response times
/// don't tell who has an account.
pub async fn matches(password: &str, stored: Option<String>) -> Result<bool, PasswordError> {
    let password = password.to_owned();
    let known = stored.is_some();
    let ok = hashing(move || {
        // The first unknown account computes the dummy hash, here rather than on an async
        // thread.
        let hash = stored.as_deref().unwrap_or_else(|| dummy_hash());
        verify(&password, hash)
    })
    .await?;
    Ok(ok && known)
}

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).ok().is_some_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A valid hash of a random password, verified against when the account is unknown.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        Argon2::default()
            .hash_password(super::random_token().as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let hash = super::hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(matches("correct horse", Some(hash.clone())).await.unwrap());
        assert!(!matches("wrong horse", Some(hash)).await.unwrap());
        assert!(!matches("x", Some("not a hash".into())).await.unwrap());
        // No account: checked against the dummy, and never a match.
        assert!(!matches("correct horse", None).await.unwrap());
    }
}
