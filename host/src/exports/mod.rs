//! CSV exports made in the background (the order list's, and reports too large to send at
//! once): the dashboard starts one and shows its progress; a
//! task writes the file under `<data_dir>/exports/` in batches, recording how far it got, and
//! the staff member who asked downloads it once done. An export runs with the scope of the
//! staff member who asked (a partner user exports their orders only).
//!
//! Cells that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, carriage return
//! at the start) are prefixed with `'`: customers type emails and names, and an export must
//! not run what they typed on a colleague's machine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlx::{AnyPool, Row};

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
    let file_name = format!("orders-{}.csv", &crate::infra::random_token()[..16]);
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO export_job (staff_id, kind, query, state, total_rows, file_name, created_at, \
         updated_at) VALUES ($1, 'orders', $2, 'running', $3, $4, $5, $5) RETURNING id",
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
    let (db, path) = (db.clone(), directory(data_dir).join(&file_name));
    run(db.clone(), id, async move {
        write_orders(&db, &path, id, scope.as_deref(), &filter).await
    });
    Ok(id)
}

/// Runs a job's `work` in the background and records how it ended.
fn run(
    db: Db,
    id: i64,
    work: impl std::future::Future<Output = Result<(), ExportError>> + Send + 'static,
) {
    tokio::spawn(async move {
        let (state, error) = match work.await {
            Ok(()) => ("done", String::new()),
            Err(e) => {
                tracing::error!(job = id, error = %e, "export failed");
                ("failed", e.to_string())
            }
        };
        if let Err(e) = sqlx::query(
            "UPDATE export_job SET state = $2, error = $3, finished_at = $4, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(error)
        .bind(now_text())
        .execute(&db.pool)
        .await
        {
            tracing::error!(job = id, error = %e, "export state not recorded");
        }
    });
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
    let (db, path, params) = (
        db.clone(),
        directory(data_dir).join(&file_name),
        params.clone(),
    );
    run(db.clone(), id, async move {
        write_report(&db, &path, id, scope.as_deref(), &params, currency).await
    });
    Ok(id)
}

async fn write_report(
    db: &Db,
    path: &Path,
    id: i64,
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
        progress(db, id, done).await?;
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

/// Records how far job `id` got (which also shows it is alive).
async fn progress(db: &Db, id: i64, done: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE export_job SET done_rows = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(done)
        .bind(now_text())
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn write_orders(
    db: &Db,
    path: &Path,
    id: i64,
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
        progress(db, id, done).await?;
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
         updated_at, finished_at FROM export_job WHERE id = $1 AND staff_id = $2",
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
    if state == "running" && updated_at < stalled_before() {
        // Its process stopped (a restart, a crash): it will never finish.
        state = "failed".into();
        error = "The export stopped moving (the shop restarted?); start it again.".into();
    }
    Ok(Some(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        query: r.try_get("query")?,
        state,
        total_rows: r.try_get("total_rows")?,
        done_rows: r.try_get("done_rows")?,
        error,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
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
