//! Dashboard stock: the stock list (search, low stock only), a record's page with its
//! adjustment history, and adjusting a level with a reason.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::params::{page_number, pages, path_id, search_text};
use super::{CurrentStaff, STOCK_URL, render};
use crate::app::AppState;
use crate::partner::stock::{self, MAX_DELTA, MAX_REASON_CHARS, StockError};
use crate::staff::Permission;
use crate::web::WebError;

const PAGE_SIZE: u32 = 50;

fn record_url(id: i64) -> String {
    format!("{STOCK_URL}{id}/")
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let q = search_text(&query, "q")?;
    let low_only = query.get("low").is_some_and(|v| v == "1");
    let page = page_number(&query)?;
    let (lines, total) = stock::search(
        &state.db.pool,
        current.staff.partner_scope(),
        Some(&q),
        low_only,
        page,
        PAGE_SIZE,
    )
    .await?;
    let lines: Vec<_> = lines
        .into_iter()
        .map(|l| minijinja::context! { url => record_url(l.id), ..minijinja::Value::from_serialize(&l) })
        .collect();
    let low = if low_only { "1" } else { "" };
    let pages = pages(
        STOCK_URL,
        &[("q", &q), ("low", low)],
        page,
        total,
        PAGE_SIZE,
    );
    let page_ctx = minijinja::context! {
        lines => lines,
        total => total,
        q => q,
        low_only => low_only,
        pages => pages,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/stock/list.html",
        StatusCode::OK,
        page_ctx,
    )
}

pub(super) async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let id = path_id(&raw)?;
    record_page(
        &state,
        &current,
        id,
        StatusCode::OK,
        HashMap::new(),
        HashMap::new(),
    )
    .await
}

async fn record_page(
    state: &AppState,
    current: &CurrentStaff,
    id: i64,
    status: StatusCode,
    form: HashMap<&'static str, String>,
    errors: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    let line = stock::find(&state.db.pool, current.staff.partner_scope(), id)
        .await?
        .ok_or(WebError::NotFound)?;
    let history = stock::history(&state.db.pool, id).await?;
    let page = minijinja::context! {
        line => line,
        history => history,
        can_manage => current.staff.can(Permission::ManageCatalogue),
        adjust_url => format!("{}adjust/", record_url(id)),
        list_url => STOCK_URL,
        form => form,
        errors => errors,
        max_reason_chars => MAX_REASON_CHARS,
    };
    let path = record_url(id);
    render(
        state,
        current,
        &path,
        "dashboard/stock/detail.html",
        status,
        page,
    )
}

pub(super) async fn adjust(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let raw_delta = fields.get("delta").map(|d| d.trim()).unwrap_or_default();
    let reason = fields.get("reason").map(|r| r.trim()).unwrap_or_default();
    let mut errors = HashMap::new();
    let delta = match raw_delta
        .strip_prefix('+')
        .unwrap_or(raw_delta)
        .parse::<i64>()
    {
        Ok(0) => {
            errors.insert(
                "delta",
                "Enter how many units to add (or, with a minus, take away).".to_owned(),
            );
            0
        }
        Ok(d) if d.abs() <= MAX_DELTA => d,
        _ => {
            errors.insert(
                "delta",
                format!("Enter a whole number of units, like 12 or -3 (at most {MAX_DELTA})."),
            );
            0
        }
    };
    if reason.is_empty() {
        errors.insert(
            "reason",
            "Say why, for the stock history (e.g. “delivery from supplier”).".to_owned(),
        );
    } else if reason.chars().count() > MAX_REASON_CHARS {
        errors.insert(
            "reason",
            format!("Keep the reason to {MAX_REASON_CHARS} characters."),
        );
    }
    if errors.is_empty() {
        match stock::adjust(&state.db, &state.changes, &current.staff, id, delta, reason).await {
            Ok(after) => {
                current
                    .session
                    .flash("success", format!("Stock is now {after}."));
                return Ok(Redirect::to(&record_url(id)).into_response());
            }
            Err(StockError::NotFound) => return Err(WebError::NotFound),
            Err(e @ StockError::BelowAllocated { .. }) => {
                errors.insert("delta", format!("That is too many: {e}."));
            }
            Err(StockError::Db(e)) => return Err(e.into()),
        }
    }
    let form = HashMap::from([
        ("delta", raw_delta.to_owned()),
        ("reason", reason.to_owned()),
    ]);
    record_page(
        &state,
        &current,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        form,
        errors,
    )
    .await
}
