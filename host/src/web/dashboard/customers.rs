//! Dashboard customers: the list (search by email), an account's page with its orders,
//! addresses and basket, and switching an account off or on.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::{CUSTOMERS_URL, CurrentStaff, ORDERS_URL, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::customer::manage;
use crate::staff::Permission;
use crate::web::WebError;

const PAGE_SIZE: u32 = 50;

fn customer_url(id: i64) -> String {
    format!("{CUSTOMERS_URL}{id}/")
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
    current.require(Permission::ViewCustomers)?;
    let q = query
        .get("q")
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    if q.chars().count() > 200 {
        return Err(WebError::BadRequest(
            "Search for at most 200 characters.".into(),
        ));
    }
    let page: u32 = match query.get("page").map(|p| p.trim()) {
        None | Some("") => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| WebError::BadRequest("That is not a page number.".into()))?,
    };
    let (customers, total) = manage::search(&state.db.pool, &q, page, PAGE_SIZE).await?;
    let customers: Vec<_> = customers
        .into_iter()
        .map(|c| minijinja::context! { url => customer_url(c.id), ..minijinja::Value::from_serialize(&c) })
        .collect();
    let num_pages = u32::try_from((total.max(0) as u64).div_ceil(u64::from(PAGE_SIZE)).max(1))
        .unwrap_or(u32::MAX);
    let page_url = |n: u32| {
        format!(
            "{CUSTOMERS_URL}?q={}&page={n}",
            percent_encoding::utf8_percent_encode(&q, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    let ctx = minijinja::context! {
        customers => customers,
        total => total,
        q => q,
        page => page,
        num_pages => num_pages,
        prev_url => (page > 1).then(|| page_url(page - 1)),
        next_url => (page < num_pages).then(|| page_url(page + 1)),
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/customers/list.html",
        StatusCode::OK,
        ctx,
    )
}

pub(super) async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCustomers)?;
    let id = parse_id(&raw)?;
    let account = manage::find(&state.db.pool, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let orders: Vec<_> = crate::order::for_customer(&state.db.pool, id)
        .await?
        .into_iter()
        .map(|o| minijinja::context! { url => format!("{ORDERS_URL}{}/", o.number), ..minijinja::Value::from_serialize(&o) })
        .collect();
    let addresses: Vec<Vec<String>> = crate::address::list(&state.db.pool, id)
        .await?
        .into_iter()
        .map(|a| a.address.lines())
        .collect();
    let ctx = minijinja::context! {
        account => account,
        orders => orders,
        addresses => addresses,
        can_manage => current.staff.can(Permission::ManageCustomers),
        active_url => format!("{}active/", customer_url(id)),
        list_url => CUSTOMERS_URL,
    };
    let path = customer_url(id);
    render(
        &state,
        &current,
        &path,
        "dashboard/customers/detail.html",
        StatusCode::OK,
        ctx,
    )
}

pub(super) async fn set_active(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCustomers)?;
    let id = parse_id(&raw)?;
    let active = match fields.get("active").map(String::as_str) {
        Some("1") => true,
        Some("0") => false,
        _ => {
            return Err(WebError::BadRequest(
                "Say whether the account is to be active.".into(),
            ));
        }
    };
    if !manage::set_active(&state.db, Actor::from(&current.staff), id, active).await? {
        return Err(WebError::NotFound);
    }
    current.session.flash(
        "success",
        if active {
            "The account is active again: its owner can sign in."
        } else {
            "The account is switched off: its owner can no longer sign in."
        },
    );
    Ok(Redirect::to(&customer_url(id)).into_response())
}
