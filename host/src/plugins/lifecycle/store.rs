//! The plugin tables (migrations/*/0003_plugins.sql): the installed set, configuration values,
//! secrets kept apart, and the state counter every change bumps. The only module with plugin
//! SQL. Writers take an open transaction so a change and its counter bump commit together.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::infra::db::{flag, now_text};
use crate::plugins::distribution::manifest::{ConfigValues, Manifest};
use crate::plugins::runtime::{DisabledReason, PluginRef, TraceMode};

/// One installed plugin as the database records it. Holds no configuration values, so it can
/// be listed, logged and rendered freely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlugin {
    pub id: String,
    pub version: String,
    pub world: String,
    /// The verified package's folder, relative to the data directory.
    pub package_path: String,
    /// sha256 of the component (`plugin.wasm`).
    pub sha256: String,
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReason>,
    pub approved_hosts: Vec<String>,
    pub installed_at: String,
    pub updated_at: String,
    /// The package the last upgrade replaced, kept for a rollback.
    pub previous: Option<PreviousPackage>,
    /// Which of its calls are recorded as decision traces.
    pub trace_mode: TraceMode,
}

/// The version a plugin had before its last upgrade (or rollback), still on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousPackage {
    pub version: String,
    pub package_path: String,
    pub sha256: String,
}

impl StoredPlugin {
    pub fn plugin_ref(&self) -> Option<PluginRef> {
        Some(PluginRef {
            id: self.id.clone(),
            version: self.version.parse().ok()?,
        })
    }
}

const COLUMNS: &str = "id, version, world, package_path, sha256, enabled, disabled_reason, \
                       failure_count, last_error, approved_hosts, installed_at, updated_at, \
                       previous_version, previous_package_path, previous_sha256, trace_mode";

fn from_row(row: &AnyRow) -> Result<StoredPlugin, sqlx::Error> {
    let reason: Option<String> = row.try_get("disabled_reason")?;
    let disabled_reason = match reason.as_deref() {
        None => None,
        Some("failures") => Some(DisabledReason::Failures {
            count: u32::try_from(row.try_get::<i64, _>("failure_count")?).unwrap_or(u32::MAX),
            last_error: row
                .try_get::<Option<String>, _>("last_error")?
                .unwrap_or_default(),
        }),
        Some(_) => Some(DisabledReason::Admin),
    };
    let hosts: String = row.try_get("approved_hosts")?;
    Ok(StoredPlugin {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        world: row.try_get("world")?,
        package_path: row.try_get("package_path")?,
        sha256: row.try_get("sha256")?,
        enabled: flag(row, "enabled")?,
        disabled_reason,
        approved_hosts: hosts
            .lines()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(String::from)
            .collect(),
        installed_at: row.try_get("installed_at")?,
        updated_at: row.try_get("updated_at")?,
        previous: match (
            row.try_get::<Option<String>, _>("previous_version")?,
            row.try_get::<Option<String>, _>("previous_package_path")?,
            row.try_get::<Option<String>, _>("previous_sha256")?,
        ) {
            (Some(version), Some(package_path), Some(sha256)) => Some(PreviousPackage {
                version,
                package_path,
                sha256,
            }),
            _ => None,
        },
        trace_mode: TraceMode::parse(&row.try_get::<String, _>("trace_mode")?).unwrap_or_default(),
    })
}

/// The counter bumped by every change of the plugin tables.
pub async fn state_version(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM plugin_state WHERE id = 1")
        .fetch_one(pool)
        .await
}

/// Every installed plugin, by id.
pub async fn list(pool: &AnyPool) -> Result<Vec<StoredPlugin>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM plugin_installed ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<StoredPlugin>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM plugin_installed WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The non-secret configuration values of a plugin.
pub async fn public_config(pool: &AnyPool, id: &str) -> Result<ConfigValues, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM plugin_config WHERE plugin_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The names of the secrets that are set (never their values).
pub async fn secret_keys(pool: &AnyPool, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT key FROM plugin_secret WHERE plugin_id = $1 ORDER BY key")
        .bind(id)
        .fetch_all(pool)
        .await
}

/// Every configuration value including secrets: only for handing to the runtime.
pub(crate) async fn full_config(pool: &AnyPool, id: &str) -> Result<ConfigValues, sqlx::Error> {
    let mut values = public_config(pool, id).await?;
    let secrets: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM plugin_secret WHERE plugin_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?;
    for (k, v) in secrets {
        values.set(k, v);
    }
    Ok(values)
}

/// Records a newly installed plugin.
pub async fn insert(conn: &mut AnyConnection, p: &StoredPlugin) -> Result<(), sqlx::Error> {
    let (reason, count, last_error) = reason_columns(p.enabled, p.disabled_reason.as_ref());
    let now = now_text();
    sqlx::query(
        "INSERT INTO plugin_installed (id, version, world, package_path, sha256, enabled, \
         disabled_reason, failure_count, last_error, approved_hosts, installed_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&p.id)
    .bind(&p.version)
    .bind(&p.world)
    .bind(&p.package_path)
    .bind(&p.sha256)
    .bind(p.enabled)
    .bind(reason)
    .bind(count)
    .bind(last_error)
    .bind(p.approved_hosts.join("\n"))
    .bind(&now)
    .bind(&now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Points an installed plugin at a new version's package (an upgrade or a rollback), and
/// records the package it had before (`None` forgets it).
pub async fn set_package(
    conn: &mut AnyConnection,
    id: &str,
    version: &str,
    world: &str,
    package_path: &str,
    sha256: &str,
    previous: Option<&PreviousPackage>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE plugin_installed SET version = $2, world = $3, package_path = $4, sha256 = $5, \
         updated_at = $6, previous_version = $7, previous_package_path = $8, \
         previous_sha256 = $9 WHERE id = $1",
    )
    .bind(id)
    .bind(version)
    .bind(world)
    .bind(package_path)
    .bind(sha256)
    .bind(now_text())
    .bind(previous.map(|p| p.version.clone()))
    .bind(previous.map(|p| p.package_path.clone()))
    .bind(previous.map(|p| p.sha256.clone()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn reason_columns(
    enabled: bool,
    reason: Option<&DisabledReason>,
) -> (Option<&'static str>, i64, Option<String>) {
    match (enabled, reason) {
        (true, _) => (None, 0, None),
        (false, Some(DisabledReason::Failures { count, last_error })) => (
            Some("failures"),
            i64::from(*count),
            Some(last_error.clone()),
        ),
        (false, _) => (Some("admin"), 0, None),
    }
}

/// Switches a plugin on or off. Returns whether a row changed.
pub async fn set_enabled(
    conn: &mut AnyConnection,
    id: &str,
    enabled: bool,
    reason: Option<&DisabledReason>,
) -> Result<bool, sqlx::Error> {
    let (reason, count, last_error) = reason_columns(enabled, reason);
    let done = sqlx::query(
        "UPDATE plugin_installed SET enabled = $2, disabled_reason = $3, failure_count = $4, \
         last_error = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(enabled)
    .bind(reason)
    .bind(count)
    .bind(last_error)
    .bind(now_text())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Replaces a plugin's configuration: secrets (per the manifest) go to `plugin_secret`, the
/// rest to `plugin_config`. Empty values are not stored (the schema default applies).
pub async fn write_config(
    conn: &mut AnyConnection,
    id: &str,
    manifest: &Manifest,
    values: &ConfigValues,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM plugin_config WHERE plugin_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM plugin_secret WHERE plugin_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let secrets: Vec<&str> = manifest.secret_fields().collect();
    for key in values.keys() {
        let Some(value) = values.get(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let sql = if secrets.contains(&key) {
            "INSERT INTO plugin_secret (plugin_id, key, value) VALUES ($1, $2, $3)"
        } else {
            "INSERT INTO plugin_config (plugin_id, key, value) VALUES ($1, $2, $3)"
        };
        sqlx::query(sql)
            .bind(id)
            .bind(key)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn set_approved_hosts(
    conn: &mut AnyConnection,
    id: &str,
    hosts: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE plugin_installed SET approved_hosts = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hosts.join("\n"))
        .bind(now_text())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM plugin_config WHERE plugin_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM plugin_secret WHERE plugin_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM plugin_installed WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The PostgreSQL channel plugin changes are announced on.
pub const CHANNEL: &str = "emporium_plugins";

/// Tells every process sharing the database that the plugin tables changed: the version row
/// (which every process polls) and, on PostgreSQL, a notification delivered when the
/// transaction commits, so listening processes follow at once.
/// Changes which of a plugin's calls are recorded; `false` when it is not installed.
pub async fn set_trace_mode(
    conn: &mut AnyConnection,
    id: &str,
    mode: TraceMode,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE plugin_installed SET trace_mode = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(mode.as_str())
            .bind(now_text())
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn bump(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE plugin_state SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Records that a plugin was switched off automatically after repeated failures, unless the
/// database already has it off or holds another version. Returns whether it changed.
pub async fn record_auto_disable(
    db: &crate::infra::db::Db,
    plugin: &PluginRef,
    count: u32,
    last_error: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE plugin_installed SET enabled = $3, disabled_reason = 'failures', \
         failure_count = $4, last_error = $5, updated_at = $6 \
         WHERE id = $1 AND version = $2 AND enabled = $7",
    )
    .bind(&plugin.id)
    .bind(plugin.version.to_string())
    .bind(false)
    .bind(i64::from(count))
    .bind(last_error)
    .bind(now_text())
    .bind(true)
    .execute(&mut *tx)
    .await?;
    let changed = done.rows_affected() > 0;
    if changed {
        bump(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed)
}
