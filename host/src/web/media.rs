//! `/media/…`: uploaded images, their thumbnails and any other stored media, served through the
//! media store whatever its backend (files or S3), with their content type and, for the
//! content-addressed names (`images/…`, `thumbs/…`), cache headers that keep them for good.
//! A thumbnail in a size the active theme declares is made on its first request
//! (`MediaStore::thumbnail`); other sizes are not found, so nobody can make the shop render
//! arbitrary sizes.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::media::{self, thumbs};
use crate::web::WebError;

pub fn router() -> Router<AppState> {
    Router::new().route("/media/{*path}", get(serve))
}

/// A stored document may be an SVG (the demo's pictures): served as an image it runs nothing,
/// opened directly this keeps it from running scripts or loading anything.
const SANDBOX: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

async fn serve(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if !media::is_safe_name(&name) {
        return Err(WebError::NotFound);
    }
    let immutable = media::is_immutable(&name);
    // The name is the content's hash (and the thumbnail's size): it is its own validator.
    let etag = immutable.then(|| format!("\"{}\"", name.replace('/', ":")));
    if let Some(etag) = &etag
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        && state.media.exists(&name).await.unwrap_or(false)
    {
        return Ok(with_headers(
            StatusCode::NOT_MODIFIED.into_response(),
            &name,
            Some(etag),
        ));
    }
    let response = if name.starts_with(media::THUMBS_PREFIX) {
        let (original, size) = thumbs::parse_thumbnail_name(&name).ok_or(WebError::NotFound)?;
        if !state.templates.chain().thumbnail_sizes().contains(&size) {
            return Err(WebError::NotFound);
        }
        let bytes = state
            .media
            .thumbnail(original, size)
            .await
            .map_err(WebError::internal)?
            .ok_or(WebError::NotFound)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let mut response = Body::from(bytes).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        response
    } else {
        let object = state
            .media
            .open_object(&name)
            .await
            .map_err(WebError::internal)?
            .ok_or(WebError::NotFound)?;
        let mut response = Body::from_stream(object.body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(object.size));
        response
    };
    Ok(with_headers(response, &name, etag.as_deref()))
}

fn with_headers(mut response: Response, name: &str, etag: Option<&str>) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media::content_type(name)),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if media::is_immutable(name) {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=86400"
        }),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SANDBOX),
    );
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert(header::ETAG, etag);
    }
    response
}
