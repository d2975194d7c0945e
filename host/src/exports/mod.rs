//! CSV exports made in the background (the order list's, and reports too large to send at
//! once): the dashboard starts one and shows its progress; a
//! task writes the file under `<data_dir>/exports/` in batches, recording how far it got, and
//! the staff member who asked downloads it once done. An export runs with the scope of the
//! staff member who asked (a partner user exports their orders only).
//!
//! Every kind of job (the order export here, the catalogue's export and import in
//! [`catalogue`]) shares one small API: [`insert`] a running row inside the caller's
//! transaction (so its audit entry commits with it), then [`run`] the work in the background
//! with a [`Tracker`] it reports its progress to; `run` records the end (done with the job's
//! `detail`, or failed with the error).
//!
//! Cells that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, carriage return
//! at the start) are prefixed with `'`: customers type emails and names, and an export must
//! not run what they typed on a colleague's machine.

pub mod catalogue;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::audit::{self, Actor};
use crate::infra::db::{Db, now_text};
use crate::money::Currency;
use crate::order::export::{self as order_export, Cursor};
use crate::order::filter::OrderFilter;
use crate::reports::tables;
use crate::staff::Staff;

/// Rows read and written per batch (and progress recorded after each).
const BATCH: u32 = 500;

/// A running export that has not recorded progress for this long has died with its process.
const STALLED: time::Duration = time::Duration::minutes(5);

fn stalled_before() -> String {
    let at = time::OffsetDateTime::now_utc() - STALLED;
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One export, as its page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub query: String,
    pub state: String,
    pub total_rows: i64,
    pub done_rows: i64,
    pub error: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// What the job found besides its file (an import's JSON report), when done.
    pub detail: String,
    #[serde(skip)]
    pub file_name: String,
}

impl Job {
    /// Whole percent done, for the progress bar.
    pub fn percent(&self) -> i64 {
        if self.state == "done" || self.total_rows == 0 {
            return if self.state == "running" { 0 } else { 100 };
        }
        (self.done_rows * 100 / self.total_rows).clamp(0, 100)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the export: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Report(#[from] tables::ReportError),
    /// Any other reason a job stopped, in words for the person who started it.
    #[error("{0}")]
    Other(String),
}

/// How far running jobs of this process are, between their writes to the database. A page
/// asked of this process reads the live count; another host reads the row, which [`run`]
/// brings up to date every [`FLUSH_EVERY`]. (On SQLite a catalogue import holds the write
/// lock until it commits, so only the live count moves while it runs.)
static LIVE: LazyLock<Mutex<HashMap<i64, Arc<Counts>>>> = LazyLock::new(Default::default);

/// How often a running job's counts are written to its row.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Default)]
struct Counts {
    done: AtomicI64,
    total: AtomicI64,
}

fn live(id: i64) -> Option<Arc<Counts>> {
    LIVE.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&id)
        .cloned()
}

/// What a job's work reports its progress to (cheap, synchronous: a callback may call it).
#[derive(Clone)]
pub struct Tracker {
    counts: Arc<Counts>,
}

impl Tracker {
    /// `done` of `total` rows.
    pub fn set(&self, done: u64, total: u64) {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.counts.total.store(n(total), Ordering::Relaxed);
        self.counts.done.store(n(done), Ordering::Relaxed);
    }

    /// `done` rows (of the total the job started with).
    pub fn done(&self, done: i64) {
        self.counts.done.store(done, Ordering::Relaxed);
    }
}

/// Adds a running job of `kind` for `staff` inside `tx`; returns its id. The caller audits
/// the start in the same transaction and, once it commits, hands the work to [`run`].
pub async fn insert(
    tx: &mut Transaction<'static, Any>,
    staff: &Staff,
    kind: &str,
    query: &str,
    total: i64,
    file_name: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO export_job (staff_id, kind, query, state, total_rows, file_name, created_at, \
         updated_at) VALUES ($1, $2, $3, 'running', $4, $5, $6, $6) RETURNING id",
    )
    .bind(staff.id)
    .bind(kind)
    .bind(query)
    .bind(total)
    .bind(file_name)
    .bind(now_text())
    .fetch_one(&mut **tx)
    .await
}

/// A new file name for a job's output: `<stem>-<random>.<ext>` (never guessable from the id).
pub fn file_name(stem: &str, ext: &str) -> String {
    format!("{stem}-{}.{ext}", &crate::infra::random_token()[..16])
}

/// Where a job writes its file `name`.
pub fn path_for(data_dir: &Path, name: &str) -> PathBuf {
    directory(data_dir).join(name)
}

/// Runs job `id`'s `work` in the background: its progress is written to the row as it goes,
/// and at the end the job is done (with the `detail` the work returned) or failed.
pub fn run<F, Fut>(db: &Db, id: i64, work: F)
where
    F: FnOnce(Tracker) -> Fut + Send + 'static,
    Fut: Future<Output = Result<String, ExportError>> + Send + 'static,
{
    let counts = Arc::new(Counts::default());
    LIVE.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(id, counts.clone());
    let db = db.clone();
    tokio::spawn(async move {
        let flusher = {
            let (db, counts) = (db.clone(), counts.clone());
            tokio::spawn(async move {
                let mut last = (-1, -1);
                loop {
                    tokio::time::sleep(FLUSH_EVERY).await;
                    let now = (
                        counts.done.load(Ordering::Relaxed),
                        counts.total.load(Ordering::Relaxed),
                    );
                    if now == last {
                        continue;
                    }
                    // Best effort: the live count stands in until the next write succeeds.
                    match record_progress(&db, id, now.0, now.1).await {
                        Ok(()) => last = now,
                        Err(e) => {
                            tracing::debug!(job = id, error = %e, "progress not recorded yet")
                        }
                    }
                }
            })
        };
        let result = work(Tracker {
            counts: counts.clone(),
        })
        .await;
        flusher.abort();
        let (state, error, detail) = match result {
            Ok(detail) => ("done", String::new(), detail),
            Err(e) => {
                tracing::error!(job = id, error = %e, "background job failed");
                ("failed", e.to_string(), String::new())
            }
        };
        let (done, total) = (
            counts.done.load(Ordering::Relaxed),
            counts.total.load(Ordering::Relaxed),
        );
        if let Err(e) = sqlx::query(
            "UPDATE export_job SET state = $2, error = $3, detail = $4, \
             done_rows = CASE WHEN $5 > done_rows THEN $5 ELSE done_rows END, \
             total_rows = CASE WHEN $6 > 0 THEN $6 ELSE total_rows END, \
             finished_at = $7, updated_at = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(error)
        .bind(detail)
        .bind(done)
        .bind(total)
        .bind(now_text())
        .execute(&db.pool)
        .await
        {
            tracing::error!(job = id, error = %e, "job state not recorded");
        }
        LIVE.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&id);
    });
}

/// Writes a running job's counts (a total of 0 leaves the row's total as it is).
async fn record_progress(db: &Db, id: i64, done: i64, total: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE export_job SET done_rows = $2, \
         total_rows = CASE WHEN $3 > 0 THEN $3 ELSE total_rows END, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(done)
    .bind(total)
    .bind(now_text())
    .execute(&db.pool)
    .await
    .map(|_| ())
}

fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("exports")
}

/// Starts exporting the orders `query` (the order list's query string) selects, for
/// `staff`; returns the job's id at once.
pub async fn start_orders(
    db: &Db,
    data_dir: &Path,
    staff: &Staff,
    query: &HashMap<String, String>,
    currency: Currency,
) -> Result<i64, ExportError> {
    let (filter, _) = OrderFilter::parse(query, currency);
    let scope: Option<Vec<i64>> = staff.partner_scope().map(<[i64]>::to_vec);
    let total = order_export::count(&db.pool, scope.as_deref(), &filter).await?;
    let query_text = crate::order::filter::canonical_query(query);
    let file_name = file_name("orders", "csv");
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, staff, "orders", &query_text, total, &file_name).await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "export.orders",
        "export",
        &id.to_string(),
        None,
        Some(&audit::json(
            &serde_json::json!({ "query": query_text, "rows": total }),
        )),
    )
    .await?;
    tx.commit().await?;
    let (writer_db, path) = (db.clone(), path_for(data_dir, &file_name));
    run(db, id, move |tracker| async move {
        write_orders(&writer_db, &path, &tracker, scope.as_deref(), &filter).await?;
        Ok(String::new())
    });
    Ok(id)
}

/// Starts writing the report `params` asks for as CSV, with `staff`'s scope; returns the
/// job's id at once. For reports too large to send in a response.
pub async fn start_report(
    db: &Db,
    data_dir: &Path,
    staff: &Staff,
    params: &tables::Params,
    currency: Currency,
) -> Result<i64, ExportError> {
    let scope: Option<Vec<i64>> = staff.partner_scope().map(<[i64]>::to_vec);
    let total = tables::count(&db.pool, scope.as_deref(), params).await?;
    let query_text = params.query();
    let file_name = format!(
        "report-{}-{}.csv",
        params.report.slug(),
        &crate::infra::random_token()[..16]
    );
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO export_job (staff_id, kind, query, state, total_rows, file_name, created_at, \
         updated_at) VALUES ($1, 'report', $2, 'running', $3, $4, $5, $5) RETURNING id",
    )
    .bind(staff.id)
    .bind(&query_text)
    .bind(total)
    .bind(&file_name)
    .bind(now_text())
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "export.report",
        "export",
        &id.to_string(),
        None,
        Some(&audit::json(
            &serde_json::json!({ "query": query_text, "rows": total }),
        )),
    )
    .await?;
    tx.commit().await?;
    let (writer_db, path, params) = (db.clone(), path_for(data_dir, &file_name), params.clone());
    run(db, id, move |tracker| async move {
        write_report(
            &writer_db,
            &path,
            &tracker,
            scope.as_deref(),
            &params,
            currency,
        )
        .await?;
        Ok(String::new())
    });
    Ok(id)
}

async fn write_report(
    db: &Db,
    path: &Path,
    tracker: &Tracker,
    scope: Option<&[i64]>,
    params: &tables::Params,
    currency: Currency,
) -> Result<(), ExportError> {
    let mut out = Partial::create(path).await?;
    out.csv.write_record(tables::header(params.report))?;
    let mut done: i64 = 0;
    loop {
        let rows = tables::rows(&db.pool, scope, currency, params, i64::from(BATCH), done).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            out.csv
                .write_record(row.iter().map(|cell| defuse(&cell.csv()).into_owned()))?;
        }
        done += i64::try_from(rows.len()).unwrap_or(i64::MAX);
        tracker.done(done);
        if rows.len() < BATCH as usize {
            break;
        }
    }
    out.finish().await
}

/// A CSV written beside its final name and renamed at the end: a download never gets half a
/// file.
struct Partial {
    csv: csv::Writer<std::fs::File>,
    partial: PathBuf,
    path: PathBuf,
}

impl Partial {
    async fn create(path: &Path) -> Result<Partial, ExportError> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let partial = path.with_extension("csv.part");
        Ok(Partial {
            csv: csv::Writer::from_path(&partial)?,
            partial,
            path: path.to_owned(),
        })
    }

    async fn finish(self) -> Result<(), ExportError> {
        let Partial {
            mut csv,
            partial,
            path,
        } = self;
        csv.flush()?;
        drop(csv);
        tokio::fs::rename(&partial, &path).await?;
        Ok(())
    }
}

async fn write_orders(
    db: &Db,
    path: &Path,
    tracker: &Tracker,
    scope: Option<&[i64]>,
    filter: &OrderFilter,
) -> Result<(), ExportError> {
    let mut out = Partial::create(path).await?;
    out.csv.write_record(order_export::HEADER)?;
    let mut cursor: Option<Cursor> = None;
    let mut done: i64 = 0;
    loop {
        let (rows, last) =
            order_export::batch(&db.pool, scope, filter, cursor.as_ref(), BATCH).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            out.csv
                .write_record(row.iter().map(|cell| defuse(cell).into_owned()))?;
        }
        done += i64::try_from(rows.len()).unwrap_or(i64::MAX);
        tracker.done(done);
        cursor = last;
    }
    out.finish().await
}

/// A cell as a spreadsheet may open it safely.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// `staff`'s export `id` (nobody else's).
pub async fn find(pool: &AnyPool, staff: &Staff, id: i64) -> Result<Option<Job>, sqlx::Error> {
    let Some(r) = sqlx::query(
        "SELECT id, kind, query, state, total_rows, done_rows, file_name, error, created_at, \
         updated_at, finished_at, detail FROM export_job WHERE id = $1 AND staff_id = $2",
    )
    .bind(id)
    .bind(staff.id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let mut state: String = r.try_get("state")?;
    let mut error: String = r.try_get("error")?;
    let updated_at: String = r.try_get("updated_at")?;
    let id: i64 = r.try_get("id")?;
    let mut done_rows: i64 = r.try_get("done_rows")?;
    let mut total_rows: i64 = r.try_get("total_rows")?;
    let running_here = if state == "running" { live(id) } else { None };
    if let Some(counts) = &running_here {
        // Running in this process: its live counts are newer than the row's.
        done_rows = done_rows.max(counts.done.load(Ordering::Relaxed));
        total_rows = total_rows.max(counts.total.load(Ordering::Relaxed));
    } else if state == "running" && updated_at < stalled_before() {
        // Its process stopped (a restart, a crash): it will never finish.
        state = "failed".into();
        error = "The export stopped moving (the shop restarted?); start it again.".into();
    }
    Ok(Some(Job {
        id,
        kind: r.try_get("kind")?,
        query: r.try_get("query")?,
        state,
        total_rows,
        done_rows,
        error,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
        detail: r.try_get("detail")?,
        file_name: r.try_get("file_name")?,
    }))
}

/// The finished file of `job`.
pub fn file_of(data_dir: &Path, job: &Job) -> Option<PathBuf> {
    (job.state == "done").then(|| directory(data_dir).join(&job.file_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse("ada@example.com"), "ada@example.com");
        assert_eq!(defuse("12.50"), "12.50");
    }
}
