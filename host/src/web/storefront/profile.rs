//! The signed-in customer's own account: the profile page, changing the password or the
//! email address, signing out of every other browser, and deleting the account.
//!
//! Every page here wants a signed-in customer (a visitor is sent to sign in and brought back).
//! Changes that need the current password ask for it and go through the sign-in throttle; a
//! wrong one shows the form again (422) with the problem, keeping what was typed except
//! passwords. The link that confirms a new email address opens a page with a button: following
//! a link changes nothing, so mail scanners that fetch links cannot confirm for the customer.

use std::collections::HashMap;
use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Value;

use super::accounts::{LOGIN_URL, fields_map, form_page, plausible_token};
use crate::app::AppState;
use crate::customer::identity::{self, Checked, Context, EmailChange};
use crate::customer::{self, SignInAttempt};
use crate::session::{Session, SignedIn};
use crate::web::{WebError, sign_in};

pub const PROFILE_URL: &str = "/accounts/profile/";
pub const PASSWORD_URL: &str = "/accounts/password/";
pub const EMAIL_URL: &str = "/accounts/email/";
pub const SIGN_OUT_EVERYWHERE_URL: &str = "/accounts/sign-out-everywhere/";
pub const DELETE_URL: &str = "/accounts/delete/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PROFILE_URL, get(profile))
        .route(PASSWORD_URL, get(password_page).post(change_password))
        .route(EMAIL_URL, get(email_page).post(change_email))
        .route(
            "/accounts/email/confirm/{token}/",
            get(confirm_email_page).post(confirm_email),
        )
        .route(SIGN_OUT_EVERYWHERE_URL, post(sign_out_everywhere))
        .route(DELETE_URL, get(delete_page).post(delete_account))
}

/// The signed-in customer, or the redirect to the sign-in form that brings them back here.
fn signed_in(session: &Session, here: &str) -> Result<SignedIn, Redirect> {
    session
        .signed_in()
        .ok_or_else(|| Redirect::to(&format!("{LOGIN_URL}?next={here}")))
}

fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> &'a str {
    fields.get(name).map(String::as_str).unwrap_or_default()
}

fn cx<'a>(
    state: &'a AppState,
    sender: &'a customer::Sender<'a>,
    peer: &sign_in::Peer,
) -> Context<'a> {
    Context {
        db: &state.db,
        sessions: state.sessions.as_ref(),
        throttle: &state.sign_in,
        sender,
        address: sign_in::peer_ip(peer),
    }
}

/// Why the current password was not accepted, and how long to wait when it was not checked.
fn password_refused(checked: &Checked, lock_secs: i64) -> (String, Option<Duration>) {
    match checked {
        SignInAttempt::Refused { locked: false } => {
            ("That isn't your current password.".to_owned(), None)
        }
        SignInAttempt::Refused { locked: true } => (
            format!(
                "That isn't your current password. After several wrong tries, this account is \
                 paused for {}.",
                sign_in::wait_text(Duration::from_secs(u64::try_from(lock_secs).unwrap_or(1)))
            ),
            None,
        ),
        other => sign_in::refusal(other, lock_secs).unwrap_or_default(),
    }
}

/// The form again with its problems (422, or 429 with `Retry-After` when throttled).
async fn form_again(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    template: &str,
    page: Value,
    wait: Option<Duration>,
) -> Result<Response, WebError> {
    let response = form_page(
        state,
        session,
        uri,
        template,
        StatusCode::UNPROCESSABLE_ENTITY,
        page,
    )
    .await?;
    Ok(match wait {
        Some(wait) => sign_in::too_many(response, wait),
        None => response,
    })
}

/// Keeps the visitor signed in under a new session id after every session of the account
/// ended, as `who`.
fn sign_back_in(session: &Session, who: SignedIn) {
    session.rotate_id();
    session.set_signed_in(&who);
}

async fn profile(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let who = match signed_in(&session, PROFILE_URL) {
        Ok(who) => who,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let Some(account) = customer::manage::find(&state.db.pool, who.id).await? else {
        // The account went while the session lived.
        session.flush();
        return Ok(Redirect::to(LOGIN_URL).into_response());
    };
    let page = minijinja::context! {
        account => account,
        remembered => session.remembered(),
    };
    form_page(
        &state,
        &session,
        &uri,
        "customer/profile.html",
        StatusCode::OK,
        page,
    )
    .await
}

async fn password_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    if let Err(to_login) = signed_in(&session, PASSWORD_URL) {
        return Ok(to_login.into_response());
    }
    let page = minijinja::context! {
        errors => minijinja::context! {},
        min_password_chars => customer::MIN_PASSWORD_CHARS,
    };
    form_page(
        &state,
        &session,
        &uri,
        "customer/password_change.html",
        StatusCode::OK,
        page,
    )
    .await
}

async fn change_password(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    peer: sign_in::Peer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let who = match signed_in(&session, PASSWORD_URL) {
        Ok(who) => who,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let fields = fields_map(fields);
    let (current, new_password, confirm) = (
        field(&fields, "current_password"),
        field(&fields, "password"),
        field(&fields, "password_confirm"),
    );
    let mut errors = HashMap::new();
    if current.is_empty() {
        errors.insert(
            "current_password",
            "Enter your current password.".to_owned(),
        );
    }
    if let Some(problem) = customer::password_problem(new_password) {
        errors.insert("password", problem);
    } else if new_password != confirm {
        errors.insert(
            "password_confirm",
            "The two passwords don't match.".to_owned(),
        );
    }
    let mut wait = None;
    if errors.is_empty() {
        let sender = customer::Sender::new(&state.templates, &state.config);
        let checked =
            identity::change_password(&cx(&state, &sender, &peer), who.id, current, new_password)
                .await?;
        if let SignInAttempt::Welcome(customer) = checked {
            state.mailer.wake();
            sign_back_in(
                &session,
                SignedIn {
                    id: customer.id,
                    email: customer.email,
                },
            );
            session.flash(
                "success",
                "Your password has been changed, and every other browser signed in to your \
                 account has been signed out.",
            );
            return Ok(Redirect::to(PROFILE_URL).into_response());
        }
        let (problem, retry_after) = password_refused(&checked, state.sign_in.lock_secs());
        wait = retry_after;
        errors.insert("current_password", problem);
    }
    let page = minijinja::context! {
        errors => errors,
        min_password_chars => customer::MIN_PASSWORD_CHARS,
    };
    form_again(
        &state,
        &session,
        &uri,
        "customer/password_change.html",
        page,
        wait,
    )
    .await
}

async fn email_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let who = match signed_in(&session, EMAIL_URL) {
        Ok(who) => who,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let page = minijinja::context! {
        current_email => who.email,
        form => minijinja::context! { email => "" },
        errors => minijinja::context! {},
        sent => false,
    };
    form_page(
        &state,
        &session,
        &uri,
        "customer/email_change.html",
        StatusCode::OK,
        page,
    )
    .await
}

async fn change_email(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    peer: sign_in::Peer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let who = match signed_in(&session, EMAIL_URL) {
        Ok(who) => who,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let fields = fields_map(fields);
    let new_email = field(&fields, "email").trim();
    let password = field(&fields, "password");
    let mut errors = HashMap::new();
    if let Some(problem) = customer::email_problem(new_email) {
        errors.insert("email", problem.to_owned());
    } else if customer::normalize_email(new_email) == who.email {
        errors.insert("email", "That is already your email address.".to_owned());
    }
    if password.is_empty() {
        errors.insert("password", "Enter your current password.".to_owned());
    }
    let mut wait = None;
    if errors.is_empty() {
        let sender = customer::Sender::new(&state.templates, &state.config);
        let checked = identity::request_email_change(
            &cx(&state, &sender, &peer),
            who.id,
            password,
            new_email,
        )
        .await?;
        if let SignInAttempt::Welcome(_) = checked {
            state.mailer.wake();
            // The same page whether or not the address has an account (see the use case).
            let page = minijinja::context! {
                current_email => who.email,
                form => minijinja::context! { email => customer::normalize_email(new_email) },
                errors => minijinja::context! {},
                sent => true,
                hours => identity::EMAIL_LINK_LIFETIME.whole_hours(),
            };
            return form_page(
                &state,
                &session,
                &uri,
                "customer/email_change.html",
                StatusCode::OK,
                page,
            )
            .await;
        }
        let (problem, retry_after) = password_refused(&checked, state.sign_in.lock_secs());
        wait = retry_after;
        errors.insert("password", problem);
    }
    let page = minijinja::context! {
        current_email => who.email,
        form => minijinja::context! { email => new_email },
        errors => errors,
        sent => false,
    };
    form_again(
        &state,
        &session,
        &uri,
        "customer/email_change.html",
        page,
        wait,
    )
    .await
}

async fn confirm_page(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    token: &str,
    pending: Option<String>,
    problem: Option<&str>,
) -> Result<Response, WebError> {
    let status = if pending.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let page = minijinja::context! {
        new_email => pending,
        problem => problem,
        action => format!("{}{token}/", identity::EMAIL_LINK_PATH),
        email_url => EMAIL_URL,
    };
    form_page(
        state,
        session,
        uri,
        "customer/email_change_confirm.html",
        status,
        page,
    )
    .await
}

async fn confirm_email_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let pending = if plausible_token(&token) {
        identity::pending_email_change(&state.db.pool, &token).await?
    } else {
        None
    };
    confirm_page(&state, &session, &uri, &token, pending, None).await
}

async fn confirm_email(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    if !plausible_token(&token) {
        return confirm_page(&state, &session, &uri, &token, None, None).await;
    }
    let sender = customer::Sender::new(&state.templates, &state.config);
    match identity::confirm_email_change(&state.db, state.sessions.as_ref(), &sender, &token)
        .await?
    {
        EmailChange::Changed { customer, .. } => {
            state.mailer.wake();
            let to = if session.customer_id() == Some(customer.id) {
                let text = format!(
                    "Your account now uses {}. Every other browser signed in to it has been \
                     signed out.",
                    customer.email
                );
                sign_back_in(
                    &session,
                    SignedIn {
                        id: customer.id,
                        email: customer.email,
                    },
                );
                session.flash("success", text);
                PROFILE_URL
            } else {
                session.flash(
                    "success",
                    format!(
                        "Your account now uses {}. Sign in below with it.",
                        customer.email
                    ),
                );
                LOGIN_URL
            };
            Ok(Redirect::to(to).into_response())
        }
        EmailChange::Taken => {
            let pending = identity::pending_email_change(&state.db.pool, &token).await?;
            let mut response = confirm_page(
                &state,
                &session,
                &uri,
                &token,
                pending,
                Some("That address now belongs to another account, so yours can't move to it."),
            )
            .await?;
            *response.status_mut() = StatusCode::CONFLICT;
            Ok(response)
        }
        EmailChange::Invalid => confirm_page(&state, &session, &uri, &token, None, None).await,
    }
}

async fn sign_out_everywhere(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    let who = match signed_in(&session, PROFILE_URL) {
        Ok(who) => who,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    identity::sign_out_everywhere(state.sessions.as_ref(), who.id).await?;
    sign_back_in(&session, who);
    session.flash(
        "success",
        "Every other browser signed in to your account has been signed out.",
    );
    Ok(Redirect::to(PROFILE_URL).into_response())
}

async fn delete_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let who = match signed_in(&session, DELETE_URL) {
        Ok(who) => who,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let page = minijinja::context! { email => who.email, errors => minijinja::context! {} };
    form_page(
        &state,
        &session,
        &uri,
        "customer/delete_account.html",
        StatusCode::OK,
        page,
    )
    .await
}

async fn delete_account(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    peer: sign_in::Peer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let who = match signed_in(&session, DELETE_URL) {
        Ok(who) => who,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let fields = fields_map(fields);
    let password = field(&fields, "password");
    let mut errors = HashMap::new();
    if password.is_empty() {
        errors.insert("password", "Enter your password to confirm.".to_owned());
    }
    let mut wait = None;
    if errors.is_empty() {
        let sender = customer::Sender::new(&state.templates, &state.config);
        let checked =
            crate::privacy::delete_account(&cx(&state, &sender, &peer), who.id, password).await?;
        if let SignInAttempt::Welcome(_) = checked {
            state.mailer.wake();
            session.flush();
            session.flash(
                "info",
                "Your account has been deleted. Thank you for shopping with us.",
            );
            return Ok(Redirect::to("/").into_response());
        }
        let (problem, retry_after) = password_refused(&checked, state.sign_in.lock_secs());
        wait = retry_after;
        errors.insert("password", problem);
    }
    let page = minijinja::context! { email => who.email, errors => errors };
    form_again(
        &state,
        &session,
        &uri,
        "customer/delete_account.html",
        page,
        wait,
    )
    .await
}
