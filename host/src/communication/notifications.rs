//! The notifications inbox: short messages for a customer about the events of their account
//! (an order placed, moved along or shipped, a product back in stock, the password or the
//! email address changed), written in the transaction of the event, read on the storefront's
//! `/accounts/notifications/`. A customer reads, archives and deletes their own; another
//! customer's notification is simply not found.

use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::infra::db::{Db, now_text};

/// Notifications per page of the inbox.
pub const PAGE_SIZE: u32 = 20;

/// One notification to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice<'a> {
    pub subject: &'a str,
    pub body: &'a str,
    /// A path on the shop, e.g. `/accounts/orders/100001/`.
    pub link: Option<&'a str>,
}

/// Writes `notice` for customer `customer_id` on `conn` (the event's own transaction). With a
/// `dedupe` key, the same event is told once: false when it already was.
pub async fn add(
    conn: &mut AnyConnection,
    customer_id: i64,
    notice: &Notice<'_>,
    dedupe: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO notification (customer_id, subject, body, link_url, dedupe_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(customer_id)
    .bind(notice.subject)
    .bind(notice.body)
    .bind(notice.link)
    .bind(dedupe)
    .bind(now_text())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id.is_some())
}

/// One notification as the inbox shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: i64,
    pub subject: String,
    pub body: String,
    pub link_url: Option<String>,
    pub created_at: String,
    pub read_at: Option<String>,
    pub archived_at: Option<String>,
}

/// Which of a customer's notifications a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Inbox,
    Archive,
}

/// One page of the customer's notifications in `folder`, newest first, and how many there
/// are in it.
pub async fn list(
    pool: &AnyPool,
    customer_id: i64,
    folder: Folder,
    page: u32,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let condition = match folder {
        Folder::Inbox => "archived_at IS NULL",
        Folder::Archive => "archived_at IS NOT NULL",
    };
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM notification WHERE customer_id = $1 AND {condition}"
    )))
    .bind(customer_id)
    .fetch_one(pool)
    .await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(PAGE_SIZE);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, subject, body, link_url, created_at, read_at, archived_at FROM notification \
         WHERE customer_id = $1 AND {condition} ORDER BY id DESC LIMIT {PAGE_SIZE} OFFSET {offset}"
    )))
    .bind(customer_id)
    .fetch_all(pool)
    .await?;
    let listed = rows
        .iter()
        .map(|r| {
            Ok(Listed {
                id: r.try_get("id")?,
                subject: r.try_get("subject")?,
                body: r.try_get("body")?,
                link_url: r.try_get("link_url")?,
                created_at: r.try_get("created_at")?,
                read_at: r.try_get("read_at")?,
                archived_at: r.try_get("archived_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((listed, total))
}

/// How many of the customer's notifications in the inbox are unread (the header shows it on
/// every page a signed-in customer sees: one index-only count).
pub async fn unread(pool: &AnyPool, customer_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM notification \
         WHERE customer_id = $1 AND read_at IS NULL AND archived_at IS NULL",
    )
    .bind(customer_id)
    .fetch_one(pool)
    .await
}

/// What a customer does to one of their notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Archive,
    Delete,
}

/// Applies `action` to the customer's notification `id`; false when it is not theirs (or does
/// not exist), so the caller answers 404 either way.
pub async fn act(db: &Db, customer_id: i64, id: i64, action: Action) -> Result<bool, sqlx::Error> {
    let (sql, stamped) = match action {
        Action::Read => (
            "UPDATE notification SET read_at = COALESCE(read_at, $3) \
             WHERE id = $1 AND customer_id = $2",
            true,
        ),
        // Archiving marks it read too: it leaves the inbox and the unread count.
        Action::Archive => (
            "UPDATE notification SET archived_at = COALESCE(archived_at, $3), \
             read_at = COALESCE(read_at, $3) WHERE id = $1 AND customer_id = $2",
            true,
        ),
        Action::Delete => (
            "DELETE FROM notification WHERE id = $1 AND customer_id = $2",
            false,
        ),
    };
    let mut tx = db.begin_write().await?;
    let mut query = sqlx::query(sql).bind(id).bind(customer_id);
    if stamped {
        query = query.bind(now_text());
    }
    let done = query.execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok(done == 1)
}

/// Marks every unread notification of the customer's inbox read; how many were.
pub async fn mark_all_read(db: &Db, customer_id: i64) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE notification SET read_at = $2 \
         WHERE customer_id = $1 AND read_at IS NULL AND archived_at IS NULL",
    )
    .bind(customer_id)
    .bind(now_text())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(done)
}

/// Opens the customer's notification `id`: marks it read and gives its link (when it has one
/// that is a path on the shop). `None` when it is not theirs.
pub async fn open(
    db: &Db,
    customer_id: i64,
    id: i64,
) -> Result<Option<Option<String>>, sqlx::Error> {
    if !act(db, customer_id, id, Action::Read).await? {
        return Ok(None);
    }
    Ok(Some(link(&db.pool, customer_id, id).await?))
}

/// The link of the customer's notification `id`, when it has one that is a path on the shop.
async fn link(pool: &AnyPool, customer_id: i64, id: i64) -> Result<Option<String>, sqlx::Error> {
    let link: Option<Option<String>> =
        sqlx::query_scalar("SELECT link_url FROM notification WHERE id = $1 AND customer_id = $2")
            .bind(id)
            .bind(customer_id)
            .fetch_optional(pool)
            .await?;
    Ok(link.flatten().filter(|l| local_path(l)))
}

/// A path on this shop (`/…`), never a link elsewhere (`//host`, `\`, a scheme).
pub fn local_path(link: &str) -> bool {
    link.starts_with('/')
        && !link.starts_with("//")
        && !link.contains('\\')
        && link.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_on_the_shop() {
        assert!(local_path("/accounts/orders/100001/"));
        for bad in ["//evil.test/", "https://evil.test/", "/\\evil", "", "/a b"] {
            assert!(!local_path(bad), "{bad}");
        }
    }
}
