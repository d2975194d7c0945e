//! The background sender: claims due outbox rows, delivers them through the transport, and
//! records the outcome (sent, or retried later with back-off, or failed for good).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{AnyPool, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;

use super::{MailError, OutgoingEmail, parse_mailbox};
use crate::infra::config::Config;

/// How the sender delivers and retries. [`MailSettings::from_config`] gives the production
/// values; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic]` or `smtps://…`; when
    /// `None`, each message is written as an `.eml` file into `file_dir`.
    pub smtp_url: Option<String>,
    /// The `From:` mailbox, e.g. `Emporium Demo <shop@localhost>`.
    pub from: String,
    pub file_dir: PathBuf,
    /// Attempts before a message is marked `failed`.
    pub max_attempts: u32,
    /// Delay after the first failure; doubled after each further one, up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How long a claimed message belongs to its sender; longer than one SMTP conversation.
    pub lease: Duration,
    /// Longest sleep between looks at the outbox (catches messages queued by other processes,
    /// or queued without a [`Mailer::wake`]).
    pub poll_interval: Duration,
    /// SMTP network timeout.
    pub smtp_timeout: Duration,
    /// Messages claimed per round.
    pub batch: u32,
}

impl MailSettings {
    pub fn from_config(config: &Config) -> MailSettings {
        MailSettings {
            smtp_url: config.smtp_url.clone(),
            from: config.mail_from.clone(),
            file_dir: config.mail_dir(),
            max_attempts: 10,
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(30),
            smtp_timeout: Duration::from_secs(30),
            batch: 20,
        }
    }

    /// Delay before the next try after `attempts` failed ones (1, 2, …).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        self.retry_base
            .checked_mul(factor)
            .unwrap_or(self.retry_cap)
            .min(self.retry_cap)
    }
}

enum Transport {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Why one delivery failed, and whether trying again could help.
struct SendFailure {
    message: String,
    permanent: bool,
}

impl Transport {
    async fn send(&self, message: Message) -> Result<(), SendFailure> {
        match self {
            Transport::Smtp(smtp) => {
                smtp.send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendFailure {
                        permanent: e.is_permanent(),
                        message: e.to_string(),
                    })
            }
            Transport::File(file) => {
                file.send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendFailure {
                        permanent: false,
                        message: e.to_string(),
                    })
            }
        }
    }
}

struct Inner {
    pool: AnyPool,
    transport: Transport,
    from: Mailbox,
    settings: MailSettings,
    notify: Notify,
    /// Written into `claimed_by`: which sender owns a claimed row.
    instance: String,
}

/// The handle on the outbox sender. Cheap to clone; every clone wakes the same task.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("instance", &self.inner.instance)
            .field(
                "transport",
                &match self.inner.transport {
                    Transport::Smtp(_) => "smtp",
                    Transport::File(_) => "file",
                },
            )
            .finish()
    }
}

/// Builds the mailer and starts its background task at once.
pub fn spawn_sender(pool: AnyPool, settings: MailSettings) -> Result<Mailer, MailError> {
    let mailer = Mailer::new(pool, settings)?;
    mailer.spawn();
    Ok(mailer)
}

impl Mailer {
    /// Checks the settings and opens the transport (no connection is made yet). The sender
    /// does not run until [`Mailer::spawn`].
    pub fn new(pool: AnyPool, settings: MailSettings) -> Result<Mailer, MailError> {
        let from = settings.from.parse::<Mailbox>().map_err(|_| {
            MailError::Config(format!("mail_from {:?} is not a mailbox", settings.from))
        })?;
        let transport = match &settings.smtp_url {
            Some(url) => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
                    MailError::Config(format!("smtp_url {}: {e}", crate::infra::redact(url)))
                })?;
                Transport::Smtp(Box::new(
                    builder.timeout(Some(settings.smtp_timeout)).build(),
                ))
            }
            None => {
                std::fs::create_dir_all(&settings.file_dir).map_err(|e| {
                    MailError::Config(format!(
                        "cannot create the mail folder {}: {e}",
                        settings.file_dir.display()
                    ))
                })?;
                Transport::File(AsyncFileTransport::new(&settings.file_dir))
            }
        };
        let mut id = [0u8; 6];
        getrandom::fill(&mut id).map_err(|e| MailError::Config(e.to_string()))?;
        Ok(Mailer {
            inner: Arc::new(Inner {
                pool,
                transport,
                from,
                settings,
                notify: Notify::new(),
                instance: format!("{}-{}", std::process::id(), hex::encode(id)),
            }),
        })
    }

    pub fn settings(&self) -> &MailSettings {
        &self.inner.settings
    }

    /// Asks the background task to look at the outbox now (after committing an
    /// [`enqueue`](super::enqueue)). Never blocks; a wake while it is busy is not lost.
    pub fn wake(&self) {
        self.inner.notify.notify_one();
    }

    /// Queues on the pool (its own transaction) and wakes the sender.
    pub async fn enqueue(
        &self,
        email: &OutgoingEmail,
        dedupe_key: Option<&str>,
    ) -> Result<Option<i64>, MailError> {
        let mut conn = self.inner.pool.acquire().await?;
        let id = super::enqueue(&mut conn, email, dedupe_key).await?;
        self.wake();
        Ok(id)
    }

    /// Starts the background task. It runs until aborted (or the runtime stops); a message it
    /// was sending when stopped is retried by any sender once its lease ends.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let mailer = self.clone();
        tokio::spawn(async move { mailer.run().await })
    }

    async fn run(&self) {
        let settings = &self.inner.settings;
        loop {
            if let Err(e) = self.deliver_due().await {
                tracing::warn!(error = %e, "mail outbox round failed");
            }
            let pause = match self.next_due_in().await {
                Ok(Some(d)) => d.clamp(Duration::from_millis(100), settings.poll_interval),
                Ok(None) => settings.poll_interval,
                Err(e) => {
                    tracing::warn!(error = %e, "mail outbox: cannot read the next due time");
                    settings.poll_interval.min(Duration::from_secs(5))
                }
            };
            tokio::select! {
                _ = self.inner.notify.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// How long until the earliest pending message may be tried (zero if one is due now).
    async fn next_due_in(&self) -> Result<Option<Duration>, MailError> {
        let earliest: Option<String> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > next_attempt_at \
                        THEN claimed_until ELSE next_attempt_at END) \
             FROM mail_outbox WHERE status = 'pending'",
        )
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(
            earliest.map(|at| match OffsetDateTime::parse(&at, &Rfc3339) {
                Ok(at) => {
                    let wait = at - OffsetDateTime::now_utc();
                    // Stamps are whole seconds: wait just past the second that makes it due.
                    Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(50)
                }
                Err(_) => Duration::ZERO,
            }),
        )
    }

    /// One round: claims every due message (up to `batch`) and tries to deliver each.
    /// Returns how many were delivered. Safe to run beside other senders on the same database.
    pub async fn deliver_due(&self) -> Result<usize, MailError> {
        let inner = &self.inner;
        let now = stamp(OffsetDateTime::now_utc());
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until <= $1) \
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(&now)
        .bind(i64::from(inner.settings.batch))
        .fetch_all(&inner.pool)
        .await?;
        let mut delivered = 0;
        for id in ids {
            if self.claim(id).await? && self.deliver(id).await? {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// Takes the row for this sender, unless another sender holds it or it is no longer due.
    async fn claim(&self, id: i64) -> Result<bool, MailError> {
        let inner = &self.inner;
        let now = OffsetDateTime::now_utc();
        let result = sqlx::query(
            "UPDATE mail_outbox SET claimed_until = $1, claimed_by = $2 \
             WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4 \
             AND (claimed_until IS NULL OR claimed_until <= $4)",
        )
        .bind(stamp(now + inner.settings.lease))
        .bind(&inner.instance)
        .bind(id)
        .bind(stamp(now))
        .execute(&inner.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Sends one claimed message and records the outcome. `Ok(true)` when it went out.
    async fn deliver(&self, id: i64) -> Result<bool, MailError> {
        let inner = &self.inner;
        let row = sqlx::query(
            "SELECT recipient, subject, body_text, body_html, attempts, created_at \
             FROM mail_outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&inner.pool)
        .await?;
        let recipient: String = row.try_get("recipient")?;
        let attempts = u32::try_from(row.try_get::<i64, _>("attempts")?)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let email = OutgoingEmail {
            to: recipient.clone(),
            subject: row.try_get("subject")?,
            text: row.try_get("body_text")?,
            html: row.try_get("body_html")?,
        };
        let created_at: String = row.try_get("created_at")?;
        let outcome = match self.message(id, &created_at, &email) {
            Ok(message) => inner.transport.send(message).await,
            Err(e) => Err(SendFailure {
                message: e.to_string(),
                permanent: true,
            }),
        };
        match outcome {
            Ok(()) => {
                // The body goes once it is delivered: an order confirmation carries a guest's
                // order link, which the shop otherwise never stores. The log keeps who, what
                // (the subject) and when; a message in an account's history without a secret
                // in it keeps its text for the customer to read again.
                sqlx::query(
                    "UPDATE mail_outbox SET status = 'sent', sent_at = $1, attempts = $2, \
                     last_error = NULL, claimed_until = NULL, \
                     body_text = CASE WHEN keep_body AND customer_id IS NOT NULL \
                                 THEN body_text ELSE '' END, body_html = NULL \
                     WHERE id = $3 AND claimed_by = $4",
                )
                .bind(stamp(OffsetDateTime::now_utc()))
                .bind(i64::from(attempts))
                .bind(id)
                .bind(&inner.instance)
                .execute(&inner.pool)
                .await?;
                tracing::info!(id, to = %recipient, subject = %email.subject, attempts, "mail sent");
                Ok(true)
            }
            Err(failure) => {
                let give_up = failure.permanent || attempts >= inner.settings.max_attempts;
                let next = OffsetDateTime::now_utc() + inner.settings.backoff(attempts);
                // Given up: the body (and any secret link in it) goes too; a resend renders
                // the message afresh.
                sqlx::query(
                    "UPDATE mail_outbox SET status = $1, attempts = $2, last_error = $3, \
                     next_attempt_at = $4, claimed_until = NULL, \
                     body_text = CASE WHEN $1 = 'failed' AND NOT (keep_body AND \
                                 customer_id IS NOT NULL) THEN '' ELSE body_text END, \
                     body_html = CASE WHEN $1 = 'failed' THEN NULL ELSE body_html END \
                     WHERE id = $5 AND claimed_by = $6",
                )
                .bind(if give_up { "failed" } else { "pending" })
                .bind(i64::from(attempts))
                .bind(truncate(&failure.message, 2000))
                .bind(stamp(next))
                .bind(id)
                .bind(&inner.instance)
                .execute(&inner.pool)
                .await?;
                if give_up {
                    tracing::error!(id, to = %recipient, attempts, error = %failure.message,
                        "mail not delivered; giving up");
                } else {
                    tracing::warn!(id, to = %recipient, attempts, error = %failure.message,
                        retry_at = %stamp(next), "mail not delivered; will retry");
                }
                Ok(false)
            }
        }
    }

    /// The MIME message for an outbox row. Its `Message-ID` is derived from the row, so a
    /// message retried after a lost reply carries the same id (receivers can drop the copy).
    fn message(
        &self,
        id: i64,
        created_at: &str,
        email: &OutgoingEmail,
    ) -> Result<Message, MailError> {
        let domain = self.inner.from.email.domain().to_owned();
        let stamp: String = created_at.chars().filter(char::is_ascii_digit).collect();
        let builder = Message::builder()
            .from(self.inner.from.clone())
            .to(parse_mailbox(&email.to)?)
            .subject(email.subject.clone())
            .message_id(Some(format!("<outbox.{id}.{stamp}@{domain}>")));
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        };
        message.map_err(|e| MailError::Build(e.to_string()))
    }
}

/// A timestamp as stored: RFC 3339 UTC, whole seconds (sorts as text, like `now_text`).
fn stamp(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut s = MailSettings::from_config(&Config::default());
        s.retry_base = Duration::from_secs(30);
        s.retry_cap = Duration::from_secs(3600);
        let delays: Vec<u64> = (1..=9).map(|a| s.backoff(a).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(s.backoff(u32::MAX).as_secs(), 3600);
    }

    #[test]
    fn stamps_sort_like_now_text() {
        let t = stamp(OffsetDateTime::now_utc());
        assert_eq!(t.len(), crate::infra::db::now_text().len(), "{t}");
        let later = stamp(OffsetDateTime::now_utc() + Duration::from_secs(90));
        assert!(later > t);
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 10), "hi");
    }
}
