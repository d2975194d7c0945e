//! The database: one `sqlx::AnyPool` over SQLite (the embedded default) or PostgreSQL.
//!
//! Queries are written once, in SQL both backends accept (`$1` placeholders, `TRUE`/`FALSE`,
//! `BIGINT` integers, money as minor units), so each domain module owns one copy of its SQL.
//! The schema lives in `migrations/<backend>/`, applied at start-up and by `emporium migrate`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// PostgreSQL only: the URL a dedicated LISTEN connection opens (never logged).
    pub(crate) listen_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Connects (creating the SQLite file and its folder if needed) and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        };
        if backend == Backend::Sqlite {
            create_sqlite_dir(url)?;
        }
        let options = AnyConnectOptions::from_str(url)?
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; busy_timeout makes a writer
                        // wait for the lock instead of failing; foreign keys are off by default.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let listen_url = (backend == Backend::Postgres).then(|| url.to_owned());
        let db = Db {
            pool,
            backend,
            listen_url,
        };
        db.migrate().await?;
        Ok(db)
    }

    /// A transaction that is going to write. On SQLite it starts with `BEGIN IMMEDIATE`, taking
    /// the write lock up front: a deferred transaction that reads and then writes fails at once
    /// with "database is locked" when another writer committed in between (the busy timeout
    /// can't help there); an immediate one waits its turn instead.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }
}

fn create_sqlite_dir(url: &str) -> Result<(), DbError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| DbError::DataDir {
            path: parent.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Lists count their matches up to this many, then say "more than": an exact count of every
/// order or product on each page of a big shop would read them all, every time.
pub const COUNT_CAP: i64 = 10_000;

/// `SELECT COUNT(*)` of the rows `from_where` ("table alias WHERE …") selects, stopping at
/// [`COUNT_CAP`] + 1, so a count past the cap costs the same whatever the table's size.
pub fn capped_count_sql(from_where: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 AS one FROM {from_where} LIMIT {}) capped",
        COUNT_CAP + 1
    )
}

/// `"$1, $2, …, $n"` starting at `$start`: placeholders for an `IN (…)` list. Only numbers are
/// formatted into the SQL; the values are always bound.
pub fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a boolean column: `BOOLEAN` in PostgreSQL, `INTEGER` 0/1 in SQLite.
pub fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(optional_flag(row, column)?.unwrap_or(false))
}

pub fn optional_flag(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<bool>, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<Option<bool>, _>(column) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::ColumnDecode { .. }) => {
            Ok(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0))
        }
        Err(e) => Err(e),
    }
}

/// The current time as stored in the database: RFC 3339 UTC, whole seconds.
pub fn now_text() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The column of `table` whose unique constraint `error` broke, or `None` when the error is
/// something else: for telling the person who filled in a form which field to change
/// (realworld-axum-sqlx's `on_constraint`). Reads SQLite's `UNIQUE constraint failed: t.c`
/// and PostgreSQL's default constraint names (`<table>_<column>_key`).
pub fn unique_violation(error: &sqlx::Error, table: &str) -> Option<String> {
    let db = error.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    if let Some(constraint) = db.constraint() {
        let column = constraint
            .strip_prefix(&format!("{table}_"))?
            .strip_suffix("_key")?;
        return Some(column.to_owned());
    }
    let message = db.message();
    let failed = message.split("UNIQUE constraint failed: ").nth(1)?;
    failed
        .split(',')
        .map(str::trim)
        .find_map(|c| c.strip_prefix(&format!("{table}.")))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }

    #[test]
    fn timestamps_sort_as_text() {
        let t = now_text();
        assert_eq!(t.len(), "2026-11-26T01:58:35Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}
