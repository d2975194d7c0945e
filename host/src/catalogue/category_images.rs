//! A category's one image (table `category_image`, 0016): uploaded, replaced, captioned and
//! deleted from the dashboard, shown on the storefront's category page. The file goes through
//! the same [`MediaStore`] and checks as a product image's ([`MediaStore::store_upload`]), so
//! it is named by its content and its thumbnails come in the theme's sizes.
//!
//! The category tree is the shop's, so a partner user may look but not change it. Each write
//! is one transaction with its audit entry, announced as a catalogue change after it commits;
//! a file leaves the store (after the commit) only when no image of a product or a category
//! names it any more.

use bytes::Bytes;
use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::images::{ImageError, MAX_CAPTION_CHARS};
use crate::audit::{self, Actor};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, now_text};
use crate::media::{MediaStore, ThumbnailSize, url_of};
use crate::staff::Staff;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CategoryImage {
    pub category_id: i64,
    /// Its name in the media store.
    pub original: String,
    pub url: String,
    /// Its alt text and caption.
    pub caption: String,
    pub width: i64,
    pub height: i64,
}

/// The category a page is about.
#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub full_slug: String,
}

fn image_from(row: &sqlx::any::AnyRow) -> Result<CategoryImage, sqlx::Error> {
    let original: String = row.try_get("original")?;
    Ok(CategoryImage {
        category_id: row.try_get("category_id")?,
        url: url_of(&original),
        original,
        caption: row.try_get("caption")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
    })
}

async fn image_in<'e, E>(db: E, category_id: i64) -> Result<Option<CategoryImage>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query(
        "SELECT category_id, original, caption, width, height FROM category_image \
         WHERE category_id = $1",
    )
    .bind(category_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(image_from)
    .transpose()
}

/// Category `category_id`'s image, if it has one (the storefront's category page).
pub async fn find(pool: &AnyPool, category_id: i64) -> Result<Option<CategoryImage>, sqlx::Error> {
    image_in(pool, category_id).await
}

async fn category_in<'e, E>(db: E, id: i64) -> Result<Category, ImageError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row = sqlx::query("SELECT id, name, full_slug FROM category WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(ImageError::NotFound)?;
    Ok(Category {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        full_slug: row.try_get("full_slug")?,
    })
}

/// The category and its image (every staff user may look).
pub async fn show(
    pool: &AnyPool,
    category_id: i64,
) -> Result<(Category, Option<CategoryImage>), ImageError> {
    let category = category_in(pool, category_id).await?;
    Ok((category, image_in(pool, category_id).await?))
}

fn refuse_partners(staff: &Staff) -> Result<(), ImageError> {
    if staff.partner_scope().is_some() {
        return Err(ImageError::ShopWide);
    }
    Ok(())
}

fn check_caption(caption: &str) -> Result<&str, ImageError> {
    let caption = caption.trim();
    if caption.chars().count() > MAX_CAPTION_CHARS {
        return Err(ImageError::CaptionTooLong);
    }
    Ok(caption)
}

fn snapshot(image: &CategoryImage) -> String {
    audit::json(&serde_json::json!({
        "category_id": image.category_id,
        "original": image.original,
        "caption": image.caption,
        "width": image.width,
        "height": image.height,
    }))
}

/// Whether any product or category image still names the file `original`.
pub(crate) async fn file_in_use(
    tx: &mut Transaction<'static, Any>,
    original: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT CAST((SELECT COUNT(*) FROM product_image WHERE original = $1) + \
         (SELECT COUNT(*) FROM category_image WHERE original = $1) AS BIGINT)",
    )
    .bind(original)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

/// Removes `original` (and its thumbnails in `sizes`) from the store when it is an upload.
async fn forget_file(media: &MediaStore, sizes: &[ThumbnailSize], original: &str) {
    if original.starts_with(crate::media::IMAGES_PREFIX) {
        media.remove_image(original, sizes).await;
    }
}

/// Checks and stores `bytes` as the category's image with `caption`, replacing the one it
/// had (whose file leaves the store when nothing else uses it). Nothing is stored or
/// recorded when the file is refused or the user may not change categories.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    db: &Db,
    changes: &Changes,
    media: &MediaStore,
    sizes: &[ThumbnailSize],
    staff: &Staff,
    category_id: i64,
    bytes: Bytes,
    caption: &str,
) -> Result<CategoryImage, ImageError> {
    refuse_partners(staff)?;
    let caption = check_caption(caption)?;
    category_in(&db.pool, category_id).await?;
    let stored = media.store_upload(bytes).await?;
    let mut tx = db.begin_write().await?;
    category_in(&mut *tx, category_id).await?;
    let before = image_in(&mut *tx, category_id).await?;
    sqlx::query("DELETE FROM category_image WHERE category_id = $1")
        .bind(category_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO category_image (category_id, original, caption, width, height, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(category_id)
    .bind(&stored.name)
    .bind(caption)
    .bind(i64::from(stored.width))
    .bind(i64::from(stored.height))
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    let image = CategoryImage {
        category_id,
        url: url_of(&stored.name),
        original: stored.name,
        caption: caption.to_owned(),
        width: i64::from(stored.width),
        height: i64::from(stored.height),
    };
    audit::record(
        &mut tx,
        Actor::from(staff),
        if before.is_some() {
            "category_image.replace"
        } else {
            "category_image.add"
        },
        "category",
        &category_id.to_string(),
        before.as_ref().map(snapshot).as_deref(),
        Some(&snapshot(&image)),
    )
    .await?;
    let old_unused = match &before {
        Some(old) if old.original != image.original => !file_in_use(&mut tx, &old.original).await?,
        _ => false,
    };
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    // After the commit, so a file is never missing for an image that still exists.
    if let (true, Some(old)) = (old_unused, &before) {
        forget_file(media, sizes, &old.original).await;
    }
    Ok(image)
}

/// Sets the category image's caption (trimmed; empty for none).
pub async fn set_caption(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    category_id: i64,
    caption: &str,
) -> Result<CategoryImage, ImageError> {
    refuse_partners(staff)?;
    let caption = check_caption(caption)?;
    let mut tx = db.begin_write().await?;
    category_in(&mut *tx, category_id).await?;
    let before = image_in(&mut *tx, category_id)
        .await?
        .ok_or(ImageError::NotFound)?;
    sqlx::query("UPDATE category_image SET caption = $1, updated_at = $2 WHERE category_id = $3")
        .bind(caption)
        .bind(now_text())
        .bind(category_id)
        .execute(&mut *tx)
        .await?;
    let after = CategoryImage {
        caption: caption.to_owned(),
        ..before.clone()
    };
    audit::record(
        &mut tx,
        Actor::from(staff),
        "category_image.caption",
        "category",
        &category_id.to_string(),
        Some(&snapshot(&before)),
        Some(&snapshot(&after)),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(after)
}

/// Deletes the category's image; its file (and thumbnails in `sizes`) leave the store too
/// once nothing else uses it.
pub async fn delete(
    db: &Db,
    changes: &Changes,
    media: &MediaStore,
    sizes: &[ThumbnailSize],
    staff: &Staff,
    category_id: i64,
) -> Result<CategoryImage, ImageError> {
    refuse_partners(staff)?;
    let mut tx = db.begin_write().await?;
    category_in(&mut *tx, category_id).await?;
    let image = image_in(&mut *tx, category_id)
        .await?
        .ok_or(ImageError::NotFound)?;
    sqlx::query("DELETE FROM category_image WHERE category_id = $1")
        .bind(category_id)
        .execute(&mut *tx)
        .await?;
    let unused = !file_in_use(&mut tx, &image.original).await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "category_image.delete",
        "category",
        &category_id.to_string(),
        Some(&snapshot(&image)),
        None,
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    if unused {
        forget_file(media, sizes, &image.original).await;
    }
    Ok(image)
}
