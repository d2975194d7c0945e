//! Dashboard catalogue (`/dashboard/catalogue/`): the product list with its search, filters
//! and bulk actions; the product pages are in `catalogue_products.rs`, the category tree in
//! `catalogue_categories.rs`. Handlers parse the form, call one use case of
//! [`crate::catalogue::manage`] (which applies the user's partner scope in its queries) and
//! render; a form with problems is shown again (422) with what was typed.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::params::{capped_pages, page_number, search_text};
use super::{
    CurrentStaff, catalogue_categories, catalogue_classes, catalogue_products, catalogue_transfer,
    render,
};
use crate::app::AppState;
use crate::catalogue::Structure;
use crate::catalogue::manage::{self, ManageError, bulk, list};
use crate::staff::Permission;
use crate::web::WebError;

pub const CATALOGUE_URL: &str = "/dashboard/catalogue/";
pub const BULK_URL: &str = "/dashboard/catalogue/bulk/";
pub const NEW_PRODUCT_URL: &str = "/dashboard/catalogue/products/new/";
pub const CATEGORIES_URL: &str = "/dashboard/catalogue/categories/";
pub const CLASSES_URL: &str = "/dashboard/catalogue/classes/";

const PAGE_SIZE: u32 = 50;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(CATALOGUE_URL, get(list))
        .route(BULK_URL, post(bulk_action))
        .route(
            "/dashboard/catalogue/import/",
            get(catalogue_transfer::import_form)
                .post(catalogue_transfer::start_import)
                // Bounded by `web::limit_body` instead (the configured upload size).
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/dashboard/catalogue/import/{export_id}/",
            get(catalogue_transfer::import_job),
        )
        .route(
            "/dashboard/catalogue/import/{export_id}/errors/",
            get(catalogue_transfer::import_errors),
        )
        .route(
            "/dashboard/catalogue/export/",
            get(catalogue_transfer::export_form).post(catalogue_transfer::start_export),
        )
        .route(
            "/dashboard/catalogue/export/{export_id}/",
            get(catalogue_transfer::export_job),
        )
        .route(
            "/dashboard/catalogue/export/{export_id}/download/",
            get(catalogue_transfer::export_download),
        )
        .route(
            NEW_PRODUCT_URL,
            get(catalogue_products::new_form).post(catalogue_products::create),
        )
        .route(
            "/dashboard/catalogue/products/{product_id}/",
            get(catalogue_products::edit_form).post(catalogue_products::update),
        )
        .route(
            "/dashboard/catalogue/products/{product_id}/stock/",
            post(catalogue_products::add_stock),
        )
        .route(
            "/dashboard/catalogue/products/{product_id}/stock/{stock_id}/",
            post(catalogue_products::update_stock),
        )
        .route(
            CATEGORIES_URL,
            get(catalogue_categories::tree).post(catalogue_categories::create),
        )
        .route(
            "/dashboard/catalogue/categories/{category_id}/",
            post(catalogue_categories::update),
        )
        .route(
            "/dashboard/catalogue/categories/{category_id}/move/",
            post(catalogue_categories::move_to),
        )
        .route(
            "/dashboard/catalogue/categories/{category_id}/order/",
            post(catalogue_categories::reorder),
        )
        .route(
            CLASSES_URL,
            get(catalogue_classes::list).post(catalogue_classes::create),
        )
        .route(
            "/dashboard/catalogue/classes/{class_id}/",
            get(catalogue_classes::detail).post(catalogue_classes::update),
        )
        .route(
            "/dashboard/catalogue/classes/{class_id}/options/",
            post(catalogue_classes::set_options),
        )
        .route(
            "/dashboard/catalogue/classes/{class_id}/options/new/",
            post(catalogue_classes::add_option),
        )
        .route(
            "/dashboard/catalogue/classes/{class_id}/attributes/",
            post(catalogue_classes::add_attribute),
        )
        .route(
            "/dashboard/catalogue/classes/{class_id}/attributes/{attribute_id}/",
            post(catalogue_classes::update_attribute),
        )
        .route(
            "/dashboard/catalogue/classes/{class_id}/attributes/{attribute_id}/delete/",
            post(catalogue_classes::delete_attribute),
        )
}

pub(super) fn product_url(id: i64) -> String {
    format!("/dashboard/catalogue/products/{id}/")
}

impl From<ManageError> for WebError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NotFound => WebError::NotFound,
            ManageError::Refused(m) => WebError::Forbidden(m),
            ManageError::Invalid(problems) => WebError::BadRequest(
                problems
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ManageError::Db(e) => WebError::internal(e),
        }
    }
}

/// A form's fields, several values per name kept (checkboxes, multi-selects).
pub(super) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed ("" when absent).
    pub fn one(&self, name: &str) -> String {
        self.raw(name).trim().to_owned()
    }

    /// The first value of `name` as sent.
    pub fn raw(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }
}

/// Field problems as the templates read them (one message per field).
pub(super) fn error_map(problems: Vec<(String, String)>) -> HashMap<String, String> {
    let mut errors: HashMap<String, String> = HashMap::new();
    for (field, message) in problems {
        errors
            .entry(field)
            .and_modify(|m| {
                m.push(' ');
                m.push_str(&message);
            })
            .or_insert(message);
    }
    errors
}

fn parse_structure(raw: &str) -> Option<Structure> {
    match raw {
        "standalone" => Some(Structure::Standalone),
        "parent" => Some(Structure::Parent),
        "child" => Some(Structure::Child),
        _ => None,
    }
}

async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let q = search_text(&query, "q")?;
    let page = page_number(&query)?;
    let class_raw = query.get("class").map(|c| c.trim()).unwrap_or_default();
    let class_id = match class_raw {
        "" => None,
        c => Some(
            c.parse::<i64>()
                .map_err(|_| WebError::BadRequest("That is not a product class.".into()))?,
        ),
    };
    let structure_raw = query.get("structure").map(|c| c.trim()).unwrap_or_default();
    let structure = match structure_raw {
        "" => None,
        s => Some(
            parse_structure(s)
                .ok_or_else(|| WebError::BadRequest("That is not a product structure.".into()))?,
        ),
    };
    let filter = list::Filter {
        query: q.clone(),
        class_id,
        structure,
    };
    let (rows, total) = list::products(
        &state.db.pool,
        current.staff.partner_scope(),
        &filter,
        page,
        PAGE_SIZE,
    )
    .await?;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| minijinja::context! { url => product_url(r.id), ..minijinja::Value::from_serialize(&r) })
        .collect();
    let classes = list::classes(&state.db.pool).await?;
    let categories = manage::categories::choices(&state.db.pool).await?;
    let class_param = class_id.map(|c| c.to_string()).unwrap_or_default();
    let pages = capped_pages(
        CATALOGUE_URL,
        &[
            ("q", &q),
            ("class", &class_param),
            ("structure", structure_raw),
        ],
        page,
        total,
        PAGE_SIZE,
        rows.len(),
    );
    let ctx = minijinja::context! {
        products => rows,
        total => total,
        q => q,
        class_id => class_id,
        structure => structure_raw,
        classes => classes.iter().map(|(id, name)| minijinja::context! { id => id, name => name }).collect::<Vec<_>>(),
        categories => categories,
        pages => pages,
        can_manage => current.staff.can(Permission::ManageCatalogue),
        can_edit_tree => current.staff.partner_scope().is_none(),
        can_import => current.staff.can(Permission::ManageCatalogue) && current.staff.partner_scope().is_none(),
        import_url => catalogue_transfer::IMPORT_URL,
        export_url => catalogue_transfer::EXPORT_URL,
        new_url => NEW_PRODUCT_URL,
        bulk_url => BULK_URL,
        categories_url => CATEGORIES_URL,
        classes_url => CLASSES_URL,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/catalogue/list.html",
        StatusCode::OK,
        ctx,
    )
}

/// `POST /dashboard/catalogue/bulk/`: `action` (publish, unpublish, category with `category`,
/// delete) on the checked `ids`. Deleting asks first: without `confirm=1` it shows the
/// products and a confirm button.
async fn bulk_action(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let fields = Fields(fields);
    let mut ids = Vec::new();
    for raw in fields.all("ids") {
        ids.push(
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or(WebError::NotFound)?,
        );
    }
    let action = match fields.one("action").as_str() {
        "publish" => bulk::Action::Publish,
        "unpublish" => bulk::Action::Unpublish,
        "delete" => bulk::Action::Delete,
        "category" => match fields.one("category").parse::<i64>() {
            Ok(c) => bulk::Action::SetCategory(c),
            Err(_) => {
                current
                    .session
                    .flash("error", "Choose the category to file the products in.");
                return Ok(Redirect::to(CATALOGUE_URL).into_response());
            }
        },
        _ => {
            return Err(WebError::BadRequest(
                "Choose what to do with the products.".into(),
            ));
        }
    };
    if ids.is_empty() {
        current
            .session
            .flash("error", "Choose at least one product first.");
        return Ok(Redirect::to(CATALOGUE_URL).into_response());
    }
    if action == bulk::Action::Delete && fields.one("confirm") != "1" {
        let chosen = bulk::chosen(&state.db, &current.staff, &ids).await?;
        let ctx = minijinja::context! {
            products => chosen,
            bulk_url => BULK_URL,
            list_url => CATALOGUE_URL,
        };
        return render(
            &state,
            &current,
            BULK_URL,
            "dashboard/catalogue/confirm_delete.html",
            StatusCode::OK,
            ctx,
        );
    }
    match bulk::apply(&state.db, &state.changes, &current.staff, &ids, action).await {
        Ok(n) => {
            let done = match action {
                bulk::Action::Publish => "published",
                bulk::Action::Unpublish => "unpublished",
                bulk::Action::SetCategory(_) => "filed in the category",
                bulk::Action::Delete => "deleted",
            };
            current.session.flash(
                "success",
                format!("{n} product{} {done}.", if n == 1 { "" } else { "s" }),
            );
            Ok(Redirect::to(CATALOGUE_URL).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            let message = problems
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join(" ");
            current.session.flash("error", message);
            Ok(Redirect::to(CATALOGUE_URL).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
