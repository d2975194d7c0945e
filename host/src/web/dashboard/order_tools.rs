//! Tools on the order list: filters kept under a name, and the CSV export of the filtered
//! list as a background job with a progress page and a download (which report exports
//! share).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::orders::{Form, list_page};
use super::params::path_id;
use super::{CurrentStaff, ORDERS_URL, render};
use crate::app::AppState;
use crate::exports;
use crate::order::filter::canonical_query;
use crate::order::saved_filters::{self, SaveError};
use crate::staff::Permission;
use crate::web::WebError;

pub const EXPORTS_URL: &str = "/dashboard/exports/";

/// The filters posted with a form (its hidden fields), as the list's query.
fn filters_of(fields: &HashMap<String, String>) -> HashMap<String, String> {
    crate::order::filter::KEYS
        .iter()
        .filter_map(|k| fields.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

pub(super) async fn save_filter(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewOrders)?;
    let filters = filters_of(&fields);
    let query = canonical_query(&filters);
    let name = fields.get("name").map(|n| n.trim()).unwrap_or_default();
    match saved_filters::save(&state.db, &current.staff, name, &query).await {
        Ok(()) => {
            current
                .session
                .flash("success", format!("Saved the filter “{name}”."));
            Ok(Redirect::to(&format!("{ORDERS_URL}?{query}")).into_response())
        }
        Err(SaveError::Invalid(problem)) => {
            let form = Form {
                values: HashMap::from([("filter_name", name.to_owned())]),
                errors: HashMap::from([("filter_name", problem)]),
            };
            list_page(&state, &current, &filters, form).await
        }
        Err(SaveError::Db(e)) => Err(WebError::internal(e)),
    }
}

pub(super) async fn delete_filter(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewOrders)?;
    if !saved_filters::delete(&state.db, &current.staff, path_id(&id)?).await? {
        return Err(WebError::NotFound);
    }
    current.session.flash("success", "The filter is gone.");
    Ok(Redirect::to(ORDERS_URL).into_response())
}

pub(super) async fn start_export(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewOrders)?;
    let filters = filters_of(&fields);
    let (_, problems) = crate::order::filter::OrderFilter::parse(&filters, state.currency);
    if !problems.is_empty() {
        return list_page(&state, &current, &filters, Form::default()).await;
    }
    let id = exports::start_orders(
        &state.db,
        &state.config.data_dir,
        &current.staff,
        &filters,
        state.currency,
    )
    .await
    .map_err(WebError::internal)?;
    Ok(Redirect::to(&format!("{EXPORTS_URL}{id}/")).into_response())
}

/// What an export's pages say about it and who may see it, by its kind.
struct Kind {
    permission: Permission,
    title: &'static str,
    /// One row of its file, and several.
    noun: (&'static str, &'static str),
    back_label: &'static str,
    file_prefix: &'static str,
}

fn kind_of(job: &exports::Job) -> (Kind, String) {
    match job.kind.as_str() {
        "report" => (
            Kind {
                permission: Permission::ViewReports,
                title: "Report export",
                noun: ("row", "rows"),
                back_label: "Back to the report",
                file_prefix: "report-export",
            },
            format!("{}?{}", super::reports::REPORTS_URL, job.query),
        ),
        _ => (
            Kind {
                permission: Permission::ViewOrders,
                title: "Order export",
                noun: ("order", "orders"),
                back_label: "Back to the orders",
                file_prefix: "orders-export",
            },
            format!("{ORDERS_URL}?{}", job.query),
        ),
    }
}

/// `current`'s export `id`, if they may (still) see its kind.
async fn own_export(
    state: &AppState,
    current: &CurrentStaff,
    id: &str,
) -> Result<(exports::Job, Kind, String), WebError> {
    current.require(Permission::ViewDashboard)?;
    let job = exports::find(&state.db.pool, &current.staff, path_id(id)?)
        .await?
        // The catalogue's jobs have pages of their own.
        .filter(|job| matches!(job.kind.as_str(), "orders" | "report"))
        .ok_or(WebError::NotFound)?;
    let (kind, back_url) = kind_of(&job);
    current.require(kind.permission)?;
    Ok((job, kind, back_url))
}

pub(super) async fn export_page(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (job, kind, back_url) = own_export(&state, &current, &id).await?;
    let page = minijinja::context! {
        percent => job.percent(),
        download_url => format!("{EXPORTS_URL}{}/download/", job.id),
        list_url => back_url,
        title => kind.title,
        back_label => kind.back_label,
        noun => kind.noun.0,
        nouns => kind.noun.1,
        job => job,
    };
    let path = format!("{EXPORTS_URL}{id}/");
    render(
        &state,
        &current,
        &path,
        "dashboard/exports/detail.html",
        StatusCode::OK,
        page,
    )
}

pub(super) async fn download(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (job, kind, _) = own_export(&state, &current, &id).await?;
    let Some(file) = exports::file_of(&state.config.data_dir, &job) else {
        return Err(WebError::NotFound);
    };
    let bytes = tokio::fs::read(&file).await.map_err(WebError::internal)?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!(
        "attachment; filename=\"{}-{}.csv\"",
        kind.file_prefix, job.id
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(WebError::internal)?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
