//! Wishlist pages: a customer's lists under `/accounts/wishlists/` (create, rename and set
//! who sees it, delete; lines removed, moved to another list or into the basket), the
//! "add to wishlist" form a product page posts, and the read-only page behind a list's share
//! link. Every change is a POST that redirects (303) with a flash message; another
//! customer's list or line is a 404 and nothing changes (the domain looks everything up with
//! the customer's id).

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::listing::encode;
use crate::app::AppState;
use crate::session::Session;
use crate::web::WebError;
use crate::wishlist::{self, Limits, MovedToBasket, Visibility, Wishlist, WishlistError};

pub const WISHLISTS_URL: &str = "/accounts/wishlists/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(WISHLISTS_URL, get(index).post(create))
        .route("/accounts/wishlists/add/{product_id}/", post(add))
        .route("/accounts/wishlists/{list_id}/", get(show).post(update))
        .route("/accounts/wishlists/{list_id}/delete/", post(delete))
        .route(
            "/accounts/wishlists/{list_id}/lines/{wishlist_line}/remove/",
            post(remove_line),
        )
        .route(
            "/accounts/wishlists/{list_id}/lines/{wishlist_line}/move/",
            post(move_line),
        )
        .route(
            "/accounts/wishlists/{list_id}/lines/{wishlist_line}/basket/",
            post(to_basket),
        )
        .route("/wishlists/{key}/", get(shared))
}

pub fn add_url(product_id: i64) -> String {
    format!("/accounts/wishlists/add/{product_id}/")
}

/// The product page's "add to wishlist" form: the customer's lists to choose from (none
/// yet: the default list is made on first use), or for a visitor a link to sign in and come
/// back. Only the visitor's half differs per customer; the sign-in link is the same for
/// every anonymous visitor, so their page stays cacheable.
pub(super) async fn product_form(
    state: &AppState,
    session: &Session,
    product_id: i64,
    product_url: &str,
) -> Result<minijinja::Value, WebError> {
    Ok(match session.customer_id() {
        Some(customer) => {
            let lists: Vec<minijinja::Value> = wishlist::lists(&state.db.pool, customer)
                .await?
                .into_iter()
                .map(|l| minijinja::context! { id => l.id, name => l.name, is_default => l.is_default })
                .collect();
            minijinja::context! { add_url => add_url(product_id), lists => lists }
        }
        None => minijinja::context! {
            login_url => format!("{}?next={}", super::accounts::LOGIN_URL, encode(product_url)),
        },
    })
}

fn list_url(id: i64) -> String {
    format!("{WISHLISTS_URL}{id}/")
}

fn limits(state: &AppState) -> Limits {
    Limits {
        max_lists: i64::from(state.config.max_wishlists),
        max_lines: i64::from(state.config.max_wishlist_lines),
    }
}

fn parse_id(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The signed-in customer, or where to send a visitor who isn't (back here afterwards).
fn customer_or_login(session: &Session, back_to: &str) -> Result<i64, Redirect> {
    session.customer_id().ok_or_else(|| {
        Redirect::to(&format!(
            "{}?next={}",
            super::accounts::LOGIN_URL,
            encode(back_to)
        ))
    })
}

fn fields_map(fields: Vec<(String, String)>) -> HashMap<String, String> {
    fields.into_iter().collect()
}

fn visibility_field(fields: &HashMap<String, String>) -> Result<Visibility, WebError> {
    match fields.get("visibility").map(|v| v.trim()) {
        None | Some("") => Ok(Visibility::Private),
        Some(v) => Visibility::parse(v)
            .ok_or_else(|| WebError::BadRequest("Choose who can see the list.".into())),
    }
}

/// Refusals (a limit) go back to `back_to` as a message; anything else is the error page.
fn refused_or(
    session: &Session,
    result: Result<Response, WishlistError>,
    back_to: &str,
) -> Result<Response, WebError> {
    match result {
        Ok(response) => Ok(response),
        Err(WishlistError::Refused(message)) | Err(WishlistError::Invalid(message)) => {
            session.flash("error", message);
            Ok(see_other(back_to))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    list: Wishlist,
    url: String,
    share_url: String,
}

fn list_view(list: Wishlist) -> ListView {
    ListView {
        url: list_url(list.id),
        share_url: format!("/wishlists/{}/", list.key),
        list,
    }
}

fn visibilities() -> Vec<minijinja::Value> {
    Visibility::ALL
        .iter()
        .map(|v| minijinja::context! { value => v.as_str(), label => v.label() })
        .collect()
}

/// The page is this customer's own: never kept by the page cache or a proxy.
fn private(mut response: Response) -> Response {
    response.extensions_mut().remove::<crate::web::SharedPage>();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

async fn index(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let customer = match customer_or_login(&session, WISHLISTS_URL) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let lists = wishlist::lists(&state.db.pool, customer).await?;
    let page = minijinja::context! {
        lists => lists.into_iter().map(list_view).collect::<Vec<_>>(),
        visibilities => visibilities(),
        max_lists => state.config.max_wishlists,
        max_name_chars => wishlist::MAX_NAME_CHARS,
    };
    let response = super::render(&state, &session, &uri, "customer/wishlists.html", page).await?;
    Ok(private(response))
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let customer = match customer_or_login(&session, WISHLISTS_URL) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let fields = fields_map(fields);
    let visibility = visibility_field(&fields)?;
    let name = fields.get("name").cloned().unwrap_or_default();
    let result = async {
        let id = wishlist::create(&state.db, limits(&state), customer, &name, visibility).await?;
        session.flash(
            "success",
            format!("Your wishlist “{}” was created.", name.trim()),
        );
        Ok::<_, WishlistError>(see_other(&list_url(id)))
    }
    .await;
    refused_or(&session, result, WISHLISTS_URL)
}

async fn show(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw_id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_id(&raw_id)?;
    let customer = match customer_or_login(&session, uri.path()) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let detail = wishlist::detail(&state.db.pool, customer, id).await?;
    let others: Vec<ListView> = wishlist::lists(&state.db.pool, customer)
        .await?
        .into_iter()
        .filter(|l| l.id != id)
        .map(list_view)
        .collect();
    let base = list_url(id);
    let lines: Vec<minijinja::Value> = detail
        .lines
        .iter()
        .map(|l| {
            minijinja::context! {
                ..minijinja::Value::from_serialize(l),
                ..minijinja::context! {
                    remove_url => format!("{base}lines/{}/remove/", l.id),
                    move_url => format!("{base}lines/{}/move/", l.id),
                    basket_url => format!("{base}lines/{}/basket/", l.id),
                }
            }
        })
        .collect();
    let page = minijinja::context! {
        list => list_view(detail.list),
        lines => lines,
        other_lists => others,
        visibilities => visibilities(),
        max_name_chars => wishlist::MAX_NAME_CHARS,
    };
    let response = super::render(&state, &session, &uri, "customer/wishlist.html", page).await?;
    Ok(private(response))
}

async fn update(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let id = parse_id(&raw_id)?;
    let customer = match customer_or_login(&session, uri.path()) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let fields = fields_map(fields);
    let visibility = visibility_field(&fields)?;
    let name = fields.get("name").cloned().unwrap_or_default();
    let new_link = fields.get("new_link").is_some_and(|v| !v.is_empty());
    let result = async {
        wishlist::update(&state.db, customer, id, &name, visibility, new_link).await?;
        session.flash(
            "success",
            if new_link {
                "The list was saved; its old link no longer works."
            } else {
                "The list was saved."
            },
        );
        Ok::<_, WishlistError>(see_other(&list_url(id)))
    }
    .await;
    refused_or(&session, result, &list_url(id))
}

async fn delete(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw_id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_id(&raw_id)?;
    let customer = match customer_or_login(&session, uri.path()) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let name = wishlist::delete(&state.db, customer, id).await?;
    session.flash("success", format!("Your wishlist “{name}” was deleted."));
    Ok(see_other(WISHLISTS_URL))
}

/// From a product page: `list` names one of the customer's lists, or is empty for their
/// default list (made on first use); `quantity` defaults to 1.
async fn add(
    State(state): State<AppState>,
    session: Session,
    Path(raw_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let product_id = parse_id(&raw_id)?;
    let product_url = crate::basket::products(&state.db.pool, &[product_id])
        .await?
        .remove(&product_id)
        .map(|p| p.url)
        .ok_or(WebError::NotFound)?;
    let customer = match customer_or_login(&session, &product_url) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let fields = fields_map(fields);
    let list = match fields.get("list").map(|v| v.trim()) {
        None | Some("") => None,
        Some(v) => Some(parse_id(v).map_err(|_| WebError::BadRequest("Choose a list.".into()))?),
    };
    let quantity = match fields.get("quantity").map(|v| v.trim()) {
        None | Some("") => 1,
        Some(v) => v.parse::<i64>().map_err(|_| {
            WebError::BadRequest(format!(
                "The quantity must be a whole number from 1 to {}.",
                wishlist::MAX_QUANTITY
            ))
        })?,
    };
    let result = async {
        let added = wishlist::add_product(
            &state.db,
            limits(&state),
            customer,
            list,
            product_id,
            quantity,
        )
        .await?;
        session.flash(
            "success",
            format!(
                "“{}” is on your wishlist “{}”.",
                added.title, added.list_name
            ),
        );
        Ok::<_, WishlistError>(see_other(&added.url))
    }
    .await;
    match result {
        Err(WishlistError::Invalid(m)) => Err(WebError::BadRequest(m)),
        other => refused_or(&session, other, &product_url),
    }
}

/// The list and line ids of a line route.
fn line_ids(raw: &(String, String)) -> Result<(i64, i64), WebError> {
    Ok((parse_id(&raw.0)?, parse_id(&raw.1)?))
}

async fn remove_line(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (list, line) = line_ids(&raw)?;
    let customer = match customer_or_login(&session, uri.path()) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let title = wishlist::remove_line(&state.db, customer, list, line).await?;
    session.flash("success", format!("“{title}” was removed from the list."));
    Ok(see_other(&list_url(list)))
}

async fn move_line(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (list, line) = line_ids(&raw)?;
    let customer = match customer_or_login(&session, uri.path()) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let fields = fields_map(fields);
    let to = fields
        .get("to")
        .map(|v| v.trim())
        .and_then(|v| parse_id(v).ok())
        .ok_or_else(|| WebError::BadRequest("Choose the list to move it to.".into()))?;
    let (title, target) = wishlist::move_line(&state.db, customer, list, line, to).await?;
    session.flash("success", format!("“{title}” was moved to “{target}”."));
    Ok(see_other(&list_url(list)))
}

async fn to_basket(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (list, line) = line_ids(&raw)?;
    let customer = match customer_or_login(&session, uri.path()) {
        Ok(c) => c,
        Err(to_login) => return Ok(to_login.into_response()),
    };
    let baskets = super::basket::baskets(&state, &session);
    match wishlist::move_to_basket(&baskets, customer, list, line).await? {
        MovedToBasket::Moved {
            product_id,
            title,
            quantity,
        } => {
            state
                .analytics
                .record(crate::analytics::Event::BasketAddition {
                    product_id,
                    quantity,
                    customer_id: Some(customer),
                });
            session.flash(
                "success",
                if quantity == 1 {
                    format!("“{title}” was moved to your basket.")
                } else {
                    format!("{quantity} × “{title}” were moved to your basket.")
                },
            );
        }
        MovedToBasket::Refused { message } => session.flash("error", message),
    }
    Ok(see_other(&list_url(list)))
}

/// The page behind a share link: read-only. A private list is a 404 for anyone but its
/// owner (who sees it as others would, with a way back to editing it).
async fn shared(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(key): Path<String>,
) -> Result<Response, WebError> {
    let (detail, is_owner) = wishlist::shared(&state.db.pool, &key, session.customer_id()).await?;
    let page = minijinja::context! {
        indexable => detail.list.visibility == Visibility::Public,
        edit_url => is_owner.then(|| list_url(detail.list.id)),
        list => minijinja::context! {
            name => detail.list.name,
            visibility => detail.list.visibility,
            num_lines => detail.list.num_lines,
        },
        lines => detail.lines,
    };
    let response = super::render(&state, &session, &uri, "wishlists/shared.html", page).await?;
    // Even a public list can turn private or lose its link: never cached, so it stops showing
    // the moment it does.
    Ok(private(response))
}
