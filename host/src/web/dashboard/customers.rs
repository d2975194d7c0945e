//! Dashboard customers: the list (search by email), an account's page with its orders,
//! addresses and basket, and switching an account off or on.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::params::{page_number, pages, path_id, search_text};
use super::{CUSTOMERS_URL, CurrentStaff, ORDERS_URL, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::customer::manage;
use crate::customer::reset::{self, StaffSent};
use crate::staff::Permission;
use crate::web::WebError;

const PAGE_SIZE: u32 = 50;

fn customer_url(id: i64) -> String {
    format!("{CUSTOMERS_URL}{id}/")
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCustomers)?;
    let q = search_text(&query, "q")?;
    let page = page_number(&query)?;
    let (customers, total) = manage::search(&state.db.pool, &q, page, PAGE_SIZE).await?;
    let customers: Vec<_> = customers
        .into_iter()
        .map(|c| minijinja::context! { url => customer_url(c.id), ..minijinja::Value::from_serialize(&c) })
        .collect();
    let pages = pages(CUSTOMERS_URL, &[("q", &q)], page, total, PAGE_SIZE);
    let ctx = minijinja::context! {
        customers => customers,
        total => total,
        q => q,
        pages => pages,
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
    let id = path_id(&raw)?;
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
        password_reset_url => format!("{}password-reset/", customer_url(id)),
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
    let id = path_id(&raw)?;
    let active = match fields.get("active").map(String::as_str) {
        Some("1") => true,
        Some("0") => false,
        _ => {
            return Err(WebError::BadRequest(
                "Say whether the account is to be active.".into(),
            ));
        }
    };
    if !manage::set_active(
        &state.db,
        state.sessions.as_ref(),
        Actor::from(&current.staff),
        id,
        active,
    )
    .await?
    {
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

/// Emails the customer a password-reset link (the accounts' own flow; staff never see or
/// set the password).
pub(super) async fn send_password_reset(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCustomers)?;
    let id = path_id(&raw)?;
    let sender = reset::Sender::new(&state.templates, &state.config);
    let sent = reset::send_by_staff(&state.db, &sender, Actor::from(&current.staff), id).await?;
    let (level, text) = match sent {
        StaffSent::NotFound => return Err(WebError::NotFound),
        StaffSent::Sent => {
            state.mailer.wake();
            (
                "success",
                "A password-reset link is on its way to the customer.",
            )
        }
        StaffSent::AlreadySent => (
            "info",
            "A link was sent in the last few minutes and still works; no new one was sent.",
        ),
        StaffSent::Inactive => (
            "error",
            "The account is switched off: switch it back on before sending a link.",
        ),
    };
    current.session.flash(level, text);
    Ok(Redirect::to(&customer_url(id)).into_response())
}
