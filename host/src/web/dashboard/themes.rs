//! Dashboard themes (`/dashboard/themes/`): the installed and bundled themes with their
//! screenshots; previewing one for the signed-in staff user only; activating one for everyone
//! (every process follows, no restart); rolling back to the theme before; removing an
//! installed theme no one uses. Administrators only; every change of the shop's theme is in
//! the audit log (`themes::manage`). A theme package (`.tar.gz`) is installed by uploading it
//! here, or with `emporium theme install PATH` on the server; both are the same use case.
//!
//! A preview is a mark in the staff user's session: [`preview`] (a layer over the storefront)
//! renders that session's storefront pages with the previewed theme, with a "previewing"
//! bar, and keeps those pages out of every shared cache. Other visitors keep the active theme.

use axum::Router;
use axum::extract::{Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{CurrentStaff, STAFF_KEY, StaffSignIn, now_secs, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::session::Session;
use crate::staff::Permission;
use crate::themes::manage::ManageError;
use crate::web::WebError;

pub const THEMES_URL: &str = "/dashboard/themes/";
pub const ROLLBACK_URL: &str = "/dashboard/themes/rollback/";
pub const STOP_PREVIEW_URL: &str = "/dashboard/themes/stop-preview/";
pub const INSTALL_URL: &str = "/dashboard/themes/install/";

/// Session key of a theme preview.
const PREVIEW_KEY: &str = "_theme_preview";

/// What the session keeps while a staff user previews a theme.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PreviewMark {
    theme: String,
    /// The staff user who asked: the preview ends with their dashboard sign-in.
    staff_id: i64,
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(THEMES_URL, get(list))
        .route(ROLLBACK_URL, post(rollback))
        .route(STOP_PREVIEW_URL, post(stop_preview))
        .route(INSTALL_URL, post(install))
        .route("/dashboard/themes/{theme}/screenshot/", get(screenshot))
        .route("/dashboard/themes/{theme}/preview/", post(start_preview))
        .route("/dashboard/themes/{theme}/activate/", post(activate))
        .route("/dashboard/themes/{theme}/remove/", post(remove))
}

async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let themes = state.themes().list().await.map_err(WebError::internal)?;
    let previewing = current
        .session
        .get::<PreviewMark>(PREVIEW_KEY)
        .map(|m| m.theme);
    let has_previous = themes.iter().any(|t| t.previous);
    let ctx = minijinja::context! {
        themes => themes,
        previewing => previewing,
        has_previous => has_previous,
        rollback_url => ROLLBACK_URL,
        stop_preview_url => STOP_PREVIEW_URL,
        install_url => INSTALL_URL,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/themes.html",
        StatusCode::OK,
        ctx,
    )
}

/// A theme's screenshot, for the list. An SVG from an installed theme is someone else's file:
/// it is served so that nothing in it can run.
async fn screenshot(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(theme): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let file = state
        .themes()
        .screenshot(&theme)
        .ok_or(WebError::NotFound)?;
    let bytes = tokio::fs::read(&file).await.map_err(WebError::internal)?;
    let name = file.to_string_lossy().to_ascii_lowercase();
    let kind = if name.ends_with(".svg") {
        "image/svg+xml"
    } else if name.ends_with(".png") {
        "image/png"
    } else if name.ends_with(".webp") {
        "image/webp"
    } else {
        "image/jpeg"
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    Ok(response)
}

async fn start_preview(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(theme): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    // Compiled now, so a theme that does not load is refused here, not on the storefront.
    match state.templates.preview(&theme) {
        Ok(_) => {
            current.session.insert(
                PREVIEW_KEY,
                PreviewMark {
                    theme: theme.clone(),
                    staff_id: current.staff.id,
                },
            );
            current.session.flash(
                "info",
                format!("You are previewing {theme}; other visitors still see the active theme."),
            );
            Ok(Redirect::to("/").into_response())
        }
        Err(e) => {
            current
                .session
                .flash("error", format!("{theme} cannot be previewed: {e}"));
            Ok(Redirect::to(THEMES_URL).into_response())
        }
    }
}

#[derive(Deserialize)]
struct NextForm {
    next: Option<String>,
}

/// Ends a preview (from the storefront's bar or the dashboard). Only administrators have one
/// to end: a preview is ignored, and dropped, once its user may no longer administer.
async fn stop_preview(
    current: CurrentStaff,
    axum::Form(form): axum::Form<NextForm>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    current.session.remove(PREVIEW_KEY);
    current.session.flash("info", "Preview ended.");
    let back = crate::web::sign_in::safe_next(form.next.as_ref(), "/");
    Ok(Redirect::to(&back).into_response())
}

async fn activate(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(theme): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let done = state
        .themes()
        .activate(Actor::from(&current.staff), &theme)
        .await;
    if done.is_ok() {
        // Previewing what is now live is pointless.
        if current
            .session
            .get::<PreviewMark>(PREVIEW_KEY)
            .is_some_and(|m| m.theme == theme)
        {
            current.session.remove(PREVIEW_KEY);
        }
        state.pages.invalidate_all();
    }
    outcome(&current, done, format!("{theme} is now the shop's theme."))
}

async fn rollback(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let done = state.themes().rollback(Actor::from(&current.staff)).await;
    let message = match &done {
        Ok(theme) => format!("Rolled back: {theme} is the shop's theme again."),
        Err(_) => String::new(),
    };
    if done.is_ok() {
        state.pages.invalidate_all();
    }
    outcome(&current, done.map(|_| ()), message)
}

/// `POST /dashboard/themes/install/` (multipart: `package`, a `.tar.gz`).
async fn install(
    State(state): State<AppState>,
    current: CurrentStaff,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, WebError> {
    // Before a byte of the body is read: someone who may not install is told so.
    current.require(Permission::Administer)?;
    let mut multipart = multipart
        .map_err(|_| WebError::BadRequest("Send the package with the install form.".into()))?;
    let max = state
        .config
        .max_upload_bytes
        .min(crate::themes::manage::MAX_TOTAL_BYTES);
    let mut package = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(super::images::multipart_error)?
    {
        if field.name() != Some("package") || package.is_some() {
            continue;
        }
        let file_name = field.file_name().unwrap_or("theme.tar.gz").to_owned();
        match super::images::read_field(&mut field, max).await? {
            Some(bytes) => package = Some((file_name, bytes)),
            None => {
                let error = ManageError::Refused(format!(
                    "That package is larger than {} MiB, the most we accept.",
                    max >> 20
                ));
                // Nothing after an oversized file is read.
                return outcome(&current, Err(error), String::new());
            }
        }
    }
    let Some((file_name, bytes)) = package.filter(|(_, b)| !b.is_empty()) else {
        let error = ManageError::Refused("Choose a theme package (.tar.gz) to install.".into());
        return outcome(&current, Err(error), String::new());
    };
    let done = state
        .themes()
        .install_upload(Actor::from(&current.staff), &file_name, &bytes)
        .await;
    let message = match &done {
        Ok(theme) => format!("{} is installed: preview it, then activate it.", theme.name),
        Err(_) => String::new(),
    };
    outcome(&current, done.map(|_| ()), message)
}

async fn remove(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(theme): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let done = state
        .themes()
        .remove(Actor::from(&current.staff), &theme)
        .await;
    outcome(&current, done, format!("{theme} was removed."))
}

/// Back to the list, with what happened: a refusal is the administrator's to read, a database
/// failure is ours.
fn outcome(
    current: &CurrentStaff,
    done: Result<(), ManageError>,
    success: String,
) -> Result<Response, WebError> {
    match done {
        Ok(()) => current.session.flash("success", success),
        Err(ManageError::Db(e)) => return Err(WebError::internal(e)),
        Err(ManageError::Io { path, message }) => {
            return Err(WebError::bug(format!("{path}: {message}")));
        }
        Err(e) => current.session.flash("error", e.to_string()),
    }
    Ok(Redirect::to(THEMES_URL).into_response())
}

/// The layer that shows a previewing staff user the theme they preview, on the storefront
/// only (the dashboard stays on the active theme, so a broken theme cannot lock them out).
/// The mark counts only while the same staff user is signed in to the dashboard and may
/// administer the shop; otherwise it is dropped. A preview page is never shared: the
/// rendered-page cache skips it and browsers and proxies are told not to keep it.
pub(crate) async fn preview(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/dashboard" || path.starts_with("/dashboard/") {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        return next.run(request).await;
    };
    let Some(mark) = session.get::<PreviewMark>(PREVIEW_KEY) else {
        return next.run(request).await;
    };
    if !may_preview(&state, &session, &mark).await {
        session.remove(PREVIEW_KEY);
        return next.run(request).await;
    }
    let theme = match state.templates.preview(&mark.theme) {
        Ok(theme) => theme,
        Err(e) => {
            tracing::warn!(theme = %mark.theme, error = %e, "a previewed theme no longer loads; preview ended");
            session.remove(PREVIEW_KEY);
            return next.run(request).await;
        }
    };
    let mut response = crate::themes::with_preview(theme, next.run(request)).await;
    response.extensions_mut().remove::<crate::web::SharedPage>();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

async fn may_preview(state: &AppState, session: &Session, mark: &PreviewMark) -> bool {
    let Some(signed_in) = session
        .get::<StaffSignIn>(STAFF_KEY)
        .filter(|s| s.expires_at > now_secs() && s.id == mark.staff_id)
    else {
        return false;
    };
    match crate::staff::active_by_id(&state.db.pool, signed_in.id).await {
        Ok(Some(staff)) => staff.can(Permission::Administer),
        Ok(None) => false,
        Err(e) => {
            tracing::error!(error = %e, "checking a previewing staff user failed");
            false
        }
    }
}
