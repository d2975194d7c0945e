//! Product reviews in the storefront: a product's review list, the review form, helpfulness
//! votes, and the customer's own reviews at `/accounts/reviews/` (edit, delete).
//!
//! A variant's addresses lead to its parent's reviews (reviews belong to the product a
//! listing shows). Another customer's review id is a 404 like one that does not exist: the
//! domain looks reviews up with their author.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Value;

use super::accounts::{LOGIN_URL, form_page};
use super::listing::pagination;
use super::pages::parse_slug_id;
use super::{cached, category_tree};
use crate::app::AppState;
use crate::infra::changes::Change;
use crate::review::{
    self, Author, Changed, Draft, FieldErrors, Order, ReviewedProduct, Rules, Status, Voted,
    Written,
};
use crate::session::Session;
use crate::web::{WebError, sign_in};

pub const ACCOUNT_REVIEWS_URL: &str = "/accounts/reviews/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/catalogue/{slug_id}/reviews/", get(list))
        .route("/catalogue/{slug_id}/reviews/add/", get(add_page).post(add))
        .route("/reviews/{review_id}/vote/", post(vote))
        .route(ACCOUNT_REVIEWS_URL, get(own_list))
        .route(
            "/accounts/reviews/{review_id}/edit/",
            get(edit_page).post(edit),
        )
        .route("/accounts/reviews/{review_id}/delete/", post(delete))
}

pub fn rules(state: &AppState) -> Rules {
    Rules {
        anonymous: state.config.reviews_anonymous,
        moderated: state.config.reviews_moderated,
    }
}

/// The review list of a product whose page is `product_url`.
pub fn list_url(product_url: &str) -> String {
    format!("{product_url}reviews/")
}

fn add_url(product_url: &str) -> String {
    format!("{product_url}reviews/add/")
}

fn edit_url(id: i64) -> String {
    format!("{ACCOUNT_REVIEWS_URL}{id}/edit/")
}

fn to_login(next: &str) -> Response {
    Redirect::to(&format!("{LOGIN_URL}?next={next}")).into_response()
}

fn id_in_path(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

/// The reviewed product of a `/catalogue/<slug>_<id>/reviews/…` address, or where to go
/// instead: the canonical address (a variant's parent, a renamed slug) of `page`.
async fn product_of(
    state: &AppState,
    slug_id: &str,
    page: &str,
) -> Result<Result<ReviewedProduct, Response>, WebError> {
    let (slug, id) = parse_slug_id(slug_id).ok_or(WebError::NotFound)?;
    let product = review::reviewed_product(&state.db.pool, id)
        .await?
        .ok_or(WebError::NotFound)?;
    if product.url != crate::catalogue::product_url(slug, id) {
        let to = format!("{}reviews/{page}", product.url);
        return Ok(Err(Redirect::permanent(&to).into_response()));
    }
    Ok(Ok(product))
}

/// The reviews part of a product page (shared by every visitor, so cached with the page):
/// the rating, how the scores spread, the most helpful reviews, and the links.
pub async fn on_product_page(state: &AppState, product: i64, url: &str) -> Result<Value, WebError> {
    let pool = &state.db.pool;
    let summary = review::summary(pool, product).await?;
    let top = if summary.count > 0 {
        review::approved(pool, product, Order::Helpful, review::ON_PRODUCT_PAGE, 0).await?
    } else {
        Vec::new()
    };
    Ok(minijinja::context! {
        summary => summary,
        reviews => top,
        list_url => list_url(url),
        add_url => add_url(url),
    })
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(slug_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    category_tree(&state).await?;
    let product = match product_of(&state, &slug_id, "").await? {
        Ok(p) => p,
        Err(redirect) => return Ok(redirect),
    };
    let order = match query.get("sort").map(|s| s.trim()) {
        None | Some("") => Order::Helpful,
        Some(s) => Order::parse(s)
            .ok_or_else(|| WebError::BadRequest(format!("Unknown order \u{201c}{s}\u{201d}.")))?,
    };
    let page_no = match query.get("page").map(|p| p.trim()) {
        None | Some("") => 1,
        Some(p) => p
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| WebError::BadRequest("The page number must be 1 or more.".into()))?,
    };
    let key = format!("r:{}:{}:{page_no}", product.id, order.as_str());
    let page = cached(&state, key, || async {
        let pool = &state.db.pool;
        let summary = review::summary(pool, product.id).await?;
        let size = review::PAGE_SIZE;
        let offset = i64::from(page_no - 1) * size;
        if offset > 0 && offset >= summary.count {
            return Err(WebError::NotFound);
        }
        let reviews = review::approved(pool, product.id, order, size, offset).await?;
        let url = list_url(&product.url);
        let base = format!("{url}?sort={}&", order.as_str());
        let sort: Vec<Value> = Order::ALL
            .into_iter()
            .map(|o| {
                minijinja::context! {
                    value => o.as_str(), label => o.label(), selected => o == order,
                    url => format!("{url}?sort={}", o.as_str()),
                }
            })
            .collect();
        Ok(minijinja::context! {
            product => product.clone(),
            summary => summary.clone(),
            reviews => reviews,
            pagination => pagination(&base, page_no, summary.count, size as u32),
            sort => sort,
            list_url => url,
            add_url => add_url(&product.url),
        })
    })
    .await?;
    super::render(&state, &session, &uri, "reviews/list.html", page).await
}

/// The review form: new (`editing` none) or a customer's own review.
struct FormPage<'a> {
    state: &'a AppState,
    session: &'a Session,
    uri: &'a Uri,
}

impl FormPage<'_> {
    async fn render(
        &self,
        status: StatusCode,
        product: &ReviewedProduct,
        editing: Option<(i64, Status)>,
        form: &Draft,
        errors: FieldErrors,
    ) -> Result<Response, WebError> {
        let guest = self.session.customer_id().is_none();
        let page = minijinja::context! {
            product => product,
            form => form,
            errors => errors,
            guest => guest,
            editing => editing.is_some(),
            editing_status => editing.map(|(_, s)| s.label()),
            action => editing.map_or_else(|| add_url(&product.url), |(id, _)| edit_url(id)),
            moderated => guest || rules(self.state).moderated,
            max_title => review::MAX_TITLE_CHARS,
            max_body => review::MAX_BODY_CHARS,
            max_name => review::MAX_NAME_CHARS,
        };
        form_page(
            self.state,
            self.session,
            self.uri,
            "reviews/form.html",
            status,
            page,
        )
        .await
    }
}

/// Who may write here, or where they go instead: a guest signs in first unless the shop
/// takes anonymous reviews; a customer who reviewed this product edits that review.
async fn author(
    state: &AppState,
    session: &Session,
    product: &ReviewedProduct,
) -> Result<Result<Author, Response>, WebError> {
    let Some(customer) = session.customer_id() else {
        if rules(state).anonymous {
            return Ok(Ok(Author::Guest));
        }
        return Ok(Err(to_login(&add_url(&product.url))));
    };
    let mine = review::for_customer(&state.db.pool, customer).await?;
    if let Some(own) = mine.iter().find(|r| r.review.product_id == product.id) {
        session.flash(
            "info",
            "You have reviewed this product already: you can change your review here.",
        );
        return Ok(Err(Redirect::to(&edit_url(own.review.id)).into_response()));
    }
    Ok(Ok(Author::Customer(customer)))
}

async fn add_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(slug_id): Path<String>,
) -> Result<Response, WebError> {
    let product = match product_of(&state, &slug_id, "add/").await? {
        Ok(p) => p,
        Err(redirect) => return Ok(redirect),
    };
    if let Err(elsewhere) = author(&state, &session, &product).await? {
        return Ok(elsewhere);
    }
    let form = FormPage {
        state: &state,
        session: &session,
        uri: &uri,
    };
    let draft = Draft {
        score: String::new(),
        ..Draft::default()
    };
    form.render(StatusCode::OK, &product, None, &draft, FieldErrors::new())
        .await
}

async fn add(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    peer: sign_in::Peer,
    Path(slug_id): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let product = match product_of(&state, &slug_id, "add/").await? {
        Ok(p) => p,
        Err(redirect) => return Ok(redirect),
    };
    let who = match author(&state, &session, &product).await? {
        Ok(who) => who,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let form = FormPage {
        state: &state,
        session: &session,
        uri: &uri,
    };
    let draft = Draft::from_fields(&fields);
    let checked = match draft.check(matches!(who, Author::Guest)) {
        Ok(c) => c,
        Err(errors) => {
            return form
                .render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &product,
                    None,
                    &draft,
                    errors,
                )
                .await;
        }
    };
    if matches!(who, Author::Guest)
        && let Err(wait) = state.sign_in.admit_address(sign_in::peer_ip(&peer))
    {
        let mut errors = FieldErrors::new();
        errors.insert(
            "form".into(),
            format!(
                "Too many attempts from your network. Please try again in {}.",
                sign_in::wait_text(wait)
            ),
        );
        return form
            .render(
                StatusCode::TOO_MANY_REQUESTS,
                &product,
                None,
                &draft,
                errors,
            )
            .await;
    }
    let written = review::write(&state.db, rules(&state), product.id, who, &checked).await?;
    match written {
        Written::Published => {
            state.changes.announce(Change::Reviews(vec![product.id]));
            session.flash("success", "Thank you: your review is published.");
        }
        Written::AwaitingModeration => session.flash(
            "success",
            "Thank you for your review. It will appear once we have checked it.",
        ),
        Written::AlreadyReviewed(id) => {
            session.flash(
                "info",
                "You have reviewed this product already: you can change your review here.",
            );
            return Ok(Redirect::to(&edit_url(id)).into_response());
        }
    }
    Ok(Redirect::to(&product.url).into_response())
}

async fn vote(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let id = id_in_path(&raw)?;
    let helpful = match fields.get("helpful").map(String::as_str) {
        Some("yes") => true,
        Some("no") => false,
        _ => {
            return Err(WebError::BadRequest(
                "Say whether the review was helpful (yes or no).".into(),
            ));
        }
    };
    let back = sign_in::safe_next(fields.get("next"), "/");
    let Some(customer) = session.customer_id() else {
        session.flash("info", "Please sign in to vote on reviews.");
        return Ok(to_login(&back));
    };
    match review::vote(&state.db, customer, id, helpful).await? {
        // Not announced: a vote moves no rating, and a customer flipping a vote must not be
        // able to empty every cached page; the counts catch up within the cache's lifetime.
        Voted::Counted { .. } => session.flash("success", "Thank you for your feedback."),
        Voted::OwnReview { .. } => {
            session.flash("error", "You can't vote on your own review.");
        }
        Voted::NotFound => return Err(WebError::NotFound),
    }
    Ok(Redirect::to(&back).into_response())
}

async fn own_list(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(ACCOUNT_REVIEWS_URL));
    };
    let reviews: Vec<Value> = review::for_customer(&state.db.pool, customer)
        .await?
        .into_iter()
        .map(|r| {
            let id = r.review.id;
            minijinja::context! {
                edit_url => edit_url(id),
                delete_url => format!("{ACCOUNT_REVIEWS_URL}{id}/delete/"),
                ..Value::from_serialize(&r)
            }
        })
        .collect();
    form_page(
        &state,
        &session,
        &uri,
        "customer/reviews.html",
        StatusCode::OK,
        minijinja::context! { reviews => reviews },
    )
    .await
}

/// The signed-in customer's review `raw` and its product, or the way to sign in; another
/// customer's review is not found.
async fn own_review(
    state: &AppState,
    customer: i64,
    raw: &str,
) -> Result<(review::OwnReview, ReviewedProduct), WebError> {
    let id = id_in_path(raw)?;
    let own = review::own(&state.db.pool, customer, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let product = ReviewedProduct {
        id: own.review.product_id,
        title: own.product_title.clone(),
        url: own.product_url.clone(),
    };
    Ok((own, product))
}

async fn edit_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(ACCOUNT_REVIEWS_URL));
    };
    let (own, product) = own_review(&state, customer, &raw).await?;
    let draft = Draft {
        score: own.review.score.to_string(),
        title: own.review.title.clone(),
        body: own.review.body.clone(),
        name: own.review.name.clone(),
        email: String::new(),
    };
    let form = FormPage {
        state: &state,
        session: &session,
        uri: &uri,
    };
    let editing = Some((own.review.id, own.review.status));
    form.render(
        StatusCode::OK,
        &product,
        editing,
        &draft,
        FieldErrors::new(),
    )
    .await
}

async fn edit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(raw): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(ACCOUNT_REVIEWS_URL));
    };
    let (own, product) = own_review(&state, customer, &raw).await?;
    let draft = Draft::from_fields(&fields);
    let checked = match draft.check(false) {
        Ok(c) => c,
        Err(errors) => {
            let form = FormPage {
                state: &state,
                session: &session,
                uri: &uri,
            };
            let editing = Some((own.review.id, own.review.status));
            return form
                .render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &product,
                    editing,
                    &draft,
                    errors,
                )
                .await;
        }
    };
    match review::update(&state.db, rules(&state), customer, own.review.id, &checked).await? {
        Changed::Done { product, status } => {
            state.changes.announce(Change::Reviews(vec![product]));
            let text = if status == Status::Approved {
                "Your review has been updated."
            } else {
                "Your review has been updated. It will appear once we have checked it."
            };
            session.flash("success", text);
        }
        Changed::NotFound => return Err(WebError::NotFound),
    }
    Ok(Redirect::to(ACCOUNT_REVIEWS_URL).into_response())
}

async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let Some(customer) = session.customer_id() else {
        return Ok(to_login(ACCOUNT_REVIEWS_URL));
    };
    let id = id_in_path(&raw)?;
    match review::delete(&state.db, customer, id).await? {
        Changed::Done { product, .. } => {
            state.changes.announce(Change::Reviews(vec![product]));
            session.flash("success", "Your review has been deleted.");
        }
        Changed::NotFound => return Err(WebError::NotFound),
    }
    Ok(Redirect::to(ACCOUNT_REVIEWS_URL).into_response())
}
