//! What the storefront's and the dashboard's sign-in forms share: the client's address for the
//! throttle, safe `next` targets, and how a refused attempt is explained.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::customer::SignInAttempt;

/// The client's address as the server saw it (absent when the router runs without a socket).
pub type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

pub fn peer_ip(peer: &Peer) -> Option<std::net::IpAddr> {
    peer.as_ref().map(|p| p.0.0.ip())
}

/// Where to go after signing in: a path on this site under `prefix`, never another site.
pub fn safe_next(next: Option<&String>, prefix: &str) -> String {
    match next.map(|n| n.trim()) {
        Some(n)
            if n.starts_with(prefix)
                && n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2000
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_owned()
        }
        _ => prefix.to_owned(),
    }
}

/// The email and password of a sign-in form, and a message per field left empty.
pub fn credentials(
    fields: &std::collections::HashMap<String, String>,
) -> (&str, &str, std::collections::HashMap<&'static str, String>) {
    let email = fields.get("email").map(|e| e.trim()).unwrap_or_default();
    let password = fields
        .get("password")
        .map(String::as_str)
        .unwrap_or_default();
    let mut errors = std::collections::HashMap::new();
    if email.is_empty() {
        errors.insert("email", "Enter your email address.".to_owned());
    }
    if password.is_empty() {
        errors.insert("password", "Enter your password.".to_owned());
    }
    (email, password, errors)
}

/// Too long to be anyone's password: refused like a wrong one, without hashing it.
pub fn too_long(password: &str) -> bool {
    password.chars().count() > crate::customer::MAX_PASSWORD_CHARS
}

/// "40 seconds", "15 minutes": how long to wait, rounded up.
pub fn wait_text(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    match secs {
        1 => "1 second".to_owned(),
        2..90 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

/// Marks a refused sign-in page as 429 with `Retry-After`.
pub fn too_many(mut response: Response, wait: Duration) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Why an attempt was refused, for the form, and how long to wait when the throttle said so.
/// `None` for a welcome.
pub fn refusal<T>(
    attempt: &SignInAttempt<T>,
    lock_secs: i64,
) -> Option<(String, Option<Duration>)> {
    Some(match attempt {
        SignInAttempt::Welcome(_) => return None,
        SignInAttempt::Refused { locked: false } => (
            "That email and password don't match an account. Please try again.".to_owned(),
            None,
        ),
        SignInAttempt::Refused { locked: true } => (
            format!(
                "That email and password don't match an account. After several failed \
                 attempts, signing in to this account is now paused for {}.",
                wait_text(Duration::from_secs(u64::try_from(lock_secs).unwrap_or(1)))
            ),
            None,
        ),
        SignInAttempt::Locked { retry_after } => (
            format!(
                "Too many failed attempts to sign in to this account, so signing in to it is \
                 paused for now. Please try again in {}.",
                wait_text(*retry_after)
            ),
            Some(*retry_after),
        ),
        SignInAttempt::Busy { retry_after } => (
            format!(
                "Too many sign-in attempts from your network. Please try again in {}.",
                wait_text(*retry_after)
            ),
            Some(*retry_after),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site_under_the_prefix() {
        let n = |s: &str| safe_next(Some(&s.to_owned()), "/");
        assert_eq!(n("/basket/"), "/basket/");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "evil",
        ] {
            assert_eq!(n(bad), "/", "{bad}");
        }
        assert_eq!(safe_next(None, "/"), "/");
        let d = |s: &str| safe_next(Some(&s.to_owned()), "/dashboard/");
        assert_eq!(d("/dashboard/orders/"), "/dashboard/orders/");
        assert_eq!(d("/basket/"), "/dashboard/");
    }
}
