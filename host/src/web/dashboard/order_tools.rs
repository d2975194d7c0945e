//! Tools on the order list: filters kept under a name, and the CSV export of the filtered
//! list as a background job with a progress page and a download.

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

pub(super) async fn export_page(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewOrders)?;
    let job = exports::find(&state.db.pool, &current.staff, path_id(&id)?)
        .await?
        // The catalogue's jobs have pages of their own.
        .filter(|job| job.kind == "orders")
        .ok_or(WebError::NotFound)?;
    let page = minijinja::context! {
        percent => job.percent(),
        download_url => format!("{EXPORTS_URL}{}/download/", job.id),
        list_url => format!("{ORDERS_URL}?{}", job.query),
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
    current.require(Permission::ViewOrders)?;
    let job = exports::find(&state.db.pool, &current.staff, path_id(&id)?)
        .await?
        // The catalogue's jobs have pages of their own.
        .filter(|job| job.kind == "orders")
        .ok_or(WebError::NotFound)?;
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
    let disposition = format!("attachment; filename=\"orders-export-{}.csv\"", job.id);
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(WebError::internal)?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
