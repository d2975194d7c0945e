//! Dashboard orders: the filtered list, an order's page with its timeline, and the actions on
//! it (move along the status pipeline, keep a note). Partner users find only orders with
//! their lines: the scope goes into `order::manage`'s queries.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::params::{capped_pages, page_number};
use super::{CurrentStaff, ORDERS_URL, render};
use crate::app::AppState;
use crate::order::OrderError;
use crate::order::filter as order_filter;
use crate::order::manage::{self, MAX_NOTE_CHARS, OrderFilter};
use crate::staff::Permission;
use crate::web::WebError;

const PAGE_SIZE: u32 = 50;

pub(super) fn order_url(number: &str) -> String {
    format!("{ORDERS_URL}{number}/")
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewOrders)?;
    list_page(&state, &current, &query, Form::default()).await
}

/// The order list for the filters in `query`, with `form`'s values and errors for the
/// save-filter form.
pub(super) async fn list_page(
    state: &AppState,
    current: &CurrentStaff,
    query: &HashMap<String, String>,
    form: Form,
) -> Result<Response, WebError> {
    let (filter, problems) = OrderFilter::parse(query, state.currency);
    let page = page_number(query)?;
    let (orders, total) = if problems.is_empty() {
        manage::search(
            &state.db.pool,
            current.staff.partner_scope(),
            &filter,
            page,
            PAGE_SIZE,
        )
        .await?
    } else {
        (Vec::new(), 0)
    };
    let orders: Vec<_> = orders
        .into_iter()
        .map(|o| minijinja::context! { url => order_url(&o.number), ..minijinja::Value::from_serialize(&o) })
        .collect();
    let typed: Vec<(&str, &str)> = order_filter::KEYS
        .iter()
        .map(|k| (*k, query.get(*k).map(|v| v.trim()).unwrap_or_default()))
        .collect();
    let pages = capped_pages(ORDERS_URL, &typed, page, total, PAGE_SIZE, orders.len());
    // The partner filter is for the shop's staff; a partner user's list is theirs already.
    let partners = if current.staff.partner_scope().is_none() {
        crate::partner::manage::choices(&state.db.pool).await?
    } else {
        Vec::new()
    };
    let status = if problems.is_empty() && form.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page_ctx = minijinja::context! {
        orders => orders,
        total => total,
        filter => typed.iter().copied().collect::<HashMap<_, _>>(),
        payment_states => order_filter::PaymentState::ALL
            .iter()
            .map(|p| minijinja::context! { value => p.as_str(), label => p.label() })
            .collect::<Vec<_>>(),
        partners => partners,
        saved => crate::order::saved_filters::list(&state.db.pool, &current.staff).await?
            .into_iter()
            .map(|f| minijinja::context! { url => format!("{ORDERS_URL}?{}", f.query), delete_url => format!("{ORDERS_URL}filters/{}/delete/", f.id), ..minijinja::Value::from_serialize(&f) })
            .collect::<Vec<_>>(),
        query_string => order_filter::canonical_query(query),
        form => form.values,
        errors => problems.into_iter().chain(form.errors).collect::<HashMap<_, _>>(),
        statuses => state.pipeline.statuses.keys().cloned().collect::<Vec<_>>(),
        pages => pages,
    };
    render(
        state,
        current,
        ORDERS_URL,
        "dashboard/orders/list.html",
        status,
        page_ctx,
    )
}

/// The plugin decisions recorded for an order: "why was this shipping price 4.95?".
pub(super) async fn decisions(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewOrders)?;
    // Another partner's order is not found, as on every order page; one of their own is
    // refused: a trace holds the whole basket, other partners' lines included.
    if manage::find(&state.db.pool, current.staff.partner_scope(), &number)
        .await?
        .is_none()
    {
        return Err(WebError::NotFound);
    }
    if current.staff.partner_scope().is_some() {
        return Err(WebError::Forbidden(
            "Plugin decisions cover the whole basket; partner users cannot see them.".into(),
        ));
    }
    if let Some(traces) = state.plugins.traces() {
        // Calls of the last moments may still be queued for the writer.
        traces.flush_within(std::time::Duration::from_secs(2)).await;
    }
    let (order, traces) = manage::decisions(&state.db, None, &number)
        .await?
        .ok_or(WebError::NotFound)?;
    let calls: Vec<_> = traces.iter().map(super::traces::view).collect();
    let page = minijinja::context! {
        order => order,
        calls => calls,
        limit => crate::plugins::lifecycle::trace::ORDER_LIMIT,
        order_url => order_url(&number),
        plugins_url => super::plugins::PLUGINS_URL,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/orders/decisions.html",
        StatusCode::OK,
        page,
    )
}

pub(super) async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewOrders)?;
    let form = Form::default();
    detail_page(&state, &current, uri.path(), &number, StatusCode::OK, form).await
}

/// What was typed into the order page's forms, and what was wrong with it.
#[derive(Default)]
pub(super) struct Form {
    pub values: HashMap<&'static str, String>,
    pub errors: HashMap<&'static str, String>,
}

/// Fresh idempotency keys for the page's money forms.
fn money_form_keys() -> minijinja::Value {
    minijinja::context! {
        capture => crate::infra::random_token(),
        refund_amount => crate::infra::random_token(),
        refund_lines => crate::infra::random_token(),
        cancel => crate::infra::random_token(),
        resolve => crate::infra::random_token(),
    }
}

pub(super) async fn detail_page(
    state: &AppState,
    current: &CurrentStaff,
    path: &str,
    number: &str,
    status: StatusCode,
    form: Form,
) -> Result<Response, WebError> {
    let order = manage::find(&state.db.pool, current.staff.partner_scope(), number)
        .await?
        .ok_or(WebError::NotFound)?;
    let timeline = manage::timeline(&state.db.pool, &order).await?;
    // Cancelling voids the payment, so it is its own action rather than a status move.
    let (cancellable, next_statuses): (Vec<String>, Vec<String>) = state
        .pipeline
        .statuses
        .get(&order.status)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .partition(|s| s == crate::order::payments::CANCELLED);
    let operations: Vec<_> = crate::order::payments::operations(&state.db.pool, order.id)
        .await?
        .into_iter()
        .map(|o| {
            minijinja::context! {
                summary => o.summary(),
                resolve_url => format!("{}payments/{}/resolve/", order_url(number), o.id),
                ..minijinja::Value::from_serialize(&o)
            }
        })
        .collect();
    let refunded_lines =
        crate::order::payments::refunded_line_ids(&state.db.pool, order.id).await?;
    let can_pay =
        current.staff.can(Permission::ManagePayments) && current.staff.partner_scope().is_none();
    let page = minijinja::context! {
        order => order,
        timeline => timeline,
        next_statuses => next_statuses,
        can_manage => current.staff.can(Permission::ManageOrders),
        can_pay => can_pay,
        can_cancel => can_pay && current.staff.can(Permission::ManageOrders) && !cancellable.is_empty(),
        operations => operations,
        refunded_lines => refunded_lines,
        keys => money_form_keys(),
        capture_url => format!("{}capture/", order_url(number)),
        refund_url => format!("{}refund/", order_url(number)),
        cancel_url => format!("{}cancel/", order_url(number)),
        status_url => format!("{}status/", order_url(number)),
        notes_url => format!("{}notes/", order_url(number)),
        fulfil_url => format!("{}fulfil/", order_url(number)),
        decisions_url => format!("{}decisions/", order_url(number)),
        lines_url => format!("{}lines/status/", order_url(number)),
        // Shipping a line is the Ship form's (it records the parcel and emails the customer).
        line_statuses => state.pipeline.line_statuses.keys().filter(|s| *s != "Shipped").cloned().collect::<Vec<_>>(),
        max_tracking_chars => manage::MAX_TRACKING_CHARS,
        list_url => ORDERS_URL,
        form => form.values,
        errors => form.errors,
        max_note_chars => MAX_NOTE_CHARS,
    };
    render(
        state,
        current,
        path,
        "dashboard/orders/detail.html",
        status,
        page,
    )
}

pub(super) async fn change_status(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(number): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageOrders)?;
    let to = fields.get("status").map(|s| s.trim()).unwrap_or_default();
    let note = fields.get("note").map(|s| s.trim()).unwrap_or_default();
    let mut errors = HashMap::new();
    if to.is_empty() {
        errors.insert("status", "Choose the new status.".to_owned());
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        errors.insert(
            "status_note",
            format!("Keep the note to {MAX_NOTE_CHARS} characters."),
        );
    }
    if errors.is_empty() {
        let site_url = state.config.site_url();
        let notify = manage::Notify {
            templates: &state.templates,
            mailer: &state.mailer,
            shop_name: &state.config.shop_name,
            site_url: &site_url,
        };
        match manage::change_status(
            &state.db,
            &state.pipeline,
            &notify,
            &current.staff,
            &number,
            to,
            note,
        )
        .await
        {
            Ok(()) => {
                current
                    .session
                    .flash("success", format!("Order {number} is now {to}."));
                return Ok(Redirect::to(&order_url(&number)).into_response());
            }
            Err(OrderError::NotFound) => return Err(WebError::NotFound),
            Err(OrderError::SharedWithOtherPartners) => {
                errors.insert(
                    "status",
                    "This order also holds other partners' lines, so only the shop's staff can \
                     change its status. Ship your own lines below."
                        .to_owned(),
                );
            }
            Err(OrderError::UseCancel) => {
                errors.insert(
                    "status",
                    "Cancel the order with “Cancel order” below, which also voids its payment."
                        .to_owned(),
                );
            }
            Err(OrderError::BadTransition { from, to }) => {
                errors.insert(
                    "status",
                    format!("An order that is {from} can't become {to}; choose one of the moves offered."),
                );
            }
            Err(e) => return Err(WebError::internal(e)),
        }
    }
    let path = order_url(&number);
    let form = Form {
        values: HashMap::from([("status", to.to_owned()), ("status_note", note.to_owned())]),
        errors,
    };
    detail_page(
        &state,
        &current,
        &path,
        &number,
        StatusCode::UNPROCESSABLE_ENTITY,
        form,
    )
    .await
}

pub(super) async fn add_note(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(number): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageOrders)?;
    let body = fields.get("note").map(|s| s.trim()).unwrap_or_default();
    let problem = if body.is_empty() {
        Some("Write the note first.".to_owned())
    } else if body.chars().count() > MAX_NOTE_CHARS {
        Some(format!("Keep the note to {MAX_NOTE_CHARS} characters."))
    } else {
        None
    };
    if let Some(problem) = problem {
        let path = order_url(&number);
        return detail_page(
            &state,
            &current,
            &path,
            &number,
            StatusCode::UNPROCESSABLE_ENTITY,
            Form {
                values: HashMap::from([("note", body.to_owned())]),
                errors: HashMap::from([("note", problem)]),
            },
        )
        .await;
    }
    match manage::add_note(&state.db, &current.staff, &number, body).await {
        Ok(()) => {
            current.session.flash("success", "Your note was added.");
            Ok(Redirect::to(&order_url(&number)).into_response())
        }
        Err(OrderError::NotFound) => Err(WebError::NotFound),
        Err(e) => Err(WebError::internal(e)),
    }
}

pub(super) async fn fulfil(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(number): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageOrders)?;
    let tracking = fields
        .iter()
        .find(|(k, _)| k == "tracking")
        .map(|(_, v)| v.trim())
        .unwrap_or_default();
    let mut errors = HashMap::new();
    let mut line_ids = Vec::new();
    for (key, value) in &fields {
        if key == "line" {
            match value.trim().parse::<i64>() {
                Ok(id) if id > 0 => line_ids.push(id),
                _ => {
                    return Err(WebError::BadRequest(
                        "That is not a line of this order.".into(),
                    ));
                }
            }
        }
    }
    if line_ids.is_empty() {
        errors.insert("lines", "Choose the lines you are shipping.".to_owned());
    }
    if tracking.chars().count() > manage::MAX_TRACKING_CHARS {
        errors.insert(
            "tracking",
            format!(
                "Keep the tracking reference to {} characters.",
                manage::MAX_TRACKING_CHARS
            ),
        );
    }
    if errors.is_empty() {
        // Links in the customer's email: the configured address, never the request's.
        let site_url = state.config.site_url();
        let notify = manage::Notify {
            templates: &state.templates,
            mailer: &state.mailer,
            shop_name: &state.config.shop_name,
            site_url: &site_url,
        };
        match manage::fulfil(
            &state.db,
            &state.pipeline,
            &notify,
            &current.staff,
            &number,
            &line_ids,
            tracking,
        )
        .await
        {
            Ok(()) => {
                current.session.flash(
                    "success",
                    "Shipped. The customer has been sent an email with the tracking reference.",
                );
                return Ok(Redirect::to(&order_url(&number)).into_response());
            }
            Err(OrderError::NotFound) => return Err(WebError::NotFound),
            Err(OrderError::BadTransition { from, .. }) => {
                errors.insert(
                    "lines",
                    format!("A line that is {from} can't be shipped; choose lines still to ship."),
                );
            }
            Err(e) => return Err(WebError::internal(e)),
        }
    }
    let path = order_url(&number);
    let form = Form {
        values: HashMap::from([("tracking", tracking.to_owned())]),
        errors,
    };
    detail_page(
        &state,
        &current,
        &path,
        &number,
        StatusCode::UNPROCESSABLE_ENTITY,
        form,
    )
    .await
}

pub(super) async fn change_lines(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(number): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageOrders)?;
    let to = fields
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.trim())
        .unwrap_or_default();
    let mut line_ids = Vec::new();
    for (key, value) in &fields {
        if key == "line" {
            line_ids.push(
                value.trim().parse::<i64>().map_err(|_| {
                    WebError::BadRequest("That is not a line of this order.".into())
                })?,
            );
        }
    }
    let problem = if line_ids.is_empty() {
        Some("Choose the lines to move.".to_owned())
    } else if to.is_empty() {
        Some("Choose their new status.".to_owned())
    } else {
        match manage::change_line_status(
            &state.db,
            &state.pipeline,
            &current.staff,
            &number,
            &line_ids,
            to,
        )
        .await
        {
            Ok(products) => {
                if to == crate::order::payments::CANCELLED {
                    state
                        .changes
                        .announce(crate::infra::changes::Change::Stock(products));
                }
                current.session.flash(
                    "success",
                    format!(
                        "{} line{} now {to}.",
                        line_ids.len(),
                        if line_ids.len() == 1 { " is" } else { "s are" }
                    ),
                );
                return Ok(Redirect::to(&order_url(&number)).into_response());
            }
            Err(OrderError::NotFound) => return Err(WebError::NotFound),
            Err(OrderError::BadTransition { from, to }) => Some(format!(
                "A line that is {from} can't become {to}; choose lines that can."
            )),
            Err(e) => return Err(WebError::internal(e)),
        }
    };
    let form = Form {
        values: HashMap::from([("line_status", to.to_owned())]),
        errors: problem.map(|p| ("line_status", p)).into_iter().collect(),
    };
    let path = order_url(&number);
    detail_page(
        &state,
        &current,
        &path,
        &number,
        StatusCode::UNPROCESSABLE_ENTITY,
        form,
    )
    .await
}
