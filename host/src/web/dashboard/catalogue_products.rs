//! Dashboard product pages: a new product (standalone, parent, or a variant under its parent),
//! a product's edit page with its form generated from the product class's attributes, and its
//! stock records per partner.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::Value;

use super::catalogue::{CATALOGUE_URL, Fields, NEW_PRODUCT_URL, error_map, product_url};
use super::params::path_id;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::catalogue::attributes::AttributeDef;
use crate::catalogue::manage::products::{self, Editable, NewKind, ProductInput, attribute_field};
use crate::catalogue::manage::stock::{self, StockInput};
use crate::catalogue::manage::{ManageError, categories, list};
use crate::staff::Permission;
use crate::web::WebError;

fn stock_input(fields: &Fields) -> StockInput {
    StockInput {
        partner: fields.one("stock_partner"),
        sku: fields.one("stock_sku"),
        price: fields.one("stock_price"),
        num_in_stock: fields.one("stock_num_in_stock"),
        low_stock_threshold: fields.one("stock_low_stock_threshold"),
    }
}

fn product_input(fields: &Fields, defs: &[AttributeDef]) -> ProductInput {
    ProductInput {
        title: fields.one("title"),
        upc: fields.one("upc"),
        description: fields.raw("description"),
        is_public: fields.checked("is_public"),
        categories: fields.all("categories"),
        attributes: defs
            .iter()
            .map(|d| (d.code.clone(), fields.all(&attribute_field(&d.code))))
            .collect(),
        recommendations: fields.one("recommendations"),
        stock: stock_input(fields),
    }
}

fn input_from(product: &Editable) -> ProductInput {
    ProductInput {
        title: product.title.clone(),
        upc: product.upc.clone().unwrap_or_default(),
        description: product.description.clone(),
        is_public: product.is_public,
        categories: product.category_ids.iter().map(i64::to_string).collect(),
        attributes: product.values.clone(),
        recommendations: product
            .recommendations
            .iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        stock: StockInput::default(),
    }
}

/// The attributes as the form draws them.
fn attribute_views(defs: &[AttributeDef]) -> Vec<Value> {
    defs.iter()
        .map(|d| {
            minijinja::context! {
                code => d.code.clone(),
                field => attribute_field(&d.code),
                name => d.name.clone(),
                kind => d.kind.as_str(),
                required => d.required,
                options => d.options.clone(),
            }
        })
        .collect()
}

async fn class_defs(state: &AppState, class_id: i64) -> Result<Vec<AttributeDef>, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(products::class_attributes(&mut conn, class_id).await?)
}

/// What a new-product form is for, from `?class=&structure=` or `?parent=` (or the hidden
/// fields of the posted form).
enum Chosen {
    Nothing,
    Kind {
        kind: NewKind,
        class_id: i64,
        class_name: String,
        parent: Option<(i64, String)>,
    },
}

async fn chosen(
    state: &AppState,
    current: &CurrentStaff,
    class: &str,
    structure: &str,
    parent: &str,
) -> Result<Chosen, WebError> {
    if !parent.is_empty() {
        let parent_id = path_id(parent)?;
        let p = products::find(&state.db.pool, current.staff.partner_scope(), parent_id)
            .await?
            .filter(|p| p.structure == "parent")
            .ok_or(WebError::NotFound)?;
        return Ok(Chosen::Kind {
            kind: NewKind::Child { parent_id },
            class_id: p.class_id,
            class_name: p.class_name,
            parent: Some((p.id, p.title)),
        });
    }
    if class.is_empty() {
        return Ok(Chosen::Nothing);
    }
    let class_id = path_id(class)?;
    let classes = list::classes(&state.db.pool).await?;
    let class_name = classes
        .into_iter()
        .find(|(id, _)| *id == class_id)
        .map(|(_, n)| n)
        .ok_or(WebError::NotFound)?;
    let kind = match structure {
        "parent" => NewKind::Parent { class_id },
        _ => NewKind::Standalone { class_id },
    };
    Ok(Chosen::Kind {
        kind,
        class_id,
        class_name,
        parent: None,
    })
}

struct FormPage<'a> {
    product: Option<&'a Editable>,
    structure: &'static str,
    class_name: String,
    parent: Option<(i64, String)>,
    hidden: Vec<(&'static str, String)>,
    action: String,
    defs: Vec<AttributeDef>,
    input: ProductInput,
    errors: HashMap<String, String>,
    /// The stock record whose form the errors are about (`None`: the new record's).
    stock_form: Option<i64>,
    stock_input: StockInput,
}

async fn form_page(
    state: &AppState,
    current: &CurrentStaff,
    page: FormPage<'_>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let scope = current.staff.partner_scope();
    let tree = categories::tree(&state.db.pool).await?;
    let mut conn = state.db.pool.acquire().await?;
    let partners = stock::partners(&mut conn, scope).await?;
    drop(conn);
    let (records, path) = match page.product {
        Some(p) => (
            stock::for_product(&state.db.pool, scope, p.id).await?,
            product_url(p.id),
        ),
        None => (Vec::new(), NEW_PRODUCT_URL.to_owned()),
    };
    let ctx = minijinja::context! {
        product => page.product,
        structure => page.structure,
        class_name => page.class_name,
        parent => page.parent.map(|(id, title)| minijinja::context! { id => id, title => title, url => product_url(id) }),
        hidden => page.hidden.into_iter().map(|(k, v)| minijinja::context! { name => k, value => v }).collect::<Vec<_>>(),
        action => page.action,
        attributes => attribute_views(&page.defs),
        form => page.input,
        errors => page.errors,
        stock_form => page.stock_form,
        stock_input => page.stock_input,
        categories => tree,
        partners => partners,
        stock_records => records,
        currency => state.currency.code(),
        can_manage => current.staff.can(Permission::ManageCatalogue),
        is_partner => scope.is_some(),
        list_url => CATALOGUE_URL,
        new_url => NEW_PRODUCT_URL,
        images_url => page.product.map(|p| format!("{}images/", product_url(p.id))),
        storefront_url => page.product.map(|p| p.url.clone()),
        stock_url => page.product.map(|p| format!("{}stock/", product_url(p.id))),
    };
    render(
        state,
        current,
        &path,
        "dashboard/catalogue/product.html",
        status,
        ctx,
    )
}

pub(super) async fn new_form(
    State(state): State<AppState>,
    current: CurrentStaff,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    // Read-only staff see the form (without its button), like every other page.
    current.require(Permission::ViewCatalogue)?;
    let get = |k: &str| {
        query
            .get(k)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    match chosen(
        &state,
        &current,
        &get("class"),
        &get("structure"),
        &get("parent"),
    )
    .await?
    {
        Chosen::Nothing => {
            let classes = list::classes(&state.db.pool).await?;
            let ctx = minijinja::context! {
                classes => classes.iter().map(|(id, name)| minijinja::context! { id => id, name => name }).collect::<Vec<_>>(),
                is_partner => current.staff.partner_scope().is_some(),
                can_manage => current.staff.can(Permission::ManageCatalogue),
                new_url => NEW_PRODUCT_URL,
                list_url => CATALOGUE_URL,
            };
            render(
                &state,
                &current,
                NEW_PRODUCT_URL,
                "dashboard/catalogue/new.html",
                StatusCode::OK,
                ctx,
            )
        }
        Chosen::Kind {
            kind,
            class_id,
            class_name,
            parent,
        } => {
            let defs = class_defs(&state, class_id).await?;
            let page = FormPage {
                product: None,
                structure: structure_of(kind),
                class_name,
                hidden: hidden_of(kind),
                parent,
                action: NEW_PRODUCT_URL.to_owned(),
                defs,
                input: ProductInput {
                    is_public: true,
                    ..ProductInput::default()
                },
                errors: HashMap::new(),
                stock_form: None,
                stock_input: StockInput::default(),
            };
            form_page(&state, &current, page, StatusCode::OK).await
        }
    }
}

fn structure_of(kind: NewKind) -> &'static str {
    match kind {
        NewKind::Standalone { .. } => "standalone",
        NewKind::Parent { .. } => "parent",
        NewKind::Child { .. } => "child",
    }
}

fn hidden_of(kind: NewKind) -> Vec<(&'static str, String)> {
    match kind {
        NewKind::Standalone { class_id } => vec![
            ("class", class_id.to_string()),
            ("structure", "standalone".into()),
        ],
        NewKind::Parent { class_id } => vec![
            ("class", class_id.to_string()),
            ("structure", "parent".into()),
        ],
        NewKind::Child { parent_id } => vec![("parent", parent_id.to_string())],
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let fields = Fields(fields);
    let Chosen::Kind {
        kind,
        class_id,
        class_name,
        parent,
    } = chosen(
        &state,
        &current,
        &fields.one("class"),
        &fields.one("structure"),
        &fields.one("parent"),
    )
    .await?
    else {
        return Err(WebError::BadRequest(
            "Choose the product class first.".into(),
        ));
    };
    let defs = class_defs(&state, class_id).await?;
    let input = product_input(&fields, &defs);
    match products::create(
        &state.db,
        &state.changes,
        &current.staff,
        state.currency,
        kind,
        &input,
    )
    .await
    {
        Ok(id) => {
            current.session.flash("success", "The product was added.");
            Ok(Redirect::to(&product_url(id)).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            let stock_input = input.stock.clone();
            let page = FormPage {
                product: None,
                structure: structure_of(kind),
                class_name,
                hidden: hidden_of(kind),
                parent,
                action: NEW_PRODUCT_URL.to_owned(),
                defs,
                input,
                errors: error_map(problems),
                stock_form: None,
                stock_input,
            };
            form_page(&state, &current, page, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn editable(
    state: &AppState,
    current: &CurrentStaff,
    raw: &str,
) -> Result<Editable, WebError> {
    let id = path_id(raw)?;
    products::find(&state.db.pool, current.staff.partner_scope(), id)
        .await?
        .ok_or(WebError::NotFound)
}

fn edit_page(product: &Editable, defs: Vec<AttributeDef>, input: ProductInput) -> FormPage<'_> {
    FormPage {
        product: Some(product),
        structure: product.structure,
        class_name: product.class_name.clone(),
        parent: product.parent.as_ref().map(|p| (p.id, p.title.clone())),
        hidden: Vec::new(),
        action: product_url(product.id),
        defs,
        input,
        errors: HashMap::new(),
        stock_form: None,
        stock_input: StockInput::default(),
    }
}

pub(super) async fn edit_form(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let product = editable(&state, &current, &raw).await?;
    let defs = class_defs(&state, product.class_id).await?;
    let input = input_from(&product);
    form_page(
        &state,
        &current,
        edit_page(&product, defs, input),
        StatusCode::OK,
    )
    .await
}

pub(super) async fn update(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let product = editable(&state, &current, &raw).await?;
    let defs = class_defs(&state, product.class_id).await?;
    let fields = Fields(fields);
    let input = product_input(&fields, &defs);
    match products::update(
        &state.db,
        &state.changes,
        &current.staff,
        product.id,
        &input,
    )
    .await
    {
        Ok(()) => {
            current.session.flash("success", "The product was saved.");
            Ok(Redirect::to(&product_url(product.id)).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            let mut page = edit_page(&product, defs, input);
            page.errors = error_map(problems);
            form_page(&state, &current, page, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn add_stock(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let product = editable(&state, &current, &raw).await?;
    let input = stock_input(&Fields(fields));
    match stock::add(
        &state.db,
        &state.changes,
        &current.staff,
        state.currency,
        product.id,
        &input,
    )
    .await
    {
        Ok(_) => {
            current
                .session
                .flash("success", "The stock record was added.");
            Ok(Redirect::to(&product_url(product.id)).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            stock_problems(&state, &current, &product, None, input, problems).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn stock_problems(
    state: &AppState,
    current: &CurrentStaff,
    product: &Editable,
    record: Option<i64>,
    input: StockInput,
    problems: Vec<(String, String)>,
) -> Result<Response, WebError> {
    let defs = class_defs(state, product.class_id).await?;
    let mut page = edit_page(product, defs, input_from(product));
    page.errors = error_map(problems);
    page.stock_form = record;
    page.stock_input = input;
    form_page(state, current, page, StatusCode::UNPROCESSABLE_ENTITY).await
}

pub(super) async fn update_stock(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path((raw, raw_stock)): Path<(String, String)>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ManageCatalogue)?;
    let product = editable(&state, &current, &raw).await?;
    let stock_id = path_id(&raw_stock)?;
    let input = stock_input(&Fields(fields));
    match stock::update(
        &state.db,
        &state.changes,
        &current.staff,
        state.currency,
        product.id,
        stock_id,
        &input,
    )
    .await
    {
        Ok(()) => {
            current
                .session
                .flash("success", "The stock record was saved.");
            Ok(Redirect::to(&product_url(product.id)).into_response())
        }
        Err(ManageError::Invalid(problems)) => {
            stock_problems(&state, &current, &product, Some(stock_id), input, problems).await
        }
        Err(e) => Err(e.into()),
    }
}
