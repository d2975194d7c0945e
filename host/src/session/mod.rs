//! Cookie sessions with server-side data.
//!
//! The cookie holds only an opaque random id (256 bits, hex); the data (JSON) lives in a
//! [`SessionStore`]: the database by default, Redis when `EMPORIUM_REDIS_URL` is set. The store
//! key is the SHA-256 of the id, so neither a database dump nor a Redis `KEYS` hands out live
//! sessions.
//!
//! Sessions are lazy: a request without our cookie costs no store lookup, and nothing is stored
//! (no row, no cookie) until a handler writes to the [`Session`]. Reading an absent session sees
//! an empty one. After the handler, [`middleware`] saves what changed, sets or clears the
//! cookie (`HttpOnly`, `SameSite=Lax`, `Secure` over TLS or when configured), rotates the id
//! when asked (login), and slides the expiry forward when a live session is half-way to it.
//! Expired records are ignored on read and swept periodically (`app::serve`).
//!
//! Concurrent requests of one session each save their own copy of the data (the last write
//! wins), so keep session data small and derived; the basket itself lives in its own tables.

pub mod store;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use store::{DbStore, RedisStore, SessionStore, StoreError};
use store::{Record, now_secs};

pub const COOKIE_NAME: &str = "emporium_session";
const CSRF_KEY: &str = "_csrf";
const MESSAGES_KEY: &str = "_messages";
const CUSTOMER_KEY: &str = "_customer";
/// Set at sign-in when the customer ticked "remember me".
const REMEMBER_KEY: &str = "_remember";
/// Flash messages kept at most, so a loop of failing posts cannot grow a session.
const MAX_MESSAGES: usize = 10;

pub use crate::infra::random_token;

/// What the session middleware needs: where sessions live and how their cookie is set.
#[derive(Clone)]
pub struct SessionSettings {
    pub store: Arc<dyn SessionStore>,
    /// How long an idle session lives, in seconds.
    pub ttl_secs: u64,
    /// How long the session of a customer who asked to be remembered lives, in seconds. A
    /// customer who did not ask gets a cookie that ends with the browser.
    pub remember_ttl_secs: u64,
    /// Mark the cookie `Secure` even when the request did not say it came over TLS.
    pub cookie_secure: bool,
}

/// A handler asked for the [`Session`] on a route the middleware does not cover: a bug in
/// the router, answered with a bodiless 500 that the error page layer renders.
#[derive(Debug, thiserror::Error)]
#[error("the session middleware is not installed on this route")]
pub struct SessionMissing;

impl IntoResponse for SessionMissing {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

/// The store key of a session id: its SHA-256, hex.
pub fn store_key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn looks_like_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A flash message, shown once on the next page rendered for the visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub level: String,
    pub text: String,
}

/// Who is signed in, as kept in the session at login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub id: i64,
    pub email: String,
}

#[derive(Default)]
struct Inner {
    /// The id this request arrived with, when it named a live session.
    id: Option<String>,
    data: Map<String, Value>,
    expires_at: i64,
    dirty: bool,
    rotate: bool,
}

/// This request's session. Cheap to clone; all clones share the same data.
#[derive(Clone, Default)]
pub struct Session(Arc<Mutex<Inner>>);

impl Session {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lock is never held across an await or a panic-prone call; recover anyway.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the visitor arrived with a live session.
    pub fn exists(&self) -> bool {
        self.lock().id.is_some()
    }

    /// No session came in and none is being started: the visitor is like any other.
    pub fn is_blank(&self) -> bool {
        let inner = self.lock();
        inner.id.is_none() && inner.data.is_empty()
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let inner = self.lock();
        inner
            .data
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn insert<T: Serialize>(&self, key: &str, value: T) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let mut inner = self.lock();
        if inner.data.get(key) != Some(&value) {
            inner.data.insert(key.to_owned(), value);
            inner.dirty = true;
        }
    }

    pub fn remove(&self, key: &str) {
        let mut inner = self.lock();
        if inner.data.remove(key).is_some() {
            inner.dirty = true;
        }
    }

    /// Forgets everything (logout) and issues a new id if anything is stored again.
    pub fn flush(&self) {
        let mut inner = self.lock();
        inner.data.clear();
        inner.dirty = true;
        inner.rotate = true;
    }

    /// Moves the data to a new id (on login), so an id planted before login is worthless.
    /// The CSRF token goes too (a new one comes with the new id): a token read from a page
    /// before sign-in, by someone who planted the session, must not work for the account.
    pub fn rotate_id(&self) {
        let mut inner = self.lock();
        inner.data.remove(CSRF_KEY);
        inner.rotate = true;
        inner.dirty = true;
    }

    /// The CSRF token of an existing session, without creating one.
    pub fn csrf_token(&self) -> Option<String> {
        self.get(CSRF_KEY)
    }

    /// The CSRF token, creating it (and so the session) if needed.
    pub fn ensure_csrf_token(&self) -> String {
        if let Some(token) = self.csrf_token() {
            return token;
        }
        let token = random_token();
        self.insert(CSRF_KEY, &token);
        token
    }

    pub fn flash(&self, level: &str, text: impl Into<String>) {
        let mut messages: Vec<Flash> = self.get(MESSAGES_KEY).unwrap_or_default();
        messages.push(Flash {
            level: level.to_owned(),
            text: text.into(),
        });
        let skip = messages.len().saturating_sub(MAX_MESSAGES);
        self.insert(MESSAGES_KEY, &messages[skip..]);
    }

    /// The pending flash messages, removed from the session.
    pub fn take_messages(&self) -> Vec<Flash> {
        let messages = self.get(MESSAGES_KEY).unwrap_or_default();
        self.remove(MESSAGES_KEY);
        messages
    }

    pub fn signed_in(&self) -> Option<SignedIn> {
        self.get(CUSTOMER_KEY)
    }

    pub fn set_signed_in(&self, who: &SignedIn) {
        self.insert(CUSTOMER_KEY, who);
    }

    pub fn customer_id(&self) -> Option<i64> {
        self.signed_in().map(|c| c.id)
    }

    /// Whether the signed-in customer's session outlives the browser ("remember me").
    pub fn set_remember(&self, remember: bool) {
        if remember {
            self.insert(REMEMBER_KEY, true);
        } else {
            self.remove(REMEMBER_KEY);
        }
    }

    pub fn remembered(&self) -> bool {
        self.get(REMEMBER_KEY).unwrap_or(false)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionMissing;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(SessionMissing)
    }
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// Whether the visitor reached us over TLS (directly or through a proxy that says so).
fn is_tls(request: &Request) -> bool {
    request.uri().scheme_str() == Some("https")
        || request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The session cookie; without `max_age` it ends when the browser does.
fn cookie_header(value: &str, max_age: Option<u64>, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = max_age
        .map(|secs| format!("; Max-Age={secs}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/{max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// Paths that never need a session: static and media files skip the lookup entirely.
fn sessionless(path: &str) -> bool {
    path.starts_with("/static/") || path.starts_with("/media/") || path == "/favicon.ico"
}

/// Loads the session named by the cookie (if any), runs the handler, saves what changed.
pub async fn middleware(
    State(settings): State<SessionSettings>,
    mut request: Request,
    next: Next,
) -> Response {
    if sessionless(request.uri().path()) {
        return next.run(request).await;
    }
    let secure = settings.cookie_secure || is_tls(&request);
    let cookie = read_cookie(request.headers(), COOKIE_NAME);
    let session = Session::default();
    if let Some(id) = cookie.as_deref().filter(|id| looks_like_id(id)) {
        match settings.store.load(&store_key(id)).await {
            Ok(Some(record)) => {
                let mut inner = session.lock();
                inner.data = serde_json::from_str(&record.data).unwrap_or_default();
                inner.expires_at = record.expires_at;
                inner.id = Some(id.to_owned());
            }
            Ok(None) => {}
            Err(e) => {
                // Without the store we can't tell who this is; serve them as a new visitor
                // rather than fail every page (writes will fail and show an error).
                tracing::error!(error = %e, store = settings.store.name(), "session load failed");
            }
        }
    }
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;
    if let Err(e) = commit(&settings, &session, cookie.is_some(), secure, &mut response).await {
        tracing::error!(error = %e, store = settings.store.name(), "session save failed");
        // Bodiless: the error page layer renders the shop's 500 page.
        response = axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    response.extensions_mut().insert(session);
    response
}

async fn commit(
    settings: &SessionSettings,
    session: &Session,
    had_cookie: bool,
    secure: bool,
    response: &mut Response,
) -> Result<(), StoreError> {
    let now = now_secs();
    let (old_id, mut data, dirty, rotate, expires_at) = {
        let inner = session.lock();
        (
            inner.id.clone(),
            inner.data.clone(),
            inner.dirty,
            inner.rotate,
            inner.expires_at,
        )
    };
    // A visitor's basket should survive closing the browser, so their cookie lasts; a
    // customer's lasts only when they asked to be remembered, and then longer.
    let customer_id = data
        .get(CUSTOMER_KEY)
        .and_then(|who| who.get("id"))
        .and_then(Value::as_i64);
    let remembered = data.get(REMEMBER_KEY) == Some(&Value::Bool(true));
    let (ttl, max_age) = match (customer_id, remembered) {
        (Some(_), true) => (settings.remember_ttl_secs, Some(settings.remember_ttl_secs)),
        (Some(_), false) => (settings.ttl_secs, None),
        (None, _) => (settings.ttl_secs, Some(settings.ttl_secs)),
    };
    let mut id = old_id.clone();
    if rotate && let Some(old) = id.take() {
        settings.store.delete(&store_key(&old)).await?;
    }
    let set_cookie = if dirty && data.is_empty() {
        // Nothing left to keep: forget the session and the cookie.
        if let Some(current) = &id {
            settings.store.delete(&store_key(current)).await?;
        }
        had_cookie.then(|| cookie_header("", Some(0), secure))
    } else if dirty || (id.is_some() && expires_at - now < i64::try_from(ttl / 2).unwrap_or(0)) {
        // Every stored session has a CSRF token, so its forms are always token-checked.
        data.entry(CSRF_KEY)
            .or_insert_with(|| Value::String(random_token()));
        let record = Record {
            data: Value::Object(data).to_string(),
            expires_at: now + i64::try_from(ttl).unwrap_or(i64::MAX / 2),
            customer_id,
        };
        match id {
            Some(id) => {
                if settings.store.update(&store_key(&id), &record).await? {
                    Some(cookie_header(&id, max_age, secure))
                } else {
                    // Logged out or signed in elsewhere while this request ran: its copy of
                    // the data is stale, and the browser already holds the cookie that the
                    // other request set, which this response must not overwrite.
                    tracing::debug!("session ended during the request; its changes are dropped");
                    None
                }
            }
            None => {
                let id = random_token();
                settings.store.create(&store_key(&id), &record).await?;
                Some(cookie_header(&id, max_age, secure))
            }
        }
    } else if id.is_none() && had_cookie {
        // A stale or forged cookie: drop it so later requests skip the lookup.
        Some(cookie_header("", Some(0), secure))
    } else {
        None
    };
    let headers = response.headers_mut();
    if let Some(Some(cookie)) = set_cookie {
        headers.append(header::SET_COOKIE, cookie);
    }
    if (old_id.is_some() || dirty) && !headers.contains_key(header::CACHE_CONTROL) {
        // The page was made for this visitor.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    Ok(())
}

/// The store the configuration asks for.
pub async fn connect_store(
    config: &crate::infra::config::Config,
    pool: &sqlx::AnyPool,
) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(match &config.redis_url {
        Some(url) => Arc::new(RedisStore::connect(url, "emporium:session:").await?),
        None => Arc::new(DbStore::new(pool.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; emporium_session=abc ;b=2"),
        );
        assert_eq!(read_cookie(&headers, COOKIE_NAME).as_deref(), Some("abc"));
        assert_eq!(read_cookie(&headers, "c"), None);
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (random_token(), random_token());
        assert!(looks_like_id(&a) && looks_like_id(&b));
        assert_ne!(a, b);
        assert!(!looks_like_id("../../etc/passwd"));
        assert_ne!(store_key(&a), a);
    }

    #[test]
    fn flash_messages_are_taken_once() {
        let s = Session::default();
        assert!(s.csrf_token().is_none());
        s.flash("success", "Added");
        assert_eq!(s.take_messages().len(), 1);
        assert!(s.take_messages().is_empty());
        let t = s.ensure_csrf_token();
        assert_eq!(s.ensure_csrf_token(), t);
    }
}
