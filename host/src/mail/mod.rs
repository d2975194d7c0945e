//! Outgoing email through a transactional outbox.
//!
//! A domain write that must send a message (an order's confirmation) queues it with [`enqueue`]
//! on the *same* connection/transaction as the write, so a rolled-back order sends nothing and a
//! committed one is never forgotten. The [`Mailer`]'s background task (started by
//! `app::serve`) then delivers due messages, never in the request path: over SMTP with lettre
//! when `smtp_url` is set, else as `.eml` files in `<data_dir>/mail/` (the development default).
//! A failed delivery is retried with capped exponential back-off and given up (`failed`, logged)
//! after `max_attempts`. Several host processes may share the database: a sender claims a row
//! with one conditional `UPDATE` (a lease in `claimed_until`) before it sends it, so each message
//! goes out once.
//!
//! A message about an account is queued with [`enqueue_for`] and a [`History`] naming the
//! account, so the customer finds it in their email history; one without a secret link keeps
//! its text there after delivery. Messages are rendered with [`render_in`], which uses staff
//! edits of the theme's email templates (`email_template_override`) before the theme's files.
//!
//! ```ignore
//! let mut tx = state.db.begin_write().await?;
//! // … write the order …
//! let body = mail::render_in(&mut tx, &state.templates, "order_confirmation", ctx).await?;
//! mail::enqueue(&mut tx, &body.to(&email), Some(&format!("order-confirmation:{number}"))).await?;
//! tx.commit().await?;
//! state.mailer.wake(); // deliver now rather than at the next poll
//! ```

mod sender;

use std::collections::HashMap;

pub use sender::{MailSettings, Mailer, spawn_sender};

use lettre::message::Mailbox;
use minijinja::Value;
use sqlx::AnyConnection;

use crate::infra::db::now_text;
use crate::themes::Templates;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("bad email address {0:?}")]
    BadAddress(String),
    #[error("bad email template name {0:?}")]
    BadTemplateName(String),
    #[error("email template {0} is missing from the theme")]
    MissingTemplate(String),
    #[error("email template: {0:#}")]
    Template(#[from] minijinja::Error),
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("sending: {0}")]
    Transport(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A message's content, rendered from the theme: subject, text part and (optional) HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmailBody {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl OutgoingEmailBody {
    /// The same content addressed to `recipient` (`a@b.c` or `Name <a@b.c>`).
    pub fn to(self, recipient: impl Into<String>) -> OutgoingEmail {
        OutgoingEmail {
            to: recipient.into(),
            subject: self.subject,
            text: self.text,
            html: self.html,
        }
    }
}

/// One message to queue. The sender is the configured `mail_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// `a@b.c` or `Name <a@b.c>`.
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Sent as `multipart/alternative` with the text part when present.
    pub html: Option<String>,
}

/// Parses a recipient the way the sender will, so a bad address fails at enqueue time.
pub fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|_| MailError::BadAddress(address.to_owned()))
}

/// Queues `email` on `conn`, which may be (and for domain writes should be) the caller's open
/// transaction: nothing is sent unless that transaction commits. With a `dedupe_key`, a second
/// message with the same key is not queued: `Ok(None)` is returned instead of the new row's id.
/// Call [`Mailer::wake`] after the commit to have it sent at once.
pub async fn enqueue(
    conn: &mut AnyConnection,
    email: &OutgoingEmail,
    dedupe_key: Option<&str>,
) -> Result<Option<i64>, MailError> {
    enqueue_for(conn, email, dedupe_key, None).await
}

/// Which account's email history a message belongs to. Set by the code that sends a message
/// about an account (it knows the account by id), never worked out from the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub customer_id: i64,
    /// Whether the text body stays after delivery for the customer to read again; false for
    /// a message carrying a secret link (a password reset, an email change), whose body goes
    /// once it is delivered like any other.
    pub keep_body: bool,
}

/// [`enqueue`], with the message in `history`'s account (when given).
pub async fn enqueue_for(
    conn: &mut AnyConnection,
    email: &OutgoingEmail,
    dedupe_key: Option<&str>,
    history: Option<History>,
) -> Result<Option<i64>, MailError> {
    parse_mailbox(&email.to)?;
    let subject = one_line(&email.subject);
    let now = now_text();
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO mail_outbox \
         (recipient, subject, body_text, body_html, dedupe_key, status, attempts, \
          next_attempt_at, created_at, customer_id, keep_body) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $7, $8) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(email.to.trim())
    .bind(subject)
    .bind(&email.text)
    .bind(email.html.as_deref())
    .bind(dedupe_key)
    .bind(&now)
    .bind(history.map(|h| h.customer_id))
    .bind(history.is_some_and(|h| h.keep_body))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// The files of a message a staff override may replace, in the order they are shown.
pub const TEMPLATE_FILES: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

/// The staff overrides of message `name`: file (`subject.txt`, …) → template source.
pub async fn overrides(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT file, source FROM email_template_override WHERE template = $1")
            .bind(name)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Renders message `name` with the staff overrides read on `conn` (the caller's transaction),
/// each used before the theme's file. Read at every message, so an edit made by any process
/// is in the next message rendered anywhere. An override that fails to render (it was checked
/// against sample data when saved, but real data can differ) is logged and the theme's own
/// files are used instead: the message still goes.
pub async fn render_in(
    conn: &mut AnyConnection,
    templates: &Templates,
    name: &str,
    ctx: Value,
) -> Result<OutgoingEmailBody, MailError> {
    check_name(name)?;
    let overrides = overrides(conn, name).await?;
    if overrides.is_empty() {
        return render(templates, name, ctx);
    }
    match render_with(templates, name, ctx.clone(), &overrides) {
        Ok(body) => Ok(body),
        Err(e) => {
            tracing::error!(error = %e, template = name,
                "the staff edit of this email failed; sending the theme's version");
            render(templates, name, ctx)
        }
    }
}

fn check_name(name: &str) -> Result<(), MailError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(MailError::BadTemplateName(name.to_owned()));
    }
    Ok(())
}

/// Renders `email/<name>/subject.txt`, `email/<name>/body.txt` and (if the theme chain has it)
/// `email/<name>/body.html`, each resolved through the theme chain like any page template
/// (`.html` is auto-escaped, `.txt` is not). The subject is folded onto one line. Staff
/// overrides are not read here: see [`render_in`].
pub fn render(
    templates: &Templates,
    name: &str,
    ctx: Value,
) -> Result<OutgoingEmailBody, MailError> {
    render_with(templates, name, ctx, &HashMap::new())
}

/// [`render`], with `overrides` (file → source) used before the theme's files.
pub fn render_with(
    templates: &Templates,
    name: &str,
    ctx: Value,
    overrides: &HashMap<String, String>,
) -> Result<OutgoingEmailBody, MailError> {
    check_name(name)?;
    let path = |file: &str| format!("email/{name}/{file}");
    let in_theme = |file: &str| {
        templates
            .chain()
            .find(&format!("templates/{}", path(file)))
            .is_some()
    };
    let part = |file: &str| -> Result<String, MailError> {
        Ok(match overrides.get(file) {
            Some(source) => templates.render_source(&path(file), source, &ctx)?,
            None => templates.render(&path(file), &ctx)?,
        })
    };
    let required = |file: &str| -> Result<String, MailError> {
        if !in_theme(file) {
            return Err(MailError::MissingTemplate(path(file)));
        }
        part(file)
    };
    let subject = one_line(&required("subject.txt")?);
    let text = required("body.txt")?;
    let html = if in_theme("body.html") {
        Some(part("body.html")?)
    } else {
        None
    };
    Ok(OutgoingEmailBody {
        subject,
        text,
        html,
    })
}

/// A header value on one line: line breaks and runs of white space become one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theme_root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("themes")
    }

    #[test]
    fn renders_the_test_message_from_the_default_theme() {
        let templates = Templates::load(&theme_root(), "default", vec![], false).unwrap();
        let body = render(
            &templates,
            "test",
            minijinja::context! { shop_name => "Corner <Shop>", recipient => "ann@example.com" },
        )
        .unwrap();
        assert_eq!(body.subject, "Test message from Corner <Shop>");
        assert!(body.text.contains("Corner <Shop>"), "{}", body.text);
        let html = body.html.unwrap();
        assert!(html.contains("Corner &lt;Shop&gt;"), "{html}");
        assert!(!html.contains("Corner <Shop>"), "{html}");
    }

    #[test]
    fn template_names_cannot_leave_the_email_folder() {
        let templates = Templates::load(&theme_root(), "default", vec![], false).unwrap();
        for name in ["../base", "", "a/b", "x.y"] {
            assert!(matches!(
                render(&templates, name, Value::UNDEFINED),
                Err(MailError::BadTemplateName(_))
            ));
        }
        assert!(matches!(
            render(&templates, "no_such_message", Value::UNDEFINED),
            Err(MailError::MissingTemplate(_))
        ));
    }

    #[test]
    fn html_part_is_optional_and_subject_is_one_line() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("default");
        std::fs::create_dir_all(dir.join("templates/email/plain")).unwrap();
        std::fs::write(dir.join("theme.toml"), "name = \"default\"\n").unwrap();
        std::fs::write(dir.join("templates/base.html"), "").unwrap();
        std::fs::write(dir.join("templates/error.html"), "").unwrap();
        std::fs::write(
            dir.join("templates/email/plain/subject.txt"),
            "Hello\r\nBcc: evil@example.com\n",
        )
        .unwrap();
        std::fs::write(dir.join("templates/email/plain/body.txt"), "Hi {{ who }}").unwrap();
        let templates = Templates::load(root.path(), "default", vec![], false).unwrap();
        let body = render(&templates, "plain", minijinja::context! { who => "you" }).unwrap();
        assert_eq!(body.subject, "Hello Bcc: evil@example.com");
        assert_eq!(body.text, "Hi you");
        assert_eq!(body.html, None);
    }

    #[test]
    fn addresses_are_checked() {
        assert!(parse_mailbox("Ann <ann@example.com>").is_ok());
        assert!(parse_mailbox("ann@example.com").is_ok());
        assert!(parse_mailbox("not an address").is_err());
        assert!(parse_mailbox("a@b.c\r\nBcc: x@y.z").is_err());
    }
}
