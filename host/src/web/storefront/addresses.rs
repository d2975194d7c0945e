//! The customer's address book at `/accounts/addresses/`: the list, adding, editing,
//! deleting, and choosing the default delivery and billing addresses (which checkout
//! preselects). Signed-in customers only; a visitor is sent to sign in first.
//!
//! An address id in a URL is looked up in the signed-in customer's own book (the domain puts
//! the customer in every query), so someone else's id is a 404 exactly like an id that does
//! not exist. A form with problems is shown again (422) with a message per field and what
//! was typed.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Value;

use crate::address::book::{self, BookError, Defaults};
use crate::address::{self, Address, COUNTRIES, FieldErrors, MAX_SAVED_ADDRESSES, Which};
use crate::app::AppState;
use crate::session::Session;
use crate::web::WebError;

pub const ADDRESSES_URL: &str = "/accounts/addresses/";
const NEW_URL: &str = "/accounts/addresses/new/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ADDRESSES_URL, get(list))
        .route(NEW_URL, get(new_page).post(create))
        .route(
            "/accounts/addresses/{address_id}/edit/",
            get(edit_page).post(update),
        )
        .route("/accounts/addresses/{address_id}/delete/", post(delete))
        .route("/accounts/addresses/{address_id}/default/", post(default))
}

/// The countries for an address form's select.
pub(super) fn countries() -> Vec<Value> {
    COUNTRIES
        .iter()
        .map(|(code, name)| minijinja::context! { code => *code, name => *name })
        .collect()
}

/// The way to the sign-in page, back to `next` afterwards.
fn to_login(next: &str) -> Response {
    let to = format!("{}?next={next}", super::accounts::LOGIN_URL);
    Redirect::to(&to).into_response()
}

/// The signed-in customer's id, or the handler answers with the way to sign in.
macro_rules! signed_in {
    ($session:expr, $next:expr) => {
        match $session.customer_id() {
            Some(id) => id,
            None => return Ok(to_login($next)),
        }
    };
}

/// An id from the path; one that is not a number names no address.
fn address_id(raw: &str) -> Result<i64, WebError> {
    raw.parse().map_err(|_| WebError::NotFound)
}

fn edit_url(id: i64) -> String {
    format!("{ADDRESSES_URL}{id}/edit/")
}

fn to_list() -> Response {
    Redirect::to(ADDRESSES_URL).into_response()
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let customer = signed_in!(session, ADDRESSES_URL);
    let addresses: Vec<Value> = address::list(&state.db.pool, customer)
        .await?
        .into_iter()
        .map(|s| {
            minijinja::context! {
                id => s.id, lines => s.address.lines(), phone => s.address.phone,
                is_default_shipping => s.is_default_shipping,
                is_default_billing => s.is_default_billing,
                edit_url => edit_url(s.id),
                delete_url => format!("{ADDRESSES_URL}{}/delete/", s.id),
                default_url => format!("{ADDRESSES_URL}{}/default/", s.id),
            }
        })
        .collect();
    let full = addresses.len() >= usize::try_from(MAX_SAVED_ADDRESSES).unwrap_or(usize::MAX);
    session.ensure_csrf_token();
    super::render(
        &state,
        &session,
        &uri,
        "customer/addresses.html",
        minijinja::context! {
            addresses => addresses, new_url => NEW_URL, full => full,
            max_addresses => MAX_SAVED_ADDRESSES,
        },
    )
    .await
}

/// The add or edit form, for the request it answers.
struct FormPage<'a> {
    state: &'a AppState,
    session: &'a Session,
    uri: &'a Uri,
}

impl FormPage<'_> {
    /// `id`: the address being edited (`None`: a new one).
    async fn render(
        &self,
        status: StatusCode,
        id: Option<i64>,
        form: &Address,
        errors: FieldErrors,
        defaults: Defaults,
    ) -> Result<Response, WebError> {
        self.session.ensure_csrf_token();
        let page = minijinja::context! {
            form => form, errors => errors, countries => countries(),
            is_new => id.is_none(),
            action => id.map_or_else(|| NEW_URL.to_owned(), edit_url),
            list_url => ADDRESSES_URL,
            default_shipping => defaults.shipping, default_billing => defaults.billing,
        };
        let mut response = super::render(
            self.state,
            self.session,
            self.uri,
            "customer/address_form.html",
            page,
        )
        .await?;
        *response.status_mut() = status;
        Ok(response)
    }
}

/// The form's problem when the book refuses an address, for the form's top.
fn refusal(e: BookError) -> Result<FieldErrors, WebError> {
    let message = match e {
        BookError::Full => format!(
            "Your address book is full ({MAX_SAVED_ADDRESSES} addresses). Delete one you no \
             longer use, then add this one."
        ),
        BookError::Duplicate => "This address is in your address book already.".to_owned(),
        other => return Err(other.into()),
    };
    Ok(FieldErrors::from([("form".to_owned(), message)]))
}

async fn new_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    signed_in!(session, NEW_URL);
    let blank = Address {
        country: "GB".into(),
        ..Address::default()
    };
    let page = FormPage {
        state: &state,
        session: &session,
        uri: &uri,
    };
    page.render(
        StatusCode::OK,
        None,
        &blank,
        FieldErrors::new(),
        Defaults::default(),
    )
    .await
}

fn checked(fields: &HashMap<String, String>, name: &str) -> bool {
    fields.get(name).is_some_and(|v| !v.is_empty())
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let customer = signed_in!(session, NEW_URL);
    let defaults = Defaults {
        shipping: checked(&fields, "default_shipping"),
        billing: checked(&fields, "default_billing"),
    };
    let page = FormPage {
        state: &state,
        session: &session,
        uri: &uri,
    };
    let (form, errors) = match Address::from_form(&fields) {
        Ok(address) => match book::add(&state.db, customer, &address, defaults).await {
            Ok(_) => {
                session.flash("success", "The address was added to your address book.");
                return Ok(to_list());
            }
            Err(e) => (address, refusal(e)?),
        },
        Err(problem) => *problem,
    };
    page.render(
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        &form,
        errors,
        defaults,
    )
    .await
}

async fn edit_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let customer = signed_in!(session, uri.path());
    let id = address_id(&raw)?;
    let saved = address::get(&state.db.pool, customer, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let page = FormPage {
        state: &state,
        session: &session,
        uri: &uri,
    };
    page.render(
        StatusCode::OK,
        Some(id),
        &saved.address,
        FieldErrors::new(),
        Defaults::default(),
    )
    .await
}

async fn update(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let customer = signed_in!(session, uri.path());
    let id = address_id(&raw)?;
    let page = FormPage {
        state: &state,
        session: &session,
        uri: &uri,
    };
    let (form, errors) = match Address::from_form(&fields) {
        Ok(address) => match book::edit(&state.db, customer, id, &address).await {
            Ok(()) => {
                session.flash("success", "The address was updated.");
                return Ok(to_list());
            }
            Err(e) => (address, refusal(e)?),
        },
        Err(problem) => {
            // Someone else's id gets its 404 whatever was typed: the form must not tell
            // them apart by answering a 422 for one and a 404 for the other.
            address::get(&state.db.pool, customer, id)
                .await?
                .ok_or(WebError::NotFound)?;
            *problem
        }
    };
    page.render(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(id),
        &form,
        errors,
        Defaults::default(),
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let customer = signed_in!(session, ADDRESSES_URL);
    book::delete(&state.db, customer, address_id(&raw)?).await?;
    session.flash("success", "The address was deleted from your address book.");
    Ok(to_list())
}

async fn default(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let customer = signed_in!(session, ADDRESSES_URL);
    let id = address_id(&raw)?;
    let which = fields
        .get("which")
        .and_then(|w| Which::parse(w))
        .ok_or_else(|| WebError::BadRequest("Choose delivery or billing.".into()))?;
    book::make_default(&state.db, customer, id, which).await?;
    session.flash(
        "success",
        match which {
            Which::Shipping => "That is now your default delivery address.",
            Which::Billing => "That is now your default billing address.",
        },
    );
    Ok(to_list())
}
