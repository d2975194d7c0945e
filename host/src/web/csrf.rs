//! Cross-site request forgery protection, checked in one place for every unsafe request
//! (POST, PUT, PATCH, DELETE) before any handler runs.
//!
//! 1. **Fetch metadata / Origin.** A request the browser marks as cross-site
//!    (`Sec-Fetch-Site: cross-site` or `same-site`), or whose `Origin` names another host than
//!    the one it was sent to, is refused. `Sec-Fetch-Site: same-origin` is believed before
//!    `Origin`, which a page that withholds its referrer sends as `null`.
//! 2. **Per-session token.** A visitor with a session must send the session's token, as the
//!    `csrf_token` field of a url-encoded form, the first field of a multipart form (file
//!    uploads: the body after it streams on to the handler unread), or the `X-CSRF-Token`
//!    header; it is compared in constant time. Pages that post forms get it from the
//!    `csrf_token` template global.
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
    // The browser's own word comes first: a page whose referrer policy withholds its address
    // (`no-referrer`) makes the browser send `Origin: null`, even to its own site.
    match header_str(headers, "sec-fetch-site") {
        Some("cross-site") | Some("same-site") => return Provenance::CrossSite,
        Some("same-origin") => return Provenance::SameOrigin,
        _ => {}
    }
    if let Some(origin) = header_str(headers, header::ORIGIN) {
        return match (authority_of(origin), &host) {
            (Some(a), Some(h)) if a == *h => Provenance::SameOrigin,
            _ => Provenance::CrossSite,
        };
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

/// The boundary of a `multipart/form-data` body.
fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let value = header_str(headers, header::CONTENT_TYPE)?;
    let (mime, params) = value.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// How much of a multipart body is read to find its first field.
const MULTIPART_PEEK_BYTES: usize = 4 * 1024;

/// The value of a multipart body's first part when it is the `csrf_token` field: `Some(None)`
/// when `head` shows the first part is something else, `None` while `head` is too short to
/// tell.
fn multipart_token(head: &[u8], boundary: &str) -> Option<Option<String>> {
    let opening = format!("--{boundary}\r\n");
    if head.len() < opening.len() {
        return None;
    }
    let Some(rest) = head.strip_prefix(opening.as_bytes()) else {
        return Some(None);
    };
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let Some(end_of_headers) = find(rest, b"\r\n\r\n") else {
        return (head.len() >= MULTIPART_PEEK_BYTES).then_some(None);
    };
    let part_headers = String::from_utf8_lossy(&rest[..end_of_headers]).to_ascii_lowercase();
    let is_token = part_headers.lines().any(|line| {
        line.starts_with("content-disposition:")
            && line.contains("form-data")
            && line.contains(&format!("name=\"{FIELD}\""))
            && !line.contains("filename")
    });
    if !is_token {
        return Some(None);
    }
    let value = &rest[end_of_headers + 4..];
    let Some(end) = find(value, format!("\r\n--{boundary}").as_bytes()) else {
        return (head.len() >= MULTIPART_PEEK_BYTES).then_some(None);
    };
    Some(String::from_utf8(value[..end].to_vec()).ok())
}

/// Reads the start of a multipart body until its first field can be judged; returns the token
/// (if that field is one) and the body whole again.
async fn peek_multipart(body: Body, boundary: &str) -> Result<(Option<String>, Body), Response> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut head = Vec::new();
    let token = loop {
        if let Some(found) = multipart_token(&head, boundary) {
            break found;
        }
        match body.frame().await {
            None => break multipart_token(&head, boundary).flatten(),
            Some(Err(e)) => return Err(crate::web::body_error_status(&e).into_response()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    head.extend_from_slice(&data);
                }
            }
        }
    };
    let head = axum::body::Bytes::from(head);
    let rest = body.into_data_stream();
    let whole = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, axum::Error>(head) }),
        rest,
    );
    Ok((token, Body::from_stream(whole)))
}

fn forbidden() -> Response {
    WebError::Forbidden(REFUSED.into()).into_response()
}

/// Whether the token sent (`given`) answers the session's (`expected`); without a session,
/// whether the post provably came from our own pages.
fn token_allowed(expected: Option<&str>, given: Option<&str>, origin: &Provenance) -> bool {
    match (expected, given) {
        (Some(expected), Some(given)) => constant_time_eq(expected.as_bytes(), given.as_bytes()),
        (None, None) => *origin == Provenance::SameOrigin,
        _ => false,
    }
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
    if let Some(boundary) = multipart_boundary(headers) {
        let (parts, body) = request.into_parts();
        let (form_token, body) = match peek_multipart(body, &boundary).await {
            Ok(found) => found,
            Err(response) => return response,
        };
        let given = header_token.or(form_token).filter(|t| !t.is_empty());
        if !token_allowed(expected.as_deref(), given.as_deref(), &origin) {
            return forbidden();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
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
    if !token_allowed(expected.as_deref(), given.as_deref(), &origin) {
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
        let null_same = headers(&[
            ("host", "shop.test"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(provenance(&null_same), Provenance::SameOrigin);
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
    fn a_multipart_token_is_its_first_field() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n";
        assert_eq!(
            multipart_token(body, "XyZ"),
            Some(Some("abc123".to_owned()))
        );
        // Too short to tell yet.
        assert_eq!(multipart_token(&body[..30], "XyZ"), None);
        assert_eq!(multipart_token(&body[..60], "XyZ"), None);
        // A first field that is something else: no token.
        let other =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nx\r\n--XyZ--";
        assert_eq!(multipart_token(other, "XyZ"), Some(None));
        assert_eq!(multipart_token(b"garbage that is long", "XyZ"), Some(None));
        let h = headers(&[("content-type", "multipart/form-data; boundary=\"XyZ\"")]);
        assert_eq!(multipart_boundary(&h).as_deref(), Some("XyZ"));
        assert_eq!(
            multipart_boundary(&headers(&[("content-type", "text/plain")])),
            None
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
