//! A customer's address book: add, edit, delete, and a default address for delivery and one
//! for billing (the same address may be both). Checkout offers the book and saves to it when
//! an order is placed.
//!
//! Every query names the customer in its `WHERE`: an id from a URL or a form that belongs to
//! someone else finds nothing, exactly like an id that doesn't exist, so nobody can tell the
//! two apart. The database holds the rules that matter: one entry per distinct address
//! (the fingerprint is unique per customer) and at most one default of each kind (partial
//! unique indexes, migration 0019).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::Address;
use crate::infra::db::{Db, flag, now_text};

/// Addresses kept per customer: enough for anyone, bounded for everyone.
pub const MAX_SAVED_ADDRESSES: i64 = 50;

/// The two defaults an address can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Shipping,
    Billing,
}

impl Which {
    /// `shipping` or `billing`, as forms and URLs spell them.
    pub fn parse(text: &str) -> Option<Which> {
        match text {
            "shipping" => Some(Which::Shipping),
            "billing" => Some(Which::Billing),
            _ => None,
        }
    }

    /// The flag's column. A fixed name chosen here, never text from a request.
    fn column(self) -> &'static str {
        match self {
            Which::Shipping => "is_default_shipping",
            Which::Billing => "is_default_billing",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// Not one of this customer's addresses (or no such address at all).
    #[error("no such address in the customer's book")]
    NotFound,
    #[error("the address book is full")]
    Full,
    /// The customer has this address already (same fingerprint).
    #[error("the address is in the book already")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An address-book entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SavedAddress {
    pub id: i64,
    pub address: Address,
    pub is_default_shipping: bool,
    pub is_default_billing: bool,
}

fn saved_from_row(row: &AnyRow) -> Result<SavedAddress, sqlx::Error> {
    Ok(SavedAddress {
        id: row.try_get("id")?,
        is_default_shipping: flag(row, "is_default_shipping")?,
        is_default_billing: flag(row, "is_default_billing")?,
        address: Address {
            name: row.try_get("name")?,
            line1: row.try_get("line1")?,
            line2: row.try_get("line2")?,
            city: row.try_get("city")?,
            state: row.try_get("state")?,
            postcode: row.try_get("postcode")?,
            country: row.try_get("country")?,
            phone: row.try_get("phone")?,
        },
    })
}

const COLUMNS: &str = "id, name, line1, line2, city, state, postcode, country, phone, \
                       is_default_shipping, is_default_billing";

/// A customer's saved addresses: the default delivery address first, then the default
/// billing one, then the newest.
pub async fn list(pool: &AnyPool, customer_id: i64) -> Result<Vec<SavedAddress>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customer_address WHERE customer_id = $1 \
         ORDER BY is_default_shipping DESC, is_default_billing DESC, id DESC"
    )))
    .bind(customer_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(saved_from_row)
    .collect()
}

/// One of the customer's addresses; `None` when it isn't theirs.
pub async fn get(
    pool: &AnyPool,
    customer_id: i64,
    id: i64,
) -> Result<Option<SavedAddress>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customer_address WHERE customer_id = $1 AND id = $2"
    )))
    .bind(customer_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(saved_from_row)
    .transpose()
}

/// Which defaults a new address takes. A customer's first address takes both whatever is
/// asked: a book with addresses and no default would make checkout guess.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults {
    pub shipping: bool,
    pub billing: bool,
}

/// Adds `address` (already validated) to the customer's book; returns its id.
pub async fn add(
    db: &Db,
    customer_id: i64,
    address: &Address,
    defaults: Defaults,
) -> Result<i64, BookError> {
    let mut tx = db.begin_write().await?;
    let count: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM customer_address WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
    if count >= MAX_SAVED_ADDRESSES {
        return Err(BookError::Full);
    }
    // The unique fingerprint decides what a duplicate is, not a check before the insert that
    // a second request could slip past.
    let id: i64 = sqlx::query(
        "INSERT INTO customer_address (customer_id, name, line1, line2, city, state, postcode, \
         country, phone, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(customer_id)
    .bind(&address.name)
    .bind(&address.line1)
    .bind(&address.line2)
    .bind(&address.city)
    .bind(&address.state)
    .bind(&address.postcode)
    .bind(&address.country)
    .bind(&address.phone)
    .bind(address.fingerprint())
    .bind(now_text())
    .fetch_one(&mut *tx)
    .await
    .map_err(duplicate_or_db)?
    .try_get(0)?;
    for (which, asked) in [
        (Which::Shipping, defaults.shipping),
        (Which::Billing, defaults.billing),
    ] {
        if asked {
            set_default(&mut tx, customer_id, id, which).await?;
        } else {
            default_if_none(&mut tx, customer_id, id, which).await?;
        }
    }
    tx.commit().await?;
    Ok(id)
}

/// Replaces one of the customer's addresses with `address`; its defaults stay as they are.
pub async fn edit(db: &Db, customer_id: i64, id: i64, address: &Address) -> Result<(), BookError> {
    let updated = sqlx::query(
        "UPDATE customer_address SET name = $1, line1 = $2, line2 = $3, city = $4, state = $5, \
         postcode = $6, country = $7, phone = $8, fingerprint = $9 \
         WHERE customer_id = $10 AND id = $11",
    )
    .bind(&address.name)
    .bind(&address.line1)
    .bind(&address.line2)
    .bind(&address.city)
    .bind(&address.state)
    .bind(&address.postcode)
    .bind(&address.country)
    .bind(&address.phone)
    .bind(address.fingerprint())
    .bind(customer_id)
    .bind(id)
    .execute(&db.pool)
    .await
    .map_err(duplicate_or_db)?
    .rows_affected();
    if updated == 1 {
        Ok(())
    } else {
        Err(BookError::NotFound)
    }
}

/// Deletes one of the customer's addresses. A default that is deleted leaves no default of
/// its kind rather than promoting another address the customer didn't choose; checkout then
/// offers the newest first. Orders keep their own copies, so none changes.
pub async fn delete(db: &Db, customer_id: i64, id: i64) -> Result<(), BookError> {
    let deleted = sqlx::query("DELETE FROM customer_address WHERE customer_id = $1 AND id = $2")
        .bind(customer_id)
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if deleted == 1 {
        Ok(())
    } else {
        Err(BookError::NotFound)
    }
}

/// Makes one of the customer's addresses their default for `which`.
pub async fn make_default(
    db: &Db,
    customer_id: i64,
    id: i64,
    which: Which,
) -> Result<(), BookError> {
    let mut tx = db.begin_write().await?;
    if !set_default(&mut tx, customer_id, id, which).await? {
        return Err(BookError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// Moves the customer's `which` default to `id`; false (and nothing changed) when `id` is
/// not theirs. Clears before it sets: the partial unique index allows one default at a time.
async fn set_default(
    conn: &mut AnyConnection,
    customer_id: i64,
    id: i64,
    which: Which,
) -> Result<bool, sqlx::Error> {
    let column = which.column();
    let exists = sqlx::query("SELECT id FROM customer_address WHERE customer_id = $1 AND id = $2")
        .bind(customer_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if !exists {
        return Ok(false);
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE customer_address SET {column} = FALSE \
         WHERE customer_id = $1 AND {column} = TRUE AND id <> $2"
    )))
    .bind(customer_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE customer_address SET {column} = TRUE WHERE customer_id = $1 AND id = $2"
    )))
    .bind(customer_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Makes `id` the customer's `which` default if they have none.
async fn default_if_none(
    conn: &mut AnyConnection,
    customer_id: i64,
    id: i64,
    which: Which,
) -> Result<(), sqlx::Error> {
    let column = which.column();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE customer_address SET {column} = TRUE WHERE customer_id = $1 AND id = $2 \
         AND NOT EXISTS (SELECT 1 FROM customer_address d WHERE d.customer_id = $1 \
         AND d.{column} = TRUE)"
    )))
    .bind(customer_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn duplicate_or_db(e: sqlx::Error) -> BookError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        BookError::Duplicate
    } else {
        BookError::Db(e)
    }
}

/// Saves the addresses of an order to the customer's book, inside the order's transaction.
/// An address already there is not added again, and a full book takes nothing new (the
/// order matters more than the book). Each becomes the customer's default of its kind only
/// when they have none: a default the customer chose is theirs to change, not an order's.
pub async fn remember(
    conn: &mut AnyConnection,
    customer_id: i64,
    shipping: &Address,
    billing: &Address,
) -> Result<(), sqlx::Error> {
    let shipping_id = save_once(conn, customer_id, shipping).await?;
    let billing_id = if billing.fingerprint() == shipping.fingerprint() {
        shipping_id
    } else {
        save_once(conn, customer_id, billing).await?
    };
    if let Some(id) = shipping_id {
        default_if_none(conn, customer_id, id, Which::Shipping).await?;
    }
    if let Some(id) = billing_id {
        default_if_none(conn, customer_id, id, Which::Billing).await?;
    }
    Ok(())
}

/// The book's entry for `address`, added if there is room; `None` when the book is full.
async fn save_once(
    conn: &mut AnyConnection,
    customer_id: i64,
    address: &Address,
) -> Result<Option<i64>, sqlx::Error> {
    let fingerprint = address.fingerprint();
    let count: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM customer_address WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    if count < MAX_SAVED_ADDRESSES {
        // ON CONFLICT: an equal address saved meanwhile (another tab's order) must not fail
        // this order.
        sqlx::query(
            "INSERT INTO customer_address (customer_id, name, line1, line2, city, state, \
             postcode, country, phone, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (customer_id, fingerprint) DO NOTHING",
        )
        .bind(customer_id)
        .bind(&address.name)
        .bind(&address.line1)
        .bind(&address.line2)
        .bind(&address.city)
        .bind(&address.state)
        .bind(&address.postcode)
        .bind(&address.country)
        .bind(&address.phone)
        .bind(&fingerprint)
        .bind(now_text())
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("SELECT id FROM customer_address WHERE customer_id = $1 AND fingerprint = $2")
        .bind(customer_id)
        .bind(&fingerprint)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get(0))
        .transpose()
}
