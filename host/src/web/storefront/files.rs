//! Theme static files, served from disk with cache headers (uploaded media: `web::media`).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::app::AppState;
use crate::web::WebError;

/// Theme static files, found through the theme chain. Versioned URLs (`?v=`) are immutable.
pub(super) async fn static_file(
    State(state): State<AppState>,
    Path(path): Path<String>,
    request: Request<Body>,
) -> Result<Response, WebError> {
    let file = state
        .templates
        .chain()
        .find(&format!("static/{path}"))
        .ok_or(WebError::NotFound)?;
    let versioned = request.uri().query().is_some_and(|q| q.starts_with("v="));
    let mut response = ServeFile::new(file)
        .oneshot(request)
        .await
        .map_err(WebError::internal)?
        .into_response();
    if response.status() == StatusCode::OK || response.status() == StatusCode::NOT_MODIFIED {
        let cache = if versioned && !state.config.dev {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=300"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    Ok(response)
}
