//! Dashboard partners: the list with each partner's stock and dashboard users, and adding a
//! partner (administrators).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::{CurrentStaff, PARTNERS_URL, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::partner::manage::{self, PartnerFormError};
use crate::staff::Permission;
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
