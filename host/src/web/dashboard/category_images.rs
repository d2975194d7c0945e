//! Dashboard: a category's image (`/dashboard/catalogue/categories/{id}/image/`): the image
//! with its caption (its alt text) form and a delete button, and the upload form that adds
//! or replaces it (multipart, works without JavaScript). Each action calls one use case of
//! `catalogue::category_images` and comes back to the page; a refused upload or caption
//! re-renders it with 422, the field's message and what was typed.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;

use super::images::{multipart_error, read_field};
use super::params::path_id;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::catalogue::category_images;
use crate::catalogue::images::{ImageError, MAX_CAPTION_CHARS};
use crate::media::Refusal;
use crate::media::check::human_bytes;
use crate::staff::Permission;
use crate::web::WebError;

/// Whether `path` is a category image upload.
pub fn is_upload(path: &str) -> bool {
    path.strip_prefix("/dashboard/catalogue/categories/")
        .and_then(|rest| rest.strip_suffix("/image/upload/"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn image_url(category_id: i64) -> String {
    format!("/dashboard/catalogue/categories/{category_id}/image/")
}

pub(super) async fn show(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let id = path_id(&raw)?;
    page(
        &state,
        &current,
        id,
        StatusCode::OK,
        HashMap::new(),
        HashMap::new(),
    )
    .await
}

async fn page(
    state: &AppState,
    current: &CurrentStaff,
    category_id: i64,
    status: StatusCode,
    form: HashMap<&'static str, String>,
    errors: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    let (category, image) = category_images::show(&state.db.pool, category_id).await?;
    let base = image_url(category_id);
    let ctx = minijinja::context! {
        category => category,
        image => image,
        can_manage => current.staff.can(Permission::ManageCatalogue)
            && current.staff.partner_scope().is_none(),
        upload_url => format!("{base}upload/"),
        caption_url => format!("{base}caption/"),
        delete_url => format!("{base}delete/"),
        categories_url => super::catalogue::CATEGORIES_URL,
        storefront_url => format!("/catalogue/category/{}/", category.full_slug),
        form => form,
        errors => errors,
        max_caption_chars => MAX_CAPTION_CHARS,
        max_upload => human_bytes(state.media.limits.max_bytes),
        accept => "image/jpeg,image/png,image/webp,image/gif",
    };
    render(
        state,
        current,
        &base,
        "dashboard/catalogue/category_image.html",
        status,
        ctx,
    )
}

pub(super) async fn upload(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    // Before a byte of the body is read: whoever may not upload is told so.
    current.require(Permission::ManageCatalogue)?;
    if current.staff.partner_scope().is_some() {
        return Err(ImageError::ShopWide.into());
    }
    let id = path_id(&raw)?;
    if multipart.is_err() {
        category_images::show(&state.db.pool, id).await?;
    }
    let mut multipart = multipart
        .map_err(|_| WebError::BadRequest("Send the image with the upload form.".into()))?;
    let max = state.media.limits.max_bytes;
    let mut caption = String::new();
    let mut file: Option<Bytes> = None;
    let mut errors = HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("image") => {
                if file.is_some() || errors.contains_key("image") {
                    continue;
                }
                match read_field(&mut field, max).await? {
                    Some(bytes) => file = Some(bytes),
                    None => {
                        errors.insert("image", Refusal::TooLarge { max }.to_string());
                        break;
                    }
                }
            }
            Some("caption") => {
                let bytes = read_field(&mut field, 4 * 1024).await?.unwrap_or_default();
                caption = String::from_utf8_lossy(&bytes).trim().to_owned();
            }
            _ => {}
        }
    }
    if caption.chars().count() > MAX_CAPTION_CHARS {
        errors.insert("caption", ImageError::CaptionTooLong.to_string());
    }
    let file = file.filter(|f| !f.is_empty());
    if file.is_none() && !errors.contains_key("image") {
        errors.insert("image", "Choose an image file to upload.".to_owned());
    }
    if let (true, Some(file)) = (errors.is_empty(), file) {
        match category_images::upload(
            &state.db,
            &state.changes,
            &state.media,
            &state.templates.chain().thumbnail_sizes(),
            &current.staff,
            id,
            file,
            &caption,
        )
        .await
        {
            Ok(image) => {
                current.session.flash(
                    "success",
                    format!(
                        "Category image saved ({} × {} pixels).",
                        image.width, image.height
                    ),
                );
                return Ok(Redirect::to(&image_url(id)).into_response());
            }
            Err(ImageError::Refused(refusal)) => {
                errors.insert("image", refusal.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let form = HashMap::from([("caption", caption)]);
    page(
        &state,
        &current,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        form,
        errors,
    )
    .await
}

pub(super) async fn caption(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let text = fields.get("caption").map(|c| c.trim()).unwrap_or_default();
    match category_images::set_caption(&state.db, &state.changes, &current.staff, id, text).await {
        Ok(_) => {
            current.session.flash("success", "Caption saved.");
            Ok(Redirect::to(&image_url(id)).into_response())
        }
        Err(ImageError::CaptionTooLong) => {
            page(
                &state,
                &current,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                HashMap::from([("image_caption", text.to_owned())]),
                HashMap::from([("image_caption", ImageError::CaptionTooLong.to_string())]),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    category_images::delete(
        &state.db,
        &state.changes,
        &state.media,
        &state.templates.chain().thumbnail_sizes(),
        &current.staff,
        id,
    )
    .await?;
    current.session.flash("success", "Category image deleted.");
    Ok(Redirect::to(&image_url(id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_category_upload_route_is_one() {
        assert!(is_upload("/dashboard/catalogue/categories/3/image/upload/"));
        assert!(!is_upload("/dashboard/catalogue/categories//image/upload/"));
        assert!(!is_upload("/dashboard/catalogue/categories/3/image/"));
    }
}
