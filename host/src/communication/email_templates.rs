//! Staff edits of the customer emails: every message the shop sends a customer, its theme
//! files (`email/<name>/subject.txt`, `body.txt`, `body.html`), a preview rendered with
//! realistic sample data, and overrides kept in the database (`email_template_override`),
//! which `mail::render_in` uses before the theme's files wherever a message is rendered. An
//! edit is checked first, strictly, against the message's sample data: a syntax error or a
//! variable the message does not have is refused with the problem and nothing is kept. Saving
//! and resetting are recorded in the audit log with the overrides before and after.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::audit::{self, Actor};
use crate::infra::db::{Db, now_text};
use crate::mail::{self, OutgoingEmailBody, TEMPLATE_FILES};
use crate::money::{Currency, Money};
use crate::themes::Templates;

/// Longest template source kept, per file.
pub const MAX_SOURCE_CHARS: usize = 20_000;

/// Every email the shop sends a customer: name (the folder under `email/`), title, and when
/// it goes.
pub const EMAILS: &[(&str, &str, &str)] = &[
    (
        "account_welcome",
        "Welcome",
        "After registering a new account.",
    ),
    (
        "account_exists",
        "Already registered",
        "When someone registers with an address that already has an account.",
    ),
    (
        "password_reset",
        "Password reset link",
        "When a customer (or staff) asks for a password reset link.",
    ),
    (
        "password_changed",
        "Password changed",
        "After the password was changed, from the account page or with a reset link.",
    ),
    (
        "email_change_confirm",
        "Confirm a new email address",
        "To the new address, when a customer asks to change theirs.",
    ),
    (
        "email_change_taken",
        "Email address already in use",
        "To an address that already has an account, when another account asks for it.",
    ),
    (
        "email_changed",
        "Email address changed",
        "To the old address, once the account moved to its new one.",
    ),
    (
        "account_deleted",
        "Account deleted",
        "After a customer deleted their account.",
    ),
    (
        "order_confirmation",
        "Order placed",
        "When an order is placed.",
    ),
    (
        "order_shipped",
        "Order shipped",
        "When staff ship some or all of an order's lines.",
    ),
    (
        "product_alert",
        "Back in stock",
        "When a product with a stock alert can be bought again.",
    ),
    (
        "product_alert_confirm",
        "Confirm a stock alert",
        "To a guest who asked for a stock alert, to confirm their address.",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateEditError {
    #[error("no such email")]
    NotFound,
    #[error("the edit has problems")]
    Invalid(BTreeMap<String, String>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Mail(#[from] mail::MailError),
}

/// What the sample data of a preview is made of: the shop's own name, address and currency.
pub struct Shop<'a> {
    pub templates: &'a Templates,
    pub shop_name: &'a str,
    /// `scheme://host`, no trailing `/`.
    pub site_url: &'a str,
    pub currency: Currency,
}

/// Realistic data for message `name`: every variable the message's sender passes, so a
/// strict render finds any variable that would be empty in a real message.
pub fn sample(shop: &Shop<'_>, name: &str) -> Option<minijinja::Value> {
    let site = shop.site_url;
    let shop_name = shop.shop_name;
    let email = "ada@example.com";
    let money = |minor: i64| Money::from_minor(minor, shop.currency);
    let address = vec![
        "Ada Lovelace".to_owned(),
        "12 St James's Square".to_owned(),
        "London SW1Y 4JH".to_owned(),
        "United Kingdom".to_owned(),
    ];
    let token = "3f9a1c0e7b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a";
    Some(match name {
        "account_welcome" | "account_exists" | "account_deleted" | "email_change_taken" => {
            minijinja::context! { shop_name, email }
        }
        "password_reset" => minijinja::context! {
            shop_name, email,
            link => format!("{site}/accounts/reset/{token}/"),
            minutes => 60,
        },
        "password_changed" => minijinja::context! { shop_name, email, by_link => false },
        "email_change_confirm" => minijinja::context! {
            shop_name,
            email => "ada.new@example.com",
            old_email => email,
            link => format!("{site}/accounts/email/confirm/{token}/"),
            hours => 24,
        },
        "email_changed" => minijinja::context! {
            shop_name, email, new_email => "ada.new@example.com",
        },
        "order_confirmation" => minijinja::context! {
            shop_name,
            status_link => format!("{site}/accounts/orders/100042/"),
            order => minijinja::context! {
                number => "100042",
                lines => vec![
                    minijinja::context! {
                        title => "The Analytical Engine, hardback", quantity => 1,
                        options => vec![minijinja::context! { name => "Gift wrap", value => "Yes" }],
                        line_total => money(2499),
                    },
                    minijinja::context! {
                        title => "Punched cards (pack of 50)", quantity => 2,
                        options => Vec::<minijinja::Value>::new(),
                        line_total => money(1000),
                    },
                ],
                lines_total => money(3499),
                discounts => vec![minijinja::context! { name => "3 for 2 on cards", amount => money(500) }],
                shipping_name => "Standard delivery",
                shipping_charge => money(495),
                total => money(3494),
                address => address.clone(),
            },
        },
        "order_shipped" => minijinja::context! {
            shop_name,
            tracking => "JD014600003828",
            status_link => format!("{site}/accounts/orders/100042/"),
            order => minijinja::context! {
                number => "100042",
                lines => vec![
                    minijinja::context! { title => "The Analytical Engine, hardback", quantity => 1 },
                    minijinja::context! { title => "Punched cards (pack of 50)", quantity => 2 },
                ],
                address => address,
            },
        },
        "product_alert" => minijinja::context! {
            shop_name,
            product => "The Analytical Engine, hardback",
            product_link => format!("{site}/catalogue/the-analytical-engine_42/"),
            unsubscribe_link => format!("{site}/alerts/unsubscribe/{token}/"),
        },
        "product_alert_confirm" => minijinja::context! {
            shop_name,
            product => "The Analytical Engine, hardback",
            product_link => format!("{site}/catalogue/the-analytical-engine_42/"),
            confirm_link => format!("{site}/alerts/confirm/{token}/"),
            unsubscribe_link => format!("{site}/alerts/unsubscribe/{token}/"),
        },
        _ => return None,
    })
}

/// One email in the staff list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// When staff last edited it; `None`: the theme's version.
    pub edited_at: Option<String>,
    pub edited_by: Option<String>,
}

/// Every customer email, with whether staff edited it.
pub async fn list(pool: &AnyPool) -> Result<Vec<Listed>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT template, MAX(updated_at) AS updated_at, MAX(updated_by) AS updated_by \
         FROM email_template_override GROUP BY template",
    )
    .fetch_all(pool)
    .await?;
    let mut edited = HashMap::new();
    for r in &rows {
        edited.insert(
            r.try_get::<String, _>("template")?,
            (
                r.try_get::<String, _>("updated_at")?,
                r.try_get::<String, _>("updated_by")?,
            ),
        );
    }
    Ok(EMAILS
        .iter()
        .map(|(name, title, description)| {
            let e = edited.get(*name);
            Listed {
                name,
                title,
                description,
                edited_at: e.map(|(at, _)| at.clone()),
                edited_by: e.map(|(_, by)| by.clone()),
            }
        })
        .collect())
}

/// One file of an email as the edit form shows it.
#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub file: &'static str,
    /// The theme's own version.
    pub theme_source: String,
    /// The staff version, when there is one.
    pub override_source: Option<String>,
}

/// An email with its files.
#[derive(Debug, Clone, Serialize)]
pub struct Email {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub files: Vec<File>,
    pub edited: bool,
}

fn known(name: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    EMAILS.iter().find(|(n, _, _)| *n == name)
}

/// The theme's source of `email/<name>/<file>`, if the theme chain has the file.
fn theme_source(templates: &Templates, name: &str, file: &str) -> Option<String> {
    let path = templates
        .chain()
        .find(&format!("templates/email/{name}/{file}"))?;
    std::fs::read_to_string(path).ok()
}

/// Email `name` with its theme files and staff overrides; `None` for an unknown name.
pub async fn email(
    pool: &AnyPool,
    templates: &Templates,
    name: &str,
) -> Result<Option<Email>, sqlx::Error> {
    let Some((name, title, description)) = known(name) else {
        return Ok(None);
    };
    let mut conn = pool.acquire().await?;
    let overrides = mail::overrides(&mut conn, name).await?;
    let files: Vec<File> = TEMPLATE_FILES
        .iter()
        .filter_map(|file| {
            theme_source(templates, name, file).map(|theme_source| File {
                file,
                theme_source,
                override_source: overrides.get(*file).cloned(),
            })
        })
        .collect();
    Ok(Some(Email {
        name,
        title,
        description,
        edited: !overrides.is_empty(),
        files,
    }))
}

/// Email `name` rendered with its sample data: with `edits` (file → source, unchecked) when
/// given, else with what is in use (the overrides, then the theme).
pub async fn preview(
    pool: &AnyPool,
    shop: &Shop<'_>,
    name: &str,
    edits: Option<&HashMap<String, String>>,
) -> Result<OutgoingEmailBody, TemplateEditError> {
    let ctx = sample(shop, name).ok_or(TemplateEditError::NotFound)?;
    let mut conn = pool.acquire().await?;
    let in_use;
    let overrides = match edits {
        Some(edits) => edits,
        None => {
            in_use = mail::overrides(&mut conn, name).await?;
            &in_use
        }
    };
    Ok(mail::render_with(shop.templates, name, ctx, overrides)?)
}

/// Line endings as browsers send them (`\r\n`) made `\n`, as the theme's files have them.
fn normalise(source: &str) -> String {
    source.replace("\r\n", "\n")
}

/// Checks `edits` (file → source) of email `name` strictly against its sample data: the
/// files that differ from the theme's, or a problem per file.
fn check(
    shop: &Shop<'_>,
    name: &str,
    edits: &HashMap<String, String>,
) -> Result<BTreeMap<String, String>, TemplateEditError> {
    let ctx = sample(shop, name).ok_or(TemplateEditError::NotFound)?;
    let mut problems = BTreeMap::new();
    let mut changed = BTreeMap::new();
    for file in TEMPLATE_FILES {
        let Some(theme) = theme_source(shop.templates, name, file) else {
            continue;
        };
        let Some(source) = edits.get(file) else {
            continue;
        };
        let source = normalise(source);
        if source.chars().count() > MAX_SOURCE_CHARS {
            problems.insert(
                file.to_owned(),
                format!("Keep it under {MAX_SOURCE_CHARS} characters."),
            );
            continue;
        }
        if source.trim().is_empty() {
            problems.insert(
                file.to_owned(),
                "This part can't be empty; reset the email to go back to the theme's version."
                    .to_owned(),
            );
            continue;
        }
        let path = format!("email/{name}/{file}");
        match shop.templates.check_source(&path, &source, &ctx) {
            Ok(rendered) if file == "subject.txt" && rendered.trim().is_empty() => {
                problems.insert(file.to_owned(), "The subject comes out empty.".to_owned());
            }
            Ok(_) => {
                if source.trim_end() != theme.trim_end() {
                    changed.insert(file.to_owned(), source);
                }
            }
            Err(e) => {
                problems.insert(file.to_owned(), describe(&e));
            }
        }
    }
    if problems.is_empty() {
        Ok(changed)
    } else {
        Err(TemplateEditError::Invalid(problems))
    }
}

/// A template error as staff read it: what is wrong and on which line.
fn describe(e: &minijinja::Error) -> String {
    let what = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            "uses a variable (or a field of one) this email does not have".to_owned()
        }
        minijinja::ErrorKind::SyntaxError => "has a syntax error".to_owned(),
        _ => "can't be rendered".to_owned(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    match e.line() {
        Some(line) => format!("Line {line} {what}{detail}."),
        None => format!("It {what}{detail}."),
    }
}

/// Checks `edits` of email `name` as [`save`] would, keeping nothing (for a preview).
pub fn check_edit(
    shop: &Shop<'_>,
    name: &str,
    edits: &HashMap<String, String>,
) -> Result<(), TemplateEditError> {
    known(name).ok_or(TemplateEditError::NotFound)?;
    check(shop, name, edits).map(|_| ())
}

/// The overrides of `name` as the audit log keeps them.
fn as_json(overrides: &HashMap<String, String>) -> String {
    let sorted: BTreeMap<&String, &String> = overrides.iter().collect();
    audit::json(&sorted)
}

/// Keeps `edits` (file → source) of email `name` as its overrides, after checking them; a
/// file equal to the theme's is not kept (so it follows the theme again). In one transaction
/// with its audit entry. Nothing is kept when any file has a problem.
pub async fn save(
    db: &Db,
    shop: &Shop<'_>,
    actor: Actor<'_>,
    name: &str,
    edits: &HashMap<String, String>,
) -> Result<(), TemplateEditError> {
    let (name, _, _) = known(name).ok_or(TemplateEditError::NotFound)?;
    let changed = check(shop, name, edits)?;
    let who = match actor {
        Actor::Staff { email, .. } => email.to_owned(),
        Actor::CommandLine => "(command line)".to_owned(),
    };
    let now = now_text();
    let mut tx = db.begin_write().await?;
    let before = mail::overrides(&mut tx, name).await?;
    sqlx::query("DELETE FROM email_template_override WHERE template = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    for (file, source) in &changed {
        sqlx::query(
            "INSERT INTO email_template_override (template, file, source, updated_at, \
             updated_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(file)
        .bind(source)
        .bind(&now)
        .bind(&who)
        .execute(&mut *tx)
        .await?;
    }
    let after: HashMap<String, String> = changed.into_iter().collect();
    audit::record(
        &mut tx,
        actor,
        "email_template.save",
        "email_template",
        name,
        Some(&as_json(&before)),
        Some(&as_json(&after)),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(template = name, by = %who, "email template edited");
    Ok(())
}

/// Drops the overrides of email `name`: the theme's version is used again. Audited; false
/// when there was nothing to reset.
pub async fn reset(db: &Db, actor: Actor<'_>, name: &str) -> Result<bool, TemplateEditError> {
    let (name, _, _) = known(name).ok_or(TemplateEditError::NotFound)?;
    let mut tx = db.begin_write().await?;
    let before = mail::overrides(&mut tx, name).await?;
    if before.is_empty() {
        return Ok(false);
    }
    sqlx::query("DELETE FROM email_template_override WHERE template = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "email_template.reset",
        "email_template",
        name,
        Some(&as_json(&before)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("themes");
        Templates::load(&root, "default", vec![], false).unwrap()
    }

    fn shop(templates: &Templates) -> Shop<'_> {
        Shop {
            templates,
            shop_name: "Corner Shop",
            site_url: "https://shop.example",
            currency: Currency::from_code("GBP").unwrap(),
        }
    }

    #[test]
    fn every_theme_email_renders_strictly_with_its_sample() {
        let templates = templates();
        let shop = shop(&templates);
        for (name, _, _) in EMAILS {
            let ctx = sample(&shop, name).unwrap();
            let mut files = 0;
            for file in TEMPLATE_FILES {
                let Some(source) = theme_source(&templates, name, file) else {
                    continue;
                };
                files += 1;
                let path = format!("email/{name}/{file}");
                templates
                    .check_source(&path, &source, &ctx)
                    .unwrap_or_else(|e| panic!("{path}: {e:#}"));
            }
            assert_eq!(files, 3, "{name} has text and HTML");
        }
    }

    #[test]
    fn unknown_variables_and_syntax_errors_are_problems() {
        let templates = templates();
        let shop = shop(&templates);
        let edits = HashMap::from([
            (
                "subject.txt".to_owned(),
                "Order {{ order.numbr }}".to_owned(),
            ),
            ("body.txt".to_owned(), "Hello {% if %}".to_owned()),
            ("body.html".to_owned(), "{{ nobody }}".to_owned()),
        ]);
        let Err(TemplateEditError::Invalid(problems)) = check(&shop, "order_shipped", &edits)
        else {
            panic!("accepted");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems["subject.txt"].contains("does not have"),
            "{problems:?}"
        );
        assert!(problems["body.txt"].contains("syntax"), "{problems:?}");
        let fine = HashMap::from([(
            "subject.txt".to_owned(),
            "Parcel for order {{ order.number }}\r\n".to_owned(),
        )]);
        let changed = check(&shop, "order_shipped", &fine).unwrap();
        assert_eq!(
            changed["subject.txt"],
            "Parcel for order {{ order.number }}\n"
        );
    }
}
