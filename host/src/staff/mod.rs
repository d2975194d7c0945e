//! Staff accounts: who may use the dashboard, and what each may see and change there.
//!
//! A staff user has one [`Role`], which grants [`Permission`]s, and optionally a partner
//! scope: a staff user with partners sees and changes only those partners' products, stock
//! and orders. The scope is applied in the queries that read and write for them (see
//! [`Staff::partner_scope`]), never only in the menu. A `partner` user always has a scope.
//!
//! Passwords and sign-in share the customers' security: Argon2id ([`crate::infra::password`])
//! and the sign-in throttle ([`crate::customer::throttled`]), under a key of their own, so a
//! customer account and a staff account with the same email are throttled apart.

use std::net::IpAddr;

use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::audit;
use crate::customer::{self, CustomerError, SignInAttempt, throttle::SignInThrottle};
use crate::infra::db::{Db, flag, now_text};
use crate::infra::password::{self, PasswordError};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    SignIn(#[from] CustomerError),
    /// Input the operator can fix; the message says how.
    #[error("{0}")]
    Invalid(String),
}

/// What a staff user is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, staff accounts and plugins included.
    Admin,
    /// Products, categories, classes, stock, media.
    CatalogueManager,
    /// Orders: status, fulfilment, captures and refunds; customers.
    OrderManager,
    /// Sees every section, changes nothing.
    ReadOnly,
    /// A partner's own products, stock, orders and their reports (always with a partner
    /// scope).
    Partner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::CatalogueManager,
        Role::OrderManager,
        Role::ReadOnly,
        Role::Partner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CatalogueManager => "catalogue_manager",
            Role::OrderManager => "order_manager",
            Role::ReadOnly => "read_only",
            Role::Partner => "partner",
        }
    }

    /// Accepts `catalogue-manager` as well as `catalogue_manager`.
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim().replace('-', "_");
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::CatalogueManager => "Catalogue manager",
            Role::OrderManager => "Order manager",
            Role::ReadOnly => "Read-only",
            Role::Partner => "Partner",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::ReadOnly => matches!(
                permission,
                ViewDashboard
                    | ViewOrders
                    | ViewCatalogue
                    | ViewCustomers
                    | ViewReports
                    | ViewPlugins
            ),
            Role::CatalogueManager => matches!(
                permission,
                ViewDashboard
                    | ViewOrders
                    | ViewCatalogue
                    | ManageCatalogue
                    | ViewReports
                    | ModerateReviews
            ),
            Role::OrderManager => matches!(
                permission,
                ViewDashboard
                    | ViewOrders
                    | ManageOrders
                    | ManagePayments
                    | ViewCatalogue
                    | ViewCustomers
                    | ManageCustomers
                    | ViewReports
            ),
            // Reports limited to their own lines and products (see `reports::tables`).
            Role::Partner => matches!(
                permission,
                ViewDashboard
                    | ViewOrders
                    | ManageOrders
                    | ViewCatalogue
                    | ManageCatalogue
                    | ViewReports
            ),
        }
    }
}

/// One thing a dashboard page or action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ViewDashboard,
    ViewOrders,
    /// Status changes, fulfilment, notes.
    ManageOrders,
    /// Captures and refunds: money moves.
    ManagePayments,
    ViewCatalogue,
    /// Products, categories, stock, media.
    ManageCatalogue,
    ViewCustomers,
    /// Activate and deactivate customer accounts.
    ManageCustomers,
    ViewReports,
    /// Approve, reject and delete product reviews.
    ModerateReviews,
    /// See the installed plugins, their health and the plugin directory (changing them is
    /// `Administer`).
    ViewPlugins,
    /// Staff accounts, plugins, themes, settings.
    Administer,
}

/// A signed-in (or listed) staff user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// Partner ids this user is restricted to; empty: every partner.
    pub partners: Vec<i64>,
}

impl<'a> From<&'a Staff> for audit::Actor<'a> {
    fn from(staff: &'a Staff) -> Self {
        audit::Actor::Staff {
            id: staff.id,
            email: &staff.email,
        }
    }
}

impl Staff {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    /// The partners whose data this user may see, or `None` for all of them. Every query a
    /// dashboard page runs for this user filters by it.
    pub fn partner_scope(&self) -> Option<&[i64]> {
        (!self.partners.is_empty()).then_some(self.partners.as_slice())
    }
}

/// A staff user as `emporium staff list` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub email: String,
    pub role: Role,
    pub partner_codes: Vec<String>,
    pub is_active: bool,
}

fn role_of(row: &sqlx::any::AnyRow) -> Result<Role, sqlx::Error> {
    let text: String = row.try_get("role")?;
    Role::parse(&text).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {text:?}").into()))
}

/// Adds a staff user. `partner_codes` restrict them to those partners (required for
/// [`Role::Partner`]). Refuses an email that already has a staff account.
pub async fn add(
    db: &Db,
    email: &str,
    password: &str,
    role: Role,
    partner_codes: &[String],
) -> Result<Staff, StaffError> {
    add_by(
        db,
        audit::Actor::CommandLine,
        email,
        password,
        role,
        partner_codes,
    )
    .await
}

/// [`add`], recorded as `actor`'s doing (an administrator in the dashboard).
pub async fn add_by(
    db: &Db,
    actor: audit::Actor<'_>,
    email: &str,
    password: &str,
    role: Role,
    partner_codes: &[String],
) -> Result<Staff, StaffError> {
    let email = customer::normalize_email(email);
    if let Some(problem) = customer::email_problem(&email) {
        return Err(StaffError::Invalid(problem.into()));
    }
    if let Some(problem) = customer::password_problem(password) {
        return Err(StaffError::Invalid(problem));
    }
    if role == Role::Partner && partner_codes.is_empty() {
        return Err(StaffError::Invalid(
            "A partner user needs at least one --partner CODE.".into(),
        ));
    }
    let hash = password::hash(password.to_owned()).await?;
    let mut tx = db.begin_write().await?;
    let mut partners = Vec::with_capacity(partner_codes.len());
    for code in partner_codes {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM partner WHERE code = $1")
            .bind(code.trim())
            .fetch_optional(&mut *tx)
            .await?;
        match id {
            Some(id) if !partners.contains(&id) => partners.push(id),
            Some(_) => {}
            None => {
                return Err(StaffError::Invalid(format!(
                    "No partner has the code {code:?}."
                )));
            }
        }
    }
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO staff_user (email, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&email)
    .bind(&hash)
    .bind(role.as_str())
    .bind(now_text())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Err(StaffError::Invalid(format!(
            "{email} already has a staff account."
        )));
    };
    for partner in &partners {
        sqlx::query("INSERT INTO staff_partner (staff_id, partner_id) VALUES ($1, $2)")
            .bind(id)
            .bind(partner)
            .execute(&mut *tx)
            .await?;
    }
    let staff = Staff {
        id,
        email,
        role,
        partners,
    };
    audit::record(
        &mut tx,
        actor,
        "staff.add",
        "staff",
        &staff.email,
        None,
        Some(&audit::json(&staff)),
    )
    .await?;
    tx.commit().await?;
    Ok(staff)
}

/// Every staff user, by email.
pub async fn list(pool: &AnyPool) -> Result<Vec<Listed>, StaffError> {
    let rows = sqlx::query("SELECT id, email, role, is_active FROM staff_user ORDER BY email")
        .fetch_all(pool)
        .await?;
    let mut listed = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let partner_codes = sqlx::query_scalar(
            "SELECT p.code FROM staff_partner sp JOIN partner p ON p.id = sp.partner_id \
             WHERE sp.staff_id = $1 ORDER BY p.code",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        listed.push(Listed {
            email: row.try_get("email")?,
            role: role_of(row)?,
            partner_codes,
            is_active: flag(row, "is_active")?,
        });
    }
    Ok(listed)
}

/// Removes a staff account (its audit entries stay, naming it). False when there was none.
pub async fn remove(db: &Db, email: &str) -> Result<bool, StaffError> {
    let email = customer::normalize_email(email);
    let mut tx = db.begin_write().await?;
    let removed = sqlx::query("DELETE FROM staff_user WHERE email = $1")
        .bind(&email)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if removed {
        audit::record(
            &mut tx,
            audit::Actor::CommandLine,
            "staff.remove",
            "staff",
            &email,
            None,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(removed)
}

/// The active staff user with this id (what a dashboard request re-checks, so that a removed
/// or deactivated account's session stops working at once).
pub async fn active_by_id(pool: &AnyPool, id: i64) -> Result<Option<Staff>, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT id, email, role, is_active FROM staff_user WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    if !flag(&row, "is_active")? {
        return Ok(None);
    }
    let partners = sqlx::query_scalar(
        "SELECT partner_id FROM staff_partner WHERE staff_id = $1 ORDER BY partner_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(Staff {
        id,
        email: row.try_get("email")?,
        role: role_of(&row)?,
        partners,
    }))
}

/// The active staff user with this email and password, or `None`; as slow for an unknown
/// email as for a wrong password.
async fn authenticate(
    pool: &AnyPool,
    email: &str,
    password: &str,
) -> Result<Option<Staff>, CustomerError> {
    let email = customer::normalize_email(email);
    let row = sqlx::query("SELECT id, password_hash FROM staff_user WHERE email = $1")
        .bind(&email)
        .fetch_optional(pool)
        .await?;
    let (id, stored) = match &row {
        Some(row) => (
            row.try_get::<i64, _>("id")?,
            Some(row.try_get::<String, _>("password_hash")?),
        ),
        None => (0, None),
    };
    if !password::matches(password, stored).await? {
        return Ok(None);
    }
    let staff = active_by_id(pool, id).await?;
    if staff.is_some() {
        sqlx::query("UPDATE staff_user SET last_login_at = $1 WHERE id = $2")
            .bind(now_text())
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(staff)
}

/// Signs a staff user in through the shared sign-in throttle.
pub async fn sign_in(
    pool: &AnyPool,
    throttle: &SignInThrottle,
    email: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<SignInAttempt<Staff>, StaffError> {
    let account = format!("staff:{}", customer::normalize_email(email));
    Ok(customer::throttled(
        pool,
        throttle,
        &account,
        address,
        authenticate(pool, email, password),
    )
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_they_say() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert!(role.allows(Permission::ViewDashboard));
        }
        assert_eq!(
            Role::parse("catalogue-manager"),
            Some(Role::CatalogueManager)
        );
        assert_eq!(Role::parse("owner"), None);
        assert!(!Role::ReadOnly.allows(Permission::ManageOrders));
        assert!(!Role::CatalogueManager.allows(Permission::ManagePayments));
        assert!(Role::OrderManager.allows(Permission::ManagePayments));
        assert!(!Role::OrderManager.allows(Permission::ManageCatalogue));
        assert!(!Role::Partner.allows(Permission::ManagePayments));
        assert!(!Role::Partner.allows(Permission::ViewCustomers));
        assert!(
            Role::ALL
                .iter()
                .all(|r| r.allows(Permission::Administer) == (*r == Role::Admin))
        );
    }
}
