//! Dashboard partners: the list with each partner's stock and dashboard users, adding a
//! partner (administrators), and a partner's page: its name and address (catalogue staff and
//! the partner's own users) and its dashboard users (administrators add and remove them).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::params::path_id;
use super::{CurrentStaff, PARTNERS_URL, render};
use crate::address::Address;
use crate::app::AppState;
use crate::audit::Actor;
use crate::partner::manage::{self, PartnerFormError};
use crate::staff::{Permission, StaffError};
use crate::web::WebError;

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    page(
        &state,
        &current,
        uri.path(),
        StatusCode::OK,
        HashMap::new(),
        HashMap::new(),
    )
    .await
}

async fn page(
    state: &AppState,
    current: &CurrentStaff,
    path: &str,
    status: StatusCode,
    form: HashMap<&'static str, String>,
    errors: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    let partners = manage::list(&state.db.pool, current.staff.partner_scope()).await?;
    let ctx = minijinja::context! {
        partners => partners,
        can_add => current.staff.can(Permission::Administer),
        add_url => PARTNERS_URL,
        form => form,
        errors => errors,
    };
    render(state, current, path, "dashboard/partners.html", status, ctx)
}

pub(super) async fn add(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let code = fields.get("code").map(|c| c.trim()).unwrap_or_default();
    let name = fields.get("name").map(|n| n.trim()).unwrap_or_default();
    match manage::create(&state.db, Actor::from(&current.staff), code, name).await {
        Ok(_) => {
            current
                .session
                .flash("success", format!("Partner {code} was added."));
            Ok(Redirect::to(PARTNERS_URL).into_response())
        }
        Err(PartnerFormError::Invalid(problems)) => {
            let form = HashMap::from([("code", code.to_owned()), ("name", name.to_owned())]);
            page(
                &state,
                &current,
                PARTNERS_URL,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                problems.into_iter().collect(),
            )
            .await
        }
        Err(e) => Err(WebError::internal(e)),
    }
}

fn partner_url(id: i64) -> String {
    format!("{PARTNERS_URL}{id}/")
}

/// What was typed into the partner page's forms, and what was wrong with it.
#[derive(Default)]
struct DetailForm {
    values: HashMap<String, String>,
    errors: BTreeMap<String, String>,
}

async fn detail_page(
    state: &AppState,
    current: &CurrentStaff,
    id: i64,
    status: StatusCode,
    form: DetailForm,
) -> Result<Response, WebError> {
    let partner = manage::find(&state.db.pool, current.staff.partner_scope(), id)
        .await?
        .ok_or(WebError::NotFound)?;
    let url = partner_url(id);
    let ctx = minijinja::context! {
        can_edit => current.staff.can(Permission::ManageCatalogue),
        can_admin => current.staff.can(Permission::Administer),
        update_url => url.clone(),
        users_url => format!("{url}users/"),
        users => partner.users.iter().map(|u| minijinja::context! {
            remove_url => format!("{url}users/{}/remove/", u.id),
            ..minijinja::Value::from_serialize(u)
        }).collect::<Vec<_>>(),
        list_url => PARTNERS_URL,
        form => form.values,
        errors => form.errors,
        partner => partner,
    };
    render(state, current, &url, "dashboard/partner.html", status, ctx)
}

pub(super) async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let id = path_id(&id)?;
    detail_page(&state, &current, id, StatusCode::OK, DetailForm::default()).await
}

pub(super) async fn update(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&id)?;
    let name = fields
        .get("partner_name")
        .map(|n| n.trim())
        .unwrap_or_default();
    let (address, mut errors) = match Address::from_form(&fields) {
        Ok(address) => (address, BTreeMap::new()),
        Err(problem) => *problem,
    };
    if errors.is_empty() {
        match manage::update(&state.db, &current.staff, id, name, &address).await {
            Ok(Some(())) => {
                current.session.flash("success", "The partner is saved.");
                return Ok(Redirect::to(&partner_url(id)).into_response());
            }
            Ok(None) => return Err(WebError::NotFound),
            Err(PartnerFormError::Invalid(problems)) => {
                errors.extend(problems.into_iter().map(|(k, v)| (k.to_owned(), v)));
            }
            Err(e) => return Err(WebError::internal(e)),
        }
    } else if name.is_empty() {
        errors.insert("partner_name".into(), "Enter the partner's name.".into());
    }
    let form = DetailForm {
        values: fields,
        errors,
    };
    detail_page(&state, &current, id, StatusCode::UNPROCESSABLE_ENTITY, form).await
}

pub(super) async fn add_user(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let id = path_id(&id)?;
    let email = fields.get("email").map(|e| e.trim()).unwrap_or_default();
    let password = fields
        .get("password")
        .map(String::as_str)
        .unwrap_or_default();
    match manage::add_user(&state.db, &current.staff, id, email, password).await {
        Ok(Some(user)) => {
            current.session.flash(
                "success",
                format!(
                    "{} can now sign in to the dashboard for this partner.",
                    user.email
                ),
            );
            Ok(Redirect::to(&partner_url(id)).into_response())
        }
        Ok(None) => Err(WebError::NotFound),
        Err(StaffError::Invalid(problem)) => {
            let form = DetailForm {
                // Never the password back into the page.
                values: HashMap::from([("email".to_owned(), email.to_owned())]),
                errors: BTreeMap::from([("user".to_owned(), problem)]),
            };
            detail_page(&state, &current, id, StatusCode::UNPROCESSABLE_ENTITY, form).await
        }
        Err(e) => Err(WebError::internal(e)),
    }
}

pub(super) async fn remove_user(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let (id, user) = (path_id(&id)?, path_id(&user)?);
    if !manage::remove_user(&state.db, &current.staff, id, user).await? {
        return Err(WebError::NotFound);
    }
    current
        .session
        .flash("success", "That user no longer works for this partner.");
    Ok(Redirect::to(&partner_url(id)).into_response())
}
