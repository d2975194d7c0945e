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
use crate::address::{self, Address, COUNTRIES, FieldErrors};
use crate::app::AppState;
use crate::checkout::flow::{Checkout, Step};
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
    let form = ctx
        .state
        .shipping_address
        .clone()
        .or_else(|| saved.first().map(|s| s.address.clone()))
        .unwrap_or_else(|| Address {
            country: "GB".into(),
            ..Address::default()
        });
    let view = View {
        state: &state,
        session: &session,
        uri: &uri,
    };
    address_render(
        &view,
        &ctx,
        StatusCode::OK,
        &form,
        FieldErrors::new(),
        saved,
    )
    .await
}

async fn address_render(
    view: &View<'_>,
    ctx: &Checkout,
    status: StatusCode,
    form: &Address,
    errors: FieldErrors,
    saved: Vec<address::SavedAddress>,
) -> Result<Response, WebError> {
    let countries: Vec<Value> = COUNTRIES
        .iter()
        .map(|(code, name)| minijinja::context! { code => *code, name => *name })
        .collect();
    let saved: Vec<Value> = saved
        .into_iter()
        .map(|s| minijinja::context! { id => s.id, lines => s.address.lines(), is_default => s.is_default })
        .collect();
    let p = minijinja::context! {
        form => form, errors => errors, countries => countries, saved => saved,
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

pub(super) async fn address_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Address);
    let chosen = if let Some(raw) = fields.get("address_id") {
        // A saved address: it must be this customer's own.
        let id: i64 = raw
            .parse()
            .map_err(|_| WebError::BadRequest("Choose one of your addresses.".into()))?;
        let customer = ctx.customer_id.ok_or(WebError::NotFound)?;
        let saved = address::get(&state.db.pool, customer, id)
            .await?
            .ok_or(WebError::NotFound)?;
        Ok(saved.address)
    } else {
        Address::from_form(&fields)
    };
    match chosen {
        Ok(address) => {
            ctx.choose_address(address);
            save(&session, &ctx.state);
            Ok(see_other(METHOD_URL))
        }
        Err(problem) => {
            let (form, errors) = *problem;
            let saved = saved_addresses(&state, &ctx).await?;
            let view = View {
                state: &state,
                session: &session,
                uri: &uri,
            };
            address_render(
                &view,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                errors,
                saved,
            )
            .await
        }
    }
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
