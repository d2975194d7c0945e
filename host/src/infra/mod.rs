//! Infrastructure the domain modules share: configuration, the database, and small helpers
//! (random tokens, redacted URLs).
pub mod changes;
pub mod config;
pub mod db;
pub mod password;

/// A random 256-bit value as 64 lowercase hex digits (session ids, CSRF tokens, guest links).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a request can recover from.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex::encode(bytes)
}

/// Where the crash-safety tests stop a running shop (`tests/crash.rs`): when the environment
/// variable `EMPORIUM_CRASH_POINT` names `point`, the process says so on standard error and
/// stops there, holding whatever it holds (an open transaction, an unsent email), until the
/// test kills it with SIGKILL. Unset (always, outside those tests) it costs one comparison.
pub fn crash_point(point: &str) {
    static CHOSEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| std::env::var("EMPORIUM_CRASH_POINT").ok());
    if chosen.as_deref() == Some(point) {
        eprintln!("emporium: stopped at crash point {point}");
        // Blocks this worker thread for good; the test kills the process.
        loop {
            std::thread::park();
        }
    }
}

/// A URL without its password (database, SMTP), for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://shop:s3cret@db/shop"),
            "postgres://shop:***@db/shop"
        );
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
