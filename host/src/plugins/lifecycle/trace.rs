//! The decision-trace store: records the registry hands over (see
//! [`crate::plugins::runtime::trace`]) queue in memory and a background task writes them in
//! batches, one transaction each, so a checkout never waits on a trace write. The table is
//! bounded by age and by total size; the oldest rows go first. A full queue drops records (and
//! counts them) rather than slowing the shop.
//!
//! Reading: an order's decisions ([`for_subjects`]) and a plugin's recorded calls for a replay
//! ([`for_plugin`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::{mpsc, oneshot};

use crate::infra::db::{Db, placeholders};
use crate::plugins::runtime::{TraceRecord, TraceSettings, TraceSink, TracedCall};

/// Records waiting for the writer; beyond this the shop is outpacing the database and new
/// records are dropped.
const QUEUE: usize = 8192;
/// Rows per insert transaction.
const BATCH: usize = 256;
/// How often the writer checks the bounds while records keep coming.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

enum Message {
    Record(Box<TraceRecord>),
    /// Write everything queued before this, apply the bounds, then answer.
    Flush(oneshot::Sender<()>),
}

/// The sink a serving process gives its registry.
pub struct TraceStore {
    tx: mpsc::Sender<Message>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceStore")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TraceSink for TraceStore {
    fn record(&self, record: TraceRecord) {
        if self.tx.try_send(Message::Record(Box::new(record))).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "decision traces are arriving faster than the database takes them; some are dropped"
                );
            }
        }
    }
}

impl TraceStore {
    /// Starts the writer; it ends when the store is dropped.
    pub fn spawn(db: Db, settings: TraceSettings) -> Arc<TraceStore> {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(db, settings, rx));
        Arc::new(TraceStore {
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Waits until every record handed over before this call is written and the bounds are
    /// applied (tests, and the dashboard before it shows a fresh trace).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// [`Self::flush`], but a page waits at most `limit` for it: a slow database shows the
    /// page without the newest calls rather than not at all.
    pub async fn flush_within(&self, limit: Duration) {
        if tokio::time::timeout(limit, self.flush()).await.is_err() {
            tracing::warn!(
                ?limit,
                "the decision-trace writer is behind; showing what is written"
            );
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_loop(db: Db, settings: TraceSettings, mut rx: mpsc::Receiver<Message>) {
    let mut last_prune: Option<Instant> = None;
    let mut batch: Vec<TraceRecord> = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(r) => batch.push(*r),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(e) = insert(&db, &batch).await {
                tracing::error!(error = %e, records = batch.len(), "writing decision traces failed");
            }
            batch.clear();
        }
        if !flushes.is_empty() || last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            if let Err(e) = prune(&db, &settings).await {
                tracing::error!(error = %e, "bounding the decision-trace store failed");
            }
            last_prune = Some(Instant::now());
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// `recorded_at` as stored: RFC 3339 UTC with milliseconds, fixed width.
pub fn timestamp(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format).unwrap_or_default()
}

async fn insert(db: &Db, records: &[TraceRecord]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for r in records {
        let (output, error) = match &r.output {
            Ok(o) => (Some(o.as_str()), None),
            Err(e) => (None, Some(e.as_str())),
        };
        let size = r.input.len() + output.map_or(0, str::len) + error.map_or(0, str::len);
        sqlx::query(
            "INSERT INTO plugin_trace (recorded_at, plugin_id, plugin_version, world, call, \
             basket_id, order_number, payment_reference, input, output, error, duration_us, \
             fuel_used, memory_peak_bytes, size_bytes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(timestamp(r.recorded_at))
        .bind(&r.plugin.id)
        .bind(r.plugin.version.to_string())
        .bind(r.world.name())
        .bind(r.call.as_str())
        .bind(r.subject.basket_id)
        .bind(r.subject.order_number.as_deref())
        .bind(r.subject.payment_reference.as_deref())
        .bind(&r.input)
        .bind(output)
        .bind(error)
        .bind(i64::try_from(r.duration.as_micros()).unwrap_or(i64::MAX))
        .bind(r.fuel_used.map(|f| i64::try_from(f).unwrap_or(i64::MAX)))
        .bind(i64::try_from(r.memory_peak_bytes).unwrap_or(i64::MAX))
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// What [`prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub expired: u64,
    pub over_size: u64,
}

/// Deletes records past the retention, then the oldest until the rest fit in nine tenths of
/// the size bound (the slack keeps the next batches from pruning again at once).
pub async fn prune(db: &Db, settings: &TraceSettings) -> Result<Pruned, sqlx::Error> {
    let cutoff = timestamp(SystemTime::now() - settings.retention);
    let expired = sqlx::query("DELETE FROM plugin_trace WHERE recorded_at < $1")
        .bind(cutoff)
        .execute(&db.pool)
        .await?
        .rows_affected();
    let mut pruned = Pruned {
        expired,
        over_size: 0,
    };
    let total: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM plugin_trace")
            .fetch_one(&db.pool)
            .await?;
    let max = i64::try_from(settings.max_bytes).unwrap_or(i64::MAX);
    if total <= max {
        return Ok(pruned);
    }
    let mut excess = total - max / 10 * 9;
    let mut after_id = 0i64;
    while excess > 0 {
        let rows = sqlx::query(
            "SELECT id, size_bytes FROM plugin_trace WHERE id > $1 ORDER BY id LIMIT 1000",
        )
        .bind(after_id)
        .fetch_all(&db.pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after_id = row.try_get("id")?;
            excess -= row.try_get::<i64, _>("size_bytes")?;
            if excess <= 0 {
                break;
            }
        }
    }
    pruned.over_size = sqlx::query("DELETE FROM plugin_trace WHERE id <= $1")
        .bind(after_id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(pruned)
}

/// One recorded call as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredTrace {
    pub id: i64,
    pub recorded_at: String,
    pub plugin_id: String,
    pub plugin_version: String,
    pub world: String,
    pub call: String,
    pub basket_id: Option<i64>,
    pub order_number: Option<String>,
    pub payment_reference: Option<String>,
    pub input: String,
    /// The answer's JSON, or the error.
    pub output: Result<String, String>,
    pub duration_us: i64,
    pub fuel_used: Option<i64>,
    pub memory_peak_bytes: i64,
}

impl StoredTrace {
    pub fn traced_call(&self) -> Option<TracedCall> {
        TracedCall::parse(&self.call)
    }
}

const COLUMNS: &str = "id, recorded_at, plugin_id, plugin_version, world, call, basket_id, \
                       order_number, payment_reference, input, output, error, duration_us, \
                       fuel_used, memory_peak_bytes";

fn from_row(row: &AnyRow) -> Result<StoredTrace, sqlx::Error> {
    let output: Option<String> = row.try_get("output")?;
    let error: Option<String> = row.try_get("error")?;
    Ok(StoredTrace {
        id: row.try_get("id")?,
        recorded_at: row.try_get("recorded_at")?,
        plugin_id: row.try_get("plugin_id")?,
        plugin_version: row.try_get("plugin_version")?,
        world: row.try_get("world")?,
        call: row.try_get("call")?,
        basket_id: row.try_get("basket_id")?,
        order_number: row.try_get("order_number")?,
        payment_reference: row.try_get("payment_reference")?,
        input: row.try_get("input")?,
        output: match (output, error) {
            (Some(o), _) => Ok(o),
            (None, e) => Err(e.unwrap_or_default()),
        },
        duration_us: row.try_get("duration_us")?,
        fuel_used: row.try_get("fuel_used")?,
        memory_peak_bytes: row.try_get("memory_peak_bytes")?,
    })
}

/// Most rows one order's view shows (a basket re-quoted on every page view adds up).
pub const ORDER_LIMIT: i64 = 500;

/// The calls made for a basket, an order number or payment references, oldest first.
pub async fn for_subjects(
    db: &Db,
    basket_id: Option<i64>,
    order_number: Option<&str>,
    payment_references: &[String],
) -> Result<Vec<StoredTrace>, sqlx::Error> {
    let mut clauses = Vec::new();
    let mut n = 0;
    if basket_id.is_some() {
        n += 1;
        clauses.push(format!("basket_id = ${n}"));
    }
    if order_number.is_some() {
        n += 1;
        clauses.push(format!("order_number = ${n}"));
    }
    if !payment_references.is_empty() {
        clauses.push(format!(
            "payment_reference IN ({})",
            placeholders(n + 1, payment_references.len())
        ));
    }
    if clauses.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM plugin_trace WHERE {} ORDER BY id LIMIT {ORDER_LIMIT}",
        clauses.join(" OR ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(b) = basket_id {
        query = query.bind(b);
    }
    if let Some(o) = order_number {
        query = query.bind(o.to_string());
    }
    for r in payment_references {
        query = query.bind(r.clone());
    }
    query
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A plugin's recorded calls from `since` (RFC 3339) on, oldest first, at most `limit`.
pub async fn for_plugin(
    db: &Db,
    plugin_id: &str,
    since: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredTrace>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM plugin_trace WHERE plugin_id = $1 AND recorded_at >= $2 \
         ORDER BY id LIMIT $3"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(plugin_id)
        .bind(since.unwrap_or(""))
        .bind(limit)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Deletes the calls recorded for customer `id`'s baskets and orders (their account is being
/// deleted: the inputs name them). Run before the baskets and orders are unlinked.
pub async fn forget_customer(
    conn: &mut sqlx::AnyConnection,
    customer_id: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM plugin_trace WHERE basket_id IN (SELECT id FROM basket WHERE owner_id = $1) \
         OR order_number IN (SELECT number FROM shop_order WHERE customer_id = $1)",
    )
    .bind(customer_id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// How many calls of a plugin are recorded, and the newest one's time.
pub async fn summary(db: &Db, plugin_id: &str) -> Result<(i64, Option<String>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MAX(recorded_at) AS newest FROM plugin_trace WHERE plugin_id = $1",
    )
    .bind(plugin_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((row.try_get("n")?, row.try_get("newest")?))
}
