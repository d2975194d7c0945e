//! Cross-site request forgery protection, checked in one place for every unsafe request
//! (POST, PUT, PATCH, DELETE) before any handler runs.
//!
//! 1. **Fetch metadata / Origin.** A request the browser marks as cross-site
//!    (`Sec-Fetch-Site: cross-site` or `same-site`), or whose `Origin` names another host than
//!    the one it was sent to, is refused.
//! 2. **Per-session token.** A visitor with a session must send the session's token, as the
//!    `csrf_token` field of a url-encoded form or the `X-CSRF-Token` header; it is compared in
//!    constant time. Pages that post forms get it from the `csrf_token` template global.
//! 3. **Visitors without a session** (sessions are lazy, so a first-time visitor on a product
//!    page has none) carry no credentials that a forged request could ride on. Their posts
//!    are accepted only with positive proof that they came from our own pages
//!    (`Sec-Fetch-Site: same-origin`, or an `Origin`/`Referer` naming this host), and must not
//!    carry a token (a token without a session is a stale or forged form). Sign-in and
//!    registration pages create the session (and token) when they are shown, so those forms
//!    are always token-checked.
//!
//! A refusal is a 403 page and the handler never runs, so nothing changes.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::session::Session;
use crate::web::WebError;

pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";
/// Form bodies are read (to find the token) up to this size; larger posts are refused.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

const REFUSED: &str = "This form has expired or was sent from another site, so nothing was changed. \
                       Please go back, reload the page and try again.";

fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `scheme://host[:port][/…]` → `host[:port]`, lower-cased.
fn authority_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| authority.to_ascii_lowercase())
}

#[derive(Debug, PartialEq, Eq)]
enum Provenance {
    CrossSite,
    SameOrigin,
    Unknown,
}

fn provenance(headers: &HeaderMap) -> Provenance {
    let host = header_str(headers, header::HOST).map(str::to_ascii_lowercase);
    match header_str(headers, "sec-fetch-site") {
        Some("cross-site") | Some("same-site") => return Provenance::CrossSite,
        _ => {}
    }
    if let Some(origin) = header_str(headers, header::ORIGIN) {
        return match (authority_of(origin), &host) {
            (Some(a), Some(h)) if a == *h => Provenance::SameOrigin,
            _ => Provenance::CrossSite,
        };
    }
    if header_str(headers, "sec-fetch-site") == Some("same-origin") {
        return Provenance::SameOrigin;
    }
    if let Some(referer) = header_str(headers, header::REFERER) {
        return match (authority_of(referer), &host) {
            (Some(a), Some(h)) if a == *h => Provenance::SameOrigin,
            _ => Provenance::CrossSite,
        };
    }
    Provenance::Unknown
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_form(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE)
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn forbidden() -> Response {
    WebError::Forbidden(REFUSED.into()).into_response()
}

/// The middleware: runs inside the session middleware, outside every handler.
pub async fn protect(request: Request, next: Next) -> Response {
    if !is_unsafe(request.method()) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let origin = provenance(headers);
    if origin == Provenance::CrossSite {
        return forbidden();
    }
    let expected = request
        .extensions()
        .get::<Session>()
        .and_then(Session::csrf_token);
    let header_token = header_str(headers, HEADER).map(str::to_owned);
    let form = is_form(headers);
    let (parts, body) = request.into_parts();
    // The body arrives under the router's body limit and deadline (`web::router`), so a
    // slow or endless body fails here instead of holding the request forever.
    let bytes = match to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => return crate::web::body_error_status(&e).into_response(),
    };
    let form_token = if form {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|fields| fields.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v))
    } else {
        None
    };
    let given = header_token.or(form_token).filter(|t| !t.is_empty());
    let allowed = match (&expected, &given) {
        (Some(expected), Some(given)) => constant_time_eq(expected.as_bytes(), given.as_bytes()),
        (None, None) => origin == Provenance::SameOrigin,
        _ => false,
    };
    if !allowed {
        return forbidden();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_match_host() {
        let same = headers(&[
            ("host", "shop.test:8000"),
            ("origin", "http://shop.test:8000"),
        ]);
        assert_eq!(provenance(&same), Provenance::SameOrigin);
        let other = headers(&[("host", "shop.test"), ("origin", "https://evil.test")]);
        assert_eq!(provenance(&other), Provenance::CrossSite);
        let null = headers(&[("host", "shop.test"), ("origin", "null")]);
        assert_eq!(provenance(&null), Provenance::CrossSite);
        let fetch = headers(&[("host", "shop.test"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(provenance(&fetch), Provenance::CrossSite);
        let referer = headers(&[("host", "shop.test"), ("referer", "http://shop.test/p/")]);
        assert_eq!(provenance(&referer), Provenance::SameOrigin);
        assert_eq!(
            provenance(&headers(&[("host", "shop.test")])),
            Provenance::Unknown
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
