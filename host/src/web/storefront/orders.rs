//! A customer's view of their orders: the list and each order in their account, and the order
//! status page a guest reaches through the secret link in their confirmation. Anyone else gets
//! a 404, never a hint that the order exists.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::order::{self, Order};
use crate::session::Session;
use crate::web::WebError;

pub const ACCOUNT_ORDERS_URL: &str = "/accounts/orders/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ACCOUNT_ORDERS_URL, get(list))
        .route("/accounts/orders/{number}/", get(account_order))
        .route("/orders/{number}/", get(guest_order))
}

/// Where the order's owner sees its status: their account, or the guest link.
pub fn status_url(order: &Order, guest_token: Option<&str>) -> Option<String> {
    match (order.customer_id, guest_token) {
        (Some(_), _) => Some(format!("{ACCOUNT_ORDERS_URL}{}/", order.number)),
        (None, Some(token)) => Some(format!("/orders/{}/?token={token}", order.number)),
        (None, None) => None,
    }
}

fn valid_number(number: &str) -> bool {
    !number.is_empty() && number.len() <= 20 && number.bytes().all(|b| b.is_ascii_digit())
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        let to = format!("{}?next={ACCOUNT_ORDERS_URL}", super::accounts::LOGIN_URL);
        return Ok(Redirect::to(&to).into_response());
    };
    let orders = order::for_customer(&state.db.pool, customer).await?;
    super::render(
        &state,
        &session,
        &uri,
        "customer/orders.html",
        minijinja::context! { orders => orders },
    )
    .await
}

async fn account_order(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        let to = format!("{}?next={}", super::accounts::LOGIN_URL, uri.path());
        return Ok(Redirect::to(&to).into_response());
    };
    if !valid_number(&number) {
        return Err(WebError::NotFound);
    }
    let order = order::by_number(&state.db.pool, &number)
        .await?
        .filter(|o| o.customer_id == Some(customer))
        .ok_or(WebError::NotFound)?;
    super::render(
        &state,
        &session,
        &uri,
        "order/detail.html",
        minijinja::context! { order => order },
    )
    .await
}

async fn guest_order(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(number): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let token = query.get("token").map(String::as_str).unwrap_or("");
    if !valid_number(&number) || token.len() != 64 {
        return Err(WebError::NotFound);
    }
    let order = order::for_guest_link(&state.db.pool, &number, token)
        .await?
        .ok_or(WebError::NotFound)?;
    let mut response = super::render(
        &state,
        &session,
        &uri,
        "order/detail.html",
        minijinja::context! { order => order },
    )
    .await?;
    // The page is private: never cached by the rendered-page cache or a proxy.
    response.extensions_mut().remove::<crate::web::SharedPage>();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
