//! Sign-in throttling: per account, a short slow-down then a lock; per client address, a rate.
//!
//! **Per account** (the normalised email, whether or not an account has it, so a lock never
//! tells who is registered): every attempt is counted *before* the password is checked, in one
//! atomic upsert, so a hundred parallel guesses cannot all slip past the count. Within
//! [`WINDOW_SECS`], the third and fourth failures are answered only after a delay
//! ([`slow_down`]); the [`MAX_FAILURES`]th locks the account for `sign_in_lock_secs` (config),
//! and while it is locked every attempt, with the right password too, is refused without
//! hashing anything. A success clears the count. The count lives in the database
//! (`sign_in_throttle`), not in this process: several host processes behind a load balancer
//! share it, so an attacker gets five guesses per lock, not five per process, and a restart
//! does not unlock. Keys are the SHA-256 of the email, so the table does not collect the
//! addresses people (or attackers) type.
//!
//! **Per client address**: a GCRA rate (the `governor` crate) over the attempts that get as far
//! as hashing, kept in process memory. Its job is this process's CPU and a credential-stuffing
//! run across many accounts from one address; sharing it between processes would cost a
//! database write per flooded request, the very load it is there to shed. Attempts refused by
//! an account lock cost nothing and do not use up the address's allowance, so an attack on one
//! account does not lock everyone else out who shares the address. The address is the TCP peer:
//! `X-Forwarded-For` is not trusted, as any client can write it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

/// Failures of one account within [`WINDOW_SECS`] that lock it.
pub const MAX_FAILURES: i64 = 5;
/// From this failure on (until the lock), a failed attempt is answered only after a delay.
pub const SLOW_AFTER: i64 = 3;
/// How long failures are remembered when no lock follows them.
pub const WINDOW_SECS: i64 = 15 * 60;
/// Attempts that reach password hashing per client address: a burst, refilled per minute.
const ADDRESS_PER_MINUTE: u32 = 30;
/// Forget idle addresses once this many are remembered (the limiter's memory stays bounded).
const ADDRESS_MEMORY: usize = 10_000;

/// What the throttle says about one sign-in attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check the password; this is the account's `attempt`th try in the current window.
    Go { attempt: i64 },
    /// The account is locked (or at its limit); try again after this long.
    AccountLocked { retry_after: Duration },
    /// Too many attempts from this address; try again after this long.
    AddressBusy { retry_after: Duration },
}

/// The delay before answering the `attempt`th failure: none for the first ones, then one
/// second, two seconds, … until the lock. Waiting costs a sleeping task, not CPU, and the
/// attempt was already counted, so parallel guesses gain nothing from it.
pub fn slow_down(attempt: i64) -> Option<Duration> {
    (SLOW_AFTER..MAX_FAILURES)
        .contains(&attempt)
        .then(|| Duration::from_secs(u64::try_from(attempt - SLOW_AFTER + 1).unwrap_or(1)))
}

pub struct SignInThrottle {
    lock_secs: i64,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn account_key(email: &str) -> String {
    hex::encode(Sha256::digest(super::normalize_email(email).as_bytes()))
}

impl SignInThrottle {
    pub fn new(lock_secs: u64) -> SignInThrottle {
        let per_minute = NonZeroU32::new(ADDRESS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        SignInThrottle::with_address_quota(lock_secs, Quota::per_minute(per_minute))
    }

    fn with_address_quota(lock_secs: u64, quota: Quota) -> SignInThrottle {
        SignInThrottle {
            lock_secs: i64::try_from(lock_secs).unwrap_or(i64::MAX / 4),
            addresses: RateLimiter::keyed(quota),
        }
    }

    pub fn lock_secs(&self) -> i64 {
        self.lock_secs
    }

    /// Counts an attempt for `email` from `address`, or refuses it.
    pub async fn admit(
        &self,
        pool: &AnyPool,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<Admission, sqlx::Error> {
        let key = account_key(email);
        let now = now_secs();
        // One statement, so concurrent attempts are counted one after the other: a lock that
        // has run out, or a window that has passed, starts afresh; otherwise the count goes up
        // (capped just past the limit, where it only means "refuse").
        let stale = "((sign_in_throttle.locked_until > 0 AND sign_in_throttle.locked_until <= $2) \
                     OR (sign_in_throttle.locked_until = 0 AND sign_in_throttle.window_ends <= $2))";
        let sql = format!(
            "INSERT INTO sign_in_throttle (key, attempts, window_ends, locked_until) \
             VALUES ($1, 1, $3, 0) \
             ON CONFLICT (key) DO UPDATE SET \
               attempts = CASE WHEN {stale} THEN 1 \
                               WHEN sign_in_throttle.attempts > $4 THEN sign_in_throttle.attempts \
                               ELSE sign_in_throttle.attempts + 1 END, \
               window_ends = CASE WHEN {stale} THEN $3 ELSE sign_in_throttle.window_ends END, \
               locked_until = CASE WHEN {stale} THEN 0 ELSE sign_in_throttle.locked_until END \
             RETURNING attempts, locked_until"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&key)
            .bind(now)
            .bind(now + WINDOW_SECS)
            .bind(MAX_FAILURES)
            .fetch_one(pool)
            .await?;
        let attempt: i64 = row.try_get("attempts")?;
        let locked_until: i64 = row.try_get("locked_until")?;
        if locked_until > now || attempt > MAX_FAILURES {
            // At the limit but not yet locked: the last allowed attempt is still being checked.
            let until = if locked_until > now {
                locked_until
            } else {
                now + self.lock_secs
            };
            return Ok(Admission::AccountLocked {
                retry_after: Duration::from_secs(u64::try_from(until - now).unwrap_or(1).max(1)),
            });
        }
        if let Some(address) = address {
            if self.addresses.len() > ADDRESS_MEMORY {
                self.addresses.retain_recent();
            }
            if let Err(not_until) = self.addresses.check_key(&address) {
                // Not this account's fault: give its attempt back.
                sqlx::query(
                    "UPDATE sign_in_throttle SET attempts = attempts - 1 \
                     WHERE key = $1 AND attempts > 0",
                )
                .bind(&key)
                .execute(pool)
                .await?;
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Ok(Admission::AddressBusy {
                    retry_after: wait.max(Duration::from_secs(1)),
                });
            }
        }
        Ok(Admission::Go { attempt })
    }

    /// Whether `address` may start one more expensive request (registration hashes a
    /// password too). Uses up one of the address's attempts.
    pub fn admit_address(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        let Some(address) = address else {
            return Ok(());
        };
        self.addresses.check_key(&address).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .max(Duration::from_secs(1))
        })
    }

    /// The `attempt`th attempt failed: at the limit, the account is locked from now.
    pub async fn failed(
        &self,
        pool: &AnyPool,
        email: &str,
        attempt: i64,
    ) -> Result<(), sqlx::Error> {
        if attempt < MAX_FAILURES {
            return Ok(());
        }
        let now = now_secs();
        sqlx::query(
            "UPDATE sign_in_throttle SET locked_until = $1 WHERE key = $2 AND locked_until = 0",
        )
        .bind(now + self.lock_secs)
        .bind(account_key(email))
        .execute(pool)
        .await?;
        // Rows of windows and locks that are over serve no one; a lock is a rare enough event
        // to tidy up on.
        sqlx::query(
            "DELETE FROM sign_in_throttle WHERE \
             (locked_until > 0 AND locked_until <= $1) OR (locked_until = 0 AND window_ends <= $1)",
        )
        .bind(now)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The right password: the account's failures are forgotten.
    pub async fn succeeded(&self, pool: &AnyPool, email: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sign_in_throttle WHERE key = $1")
            .bind(account_key(email))
            .execute(pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_middle_failures_are_slowed() {
        assert_eq!(slow_down(1), None);
        assert_eq!(slow_down(2), None);
        assert_eq!(slow_down(3), Some(Duration::from_secs(1)));
        assert_eq!(slow_down(4), Some(Duration::from_secs(2)));
        // The fifth locks instead.
        assert_eq!(slow_down(5), None);
    }

    #[test]
    fn keys_do_not_hold_the_email() {
        assert_eq!(
            account_key(" Ann@Example.com"),
            account_key("ann@example.com")
        );
        assert!(!account_key("ann@example.com").contains("ann"));
    }

    #[test]
    fn addresses_get_a_burst_then_wait() {
        // Refilled once in twenty minutes: nothing comes back while the test runs.
        let quota = Quota::per_hour(NonZeroU32::new(3).unwrap());
        let throttle = SignInThrottle::with_address_quota(60, quota);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.admit_address(Some(ip)).is_ok());
        }
        assert!(throttle.admit_address(Some(ip)).is_err());
        assert!(throttle.admit_address(Some(other)).is_ok());
    }
}
