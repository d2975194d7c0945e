//! A real Emporium on a random port, over a fresh SQLite file or a fresh PostgreSQL database.
#![allow(dead_code)]

pub mod customers;
pub mod routes;
pub mod shopper;
pub mod smtp;
pub mod staff;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use emporium::infra::config::Config;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: emporium::app::AppState,
    _data: tempfile::TempDir,
}

/// Where the test PostgreSQL server is; each test creates its own database on it.
fn postgres_admin_url() -> String {
    std::env::var("EMPORIUM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEPT: AtomicBool = AtomicBool::new(false);

/// Drops the test databases of test processes that have ended: nothing else drops them, and
/// hundreds of them once filled the disk. A database is named after the process that made
/// it, so one whose process is still running (another test binary) is left alone.
async fn drop_leftover_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'emporium\\_test\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let Some(pid) = name.split('_').nth(2) else {
            continue;
        };
        if pid.parse::<u32>().is_err() || std::path::Path::new("/proc").join(pid).exists() {
            continue;
        }
        let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut *conn)
        .await;
        if let Err(e) = dropped {
            eprintln!("left test database {name}: {e}");
        }
    }
}

pub async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!(
        "emporium_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be running at {admin} for the tests: {e}"));
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_leftover_databases(&mut conn).await;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("admin URL has a database");
    format!("{base}/{name}")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub struct Options {
    pub products: u32,
    pub page_size: u32,
    pub cache_ttl_secs: u64,
    /// Keep sessions in this Redis instead of the database.
    pub redis_url: Option<String>,
    /// Send mail to this SMTP server (e.g. `smtp::SmtpServer::url()`) instead of `.eml` files.
    pub smtp_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            products: 120,
            page_size: 12,
            cache_ttl_secs: 10,
            redis_url: None,
            smtp_url: None,
        }
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        TestApp::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, options: Options) -> TestApp {
        TestApp::start_tweaked(backend, options, |_| {}).await
    }

    /// Like [`TestApp::start_with`], with any other setting changed by `tweak`.
    pub async fn start_tweaked(
        backend: Backend,
        options: Options,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        // `EMPORIUM_TEST_LOG=debug` shows the app's logs (errors behind a 500, for instance).
        if let Ok(filter) = std::env::var("EMPORIUM_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let data = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                data.path().join("shop.db").display()
            ),
            Backend::Postgres => fresh_postgres_database().await,
        };
        let mut config = Config {
            data_dir: data.path().to_path_buf(),
            database_url: Some(database_url),
            themes_dir: repo_root().join("themes"),
            page_size: options.page_size,
            cache_ttl_secs: options.cache_ttl_secs,
            db_max_connections: 4,
            redis_url: options.redis_url.clone(),
            // A debug host on a busy 2-core machine runs interpreted guests slowly.
            plugin_call_budget_ms: 1000,
            smtp_url: options.smtp_url.clone(),
            ..Config::default()
        };
        tweak(&mut config);
        let currency = config.default_currency().unwrap();
        let state = emporium::app::build_state(config).await.expect("app state");
        emporium::demo::load(
            &state.db.pool,
            options.products,
            currency,
            &state.media,
            false,
        )
        .await
        .expect("demo catalogue");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let serve_state = state.clone();
        tokio::spawn(async move {
            emporium::server::serve(serve_state, listener)
                .await
                .unwrap();
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            base,
            client,
            state,
            _data: data,
        }
    }

    /// A client that keeps cookies and sends `Origin` on posts, like a browser.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// Installs and enables a built plugin (`target/plugins/<id>` or `target/test-plugins/<id>`)
    /// through the same service the CLI and dashboard use (so it is in the database), then
    /// applies `config` (which also reconfigures an installed one).
    pub async fn install_plugin(&self, id: &str, config: &[(&str, &str)], approved_hosts: &[&str]) {
        use emporium::plugins::lifecycle::service;
        let shipped = repo_root().join("target/plugins").join(id);
        let dir = if shipped.exists() {
            shipped
        } else {
            repo_root().join("target/test-plugins").join(id)
        };
        let mut values = emporium::plugins::ConfigValues::new();
        for (k, v) in config {
            values = values.with(*k, *v);
        }
        service::install_package(
            &self.state.db,
            &self.state.plugins,
            emporium::audit::Actor::CommandLine,
            &dir,
            emporium::plugins::InstallOptions {
                config: values,
                approved_hosts: approved_hosts.iter().map(|h| h.to_string()).collect(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("installing plugin {id} from {}: {e}", dir.display()));
        let pairs: Vec<(String, String)> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        service::configure(
            &self.state.db,
            &self.state.plugins,
            emporium::audit::Actor::CommandLine,
            id,
            &pairs,
        )
        .await
        .unwrap_or_else(|e| panic!("configuring plugin {id}: {e}"));
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    pub async fn get_response(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A row from the database, for checking pages against the data.
    pub async fn scalar_i64(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_one(&self.state.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    pub async fn scalar_text(&self, sql: &'static str) -> String {
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_one(&self.state.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }
}

/// A cookie-keeping visitor.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

impl Page {
    /// The page's CSRF token: the `csrf-token` meta tag, else the first `csrf_token` field.
    pub fn csrf_token(&self) -> Option<String> {
        [
            "name=\"csrf-token\" content=\"",
            "name=\"csrf_token\" value=\"",
        ]
        .iter()
        .find_map(|marker| {
            let at = self.body.find(marker)?;
            let rest = &self.body[at + marker.len()..];
            Some(rest[..rest.find('"')?].to_owned())
        })
    }
}

impl Browser {
    /// A new visitor of the shop at `base` (`http://host:port`), with no cookies yet.
    pub fn new(base: &str) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        Browser {
            base: base.to_owned(),
            client,
            jar,
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        Page {
            status,
            location,
            set_cookie,
            body: response.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Browser::page(response).await
    }

    /// A same-origin form post (the `Origin` header a browser sends).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[("origin", &self.base)]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self
            .client
            .post(format!("{}{}", self.base, path))
            .form(form);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Browser::page(response).await
    }

    /// Posts a multipart form (see [`multipart`]) from this browser's origin.
    pub async fn post_multipart(
        &self,
        path: &str,
        token: &str,
        fields: &[(&str, &str)],
        file_field: &str,
        file: (&str, &str, &[u8]),
    ) -> Page {
        let (content_type, body) = multipart(token, fields, file_field, file);
        let response = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("origin", &self.base)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Browser::page(response).await
    }

    /// Posts, then follows the redirect (if any) and returns the page it leads to.
    pub async fn post_and_follow(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let page = self.post(path, form).await;
        assert!(
            page.status == 303 || page.status == 302,
            "POST {path}: expected a redirect, got {} {}",
            page.status,
            page.body
        );
        let to = page.location.clone().unwrap();
        self.get(&to).await
    }

    /// The session cookie's value, if the browser holds one.
    pub fn session_id(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url: reqwest::Url = self.base.parse().unwrap();
        let cookies = self.jar.cookies(&url)?;
        cookies
            .to_str()
            .unwrap()
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == emporium::session::COOKIE_NAME)
            .map(|(_, v)| v.to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Runs a test body once per backend: `both_backends!(name, |app| async move { … })`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = TestApp::start(Backend::Sqlite).await;
                ($body)(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = TestApp::start(Backend::Postgres).await;
                ($body)(app).await;
            }
        }
    };
}

/// A `multipart/form-data` body as a browser sends it: the token first, then `fields`, then
/// the file (`name`, content type, bytes) as the field `file_field`.
pub fn multipart(
    token: &str,
    fields: &[(&str, &str)],
    file_field: &str,
    file: (&str, &str, &[u8]),
) -> (String, Vec<u8>) {
    let boundary = "----emporiumTestBoundary0gW";
    let mut body = Vec::new();
    let mut text = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    text("csrf_token", token);
    for (name, value) in fields {
        text(name, value);
    }
    let (filename, content_type, bytes) = file;
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
