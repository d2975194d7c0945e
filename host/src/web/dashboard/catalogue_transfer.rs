//! Dashboard: the catalogue as CSV, in the background (`crate::exports::catalogue`).
//!
//! - `/dashboard/catalogue/import/`: upload a CSV (multipart, the first field the CSRF token),
//!   as a dry run or for real. Only staff with the whole catalogue in scope may import (the
//!   import finds products, classes and partners shop-wide); others see why. A file that is
//!   too large, empty or without the right columns re-renders the form with 422 and the mode
//!   chosen.
//! - `/dashboard/catalogue/import/{export_id}/`: its progress (the page refreshes itself
//!   while it runs), then the counts and the rows with problems, those downloadable as CSV at
//!   `…/errors/`.
//! - `/dashboard/catalogue/export/`: start an export of the products in the user's scope;
//!   `…/{export_id}/` shows its progress and `…/download/` hands out the file.
//!
//! Jobs are their starter's only: another user's id is not found.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;

use super::images::{multipart_error, read_field};
use super::params::path_id;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::exports::{self, Job, catalogue as jobs};
use crate::media::check::human_bytes;
use crate::staff::Permission;
use crate::web::WebError;

pub const IMPORT_URL: &str = "/dashboard/catalogue/import/";
pub const EXPORT_URL: &str = "/dashboard/catalogue/export/";

/// Whether `path` is the import's upload (a body as large as `max_upload_bytes`).
pub fn is_upload(path: &str) -> bool {
    path == IMPORT_URL
}

fn may_import(current: &CurrentStaff) -> bool {
    current.staff.can(Permission::ManageCatalogue) && current.staff.partner_scope().is_none()
}

/// `GET /dashboard/catalogue/import/`: the form (or, for whoever may not import, why not).
pub(super) async fn import_form(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    import_page(&state, &current, StatusCode::OK, "dry_run", HashMap::new())
}

fn import_page(
    state: &AppState,
    current: &CurrentStaff,
    status: StatusCode,
    mode: &str,
    errors: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    let ctx = minijinja::context! {
        may_import => may_import(current),
        is_partner => current.staff.partner_scope().is_some(),
        import_url => IMPORT_URL,
        export_url => EXPORT_URL,
        list_url => super::catalogue::CATALOGUE_URL,
        mode => mode,
        errors => errors,
        max_upload => human_bytes(state.config.max_upload_bytes),
    };
    render(
        state,
        current,
        IMPORT_URL,
        "dashboard/catalogue/import.html",
        status,
        ctx,
    )
}

/// `POST /dashboard/catalogue/import/` (multipart: `file`, `mode` = dry_run | import).
pub(super) async fn start_import(
    State(state): State<AppState>,
    current: CurrentStaff,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    // Before a byte of the body is read: someone who may not import is told so.
    current.require(Permission::ManageCatalogue)?;
    if !may_import(&current) {
        return Err(WebError::Forbidden(
            jobs::StartImportError::NotForPartners.to_string(),
        ));
    }
    let mut multipart = multipart
        .map_err(|_| WebError::BadRequest("Send the file with the import form.".into()))?;
    let max = state.config.max_upload_bytes;
    let mut mode = String::from("dry_run");
    let mut file: Option<(Bytes, String)> = None;
    let mut errors: HashMap<&'static str, String> = HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                if file.is_some() || errors.contains_key("file") {
                    continue;
                }
                let label = field.file_name().unwrap_or("upload.csv").to_owned();
                match read_field(&mut field, max).await? {
                    Some(bytes) => file = Some((bytes, label)),
                    None => {
                        errors.insert(
                            "file",
                            format!(
                                "That file is larger than {}, the most we accept; split it into \
                                 smaller files.",
                                human_bytes(max)
                            ),
                        );
                        // Nothing after an oversized file is read.
                        break;
                    }
                }
            }
            Some("mode") => {
                let bytes = read_field(&mut field, 64).await?.unwrap_or_default();
                mode = String::from_utf8_lossy(&bytes).trim().to_owned();
            }
            _ => {}
        }
    }
    let dry_run = match mode.as_str() {
        "dry_run" => true,
        "import" => false,
        _ => {
            errors.insert("mode", "Choose a dry run or the import itself.".into());
            mode = "dry_run".into();
            true
        }
    };
    let file = file.filter(|(bytes, _)| !bytes.is_empty());
    if file.is_none() && !errors.contains_key("file") {
        errors.insert("file", "Choose a CSV file to import.".into());
    }
    if let (true, Some((bytes, label))) = (errors.is_empty(), file) {
        match jobs::start_import(
            &state.db,
            &state.changes,
            state.currency,
            &current.staff,
            bytes,
            &label,
            dry_run,
        )
        .await
        {
            Ok(id) => return Ok(Redirect::to(&format!("{IMPORT_URL}{id}/")).into_response()),
            Err(jobs::StartImportError::File(message)) => {
                errors.insert("file", format!("That file cannot be imported: {message}."));
            }
            Err(e @ jobs::StartImportError::NotForPartners) => {
                return Err(WebError::Forbidden(e.to_string()));
            }
            Err(jobs::StartImportError::Job(e)) => return Err(WebError::internal(e)),
        }
    }
    import_page(
        &state,
        &current,
        StatusCode::UNPROCESSABLE_ENTITY,
        &mode,
        errors,
    )
}

/// `current`'s job `raw` of `kind`; any other is not found.
async fn job_of(
    state: &AppState,
    current: &CurrentStaff,
    raw: &str,
    kind: &str,
) -> Result<Job, WebError> {
    exports::find(&state.db.pool, &current.staff, path_id(raw)?)
        .await?
        .filter(|job| job.kind == kind)
        .ok_or(WebError::NotFound)
}

/// `GET /dashboard/catalogue/import/{id}/`.
pub(super) async fn import_job(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let job = job_of(&state, &current, &raw, jobs::IMPORT_KIND).await?;
    let report = jobs::report_of(&job);
    let base = format!("{IMPORT_URL}{}/", job.id);
    let ctx = minijinja::context! {
        is_import => true,
        dry_run => job.query.contains("dry_run=1"),
        percent => job.percent(),
        report => report,
        errors_url => format!("{base}errors/"),
        import_url => IMPORT_URL,
        list_url => super::catalogue::CATALOGUE_URL,
        job => job,
    };
    render(
        &state,
        &current,
        &base,
        "dashboard/catalogue/job.html",
        StatusCode::OK,
        ctx,
    )
}

fn csv_response(bytes: Vec<u8>, file_name: &str) -> Result<Response, WebError> {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!("attachment; filename=\"{file_name}\"");
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(WebError::internal)?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /dashboard/catalogue/import/{id}/errors/`: the rows with problems, as CSV.
pub(super) async fn import_errors(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let job = job_of(&state, &current, &raw, jobs::IMPORT_KIND).await?;
    let report = jobs::report_of(&job).ok_or(WebError::NotFound)?;
    let bytes = jobs::errors_csv(&report).map_err(WebError::internal)?;
    csv_response(bytes, &format!("catalogue-import-{}-errors.csv", job.id))
}

/// `GET /dashboard/catalogue/export/`: what an export holds, and its start button.
pub(super) async fn export_form(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let ctx = minijinja::context! {
        is_partner => current.staff.partner_scope().is_some(),
        export_url => EXPORT_URL,
        list_url => super::catalogue::CATALOGUE_URL,
    };
    render(
        &state,
        &current,
        EXPORT_URL,
        "dashboard/catalogue/export.html",
        StatusCode::OK,
        ctx,
    )
}

/// `POST /dashboard/catalogue/export/`: starts one and shows its page.
pub(super) async fn start_export(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let id = jobs::start_export(&state.db, &state.config.data_dir, &current.staff)
        .await
        .map_err(WebError::internal)?;
    Ok(Redirect::to(&format!("{EXPORT_URL}{id}/")).into_response())
}

/// `GET /dashboard/catalogue/export/{id}/`.
pub(super) async fn export_job(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let job = job_of(&state, &current, &raw, jobs::EXPORT_KIND).await?;
    let base = format!("{EXPORT_URL}{}/", job.id);
    let ctx = minijinja::context! {
        is_import => false,
        percent => job.percent(),
        download_url => format!("{base}download/"),
        export_url => EXPORT_URL,
        list_url => super::catalogue::CATALOGUE_URL,
        job => job,
    };
    render(
        &state,
        &current,
        &base,
        "dashboard/catalogue/job.html",
        StatusCode::OK,
        ctx,
    )
}

/// `GET /dashboard/catalogue/export/{id}/download/`.
pub(super) async fn export_download(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let job = job_of(&state, &current, &raw, jobs::EXPORT_KIND).await?;
    let file = exports::file_of(&state.config.data_dir, &job).ok_or(WebError::NotFound)?;
    let bytes = tokio::fs::read(&file).await.map_err(WebError::internal)?;
    csv_response(bytes, &format!("catalogue-export-{}.csv", job.id))
}
