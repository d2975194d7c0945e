//! Dashboard content: the customer emails (`/dashboard/content/emails/`). Staff who see
//! customers see every email and its preview with sample data (text, and HTML in a sandboxed
//! frame); administrators edit them (kept as overrides in the database, used before the
//! theme's files by every process at the next email it renders), preview an edit before
//! saving it, and reset an email to the theme's version. See `communication::email_templates`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::communication::email_templates::{self, Shop, TemplateEditError};
use crate::mail::TEMPLATE_FILES;
use crate::staff::Permission;
use crate::web::WebError;

pub const EMAILS_URL: &str = "/dashboard/content/emails/";

/// Seeing the emails: whoever sees customers (what the shop tells them).
const VIEW: Permission = Permission::ViewCustomers;
/// Changing them: administrators.
const EDIT: Permission = Permission::Administer;

fn email_url(name: &str) -> String {
    format!("{EMAILS_URL}{name}/")
}

/// A form field's name for a template file (`body.txt` → `body_txt`).
fn field_name(file: &str) -> String {
    file.replace('.', "_")
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
) -> Result<Response, WebError> {
    current.require(VIEW)?;
    let emails = email_templates::list(&state.db.pool).await?;
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/content/emails.html",
        StatusCode::OK,
        minijinja::context! { emails => emails },
    )
}

fn shop<'a>(state: &'a AppState, site_url: &'a str) -> Shop<'a> {
    Shop {
        templates: &state.templates,
        shop_name: &state.config.shop_name,
        site_url,
        currency: state.currency,
    }
}

/// The email's page: its files (the edit form for administrators, filled with `edits` when
/// re-shown), the preview (of `edits` when given) and the problems of a refused edit.
async fn page(
    state: &AppState,
    current: &CurrentStaff,
    name: &str,
    status: StatusCode,
    edits: Option<&HashMap<String, String>>,
    problems: std::collections::BTreeMap<String, String>,
) -> Result<Response, WebError> {
    let email = email_templates::email(&state.db.pool, &state.templates, name)
        .await?
        .ok_or(WebError::NotFound)?;
    let site_url = state.config.site_url();
    let shop = shop(state, &site_url);
    // A refused edit has nothing to preview; the email in use is shown instead.
    let previewed = if problems.is_empty() { edits } else { None };
    let (preview, preview_error) =
        match email_templates::preview(&state.db.pool, &shop, name, previewed).await {
            Ok(body) => (Some(body), None),
            Err(TemplateEditError::Mail(e)) => (None, Some(e.to_string())),
            Err(TemplateEditError::NotFound) => return Err(WebError::NotFound),
            Err(e) => return Err(WebError::internal(e)),
        };
    let files: Vec<minijinja::Value> = email
        .files
        .iter()
        .map(|f| {
            let typed = edits.and_then(|e| e.get(f.file)).cloned();
            let field = field_name(f.file);
            minijinja::context! {
                file => f.file,
                field => field,
                theme_source => f.theme_source.clone(),
                edited => f.override_source.is_some(),
                value => typed.or_else(|| f.override_source.clone()).unwrap_or_else(|| f.theme_source.clone()),
                error => problems.get(f.file).cloned(),
            }
        })
        .collect();
    let url = email_url(email.name);
    let ctx = minijinja::context! {
        email => minijinja::context! {
            name => email.name, title => email.title, description => email.description,
            edited => email.edited,
        },
        files => files,
        preview => preview.map(|p| minijinja::context! {
            subject => p.subject, text => p.text, html => p.html,
        }),
        preview_of_edit => previewed.is_some(),
        preview_error => preview_error,
        has_problems => !problems.is_empty(),
        can_edit => current.staff.can(EDIT),
        save_url => url.clone(),
        reset_url => format!("{url}reset/"),
        list_url => EMAILS_URL,
    };
    render(
        state,
        current,
        &url,
        "dashboard/content/email.html",
        status,
        ctx,
    )
}

pub(super) async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    current.require(VIEW)?;
    page(
        &state,
        &current,
        &name,
        StatusCode::OK,
        None,
        Default::default(),
    )
    .await
}

/// Saves the edit, or with `action=preview` shows it rendered without keeping it.
pub(super) async fn save(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(name): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(EDIT)?;
    let edits: HashMap<String, String> = TEMPLATE_FILES
        .iter()
        .filter_map(|file| {
            fields
                .get(&field_name(file))
                .map(|source| (file.to_string(), source.replace("\r\n", "\n")))
        })
        .collect();
    let site_url = state.config.site_url();
    let shop = shop(&state, &site_url);
    if fields.get("action").map(String::as_str) == Some("preview") {
        // Checked like a save, so the preview shows the same problems a save would.
        let problems = match email_templates::check_edit(&shop, &name, &edits) {
            Ok(()) => Default::default(),
            Err(TemplateEditError::Invalid(problems)) => problems,
            Err(TemplateEditError::NotFound) => return Err(WebError::NotFound),
            Err(e) => return Err(WebError::internal(e)),
        };
        let status = if problems.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return page(&state, &current, &name, status, Some(&edits), problems).await;
    }
    match email_templates::save(&state.db, &shop, Actor::from(&current.staff), &name, &edits).await
    {
        Ok(()) => {
            current.session.flash(
                "success",
                "The email was saved: the next one sent uses it.".to_owned(),
            );
            Ok(Redirect::to(&email_url(&name)).into_response())
        }
        Err(TemplateEditError::Invalid(problems)) => {
            page(
                &state,
                &current,
                &name,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&edits),
                problems,
            )
            .await
        }
        Err(TemplateEditError::NotFound) => Err(WebError::NotFound),
        Err(e) => Err(WebError::internal(e)),
    }
}

pub(super) async fn reset(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    current.require(EDIT)?;
    match email_templates::reset(&state.db, Actor::from(&current.staff), &name).await {
        Ok(true) => current
            .session
            .flash("success", "The email is the theme's version again."),
        Ok(false) => current
            .session
            .flash("info", "The email already was the theme's version."),
        Err(TemplateEditError::NotFound) => return Err(WebError::NotFound),
        Err(e) => return Err(WebError::internal(e)),
    }
    Ok(Redirect::to(&email_url(&name)).into_response())
}
