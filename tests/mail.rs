//! Outgoing mail end to end: the outbox in SQLite and PostgreSQL, the background sender, and a
//! real SMTP server (aiosmtpd) on loopback reading what arrived.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use emporium::infra::db::Db;
use emporium::mail::{self, MailError, MailSettings, Mailer, OutgoingEmail};
use support::smtp::{SmtpServer, files_in, parse_messages};
use support::{Backend, Options, TestApp};

/// A migrated database of the given kind, and the folder that holds it (SQLite) or nothing.
async fn database(backend: Backend) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("mail.db").display()),
        Backend::Postgres => support::fresh_postgres_database().await,
    };
    (url, dir)
}

async fn connect(url: &str) -> Db {
    Db::connect(url, 4).await.expect("database")
}

/// Short delays so retries happen within a test.
fn settings(smtp_url: Option<String>, dir: &Path) -> MailSettings {
    let mut s = MailSettings::from_config(&emporium::infra::config::Config::default());
    s.smtp_url = smtp_url;
    s.file_dir = dir.join("mail");
    s.retry_base = Duration::from_secs(1);
    s.retry_cap = Duration::from_secs(2);
    s.poll_interval = Duration::from_millis(200);
    s.smtp_timeout = Duration::from_secs(5);
    s
}

fn email(to: &str, subject: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.into(),
        subject: subject.into(),
        text: format!("Plain text for {subject}\nSecond line with £ and é."),
        html: Some(format!(
            "<p>HTML for <strong>{subject}</strong> with £ and é</p>"
        )),
    }
}

async fn scalar(db: &Db, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

async fn text(db: &Db, sql: &'static str) -> Option<String> {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

/// Runs a test body once per database backend.
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(Backend::Postgres).await;
            }
        }
    };
}

on_both!(
    rolled_back_mail_is_not_sent_committed_mail_is,
    |backend| async move {
        let smtp = SmtpServer::start();
        let (url, dir) = database(backend).await;
        let db = connect(&url).await;
        let mailer =
            mail::spawn_sender(db.pool.clone(), settings(Some(smtp.url()), dir.path())).unwrap();

        let mut tx = db.begin_write().await.unwrap();
        let id = mail::enqueue(&mut tx, &email("ann@example.com", "Rolled back"), None)
            .await
            .unwrap();
        assert!(id.is_some());
        tx.rollback().await.unwrap();
        mailer.wake();

        let mut tx = db.begin_write().await.unwrap();
        mail::enqueue(
            &mut tx,
            &email("Bob Builder <bob@example.com>", "Your order 1001"),
            None,
        )
        .await
        .unwrap()
        .unwrap();
        tx.commit().await.unwrap();
        mailer.wake();

        let got = smtp.wait_for(1, Duration::from_secs(30)).await;
        // Give a wrongly queued second message time to show up.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got_now = smtp.messages();
        assert_eq!(got_now.len(), 1, "{got_now:#?}");
        let m = &got[0];
        assert_eq!(m.subject, "Your order 1001");
        assert_eq!(m.to, "Bob Builder <bob@example.com>");
        assert_eq!(m.from, "Emporium Demo <shop@localhost>");
        assert!(m.rcpt_to.contains("bob@example.com"), "{m:?}");
        assert_eq!(m.content_type, "multipart/alternative");
        assert!(m.message_id.starts_with("<outbox."), "{m:?}");
        let plain = m.text.as_deref().unwrap();
        assert!(plain.contains("Plain text for Your order 1001"), "{plain}");
        assert!(plain.contains("£ and é"), "{plain}");
        let html = m.html.as_deref().unwrap();
        assert!(
            html.contains("<strong>Your order 1001</strong> with £ and é"),
            "{html}"
        );

        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM mail_outbox").await, 1);
        assert_eq!(text_of(&db, "SELECT status FROM mail_outbox").await, "sent");
        assert_eq!(scalar(&db, "SELECT attempts FROM mail_outbox").await, 1);
        assert!(text(&db, "SELECT sent_at FROM mail_outbox").await.is_some());
    }
);

async fn text_of(db: &Db, sql: &'static str) -> String {
    text(db, sql).await.unwrap_or_default()
}

on_both!(a_dedupe_key_queues_one_message, |backend| async move {
    let smtp = SmtpServer::start();
    let (url, dir) = database(backend).await;
    let db = connect(&url).await;
    // Not spawned: this test drives the sender by hand.
    let mailer = Mailer::new(db.pool.clone(), settings(Some(smtp.url()), dir.path())).unwrap();

    let key = Some("order-confirmation:1001");
    let first = mailer
        .enqueue(&email("ann@example.com", "Order 1001"), key)
        .await
        .unwrap();
    assert!(first.is_some());
    // The same key again, inside a transaction that goes on to commit: not queued, no error,
    // and the transaction is still usable (PostgreSQL aborts a transaction on a unique error).
    let mut tx = db.begin_write().await.unwrap();
    let again = mail::enqueue(
        &mut tx,
        &email("ann@example.com", "Order 1001 (again)"),
        key,
    )
    .await
    .unwrap();
    assert_eq!(again, None);
    let other = mail::enqueue(
        &mut tx,
        &email("ann@example.com", "Order 1002"),
        Some("order-confirmation:1002"),
    )
    .await
    .unwrap();
    assert!(other.is_some());
    tx.commit().await.unwrap();

    assert_eq!(mailer.deliver_due().await.unwrap(), 2);
    assert_eq!(mailer.deliver_due().await.unwrap(), 0);
    let got = smtp.wait_for(2, Duration::from_secs(20)).await;
    let mut subjects: Vec<_> = got.iter().map(|m| m.subject.clone()).collect();
    subjects.sort();
    assert_eq!(subjects, ["Order 1001", "Order 1002"]);
    // Sent already: the key still stops a third copy.
    assert_eq!(
        mailer
            .enqueue(&email("ann@example.com", "Order 1001"), key)
            .await
            .unwrap(),
        None
    );
});

on_both!(
    smtp_down_keeps_mail_pending_and_delivers_it_once_when_back,
    |backend| async move {
        let mut smtp = SmtpServer::start();
        smtp.stop();
        let (url, dir) = database(backend).await;
        let db = connect(&url).await;
        let mailer =
            mail::spawn_sender(db.pool.clone(), settings(Some(smtp.url()), dir.path())).unwrap();
        let mut tx = db.begin_write().await.unwrap();
        mail::enqueue(&mut tx, &email("ann@example.com", "While down"), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        mailer.wake();

        // Two failed attempts (the second after a back-off), still pending, error recorded.
        let deadline = Instant::now() + Duration::from_secs(30);
        while scalar(&db, "SELECT attempts FROM mail_outbox").await < 2 {
            assert!(Instant::now() < deadline, "no retries while SMTP is down");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            text_of(&db, "SELECT status FROM mail_outbox").await,
            "pending"
        );
        assert!(
            !text_of(&db, "SELECT last_error FROM mail_outbox")
                .await
                .is_empty()
        );
        assert!(text(&db, "SELECT sent_at FROM mail_outbox").await.is_none());

        smtp.restart();
        let got = smtp.wait_for(1, Duration::from_secs(30)).await;
        assert_eq!(got[0].subject, "While down");
        let deadline = Instant::now() + Duration::from_secs(10);
        while text_of(&db, "SELECT status FROM mail_outbox").await != "sent" {
            assert!(Instant::now() < deadline, "delivered but not marked sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(smtp.messages().len(), 1, "delivered exactly once");
        assert!(scalar(&db, "SELECT attempts FROM mail_outbox").await >= 3);
        assert!(
            text(&db, "SELECT last_error FROM mail_outbox")
                .await
                .is_none()
        );
    }
);

on_both!(
    two_senders_on_one_database_send_each_message_once,
    |backend| async move {
        let smtp = SmtpServer::start();
        let (url, dir) = database(backend).await;
        // Two pools: as two host processes sharing the database.
        let db_a = connect(&url).await;
        let db_b = connect(&url).await;
        const N: usize = 30;
        for i in 0..N {
            let mut tx = db_a.begin_write().await.unwrap();
            mail::enqueue(
                &mut tx,
                &email("ann@example.com", &format!("Message {i:02}")),
                None,
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        let mut s = settings(Some(smtp.url()), dir.path());
        s.batch = 5;
        let a = mail::spawn_sender(db_a.pool.clone(), s.clone()).unwrap();
        let b = mail::spawn_sender(db_b.pool.clone(), s).unwrap();
        a.wake();
        b.wake();
        smtp.wait_for(N, Duration::from_secs(60)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while scalar(
            &db_a,
            "SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'",
        )
        .await
            < N as i64
        {
            assert!(Instant::now() < deadline, "not all marked sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let got = smtp.messages();
        let mut subjects: Vec<_> = got.iter().map(|m| m.subject.clone()).collect();
        subjects.sort();
        subjects.dedup();
        assert_eq!(got.len(), N, "each message once");
        assert_eq!(subjects.len(), N);
        assert_eq!(
            scalar(&db_a, "SELECT MAX(attempts) FROM mail_outbox").await,
            1
        );
        // Both senders took part (each claimed rows in its own name): otherwise "each message
        // once" would hold trivially. Neither can drain the queue alone before the other's
        // first round: a round takes at most `batch` (5) of the 30 messages and a sender waits
        // at least 100 ms between rounds.
        let senders = scalar(&db_a, "SELECT COUNT(DISTINCT claimed_by) FROM mail_outbox").await;
        assert_eq!(senders, 2, "both senders delivered a share of the outbox");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_written_as_eml_files() {
    let (url, dir) = database(Backend::Sqlite).await;
    let db = connect(&url).await;
    let s = settings(None, dir.path());
    let mail_dir = s.file_dir.clone();
    let mailer = Mailer::new(db.pool.clone(), s).unwrap();
    let templates = emporium::themes::Templates::load(
        &support::repo_root().join("themes"),
        "default",
        vec![],
        false,
    )
    .unwrap();
    let body = mail::render(
        &templates,
        "test",
        minijinja::context! { shop_name => "Corner <Shop>", recipient => "Ann" },
    )
    .unwrap();
    mailer
        .enqueue(&body.to("Ann <ann@example.com>"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mailer.deliver_due().await.unwrap(), 1);

    let files = files_in(&mail_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let m = &parse_messages(&files)[0];
    assert_eq!(m.to, "Ann <ann@example.com>");
    assert_eq!(m.subject, "Test message from Corner <Shop>");
    assert_eq!(m.content_type, "multipart/alternative");
    assert!(m.text.as_deref().unwrap().contains("Hello Ann,"));
    let html = m.html.as_deref().unwrap();
    assert!(
        html.contains("<strong>Corner &lt;Shop&gt;</strong>"),
        "{html}"
    );
    assert_eq!(text_of(&db, "SELECT status FROM mail_outbox").await, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_max_attempts() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (url, dir) = database(Backend::Sqlite).await;
    let db = connect(&url).await;
    let mut s = settings(Some(format!("smtp://127.0.0.1:{port}")), dir.path());
    s.max_attempts = 2;
    let mailer = Mailer::new(db.pool.clone(), s).unwrap();
    mailer
        .enqueue(&email("ann@example.com", "Never"), None)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while text_of(&db, "SELECT status FROM mail_outbox").await == "pending" {
        assert!(Instant::now() < deadline, "never gave up");
        assert_eq!(mailer.deliver_due().await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        text_of(&db, "SELECT status FROM mail_outbox").await,
        "failed"
    );
    assert_eq!(scalar(&db, "SELECT attempts FROM mail_outbox").await, 2);
    assert!(
        !text_of(&db, "SELECT last_error FROM mail_outbox")
            .await
            .is_empty()
    );
    // A failed message is not picked up again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(mailer.deliver_due().await.unwrap(), 0);
    assert_eq!(scalar(&db, "SELECT attempts FROM mail_outbox").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_address_is_refused_at_enqueue() {
    let (url, _dir) = database(Backend::Sqlite).await;
    let db = connect(&url).await;
    let mut conn = db.pool.acquire().await.unwrap();
    for to in [
        "not an address",
        "ann@example.com\r\nBcc: eve@example.com",
        "",
    ] {
        let err = mail::enqueue(&mut conn, &email(to, "Hi"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::BadAddress(_)), "{to:?}: {err}");
    }
    drop(conn);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM mail_outbox").await, 0);
}

/// The application wires it: `app::serve` runs the sender, `state.mailer` wakes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_app_delivers_queued_mail() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let smtp = SmtpServer::start();
        let app = TestApp::start_with(
            backend,
            Options {
                smtp_url: Some(smtp.url()),
                ..Options::default()
            },
        )
        .await;
        let state = &app.state;
        let mut tx = state.db.begin_write().await.unwrap();
        mail::enqueue(
            &mut tx,
            &email("ann@example.com", "From the app"),
            Some("k1"),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        state.mailer.wake();
        let got = smtp.wait_for(1, Duration::from_secs(30)).await;
        assert_eq!(got[0].subject, "From the app", "{backend:?}");
    }
}
