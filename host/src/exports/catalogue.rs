//! The catalogue's background jobs: an export of every product in the staff member's scope
//! (a CSV file to download) and an import of an uploaded CSV (dry run or for real), both
//! through [`transfer`], the same code as `emporium catalogue export` / `import`. An import's
//! report (counts and per-row errors) is the job's `detail`, as JSON.

use std::path::Path;

use bytes::Bytes;

use super::{ExportError, Job, Tracker, file_name, insert, path_for, run};
use crate::audit::{self, Actor};
use crate::catalogue::manage::products::Who;
use crate::catalogue::manage::transfer::{self, Report, TransferError};
use crate::infra::changes::Changes;
use crate::infra::db::Db;
use crate::money::Currency;
use crate::staff::Staff;

pub const EXPORT_KIND: &str = "catalogue_export";
pub const IMPORT_KIND: &str = "catalogue_import";

impl From<TransferError> for ExportError {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Db(e) => ExportError::Db(e),
            TransferError::Csv(e) => ExportError::Csv(e),
            TransferError::Invalid(m) => ExportError::Other(m),
        }
    }
}

/// Starts exporting the products within `staff`'s scope; returns the job's id at once.
pub async fn start_export(db: &Db, data_dir: &Path, staff: &Staff) -> Result<i64, ExportError> {
    let scope: Option<Vec<i64>> = staff.partner_scope().map(<[i64]>::to_vec);
    let total = transfer::count(&db.pool, scope.as_deref()).await?;
    let name = file_name("catalogue", "csv");
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, staff, EXPORT_KIND, "", total, &name).await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "export.catalogue",
        "export",
        &id.to_string(),
        None,
        Some(&audit::json(&serde_json::json!({ "rows": total }))),
    )
    .await?;
    tx.commit().await?;
    let (pool, path) = (db.pool.clone(), path_for(data_dir, &name));
    run(db, id, move |tracker: Tracker| async move {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // Written beside the final name and renamed at the end: a download never gets half a
        // file.
        let partial = path.with_extension("csv.part");
        let out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        transfer::export(&pool, scope.as_deref(), out, &|done, total| {
            tracker.set(done, total)
        })
        .await?;
        tokio::fs::rename(&partial, &path).await?;
        Ok(String::new())
    });
    Ok(id)
}

/// Why an import was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartImportError {
    /// The file as a whole is not one we can import (its columns); for the form to show.
    #[error("{0}")]
    File(String),
    /// Only staff with the whole catalogue in scope import (see `transfer`).
    #[error("Importing the catalogue is for staff who manage the whole catalogue.")]
    NotForPartners,
    #[error(transparent)]
    Job(#[from] ExportError),
}

impl From<sqlx::Error> for StartImportError {
    fn from(e: sqlx::Error) -> Self {
        StartImportError::Job(e.into())
    }
}

/// Starts importing `file` (called `file_label` by whoever uploaded it) as `staff`, as a dry
/// run or for real; returns the job's id at once. The columns are checked first: a file we
/// cannot read starts nothing.
pub async fn start_import(
    db: &Db,
    changes: &Changes,
    currency: Currency,
    staff: &Staff,
    file: Bytes,
    file_label: &str,
    dry_run: bool,
) -> Result<i64, StartImportError> {
    if staff.partner_scope().is_some() {
        return Err(StartImportError::NotForPartners);
    }
    transfer::check_header(file.as_ref()).map_err(|e| match e {
        TransferError::Invalid(m) => StartImportError::File(m),
        TransferError::Csv(e) => StartImportError::File(format!("the file is not CSV: {e}")),
        TransferError::Db(e) => e.into(),
    })?;
    let query = if dry_run { "dry_run=1" } else { "" };
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, staff, IMPORT_KIND, query, 0, "").await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        if dry_run {
            "import.catalogue.dry_run"
        } else {
            "import.catalogue"
        },
        "export",
        &id.to_string(),
        None,
        Some(&audit::json(&serde_json::json!({
            "file": file_label,
            "bytes": file.len(),
            "dry_run": dry_run,
        }))),
    )
    .await
    .map_err(ExportError::from)?;
    tx.commit().await?;
    let (db_for_job, changes, staff) = (db.clone(), changes.clone(), staff.clone());
    run(db, id, move |tracker: Tracker| async move {
        let who = Who {
            actor: Actor::from(&staff),
            scope: None,
        };
        let report = transfer::import(
            &db_for_job,
            &changes,
            currency,
            file.as_ref(),
            dry_run,
            who,
            &|done, total| tracker.set(done, total),
        )
        .await?;
        serde_json::to_string(&report).map_err(|e| ExportError::Other(e.to_string()))
    });
    Ok(id)
}

/// A finished import's report (none while it runs, or when it failed).
pub fn report_of(job: &Job) -> Option<Report> {
    (job.kind == IMPORT_KIND && job.state == "done")
        .then(|| serde_json::from_str(&job.detail).ok())
        .flatten()
}

/// An import's per-row errors as CSV (`line,upc,message`), cells defused for spreadsheets.
pub fn errors_csv(report: &Report) -> Result<Vec<u8>, ExportError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["line", "upc", "message"])?;
    for e in &report.errors {
        out.write_record([
            e.line.to_string(),
            super::defuse(&e.upc).into_owned(),
            super::defuse(&e.message).into_owned(),
        ])?;
    }
    out.into_inner()
        .map_err(|e| ExportError::Io(std::io::Error::other(e.to_string())))
}
