//! Every error a front door answers with, in one place: what a handler returns
//! ([`WebError`]), how a domain error maps onto it, and the layer that turns every bodiless
//! error response (ours, a framework rejection, a timeout, a panic) into the theme's page.
//!
//! Internal errors keep their cause: the whole chain goes to the log, the visitor sees a
//! plain 500 page.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::MAX_URI_BYTES;
use super::storefront;
use crate::app::AppState;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    /// Malformed input; the message is shown.
    #[error("{0}")]
    BadRequest(String),
    /// Refused (CSRF); the message is shown.
    #[error("{0}")]
    Forbidden(String),
    /// A failure of ours. Shared (`Arc`) because a cached page build hands its error to
    /// every request that waited for it.
    #[error("internal error: {0:#}")]
    Internal(Arc<anyhow::Error>),
}

impl WebError {
    /// An internal error caused by `cause`, kept with its chain for the log.
    pub fn internal(cause: impl Into<anyhow::Error>) -> WebError {
        WebError::Internal(Arc::new(cause.into()))
    }

    /// An internal error described by `message` (a bug or an impossible state, no cause).
    pub fn bug(message: impl std::fmt::Display) -> WebError {
        WebError::Internal(Arc::new(anyhow::anyhow!("{message}")))
    }
}

/// Domain errors a handler does not tell apart: each one is an internal error with its cause.
macro_rules! internal_errors {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for WebError {
            fn from(e: $error) -> Self {
                WebError::internal(e)
            }
        })*
    };
}

internal_errors!(
    sqlx::Error,
    crate::catalogue::CatalogueError,
    crate::partner::PartnerError,
    crate::customer::CustomerError,
    crate::checkout::CheckoutError,
    crate::shipping::ShippingError,
    crate::pricing::PricingError,
    crate::session::StoreError,
    crate::alerts::AlertError,
    crate::review::ReviewError,
    crate::offer::OfferError,
);

impl From<crate::reports::tables::ReportError> for WebError {
    fn from(e: crate::reports::tables::ReportError) -> Self {
        match e {
            crate::reports::tables::ReportError::NotAllowed => WebError::Forbidden(
                "This report is about the whole shop; partner users see the orders and product \
                 reports."
                    .into(),
            ),
            crate::reports::tables::ReportError::Db(e) => WebError::internal(e),
        }
    }
}

impl From<crate::address::BookError> for WebError {
    fn from(e: crate::address::BookError) -> Self {
        use crate::address::BookError;
        match e {
            // Someone else's address is answered like one that doesn't exist.
            BookError::NotFound => WebError::NotFound,
            BookError::Full | BookError::Duplicate => WebError::BadRequest(e.to_string()),
            BookError::Db(e) => WebError::internal(e),
        }
    }
}

impl From<minijinja::Error> for WebError {
    fn from(e: minijinja::Error) -> Self {
        // The alternate form carries the template's name, line and source excerpt.
        WebError::bug(format!("{e:#}"))
    }
}

impl From<crate::basket::BasketError> for WebError {
    fn from(e: crate::basket::BasketError) -> Self {
        use crate::basket::BasketError;
        match e {
            BasketError::NotFound => WebError::NotFound,
            BasketError::Invalid(m) | BasketError::Refused(m) => WebError::BadRequest(m),
            other => WebError::internal(other),
        }
    }
}

impl From<crate::wishlist::WishlistError> for WebError {
    fn from(e: crate::wishlist::WishlistError) -> Self {
        use crate::wishlist::WishlistError;
        match e {
            WishlistError::NotFound => WebError::NotFound,
            WishlistError::Invalid(m) | WishlistError::Refused(m) => WebError::BadRequest(m),
            WishlistError::Basket(e) => e.into(),
            other => WebError::internal(other),
        }
    }
}

impl From<crate::order::OrderError> for WebError {
    fn from(e: crate::order::OrderError) -> Self {
        match e {
            crate::order::OrderError::NotFound => WebError::NotFound,
            other => WebError::internal(other),
        }
    }
}

/// Carried from a failed handler to [`friendly_errors`], which renders the page.
#[derive(Clone)]
struct ErrorPage {
    message: Option<String>,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            WebError::NotFound => (StatusCode::NOT_FOUND, None),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, Some(m)),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, Some(m)),
            WebError::Internal(cause) => {
                // The cause goes to the log only, with its whole chain; the customer sees a
                // generic page.
                tracing::error!(error = %format!("{cause:#}"), "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(ErrorPage { message });
        response
    }
}

fn error_title(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("Bad request", "We couldn't understand that request."),
        403 => (
            "Request refused",
            "This form has expired or was sent from another site, so nothing was changed.",
        ),
        404 => (
            "Page not found",
            "We couldn't find the page you were looking for.",
        ),
        405 => ("Not allowed", "That action isn't available here."),
        408 => (
            "Request timed out",
            "That took too long to arrive, so we stopped waiting. Please try again.",
        ),
        413 => (
            "Request too large",
            "That was more than we can accept in one go.",
        ),
        414 => (
            "Address too long",
            "That web address is too long for us to handle.",
        ),
        _ if status.is_server_error() => (
            "Something went wrong",
            "Sorry, something went wrong on our side. Please try again in a moment.",
        ),
        _ => ("Request refused", "We couldn't complete that request."),
    }
}

/// Turns every error response without an HTML body (ours, or a framework rejection such as a
/// malformed query string) into the theme's error page.
pub(super) async fn friendly_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return render_error(
            &state,
            &path,
            StatusCode::URI_TOO_LONG,
            None,
            minijinja::Value::UNDEFINED,
        );
    }
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let page = response.extensions().get::<ErrorPage>().cloned();
    let session = response
        .extensions()
        .get::<crate::session::Session>()
        .cloned();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html && page.is_none() {
        return response;
    }
    let message = page.and_then(|p| p.message);
    // The header shows the visitor's basket and account; errors keep flash messages pending.
    let visitor = match &session {
        Some(session) => storefront::visitor(&state, session, false).await,
        None => minijinja::Value::UNDEFINED,
    };
    let mut response = render_error(&state, &path, status, message, visitor);
    if let Some(session) = session {
        response.extensions_mut().insert(session);
    }
    response
}

fn render_error(
    state: &AppState,
    path: &str,
    status: StatusCode,
    message: Option<String>,
    visitor: minijinja::Value,
) -> Response {
    let (title, default_message) = error_title(status);
    let page = minijinja::context! {
        status => status.as_u16(),
        title => title,
        message => message.unwrap_or_else(|| default_message.to_owned()),
    };
    let ctx = minijinja::context! { ..page, ..visitor, ..storefront::globals(state, path) };
    match state.templates.render("error.html", ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "error template failed");
            (status, title).into_response()
        }
    }
}

/// The status for a request body that could not be read: too long (413), too slow (408), or
/// broken off or malformed by the client (400).
pub fn body_error_status(error: &(dyn std::error::Error + 'static)) -> StatusCode {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        if e.is::<tower_http::timeout::TimeoutError>() {
            return StatusCode::REQUEST_TIMEOUT;
        }
        cause = e.source();
    }
    StatusCode::BAD_REQUEST
}

/// A panic in a handler or a middleware inside [`CatchPanicLayer`]: logged with its message,
/// and answered with the shop's 500 page (rendered by [`friendly_errors`]) instead of a
/// dropped connection.
pub(super) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    WebError::bug(format!("a request handler panicked: {message}")).into_response()
}
