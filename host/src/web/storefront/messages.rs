//! The customer's messages: the notifications inbox (and its archive) with its actions, and
//! the history of the emails the shop sent about the account. Every page wants a signed-in
//! customer; another customer's notification or email is a 404, never a hint that it exists.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::accounts::{LOGIN_URL, form_page};
use super::listing::{encode, pagination};
use crate::app::AppState;
use crate::communication::history;
use crate::communication::notifications::{self, Action, Folder};
use crate::session::Session;
use crate::web::WebError;

pub const NOTIFICATIONS_URL: &str = "/accounts/notifications/";
pub const ARCHIVE_URL: &str = "/accounts/notifications/archive/";
pub const READ_ALL_URL: &str = "/accounts/notifications/read-all/";
pub const EMAILS_URL: &str = "/accounts/emails/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(NOTIFICATIONS_URL, get(inbox))
        .route(ARCHIVE_URL, get(archive))
        .route(READ_ALL_URL, post(read_all))
        .route(
            "/accounts/notifications/{notification_id}/read/",
            post(read),
        )
        .route(
            "/accounts/notifications/{notification_id}/archive/",
            post(archive_one),
        )
        .route(
            "/accounts/notifications/{notification_id}/delete/",
            post(delete),
        )
        .route(EMAILS_URL, get(emails))
        .route("/accounts/emails/{email_id}/", get(email))
}

fn to_login(uri: &Uri) -> Response {
    Redirect::to(&format!("{LOGIN_URL}?next={}", encode(uri.path()))).into_response()
}

fn id_in_path(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

/// A page number: a positive whole number, else a 400.
fn page_number(query: &HashMap<String, String>) -> Result<u32, WebError> {
    match query.get("page").map(|p| p.trim()) {
        None | Some("") => Ok(1),
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| WebError::BadRequest("That is not a page number.".into())),
    }
}

async fn folder_page(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    query: &HashMap<String, String>,
    folder: Folder,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(uri));
    };
    // `?archive` on the inbox's address shows the archive too.
    let folder = if query.contains_key("archive") {
        Folder::Archive
    } else {
        folder
    };
    let page = page_number(query)?;
    let (listed, total) = notifications::list(&state.db.pool, customer, folder, page).await?;
    let base = match folder {
        Folder::Inbox => format!("{NOTIFICATIONS_URL}?"),
        Folder::Archive => format!("{ARCHIVE_URL}?"),
    };
    form_page(
        state,
        session,
        uri,
        "customer/notifications.html",
        StatusCode::OK,
        minijinja::context! {
            notifications => listed,
            total => total,
            archive => folder == Folder::Archive,
            back => uri.path_and_query().map(|p| p.as_str().to_owned()),
            pagination => pagination(&base, page, total, notifications::PAGE_SIZE),
        },
    )
    .await
}

async fn inbox(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    folder_page(&state, &session, &uri, &query, Folder::Inbox).await
}

async fn archive(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    folder_page(&state, &session, &uri, &query, Folder::Archive).await
}

/// Where an action sends the customer back to: the page the form was on (a path of the
/// notifications pages only), else the inbox.
fn back_to(fields: &HashMap<String, String>) -> String {
    fields
        .get("back")
        .map(|b| b.trim())
        .filter(|b| {
            b.starts_with(NOTIFICATIONS_URL)
                && !b.contains("//")
                && !b.contains('\\')
                && b.bytes().all(|c| c.is_ascii_graphic())
        })
        .unwrap_or(NOTIFICATIONS_URL)
        .to_owned()
}

async fn act(
    state: &AppState,
    session: &Session,
    raw: &str,
    action: Action,
    fields: &HashMap<String, String>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(Redirect::to(&format!("{LOGIN_URL}?next={NOTIFICATIONS_URL}")).into_response());
    };
    let id = id_in_path(raw)?;
    if !notifications::act(&state.db, customer, id, action).await? {
        return Err(WebError::NotFound);
    }
    match action {
        Action::Archive => session.flash("success", "The notification has been archived."),
        Action::Delete => session.flash("success", "The notification has been deleted."),
        _ => {}
    }
    Ok(Redirect::to(&back_to(fields)).into_response())
}

/// Marks the notification read; with `open`, then follows its link (a path on the shop).
async fn read(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    if !fields.contains_key("open") {
        return act(&state, &session, &raw, Action::Read, &fields).await;
    }
    let Some(customer) = session.customer_id() else {
        return Ok(Redirect::to(&format!("{LOGIN_URL}?next={NOTIFICATIONS_URL}")).into_response());
    };
    let id = id_in_path(&raw)?;
    match notifications::open(&state.db, customer, id).await? {
        None => Err(WebError::NotFound),
        Some(link) => {
            Ok(Redirect::to(link.as_deref().unwrap_or(NOTIFICATIONS_URL)).into_response())
        }
    }
}

async fn archive_one(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    act(&state, &session, &raw, Action::Archive, &fields).await
}

async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    act(&state, &session, &raw, Action::Delete, &fields).await
}

async fn read_all(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(Redirect::to(&format!("{LOGIN_URL}?next={NOTIFICATIONS_URL}")).into_response());
    };
    let marked = notifications::mark_all_read(&state.db, customer).await?;
    if marked > 0 {
        session.flash("success", "Every notification is marked read.");
    }
    Ok(Redirect::to(NOTIFICATIONS_URL).into_response())
}

async fn emails(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(&uri));
    };
    let page = page_number(&query)?;
    let (listed, total) = history::list(&state.db.pool, customer, page).await?;
    form_page(
        &state,
        &session,
        &uri,
        "customer/emails.html",
        StatusCode::OK,
        minijinja::context! {
            emails => listed,
            total => total,
            pagination => pagination(&format!("{EMAILS_URL}?"), page, total, history::PAGE_SIZE),
        },
    )
    .await
}

async fn email(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(&uri));
    };
    let id = id_in_path(&raw)?;
    let Some(message) = history::message(&state.db.pool, customer, id).await? else {
        return Err(WebError::NotFound);
    };
    form_page(
        &state,
        &session,
        &uri,
        "customer/email.html",
        StatusCode::OK,
        minijinja::context! { email => message },
    )
    .await
}
