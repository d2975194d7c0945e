//! The steps before the review: guest email (or sign in), delivery address, delivery method
//! and payment method. Each page re-checks the steps before it (`at_step!`), so back, reload
//! and a second tab behave.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::Value;

use super::{
    ADDRESS_URL, CHECKOUT_URL, METHOD_URL, PAYMENT_URL, PREVIEW_URL, View, at_step,
    ctx_or_redirect, page, save, see_other, step_url,
};
use crate::address::{self, Address, FieldErrors};
use crate::app::AppState;
use crate::checkout::flow::{self, Checkout, Chosen, NotYours, Step};
use crate::customer;
use crate::payment;
use crate::session::Session;
use crate::shipping::Method;
use crate::web::WebError;

pub(super) async fn start(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    Ok(see_other(step_url(ctx.next_step())))
}

// ---- gateway: guest email, or sign in / register ----

pub(super) async fn gateway_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    if ctx.customer_id.is_some() {
        return Ok(see_other(ADDRESS_URL));
    }
    let form = minijinja::context! { email => ctx.state.guest_email.clone().unwrap_or_default() };
    let view = View {
        state: &state,
        session: &session,
        uri: &uri,
    };
    gateway_render(&view, &ctx, StatusCode::OK, form, FieldErrors::new()).await
}

async fn gateway_render(
    view: &View<'_>,
    ctx: &Checkout,
    status: StatusCode,
    form: Value,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let p = minijinja::context! {
        form => form, errors => errors,
        login_url => format!("{}?next={CHECKOUT_URL}", super::super::accounts::LOGIN_URL),
        register_url => format!("{}?next={CHECKOUT_URL}", super::super::accounts::REGISTER_URL),
    };
    page(view, "checkout/gateway.html", status, Step::Email, ctx, p).await
}

pub(super) async fn gateway_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    if ctx.customer_id.is_some() {
        return Ok(see_other(ADDRESS_URL));
    }
    let email = customer::normalize_email(fields.get("email").map(String::as_str).unwrap_or(""));
    if let Some(problem) = customer::email_problem(&email) {
        let mut errors = FieldErrors::new();
        errors.insert("email".into(), problem.into());
        let form = minijinja::context! { email => email };
        let view = View {
            state: &state,
            session: &session,
            uri: &uri,
        };
        return gateway_render(&view, &ctx, StatusCode::UNPROCESSABLE_ENTITY, form, errors).await;
    }
    ctx.state.guest_email = Some(email);
    save(&session, &ctx.state);
    Ok(see_other(ADDRESS_URL))
}

// ---- shipping address ----

/// A customer's address book (guests have none).
async fn saved_addresses(
    state: &AppState,
    ctx: &Checkout,
) -> Result<Vec<address::SavedAddress>, WebError> {
    Ok(match ctx.customer_id {
        Some(id) => address::list(&state.db.pool, id).await?,
        None => Vec::new(),
    })
}

pub(super) async fn address_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Address);
    let saved = saved_addresses(&state, &ctx).await?;
    let form = AddressForm::initial(&ctx, &saved);
    let view = View {
        state: &state,
        session: &session,
        uri: &uri,
    };
    address_render(&view, &ctx, StatusCode::OK, form, saved).await
}

/// The address step's form as shown: which saved address each choice points at (an id,
/// `new`, or for billing `same`), the typed addresses and their problems.
struct AddressForm {
    shipping_pick: String,
    shipping: Address,
    shipping_errors: FieldErrors,
    billing_pick: String,
    billing: Address,
    billing_errors: FieldErrors,
}

fn blank_address() -> Address {
    Address {
        country: "GB".into(),
        ..Address::default()
    }
}

impl AddressForm {
    /// What the customer chose before, if they did; else their default delivery address
    /// (the book lists it first), and billed to it unless they keep a different default
    /// billing address.
    fn initial(ctx: &Checkout, saved: &[address::SavedAddress]) -> AddressForm {
        let in_book = |a: &Address| {
            saved
                .iter()
                .find(|s| s.address.fingerprint() == a.fingerprint())
                .map(|s| s.id.to_string())
        };
        let (shipping_pick, shipping) = match &ctx.state.shipping_address {
            Some(a) => match in_book(a) {
                Some(id) => (id, blank_address()),
                None => ("new".to_owned(), a.clone()),
            },
            None => match saved.first() {
                Some(first) => (first.id.to_string(), blank_address()),
                None => ("new".to_owned(), blank_address()),
            },
        };
        let (billing_pick, billing) =
            match (&ctx.state.shipping_address, &ctx.state.billing_address) {
                (Some(_), None) => ("same".to_owned(), blank_address()),
                (_, Some(b)) => match in_book(b) {
                    Some(id) => (id, blank_address()),
                    None => ("new".to_owned(), b.clone()),
                },
                (None, None) => match saved.iter().find(|s| s.is_default_billing) {
                    Some(b) if b.id.to_string() != shipping_pick => {
                        (b.id.to_string(), blank_address())
                    }
                    _ => ("same".to_owned(), blank_address()),
                },
            };
        AddressForm {
            shipping_pick,
            shipping,
            shipping_errors: FieldErrors::new(),
            billing_pick,
            billing,
            billing_errors: FieldErrors::new(),
        }
    }
}

async fn address_render(
    view: &View<'_>,
    ctx: &Checkout,
    status: StatusCode,
    form: AddressForm,
    saved: Vec<address::SavedAddress>,
) -> Result<Response, WebError> {
    let countries = super::super::addresses::countries();
    let saved: Vec<Value> = saved
        .into_iter()
        .map(|s| {
            minijinja::context! {
                id => s.id.to_string(), lines => s.address.lines(),
                is_default_shipping => s.is_default_shipping,
                is_default_billing => s.is_default_billing,
            }
        })
        .collect();
    let p = minijinja::context! {
        form => form.shipping, errors => form.shipping_errors, shipping_pick => form.shipping_pick,
        billing_form => form.billing, billing_errors => form.billing_errors,
        billing_pick => form.billing_pick,
        countries => countries, saved => saved,
    };
    page(
        view,
        "checkout/shipping_address.html",
        status,
        Step::Address,
        ctx,
        p,
    )
    .await
}

/// A saved address's id as posted; anything else is a broken form, not a choice.
fn saved_id(raw: &str) -> Result<Chosen, WebError> {
    raw.parse()
        .map(Chosen::Saved)
        .map_err(|_| WebError::BadRequest("Choose one of your addresses.".into()))
}

pub(super) async fn address_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Address);
    let mut form = AddressForm {
        shipping_pick: "new".into(),
        shipping: blank_address(),
        shipping_errors: FieldErrors::new(),
        billing_pick: "same".into(),
        billing: blank_address(),
        billing_errors: FieldErrors::new(),
    };
    // `address_id`: a saved address, or absent / `new` for the typed one. `billing`: absent
    // or `same` to bill the delivery address, a saved address, or `new` for the typed
    // `billing_*` fields. Both typed addresses are checked at once, so one answer shows
    // every problem.
    let shipping = match fields.get("address_id").map(String::as_str) {
        None | Some("new") => match Address::from_form(&fields) {
            Ok(a) => Some(Chosen::Typed(a)),
            Err(problem) => {
                (form.shipping, form.shipping_errors) = *problem;
                None
            }
        },
        Some(raw) => {
            form.shipping_pick = raw.to_owned();
            Some(saved_id(raw)?)
        }
    };
    let billing = match fields.get("billing").map(String::as_str) {
        None | Some("same") => Some(None),
        Some("new") => {
            form.billing_pick = "new".into();
            match Address::from_form_prefixed(&fields, "billing_") {
                Ok(a) => Some(Some(Chosen::Typed(a))),
                Err(problem) => {
                    (form.billing, form.billing_errors) = *problem;
                    None
                }
            }
        }
        Some(raw) => {
            form.billing_pick = raw.to_owned();
            Some(Some(saved_id(raw)?))
        }
    };
    let (Some(shipping), Some(billing)) = (shipping, billing) else {
        let saved = saved_addresses(&state, &ctx).await?;
        let view = View {
            state: &state,
            session: &session,
            uri: &uri,
        };
        return address_render(&view, &ctx, StatusCode::UNPROCESSABLE_ENTITY, form, saved).await;
    };
    flow::choose_addresses(&state.db.pool, &mut ctx, shipping, billing)
        .await?
        .map_err(|NotYours| WebError::NotFound)?;
    save(&session, &ctx.state);
    Ok(see_other(METHOD_URL))
}

// ---- shipping method ----

pub(super) async fn method_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Method);
    let Some(address) = ctx.state.shipping_address.clone() else {
        return Ok(see_other(ADDRESS_URL));
    };
    let methods = super::quote(&state, &ctx, &address).await?;
    let view = View {
        state: &state,
        session: &session,
        uri: &uri,
    };
    method_render(&view, &ctx, StatusCode::OK, methods, None).await
}

async fn method_render(
    view: &View<'_>,
    ctx: &Checkout,
    status: StatusCode,
    methods: Vec<Method>,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let chosen = ctx.state.shipping_method.clone();
    let first = methods.first().map(Method::key);
    let methods: Vec<Value> = methods
        .into_iter()
        .map(|m| {
            let key = m.key();
            minijinja::context! {
                key => key.clone(), name => m.name, description => m.description,
                charge => m.charge_incl_tax, is_free => m.charge_incl_tax.amount().is_zero(),
                checked => chosen.as_ref().map_or(first.as_ref() == Some(&key), |c| *c == key),
            }
        })
        .collect();
    let p = minijinja::context! { methods => methods, errors => minijinja::context! { method => error } };
    page(
        view,
        "checkout/shipping_method.html",
        status,
        Step::Method,
        ctx,
        p,
    )
    .await
}

pub(super) async fn method_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Method);
    let Some(address) = ctx.state.shipping_address.clone() else {
        return Ok(see_other(ADDRESS_URL));
    };
    let methods = super::quote(&state, &ctx, &address).await?;
    let wanted = fields.get("method").map(String::as_str).unwrap_or("");
    if !methods.iter().any(|m| m.key() == wanted) {
        let view = View {
            state: &state,
            session: &session,
            uri: &uri,
        };
        return method_render(
            &view,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            methods,
            Some("Choose one of the delivery methods."),
        )
        .await;
    }
    ctx.state.shipping_method = Some(wanted.to_string());
    save(&session, &ctx.state);
    Ok(see_other(PAYMENT_URL))
}

// ---- payment method ----

pub(super) async fn payment_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Payment);
    let view = View {
        state: &state,
        session: &session,
        uri: &uri,
    };
    payment_render(&view, &ctx, StatusCode::OK, None).await
}

async fn payment_render(
    view: &View<'_>,
    ctx: &Checkout,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let gateways = payment::gateways(view.state.plugins.registry());
    let chosen = ctx
        .state
        .gateway
        .clone()
        .or_else(|| gateways.first().map(|g| g.id.clone()));
    let p = minijinja::context! {
        gateways => gateways, chosen => chosen,
        errors => minijinja::context! { gateway => error },
    };
    page(
        view,
        "checkout/payment_method.html",
        status,
        Step::Payment,
        ctx,
        p,
    )
    .await
}

pub(super) async fn payment_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Payment);
    let wanted = fields.get("gateway").map(String::as_str).unwrap_or("");
    if !payment::gateways(state.plugins.registry())
        .iter()
        .any(|g| g.id == wanted)
    {
        let view = View {
            state: &state,
            session: &session,
            uri: &uri,
        };
        return payment_render(
            &view,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Choose one of the ways to pay."),
        )
        .await;
    }
    ctx.state.gateway = Some(wanted.to_string());
    save(&session, &ctx.state);
    Ok(see_other(PREVIEW_URL))
}
