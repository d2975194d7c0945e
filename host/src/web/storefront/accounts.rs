//! Customer accounts: register, sign in, sign out.
//!
//! Signing in rotates the session id (and its CSRF token), then merges the visitor's
//! anonymous basket into the customer's open basket. Sign-in is throttled per account and per
//! client address (`customer::throttle`): a throttled attempt is a 429 with the form and a
//! `Retry-After`. Registering never signs in and answers the same whether or not the email
//! already has an account (the owner gets a message instead), so the form cannot be used to
//! find out who shops here. A form with problems is shown again (422) with a message per
//! field and what was typed, except passwords.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Value;

use super::basket::baskets;
use crate::app::AppState;
use crate::basket::SESSION_KEY;
use crate::customer::{self, Customer, Registered, SignIn, reset};
use crate::session::{Session, SignedIn};
use crate::web::{WebError, sign_in};

pub const LOGIN_URL: &str = "/accounts/login/";
pub const REGISTER_URL: &str = "/accounts/register/";
pub const LOGOUT_URL: &str = "/accounts/logout/";
pub const PASSWORD_RESET_URL: &str = "/accounts/password-reset/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(LOGIN_URL, get(login_page).post(login))
        .route(REGISTER_URL, get(register_page).post(register))
        .route(LOGOUT_URL, post(logout))
        .route(
            PASSWORD_RESET_URL,
            get(password_reset_page).post(password_reset),
        )
        .route(
            "/accounts/reset/{token}/",
            get(reset_confirm_page).post(reset_confirm),
        )
}

/// The form's problem when the client's address has made too many attempts.
fn network_busy(retry_after: std::time::Duration) -> String {
    format!(
        "Too many attempts from your network. Please try again in {}.",
        sign_in::wait_text(retry_after)
    )
}

fn safe_next(next: Option<&String>) -> String {
    sign_in::safe_next(next, "/")
}

pub(super) fn fields_map(fields: Vec<(String, String)>) -> HashMap<String, String> {
    fields.into_iter().collect()
}

pub(super) async fn form_page(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    template: &str,
    status: StatusCode,
    page: Value,
) -> Result<Response, WebError> {
    // These pages post forms, so they are worth a session (and its CSRF token).
    session.ensure_csrf_token();
    let mut response = super::render(state, session, uri, template, page).await?;
    *response.status_mut() = status;
    Ok(response)
}

async fn login_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let page = minijinja::context! {
        form => minijinja::context! { email => "" },
        errors => minijinja::context! {},
        next => safe_next(query.get("next")),
        register_url => REGISTER_URL,
    };
    form_page(
        &state,
        &session,
        &uri,
        "customer/login.html",
        StatusCode::OK,
        page,
    )
    .await
}

async fn login(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    peer: sign_in::Peer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let fields = fields_map(fields);
    let (email, password, mut errors) = sign_in::credentials(&fields);
    let next = safe_next(fields.get("next"));
    let mut wait = None;
    if errors.is_empty() {
        let outcome = if sign_in::too_long(password) {
            SignIn::Refused { locked: false }
        } else {
            customer::sign_in(
                &state.db.pool,
                &state.sign_in,
                email,
                password,
                sign_in::peer_ip(&peer),
            )
            .await?
        };
        if let SignIn::Welcome(customer) = &outcome {
            start_session(&state, &session, customer).await?;
            session.set_remember(fields.get("remember").is_some_and(|v| v == "on"));
            session.flash(
                "success",
                format!("Welcome back, you are signed in as {}.", customer.email),
            );
            return Ok(Redirect::to(&next).into_response());
        }
        let (problem, retry_after) =
            sign_in::refusal(&outcome, state.sign_in.lock_secs()).unwrap_or_default();
        wait = retry_after;
        errors.insert("form", problem);
    }
    let page = minijinja::context! {
        form => minijinja::context! {
            email => email,
            remember => fields.get("remember").is_some_and(|v| v == "on"),
        },
        errors => errors,
        next => next,
        register_url => REGISTER_URL,
    };
    let response = form_page(
        &state,
        &session,
        &uri,
        "customer/login.html",
        StatusCode::UNPROCESSABLE_ENTITY,
        page,
    )
    .await?;
    Ok(match wait {
        Some(wait) => sign_in::too_many(response, wait),
        None => response,
    })
}

async fn register_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let page = minijinja::context! {
        form => minijinja::context! { email => "" },
        errors => minijinja::context! {},
        next => safe_next(query.get("next")),
        login_url => LOGIN_URL,
        min_password_chars => customer::MIN_PASSWORD_CHARS,
    };
    form_page(
        &state,
        &session,
        &uri,
        "customer/register.html",
        StatusCode::OK,
        page,
    )
    .await
}

async fn register(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    peer: sign_in::Peer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let fields = fields_map(fields);
    let email = fields.get("email").map(|e| e.trim()).unwrap_or_default();
    let password = fields
        .get("password")
        .map(String::as_str)
        .unwrap_or_default();
    let confirm = fields
        .get("password_confirm")
        .map(String::as_str)
        .unwrap_or_default();
    let next = safe_next(fields.get("next"));
    let mut errors = HashMap::new();
    if let Some(problem) = customer::email_problem(email) {
        errors.insert("email", problem.to_owned());
    }
    if let Some(problem) = customer::password_problem(password) {
        errors.insert("password", problem);
    } else if password != confirm {
        errors.insert(
            "password_confirm",
            "The two passwords don't match.".to_owned(),
        );
    }
    let mut wait = None;
    if errors.is_empty() {
        match state.sign_in.admit_address(sign_in::peer_ip(&peer)) {
            Ok(()) => {
                let hash = customer::hash_password(password.to_owned()).await?;
                let outcome = customer::register(
                    &state.db,
                    &state.templates,
                    &state.config.shop_name,
                    email,
                    &hash,
                )
                .await?;
                state.mailer.wake();
                if let Registered::New(customer) = &outcome {
                    tracing::info!(customer = customer.id, "account created");
                }
                // The same words, whichever it was: signing in is the next step for a new
                // account, and for an address that already had one the message says so.
                session.flash(
                    "success",
                    format!(
                        "Thank you. We've sent a message to {}. Sign in below with that email \
                         address and your password.",
                        customer::normalize_email(email)
                    ),
                );
                let to = if next == "/" {
                    LOGIN_URL.to_owned()
                } else {
                    format!(
                        "{LOGIN_URL}?next={}",
                        percent_encoding::utf8_percent_encode(
                            &next,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                };
                return Ok(Redirect::to(&to).into_response());
            }
            Err(retry_after) => {
                wait = Some(retry_after);
                errors.insert("form", network_busy(retry_after));
            }
        }
    }
    let page = minijinja::context! {
        form => minijinja::context! { email => email },
        errors => errors,
        next => next,
        login_url => LOGIN_URL,
        min_password_chars => customer::MIN_PASSWORD_CHARS,
    };
    let response = form_page(
        &state,
        &session,
        &uri,
        "customer/register.html",
        StatusCode::UNPROCESSABLE_ENTITY,
        page,
    )
    .await?;
    Ok(match wait {
        Some(wait) => sign_in::too_many(response, wait),
        None => response,
    })
}

/// New session id, the customer recorded, and the anonymous basket merged into theirs.
async fn start_session(
    state: &AppState,
    session: &Session,
    customer: &Customer,
) -> Result<(), WebError> {
    let anonymous: Option<i64> = session.get(SESSION_KEY);
    session.rotate_id();
    session.remove(SESSION_KEY);
    session.set_signed_in(&SignedIn {
        id: customer.id,
        email: customer.email.clone(),
    });
    let moved = baskets(state, session)
        .merge_at_sign_in(anonymous, customer.id)
        .await?;
    if moved > 0 {
        session.flash(
            "info",
            "The items you added before signing in are now in your account's basket.",
        );
    }
    Ok(())
}

async fn logout(session: Session) -> Response {
    session.flush();
    session.flash("info", "You have been signed out.");
    Redirect::to("/").into_response()
}

async fn password_reset_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let page = minijinja::context! {
        form => minijinja::context! { email => "" },
        errors => minijinja::context! {},
        sent => false,
        action => PASSWORD_RESET_URL,
        login_url => LOGIN_URL,
    };
    form_page(
        &state,
        &session,
        &uri,
        "customer/password_reset.html",
        StatusCode::OK,
        page,
    )
    .await
}

/// Sends a link when the address has an account, and answers the same page either way.
async fn password_reset(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    peer: sign_in::Peer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let fields = fields_map(fields);
    let email = fields.get("email").map(|e| e.trim()).unwrap_or_default();
    let mut errors = HashMap::new();
    if let Some(problem) = customer::email_problem(email) {
        errors.insert("email", problem.to_owned());
    }
    let mut wait = None;
    if errors.is_empty() {
        match state.sign_in.admit_address(sign_in::peer_ip(&peer)) {
            Ok(()) => {
                reset::request(
                    &state.db,
                    &reset::Sender::new(&state.templates, &state.config),
                    email,
                )
                .await?;
                state.mailer.wake();
                let page = minijinja::context! {
                    form => minijinja::context! { email => customer::normalize_email(email) },
                    errors => minijinja::context! {},
                    sent => true,
                    minutes => reset::LINK_LIFETIME.whole_minutes(),
                    action => PASSWORD_RESET_URL,
                    login_url => LOGIN_URL,
                };
                return form_page(
                    &state,
                    &session,
                    &uri,
                    "customer/password_reset.html",
                    StatusCode::OK,
                    page,
                )
                .await;
            }
            Err(retry_after) => {
                wait = Some(retry_after);
                errors.insert("form", network_busy(retry_after));
            }
        }
    }
    let page = minijinja::context! {
        form => minijinja::context! { email => email },
        errors => errors,
        sent => false,
        action => PASSWORD_RESET_URL,
        login_url => LOGIN_URL,
    };
    let response = form_page(
        &state,
        &session,
        &uri,
        "customer/password_reset.html",
        StatusCode::UNPROCESSABLE_ENTITY,
        page,
    )
    .await?;
    Ok(match wait {
        Some(wait) => sign_in::too_many(response, wait),
        None => response,
    })
}

/// A token as links carry it (64 hex digits); anything else is no link of ours.
pub(super) fn plausible_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn confirm_page(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    token: &str,
    for_account: Option<&Customer>,
    errors: HashMap<&str, String>,
) -> Result<Response, WebError> {
    let status = match (for_account, errors.is_empty()) {
        (None, _) => StatusCode::NOT_FOUND,
        (Some(_), true) => StatusCode::OK,
        (Some(_), false) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let page = minijinja::context! {
        valid => for_account.is_some(),
        email => for_account.map(|c| c.email.clone()),
        errors => errors,
        action => format!("{}{token}/", reset::LINK_PATH),
        request_url => PASSWORD_RESET_URL,
        min_password_chars => customer::MIN_PASSWORD_CHARS,
    };
    form_page(
        state,
        session,
        uri,
        "customer/password_reset_confirm.html",
        status,
        page,
    )
    .await
}

async fn reset_confirm_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Response, WebError> {
    let account = if plausible_token(&token) {
        reset::check(&state.db.pool, &token).await?
    } else {
        None
    };
    confirm_page(
        &state,
        &session,
        &uri,
        &token,
        account.as_ref(),
        HashMap::new(),
    )
    .await
}

/// Sets the new password; the visitor then signs in with it (a reset does not sign in, so a
/// leaked link does not hand over a session on its own).
async fn reset_confirm(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    axum::extract::Path(token): axum::extract::Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let fields = fields_map(fields);
    let account = if plausible_token(&token) {
        reset::check(&state.db.pool, &token).await?
    } else {
        None
    };
    let Some(account) = account else {
        return confirm_page(&state, &session, &uri, &token, None, HashMap::new()).await;
    };
    let password = fields
        .get("password")
        .map(String::as_str)
        .unwrap_or_default();
    let confirm = fields
        .get("password_confirm")
        .map(String::as_str)
        .unwrap_or_default();
    let mut errors = HashMap::new();
    if let Some(problem) = customer::password_problem(password) {
        errors.insert("password", problem);
    } else if password != confirm {
        errors.insert(
            "password_confirm",
            "The two passwords don't match.".to_owned(),
        );
    }
    if !errors.is_empty() {
        return confirm_page(&state, &session, &uri, &token, Some(&account), errors).await;
    }
    let hash = customer::hash_password(password.to_owned()).await?;
    match reset::complete(
        &state.db,
        state.sessions.as_ref(),
        &reset::Sender::new(&state.templates, &state.config),
        &token,
        &hash,
    )
    .await?
    {
        Some(changed) => {
            state.mailer.wake();
            tracing::info!(customer = changed.id, "password reset");
            session.flash(
                "success",
                "Your password has been changed. Sign in below with your new password.",
            );
            Ok(Redirect::to(LOGIN_URL).into_response())
        }
        // Spent by another tab between the check and now.
        None => confirm_page(&state, &session, &uri, &token, None, HashMap::new()).await,
    }
}
