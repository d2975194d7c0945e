//! Dashboard product classes (`/dashboard/catalogue/classes/`): the list with a form to add
//! one; a class's page with its settings and its attributes (add, rename, required or not,
//! more options, delete).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::catalogue::{CLASSES_URL, Fields, error_map};
use super::params::path_id;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::catalogue::manage::ManageError;
use crate::catalogue::manage::classes::{self, AttributeInput, KINDS, OPTION_KINDS, OptionInput};
use crate::staff::Permission;
use crate::web::WebError;

fn class_url(id: i64) -> String {
    format!("{CLASSES_URL}{id}/")
}

fn can_edit(current: &CurrentStaff) -> bool {
    current.staff.can(Permission::ManageCatalogue) && current.staff.partner_scope().is_none()
}

async fn list_page(
    state: &AppState,
    current: &CurrentStaff,
    status: StatusCode,
    form: HashMap<&'static str, String>,
    errors: HashMap<String, String>,
) -> Result<Response, WebError> {
    let all: Vec<_> = classes::list(&state.db.pool)
        .await?
        .into_iter()
        .map(|c| minijinja::context! { url => class_url(c.id), ..minijinja::Value::from_serialize(&c) })
        .collect();
    let ctx = minijinja::context! {
        classes => all,
        can_edit => can_edit(current),
        create_url => CLASSES_URL,
        form => form,
        errors => errors,
    };
    render(
        state,
        current,
        CLASSES_URL,
        "dashboard/catalogue/classes.html",
        status,
        ctx,
    )
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    list_page(
        &state,
        &current,
        StatusCode::OK,
        HashMap::from([
            ("track_stock", "1".to_owned()),
            ("requires_shipping", "1".to_owned()),
        ]),
        HashMap::new(),
    )
    .await
}

pub(super) async fn create(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let fields = Fields(fields);
    let name = fields.one("name");
    let (shipping, stock) = (
        fields.checked("requires_shipping"),
        fields.checked("track_stock"),
    );
    match classes::create(
        &state.db,
        &state.changes,
        &current.staff,
        &name,
        shipping,
        stock,
    )
    .await
    {
        Ok(id) => {
            current
                .session
                .flash("success", format!("Class “{name}” was added."));
            Ok(Redirect::to(&class_url(id)).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            let flag = |b: bool| if b { "1" } else { "" }.to_owned();
            let form = HashMap::from([
                ("name", name),
                ("requires_shipping", flag(shipping)),
                ("track_stock", flag(stock)),
            ]);
            list_page(
                &state,
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                error_map(problems),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// A class's page; `form_of` names the form `form` and `errors` belong to ("class", "new",
/// or an attribute id).
async fn detail_page(
    state: &AppState,
    current: &CurrentStaff,
    id: i64,
    status: StatusCode,
    form_of: &str,
    form: HashMap<&'static str, String>,
    errors: HashMap<String, String>,
) -> Result<Response, WebError> {
    let class = classes::find(&state.db.pool, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let attributes: Vec<_> = classes::attributes(&state.db.pool, id)
        .await?
        .into_iter()
        .map(|a| {
            let url = format!("{}attributes/{}/", class_url(id), a.id);
            minijinja::context! {
                url => url.clone(),
                delete_url => format!("{url}delete/"),
                ..minijinja::Value::from_serialize(&a)
            }
        })
        .collect();
    let options = classes::options(&state.db.pool, id).await?;
    let ctx = minijinja::context! {
        class => class,
        attributes => attributes,
        options => options,
        option_kinds => OPTION_KINDS.iter().map(|(k, l)| minijinja::context! { kind => k, label => l }).collect::<Vec<_>>(),
        options_url => format!("{}options/", class_url(id)),
        new_option_url => format!("{}options/new/", class_url(id)),
        kinds => KINDS.iter().map(|(k, l)| minijinja::context! { kind => k, label => l }).collect::<Vec<_>>(),
        can_edit => can_edit(current),
        action => class_url(id),
        add_url => format!("{}attributes/", class_url(id)),
        list_url => CLASSES_URL,
        new_product_url => format!("{}?class={id}", super::catalogue::NEW_PRODUCT_URL),
        form_of => form_of,
        form => form,
        errors => errors,
    };
    render(
        state,
        current,
        &class_url(id),
        "dashboard/catalogue/class.html",
        status,
        ctx,
    )
}

pub(super) async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let id = path_id(&raw)?;
    detail_page(
        &state,
        &current,
        id,
        StatusCode::OK,
        "",
        HashMap::new(),
        HashMap::new(),
    )
    .await
}

/// Back to the class's page, or the page again with the problems.
async fn answer(
    state: &AppState,
    current: &CurrentStaff,
    id: i64,
    result: Result<(), ManageError>,
    done: String,
    form_of: &str,
    form: HashMap<&'static str, String>,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => {
            current.session.flash("success", done);
            Ok(Redirect::to(&class_url(id)).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            detail_page(
                state,
                current,
                id,
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

pub(super) async fn update(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let fields = Fields(fields);
    let name = fields.one("name");
    let result = classes::update(
        &state.db,
        &state.changes,
        &current.staff,
        id,
        &name,
        fields.checked("requires_shipping"),
        fields.checked("track_stock"),
    )
    .await;
    let done = format!("Class “{name}” was saved.");
    let form = HashMap::from([("name", name)]);
    answer(&state, &current, id, result, done, "class", form).await
}

pub(super) async fn add_attribute(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let fields = Fields(fields);
    let input = AttributeInput {
        code: fields.one("code"),
        name: fields.one("name"),
        kind: fields.one("kind"),
        required: fields.checked("required"),
        options: fields.raw("options"),
    };
    let result = classes::add_attribute(&state.db, &state.changes, &current.staff, id, &input)
        .await
        .map(|_| ());
    let done = format!("Attribute “{}” was added.", input.name);
    let form = HashMap::from([
        ("code", input.code),
        ("name", input.name),
        ("kind", input.kind),
        ("required", if input.required { "1" } else { "" }.to_owned()),
        ("options", input.options),
    ]);
    answer(&state, &current, id, result, done, "new", form).await
}

pub(super) async fn update_attribute(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path((raw, raw_attribute)): Path<(String, String)>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let attribute = path_id(&raw_attribute)?;
    let fields = Fields(fields);
    let (name, options) = (fields.one("name"), fields.raw("options"));
    let result = classes::update_attribute(
        &state.db,
        &state.changes,
        &current.staff,
        id,
        attribute,
        &name,
        fields.checked("required"),
        &options,
    )
    .await;
    let done = format!("Attribute “{name}” was saved.");
    let form = HashMap::from([("name", name), ("options", options)]);
    answer(
        &state,
        &current,
        id,
        result,
        done,
        &attribute.to_string(),
        form,
    )
    .await
}

pub(super) async fn delete_attribute(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path((raw, raw_attribute)): Path<(String, String)>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let attribute = path_id(&raw_attribute)?;
    let result =
        classes::delete_attribute(&state.db, &state.changes, &current.staff, id, attribute).await;
    answer(
        &state,
        &current,
        id,
        result,
        "The attribute and its values were deleted.".to_owned(),
        "",
        HashMap::new(),
    )
    .await
}

pub(super) async fn set_options(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let mut chosen = Vec::new();
    for raw in Fields(fields).all("options") {
        chosen.push(
            path_id(&raw)
                .map_err(|_| WebError::BadRequest("Choose options from the list.".into()))?,
        );
    }
    let result = classes::set_options(&state.db, &state.changes, &current.staff, id, &chosen).await;
    answer(
        &state,
        &current,
        id,
        result,
        "The class's options were saved.".to_owned(),
        "options",
        HashMap::new(),
    )
    .await
}

pub(super) async fn add_option(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let fields = Fields(fields);
    let input = OptionInput {
        code: fields.one("option_code"),
        name: fields.one("option_name"),
        kind: fields.one("option_kind"),
        required: fields.checked("option_required"),
        help: fields.one("option_help"),
    };
    let result = classes::add_option(&state.db, &state.changes, &current.staff, id, &input)
        .await
        .map(|_| ());
    let done = format!("Option “{}” was added.", input.name);
    let form = HashMap::from([
        ("option_code", input.code),
        ("option_name", input.name),
        ("option_kind", input.kind),
        ("option_help", input.help),
    ]);
    answer(&state, &current, id, result, done, "option", form).await
}
