//! Dashboard: a product's images (`/dashboard/catalogue/products/{id}/images/`). The list with
//! an upload form (multipart, works without JavaScript), and per image a caption form, move
//! up / move down buttons and a delete button. Each action calls one use case of
//! `media::images` and comes back to the list; a refused upload or caption re-renders the
//! page with 422 and the field's message.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::{Bytes, BytesMut};

use super::params::path_id;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::catalogue::images::{self, Direction, ImageError, MAX_CAPTION_CHARS};
use crate::infra::config::Config;
use crate::media::Refusal;
use crate::media::check::human_bytes;
use crate::staff::Permission;
use crate::web::WebError;

/// Room in an upload's body for the form's other fields and the multipart framing.
const FORM_OVERHEAD_BYTES: usize = 64 * 1024;

/// Whether `path` is the image upload route (the one route with a large body).
pub fn is_upload(path: &str) -> bool {
    path.strip_prefix("/dashboard/catalogue/products/")
        .and_then(|rest| rest.strip_suffix("/images/upload/"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The largest body the upload route reads.
pub fn upload_body_limit(config: &Config) -> usize {
    usize::try_from(config.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(FORM_OVERHEAD_BYTES)
}

fn images_url(product_id: i64) -> String {
    format!("/dashboard/catalogue/products/{product_id}/images/")
}

impl From<ImageError> for WebError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::NotFound => WebError::NotFound,
            ImageError::Refused(r) => WebError::BadRequest(r.to_string()),
            ImageError::CaptionTooLong => WebError::BadRequest(e.to_string()),
            ImageError::ShopWide => WebError::Forbidden(e.to_string()),
            ImageError::Db(e) => e.into(),
            ImageError::Media(e) => WebError::internal(e),
        }
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let id = path_id(&raw)?;
    page(&state, &current, id, StatusCode::OK, Form::default()).await
}

/// What a re-rendered page shows again: the fields as sent and their messages.
#[derive(Default)]
struct Form {
    /// Field → value, for the upload form (`caption`) or an image's caption form.
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
}

async fn page(
    state: &AppState,
    current: &CurrentStaff,
    product_id: i64,
    status: StatusCode,
    form: Form,
) -> Result<Response, WebError> {
    let (product, list) =
        images::list(&state.db.pool, current.staff.partner_scope(), product_id).await?;
    let base = images_url(product_id);
    let count = list.len();
    let images: Vec<minijinja::Value> = list
        .into_iter()
        .enumerate()
        .map(|(i, image)| {
            let url = format!("{base}{}/", image.id);
            minijinja::context! {
                caption_url => format!("{url}caption/"),
                move_url => format!("{url}move/"),
                delete_url => format!("{url}delete/"),
                is_first => i == 0,
                is_last => i + 1 == count,
                position => i + 1,
                ..minijinja::Value::from_serialize(&image)
            }
        })
        .collect();
    let ctx = minijinja::context! {
        product => product,
        images => images,
        can_manage => current.staff.can(Permission::ManageCatalogue),
        upload_url => format!("{base}upload/"),
        form => form.values,
        errors => form.errors,
        max_caption_chars => MAX_CAPTION_CHARS,
        max_upload => human_bytes(state.media.limits.max_bytes),
        accept => "image/jpeg,image/png,image/webp,image/gif",
    };
    render(
        state,
        current,
        &base,
        "dashboard/catalogue/images.html",
        status,
        ctx,
    )
}

/// Reads a multipart field whole, refusing it as soon as it grows past `max` bytes (the
/// rest of the body is then never read).
pub(super) async fn read_field(
    field: &mut axum::extract::multipart::Field<'_>,
    max: u64,
) -> Result<Option<Bytes>, WebError> {
    let mut buffer = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if u64::try_from(buffer.len() + chunk.len()).unwrap_or(u64::MAX) > max {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Some(buffer.freeze()))
}

pub(super) fn multipart_error(e: axum::extract::multipart::MultipartError) -> WebError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            WebError::BadRequest("That upload is larger than we accept.".into())
        }
        _ => WebError::BadRequest(format!("That upload could not be read: {}", e.body_text())),
    }
}

pub(super) async fn upload(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    // Before a byte of the body is read, and whatever the body is: someone who may not upload
    // is told so, not that their form was malformed.
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    if multipart.is_err() {
        // A product out of the user's reach is not found, whatever was sent.
        images::list(&state.db.pool, current.staff.partner_scope(), id).await?;
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
                        errors.insert("image".to_owned(), Refusal::TooLarge { max }.to_string());
                        // Nothing after an oversized file is read.
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
        errors.insert("caption".to_owned(), ImageError::CaptionTooLong.to_string());
    }
    let file = file.filter(|f| !f.is_empty());
    if file.is_none() && !errors.contains_key("image") {
        errors.insert(
            "image".to_owned(),
            "Choose an image file to upload.".to_owned(),
        );
    }
    if let (true, Some(file)) = (errors.is_empty(), file) {
        match images::upload(
            &state.db,
            &state.changes,
            &state.media,
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
                    format!("Image added ({} × {} pixels).", image.width, image.height),
                );
                return Ok(Redirect::to(&images_url(id)).into_response());
            }
            Err(ImageError::Refused(refusal)) => {
                errors.insert("image".to_owned(), refusal.to_string());
            }
            Err(ImageError::CaptionTooLong) => {
                errors.insert("caption".to_owned(), ImageError::CaptionTooLong.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let values = HashMap::from([("caption".to_owned(), caption)]);
    page(
        &state,
        &current,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        Form { values, errors },
    )
    .await
}

fn ids(raw: &(String, String)) -> Result<(i64, i64), WebError> {
    Ok((path_id(&raw.0)?, path_id(&raw.1)?))
}

pub(super) async fn caption(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<(String, String)>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let (product_id, image_id) = ids(&raw)?;
    let text = fields.get("caption").map(|c| c.trim()).unwrap_or_default();
    match images::set_caption(
        &state.db,
        &state.changes,
        &current.staff,
        product_id,
        image_id,
        text,
    )
    .await
    {
        Ok(_) => {
            current.session.flash("success", "Caption saved.");
            Ok(Redirect::to(&images_url(product_id)).into_response())
        }
        Err(ImageError::CaptionTooLong) => {
            let key = format!("caption_{image_id}");
            let form = Form {
                values: HashMap::from([(key.clone(), text.to_owned())]),
                errors: HashMap::from([(key, ImageError::CaptionTooLong.to_string())]),
            };
            page(
                &state,
                &current,
                product_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn move_image(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<(String, String)>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let (product_id, image_id) = ids(&raw)?;
    let direction = match fields.get("direction").map(String::as_str) {
        Some("up") => Direction::Up,
        Some("down") => Direction::Down,
        _ => {
            // Out of the user's reach is not found, whatever was sent.
            images::list(&state.db.pool, current.staff.partner_scope(), product_id).await?;
            return Err(WebError::BadRequest(
                "Say which way to move the image (up or down).".into(),
            ));
        }
    };
    images::move_image(
        &state.db,
        &state.changes,
        &current.staff,
        product_id,
        image_id,
        direction,
    )
    .await?;
    current.session.flash("success", "Image moved.");
    Ok(Redirect::to(&images_url(product_id)).into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<(String, String)>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let (product_id, image_id) = ids(&raw)?;
    images::delete(
        &state.db,
        &state.changes,
        &state.media,
        &state.templates.chain().thumbnail_sizes(),
        &current.staff,
        product_id,
        image_id,
    )
    .await?;
    current.session.flash("success", "Image deleted.");
    Ok(Redirect::to(&images_url(product_id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_upload_route_takes_large_bodies() {
        assert!(is_upload("/dashboard/catalogue/products/12/images/upload/"));
        assert!(!is_upload("/dashboard/catalogue/products//images/upload/"));
        assert!(!is_upload(
            "/dashboard/catalogue/products/1/2/images/upload/"
        ));
        assert!(!is_upload("/dashboard/catalogue/products/12/images/"));
        assert!(!is_upload("/basket/add/1/"));
    }
}
