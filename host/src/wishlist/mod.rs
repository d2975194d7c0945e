//! Wishlists (Oscar's wishlists app): a customer's named lists of products, each private,
//! shared with anyone holding its link, or public; lines move between lists and into the
//! basket.
//!
//! Ownership is part of every query: a list or line is looked up by its id *and* the
//! customer's id, so another customer's id is simply not found (the storefront answers 404)
//! and nothing changes. Only [`shared`] reads a list without its owner, by the random share
//! key, and only when the list isn't private.
//!
//! Limits ([`Limits`]): at most so many lists and so many lines (across all lists) per
//! customer. Each change writes and then counts inside one transaction and rolls back when a
//! limit is broken, as the basket does. On SQLite the write transaction is serialised; on
//! PostgreSQL two concurrent additions may together pass a limit by one, which the limit
//! (a guard against filling the database, not a business rule) tolerates.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::basket::actions::{Added, Baskets};
use crate::basket::{self, BasketError, Owner};
use crate::infra::db::{Db, flag, now_text};

/// Longest list name.
pub const MAX_NAME_CHARS: usize = 100;
/// What a list is called when the first product page adds to it.
pub const DEFAULT_NAME: &str = "My wishlist";
/// Most units of one product a line keeps (the basket's line limit applies when it moves).
pub const MAX_QUANTITY: i64 = 999;

#[derive(Debug, thiserror::Error)]
pub enum WishlistError {
    /// No such list or line of this customer (or no such product).
    #[error("not found")]
    NotFound,
    /// Malformed input (a 400), nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// A well-formed request the shop's rules refuse (a limit); shown to the customer.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("basket: {0}")]
    Basket(#[from] BasketError),
}

/// Who may read a list besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Private,
    /// Anyone with the link.
    Shared,
    /// Anyone; the page may be indexed.
    Public,
}

impl Visibility {
    pub const ALL: [Visibility; 3] = [Visibility::Private, Visibility::Shared, Visibility::Public];

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Public => "public",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Visibility::Private => "Private: only you",
            Visibility::Shared => "Shared: anyone with the link",
            Visibility::Public => "Public: anyone",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The shop's limits on wishlists, per customer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_lists: i64,
    pub max_lines: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Wishlist {
    pub id: i64,
    pub name: String,
    pub visibility: Visibility,
    /// The secret of the list's link (`/wishlists/{key}/`).
    pub key: String,
    pub is_default: bool,
    pub num_lines: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WishlistLine {
    pub id: i64,
    /// `None` once the product was deleted.
    pub product_id: Option<i64>,
    /// The product's title now, or as copied when added if it is no longer shown.
    pub title: String,
    /// The product's page, when it is still public.
    pub url: Option<String>,
    pub quantity: i64,
    pub added_at: String,
}

/// A list with its lines.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub list: Wishlist,
    pub lines: Vec<WishlistLine>,
}

/// A list's name as typed: trimmed, 1 to [`MAX_NAME_CHARS`] characters.
pub fn clean_name(raw: &str) -> Result<String, WishlistError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(WishlistError::Invalid("Give the list a name.".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(WishlistError::Invalid(format!(
            "A list name can be at most {MAX_NAME_CHARS} characters long."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(WishlistError::Invalid(
            "A list name is one line of text.".into(),
        ));
    }
    Ok(name.to_owned())
}

/// A share key: 128 random bits as 32 hex digits (the link's only secret).
fn new_key() -> String {
    crate::infra::random_token()[..32].to_owned()
}

/// What a share-key path segment must look like before it is looked up.
pub fn valid_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

const LIST_COLUMNS: &str = "w.id, w.name, w.visibility, w.share_key, w.is_default, w.created_at, \
     w.updated_at, (SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist_line l WHERE l.wishlist_id = w.id) AS num_lines";

fn list_from_row(row: &AnyRow) -> Result<Wishlist, sqlx::Error> {
    let visibility: String = row.try_get("visibility")?;
    Ok(Wishlist {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        // The column's CHECK allows nothing else.
        visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Private),
        key: row.try_get("share_key")?,
        is_default: flag(row, "is_default")?,
        num_lines: row.try_get("num_lines")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The customer's lists, the default first, then oldest first.
pub async fn lists(pool: &AnyPool, customer_id: i64) -> Result<Vec<Wishlist>, WishlistError> {
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM wishlist w WHERE w.customer_id = $1 \
         ORDER BY w.is_default DESC, w.id"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(list_from_row)
        .collect::<Result<_, _>>()?)
}

async fn lines_of(pool: &AnyPool, list_id: i64) -> Result<Vec<WishlistLine>, WishlistError> {
    let rows = sqlx::query(
        "SELECT id, product_id, title, quantity, added_at FROM wishlist_line \
         WHERE wishlist_id = $1 ORDER BY id",
    )
    .bind(list_id)
    .fetch_all(pool)
    .await?;
    let ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.try_get::<Option<i64>, _>("product_id").ok().flatten())
        .collect();
    // Only public products get a link and today's title; a hidden one keeps its copied title.
    let products = basket::products(pool, &ids).await?;
    rows.iter()
        .map(|r| {
            let product_id: Option<i64> = r.try_get("product_id")?;
            let product = product_id.and_then(|id| products.get(&id));
            Ok(WishlistLine {
                id: r.try_get("id")?,
                product_id,
                title: match product {
                    Some(p) => p.title.clone(),
                    None => r.try_get("title")?,
                },
                url: product.map(|p| p.url.clone()),
                quantity: r.try_get("quantity")?,
                added_at: r.try_get("added_at")?,
            })
        })
        .collect()
}

/// One of the customer's lists with its lines.
pub async fn detail(
    pool: &AnyPool,
    customer_id: i64,
    list_id: i64,
) -> Result<Detail, WishlistError> {
    let sql =
        format!("SELECT {LIST_COLUMNS} FROM wishlist w WHERE w.id = $1 AND w.customer_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(list_id)
        .bind(customer_id)
        .fetch_optional(pool)
        .await?
        .ok_or(WishlistError::NotFound)?;
    let list = list_from_row(&row)?;
    let lines = lines_of(pool, list.id).await?;
    Ok(Detail { list, lines })
}

/// The list behind a share link, for `viewer` (signed in, or not): a shared or public list
/// for anyone, a private one only for its owner. The flag says whether the viewer owns it.
pub async fn shared(
    pool: &AnyPool,
    key: &str,
    viewer: Option<i64>,
) -> Result<(Detail, bool), WishlistError> {
    if !valid_key(key) {
        return Err(WishlistError::NotFound);
    }
    let sql =
        format!("SELECT {LIST_COLUMNS}, w.customer_id FROM wishlist w WHERE w.share_key = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(pool)
        .await?
        .ok_or(WishlistError::NotFound)?;
    let list = list_from_row(&row)?;
    let owner: i64 = row.try_get("customer_id")?;
    let is_owner = viewer == Some(owner);
    if list.visibility == Visibility::Private && !is_owner {
        return Err(WishlistError::NotFound);
    }
    let lines = lines_of(pool, list.id).await?;
    Ok((Detail { list, lines }, is_owner))
}

/// After a write: the customer is still within both limits.
async fn check_limits(
    tx: &mut Transaction<'_, Any>,
    customer_id: i64,
    limits: Limits,
) -> Result<(), WishlistError> {
    let row = sqlx::query(
        "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist WHERE customer_id = $1) AS lists, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist_line l JOIN wishlist w ON w.id = l.wishlist_id \
          WHERE w.customer_id = $1) AS lines",
    )
    .bind(customer_id)
    .fetch_one(&mut **tx)
    .await?;
    let (lists, lines): (i64, i64) = (row.try_get("lists")?, row.try_get("lines")?);
    if lists > limits.max_lists {
        return Err(WishlistError::Refused(format!(
            "You can keep at most {} wishlists; delete one to start another.",
            limits.max_lists
        )));
    }
    if lines > limits.max_lines {
        return Err(WishlistError::Refused(format!(
            "Your wishlists can hold at most {} items between them; remove some to add more.",
            limits.max_lines
        )));
    }
    Ok(())
}

async fn insert_list(
    tx: &mut Transaction<'_, Any>,
    customer_id: i64,
    name: &str,
    visibility: Visibility,
    is_default: bool,
) -> Result<Option<i64>, WishlistError> {
    let now = now_text();
    let sql = format!(
        "INSERT INTO wishlist (customer_id, name, visibility, share_key, is_default, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, {}, $5, $5) ON CONFLICT DO NOTHING RETURNING id",
        if is_default { "TRUE" } else { "FALSE" }
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer_id)
        .bind(name)
        .bind(visibility.as_str())
        .bind(new_key())
        .bind(&now)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

/// A new list for the customer (a default one if they have no default yet).
pub async fn create(
    db: &Db,
    limits: Limits,
    customer_id: i64,
    name: &str,
    visibility: Visibility,
) -> Result<i64, WishlistError> {
    let name = clean_name(name)?;
    let mut tx = db.begin_write().await?;
    let has_default: bool =
        sqlx::query("SELECT COUNT(*) FROM wishlist WHERE customer_id = $1 AND is_default = TRUE")
            .bind(customer_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>(0)?
            > 0;
    // A race for the default loses to the unique index and becomes an ordinary list.
    let id = match insert_list(&mut tx, customer_id, &name, visibility, !has_default).await? {
        Some(id) => id,
        None => insert_list(&mut tx, customer_id, &name, visibility, false)
            .await?
            .ok_or_else(|| sqlx::Error::Protocol("a new share key collided".into()))?,
    };
    check_limits(&mut tx, customer_id, limits).await?;
    tx.commit().await?;
    Ok(id)
}

/// Renames a list and sets who may see it; `new_link` replaces its share key, so the old
/// link stops working.
pub async fn update(
    db: &Db,
    customer_id: i64,
    list_id: i64,
    name: &str,
    visibility: Visibility,
    new_link: bool,
) -> Result<(), WishlistError> {
    let name = clean_name(name)?;
    let mut tx = db.begin_write().await?;
    // A new key only when asked: the old link must keep working otherwise.
    let key_sql = if new_link { ", share_key = $6" } else { "" };
    let sql = format!(
        "UPDATE wishlist SET name = $1, visibility = $2, updated_at = $3{key_sql} \
         WHERE id = $4 AND customer_id = $5"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&name)
        .bind(visibility.as_str())
        .bind(now_text())
        .bind(list_id)
        .bind(customer_id);
    if new_link {
        query = query.bind(new_key());
    }
    let done = query.execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Err(WishlistError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes a list and its lines. If it was the default, the oldest remaining list becomes
/// the default (so "add to wishlist" keeps going where the customer expects).
pub async fn delete(db: &Db, customer_id: i64, list_id: i64) -> Result<String, WishlistError> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "DELETE FROM wishlist WHERE id = $1 AND customer_id = $2 RETURNING name, is_default",
    )
    .bind(list_id)
    .bind(customer_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(WishlistError::NotFound)?;
    let name: String = row.try_get("name")?;
    if flag(&row, "is_default")? {
        sqlx::query(
            "UPDATE wishlist SET is_default = TRUE WHERE id = \
             (SELECT MIN(id) FROM wishlist WHERE customer_id = $1)",
        )
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(name)
}

/// What adding a product did.
#[derive(Debug, Clone)]
pub struct AddedToList {
    pub list_id: i64,
    pub list_name: String,
    pub title: String,
    /// The product's page, to go back to.
    pub url: String,
    /// Units on the line now.
    pub quantity: i64,
}

/// Adds `quantity` of a public product to one of the customer's lists, or (`list_id` None)
/// to their default list, created on first use. A product already on the list adds up.
pub async fn add_product(
    db: &Db,
    limits: Limits,
    customer_id: i64,
    list_id: Option<i64>,
    product_id: i64,
    quantity: i64,
) -> Result<AddedToList, WishlistError> {
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(WishlistError::Invalid(format!(
            "The quantity must be a whole number from 1 to {MAX_QUANTITY}."
        )));
    }
    let product = basket::products(&db.pool, &[product_id])
        .await?
        .remove(&product_id)
        .ok_or(WishlistError::NotFound)?;
    let mut tx = db.begin_write().await?;
    let list_id = match list_id {
        Some(id) => id,
        None => {
            insert_list(
                &mut tx,
                customer_id,
                DEFAULT_NAME,
                Visibility::Private,
                true,
            )
            .await?;
            sqlx::query("SELECT id FROM wishlist WHERE customer_id = $1 AND is_default = TRUE")
                .bind(customer_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?
        }
    };
    let list_name: String =
        sqlx::query("SELECT name FROM wishlist WHERE id = $1 AND customer_id = $2")
            .bind(list_id)
            .bind(customer_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(WishlistError::NotFound)?
            .try_get(0)?;
    let now = now_text();
    let row = sqlx::query(
        "INSERT INTO wishlist_line (wishlist_id, product_id, title, quantity, added_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (wishlist_id, product_id) DO UPDATE SET \
           quantity = CASE WHEN wishlist_line.quantity + excluded.quantity > $6 THEN $6 \
                           ELSE wishlist_line.quantity + excluded.quantity END, \
           title = excluded.title \
         RETURNING quantity",
    )
    .bind(list_id)
    .bind(product.id)
    .bind(&product.title)
    .bind(quantity)
    .bind(&now)
    .bind(MAX_QUANTITY)
    .fetch_one(&mut *tx)
    .await?;
    let quantity: i64 = row.try_get(0)?;
    touch(&mut tx, list_id).await?;
    check_limits(&mut tx, customer_id, limits).await?;
    tx.commit().await?;
    Ok(AddedToList {
        list_id,
        list_name,
        title: product.title,
        url: product.url,
        quantity,
    })
}

async fn touch(tx: &mut Transaction<'_, Any>, list_id: i64) -> Result<(), WishlistError> {
    sqlx::query("UPDATE wishlist SET updated_at = $1 WHERE id = $2")
        .bind(now_text())
        .bind(list_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A line of one of the customer's lists: (product id, title, quantity).
async fn owned_line(
    conn: &mut sqlx::AnyConnection,
    customer_id: i64,
    list_id: i64,
    line_id: i64,
) -> Result<(Option<i64>, String, i64), WishlistError> {
    let row = sqlx::query(
        "SELECT l.product_id, l.title, l.quantity FROM wishlist_line l \
         JOIN wishlist w ON w.id = l.wishlist_id \
         WHERE l.id = $1 AND l.wishlist_id = $2 AND w.customer_id = $3",
    )
    .bind(line_id)
    .bind(list_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await?
    .ok_or(WishlistError::NotFound)?;
    Ok((
        row.try_get("product_id")?,
        row.try_get("title")?,
        row.try_get("quantity")?,
    ))
}

/// Removes a line from one of the customer's lists; returns its title.
pub async fn remove_line(
    db: &Db,
    customer_id: i64,
    list_id: i64,
    line_id: i64,
) -> Result<String, WishlistError> {
    let mut tx = db.begin_write().await?;
    let (_, title, _) = owned_line(&mut tx, customer_id, list_id, line_id).await?;
    sqlx::query("DELETE FROM wishlist_line WHERE id = $1")
        .bind(line_id)
        .execute(&mut *tx)
        .await?;
    touch(&mut tx, list_id).await?;
    tx.commit().await?;
    Ok(title)
}

/// Moves a line to another of the customer's lists (adding up with the same product there);
/// returns the line's title and the target list's name.
pub async fn move_line(
    db: &Db,
    customer_id: i64,
    list_id: i64,
    line_id: i64,
    to_list: i64,
) -> Result<(String, String), WishlistError> {
    let mut tx = db.begin_write().await?;
    let (product_id, title, quantity) = owned_line(&mut tx, customer_id, list_id, line_id).await?;
    let target: String =
        sqlx::query("SELECT name FROM wishlist WHERE id = $1 AND customer_id = $2")
            .bind(to_list)
            .bind(customer_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(WishlistError::NotFound)?
            .try_get(0)?;
    if to_list == list_id {
        return Ok((title, target));
    }
    let merged = match product_id {
        Some(product_id) => sqlx::query(
            "UPDATE wishlist_line SET quantity = CASE WHEN quantity + $1 > $2 THEN $2 \
             ELSE quantity + $1 END WHERE wishlist_id = $3 AND product_id = $4",
        )
        .bind(quantity)
        .bind(MAX_QUANTITY)
        .bind(to_list)
        .bind(product_id)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        None => 0,
    };
    if merged > 0 {
        sqlx::query("DELETE FROM wishlist_line WHERE id = $1")
            .bind(line_id)
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query("UPDATE wishlist_line SET wishlist_id = $1 WHERE id = $2")
            .bind(to_list)
            .bind(line_id)
            .execute(&mut *tx)
            .await?;
    }
    touch(&mut tx, list_id).await?;
    touch(&mut tx, to_list).await?;
    tx.commit().await?;
    Ok((title, target))
}

/// What moving a line into the basket did.
#[derive(Debug)]
pub enum MovedToBasket {
    /// In the basket, and off the list.
    Moved {
        product_id: i64,
        title: String,
        quantity: i64,
    },
    /// The basket refused it (gone, unavailable, out of stock, options to choose, limits);
    /// the line stays on the list.
    Refused { message: String },
}

/// Moves a line of one of the customer's lists into their basket through the basket's own
/// add (its availability, stock and limit checks); only a line the basket took leaves the
/// list.
pub async fn move_to_basket(
    baskets: &Baskets<'_>,
    customer_id: i64,
    list_id: i64,
    line_id: i64,
) -> Result<MovedToBasket, WishlistError> {
    let db = baskets.pricer.db;
    let (product_id, title, quantity) = {
        let mut conn = db.pool.acquire().await?;
        owned_line(&mut conn, customer_id, list_id, line_id).await?
    };
    let gone = || MovedToBasket::Refused {
        message: format!("Sorry, “{title}” is no longer sold."),
    };
    let Some(product_id) = product_id else {
        return Ok(gone());
    };
    let fields = std::collections::HashMap::new();
    let added = match baskets
        .add(Owner::Customer(customer_id), product_id, &fields, quantity)
        .await
    {
        Ok(added) => added,
        Err(BasketError::NotFound) => return Ok(gone()),
        Err(BasketError::Invalid(message)) => return Ok(MovedToBasket::Refused { message }),
        Err(e) => return Err(e.into()),
    };
    match added {
        Added::Added { line, .. } => {
            // The basket committed; the line leaves the list in a transaction of its own (if
            // that fails the product is in both, which loses nothing).
            let mut tx = db.begin_write().await?;
            sqlx::query(
                "DELETE FROM wishlist_line WHERE id = $1 AND wishlist_id IN \
                 (SELECT id FROM wishlist WHERE id = $2 AND customer_id = $3)",
            )
            .bind(line_id)
            .bind(list_id)
            .bind(customer_id)
            .execute(&mut *tx)
            .await?;
            touch(&mut tx, list_id).await?;
            tx.commit().await?;
            Ok(MovedToBasket::Moved {
                product_id,
                title: line.product.title,
                quantity,
            })
        }
        Added::Refused { message, .. } => Ok(MovedToBasket::Refused { message }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_trimmed_line() {
        assert_eq!(clean_name("  Birthday ").unwrap(), "Birthday");
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(clean_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(clean_name("two\nlines").is_err());
    }

    #[test]
    fn keys_are_random_hex() {
        let (a, b) = (new_key(), new_key());
        assert!(valid_key(&a) && valid_key(&b) && a != b);
        assert!(!valid_key("1") && !valid_key(&"g".repeat(32)));
    }

    #[test]
    fn visibilities_round_trip() {
        for v in Visibility::ALL {
            assert_eq!(Visibility::parse(v.as_str()), Some(v));
        }
        assert_eq!(Visibility::parse("secret"), None);
    }
}
