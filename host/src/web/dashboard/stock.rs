//! Dashboard stock: the stock list (search, low stock only), a record's page with its
//! adjustment history, and adjusting a level with a reason.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::{CurrentStaff, STOCK_URL, render};
use crate::app::AppState;
use crate::partner::stock::{self, MAX_DELTA, MAX_REASON_CHARS, StockError};
use crate::staff::Permission;
use crate::web::WebError;

const PAGE_SIZE: u32 = 50;

fn record_url(id: i64) -> String {
    format!("{STOCK_URL}{id}/")
}

fn parse_id(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let q = query
        .get("q")
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    if q.chars().count() > 200 {
        return Err(WebError::BadRequest(
            "Search for at most 200 characters.".into(),
        ));
    }
    let low_only = query.get("low").is_some_and(|v| v == "1");
    let page: u32 = match query.get("page").map(|p| p.trim()) {
        None | Some("") => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| WebError::BadRequest("That is not a page number.".into()))?,
    };
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
    let num_pages = u32::try_from((total.max(0) as u64).div_ceil(u64::from(PAGE_SIZE)).max(1))
        .unwrap_or(u32::MAX);
    let page_url = |n: u32| {
        format!(
            "{STOCK_URL}?q={}{}&page={n}",
            percent_encoding::utf8_percent_encode(&q, percent_encoding::NON_ALPHANUMERIC),
            if low_only { "&low=1" } else { "" }
        )
    };
    let page_ctx = minijinja::context! {
        lines => lines,
        total => total,
        q => q,
        low_only => low_only,
        page => page,
        num_pages => num_pages,
        prev_url => (page > 1).then(|| page_url(page - 1)),
        next_url => (page < num_pages).then(|| page_url(page + 1)),
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
    let id = parse_id(&raw)?;
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
    let id = parse_id(&raw)?;
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
