//! Partners as staff manage them: the list (a partner user sees their own), with each
//! partner's stock count and dashboard users; adding a partner; a partner's page with its
//! address and its users, whom administrators add and remove.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::address::Address;
use crate::audit::{self, Actor};
use crate::infra::db::{Db, unique_violation};
use crate::staff::Staff;

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

/// A partner as a filter offers it (the order list's partner choice).
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub code: String,
    pub name: String,
}

/// Every partner's code and name, by name: for a filter, without [`list`]'s counts (which read
/// every stock record, about 10 ms a page over 100,000 products).
pub async fn choices(pool: &AnyPool) -> Result<Vec<Choice>, sqlx::Error> {
    sqlx::query("SELECT code, name FROM partner ORDER BY name, id")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Choice {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
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

/// One partner's page: its address and its dashboard users.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub address: Option<Address>,
    pub address_lines: Vec<String>,
    pub users: Vec<User>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub is_active: bool,
}

/// Partner `id` if it is within `scope`.
pub async fn find(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    id: i64,
) -> Result<Option<Detail>, sqlx::Error> {
    if scope.is_some_and(|ids| !ids.contains(&id)) {
        return Ok(None);
    }
    let Some(row) = sqlx::query("SELECT id, code, name, address FROM partner WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let address: Option<Address> = row
        .try_get::<Option<String>, _>("address")?
        .and_then(|a| serde_json::from_str(&a).ok());
    let users = sqlx::query(
        "SELECT s.id, s.email, s.is_active FROM staff_partner sp JOIN staff_user s ON s.id = sp.staff_id \
         WHERE sp.partner_id = $1 ORDER BY s.email",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(User {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            is_active: crate::infra::db::flag(r, "is_active")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(Detail {
        id,
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        address_lines: address.as_ref().map(Address::lines).unwrap_or_default(),
        address,
        users,
    }))
}

/// Renames partner `id` and sets its address, for `staff` (their own partners only), in one
/// transaction with its audit entry. `None` when it is not theirs to change.
pub async fn update(
    db: &Db,
    staff: &Staff,
    id: i64,
    name: &str,
    address: &Address,
) -> Result<Option<()>, PartnerFormError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(PartnerFormError::Invalid(vec![(
            "partner_name",
            "Enter the partner's name (at most 200 characters).".to_owned(),
        )]));
    }
    let Some(before) = find(&db.pool, staff.partner_scope(), id).await? else {
        return Ok(None);
    };
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE partner SET name = $2, address = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(serde_json::to_string(address).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "partner.update",
        "partner",
        &before.code,
        Some(&audit::json(
            &serde_json::json!({ "name": before.name, "address": before.address }),
        )),
        Some(&audit::json(
            &serde_json::json!({ "name": name, "address": address }),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(()))
}

/// Gives partner `id` a new dashboard user (role partner, restricted to it); an
/// administrator's action. The password is the one they will sign in with until they change
/// it.
pub async fn add_user(
    db: &Db,
    admin: &Staff,
    id: i64,
    email: &str,
    password: &str,
) -> Result<Option<crate::staff::Staff>, crate::staff::StaffError> {
    let Some(partner) = find(&db.pool, None, id).await? else {
        return Ok(None);
    };
    crate::staff::add_by(
        db,
        Actor::from(admin),
        email,
        password,
        crate::staff::Role::Partner,
        &[partner.code],
    )
    .await
    .map(Some)
}

/// Takes user `staff_id` off partner `id`; a partner user left with no partner loses their
/// account (they could see nothing). False when they were not this partner's.
pub async fn remove_user(
    db: &Db,
    admin: &Staff,
    id: i64,
    staff_id: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let email: Option<String> = sqlx::query_scalar(
        "SELECT s.email FROM staff_partner sp JOIN staff_user s ON s.id = sp.staff_id \
         WHERE sp.partner_id = $1 AND sp.staff_id = $2",
    )
    .bind(id)
    .bind(staff_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(email) = email else {
        return Ok(false);
    };
    sqlx::query("DELETE FROM staff_partner WHERE partner_id = $1 AND staff_id = $2")
        .bind(id)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff_partner WHERE staff_id = $1")
        .bind(staff_id)
        .fetch_one(&mut *tx)
        .await?;
    if left == 0 {
        sqlx::query("DELETE FROM staff_user WHERE id = $1 AND role = 'partner'")
            .bind(staff_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        Actor::from(admin),
        "partner.remove_user",
        "partner",
        &id.to_string(),
        Some(&audit::json(&serde_json::json!({ "user": email }))),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
