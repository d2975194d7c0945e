//! The HTTP front doors. Handlers are thin: they parse input, call the domain modules and
//! render. Every error becomes a friendly HTML page here, in one place.

pub mod csrf;
pub mod storefront;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};

use crate::catalogue::CatalogueError;
use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::money::Currency;
use crate::partner::PartnerError;
use crate::pricing::{Pricing, Strategy};
use crate::themes::Templates;

/// Requests with a longer URI are refused before any handler runs.
pub const MAX_URI_BYTES: usize = 4096;
/// The largest request body any route accepts: the shop's forms and the payment webhooks are
/// a few KiB at most. A longer body is answered 413 before a handler buffers it.
pub const MAX_BODY_BYTES: usize = csrf::MAX_FORM_BYTES;

pub struct AppStateInner {
    pub db: Db,
    pub config: Config,
    pub templates: Templates,
    /// Prices and availability: the enabled pricing plugin, or the built-in strategy.
    pub pricing: Arc<Pricing>,
    /// Where session data lives (database or Redis).
    pub sessions: Arc<dyn crate::session::SessionStore>,
    /// Installed plugins (shipping, payment, pricing, offers, theme extensions): the registry
    /// the domain calls, and the lifecycle that keeps it in step with the database.
    pub plugins: Arc<crate::plugins::PluginHost>,
    /// Outgoing mail: `mail::enqueue` inside a transaction, then `mailer.wake()` after commit.
    pub mailer: crate::mail::Mailer,
    pub currency: Currency,
    /// Catalogue query results by page key; cleared when the catalogue changes.
    pub cache: moka::future::Cache<String, minijinja::Value>,
    /// Whole rendered pages for visitors without cookies, by path and query.
    pub pages: moka::future::Cache<String, axum::body::Bytes>,
    pub categories: moka::sync::Cache<(), Arc<crate::catalogue::category::CategoryTree>>,
    /// The header menu, derived from `categories`.
    pub nav: moka::sync::Cache<(), minijinja::Value>,
    /// The header's mini-basket (units, total) by basket id, so browsing with a basket does
    /// not re-price it on every page. Forgotten when this process writes the basket, when
    /// prices may have changed (catalogue or plugin changes), and after the TTL (a write by
    /// another process shows within it).
    pub mini_baskets: moka::sync::Cache<i64, (i64, crate::money::Money)>,
    /// Failed sign-ins per account (in the database) and per client address (here).
    pub sign_in: crate::customer::throttle::SignInThrottle,
}

pub type AppState = Arc<AppStateInner>;

impl AppStateInner {
    pub fn new(
        db: Db,
        config: Config,
        templates: Templates,
        strategy: Arc<dyn Strategy>,
        sessions: Arc<dyn crate::session::SessionStore>,
        plugins: Arc<crate::plugins::PluginHost>,
        mailer: crate::mail::Mailer,
    ) -> Result<AppStateInner, crate::money::MoneyError> {
        let currency = config.default_currency()?;
        let ttl = Duration::from_secs(config.cache_ttl_secs);
        let categories = moka::sync::Cache::builder().time_to_live(ttl).build();
        let pricing = Arc::new(Pricing::new(
            strategy,
            plugins.registry().clone(),
            categories.clone(),
        ));
        let cache = moka::future::Cache::builder()
            .max_capacity(20_000)
            .time_to_live(ttl)
            .build();
        let pages = moka::future::Cache::builder()
            .max_capacity(64 * 1024 * 1024)
            .weigher(|key: &String, page: &axum::body::Bytes| {
                u32::try_from(key.len() + page.len()).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl)
            .build();
        // Cached pages carry prices (pricing plugins) and plugin-rendered text (theme
        // extensions): any plugin change, here or in another process, starts them afresh.
        let mini_baskets = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build();
        let (stale_data, stale_pages, stale_baskets) =
            (cache.clone(), pages.clone(), mini_baskets.clone());
        plugins.registry().on_change(move |_| {
            stale_data.invalidate_all();
            stale_pages.invalidate_all();
            stale_baskets.invalidate_all();
        });
        let sign_in = crate::customer::throttle::SignInThrottle::new(config.sign_in_lock_secs);
        Ok(AppStateInner {
            sign_in,
            db,
            config,
            templates,
            pricing,
            sessions,
            plugins,
            mailer,
            currency,
            cache,
            pages,
            categories,
            nav: moka::sync::Cache::builder().time_to_live(ttl).build(),
            mini_baskets,
        })
    }

    /// Forget every cached catalogue result (after a catalogue or stock write).
    pub fn invalidate_catalogue(&self) {
        self.cache.invalidate_all();
        self.pages.invalidate_all();
        self.categories.invalidate_all();
        self.nav.invalidate_all();
        self.mini_baskets.invalidate_all();
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// Refused (CSRF); the message is shown.
    #[error("{0}")]
    Forbidden(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<CatalogueError> for WebError {
    fn from(e: CatalogueError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<PartnerError> for WebError {
    fn from(e: PartnerError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<minijinja::Error> for WebError {
    fn from(e: minijinja::Error) -> Self {
        WebError::Internal(format!("{e:#}"))
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
            WebError::Internal(detail) => {
                // The detail goes to the log only; the customer sees a generic page.
                tracing::error!(%detail, "request failed");
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
async fn friendly_errors(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    WebError::Internal(format!("a request handler panicked: {message}")).into_response()
}

/// Marks a response whose body is the same for every visitor without cookies, so that
/// [`page_cache`] may keep it.
#[derive(Clone, Copy)]
pub struct SharedPage;

/// Serves a cookie-less visitor's GET from the rendered-page cache when it can: such a visitor
/// sees exactly what every other anonymous visitor sees, so the page is rendered once per TTL.
async fn page_cache(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cacheable_request = request.method() == axum::http::Method::GET
        && !request.headers().contains_key(header::COOKIE)
        && !request.headers().contains_key(header::AUTHORIZATION);
    if !cacheable_request {
        return next.run(request).await;
    }
    let key = request.uri().to_string();
    if let Some(body) = state.pages.get(&key).await {
        return html_response(body);
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK || response.extensions().get::<SharedPage>().is_none() {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            state.pages.insert(key, bytes.clone()).await;
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        Err(e) => WebError::Internal(format!("reading a rendered page: {e}")).into_response(),
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
        .merge(extra)
        .fallback(|| async { WebError::NotFound })
        // Inner to outer: CSRF needs the session; a cached page needs neither; error pages
        // need the session's header.
        .layer(middleware::from_fn(csrf::protect))
        .layer(middleware::from_fn_with_state(
            state.clone(),
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
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
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
