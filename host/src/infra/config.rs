//! One typed configuration, read from an optional TOML file and then `EMPORIUM_*` environment
//! variables (which win), defaulting to the embedded shop: SQLite in the data directory, the
//! bundled default theme, no outside services.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `EMPORIUM_DATA_DIR` | folder for the SQLite file, media, mail and plugin caches | `./data` |
//! | `EMPORIUM_DATABASE_URL` | `sqlite://…` or `postgres://…` | `sqlite://<data dir>/emporium.db` |
//! | `EMPORIUM_ADDR` | address to listen on | `127.0.0.1:8000` |
//! | `EMPORIUM_THEME` | active theme folder name under the themes dir | `default` |
//! | `EMPORIUM_THEMES_DIR` | folder holding the themes | `./themes` |
//! | `EMPORIUM_SHOP_NAME` | shop name shown in the header | `Emporium Demo` |
//! | `EMPORIUM_CURRENCY` | default currency (ISO 4217) | `GBP` |
//! | `EMPORIUM_TAX_RATE` | built-in strategy's tax rate as a decimal fraction (`0.20` = 20 %) | `0` |
//! | `EMPORIUM_PAGE_SIZE` | products per listing page | `24` |
//! | `EMPORIUM_CACHE_TTL_SECS` | how long catalogue query results are reused | `10` |
//! | `EMPORIUM_DB_MAX_CONNECTIONS` | database pool size | `16` |
//! | `EMPORIUM_REDIS_URL` | `redis://…`: keep sessions in Redis instead of the database | unset |
//! | `EMPORIUM_COOKIE_SECURE` | always mark cookies `Secure` (set it when TLS ends at a proxy that doesn't send `X-Forwarded-Proto`) | `false` |
//! | `EMPORIUM_SESSION_TTL_SECS` | how long an idle session lives | `1209600` (14 days) |
//! | `EMPORIUM_SIGN_IN_LOCK_SECS` | how long sign-in to an account is locked after 5 failed attempts within 15 minutes | `900` (15 minutes) |
//! | `EMPORIUM_STAFF_SESSION_TTL_SECS` | how long an unused dashboard sign-in lasts | `28800` (8 hours) |
//! | `EMPORIUM_PAYMENT_RECOVERY_GRACE_SECS` | age at which an approved payment no order took is voided by the recovery pass | `600` |
//! | `EMPORIUM_MAX_LINE_QUANTITY` | most units of one basket line | `999` |
//! | `EMPORIUM_MAX_BASKET_QUANTITY` | most units in one basket, all lines together | `9999` |
//! | `EMPORIUM_PLUGIN_CALL_BUDGET_MS` | CPU budget of one plugin call (wall clock), 1–10000 | `50` |
//! | `EMPORIUM_SANDBOX_PROVIDER_ADDR` | serve the sandbox payment provider (redirect gateway) here | unset |
//! | `EMPORIUM_SMTP_URL` | send mail over SMTP: `smtp://[user:pass@]host[:port]` (plain), `…?tls=required` (STARTTLS), `smtps://…` (TLS); unset = write `.eml` files to `<data dir>/mail/` | unset |
//! | `EMPORIUM_MAIL_FROM` | the `From:` of outgoing mail | `Emporium Demo <shop@localhost>` |
//! | `EMPORIUM_SITE_URL` | the shop's public address, for links in emails (password reset): `https://shop.example.com` | `http://<addr>` |
//! | `EMPORIUM_PLUGIN_DIRECTORY` | plugin directory (folder or http(s) URL) for `emporium plugin` | unset |
//! | `EMPORIUM_PLUGIN_TRUSTED_KEYS` | `name=hex,name=hex`: ed25519 keys plugin signatures may use | none |
//! | `EMPORIUM_PLUGIN_REQUIRE_SIGNATURES` | refuse unsigned plugins from a directory | `false` |
//! | `EMPORIUM_PLUGIN_CA_FILE` | a PEM file of root certificates plugins' `https://` requests trust beside the system's (a provider's private CA) | unset |
//! | `EMPORIUM_PLUGIN_TRACE_SAMPLE_PERCENT` | percent of baskets whose calls are recorded for plugins in `sampled` trace mode | `10` |
//! | `EMPORIUM_PLUGIN_TRACE_RETENTION_HOURS` | hours decision traces are kept | `168` |
//! | `EMPORIUM_PLUGIN_TRACE_MAX_MB` | size bound of the decision-trace store; the oldest go first | `64` |
//! | `EMPORIUM_MEDIA_URL` | keep uploaded media in S3-compatible storage: `s3://bucket[/prefix]`, with the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for a server of your own); more options in the file's `[media_s3]` table; unset = files in `<data dir>/media/` | unset |
//! | `EMPORIUM_MAX_UPLOAD_BYTES` | largest image file the dashboard accepts | `10485760` (10 MiB) |
//! | `EMPORIUM_MAX_IMAGE_PIXELS` | most pixels (width × height) of an uploaded image | `40000000` |
//! | `EMPORIUM_ANALYTICS` | record storefront analytics (product views, basket additions, purchases, searches) | `true` |
//! | `EMPORIUM_REVIEWS_MODERATED` | customers' reviews wait for a moderator before they are shown | `true` |
//! | `EMPORIUM_REVIEWS_ANONYMOUS` | guests may review (with a name and an email address; always moderated) | `false` |
//! | `EMPORIUM_REPORT_CSV_ROWS` | most rows of a report CSV sent at once; a larger one is written by a background job | `5000` |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::money::{Currency, Rounding};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{name}: {message}")]
    Invalid { name: String, message: String },
}

/// The `[order_pipeline]` table as written; every part left out keeps the order module's
/// default (see `order::Pipeline`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Status of a newly placed order.
    pub initial: Option<String>,
    /// Status → statuses it may move to.
    pub statuses: Option<BTreeMap<String, Vec<String>>>,
    pub line_initial: Option<String>,
    pub line_statuses: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub addr: String,
    pub theme: String,
    pub themes_dir: PathBuf,
    pub shop_name: String,
    pub currency: String,
    pub tax_rate: Decimal,
    pub rounding: Rounding,
    pub page_size: u32,
    pub cache_ttl_secs: u64,
    pub db_max_connections: u32,
    /// Sessions live in Redis when set, else in the database.
    pub redis_url: Option<String>,
    /// Mark cookies `Secure` even when the request does not look like TLS.
    pub cookie_secure: bool,
    pub session_ttl_secs: u64,
    /// How often the back-in-stock alerts are checked and sent.
    pub alert_interval_secs: u64,
    /// How long a customer who ticked "remember me" stays signed in without use.
    pub remember_ttl_secs: u64,
    /// How long an account's sign-in stays locked after too many failures
    /// (`customer::throttle`).
    pub sign_in_lock_secs: u64,
    /// How old an approved payment that no order took must be before the recovery pass voids
    /// it: far longer than a checkout takes between approval and commit, so that only one a
    /// crashed process left behind qualifies.
    pub payment_recovery_grace_secs: u64,
    /// How long a dashboard sign-in lasts without use: staff sessions end sooner than a
    /// customer's, whatever the session itself lives.
    pub staff_session_ttl_secs: u64,
    pub max_line_quantity: u32,
    pub max_basket_quantity: u32,
    /// Offers discount prices incl. tax (`true`, what a shop that shows prices with tax
    /// expects) or excl. tax (`EMPORIUM_OFFERS_INCL_TAX`).
    pub offers_incl_tax: bool,
    /// Most wishlists one customer may keep, and most lines across all of them: a list is
    /// stored for good, so an account can't be used to fill the database.
    pub max_wishlists: u32,
    pub max_wishlist_lines: u32,
    /// Development mode: templates and static files are re-read when they change.
    pub dev: bool,
    /// Order and line statuses and the moves allowed between them (Oscar's
    /// `OSCAR_ORDER_STATUS_PIPELINE`), as a `[order_pipeline]` table in the file. Only read
    /// here: `order::Pipeline::from_settings` fills the gaps with its defaults and checks it.
    pub order_pipeline: PipelineSettings,
    /// Serve the sandbox payment provider (for the redirect gateway) on this address.
    pub sandbox_provider_addr: Option<String>,
    /// CPU budget of one plugin call in milliseconds (wall clock). Compiled guests answer in
    /// microseconds; interpreted ones (Python, JavaScript) take a few milliseconds.
    pub plugin_call_budget_ms: u64,
    /// Outgoing mail over SMTP when set, else `.eml` files in `<data_dir>/mail/`.
    pub smtp_url: Option<String>,
    /// The `From:` mailbox of outgoing mail.
    pub mail_from: String,
    /// The shop's public address (scheme, host, port), for links in emails: never the
    /// request's `Host`, which whoever asks for the email chooses.
    pub site_url: Option<String>,
    /// The plugin directory `emporium plugin search|install|upgrade` use: a folder or an
    /// http(s) URL holding `index.json`.
    pub plugin_directory: Option<String>,
    /// Ed25519 public keys (64 hex digits) by name, trusted for plugin signatures.
    pub plugin_trusted_keys: std::collections::BTreeMap<String, String>,
    /// Refuse unsigned plugins from a directory.
    pub plugin_require_signatures: bool,
    /// Root certificates (PEM) plugins' `https://` requests trust beside the system's.
    pub plugin_ca_file: Option<PathBuf>,
    /// Percent of baskets whose plugin calls are recorded for plugins in sampled trace mode.
    pub plugin_trace_sample_percent: u8,
    /// Hours decision traces are kept.
    pub plugin_trace_retention_hours: u64,
    /// Size bound of the decision-trace store, in MiB (the oldest records go first).
    pub plugin_trace_max_mb: u64,
    /// Seconds a client has to send a request's head; also how long an idle keep-alive
    /// connection stays open. Bounds what a slow client (slowloris) can hold.
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a request's body, counted from when its head arrived.
    pub body_read_timeout_secs: u64,
    /// Seconds a request may take in all, until its response starts.
    pub request_timeout_secs: u64,
    /// `s3://bucket[/prefix]`: uploaded media in S3-compatible storage, else files in
    /// [`Config::media_dir`] (see `media::MediaStore`).
    pub media_url: Option<String>,
    /// More options for the S3 client, by object_store's names (`endpoint`, `allow_http`,
    /// `region`, `access_key_id`, `secret_access_key`, `virtual_hosted_style_request`, …), as
    /// a `[media_s3]` table in the file. They win over the `AWS_*` environment variables.
    pub media_s3: BTreeMap<String, String>,
    /// The largest file an upload may carry, in bytes: an image, or a catalogue CSV to import.
    pub max_upload_bytes: u64,
    /// The most pixels an uploaded image may have (width × height): larger ones, decompression
    /// bombs among them, are refused before they are decoded.
    pub max_image_pixels: u64,
    /// Record storefront analytics events (off: the recorder drops everything, for
    /// measuring what recording costs).
    pub analytics: bool,
    /// The most rows a report's CSV may have to be sent in the response; a larger one is
    /// written by a background job.
    pub report_csv_rows: u64,
    /// Customers' reviews wait for a moderator (off: shown at once).
    pub reviews_moderated: bool,
    /// Guests may write reviews; theirs always wait for a moderator.
    pub reviews_anonymous: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            database_url: None,
            addr: "127.0.0.1:8000".into(),
            theme: "default".into(),
            themes_dir: PathBuf::from("themes"),
            shop_name: "Emporium Demo".into(),
            currency: "GBP".into(),
            tax_rate: Decimal::ZERO,
            rounding: Rounding::HalfUp,
            page_size: 24,
            cache_ttl_secs: 10,
            db_max_connections: 16,
            redis_url: None,
            cookie_secure: false,
            session_ttl_secs: 14 * 24 * 3600,
            remember_ttl_secs: 30 * 24 * 3600,
            alert_interval_secs: 60,
            sign_in_lock_secs: 15 * 60,
            payment_recovery_grace_secs: 600,
            staff_session_ttl_secs: 8 * 3600,
            max_line_quantity: 999,
            max_basket_quantity: 9999,
            offers_incl_tax: true,
            max_wishlists: 20,
            max_wishlist_lines: 500,
            dev: false,
            order_pipeline: PipelineSettings::default(),
            sandbox_provider_addr: None,
            plugin_call_budget_ms: 50,
            smtp_url: None,
            mail_from: "Emporium Demo <shop@localhost>".into(),
            site_url: None,
            plugin_directory: None,
            plugin_trusted_keys: std::collections::BTreeMap::new(),
            plugin_ca_file: None,
            plugin_trace_sample_percent: 10,
            plugin_trace_retention_hours: 7 * 24,
            plugin_trace_max_mb: 64,
            plugin_require_signatures: false,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 10,
            request_timeout_secs: 30,
            media_url: None,
            media_s3: BTreeMap::new(),
            max_upload_bytes: 10 * 1024 * 1024,
            max_image_pixels: 40_000_000,
            analytics: true,
            report_csv_rows: 5000,
            reviews_moderated: true,
            reviews_anonymous: false,
        }
    }
}

impl Config {
    /// The shop's public address without a trailing `/`: `site_url`, else the listening
    /// address over plain HTTP (right for the demo shop on this machine).
    pub fn site_url(&self) -> String {
        match &self.site_url {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.addr),
        }
    }

    /// Defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.into(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.into(),
                    source,
                })?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    name: name.into(),
                    message: e.to_string(),
                })
        }
        if let Some(v) = get("EMPORIUM_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("EMPORIUM_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("EMPORIUM_ADDR") {
            self.addr = v;
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_CALL_BUDGET_MS") {
            self.plugin_call_budget_ms = parse("EMPORIUM_PLUGIN_CALL_BUDGET_MS", v)?;
        }
        if let Some(v) = get("EMPORIUM_SANDBOX_PROVIDER_ADDR") {
            self.sandbox_provider_addr = Some(v).filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = get("EMPORIUM_THEME") {
            self.theme = v;
        }
        if let Some(v) = get("EMPORIUM_THEMES_DIR") {
            self.themes_dir = v.into();
        }
        if let Some(v) = get("EMPORIUM_SITE_URL") {
            self.site_url = Some(v);
        }
        if let Some(v) = get("EMPORIUM_SHOP_NAME") {
            self.shop_name = v;
        }
        if let Some(v) = get("EMPORIUM_CURRENCY") {
            self.currency = v;
        }
        if let Some(v) = get("EMPORIUM_TAX_RATE") {
            self.tax_rate = parse("EMPORIUM_TAX_RATE", v)?;
        }
        if let Some(v) = get("EMPORIUM_PAGE_SIZE") {
            self.page_size = parse("EMPORIUM_PAGE_SIZE", v)?;
        }
        if let Some(v) = get("EMPORIUM_CACHE_TTL_SECS") {
            self.cache_ttl_secs = parse("EMPORIUM_CACHE_TTL_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_DB_MAX_CONNECTIONS") {
            self.db_max_connections = parse("EMPORIUM_DB_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = get("EMPORIUM_REDIS_URL") {
            let v = v.trim().to_owned();
            self.redis_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("EMPORIUM_COOKIE_SECURE") {
            self.cookie_secure = parse("EMPORIUM_COOKIE_SECURE", v)?;
        }
        if let Some(v) = get("EMPORIUM_SESSION_TTL_SECS") {
            self.session_ttl_secs = parse("EMPORIUM_SESSION_TTL_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_ALERT_INTERVAL_SECS") {
            self.alert_interval_secs = parse("EMPORIUM_ALERT_INTERVAL_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_REMEMBER_TTL_SECS") {
            self.remember_ttl_secs = parse("EMPORIUM_REMEMBER_TTL_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_SIGN_IN_LOCK_SECS") {
            self.sign_in_lock_secs = parse("EMPORIUM_SIGN_IN_LOCK_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_STAFF_SESSION_TTL_SECS") {
            self.staff_session_ttl_secs = parse("EMPORIUM_STAFF_SESSION_TTL_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_PAYMENT_RECOVERY_GRACE_SECS") {
            self.payment_recovery_grace_secs = parse("EMPORIUM_PAYMENT_RECOVERY_GRACE_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_MAX_LINE_QUANTITY") {
            self.max_line_quantity = parse("EMPORIUM_MAX_LINE_QUANTITY", v)?;
        }
        if let Some(v) = get("EMPORIUM_MAX_BASKET_QUANTITY") {
            self.max_basket_quantity = parse("EMPORIUM_MAX_BASKET_QUANTITY", v)?;
        }
        if let Some(v) = get("EMPORIUM_OFFERS_INCL_TAX") {
            self.offers_incl_tax = parse("EMPORIUM_OFFERS_INCL_TAX", v)?;
        }
        if let Some(v) = get("EMPORIUM_MAX_WISHLISTS") {
            self.max_wishlists = parse("EMPORIUM_MAX_WISHLISTS", v)?;
        }
        if let Some(v) = get("EMPORIUM_MAX_WISHLIST_LINES") {
            self.max_wishlist_lines = parse("EMPORIUM_MAX_WISHLIST_LINES", v)?;
        }
        if let Some(v) = get("EMPORIUM_SMTP_URL") {
            let v = v.trim().to_owned();
            self.smtp_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("EMPORIUM_MAIL_FROM") {
            self.mail_from = v.trim().to_owned();
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_CA_FILE") {
            let v = v.trim();
            self.plugin_ca_file = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_TRACE_SAMPLE_PERCENT") {
            self.plugin_trace_sample_percent = parse("EMPORIUM_PLUGIN_TRACE_SAMPLE_PERCENT", v)?;
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_TRACE_RETENTION_HOURS") {
            self.plugin_trace_retention_hours = parse("EMPORIUM_PLUGIN_TRACE_RETENTION_HOURS", v)?;
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_TRACE_MAX_MB") {
            self.plugin_trace_max_mb = parse("EMPORIUM_PLUGIN_TRACE_MAX_MB", v)?;
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_DIRECTORY") {
            let v = v.trim().to_owned();
            self.plugin_directory = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_TRUSTED_KEYS") {
            self.plugin_trusted_keys.clear();
            for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (name, key) = pair.split_once('=').ok_or_else(|| ConfigError::Invalid {
                    name: "EMPORIUM_PLUGIN_TRUSTED_KEYS".into(),
                    message: format!("{pair:?} is not name=hex"),
                })?;
                self.plugin_trusted_keys
                    .insert(name.trim().to_owned(), key.trim().to_owned());
            }
        }
        if let Some(v) = get("EMPORIUM_PLUGIN_REQUIRE_SIGNATURES") {
            self.plugin_require_signatures = parse("EMPORIUM_PLUGIN_REQUIRE_SIGNATURES", v)?;
        }
        if let Some(v) = get("EMPORIUM_HEADER_READ_TIMEOUT_SECS") {
            self.header_read_timeout_secs = parse("EMPORIUM_HEADER_READ_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_BODY_READ_TIMEOUT_SECS") {
            self.body_read_timeout_secs = parse("EMPORIUM_BODY_READ_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_REQUEST_TIMEOUT_SECS") {
            self.request_timeout_secs = parse("EMPORIUM_REQUEST_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = get("EMPORIUM_MEDIA_URL") {
            let v = v.trim().to_owned();
            self.media_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("EMPORIUM_MAX_UPLOAD_BYTES") {
            self.max_upload_bytes = parse("EMPORIUM_MAX_UPLOAD_BYTES", v)?;
        }
        if let Some(v) = get("EMPORIUM_MAX_IMAGE_PIXELS") {
            self.max_image_pixels = parse("EMPORIUM_MAX_IMAGE_PIXELS", v)?;
        }
        if let Some(v) = get("EMPORIUM_ANALYTICS") {
            self.analytics = parse("EMPORIUM_ANALYTICS", v)?;
        }
        if let Some(v) = get("EMPORIUM_REPORT_CSV_ROWS") {
            self.report_csv_rows = parse("EMPORIUM_REPORT_CSV_ROWS", v)?;
        }
        if let Some(v) = get("EMPORIUM_REVIEWS_MODERATED") {
            self.reviews_moderated = parse("EMPORIUM_REVIEWS_MODERATED", v)?;
        }
        if let Some(v) = get("EMPORIUM_REVIEWS_ANONYMOUS") {
            self.reviews_anonymous = parse("EMPORIUM_REVIEWS_ANONYMOUS", v)?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name: &str, message: &str| ConfigError::Invalid {
            name: name.into(),
            message: message.into(),
        };
        if let Some(url) = &self.site_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "EMPORIUM_SITE_URL",
                "must start with http:// or https://",
            ));
        }
        if self.plugin_trace_sample_percent > 100 {
            return Err(invalid(
                "plugin_trace_sample_percent",
                "must be a percentage from 0 to 100",
            ));
        }
        if !(1..=1_000_000).contains(&self.plugin_trace_max_mb) {
            return Err(invalid(
                "plugin_trace_max_mb",
                "must be from 1 to 1000000 MiB",
            ));
        }
        if self.plugin_trace_retention_hours == 0 || self.plugin_trace_retention_hours > 24 * 3660 {
            return Err(invalid(
                "plugin_trace_retention_hours",
                "must be from 1 hour to about ten years",
            ));
        }
        if !(1..=10_000).contains(&self.plugin_call_budget_ms) {
            return Err(invalid(
                "plugin_call_budget_ms",
                "must be from 1 to 10000 milliseconds",
            ));
        }
        self.default_currency()
            .map_err(|e| invalid("currency", &e.to_string()))?;
        if self.tax_rate.is_sign_negative() || self.tax_rate >= Decimal::ONE {
            return Err(invalid(
                "tax_rate",
                "must be a fraction from 0 up to 1, e.g. 0.20",
            ));
        }
        if !(1..=200).contains(&self.page_size) {
            return Err(invalid("page_size", "must be between 1 and 200"));
        }
        if self.db_max_connections == 0 {
            return Err(invalid("db_max_connections", "must be at least 1"));
        }
        for (name, secs) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("body_read_timeout_secs", self.body_read_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                return Err(invalid(name, "must be from 1 to 3600 seconds"));
            }
        }
        if self.session_ttl_secs < 60 {
            return Err(invalid("session_ttl_secs", "must be at least 60"));
        }
        if !(1..=24 * 3600).contains(&self.alert_interval_secs) {
            return Err(invalid(
                "alert_interval_secs",
                "must be from 1 second to 1 day (86400)",
            ));
        }
        if !(60..=400 * 24 * 3600).contains(&self.remember_ttl_secs) {
            return Err(invalid(
                "remember_ttl_secs",
                "must be from 60 seconds to 400 days (34560000)",
            ));
        }
        if !(1..=7 * 24 * 3600).contains(&self.sign_in_lock_secs) {
            return Err(invalid(
                "sign_in_lock_secs",
                "must be from 1 second to 7 days (604800)",
            ));
        }
        if !(60..=7 * 24 * 3600).contains(&self.staff_session_ttl_secs) {
            return Err(invalid(
                "staff_session_ttl_secs",
                "must be from 60 seconds to 7 days (604800)",
            ));
        }
        if !(1..=7 * 24 * 3600).contains(&self.payment_recovery_grace_secs) {
            return Err(invalid(
                "payment_recovery_grace_secs",
                "must be from 1 second to 7 days (604800)",
            ));
        }
        if self.max_line_quantity == 0 || self.max_basket_quantity < self.max_line_quantity {
            return Err(invalid(
                "max_basket_quantity",
                "max_line_quantity must be at least 1 and max_basket_quantity at least max_line_quantity",
            ));
        }
        for (name, key) in &self.plugin_trusted_keys {
            if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    "plugin_trusted_keys",
                    &format!("key {name:?} must be 64 hex digits (an ed25519 public key)"),
                ));
            }
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            return Err(invalid(
                "redis_url",
                "use redis://…, rediss://… or unix://…",
            ));
        }
        if let Some(url) = &self.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(invalid("smtp_url", "use smtp://… or smtps://…"));
        }
        if let Some(url) = &self.media_url
            && let Err(message) = parse_s3_url(url)
        {
            return Err(invalid("media_url", &message));
        }
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_upload_bytes) {
            return Err(invalid(
                "max_upload_bytes",
                "must be from 1024 bytes to 1 GiB (1073741824)",
            ));
        }
        if !(1..=1_000_000_000).contains(&self.max_image_pixels) {
            return Err(invalid(
                "max_image_pixels",
                "must be from 1 to 1000000000 pixels",
            ));
        }
        if self.mail_from.trim().is_empty() {
            return Err(invalid(
                "mail_from",
                "must be a mailbox, e.g. Shop <shop@example.com>",
            ));
        }
        Ok(())
    }

    pub fn default_currency(&self) -> Result<Currency, crate::money::MoneyError> {
        Currency::from_code(&self.currency)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("emporium.db").display()
            ),
        }
    }

    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }

    /// Where outgoing mail is written as `.eml` files when no `smtp_url` is set.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }
}

/// `s3://bucket[/prefix]` → (bucket, prefix without slashes at either end).
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| "use s3://bucket or s3://bucket/prefix".to_owned())?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty()
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(format!("{bucket:?} is not a bucket name"));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
        return Err(format!("{prefix:?} is not a usable prefix"));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "EMPORIUM_DATABASE_URL" => Some("postgres://localhost/shop".into()),
            "EMPORIUM_TAX_RATE" => Some("0.20".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.database_url(), "postgres://localhost/shop");
        assert_eq!(c.tax_rate, Decimal::new(20, 2));
        c.validate().unwrap();
    }

    #[test]
    fn defaults_are_the_embedded_shop() {
        let c = Config::default();
        assert!(c.database_url().starts_with("sqlite://data/emporium.db"));
        c.validate().unwrap();
    }

    #[test]
    fn bad_values_name_the_setting() {
        let mut c = Config::default();
        let err = c
            .apply_env(|k| (k == "EMPORIUM_PAGE_SIZE").then(|| "lots".into()))
            .unwrap_err();
        assert!(err.to_string().contains("EMPORIUM_PAGE_SIZE"));
        c.tax_rate = Decimal::from(2);
        assert!(c.validate().unwrap_err().to_string().contains("tax_rate"));
    }

    #[test]
    fn mail_settings_come_from_the_environment() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "EMPORIUM_SMTP_URL" => Some("smtp://127.0.0.1:2525".into()),
            "EMPORIUM_MAIL_FROM" => Some("Shop <shop@example.com>".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.smtp_url.as_deref(), Some("smtp://127.0.0.1:2525"));
        assert_eq!(c.mail_from, "Shop <shop@example.com>");
        c.validate().unwrap();
        c.smtp_url = Some("http://mail".into());
        assert!(c.validate().unwrap_err().to_string().contains("smtp_url"));
    }

    #[test]
    fn media_settings_come_from_the_environment() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "EMPORIUM_MEDIA_URL" => Some("s3://shop-media/live".into()),
            "EMPORIUM_MAX_UPLOAD_BYTES" => Some("2048".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.media_url.as_deref(), Some("s3://shop-media/live"));
        assert_eq!(c.max_upload_bytes, 2048);
        c.validate().unwrap();
        c.media_url = Some("ftp://media".into());
        assert!(c.validate().unwrap_err().to_string().contains("media_url"));
    }

    #[test]
    fn file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emporium.toml");
        std::fs::write(&path, "shop_name = \"Test\"\ncolour = \"red\"\n").unwrap();
        assert!(matches!(
            Config::load(Some(&path)),
            Err(ConfigError::Parse { .. })
        ));
    }
}
