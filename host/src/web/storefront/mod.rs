//! The storefront: catalogue pages ([`pages`]), basket, accounts and their address book,
//! checkout, order status, files; and what every page shares (the header's menu and visitor,
//! rendering, the page data cache).

mod accounts;
mod addresses;
mod alerts;
mod basket;
mod cards;
pub mod checkout;
mod files;
mod listing;
mod messages;
mod offers;
mod orders;
mod pages;
mod profile;
mod reviews;
mod wishlists;

use std::sync::Arc;

use axum::Router;
use axum::http::Uri;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use minijinja::Value;
use serde::Serialize;

use crate::app::AppState;
use crate::catalogue::{self, category::CategoryTree};
use crate::session::Session;
use crate::web::WebError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/catalogue/category/{*path}", get(pages::category))
        .route("/catalogue/{slug_id}/", get(pages::product))
        .route("/catalogue/{slug_id}", get(pages::product_without_slash))
        .route("/search", get(pages::search))
        .route("/offers/", get(offers::list))
        .route("/offers/{slug}/", get(offers::detail))
        .route("/static/{*path}", get(files::static_file))
        .merge(basket::router())
        .merge(accounts::router())
        .merge(profile::router())
        .merge(alerts::router())
        .merge(messages::router())
        .merge(addresses::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(wishlists::router())
        .merge(reviews::router())
}

#[derive(Serialize)]
struct NavCategory {
    name: String,
    url: String,
    children: Vec<NavLink>,
}

#[derive(Serialize)]
struct NavLink {
    name: String,
    url: String,
}

/// Context every page has: the shop and the header's category menu.
pub fn globals(state: &AppState, request_path: &str) -> Value {
    let nav = state.nav.get(&()).unwrap_or_default();
    minijinja::context! {
        request_path => request_path,
        shop => minijinja::context! { name => state.config.shop_name.clone(), tagline => "Well-made things, delivered." },
        nav_categories => nav,
    }
}

pub(crate) async fn category_tree(state: &AppState) -> Result<Arc<CategoryTree>, WebError> {
    if let Some(tree) = state.categories.get(&()) {
        return Ok(tree);
    }
    let tree = Arc::new(catalogue::load_category_tree(&state.db.pool).await?);
    let nav: Vec<NavCategory> = tree
        .roots()
        .map(|root| NavCategory {
            name: root.name.clone(),
            url: root.url(),
            children: tree
                .children(root)
                .map(|c| NavLink {
                    name: c.name.clone(),
                    url: c.url(),
                })
                .collect(),
        })
        .collect();
    state.nav.insert((), Value::from_serialize(&nav));
    state.categories.insert((), tree.clone());
    Ok(tree)
}

/// Per-visitor context: who is signed in, the CSRF token (only if the visitor already has a
/// session: reading never creates one), the mini-basket, and (when `take_messages`) the
/// pending flash messages. A visitor without a session costs nothing here.
pub async fn visitor(state: &AppState, session: &Session, take_messages: bool) -> Value {
    let messages = if take_messages {
        session.take_messages()
    } else {
        Vec::new()
    };
    let mini_basket = match basket::mini_basket(state, session).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "mini-basket failed");
            None
        }
    };
    // Only a signed-in customer pays for the count (one index-only query); a visitor without
    // an account costs nothing here, and their pages stay shareable.
    let signed_in = session.signed_in();
    let unread = match &signed_in {
        Some(who) => {
            match crate::communication::notifications::unread(&state.db.pool, who.id).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "unread notifications count failed");
                    0
                }
            }
        }
        None => 0,
    };
    minijinja::context! {
        customer => signed_in.map(|c| minijinja::context! { email => c.email, unread_notifications => unread }),
        csrf_token => session.csrf_token(),
        messages => (!messages.is_empty()).then_some(messages),
        basket => mini_basket,
    }
}

pub(crate) async fn render(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    template: &str,
    page: Value,
) -> Result<Response, WebError> {
    let visitor = visitor(state, session, true).await;
    let ctx = minijinja::context! { ..page, ..visitor, ..globals(state, uri.path()) };
    let mut response = Html(state.templates.render(template, ctx)?).into_response();
    if session.is_blank() && !crate::themes::previewing() {
        // Nothing on the page is this visitor's own: any cookie-less visitor may be shown it.
        response.extensions_mut().insert(crate::web::SharedPage);
    }
    Ok(response)
}

/// Records `event` for a page shown, and tags the response with it: the page cache keeps the
/// event beside the page and records it again each time it shows the page to someone else.
pub(crate) fn recorded(
    state: &AppState,
    mut response: Response,
    event: crate::analytics::Event,
) -> Response {
    state.analytics.record(event.clone());
    response.extensions_mut().insert(event);
    response
}

/// Uses the cached page data for `key`, or builds and caches it. Concurrent misses for one key
/// wait for a single build instead of all querying the database.
async fn cached<F, Fut>(state: &AppState, key: String, build: F) -> Result<Value, WebError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Value, WebError>>,
{
    state
        .cache
        .try_get_with(key, build())
        .await
        .map_err(|e| (*e).clone())
}
