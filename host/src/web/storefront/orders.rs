//! A customer's view of their orders: the list and each order in their account, and the order
//! status page a guest reaches through the secret link in their confirmation. Anyone else gets
//! a 404, never a hint that the order exists.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::listing::{encode, pagination};
use crate::app::AppState;
use crate::order::history::{self, HistoryFilter};
use crate::order::{self, Order, OrderLine};
use crate::session::Session;
use crate::web::WebError;

pub const ACCOUNT_ORDERS_URL: &str = "/accounts/orders/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ACCOUNT_ORDERS_URL, get(list))
        .route("/accounts/orders/{number}/", get(account_order))
        .route("/accounts/orders/{number}/reorder/", post(reorder_order))
        .route(
            "/accounts/orders/{number}/lines/{order_line}/",
            get(account_line),
        )
        .route(
            "/accounts/orders/{number}/lines/{order_line}/reorder/",
            post(reorder_line),
        )
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

fn parse_line_id(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

fn to_login(uri: &Uri) -> Response {
    let to = format!("{}?next={}", super::accounts::LOGIN_URL, encode(uri.path()));
    Redirect::to(&to).into_response()
}

/// A history page number: a positive whole number, else a 400.
fn page_number(query: &HashMap<String, String>) -> Result<u32, WebError> {
    match query.get("page").map(|p| p.trim()) {
        None | Some("") => Ok(1),
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| WebError::BadRequest("That is not a page number.".into())),
    }
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(&uri));
    };
    let page = page_number(&query)?;
    let (filter, problems) = HistoryFilter::parse(&query);
    let page_size = state.config.page_size.clamp(1, 100);
    let (orders, total) =
        history::search(&state.db.pool, customer, &filter, page, page_size).await?;
    let statuses = history::statuses(&state.db.pool, customer).await?;
    let mut base = format!("{ACCOUNT_ORDERS_URL}?");
    for (k, v) in filter.pairs() {
        base.push_str(&format!("{k}={}&", encode(v)));
    }
    let filtered = filter != HistoryFilter::default();
    super::render(
        &state,
        &session,
        &uri,
        "customer/orders.html",
        minijinja::context! {
            orders => orders,
            total => total,
            filtered => filtered,
            statuses => statuses,
            form => minijinja::context! {
                q => filter.query,
                status => filter.status,
                from => filter.placed_from,
                to => filter.placed_to,
            },
            errors => problems.into_iter().collect::<HashMap<_, _>>(),
            pagination => pagination(&base, page, total, page_size),
        },
    )
    .await
}

/// A line as the account pages show it, with its links and re-order form.
#[derive(Serialize)]
struct LineView {
    #[serde(flatten)]
    line: OrderLine,
    url: String,
    reorder_url: String,
}

fn line_view(number: &str, line: OrderLine) -> LineView {
    LineView {
        url: format!("{ACCOUNT_ORDERS_URL}{number}/lines/{}/", line.id),
        reorder_url: format!("{ACCOUNT_ORDERS_URL}{number}/lines/{}/reorder/", line.id),
        line,
    }
}

async fn account_order(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(&uri));
    };
    if !valid_number(&number) {
        return Err(WebError::NotFound);
    }
    let order = history::order(&state.db.pool, customer, &number)
        .await?
        .ok_or(WebError::NotFound)?;
    let lines: Vec<LineView> = order
        .lines
        .iter()
        .cloned()
        .map(|l| line_view(&order.number, l))
        .collect();
    super::render(
        &state,
        &session,
        &uri,
        "order/detail.html",
        minijinja::context! {
            reorder_url => format!("{ACCOUNT_ORDERS_URL}{}/reorder/", order.number),
            account_lines => lines,
            order => order,
        },
    )
    .await
}

async fn account_line(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path((number, raw_line)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(&uri));
    };
    let line_id = parse_line_id(&raw_line)?;
    if !valid_number(&number) {
        return Err(WebError::NotFound);
    }
    let (order, line) = history::line(&state.db.pool, customer, &number, line_id)
        .await?
        .ok_or(WebError::NotFound)?;
    // Today's product page, when the product is still shown.
    let product_url = match line.product_id {
        Some(id) => crate::basket::products(&state.db.pool, &[id])
            .await?
            .remove(&id)
            .map(|p| p.url),
        None => None,
    };
    super::render(
        &state,
        &session,
        &uri,
        "customer/order_line.html",
        minijinja::context! {
            order_url => format!("{ACCOUNT_ORDERS_URL}{}/", order.number),
            order => minijinja::context! {
                number => order.number.clone(),
                placed_at => order.placed_at.clone(),
                status => order.status.clone(),
            },
            product_url => product_url,
            line => line_view(&order.number, line),
        },
    )
    .await
}

/// Re-orders a whole order (`line` None) or one line; says what went in and, for each
/// line that didn't, why; then shows the basket.
async fn reorder(
    state: &AppState,
    session: &Session,
    number: &str,
    line: Option<i64>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        let to = format!("{}?next={ACCOUNT_ORDERS_URL}", super::accounts::LOGIN_URL);
        return Ok(Redirect::to(&to).into_response());
    };
    if !valid_number(number) {
        return Err(WebError::NotFound);
    }
    let baskets = super::basket::baskets(state, session);
    let done = history::reorder(&baskets, customer, number, line).await?;
    for added in &done.added {
        let (title, quantity) = (&added.title, added.quantity);
        state
            .analytics
            .record(crate::analytics::Event::BasketAddition {
                product_id: added.product_id,
                quantity,
                customer_id: Some(customer),
            });
        let what = if quantity == 1 {
            format!("“{title}” is now in your basket.")
        } else {
            format!("{quantity} × “{title}” are now in your basket.")
        };
        session.flash("success", what);
    }
    for message in &done.refused {
        session.flash("error", message.clone());
    }
    if done.added.is_empty() {
        // Nothing went in: back to the order, where the messages make sense.
        return Ok(Redirect::to(&format!("{ACCOUNT_ORDERS_URL}{number}/")).into_response());
    }
    Ok(Redirect::to(super::basket::BASKET_URL).into_response())
}

async fn reorder_order(
    State(state): State<AppState>,
    session: Session,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    reorder(&state, &session, &number, None).await
}

async fn reorder_line(
    State(state): State<AppState>,
    session: Session,
    Path((number, raw_line)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let line = parse_line_id(&raw_line)?;
    reorder(&state, &session, &number, Some(line)).await
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
