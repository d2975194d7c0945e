//! A product's images as staff manage them (the files live in the media store, `crate::media`): upload, caption, reorder, delete. Each write is
//! one transaction with its audit entry, announced as a catalogue change afterwards so the
//! storefront shows it at once. A partner user reaches only the products with a stock record
//! of one of their partners (a parent through its children's records); any other product is
//! not found, in the query itself.

use bytes::Bytes;
use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::audit::{self, Actor};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::Db;
use crate::media::{MediaError, MediaStore, Refusal, ThumbnailSize, UploadError, url_of};
use crate::staff::Staff;

/// Longest caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Media(#[from] MediaError),
    /// No such product or image within the user's scope.
    #[error("not found")]
    NotFound,
    /// The upload is not an image we keep; the message is for the person uploading.
    #[error("{0}")]
    Refused(Refusal),
    #[error("Keep the caption to {MAX_CAPTION_CHARS} characters.")]
    CaptionTooLong,
    /// Categories are the shop's: a partner user may not change their images.
    #[error("The category tree is the shop's: ask a catalogue manager to change it.")]
    ShopWide,
}

impl From<UploadError> for ImageError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Refused(r) => ImageError::Refused(r),
            UploadError::Media(m) => ImageError::Media(m),
        }
    }
}

/// The product whose images these are.
#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProductImage {
    pub id: i64,
    pub product_id: i64,
    /// Its name in the media store.
    pub original: String,
    pub url: String,
    pub caption: String,
    pub display_order: i64,
    pub width: i64,
    pub height: i64,
}

/// Up or down the product's list of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// `AND …` limiting `p` (a product) to those with a stock record of the partners in `scope`.
fn scope_sql(scope: Option<&[i64]>) -> String {
    match scope {
        None => String::new(),
        // Partner ids are integers read from the database.
        Some(ids) => format!(
            " AND EXISTS (SELECT 1 FROM stock_record sr WHERE sr.partner_id IN ({}) \
             AND (sr.product_id = p.id OR sr.product_id IN (SELECT c.id FROM product c WHERE c.parent_id = p.id)))",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn image_from(row: &sqlx::any::AnyRow) -> Result<ProductImage, sqlx::Error> {
    let original: String = row.try_get("original")?;
    Ok(ProductImage {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        url: url_of(&original),
        original,
        caption: row.try_get("caption")?,
        display_order: row.try_get("display_order")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
    })
}

const IMAGE_COLUMNS: &str =
    "i.id, i.product_id, i.original, i.caption, i.display_order, i.width, i.height";

async fn product_in<'e, E>(db: E, scope: Option<&[i64]>, id: i64) -> Result<Product, ImageError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let sql = format!(
        "SELECT p.id, p.title FROM product p WHERE p.id = $1{}",
        scope_sql(scope)
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(ImageError::NotFound)?;
    Ok(Product {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
    })
}

async fn images_in<'e, E>(db: E, product_id: i64) -> Result<Vec<ProductImage>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let sql = format!(
        "SELECT {IMAGE_COLUMNS} FROM product_image i WHERE i.product_id = $1 \
         ORDER BY i.display_order, i.id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(product_id)
        .fetch_all(db)
        .await?
        .iter()
        .map(image_from)
        .collect()
}

/// The product (within `scope`) and its images in display order.
pub async fn list(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    product_id: i64,
) -> Result<(Product, Vec<ProductImage>), ImageError> {
    let product = product_in(pool, scope, product_id).await?;
    let images = images_in(pool, product_id).await?;
    Ok((product, images))
}

/// The image `image_id` of `product_id` (within `scope`), inside `tx`.
async fn image_in(
    tx: &mut Transaction<'static, Any>,
    scope: Option<&[i64]>,
    product_id: i64,
    image_id: i64,
) -> Result<ProductImage, ImageError> {
    product_in(&mut **tx, scope, product_id).await?;
    let sql = format!(
        "SELECT {IMAGE_COLUMNS} FROM product_image i WHERE i.id = $1 AND i.product_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(image_id)
        .bind(product_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ImageError::NotFound)?;
    Ok(image_from(&row)?)
}

fn check_caption(caption: &str) -> Result<&str, ImageError> {
    let caption = caption.trim();
    if caption.chars().count() > MAX_CAPTION_CHARS {
        return Err(ImageError::CaptionTooLong);
    }
    Ok(caption)
}

fn snapshot(image: &ProductImage) -> String {
    audit::json(&serde_json::json!({
        "product_id": image.product_id,
        "original": image.original,
        "caption": image.caption,
        "display_order": image.display_order,
        "width": image.width,
        "height": image.height,
    }))
}

/// Checks and stores `bytes`, then adds it as the product's last image with `caption`.
/// Nothing is stored or recorded when the file is refused or the product is out of reach.
pub async fn upload(
    db: &Db,
    changes: &Changes,
    media: &MediaStore,
    staff: &Staff,
    product_id: i64,
    bytes: Bytes,
    caption: &str,
) -> Result<ProductImage, ImageError> {
    let caption = check_caption(caption)?;
    // Out of reach: refused before the file is looked at, let alone stored.
    product_in(&db.pool, staff.partner_scope(), product_id).await?;
    let stored = media.store_upload(bytes).await?;
    let mut tx = db.begin_write().await?;
    product_in(&mut *tx, staff.partner_scope(), product_id).await?;
    let next: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(display_order) + 1, 0) AS BIGINT) FROM product_image \
         WHERE product_id = $1",
    )
    .bind(product_id)
    .fetch_one(&mut *tx)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO product_image (product_id, original, caption, display_order, width, height) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(product_id)
    .bind(&stored.name)
    .bind(caption)
    .bind(next)
    .bind(i64::from(stored.width))
    .bind(i64::from(stored.height))
    .fetch_one(&mut *tx)
    .await?;
    let image = ProductImage {
        id,
        product_id,
        url: url_of(&stored.name),
        original: stored.name,
        caption: caption.to_owned(),
        display_order: next,
        width: i64::from(stored.width),
        height: i64::from(stored.height),
    };
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_image.add",
        "product_image",
        &id.to_string(),
        None,
        Some(&snapshot(&image)),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(image)
}

/// Sets an image's caption (trimmed; empty for none).
pub async fn set_caption(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    product_id: i64,
    image_id: i64,
    caption: &str,
) -> Result<ProductImage, ImageError> {
    let caption = check_caption(caption)?;
    let mut tx = db.begin_write().await?;
    let before = image_in(&mut tx, staff.partner_scope(), product_id, image_id).await?;
    sqlx::query("UPDATE product_image SET caption = $1 WHERE id = $2")
        .bind(caption)
        .bind(image_id)
        .execute(&mut *tx)
        .await?;
    let after = ProductImage {
        caption: caption.to_owned(),
        ..before.clone()
    };
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_image.caption",
        "product_image",
        &image_id.to_string(),
        Some(&snapshot(&before)),
        Some(&snapshot(&after)),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(after)
}

/// Moves an image one place up or down its product's list (the first stays first when moved
/// up, the last last when moved down). The list is renumbered 0, 1, 2, … as it goes.
pub async fn move_image(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    product_id: i64,
    image_id: i64,
    direction: Direction,
) -> Result<Vec<ProductImage>, ImageError> {
    let mut tx = db.begin_write().await?;
    image_in(&mut tx, staff.partner_scope(), product_id, image_id).await?;
    let mut images = images_in(&mut *tx, product_id).await?;
    let before: Vec<i64> = images.iter().map(|i| i.id).collect();
    let at = before
        .iter()
        .position(|id| *id == image_id)
        .ok_or(ImageError::NotFound)?;
    let to = match direction {
        Direction::Up => at.saturating_sub(1),
        Direction::Down => (at + 1).min(images.len() - 1),
    };
    images.swap(at, to);
    for (position, image) in images.iter_mut().enumerate() {
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        if image.display_order != position {
            sqlx::query("UPDATE product_image SET display_order = $1 WHERE id = $2")
                .bind(position)
                .bind(image.id)
                .execute(&mut *tx)
                .await?;
            image.display_order = position;
        }
    }
    let after: Vec<i64> = images.iter().map(|i| i.id).collect();
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_image.move",
        "product",
        &product_id.to_string(),
        Some(&audit::json(&serde_json::json!({ "image_order": before }))),
        Some(&audit::json(&serde_json::json!({ "image_order": after }))),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(images)
}

/// Deletes an image. Its file (and thumbnails in `sizes`) leave the store too once no other
/// image uses the same file.
pub async fn delete(
    db: &Db,
    changes: &Changes,
    media: &MediaStore,
    sizes: &[ThumbnailSize],
    staff: &Staff,
    product_id: i64,
    image_id: i64,
) -> Result<ProductImage, ImageError> {
    let mut tx = db.begin_write().await?;
    let image = image_in(&mut tx, staff.partner_scope(), product_id, image_id).await?;
    sqlx::query("DELETE FROM product_image WHERE id = $1")
        .bind(image_id)
        .execute(&mut *tx)
        .await?;
    // A category's image may be the very same file (uploads are named by their content).
    let still_used = super::category_images::file_in_use(&mut tx, &image.original).await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_image.delete",
        "product_image",
        &image_id.to_string(),
        Some(&snapshot(&image)),
        None,
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    // After the commit, so a file is never missing for an image that still exists.
    if !still_used && image.original.starts_with(crate::media::IMAGES_PREFIX) {
        media.remove_image(&image.original, sizes).await;
    }
    Ok(image)
}
