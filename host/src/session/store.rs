//! Where session data lives: the database (the embedded default) or Redis. Both store an
//! opaque JSON text under the SHA-256 of the session id, with an absolute expiry.

use std::future::Future;
use std::pin::Pin;

use sqlx::{AnyPool, Row};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("session redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A stored session: its JSON data, when it expires (Unix seconds), and the customer signed
/// in with it, by which [`SessionStore::end_customer_sessions`] finds every session of one
/// account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub data: String,
    pub expires_at: i64,
    pub customer_id: Option<i64>,
}

/// A session backend. `key` is already hashed; implementations never see the cookie value.
///
/// Creating and updating are separate on purpose: an update only rewrites a record that is
/// still there, so a request that loaded a session before a logout (or a sign-in, which moves
/// the data to a new id) and finishes after it cannot bring the destroyed id back to life.
pub trait SessionStore: Send + Sync {
    /// The live (unexpired) record under `key`, if any.
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    /// Stores a new session under a fresh `key`.
    fn create<'a>(
        &'a self,
        key: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Replaces the record under `key` if it is still live; `false` (and nothing stored) when
    /// it was deleted or has expired meanwhile.
    fn update<'a>(
        &'a self,
        key: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Deletes every session the customer is signed in with (a password change, a switched-off
    /// or deleted account); returns how many went, where the backend can tell.
    fn end_customer_sessions(&self, customer_id: i64) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// Removes expired records; returns how many went (0 where the backend expires by itself).
    fn cleanup(&self) -> BoxFuture<'_, Result<u64, StoreError>>;
    fn name(&self) -> &'static str;
}

pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Sessions in the `web_session` table.
pub struct DbStore {
    pool: AnyPool,
}

impl DbStore {
    pub fn new(pool: AnyPool) -> Self {
        DbStore { pool }
    }
}

impl SessionStore for DbStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT data, expires_at, customer_id FROM web_session \
                 WHERE key = $1 AND expires_at > $2",
            )
            .bind(key)
            .bind(now_secs())
            .fetch_optional(&self.pool)
            .await?;
            Ok(match row {
                Some(row) => Some(Record {
                    data: row.try_get("data")?,
                    expires_at: row.try_get("expires_at")?,
                    customer_id: row.try_get("customer_id")?,
                }),
                None => None,
            })
        })
    }

    fn create<'a>(
        &'a self,
        key: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO web_session (key, data, expires_at, customer_id) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(key)
            .bind(&record.data)
            .bind(record.expires_at)
            .bind(record.customer_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE web_session SET data = $1, expires_at = $2, customer_id = $5 \
                 WHERE key = $3 AND expires_at > $4",
            )
            .bind(&record.data)
            .bind(record.expires_at)
            .bind(key)
            .bind(now_secs())
            .bind(record.customer_id)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM web_session WHERE key = $1")
                .bind(key)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn end_customer_sessions(&self, customer_id: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM web_session WHERE customer_id = $1")
                .bind(customer_id)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    fn cleanup(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM web_session WHERE expires_at <= $1")
                .bind(now_secs())
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    fn name(&self) -> &'static str {
        "database"
    }
}

/// Deletes the sessions listed in the set KEYS[1] (keys relative to the prefix ARGV[1]) and
/// the set; answers how many sessions were still there.
const END_CUSTOMER_SESSIONS: &str = r"
local ended = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', ARGV[1] .. key)
end
redis.call('DEL', KEYS[1])
return ended
";

/// Sessions in Redis, under `<prefix><key>` with Redis's own expiry. The value is
/// `"<expires_at>:<customer_id>:<json>"` (the id empty for a visitor) so a load needs one round
/// trip; values written before the customer id was kept (`"<expires_at>:<json>"`) still load.
/// The keys of a customer's sessions are also kept in the set `<prefix>customer:<id>`, which
/// lives as long as the longest of them, so that all of them can be ended at once.
pub struct RedisStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_manager().await?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn customer_key(&self, customer_id: i64) -> String {
        format!("{}customer:{customer_id}", self.prefix)
    }

    /// `SET … EX … NX|XX`: whether Redis stored it.
    async fn set(&self, key: &str, record: &Record, condition: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let ttl = record.expires_at - now_secs();
        if ttl <= 0 {
            // Already expired: nothing to keep (and Redis refuses a zero expiry).
            let _: i64 = redis::cmd("DEL")
                .arg(self.key(key))
                .query_async(&mut conn)
                .await?;
            return Ok(false);
        }
        let customer = record.customer_id.map(|id| id.to_string());
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(format!(
                "{}:{}:{}",
                record.expires_at,
                customer.as_deref().unwrap_or_default(),
                record.data
            ))
            .arg("EX")
            .arg(ttl)
            .arg(condition)
            .query_async(&mut conn)
            .await?;
        if stored.is_some()
            && let Some(customer_id) = record.customer_id
        {
            // NX gives a new set an expiry, GT only ever lengthens it (Redis 7): the set
            // outlives every session in it. Members that ended on their own are harmless.
            let index = self.customer_key(customer_id);
            let () = redis::pipe()
                .cmd("SADD")
                .arg(&index)
                .arg(key)
                .ignore()
                .cmd("EXPIRE")
                .arg(&index)
                .arg(ttl)
                .arg("NX")
                .ignore()
                .cmd("EXPIRE")
                .arg(&index)
                .arg(ttl)
                .arg("GT")
                .ignore()
                .query_async(&mut conn)
                .await?;
        }
        Ok(stored.is_some())
    }
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let value: Option<String> = redis::cmd("GET")
                .arg(self.key(key))
                .query_async(&mut conn)
                .await?;
            let Some(value) = value else { return Ok(None) };
            let Some((expires, rest)) = value.split_once(':') else {
                return Ok(None);
            };
            let Ok(expires_at) = expires.parse::<i64>() else {
                return Ok(None);
            };
            if expires_at <= now_secs() {
                return Ok(None);
            }
            let (customer_id, data) = if rest.starts_with('{') {
                (None, rest)
            } else {
                let Some((customer, data)) = rest.split_once(':') else {
                    return Ok(None);
                };
                (customer.parse::<i64>().ok(), data)
            };
            Ok(Some(Record {
                data: data.to_owned(),
                expires_at,
                customer_id,
            }))
        })
    }

    fn create<'a>(
        &'a self,
        key: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.set(key, record, "NX").await?;
            Ok(())
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        // `XX`: only if the key still exists. Redis drops a key when it expires, so an
        // expired session is not revived either.
        Box::pin(self.set(key, record, "XX"))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(self.key(key))
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
    }

    fn end_customer_sessions(&self, customer_id: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let index = self.customer_key(customer_id);
            // One script, so that a sign-in in between cannot lose its index entry with the
            // set. It names the session keys it deletes by prefix, which a single Redis (not a
            // cluster) allows.
            let ended: u64 = redis::Script::new(END_CUSTOMER_SESSIONS)
                .key(index)
                .arg(&self.prefix)
                .invoke_async(&mut conn)
                .await?;
            Ok(ended)
        })
    }

    fn cleanup(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        // Redis expires keys itself.
        Box::pin(async { Ok(0) })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
