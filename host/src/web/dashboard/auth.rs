//! Dashboard sign-in and sign-out. Signing in goes through the shared sign-in throttle (under
//! a staff key), rotates the session id and its CSRF token, and lasts
//! `staff_session_ttl_secs` without use.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Value;

use super::{HOME_URL, LOGIN_URL, STAFF_KEY, remember};
use crate::app::AppState;
use crate::customer::SignInAttempt;
use crate::session::Session;
use crate::web::{WebError, sign_in};

fn form_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    page: Value,
) -> Result<Response, WebError> {
    session.ensure_csrf_token();
    let messages = session.take_messages();
    let ctx = minijinja::context! {
        csrf_token => session.csrf_token(),
        messages => (!messages.is_empty()).then_some(messages),
        shop => minijinja::context! { name => state.config.shop_name.clone() },
        login_url => LOGIN_URL,
        ..page
    };
    let html = state.templates.render("dashboard/login.html", ctx)?;
    Ok((status, Html(html)).into_response())
}

pub(super) async fn login_page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let page = minijinja::context! {
        form => minijinja::context! { email => "" },
        errors => minijinja::context! {},
        next => sign_in::safe_next(query.get("next"), HOME_URL),
    };
    form_page(&state, &session, StatusCode::OK, page)
}

pub(super) async fn login(
    State(state): State<AppState>,
    session: Session,
    peer: sign_in::Peer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let fields: HashMap<String, String> = fields.into_iter().collect();
    let (email, password, mut errors) = sign_in::credentials(&fields);
    let next = sign_in::safe_next(fields.get("next"), HOME_URL);
    let mut wait = None;
    if errors.is_empty() {
        let attempt = if sign_in::too_long(password) {
            SignInAttempt::Refused { locked: false }
        } else {
            crate::staff::sign_in(
                &state.db.pool,
                &state.sign_in,
                email,
                password,
                sign_in::peer_ip(&peer),
            )
            .await
            .map_err(WebError::internal)?
        };
        if let SignInAttempt::Welcome(staff) = &attempt {
            session.rotate_id();
            remember(&session, staff, state.config.staff_session_ttl_secs);
            tracing::info!("{} signed in to the dashboard.", staff.email);
            return Ok(Redirect::to(&next).into_response());
        }
        let (problem, retry_after) =
            sign_in::refusal(&attempt, state.sign_in.lock_secs()).unwrap_or_default();
        wait = retry_after;
        errors.insert("form", problem);
    }
    let page = minijinja::context! {
        form => minijinja::context! { email => email },
        errors => errors,
        next => next,
    };
    let response = form_page(&state, &session, StatusCode::UNPROCESSABLE_ENTITY, page)?;
    Ok(match wait {
        Some(wait) => sign_in::too_many(response, wait),
        None => response,
    })
}

/// Ends the dashboard sign-in only: a customer signed in to the storefront in the same
/// browser stays signed in there.
pub(super) async fn logout(session: Session) -> Response {
    session.remove(STAFF_KEY);
    session.rotate_id();
    session.flash("info", "You have been signed out of the dashboard.");
    Redirect::to(LOGIN_URL).into_response()
}
