//! Product reviews (Oscar's reviews app): a score from 1 to 5 with a title and text, written
//! by customers (and by guests when the shop allows anonymous reviews), moderated by staff
//! (pending → approved or rejected), voted helpful or not by other customers.
//!
//! Reviews belong to the product a listing shows: a standalone or parent product (a variant's
//! page shows and takes its parent's reviews). Only approved reviews are shown and counted.
//! The product's rating is kept as two whole numbers on the product row (`rating_count`,
//! `rating_sum`; no floats), so listings can show and sort by it without counting reviews.
//! Every change that can move it recounts it from the reviews, in the change's transaction,
//! so it never drifts from what is shown.
//!
//! Ownership is part of every customer query: a review is looked up by its id *and* its
//! author, so another customer's id is simply not found.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::audit::{self, Actor};
use crate::infra::db::{Db, flag, now_text, placeholders};

pub const MAX_NAME_CHARS: usize = 60;
pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_BODY_CHARS: usize = 5000;
/// Reviews per page of a product's review list and of the moderation queue.
pub const PAGE_SIZE: i64 = 20;
/// Reviews on the product page itself (the most helpful ones).
pub const ON_PRODUCT_PAGE: i64 = 5;

pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The shop's review rules (settings `reviews_anonymous`, `reviews_moderated`).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Guests may review, giving a name and an email address (their reviews always wait
    /// for a moderator).
    pub anonymous: bool,
    /// Customers' reviews wait for a moderator too; off: they are shown at once.
    pub moderated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Approved, Status::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "Waiting for moderation",
            Status::Approved => "Approved",
            Status::Rejected => "Rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A product's rating: how many approved reviews and their scores added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rating {
    pub count: i64,
    pub sum: i64,
}

impl Rating {
    /// The average in tenths, rounded half up (`43` for 4.3); `None` without reviews.
    pub fn average_tenths(self) -> Option<i64> {
        (self.count > 0).then(|| (self.sum * 20 + self.count) / (self.count * 2))
    }

    /// What templates get: `{count, average: "4.3", stars: 4, percent: 86}` (percent of
    /// five stars, for a filled bar), or none without reviews.
    pub fn view(self) -> Option<RatingView> {
        let tenths = self.average_tenths()?;
        Some(RatingView {
            count: self.count,
            average: format!("{}.{}", tenths / 10, tenths % 10),
            stars: (tenths + 5) / 10,
            percent: tenths * 2,
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RatingView {
    pub count: i64,
    pub average: String,
    pub stars: i64,
    pub percent: i64,
}

/// What someone typed into the review form, trimmed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Draft {
    pub score: String,
    pub title: String,
    pub body: String,
    pub name: String,
    /// A guest's address (ignored for customers).
    pub email: String,
}

/// A draft that passed the form's rules.
#[derive(Debug, Clone)]
pub struct Checked {
    pub score: i64,
    pub title: String,
    pub body: String,
    pub name: String,
    pub email: Option<String>,
}

impl Draft {
    pub fn from_fields(fields: &std::collections::HashMap<String, String>) -> Draft {
        let get = |k: &str| {
            fields
                .get(k)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Draft {
            score: get("score"),
            title: get("title"),
            body: get("body"),
            name: get("name"),
            email: get("email"),
        }
    }

    /// The draft checked for a customer (`guest` false) or a guest, or a message per field.
    pub fn check(&self, guest: bool) -> Result<Checked, FieldErrors> {
        let mut errors = FieldErrors::new();
        let score = self
            .score
            .parse::<i64>()
            .ok()
            .filter(|s| (1..=5).contains(s));
        if score.is_none() {
            errors.insert("score".into(), "Choose a score from 1 to 5 stars.".into());
        }
        let mut text = |field: &str, value: &str, max: usize, what: &str| {
            if value.is_empty() {
                errors.insert(field.into(), format!("Please write {what}."));
            } else if value.chars().count() > max {
                errors.insert(
                    field.into(),
                    format!("Please keep {what} to {max} characters."),
                );
            }
        };
        text("title", &self.title, MAX_TITLE_CHARS, "a title");
        text("body", &self.body, MAX_BODY_CHARS, "your review");
        text("name", &self.name, MAX_NAME_CHARS, "the name to show");
        let email = if guest {
            if let Some(problem) = crate::customer::email_problem(&self.email) {
                errors.insert("email".into(), problem.to_owned());
            }
            Some(crate::customer::normalize_email(&self.email))
        } else {
            None
        };
        match score {
            Some(score) if errors.is_empty() => Ok(Checked {
                score,
                title: self.title.clone(),
                body: self.body.clone(),
                name: self.name.clone(),
                email,
            }),
            _ => Err(errors),
        }
    }
}

/// A product reviews can be written for.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewedProduct {
    pub id: i64,
    pub title: String,
    pub url: String,
}

/// The product whose reviews `product_id`'s page shows: itself, or its parent for a variant;
/// `None` when it is not public.
pub async fn reviewed_product(
    pool: &AnyPool,
    product_id: i64,
) -> Result<Option<ReviewedProduct>, ReviewError> {
    let row = sqlx::query(
        "SELECT r.id, r.title, r.slug FROM product p \
         JOIN product r ON r.id = COALESCE(p.parent_id, p.id) \
         WHERE p.id = $1 AND p.is_public = TRUE AND r.is_public = TRUE",
    )
    .bind(product_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let slug: String = row.try_get("slug")?;
    let id: i64 = row.try_get("id")?;
    Ok(Some(ReviewedProduct {
        id,
        title: row.try_get("title")?,
        url: crate::catalogue::product_url(&slug, id),
    }))
}

/// What writing a review did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Shown now.
    Published,
    /// Waiting for a moderator.
    AwaitingModeration,
    /// The customer has reviewed this product already (that review's id).
    AlreadyReviewed(i64),
}

/// Who is writing.
#[derive(Debug, Clone, Copy)]
pub enum Author {
    Customer(i64),
    Guest,
}

/// Writes a review of `product` (a [`reviewed_product`]). A customer writes one per
/// product; the database's unique index settles two at once.
pub async fn write(
    db: &Db,
    rules: Rules,
    product: i64,
    author: Author,
    review: &Checked,
) -> Result<Written, ReviewError> {
    let mut tx = db.begin_write().await?;
    let (customer, email) = match author {
        Author::Customer(id) => {
            if let Some(existing) = own_review_of(&mut tx, id, product).await? {
                return Ok(Written::AlreadyReviewed(existing));
            }
            (Some(id), None)
        }
        Author::Guest => (None, review.email.clone()),
    };
    let verified = match customer {
        Some(id) => bought(&mut tx, id, product).await?,
        None => false,
    };
    let status = if customer.is_some() && !rules.moderated {
        Status::Approved
    } else {
        Status::Pending
    };
    let now = now_text();
    let inserted = sqlx::query(
        "INSERT INTO product_review (product_id, customer_id, guest_email, name, score, title, \
         body, status, verified_purchase, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(product)
    .bind(customer)
    .bind(email)
    .bind(&review.name)
    .bind(review.score)
    .bind(&review.title)
    .bind(&review.body)
    .bind(status.as_str())
    .bind(verified)
    .bind(&now)
    .execute(&mut *tx)
    .await;
    if let Err(error) = inserted {
        if let (Some(db_error), Some(id)) = (error.as_database_error(), customer)
            && db_error.is_unique_violation()
        {
            drop(tx);
            let mut conn = db.pool.acquire().await?;
            let existing = sqlx::query_scalar::<_, i64>(
                "SELECT id FROM product_review WHERE customer_id = $1 AND product_id = $2",
            )
            .bind(id)
            .bind(product)
            .fetch_one(&mut *conn)
            .await?;
            return Ok(Written::AlreadyReviewed(existing));
        }
        return Err(error.into());
    }
    if status == Status::Approved {
        recount(&mut tx, &[product]).await?;
    }
    tx.commit().await?;
    Ok(match status {
        Status::Approved => Written::Published,
        _ => Written::AwaitingModeration,
    })
}

async fn own_review_of(
    tx: &mut Transaction<'_, Any>,
    customer: i64,
    product: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "SELECT id FROM product_review WHERE customer_id = $1 AND product_id = $2",
    )
    .bind(customer)
    .bind(product)
    .fetch_optional(&mut **tx)
    .await
}

/// Whether an order of `customer` has `product` or one of its variants.
async fn bought(
    tx: &mut Transaction<'_, Any>,
    customer: i64,
    product: i64,
) -> Result<bool, sqlx::Error> {
    let found = sqlx::query(
        "SELECT 1 FROM order_line l JOIN shop_order o ON o.id = l.order_id \
         JOIN product p ON p.id = l.product_id \
         WHERE o.customer_id = $1 AND (p.id = $2 OR p.parent_id = $2) LIMIT 1",
    )
    .bind(customer)
    .bind(product)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}

/// Sets the rating of `products` from their approved reviews.
async fn recount(tx: &mut Transaction<'_, Any>, products: &[i64]) -> Result<(), sqlx::Error> {
    for product in products {
        sqlx::query(
            "UPDATE product SET \
             rating_count = (SELECT COUNT(*) FROM product_review r \
                             WHERE r.product_id = product.id AND r.status = 'approved'), \
             rating_sum = (SELECT COALESCE(SUM(r.score), 0) FROM product_review r \
                           WHERE r.product_id = product.id AND r.status = 'approved') \
             WHERE id = $1",
        )
        .bind(product)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One review as pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub id: i64,
    pub product_id: i64,
    pub name: String,
    pub score: i64,
    pub title: String,
    pub body: String,
    pub status: Status,
    pub status_label: &'static str,
    pub verified_purchase: bool,
    pub helpful_count: i64,
    pub unhelpful_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

const REVIEW_COLUMNS: &str = "r.id, r.product_id, r.name, CAST(r.score AS BIGINT) AS score, r.title, r.body, r.status, \
     r.verified_purchase, r.helpful_count, r.unhelpful_count, r.created_at, r.updated_at";

fn review_row(row: &AnyRow) -> Result<Review, sqlx::Error> {
    let status = Status::parse(&row.try_get::<String, _>("status")?).unwrap_or(Status::Pending);
    Ok(Review {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        name: row.try_get("name")?,
        score: row.try_get("score")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        status,
        status_label: status.label(),
        verified_purchase: flag(row, "verified_purchase")?,
        helpful_count: row.try_get("helpful_count")?,
        unhelpful_count: row.try_get("unhelpful_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// How a product's reviews are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Helpful,
    Recent,
    ScoreHigh,
    ScoreLow,
}

impl Order {
    pub const ALL: [Order; 4] = [
        Order::Helpful,
        Order::Recent,
        Order::ScoreHigh,
        Order::ScoreLow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Order::Helpful => "helpful",
            Order::Recent => "recent",
            Order::ScoreHigh => "score-high",
            Order::ScoreLow => "score-low",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Order::Helpful => "Most helpful",
            Order::Recent => "Most recent",
            Order::ScoreHigh => "Highest score",
            Order::ScoreLow => "Lowest score",
        }
    }

    pub fn parse(s: &str) -> Option<Order> {
        Order::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// A fixed fragment per order: nothing typed reaches ORDER BY.
    fn sql(self) -> &'static str {
        match self {
            Order::Helpful => {
                "(r.helpful_count - r.unhelpful_count) DESC, r.helpful_count DESC, r.id DESC"
            }
            Order::Recent => "r.created_at DESC, r.id DESC",
            Order::ScoreHigh => "r.score DESC, r.created_at DESC, r.id DESC",
            Order::ScoreLow => "r.score, r.created_at DESC, r.id DESC",
        }
    }
}

/// A product's rating and how many approved reviews gave each score (5 first).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub rating: Option<RatingView>,
    pub count: i64,
    pub by_score: Vec<ScoreShare>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreShare {
    pub score: i64,
    pub count: i64,
    /// Of all approved reviews, in whole percent.
    pub percent: i64,
}

pub async fn summary(pool: &AnyPool, product: i64) -> Result<Summary, ReviewError> {
    let rows = sqlx::query(
        "SELECT CAST(score AS BIGINT) AS score, COUNT(*) AS n FROM product_review \
         WHERE product_id = $1 AND status = 'approved' GROUP BY score",
    )
    .bind(product)
    .fetch_all(pool)
    .await?;
    let mut counts = [0i64; 6];
    for row in &rows {
        let score: i64 = row.try_get("score")?;
        if let Some(slot) = usize::try_from(score).ok().and_then(|s| counts.get_mut(s)) {
            *slot = row.try_get("n")?;
        }
    }
    let rating = Rating {
        count: counts.iter().sum(),
        sum: counts.iter().enumerate().map(|(s, n)| s as i64 * n).sum(),
    };
    let by_score = (1..=5)
        .rev()
        .map(|score| {
            let count = counts[score as usize];
            ScoreShare {
                score,
                count,
                percent: if rating.count == 0 {
                    0
                } else {
                    count * 100 / rating.count
                },
            }
        })
        .collect();
    Ok(Summary {
        rating: rating.view(),
        count: rating.count,
        by_score,
    })
}

/// One page of a product's approved reviews (and how many there are).
pub async fn approved(
    pool: &AnyPool,
    product: i64,
    order: Order,
    limit: i64,
    offset: i64,
) -> Result<Vec<Review>, ReviewError> {
    let sql = format!(
        "SELECT {REVIEW_COLUMNS} FROM product_review r \
         WHERE r.product_id = $1 AND r.status = 'approved' ORDER BY {} LIMIT $2 OFFSET $3",
        order.sql()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(product)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(review_row).collect::<Result<_, _>>()?)
}

/// A customer's review with its product.
#[derive(Debug, Clone, Serialize)]
pub struct OwnReview {
    #[serde(flatten)]
    pub review: Review,
    pub product_title: String,
    pub product_url: String,
}

/// The product columns [`own_row`] reads, and the tables they come from.
const OWN_FROM: &str = "p.title AS product_title, p.slug AS product_slug \
     FROM product_review r JOIN product p ON p.id = r.product_id";

fn own_row(row: &AnyRow) -> Result<OwnReview, sqlx::Error> {
    let slug: String = row.try_get("product_slug")?;
    let review = review_row(row)?;
    Ok(OwnReview {
        product_url: crate::catalogue::product_url(&slug, review.product_id),
        product_title: row.try_get("product_title")?,
        review,
    })
}

/// Every review `customer` wrote, newest first.
pub async fn for_customer(pool: &AnyPool, customer: i64) -> Result<Vec<OwnReview>, ReviewError> {
    let sql = format!(
        "SELECT {REVIEW_COLUMNS}, {OWN_FROM} WHERE r.customer_id = $1 \
         ORDER BY r.created_at DESC, r.id DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(own_row).collect::<Result<_, _>>()?)
}

/// Review `id` if `customer` wrote it.
pub async fn own(pool: &AnyPool, customer: i64, id: i64) -> Result<Option<OwnReview>, ReviewError> {
    let sql = format!("SELECT {REVIEW_COLUMNS}, {OWN_FROM} WHERE r.id = $1 AND r.customer_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(customer)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(own_row).transpose()?)
}

/// What editing or deleting one's own review did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// Done; the product's rating may have moved (that product's id).
    Done {
        product: i64,
        status: Status,
    },
    NotFound,
}

/// Rewrites `customer`'s review `id`. In a moderated shop an edited review waits for a
/// moderator again (what was approved is not what is there now); its votes are for the old
/// text, so they go.
pub async fn update(
    db: &Db,
    rules: Rules,
    customer: i64,
    id: i64,
    review: &Checked,
) -> Result<Changed, ReviewError> {
    let mut tx = db.begin_write().await?;
    let Some(product) = sqlx::query_scalar::<_, i64>(
        "SELECT product_id FROM product_review WHERE id = $1 AND customer_id = $2",
    )
    .bind(id)
    .bind(customer)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(Changed::NotFound);
    };
    let status = if rules.moderated {
        Status::Pending
    } else {
        Status::Approved
    };
    sqlx::query(
        "UPDATE product_review SET name = $3, score = $4, title = $5, body = $6, status = $7, \
         helpful_count = 0, unhelpful_count = 0, updated_at = $8, moderated_at = NULL \
         WHERE id = $1 AND customer_id = $2",
    )
    .bind(id)
    .bind(customer)
    .bind(&review.name)
    .bind(review.score)
    .bind(&review.title)
    .bind(&review.body)
    .bind(status.as_str())
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM review_vote WHERE review_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    recount(&mut tx, &[product]).await?;
    tx.commit().await?;
    Ok(Changed::Done { product, status })
}

/// Deletes `customer`'s review `id`.
pub async fn delete(db: &Db, customer: i64, id: i64) -> Result<Changed, ReviewError> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT product_id, status FROM product_review WHERE id = $1 AND customer_id = $2",
    )
    .bind(id)
    .bind(customer)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Changed::NotFound);
    };
    let product: i64 = row.try_get("product_id")?;
    let status = Status::parse(&row.try_get::<String, _>("status")?).unwrap_or(Status::Pending);
    sqlx::query("DELETE FROM product_review WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    recount(&mut tx, &[product]).await?;
    tx.commit().await?;
    Ok(Changed::Done { product, status })
}

/// Removes `customer`'s reviews and votes inside an account's deletion, recounting the
/// ratings (and helpfulness) they were part of.
pub async fn forget_customer(
    tx: &mut Transaction<'_, Any>,
    customer: i64,
) -> Result<(), sqlx::Error> {
    let products: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT product_id FROM product_review WHERE customer_id = $1")
            .bind(customer)
            .fetch_all(&mut **tx)
            .await?;
    let voted: Vec<i64> =
        sqlx::query_scalar("SELECT review_id FROM review_vote WHERE customer_id = $1")
            .bind(customer)
            .fetch_all(&mut **tx)
            .await?;
    sqlx::query("DELETE FROM review_vote WHERE customer_id = $1")
        .bind(customer)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM product_review WHERE customer_id = $1")
        .bind(customer)
        .execute(&mut **tx)
        .await?;
    for review in voted {
        count_votes(tx, review).await?;
    }
    recount(tx, &products).await
}

/// What a helpfulness vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voted {
    /// Counted (or changed); the review's product.
    Counted { product: i64 },
    /// Authors don't vote on their own reviews.
    OwnReview { product: i64 },
    /// No approved review with that id.
    NotFound,
}

/// `customer` finds review `id` helpful or not; voting again replaces the vote.
pub async fn vote(db: &Db, customer: i64, id: i64, helpful: bool) -> Result<Voted, ReviewError> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT product_id, customer_id FROM product_review WHERE id = $1 AND status = 'approved'",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Voted::NotFound);
    };
    let product: i64 = row.try_get("product_id")?;
    if row.try_get::<Option<i64>, _>("customer_id")? == Some(customer) {
        return Ok(Voted::OwnReview { product });
    }
    sqlx::query(
        "INSERT INTO review_vote (review_id, customer_id, helpful, created_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (review_id, customer_id) DO UPDATE SET helpful = excluded.helpful",
    )
    .bind(id)
    .bind(customer)
    .bind(helpful)
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    count_votes(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Voted::Counted { product })
}

async fn count_votes(tx: &mut Transaction<'_, Any>, review: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE product_review SET \
         helpful_count = (SELECT COUNT(*) FROM review_vote v \
                          WHERE v.review_id = product_review.id AND v.helpful = TRUE), \
         unhelpful_count = (SELECT COUNT(*) FROM review_vote v \
                            WHERE v.review_id = product_review.id AND v.helpful = FALSE) \
         WHERE id = $1",
    )
    .bind(review)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The moderation queue's filter.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// `None`: every status.
    pub status: Option<Status>,
    pub score: Option<i64>,
    /// Words in the product title, the review's title or text, or the name.
    pub text: Option<String>,
}

/// A review as moderators see it: who wrote it too.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    #[serde(flatten)]
    pub review: Review,
    pub product_title: String,
    pub product_url: String,
    /// The customer's or guest's address.
    pub email: String,
    pub customer_id: Option<i64>,
    pub moderated_at: Option<String>,
}

/// One page of reviews for moderators, oldest waiting first; and how many match.
pub async fn queue(
    pool: &AnyPool,
    filter: &QueueFilter,
    page: i64,
) -> Result<(Vec<Queued>, i64), ReviewError> {
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut binds: Vec<String> = Vec::new();
    if let Some(status) = filter.status {
        binds.push(status.as_str().to_owned());
        conditions.push(format!("r.status = ${}", binds.len()));
    }
    if let Some(score) = filter.score {
        // A number checked by the caller (1 to 5), formatted, never a string typed.
        conditions.push(format!("r.score = {}", score.clamp(1, 5)));
    }
    if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
        binds.push(format!(
            "%{}%",
            crate::catalogue::like_literal(&text.to_lowercase())
        ));
        let n = binds.len();
        conditions.push(format!(
            "(LOWER(p.title) LIKE ${n} ESCAPE '\\' OR LOWER(r.title) LIKE ${n} ESCAPE '\\' \
             OR LOWER(r.body) LIKE ${n} ESCAPE '\\' OR LOWER(r.name) LIKE ${n} ESCAPE '\\')"
        ));
    }
    let from = format!(
        "FROM product_review r JOIN product p ON p.id = r.product_id \
         LEFT JOIN customer c ON c.id = r.customer_id WHERE {}",
        conditions.join(" AND ")
    );
    let mut count =
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {from}")));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total = count.fetch_one(pool).await?;
    let n = binds.len();
    let sql = format!(
        "SELECT {REVIEW_COLUMNS}, p.title AS product_title, p.slug AS product_slug, \
         COALESCE(c.email, r.guest_email, '') AS email, r.customer_id, r.moderated_at {from} \
         ORDER BY r.created_at, r.id LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = query.bind(b);
    }
    let rows = query
        .bind(PAGE_SIZE)
        .bind((page.max(1) - 1) * PAGE_SIZE)
        .fetch_all(pool)
        .await?;
    let listed = rows
        .iter()
        .map(|row| {
            let own = own_row(row)?;
            Ok(Queued {
                review: own.review,
                product_title: own.product_title,
                product_url: own.product_url,
                email: row.try_get("email")?,
                customer_id: row.try_get("customer_id")?,
                moderated_at: row.try_get("moderated_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((listed, total))
}

/// How many reviews wait for a moderator.
pub async fn pending_count(pool: &AnyPool) -> Result<i64, ReviewError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM product_review WHERE status = 'pending'")
            .fetch_one(pool)
            .await?,
    )
}

/// A moderator's decision on some reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    Delete,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "approve" => Some(Decision::Approve),
            "reject" => Some(Decision::Reject),
            "delete" => Some(Decision::Delete),
            _ => None,
        }
    }
}

/// Applies `decision` to reviews `ids`, with one audit entry per review changed, and
/// recounts the ratings of their products; returns those products (empty: nothing changed).
pub async fn moderate(
    db: &Db,
    actor: Actor<'_>,
    ids: &[i64],
    decision: Decision,
) -> Result<Vec<i64>, ReviewError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.begin_write().await?;
    let sql = format!(
        "SELECT {REVIEW_COLUMNS} FROM product_review r WHERE r.id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let found = query
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(review_row)
        .collect::<Result<Vec<_>, _>>()?;
    let now = now_text();
    let mut products = Vec::new();
    for review in &found {
        let before = audit::json(&review);
        let (action, after) = match decision {
            Decision::Delete => {
                sqlx::query("DELETE FROM product_review WHERE id = $1")
                    .bind(review.id)
                    .execute(&mut *tx)
                    .await?;
                ("review.delete", None)
            }
            Decision::Approve | Decision::Reject => {
                let (status, action) = if decision == Decision::Approve {
                    (Status::Approved, "review.approve")
                } else {
                    (Status::Rejected, "review.reject")
                };
                if status == review.status {
                    continue;
                }
                sqlx::query(
                    "UPDATE product_review SET status = $2, moderated_at = $3 WHERE id = $1",
                )
                .bind(review.id)
                .bind(status.as_str())
                .bind(&now)
                .execute(&mut *tx)
                .await?;
                let after = Review {
                    status,
                    status_label: status.label(),
                    ..review.clone()
                };
                (action, Some(audit::json(&after)))
            }
        };
        audit::record(
            &mut tx,
            actor,
            action,
            "review",
            &review.id.to_string(),
            Some(&before),
            after.as_deref(),
        )
        .await?;
        products.push(review.product_id);
    }
    products.sort_unstable();
    products.dedup();
    recount(&mut tx, &products).await?;
    tx.commit().await?;
    Ok(products)
}

/// The ratings of `products` (for listing cards).
pub fn rating_of(count: i64, sum: i64) -> Option<RatingView> {
    Rating { count, sum }.view()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_up_in_tenths() {
        assert_eq!(Rating { count: 0, sum: 0 }.average_tenths(), None);
        assert_eq!(Rating { count: 3, sum: 13 }.average_tenths(), Some(43));
        assert_eq!(Rating { count: 2, sum: 9 }.average_tenths(), Some(45));
        assert_eq!(Rating { count: 3, sum: 14 }.average_tenths(), Some(47));
        let view = Rating { count: 2, sum: 9 }.view().unwrap();
        assert_eq!(
            (view.average.as_str(), view.stars, view.percent),
            ("4.5", 5, 90)
        );
        let view = Rating { count: 7, sum: 7 }.view().unwrap();
        assert_eq!((view.average.as_str(), view.stars), ("1.0", 1));
    }

    #[test]
    fn a_draft_is_checked_field_by_field() {
        let draft = Draft {
            score: "6".into(),
            title: String::new(),
            body: "x".repeat(MAX_BODY_CHARS + 1),
            name: "Ann".into(),
            email: "nope".into(),
        };
        let errors = draft.check(true).unwrap_err();
        let fields: Vec<_> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["body", "email", "score", "title"]);
        let ok = Draft {
            score: "4".into(),
            title: "Warm".into(),
            body: "Very warm.".into(),
            name: "Ann".into(),
            email: "ignored".into(),
        };
        let checked = ok.check(false).unwrap();
        assert_eq!((checked.score, checked.email), (4, None));
    }
}
