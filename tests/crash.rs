//! Crash safety of "Place order", with the real `emporium` binary: the server is stopped with
//! SIGKILL at each point of placing an order — the gateway's approval on the payment ledger but
//! no order yet; the order written but not committed; the order committed but its confirmation
//! email not yet sent — and started again on the same database. After the restart (whose
//! recovery pass runs at start-up): no approval is left without an order or a void, stock is
//! allocated exactly for the orders that exist, and the confirmation email goes out once. A
//! staff capture killed after the gateway answered stays reserved until settled by hand.
//!
//! The server stops at a point because `EMPORIUM_CRASH_POINT` names it (`infra::crash_point`):
//! it says so on standard error and waits there to be killed.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::Row;
use support::shopper::{GOOD_CARD, add, place, to_preview};
use support::{Backend, Browser, repo_root};

/// A running `emporium serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    /// Lines the server writes to standard error.
    stderr: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Waits until the server printed a line containing `text`.
    fn wait_for_line(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("the server never printed {text:?}: {e}"),
            }
        }
    }

    /// SIGKILL: no destructor, no flush, no rollback by the process itself.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

struct Shop {
    data: tempfile::TempDir,
    database_url: String,
}

impl Shop {
    async fn new(backend: Backend) -> Shop {
        let data = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                data.path().join("shop.db").display()
            ),
            Backend::Postgres => support::fresh_postgres_database().await,
        };
        let shop = Shop { data, database_url };
        let status = shop
            .command()
            .args(["demo", "--products", "40", "--plugins"])
            .arg(repo_root().join("target/plugins"))
            .status()
            .expect("run emporium demo");
        assert!(status.success(), "emporium demo failed");
        shop
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_emporium"));
        command
            .current_dir(repo_root())
            .env("EMPORIUM_DATA_DIR", self.data.path())
            .env("EMPORIUM_DATABASE_URL", &self.database_url)
            .env("EMPORIUM_THEMES_DIR", repo_root().join("themes"))
            // A debug build on a busy 2-core machine runs interpreted guests slowly.
            .env("EMPORIUM_PLUGIN_CALL_BUDGET_MS", "2000")
            // Old enough to recover as soon as the server is back.
            .env("EMPORIUM_PAYMENT_RECOVERY_GRACE_SECS", "1")
            .env_remove("EMPORIUM_CRASH_POINT")
            .env_remove("EMPORIUM_SMTP_URL")
            .env_remove("EMPORIUM_REDIS_URL");
        command
    }

    fn mail_dir(&self) -> PathBuf {
        self.data.path().join("mail")
    }

    /// Starts the server, stopping at `crash_point` if given, and waits until it answers.
    async fn serve(&self, crash_point: Option<&str>) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = self.command();
        command
            .args(["serve", "--addr", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(point) = crash_point {
            command.env("EMPORIUM_CRASH_POINT", point);
        }
        let mut child = command.spawn().expect("start emporium serve");
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server {
            child,
            base: format!("http://{addr}"),
            stderr,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while client
            .get(format!("{}/", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }
}

async fn connect(shop: &Shop) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&shop.database_url).await.unwrap()
}

/// A product with 5 in stock, made for the test: (id, stock record id).
async fn simple_product(shop: &Shop) -> (i64, i64) {
    let db = emporium::infra::db::Db::connect(&shop.database_url, 2)
        .await
        .unwrap();
    let product = emporium::fixtures::ProductBuilder::new()
        .stock(5)
        .create(&db)
        .await
        .unwrap();
    (product.id, product.stock_record_id.unwrap())
}

async fn scalar(pool: &sqlx::AnyPool, sql: &'static str) -> i64 {
    sqlx::query(sql).fetch_one(pool).await.unwrap().get(0)
}

async fn allocated(pool: &sqlx::AnyPool, record: i64) -> i64 {
    sqlx::query("SELECT num_allocated FROM stock_record WHERE id = $1")
        .bind(record)
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0)
}

/// The payment ledger's states, in reference order.
async fn claims(pool: &sqlx::AnyPool) -> Vec<String> {
    sqlx::query("SELECT state FROM payment_claim ORDER BY reference")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `.eml` files delivered so far that mention `text`.
fn mails_mentioning(dir: &Path, text: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|body| body.contains(text)))
        .count()
}

/// Polls `check` for up to a minute; the recovery pass and the mail sender run in the
/// background of the restarted server.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "never true: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One guest checkout that the server is killed in the middle of, at `point`; returns the
/// shop (with its database) and the stock record bought from, with its allocation before.
async fn killed_at(backend: Backend, point: &str) -> (Shop, sqlx::AnyPool, i64, i64) {
    let shop = Shop::new(backend).await;
    let pool = connect(&shop).await;
    let (product, record) = simple_product(&shop).await;
    let before = allocated(&pool, record).await;
    let server = shop.serve(Some(point)).await;
    let guest = Browser::new(&server.base);
    add(&guest, product, 1).await;
    let preview = to_preview(&guest, Some("crash@example.com"), None, "test-card-gateway").await;
    // The request never gets its answer: the server stops inside it and is killed.
    let placing = tokio::spawn(async move { place(&guest, &preview, Some(GOOD_CARD)).await });
    server.wait_for_line(&format!("crash point {point}"), Duration::from_secs(120));
    server.kill();
    placing.abort();
    // Older than the recovery grace when the server is back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (shop, pool, record, before)
}

/// Killed before the order exists: after the restart, no order, the approval voided, no stock
/// taken and no email.
async fn approval_without_order_is_voided(backend: Backend, point: &str) {
    let (shop, pool, record, before) = killed_at(backend, point).await;
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM shop_order").await, 0);
    assert_eq!(
        claims(&pool).await,
        ["authorized"],
        "the approval is on the ledger"
    );
    let _server = shop.serve(None).await;
    eventually("the approval is voided", || async {
        claims(&pool).await == ["voided"]
    })
    .await;
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM shop_order").await, 0);
    assert_eq!(allocated(&pool, record).await, before, "no stock taken");
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM mail_outbox").await,
        0,
        "no confirmation queued"
    );
    assert_eq!(mails_mentioning(&shop.mail_dir(), "crash@example.com"), 0);
}

/// Killed after the commit, before the email was handed to the sender: after the restart, the
/// order stands with its payment, one unit allocated, and the confirmation goes out once.
async fn committed_order_keeps_payment_and_mails_once(backend: Backend) {
    let (shop, pool, record, before) = killed_at(backend, "order-committed").await;
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM shop_order").await, 1);
    let number: String = sqlx::query("SELECT number FROM shop_order")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    let _server = shop.serve(None).await;
    eventually("the confirmation is delivered", || async {
        mails_mentioning(&shop.mail_dir(), &number) >= 1
    })
    .await;
    // The recovery pass has run (it runs at start-up, before the first minute).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        claims(&pool).await,
        ["ordered"],
        "the order keeps its payment"
    );
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM shop_order").await, 1);
    assert_eq!(allocated(&pool, record).await, before + 1);
    assert_eq!(mails_mentioning(&shop.mail_dir(), &number), 1, "sent once");
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'"
        )
        .await,
        1
    );
}

/// The order page's form `form` key and the page's CSRF token.
fn capture_form(body: &str) -> (String, String) {
    let at = body.find("data-key=\"capture\"").expect("a capture form");
    let start = body[..at].rfind("value=\"").unwrap() + "value=\"".len();
    let key = body[start..].split('"').next().unwrap().to_owned();
    let token = body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    (key, token)
}

/// Killed after the gateway captured but before the shop recorded it: after the restart the
/// capture is still pending with its amount reserved, so the same form sent again (or another
/// capture) moves no money; staff settle it by hand and then it counts once.
async fn capture_answered_but_unrecorded_is_settled_once(backend: Backend) {
    let shop = Shop::new(backend).await;
    let pool = connect(&shop).await;
    let (product, _) = simple_product(&shop).await;
    let server = shop.serve(None).await;
    let guest = Browser::new(&server.base);
    add(&guest, product, 1).await;
    let preview = to_preview(&guest, Some("crash@example.com"), None, "test-card-gateway").await;
    assert_eq!(place(&guest, &preview, Some(GOOD_CARD)).await.status, 303);
    server.kill();
    let number: String = sqlx::query("SELECT number FROM shop_order")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    let authorised = scalar(&pool, "SELECT allocated_minor FROM payment_source").await;
    let order_page = format!("/dashboard/orders/{number}/");
    let sign_in = |base: String| async move {
        let staff = Browser::new(&base);
        let t = staff.get("/dashboard/login/").await.csrf_token().unwrap();
        let done = staff
            .post(
                "/dashboard/login/",
                &[
                    ("csrf_token", t.as_str()),
                    ("email", "admin@example.com"),
                    ("password", "demo-admin-password"),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        staff
    };

    let server = shop.serve(Some("money-answered")).await;
    let staff = sign_in(server.base.clone()).await;
    let (key, token) = capture_form(&staff.get(&order_page).await.body);
    let amount = format!("{}.{:02}", authorised / 100, authorised % 100);
    let form = vec![
        ("csrf_token".to_owned(), token),
        ("key".to_owned(), key),
        ("source".to_owned(), "1".to_owned()),
        ("amount".to_owned(), amount),
    ];
    let capture_url = format!("{order_page}capture/");
    let (first, url) = (form.clone(), capture_url.clone());
    let capturing = tokio::spawn(async move {
        let pairs: Vec<(&str, &str)> = first
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        staff.post(&url, &pairs).await
    });
    server.wait_for_line("crash point money-answered", Duration::from_secs(120));
    server.kill();
    capturing.abort();
    assert_eq!(
        scalar(&pool, "SELECT debited_minor FROM payment_source").await,
        0
    );
    assert_eq!(
        scalar(&pool, "SELECT capturing_minor FROM payment_source").await,
        authorised,
        "the capture is still reserved"
    );

    let server = shop.serve(None).await;
    let staff = sign_in(server.base.clone()).await;
    let page = staff.get(&order_page).await;
    assert!(page.body.contains(": with the gateway"), "{}", page.body);
    // The same form sent again moves nothing (its session is gone, so with a fresh token).
    let token = page.csrf_token().unwrap();
    let again: Vec<(&str, &str)> = form
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                if k == "csrf_token" {
                    token.as_str()
                } else {
                    v.as_str()
                },
            )
        })
        .collect();
    let resent = staff.post(&capture_url, &again).await;
    assert_eq!(resent.status, 422, "{}", resent.body);
    assert_eq!(
        scalar(&pool, "SELECT debited_minor FROM payment_source").await,
        0
    );
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM payment_operation").await,
        1
    );
    // Staff checked at the provider: the money moved.
    let operation = scalar(&pool, "SELECT id FROM payment_operation").await;
    let settled = staff
        .post(
            &format!("{order_page}payments/{operation}/resolve/"),
            &[("csrf_token", token.as_str()), ("outcome", "moved")],
        )
        .await;
    assert_eq!(settled.status, 303, "{}", settled.body);
    assert_eq!(
        scalar(&pool, "SELECT debited_minor FROM payment_source").await,
        authorised
    );
    assert_eq!(
        scalar(&pool, "SELECT capturing_minor FROM payment_source").await,
        0
    );
}

macro_rules! crash_tests {
    ($($name:ident: $body:expr;)*) => {
        $(mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(Backend::Postgres).await;
            }
        })*
    };
}

crash_tests! {
    killed_with_the_approval_recorded:
        |b| approval_without_order_is_voided(b, "payment-recorded");
    killed_with_the_order_uncommitted:
        |b| approval_without_order_is_voided(b, "order-written");
    killed_after_the_commit: committed_order_keeps_payment_and_mails_once;
    killed_after_the_gateway_captured: capture_answered_but_unrecorded_is_settled_once;
}
