//! The email history of an account: the messages the shop sent about it (`mail_outbox` rows
//! whose `customer_id` the sending code set), with their subject, date and delivery status,
//! and the text as sent when it has no secret link in it (see `mail::History`).

use serde::Serialize;
use sqlx::{AnyPool, Row};

/// Messages per page of the history.
pub const PAGE_SIZE: u32 = 20;

/// One message in the list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: i64,
    pub subject: String,
    pub recipient: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// One message, with its text.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    #[serde(flatten)]
    pub listed: Listed,
    /// `None` when the text was not kept (it carried a single-use link).
    pub text: Option<String>,
}

fn listed(r: &sqlx::any::AnyRow) -> Result<Listed, sqlx::Error> {
    Ok(Listed {
        id: r.try_get("id")?,
        subject: r.try_get("subject")?,
        recipient: r.try_get("recipient")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

/// One page of the customer's messages, newest first, and how many there are.
pub async fn list(
    pool: &AnyPool,
    customer_id: i64,
    page: u32,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(pool)
        .await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(PAGE_SIZE);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, subject, recipient, status, created_at, sent_at FROM mail_outbox \
         WHERE customer_id = $1 ORDER BY id DESC LIMIT {PAGE_SIZE} OFFSET {offset}"
    )))
    .bind(customer_id)
    .fetch_all(pool)
    .await?;
    let listed = rows.iter().map(listed).collect::<Result<Vec<_>, _>>()?;
    Ok((listed, total))
}

/// The customer's message `id`, or `None` when it is not theirs.
pub async fn message(
    pool: &AnyPool,
    customer_id: i64,
    id: i64,
) -> Result<Option<Message>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, subject, recipient, status, created_at, sent_at, body_text, keep_body \
         FROM mail_outbox WHERE id = $1 AND customer_id = $2",
    )
    .bind(id)
    .bind(customer_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kept = crate::infra::db::flag(&row, "keep_body")?;
    let body: String = row.try_get("body_text")?;
    Ok(Some(Message {
        listed: listed(&row)?,
        // A message with a secret link keeps its text only until it is delivered; it is never
        // shown here, even while waiting.
        text: (kept && !body.is_empty()).then_some(body),
    }))
}
