//! The payment provider's side of checkout: the customer's browser coming back from the
//! provider's page, and the provider's server-to-server notifications (webhooks). Both hand
//! the provider's answer to `checkout::complete_redirect`, which places the order or gives
//! the payment back, exactly once between them.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::basket::BASKET_URL;
use super::place::respond;
use super::{THANK_YOU_URL, back_to, deps, save, see_other};
use crate::app::AppState;
use crate::checkout::{
    self, CheckoutState, LAST_ORDER_KEY, LastOrder, Outcome, SESSION_KEY, Submission,
};
use crate::order;
use crate::payment;
use crate::plugins::calls::{Callback, CallbackKind, Header};
use crate::session::Session;
use crate::web::WebError;

/// The customer comes back from the provider's page. The query string is the provider's; the
/// payment to check is the one this session started (never one named in the URL).
pub(super) async fn payment_return(
    State(state): State<AppState>,
    session: Session,
    Path(gateway): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let checkout_state: CheckoutState = session.get(SESSION_KEY).unwrap_or_default();
    let Some(pending) = checkout_state
        .pending
        .clone()
        .filter(|p| p.gateway == gateway)
    else {
        if session.get::<LastOrder>(LAST_ORDER_KEY).is_some() {
            return Ok(see_other(THANK_YOU_URL));
        }
        return Ok(back_to(
            &session,
            BASKET_URL,
            "There is no payment in progress.",
        ));
    };
    // The provider's webhook may have placed the order already (the customer took long to come
    // back): show it; the payment belongs to that order and must not be voided.
    if let Some(basket_id) = pending.basket_id
        && let Some(number) = order::number_of_basket(&state.db.pool, basket_id).await?
    {
        checkout::pending::forget(&state.db.pool, &pending.gateway, &pending.reference).await?;
        let mut checkout_state = checkout_state;
        checkout_state.pending = None;
        return Ok(respond(
            &session,
            checkout_state,
            Outcome::AlreadyPlaced { number },
        ));
    }
    let callback = Callback {
        kind: CallbackKind::BrowserReturn,
        method: "GET".into(),
        query: query.unwrap_or_default(),
        headers: Vec::new(),
        body: Vec::new(),
        reference: Some(pending.reference.clone()),
    };
    let result = match payment::handle_callback(state.plugins.registry(), &gateway, callback).await
    {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(%gateway, error = %e, "payment return failed");
            crate::plugins::PaymentOutcome::Error {
                message: e.to_string(),
            }
        }
    };
    // The checkout as it stands now; `detour` says where to send a customer whose checkout
    // can't be completed any more.
    let (ctx, mut detour) = match super::load(&state, &session).await? {
        Ok(ctx) => (Some(ctx), None),
        Err(d) => (None, Some(d)),
    };
    let method = match &ctx {
        Some(ctx) => match super::chosen_method(&state, ctx).await? {
            Ok(m) => Some(m),
            Err(d) => {
                detour = Some(d);
                None
            }
        },
        None => None,
    };
    // For the emails of the order: the configured address, not the request's `Host`.
    let site_url = state.config.site_url();
    let fingerprint = match (&ctx, &method) {
        (Some(ctx), Some(method)) => checkout::fingerprint(&ctx.basket, method),
        _ => String::new(),
    };
    let current = match (&ctx, &method) {
        (Some(ctx), Some(method)) => match (&ctx.email, &ctx.state.shipping_address) {
            (Some(email), Some(address)) => checkout::Current::Ready(Box::new(Submission {
                basket: &ctx.basket,
                customer_id: ctx.customer_id,
                email,
                shipping_address: address,
                billing_address: ctx.state.billing().unwrap_or(address),
                method,
                gateway: &gateway,
                card: None,
                return_url: String::new(),
                fingerprint: &fingerprint,
                site_url: &site_url,
            })),
            _ => checkout::Current::Gone,
        },
        _ => checkout::Current::Gone,
    };
    let outcome = checkout::complete_redirect(&deps(&state), &pending, result, current).await?;
    // Decided one way or the other: the webhook has nothing left to do for this payment.
    checkout::pending::forget(&state.db.pool, &pending.gateway, &pending.reference).await?;
    let mut checkout_state = ctx.map(|c| c.state).unwrap_or(checkout_state);
    match (outcome, detour) {
        (Outcome::Refused(_), Some(detour)) => {
            checkout_state.pending = None;
            save(&session, &checkout_state);
            Ok(detour.respond(&session))
        }
        (outcome, _) => Ok(respond(&session, checkout_state, outcome)),
    }
}

/// Providers' server-to-server notifications. Mounted outside the session and CSRF layers: a
/// provider has neither, and the notification is not trusted anyway. The gateway plugin reads
/// it and asks its provider what really happened; only an approval it confirms, for a payment
/// this shop started, places an order.
pub fn webhook_router() -> Router<AppState> {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_WEBHOOKS));
    Router::new()
        .route(
            "/payment/{gateway}/webhook/",
            axum::routing::post(webhook).get(webhook),
        )
        // Refused while reading, before the body is buffered (the extractor stops at the limit
        // and answers 413).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
        .layer(axum::middleware::from_fn_with_state(slots, webhook_slot))
}

/// Notifications larger than this are refused unread.
const MAX_WEBHOOK_BYTES: usize = 64 * 1024;

/// Notifications handled at once. Each one runs the gateway plugin (an instance slot of the
/// plugin pool, shared with the shoppers' pricing and shipping calls, and a provider round
/// trip); a flood beyond this is told to come back later instead of crowding out the shop.
const MAX_CONCURRENT_WEBHOOKS: usize = 16;

/// Lets a notification in when a slot is free, else answers 503 with `Retry-After`: providers
/// send a notification again later when it was not acknowledged.
async fn webhook_slot(
    State(slots): State<std::sync::Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(_slot) = slots.try_acquire_owned() else {
        tracing::warn!(
            "A payment webhook was turned away: {MAX_CONCURRENT_WEBHOOKS} are already being handled."
        );
        // An HTML body of its own, so the shop's error-page layer passes it on as it is
        // (it replaces bodiless errors, and their headers with them).
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, "1"),
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            ],
            "<p>Busy: please send this notification again shortly.</p>",
        )
            .into_response();
    };
    next.run(request).await
}

async fn webhook(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    method: axum::http::Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !payment::gateways(state.plugins.registry())
        .iter()
        .any(|g| g.id == gateway)
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let callback = Callback {
        kind: CallbackKind::Webhook,
        method: method.to_string(),
        query: query.unwrap_or_default(),
        headers: headers
            .iter()
            .filter(|(name, _)| *name != header::COOKIE && *name != header::AUTHORIZATION)
            .filter_map(|(name, value)| {
                Some(Header {
                    name: name.to_string(),
                    value: value.to_str().ok()?.to_string(),
                })
            })
            .collect(),
        body: body.to_vec(),
        reference: None,
    };
    let outcome = match payment::handle_callback(state.plugins.registry(), &gateway, callback).await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            // A 5xx asks the provider to send it again later.
            tracing::error!(%gateway, error = %e, "payment webhook failed");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    if let crate::plugins::PaymentOutcome::Error { message } = &outcome {
        tracing::error!(%gateway, %message, "payment webhook: gateway fault");
        return StatusCode::BAD_GATEWAY.into_response();
    }
    if let crate::plugins::PaymentOutcome::Declined { message } = &outcome {
        // The gateway refuses the notification (the provider knows no such payment, or it did
        // not go through): nothing to place, and a client error, as a 5xx would ask for the
        // same notification again.
        tracing::warn!(%gateway, %message, "payment webhook refused by the gateway");
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    let deps = deps(&state);
    let pricer = |customer_id| super::super::basket::pricer_for(&state, customer_id);
    match checkout::pending::complete_from_webhook(&deps, pricer, &gateway, outcome).await {
        Ok(result) => {
            // Logged by hand: the outcome carries the guest link's secret, which logs never see.
            let what = match &result {
                checkout::pending::WebhookResult::Unknown => "no pending payment".to_string(),
                checkout::pending::WebhookResult::Decided(Outcome::Placed { placed, .. }) => {
                    format!("order {} placed", placed.number)
                }
                checkout::pending::WebhookResult::Decided(Outcome::AlreadyPlaced { number }) => {
                    format!("order {number} was placed already")
                }
                checkout::pending::WebhookResult::Decided(Outcome::Refused(message)) => {
                    format!("refused: {message}")
                }
                checkout::pending::WebhookResult::Decided(Outcome::Redirect { .. }) => {
                    "redirected again (ignored)".to_string()
                }
            };
            tracing::info!(%gateway, "payment webhook handled: {what}");
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(%gateway, error = %e, "payment webhook: placing the order failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
