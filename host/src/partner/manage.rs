//! Partners as staff manage them: the list (a partner user sees their own), with each
//! partner's stock count and dashboard users, and adding a partner.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::audit::{self, Actor};
use crate::infra::db::{Db, unique_violation};

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub stock_records: i64,
    /// Emails of the staff users restricted to this partner.
    pub users: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PartnerFormError {
    /// Problems per field, for the form.
    #[error("the partner form has problems")]
    Invalid(Vec<(&'static str, String)>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Partner(super::PartnerError),
}

pub async fn list(pool: &AnyPool, scope: Option<&[i64]>) -> Result<Vec<Listed>, sqlx::Error> {
    let condition = match scope {
        None => "1 = 1".to_owned(),
        // Partner ids are integers read from the database.
        Some(ids) => format!(
            "p.id IN ({})",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let sql = format!(
        "SELECT p.id, p.code, p.name, \
         (SELECT COUNT(*) FROM stock_record sr WHERE sr.partner_id = p.id) AS stock_records \
         FROM partner p WHERE {condition} ORDER BY p.name, p.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    let mut listed = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let users = sqlx::query_scalar(
            "SELECT s.email FROM staff_partner sp JOIN staff_user s ON s.id = sp.staff_id \
             WHERE sp.partner_id = $1 ORDER BY s.email",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        listed.push(Listed {
            id,
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            stock_records: r.try_get("stock_records")?,
            users,
        });
    }
    Ok(listed)
}

/// Adds a partner. The code (letters, digits, `-`, `_`; what `--partner CODE` names) must be
/// new; a taken one is a field error, found by the database's unique constraint so two
/// concurrent adds can't both have it.
pub async fn create(
    db: &Db,
    actor: Actor<'_>,
    code: &str,
    name: &str,
) -> Result<i64, PartnerFormError> {
    let (code, name) = (code.trim(), name.trim());
    let mut problems = Vec::new();
    if code.is_empty()
        || code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.push((
            "code",
            "Use 1 to 64 letters, digits, dashes or underscores, like north-warehouse.".to_owned(),
        ));
    }
    if name.is_empty() || name.chars().count() > 200 {
        problems.push((
            "name",
            "Enter the partner's name (at most 200 characters).".to_owned(),
        ));
    }
    if !problems.is_empty() {
        return Err(PartnerFormError::Invalid(problems));
    }
    let mut tx = db.begin_write().await?;
    let id = match super::create_partner(&mut *tx, code, name).await {
        Ok(id) => id,
        Err(super::PartnerError::Db(e)) => {
            return Err(match unique_violation(&e, "partner").as_deref() {
                Some("code") => PartnerFormError::Invalid(vec![(
                    "code",
                    format!("The code {code} is taken by another partner."),
                )]),
                _ => PartnerFormError::Db(e),
            });
        }
        Err(other) => return Err(PartnerFormError::Partner(other)),
    };
    audit::record(
        &mut tx,
        actor,
        "partner.add",
        "partner",
        code,
        None,
        Some(&audit::json(
            &serde_json::json!({ "code": code, "name": name }),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
