//! Review and pay: the preview with the card form, placing the order (the checkout module
//! pays and places it), and the thank-you page.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use minijinja::Value;

use super::super::basket::current_basket;
use super::{
    PAYMENT_URL, PLACE_URL, PREVIEW_URL, THANK_YOU_URL, View, at_step, back_to, ctx_or_redirect,
    deps, page, save, see_other, step_url,
};
use crate::address::FieldErrors;
use crate::app::AppState;
use crate::basket;
use crate::checkout::flow::{Checkout, Step};
use crate::checkout::{
    self, CheckoutState, LAST_ORDER_KEY, LastOrder, Outcome, SESSION_KEY, Submission,
};
use crate::order;
use crate::payment::{self, CardDetails, Gateway};
use crate::session::Session;
use crate::shipping::Method;
use crate::web::{WebError, origin};

fn chosen_gateway(state: &AppState, ctx: &Checkout) -> Option<Gateway> {
    let id = ctx.state.gateway.as_deref()?;
    payment::gateways(state.plugins.registry())
        .into_iter()
        .find(|g| g.id == id)
}

pub(super) async fn preview_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Preview);
    let method = match super::chosen_method(&state, &ctx).await? {
        Ok(m) => m,
        Err(detour) => return Ok(detour.respond(&session)),
    };
    let Some(gateway) = chosen_gateway(&state, &ctx) else {
        return Ok(back_to(&session, PAYMENT_URL, "Please choose how to pay."));
    };
    let view = View {
        state: &state,
        session: &session,
        uri: &uri,
    };
    preview_render(
        &view,
        &ctx,
        &method,
        &gateway,
        StatusCode::OK,
        Value::UNDEFINED,
        FieldErrors::new(),
    )
    .await
}

async fn preview_render(
    view: &View<'_>,
    ctx: &Checkout,
    method: &Method,
    gateway: &Gateway,
    status: StatusCode,
    card_form: Value,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let total = order::total_incl_tax(&ctx.basket, method).map_err(WebError::internal)?;
    let shipping_discounts: Vec<Value> = ctx
        .basket
        .discounts
        .on_shipping(method.charge_incl_tax, method.charge_excl_tax)
        .into_iter()
        .map(|(s, incl, _)| minijinja::context! { name => s.name.clone(), amount => incl })
        .collect();
    let p = minijinja::context! {
        discounts => ctx.basket.discounts.offers.clone(),
        shipping_discounts => shipping_discounts,
        basket_id => ctx.basket.id,
        fingerprint => checkout::fingerprint(&ctx.basket, method),
        method => minijinja::context! { name => method.name.clone(), description => method.description.clone(), charge => method.charge_incl_tax },
        gateway => gateway,
        lines_total => ctx.basket.total_incl_tax,
        total => total,
        form => card_form,
        errors => errors,
        place_url => PLACE_URL,
    };
    page(view, "checkout/preview.html", status, Step::Preview, ctx, p).await
}

/// The visitor's session owns this order (it placed it).
pub(super) fn owns_last_order(session: &Session, number: &str) -> bool {
    session
        .get::<LastOrder>(LAST_ORDER_KEY)
        .is_some_and(|l| l.number == number)
}

fn finish(
    session: &Session,
    number: String,
    guest_token: Option<String>,
    next_basket: Option<i64>,
) -> Response {
    session.remove(SESSION_KEY);
    match next_basket {
        // Lines saved for later moved there (a customer's is found by owner anyway).
        Some(id) if session.customer_id().is_none() => session.insert(basket::SESSION_KEY, id),
        _ => session.remove(basket::SESSION_KEY),
    }
    session.insert(
        LAST_ORDER_KEY,
        LastOrder {
            number,
            guest_token,
        },
    );
    see_other(THANK_YOU_URL)
}

pub(super) async fn place(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let posted_basket: i64 = fields
        .get("basket_id")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| WebError::BadRequest("This checkout form is incomplete.".into()))?;
    // Already placed (a second click after the first one finished): show that order.
    if current_basket(&state, &session).await? != Some(posted_basket) {
        if let Some(number) = order::number_of_basket(&state.db.pool, posted_basket).await?
            && owns_last_order(&session, &number)
        {
            return Ok(see_other(THANK_YOU_URL));
        }
        return Err(WebError::BadRequest(
            "This checkout form is out of date or not yours; nothing was ordered.".into(),
        ));
    }
    let ctx = ctx_or_redirect!(&state, &session);
    at_step!(ctx, &session, Step::Preview);
    let method = match super::chosen_method(&state, &ctx).await? {
        Ok(m) => m,
        Err(detour) => return Ok(detour.respond(&session)),
    };
    let Some(gateway) = chosen_gateway(&state, &ctx) else {
        return Ok(back_to(&session, PAYMENT_URL, "Please choose how to pay."));
    };
    let fingerprint = checkout::fingerprint(&ctx.basket, &method);
    if fields.get("fingerprint") != Some(&fingerprint) {
        return Ok(back_to(
            &session,
            PREVIEW_URL,
            "Your basket or delivery charge changed since you reviewed your order. Please check it again; nothing was ordered.",
        ));
    }
    let card = if gateway.card_form {
        match CardDetails::from_form(|k| fields.get(k).cloned()) {
            Ok(card) => Some(card),
            Err(errors) => {
                // Never echo the card number or code back.
                let form = minijinja::context! {
                    card_name => fields.get("card_name").cloned().unwrap_or_default(),
                    card_expiry => fields.get("card_expiry").cloned().unwrap_or_default(),
                };
                let view = View {
                    state: &state,
                    session: &session,
                    uri: &uri,
                };
                return preview_render(
                    &view,
                    &ctx,
                    &method,
                    &gateway,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    form,
                    errors,
                )
                .await;
            }
        }
    } else {
        None
    };
    let (Some(email), Some(address)) = (ctx.email.clone(), ctx.state.shipping_address.clone())
    else {
        return Ok(see_other(step_url(ctx.next_step())));
    };
    // Money moves from here on: the payment and the order run in a task of their own, so a
    // client that hangs up or a request timeout can't cut them off between the approval and
    // the order (the ledger would void it later; the customer would have no order now).
    // The provider sends the customer back to the address they are on; emails link to the
    // configured site address, never to whatever `Host` a request claimed.
    let return_url = format!(
        "{}/checkout/payment/return/{}/",
        origin(&headers),
        gateway.id
    );
    let site_url = state.config.site_url();
    let billing = ctx.state.billing().unwrap_or(&address).clone();
    let (shop, basket, customer_id) = (state.clone(), ctx.basket.clone(), ctx.customer_id);
    let outcome = tokio::spawn(async move {
        checkout::pay_and_place(
            &deps(&shop),
            Submission {
                basket: &basket,
                customer_id,
                email: &email,
                shipping_address: &address,
                billing_address: &billing,
                method: &method,
                gateway: &gateway.id,
                card,
                return_url,
                fingerprint: &fingerprint,
                site_url: &site_url,
            },
        )
        .await
    })
    .await
    .map_err(|e| WebError::internal(anyhow::Error::new(e).context("the checkout task failed")))??;
    Ok(respond(&session, ctx.state, outcome))
}

pub(super) fn respond(session: &Session, mut state: CheckoutState, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Placed {
            placed,
            guest_token,
        } => finish(session, placed.number, guest_token, placed.next_basket),
        Outcome::AlreadyPlaced { number } => {
            if !owns_last_order(session, &number) {
                // The other request of a double submit wrote the order; this session owns the
                // basket it came from, so it may see the order (without a guest link).
                finish(session, number, None, None)
            } else {
                see_other(THANK_YOU_URL)
            }
        }
        Outcome::Redirect { url, pending } => {
            state.pending = Some(pending);
            save(session, &state);
            see_other(&url)
        }
        Outcome::Refused(message) => {
            state.pending = None;
            save(session, &state);
            back_to(session, PREVIEW_URL, &message)
        }
    }
}

pub(super) async fn thank_you(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let Some(last) = session.get::<LastOrder>(LAST_ORDER_KEY) else {
        return Ok(see_other("/"));
    };
    let order = order::by_number(&state.db.pool, &last.number)
        .await?
        .ok_or(WebError::NotFound)?;
    let status_url = super::super::orders::status_url(&order, last.guest_token.as_deref());
    let p = minijinja::context! {
        order => order,
        status_url => status_url.clone(),
        status_link => format!("{}{}", origin(&headers), status_url.unwrap_or_default()),
    };
    super::super::render(&state, &session, &uri, "checkout/thank_you.html", p).await
}
