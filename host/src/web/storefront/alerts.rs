//! Back-in-stock alerts in the storefront: the "email me" form of a product that can't be
//! bought, a guest's confirmation and the unsubscribe link (each a page with a button, so a
//! mail scanner that follows links decides nothing), and the customer's list of alerts.
//!
//! The form sits on product pages, which are shared by every visitor, so its answer is a
//! message on the product page rather than the form again.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::accounts::{LOGIN_URL, form_page, plausible_token};
use crate::alerts::{self, Asked};
use crate::app::AppState;
use crate::customer;
use crate::session::Session;
use crate::web::{WebError, sign_in};

pub const ACCOUNT_ALERTS_URL: &str = "/accounts/alerts/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/alerts/products/{product_id}/", post(ask))
        .route("/alerts/confirm/{token}/", get(confirm_page).post(confirm))
        .route(
            "/alerts/unsubscribe/{token}/",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route(ACCOUNT_ALERTS_URL, get(list))
        .route("/accounts/alerts/{alert_id}/cancel/", post(cancel))
}

fn id_in_path(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

async fn ask(
    State(state): State<AppState>,
    session: Session,
    peer: sign_in::Peer,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let product_id = id_in_path(&raw)?;
    let Some(back) = alerts::product_page(&state.db.pool, product_id).await? else {
        return Err(WebError::NotFound);
    };
    let signed_in = session.signed_in();
    let email = match &signed_in {
        Some(who) => who.email.clone(),
        None => {
            let typed = fields.get("email").map(|e| e.trim()).unwrap_or_default();
            if let Some(problem) = customer::email_problem(typed) {
                session.flash("error", problem);
                return Ok(Redirect::to(&back).into_response());
            }
            // Each guest ask may send an email: as rationed as registering.
            if let Err(wait) = state.sign_in.admit_address(sign_in::peer_ip(&peer)) {
                session.flash(
                    "error",
                    format!(
                        "Too many attempts from your network. Please try again in {}.",
                        sign_in::wait_text(wait)
                    ),
                );
                return Ok(Redirect::to(&back).into_response());
            }
            typed.to_owned()
        }
    };
    let sender = customer::Sender::new(&state.templates, &state.config);
    let shop = alerts::Shop {
        db: &state.db,
        pricing: &state.pricing,
        currency: state.currency,
        sender: &sender,
    };
    let outcome = alerts::ask(&shop, product_id, signed_in.map(|w| w.id), &email).await?;
    let (level, text) = match outcome {
        Asked::Active => (
            "success",
            format!("We'll email {email} as soon as this is back in stock."),
        ),
        Asked::AlreadyOpen => (
            "info",
            format!("We're already going to email {email} when this is back in stock."),
        ),
        Asked::ConfirmationSent => {
            state.mailer.wake();
            (
                "success",
                format!(
                    "Nearly done: we've sent a link to {}. Open it to confirm, and we'll email \
                     you when this is back in stock.",
                    customer::normalize_email(&email)
                ),
            )
        }
        Asked::AvailableNow => ("info", "Good news: this is in stock now.".to_owned()),
        Asked::NoSuchProduct => return Err(WebError::NotFound),
    };
    session.flash(level, text);
    Ok(Redirect::to(&back).into_response())
}

/// The page behind an emailed link: what the button will do, or (`subject` none) that the
/// link is no longer good.
async fn link_page(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    kind: &str,
    subject: Option<String>,
    done: bool,
) -> Result<Response, WebError> {
    let status = if subject.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let page = minijinja::context! {
        kind => kind,
        subject => subject,
        done => done,
        action => uri.path(),
    };
    form_page(state, session, uri, "alerts/link.html", status, page).await
}

async fn confirm_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let title = if plausible_token(&token) {
        alerts::pending_confirmation(&state.db.pool, &token).await?
    } else {
        None
    };
    link_page(&state, &session, &uri, "confirm", title, false).await
}

async fn confirm(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let title = if plausible_token(&token) {
        alerts::confirm(&state.db, &token).await?
    } else {
        None
    };
    link_page(&state, &session, &uri, "confirm", title, true).await
}

async fn unsubscribe_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let email = if plausible_token(&token) {
        alerts::unsubscribe_target(&state.db.pool, &token).await?
    } else {
        None
    };
    link_page(&state, &session, &uri, "unsubscribe", email, false).await
}

async fn unsubscribe(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let email = if plausible_token(&token) {
        alerts::unsubscribe(&state.db, &token).await?
    } else {
        None
    };
    link_page(&state, &session, &uri, "unsubscribe", email, true).await
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        let to = format!("{LOGIN_URL}?next={ACCOUNT_ALERTS_URL}");
        return Ok(Redirect::to(&to).into_response());
    };
    let listed = alerts::for_customer(&state.db.pool, customer).await?;
    form_page(
        &state,
        &session,
        &uri,
        "customer/alerts.html",
        StatusCode::OK,
        minijinja::context! { alerts => listed },
    )
    .await
}

async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        let to = format!("{LOGIN_URL}?next={ACCOUNT_ALERTS_URL}");
        return Ok(Redirect::to(&to).into_response());
    };
    let id = id_in_path(&raw)?;
    if !alerts::cancel(&state.db, customer, id).await? {
        return Err(WebError::NotFound);
    }
    session.flash("success", "The alert has been cancelled.");
    Ok(Redirect::to(ACCOUNT_ALERTS_URL).into_response())
}
