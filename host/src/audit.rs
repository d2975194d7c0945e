//! The audit log: every staff write, recorded in the write's own transaction (so an entry
//! exists exactly when the change does), with who, what, when, and the object before and
//! after as JSON.

use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::infra::db::now_text;

/// Who made a change.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A staff user (the entry keeps the email too, so it outlives the account).
    Staff { id: i64, email: &'a str },
    /// `emporium …` on the server, by whoever runs it there.
    CommandLine,
}

/// `value` as the JSON an entry keeps.
pub fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"unserialisable\":\"{e}\"}}"))
}

/// Records one change; call it inside the change's transaction.
pub async fn record(
    tx: &mut Transaction<'_, Any>,
    actor: Actor<'_>,
    action: &str,
    object_type: &str,
    object_id: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(), sqlx::Error> {
    let (staff_id, who) = match actor {
        Actor::Staff { id, email } => (Some(id), email.to_owned()),
        Actor::CommandLine => (None, "(command line)".to_owned()),
    };
    sqlx::query(
        "INSERT INTO audit_log (staff_id, actor, action, object_type, object_id, before_json, \
         after_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(staff_id)
    .bind(who)
    .bind(action)
    .bind(object_type)
    .bind(object_id)
    .bind(before)
    .bind(after)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One entry, as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub created_at: String,
}

/// The entries about one object, oldest first.
pub async fn for_object(
    pool: &AnyPool,
    object_type: &str,
    object_id: &str,
) -> Result<Vec<Entry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT actor, action, object_type, object_id, before_json, after_json, created_at \
         FROM audit_log WHERE object_type = $1 AND object_id = $2 ORDER BY id",
    )
    .bind(object_type)
    .bind(object_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                object_type: r.try_get("object_type")?,
                object_id: r.try_get("object_id")?,
                before: r.try_get("before_json")?,
                after: r.try_get("after_json")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
