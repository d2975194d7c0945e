//! Reports (`/dashboard/reports/`): a chooser and a date range, the report's headline figures,
//! a chart and its first rows on screen, and its CSV: sent at once when it is small
//! (`report_csv_rows` rows at most), else written by a background job whose progress page
//! and download are the exports' (`/dashboard/exports/{id}/`).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::chart::Chart;
use super::order_tools::EXPORTS_URL;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::exports;
use crate::reports::tables::{self, Params, ProductSort, Report};
use crate::staff::Permission;
use crate::web::WebError;

pub const REPORTS_URL: &str = "/dashboard/reports/";
pub const DOWNLOAD_URL: &str = "/dashboard/reports/download/";
pub const EXPORT_URL: &str = "/dashboard/reports/export/";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(REPORTS_URL, get(show))
        .route(DOWNLOAD_URL, get(download))
        .route(EXPORT_URL, post(start_export))
}

/// Rows shown on the page; the CSV has them all.
const SCREEN_ROWS: i64 = 100;

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

pub(super) async fn show(
    State(state): State<AppState>,
    current: CurrentStaff,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewReports)?;
    let (params, problems) = Params::parse(&query, today());
    page(&state, &current, &query, &params, problems).await
}

/// The report page for `params`; with `problems`, the form again with them (422) and no
/// report.
async fn page(
    state: &AppState,
    current: &CurrentStaff,
    query: &HashMap<String, String>,
    params: &Params,
    problems: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    let scope = current.staff.partner_scope();
    let choices: Vec<minijinja::Value> = Report::ALL
        .into_iter()
        .filter(|r| r.allowed(scope))
        .map(|r| {
            minijinja::context! {
                value => r.slug(), label => r.title(), selected => r == params.report,
            }
        })
        .collect();
    let sorts: Vec<minijinja::Value> = ProductSort::ALL
        .into_iter()
        .map(|s| minijinja::context! { value => s.slug(), label => s.label(), selected => s == params.sort })
        .collect();
    // What was typed comes back as typed, so a mistake can be corrected.
    let typed = |key: &str, default: String| {
        query
            .get(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
    };
    let form = minijinja::context! {
        from => typed("from", params.from.to_string()),
        to => typed("to", params.to.to_string()),
    };
    let mut ctx = minijinja::context! {
        reports => choices,
        sorts => sorts,
        form => form,
        errors => problems.clone(),
        report => minijinja::context! {
            slug => params.report.slug(),
            title => params.report.title(),
            columns => params.report.columns(),
        },
        offers_note => "Offer and voucher reports come with offers.",
    };
    let status = if problems.is_empty() {
        let pool = &state.db.pool;
        let (figures, series) = tables::overview(pool, scope, state.currency, params).await?;
        let total = tables::count(pool, scope, params).await?;
        let rows: Vec<Vec<minijinja::Value>> =
            tables::rows(pool, scope, state.currency, params, SCREEN_ROWS, 0)
                .await?
                .iter()
                .map(|row| {
                    row.iter()
                .zip(params.report.columns())
                .map(|(cell, column)| {
                    minijinja::context! { text => cell.display(), numeric => column.numeric }
                })
                .collect()
                })
                .collect();
        let small = u64::try_from(total).unwrap_or(u64::MAX) <= state.config.report_csv_rows;
        let query = params.query();
        ctx = minijinja::context! {
            figures => figures,
            series_title => series.title,
            chart => Chart::of(&series.points),
            rows => rows,
            total => total,
            shown => total.min(SCREEN_ROWS),
            download_url => small.then(|| format!("{DOWNLOAD_URL}?{query}")),
            export_url => (!small).then_some(EXPORT_URL),
            // The report's fields again, for the background export's form.
            fields => [
                ("report", params.report.slug().to_owned()),
                ("from", params.from.to_string()),
                ("to", params.to.to_string()),
                ("sort", params.sort.slug().to_owned()),
            ]
            .map(|(name, value)| minijinja::context! { name => name, value => value }),
            ..ctx
        };
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        state,
        current,
        REPORTS_URL,
        "dashboard/reports/index.html",
        status,
        ctx,
    )
}

/// The CSV of a report small enough to send at once; a larger one sends the user back to
/// the report, whose page offers the background export.
pub(super) async fn download(
    State(state): State<AppState>,
    current: CurrentStaff,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewReports)?;
    let (params, problems) = Params::parse(&query, today());
    if !problems.is_empty() {
        return page(&state, &current, &query, &params, problems).await;
    }
    let scope = current.staff.partner_scope();
    let limit = state.config.report_csv_rows;
    let total = tables::count(&state.db.pool, scope, &params).await?;
    if u64::try_from(total).unwrap_or(u64::MAX) > limit {
        current.session.flash(
            "error",
            format!(
                "This report has {total} rows, more than can be sent at once: prepare its CSV \
                 in the background instead."
            ),
        );
        return Ok(Redirect::to(&format!("{REPORTS_URL}?{}", params.query())).into_response());
    }
    let rows = tables::rows(
        &state.db.pool,
        scope,
        state.currency,
        &params,
        i64::try_from(limit).unwrap_or(i64::MAX),
        0,
    )
    .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let written = (|| {
        out.write_record(tables::header(params.report))?;
        for row in &rows {
            out.write_record(
                row.iter()
                    .map(|cell| exports::defuse(&cell.csv()).into_owned()),
            )?;
        }
        out.flush()
    })();
    written.map_err(WebError::internal)?;
    let bytes = out.into_inner().map_err(|e| WebError::bug(e.error()))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!(
        "attachment; filename=\"{}-{}-{}.csv\"",
        params.report.slug(),
        params.from,
        params.to
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(WebError::internal)?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Starts the background CSV of a report (its fields posted from the report page).
pub(super) async fn start_export(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewReports)?;
    let (params, problems) = Params::parse(&fields, today());
    if !problems.is_empty() {
        return page(&state, &current, &fields, &params, problems).await;
    }
    if !params.report.allowed(current.staff.partner_scope()) {
        return Err(tables::ReportError::NotAllowed.into());
    }
    let id = exports::start_report(
        &state.db,
        &state.config.data_dir,
        &current.staff,
        &params,
        state.currency,
    )
    .await
    .map_err(WebError::internal)?;
    Ok(Redirect::to(&format!("{EXPORTS_URL}{id}/")).into_response())
}
