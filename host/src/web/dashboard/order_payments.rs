//! The money actions on a dashboard order page: capture, refund (by amount or by lines),
//! cancel, and settling an action whose outcome was never recorded. Each form carries an
//! idempotency key drawn when the page was rendered, so submitting it twice moves money once;
//! the flows themselves are `order::payments`'.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use rust_decimal::Decimal;

use super::CurrentStaff;
use super::orders::{Form, detail_page, order_url};
use crate::app::AppState;
use crate::order::OrderError;
use crate::order::payments::{self, Done, PaymentActionError, RefundOf};
use crate::staff::Permission;
use crate::web::WebError;

/// Longest cancellation note kept.
const MAX_NOTE_CHARS: usize = crate::order::manage::MAX_NOTE_CHARS;

type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or_default()
}

/// The form's idempotency key; a form without one did not come from the order page.
fn key(fields: &Fields) -> Result<&str, WebError> {
    let key = field(fields, "key");
    if (16..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(key)
    } else {
        Err(WebError::BadRequest(
            "This form is out of date: reload the order page and try again.".into(),
        ))
    }
}

fn source(fields: &Fields) -> Result<i64, WebError> {
    field(fields, "source")
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| WebError::BadRequest("That is not a payment of this order.".into()))
}

fn amount(fields: &Fields) -> Result<Decimal, String> {
    let text = field(fields, "amount").trim_start_matches(['£', '$', '€']);
    text.parse::<Decimal>()
        .map_err(|_| "Enter an amount like 12.50.".to_owned())
}

/// After an action: back to the order with a message, or the page again with the problem
/// next to the form that caused it (`section`), and nothing changed.
async fn answer(
    state: &AppState,
    current: &CurrentStaff,
    number: &str,
    section: &'static str,
    result: Result<Done, PaymentActionError>,
    success: String,
    values: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    let problem = match result {
        Ok(done) => {
            let message = match done {
                Done::Applied => success,
                Done::Repeated => {
                    "That was already done; nothing was charged or refunded twice.".to_owned()
                }
            };
            current.session.flash("success", message);
            return Ok(Redirect::to(&order_url(number)).into_response());
        }
        Err(PaymentActionError::Order(OrderError::NotFound)) => return Err(WebError::NotFound),
        Err(PaymentActionError::Gateway { message }) => {
            format!("The payment gateway said: “{message}”. Nothing was changed.")
        }
        Err(PaymentActionError::TooMuch { available }) => format!(
            "At most {} can be taken here; nothing was changed.",
            available.display()
        ),
        Err(PaymentActionError::InProgress) => "Another action on this payment is still with \
             the gateway, or its outcome was never recorded: settle it below first."
            .to_owned(),
        Err(PaymentActionError::BadAmount(m) | PaymentActionError::Refused(m)) => m,
        Err(PaymentActionError::Order(OrderError::BadTransition { from, to })) => {
            format!("An order that is {from} can't become {to}.")
        }
        Err(PaymentActionError::Money(e)) => format!("That amount can't be used: {e}."),
        Err(e) => return Err(WebError::internal(e)),
    };
    let form = Form {
        values,
        errors: HashMap::from([(section, problem)]),
    };
    detail_page(
        state,
        current,
        &order_url(number),
        number,
        StatusCode::UNPROCESSABLE_ENTITY,
        form,
    )
    .await
}

async fn refuse(
    state: &AppState,
    current: &CurrentStaff,
    number: &str,
    section: &'static str,
    problem: String,
    values: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    answer(
        state,
        current,
        number,
        section,
        Err(PaymentActionError::BadAmount(problem)),
        String::new(),
        values,
    )
    .await
}

pub(super) async fn capture(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(number): Path<String>,
    axum::Form(fields): axum::Form<Fields>,
) -> Result<Response, WebError> {
    current.require(Permission::ManagePayments)?;
    let (key, source) = (key(&fields)?, source(&fields)?);
    let values = HashMap::from([("capture_amount", field(&fields, "amount").to_owned())]);
    let amount = match amount(&fields) {
        Ok(a) => a,
        Err(problem) => {
            return refuse(&state, &current, &number, "capture", problem, values).await;
        }
    };
    let result = payments::capture(
        &state.db,
        state.plugins.registry(),
        &current.staff,
        &number,
        source,
        amount,
        key,
    )
    .await;
    let success = "Captured through the payment gateway.".to_owned();
    answer(
        &state, &current, &number, "capture", result, success, values,
    )
    .await
}

pub(super) async fn refund(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(number): Path<String>,
    axum::Form(fields): axum::Form<Fields>,
) -> Result<Response, WebError> {
    current.require(Permission::ManagePayments)?;
    let (key, source) = (key(&fields)?, source(&fields)?);
    let by_lines = field(&fields, "by") == "lines";
    let section = if by_lines {
        "refund_lines"
    } else {
        "refund_amount"
    };
    let values = HashMap::from([("refund_amount", field(&fields, "amount").to_owned())]);
    let of = if by_lines {
        let mut ids = Vec::new();
        for (k, v) in &fields {
            if k == "line" {
                ids.push(v.trim().parse::<i64>().map_err(|_| {
                    WebError::BadRequest("That is not a line of this order.".into())
                })?);
            }
        }
        RefundOf::Lines(ids)
    } else {
        match amount(&fields) {
            Ok(a) => RefundOf::Amount(a),
            Err(problem) => {
                return refuse(&state, &current, &number, section, problem, values).await;
            }
        }
    };
    let result = payments::refund(
        &state.db,
        state.plugins.registry(),
        &current.staff,
        &number,
        source,
        of,
        key,
    )
    .await;
    let success = "Refunded through the payment gateway.".to_owned();
    answer(&state, &current, &number, section, result, success, values).await
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(number): Path<String>,
    axum::Form(fields): axum::Form<Fields>,
) -> Result<Response, WebError> {
    current.require(Permission::ManagePayments)?;
    current.require(Permission::ManageOrders)?;
    let key = key(&fields)?;
    let note = field(&fields, "note");
    let values = HashMap::from([("cancel_note", note.to_owned())]);
    if note.chars().count() > MAX_NOTE_CHARS {
        let problem = format!("Keep the note to {MAX_NOTE_CHARS} characters.");
        return refuse(&state, &current, &number, "cancel", problem, values).await;
    }
    let result = payments::cancel(
        &state.db,
        state.plugins.registry(),
        &state.pipeline,
        &state.changes,
        &current.staff,
        &number,
        note,
        key,
    )
    .await;
    let success =
        format!("Order {number} is cancelled: its payment was voided and its stock released.");
    answer(&state, &current, &number, "cancel", result, success, values).await
}

pub(super) async fn resolve(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path((number, operation)): Path<(String, i64)>,
    axum::Form(fields): axum::Form<Fields>,
) -> Result<Response, WebError> {
    current.require(Permission::ManagePayments)?;
    let money_moved = match field(&fields, "outcome") {
        "moved" => true,
        "not_moved" => false,
        _ => {
            return Err(WebError::BadRequest(
                "Say whether the money moved at the provider.".into(),
            ));
        }
    };
    let result =
        payments::resolve_pending(&state.db, &current.staff, &number, operation, money_moved)
            .await
            .map(|()| Done::Applied);
    let success = "Recorded. The payment's figures now include it.".to_owned();
    answer(
        &state,
        &current,
        &number,
        "payment",
        result,
        success,
        HashMap::new(),
    )
    .await
}
