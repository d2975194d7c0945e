//! Dashboard categories (`/dashboard/catalogue/categories/`): the whole tree, hidden
//! categories too, with a form to add one and, per category, forms to rename it, move it under
//! another parent and move it up or down among its siblings.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::catalogue::{CATEGORIES_URL, Fields, error_map};
use super::params::path_id;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::catalogue::manage::{ManageError, categories};
use crate::staff::Permission;
use crate::web::WebError;

fn category_url(id: i64) -> String {
    format!("{CATEGORIES_URL}{id}/")
}

/// The tree page; `form_of` names the form the errors and typed values belong to ("new", or
/// a category id).
async fn page(
    state: &AppState,
    current: &CurrentStaff,
    status: StatusCode,
    form_of: &str,
    form: HashMap<&'static str, String>,
    errors: HashMap<String, String>,
) -> Result<Response, WebError> {
    let tree = categories::tree(&state.db.pool).await?;
    let nodes: Vec<_> = tree
        .iter()
        .map(|n| {
            minijinja::context! {
                edit_url => category_url(n.id),
                move_url => format!("{}move/", category_url(n.id)),
                order_url => format!("{}order/", category_url(n.id)),
                storefront_url => n.url(),
                ..minijinja::Value::from_serialize(n)
            }
        })
        .collect();
    let ctx = minijinja::context! {
        nodes => nodes,
        can_edit => current.staff.can(Permission::ManageCatalogue)
            && current.staff.partner_scope().is_none(),
        create_url => CATEGORIES_URL,
        form_of => form_of,
        form => form,
        errors => errors,
    };
    render(
        state,
        current,
        CATEGORIES_URL,
        "dashboard/catalogue/categories.html",
        status,
        ctx,
    )
}

pub(super) async fn tree(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    page(
        &state,
        &current,
        StatusCode::OK,
        "",
        HashMap::new(),
        HashMap::new(),
    )
    .await
}

fn optional_id(raw: &str) -> Result<Option<i64>, WebError> {
    match raw.trim() {
        "" => Ok(None),
        id => path_id(id)
            .map(Some)
            .map_err(|_| WebError::BadRequest("Choose a parent from the list.".into())),
    }
}

/// The answer to a category action: back to the tree, or the tree again with the problems.
async fn answer(
    state: &AppState,
    current: &CurrentStaff,
    result: Result<(), ManageError>,
    done: &str,
    form_of: &str,
    form: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => {
            current.session.flash("success", done.to_owned());
            Ok(Redirect::to(CATEGORIES_URL).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            page(
                state,
                current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form_of,
                form,
                error_map(problems),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let fields = Fields(fields);
    let (name, description, parent) = (
        fields.one("name"),
        fields.one("description"),
        fields.one("parent"),
    );
    let parent_id = optional_id(&parent)?;
    let result = categories::create(
        &state.db,
        &state.changes,
        &current.staff,
        parent_id,
        &name,
        &description,
    )
    .await
    .map(|_| ());
    let done = format!("Category “{name}” was added.");
    let form = HashMap::from([
        ("name", name),
        ("description", description),
        ("parent", parent),
    ]);
    answer(&state, &current, result, &done, "new", form).await
}

pub(super) async fn update(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let fields = Fields(fields);
    let (name, description) = (fields.one("name"), fields.one("description"));
    let result = categories::update(
        &state.db,
        &state.changes,
        &current.staff,
        id,
        &name,
        &description,
        fields.checked("is_public"),
    )
    .await;
    let done = format!("Category “{name}” was saved.");
    let form = HashMap::from([("name", name), ("description", description)]);
    answer(&state, &current, result, &done, &id.to_string(), form).await
}

pub(super) async fn move_to(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let fields = Fields(fields);
    let parent = fields.one("parent");
    let parent_id = optional_id(&parent)?;
    let result =
        categories::move_to(&state.db, &state.changes, &current.staff, id, parent_id).await;
    let form = HashMap::from([("parent", parent)]);
    answer(
        &state,
        &current,
        result,
        "The category was moved.",
        &id.to_string(),
        form,
    )
    .await
}

pub(super) async fn reorder(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let up = match Fields(fields).one("direction").as_str() {
        "up" => true,
        "down" => false,
        _ => return Err(WebError::BadRequest("Move the category up or down.".into())),
    };
    let result = categories::reorder(&state.db, &state.changes, &current.staff, id, up).await;
    answer(
        &state,
        &current,
        result,
        "The category was moved.",
        &id.to_string(),
        HashMap::new(),
    )
    .await
}
