//! The HTTP front doors over the [`Shop`](crate::app::Shop). Handlers are thin: they parse
//! input, call one use case of a domain module and render. Every error becomes a friendly
//! HTML page in one place ([`error`]).

pub mod csrf;
pub mod dashboard;
mod error;
pub mod media;
pub mod sign_in;
pub mod storefront;

use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};

use crate::app::AppState;
use crate::session::SessionSettings;
pub use error::{WebError, body_error_status};
use error::{friendly_errors, panic_response};

/// Requests with a longer URI are refused before any handler runs.
pub const MAX_URI_BYTES: usize = 4096;
/// The largest request body any route accepts: the shop's forms and the payment webhooks are
/// a few KiB at most. A longer body is answered 413 before a handler buffers it. Image uploads
/// are the one exception ([`limit_body`]).
pub const MAX_BODY_BYTES: usize = csrf::MAX_FORM_BYTES;

/// Bounds every request body: [`MAX_BODY_BYTES`], or for an image upload the configured
/// `max_upload_bytes` plus room for the form's other fields. A declared length over the limit
/// is answered 413 at once, before anything is read; a longer chunked body fails while it is
/// read.
async fn limit_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = if dashboard::is_upload(request.uri().path()) {
        dashboard::upload_body_limit(&state.config)
    } else {
        MAX_BODY_BYTES
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// `scheme://host` of this request: for a payment provider's return URL and for links in
/// emails sent from a request.
pub fn origin(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Marks a response whose body is the same for every visitor without cookies, so that
/// [`page_cache`] may keep it.
#[derive(Clone, Copy)]
pub struct SharedPage;

/// An upload answered with anything but its redirect (refused: too large, not allowed, not an
/// image) may not have had its body read to the end, so its connection cannot carry another
/// request: the answer says `Connection: close`.
async fn close_refused_uploads(request: Request, next: Next) -> Response {
    let upload = dashboard::is_upload(request.uri().path());
    let mut response = next.run(request).await;
    if upload && !response.status().is_redirection() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Serves a cookie-less visitor's GET from the rendered-page cache when it can: such a visitor
/// sees exactly what every other anonymous visitor sees, so the page is rendered once per TTL.
async fn page_cache(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cacheable_request = request.method() == axum::http::Method::GET
        && !request.headers().contains_key(header::COOKIE)
        && !request.headers().contains_key(header::AUTHORIZATION);
    if !cacheable_request {
        return next.run(request).await;
    }
    // The theme generation is part of the key: after a theme switch or a change of the
    // extension helpers, pages rendered before it are never shown again (even one whose
    // render was still running when the change happened).
    let key = format!("{}|{}", state.templates.generation(), request.uri());
    if let Some((body, event)) = state.pages.get(&key).await {
        // The handler that rendered the page recorded its view; this showing counts too.
        if let Some(event) = event {
            state.analytics.record(event);
        }
        return html_response(body);
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK || response.extensions().get::<SharedPage>().is_none() {
        return response;
    }
    let event = response
        .extensions()
        .get::<crate::analytics::Event>()
        .cloned();
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            state.pages.insert(key, (bytes.clone(), event)).await;
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        Err(e) => WebError::internal(anyhow::Error::new(e).context("reading a rendered page"))
            .into_response(),
    }
}

fn html_response(body: axum::body::Bytes) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The shop's router with `extra` routes beside the storefront's, under every layer: for
/// tests that need a handler the shop does not have (one that panics, for instance).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let request_timeout = Duration::from_secs(state.config.request_timeout_secs);
    let body_timeout = Duration::from_secs(state.config.body_read_timeout_secs);
    Router::new()
        .merge(storefront::router())
        .merge(dashboard::router())
        .merge(media::router())
        .merge(extra)
        .fallback(|| async { WebError::NotFound })
        // Inner to outer: CSRF needs the session; so does a staff user's theme preview; a
        // cached page needs neither; error pages need the session's header.
        .layer(middleware::from_fn(csrf::protect))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            dashboard::themes::preview,
        ))
        .layer(middleware::from_fn_with_state(
            SessionSettings::from_ref(&state),
            crate::session::middleware,
        ))
        // Server-to-server: no session, no CSRF token (see `webhook_router`).
        .merge(storefront::checkout::webhook_router())
        .layer(middleware::from_fn_with_state(state.clone(), page_cache))
        // Everything above answers for itself even when it panics (see `panic_response`).
        .layer(CatchPanicLayer::custom(panic_response))
        // Every route, the webhooks too: bodies are short and must arrive in time. The limit
        // answers 413 at once for a declared length over it and fails a longer chunked body
        // while it is read; the deadline fails a body still arriving `body_timeout` after the
        // request started, however steadily it trickles in.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), limit_body))
        .layer(RequestBodyDeadlineLayer::new(body_timeout))
        // A request that is not answered in time gets a 408 page and its handler is dropped
        // (as when the client goes away). Inside `friendly_errors` so the page is the theme's.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            friendly_errors,
        ))
        .layer(middleware::from_fn(close_refused_uploads))
        // Pages are compressed per response: the fastest level keeps CPU per request small
        // while still shrinking HTML about fivefold.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn origin_comes_from_safe_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "shop.example:8000".parse().unwrap());
        assert_eq!(origin(&h), "http://shop.example:8000");
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(origin(&h), "https://shop.example:8000");
        h.insert(header::HOST, "evil.example/<x>".parse().unwrap());
        assert_eq!(origin(&h), "https://127.0.0.1");
    }
}
