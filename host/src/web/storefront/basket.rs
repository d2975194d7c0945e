//! Basket pages: the basket, add-to-basket, and line changes (quantity, remove, save for
//! later, move back). Every change is a POST that redirects (303) with a flash message.
//! Malformed input is a 4xx page; a request the shop's rules refuse (stock, limits, required
//! options) redirects back with an error message. Either way nothing changes.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Value;
use serde::Serialize;

use crate::app::AppState;
use crate::basket::actions::{Added, Baskets, LineChange};
use crate::basket::{self, BasketError, Limits, Owner, PricedLine, Pricer, SESSION_KEY};
use crate::catalogue::Image;
use crate::money::Money;
use crate::pricing::Availability;
use crate::session::Session;
use crate::web::WebError;

pub const BASKET_URL: &str = "/basket/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(BASKET_URL, get(show))
        .route("/basket", get(|| async { Redirect::permanent(BASKET_URL) }))
        .route("/basket/add/{product_id}/", post(add))
        .route("/basket/lines/{line_id}/quantity/", post(update))
        .route("/basket/lines/{line_id}/remove/", post(remove))
        .route("/basket/lines/{line_id}/save/", post(save_for_later))
        .route("/basket/lines/{line_id}/restore/", post(restore))
        .route("/basket/vouchers/add/", post(add_voucher))
        .route("/basket/vouchers/remove/", post(remove_voucher))
}

pub fn add_url(product_id: i64) -> String {
    format!("/basket/add/{product_id}/")
}

pub(crate) fn pricer<'a>(state: &'a AppState, session: &Session) -> Pricer<'a> {
    pricer_for(state, session.customer_id())
}

/// Prices as `customer_id` sees them (`None`: an anonymous visitor).
pub(crate) fn pricer_for(state: &AppState, customer_id: Option<i64>) -> Pricer<'_> {
    Pricer {
        db: &state.db,
        pool: &state.db.pool,
        pricing: state.pricing.as_ref(),
        offers: state.offers.as_ref(),
        currency: state.currency,
        customer_id,
    }
}

pub fn limits(state: &AppState) -> Limits {
    Limits {
        max_line_quantity: i64::from(state.config.max_line_quantity),
        max_basket_quantity: i64::from(state.config.max_basket_quantity),
    }
}

fn owner(session: &Session) -> Owner {
    match session.customer_id() {
        Some(id) => Owner::Customer(id),
        None => Owner::Session(session.get(SESSION_KEY)),
    }
}

/// The visitor's open basket. No session data, no query.
pub async fn current_basket(
    state: &AppState,
    session: &Session,
) -> Result<Option<i64>, BasketError> {
    match owner(session) {
        Owner::Session(None) => Ok(None),
        owner => basket::find_open(&state.db.pool, owner).await,
    }
}

/// The header's mini-basket, for a visitor who has a basket.
pub async fn mini_basket(
    state: &AppState,
    session: &Session,
) -> Result<Option<Value>, BasketError> {
    let Some(id) = current_basket(state, session).await? else {
        return Ok(None);
    };
    let (num_items, total) = match state.mini_baskets.get(&id) {
        Some(summary) => summary,
        None => {
            let priced = basket::priced(pricer(state, session), id, false).await?;
            let summary = (priced.num_items, priced.due_incl_tax);
            state.mini_baskets.insert(id, summary);
            summary
        }
    };
    Ok(Some(minijinja::context! {
        num_items => num_items,
        total => total,
        url => BASKET_URL,
    }))
}

/// Ids in paths: anything but a positive integer is no page of ours.
fn parse_id(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

/// A quantity field: a whole number from `min` up to the line limit, else a 400.
fn parse_quantity(raw: Option<&String>, min: i64, max: i64) -> Result<i64, WebError> {
    let raw = raw.map(|r| r.trim()).unwrap_or_default();
    let problem = || {
        WebError::BadRequest(format!(
            "The quantity must be a whole number from {min} to {max}."
        ))
    };
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem());
    }
    let n: i64 = raw.parse().map_err(|_| problem())?;
    if n < min || n > max {
        return Err(problem());
    }
    Ok(n)
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Prices, limits and change announcements as this visitor's basket actions need them.
pub(crate) fn baskets<'a>(state: &'a AppState, session: &Session) -> Baskets<'a> {
    Baskets {
        pricer: pricer(state, session),
        limits: limits(state),
        changes: &state.changes,
    }
}

async fn add(
    State(state): State<AppState>,
    session: Session,
    Path(raw_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let product_id = parse_id(&raw_id)?;
    let fields: HashMap<String, String> = fields.into_iter().collect();
    let limits = limits(&state);
    let quantity = parse_quantity(fields.get("quantity"), 1, limits.max_line_quantity)?;
    let owner = owner(&session);
    let added = baskets(&state, &session)
        .add(owner, product_id, &fields, quantity)
        .await?;
    let back_to = match added {
        Added::Added { basket_id, line } => {
            state
                .analytics
                .record(crate::analytics::Event::BasketAddition {
                    product_id,
                    quantity,
                    customer_id: session.customer_id(),
                });
            if let Owner::Session(_) = owner {
                session.insert(SESSION_KEY, basket_id);
            }
            let what = if quantity == 1 {
                format!("“{}” is now in your basket.", line.product.title)
            } else {
                format!(
                    "{quantity} × “{}” are now in your basket.",
                    line.product.title
                )
            };
            session.flash("success", what);
            line.product.url
        }
        Added::Refused { message, back_to } => {
            session.flash("error", message);
            back_to.unwrap_or_else(|| BASKET_URL.into())
        }
    };
    Ok(see_other(&back_to))
}

async fn change_line(
    state: &AppState,
    session: &Session,
    raw_id: &str,
    change: LineChange,
) -> Result<Response, WebError> {
    let line_id = parse_id(raw_id)?;
    let basket_id = current_basket(state, session)
        .await?
        .ok_or(WebError::NotFound)?;
    let done = match change {
        LineChange::Quantity(0) | LineChange::Remove => "The item was removed from your basket.",
        LineChange::Quantity(_) => "Your basket was updated.",
        LineChange::SaveForLater => "The item was saved for later.",
        LineChange::MoveToBasket => "The item was moved back to your basket.",
    };
    match baskets(state, session)
        .change_line(basket_id, line_id, change)
        .await
    {
        Ok(()) => session.flash("success", done),
        Err(BasketError::Refused(message)) => session.flash("error", message),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(BASKET_URL))
}

async fn update(
    State(state): State<AppState>,
    session: Session,
    Path(raw_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let fields: HashMap<String, String> = fields.into_iter().collect();
    let quantity = parse_quantity(
        fields.get("quantity"),
        0,
        i64::from(state.config.max_line_quantity),
    )?;
    change_line(&state, &session, &raw_id, LineChange::Quantity(quantity)).await
}

async fn remove(
    State(state): State<AppState>,
    session: Session,
    Path(raw_id): Path<String>,
) -> Result<Response, WebError> {
    change_line(&state, &session, &raw_id, LineChange::Remove).await
}

async fn save_for_later(
    State(state): State<AppState>,
    session: Session,
    Path(raw_id): Path<String>,
) -> Result<Response, WebError> {
    change_line(&state, &session, &raw_id, LineChange::SaveForLater).await
}

async fn restore(
    State(state): State<AppState>,
    session: Session,
    Path(raw_id): Path<String>,
) -> Result<Response, WebError> {
    change_line(&state, &session, &raw_id, LineChange::MoveToBasket).await
}

/// The code typed into the basket's voucher form: a refusal (unknown, expired, not for
/// this basket...) comes back as an error message, like any rule the basket enforces.
async fn add_voucher(
    State(state): State<AppState>,
    session: Session,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let code = fields.get("code").map(|c| c.trim()).unwrap_or_default();
    let Some(basket_id) = current_basket(&state, &session).await? else {
        session.flash(
            "error",
            "Add something to your basket before entering a voucher.",
        );
        return Ok(see_other(BASKET_URL));
    };
    match baskets(&state, &session)
        .add_voucher(basket_id, code)
        .await?
    {
        Ok(message) => session.flash("success", message),
        Err(reason) => session.flash("error", reason),
    }
    Ok(see_other(BASKET_URL))
}

async fn remove_voucher(
    State(state): State<AppState>,
    session: Session,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let code = fields.get("code").map(|c| c.trim()).unwrap_or_default();
    let basket_id = current_basket(&state, &session)
        .await?
        .ok_or(WebError::NotFound)?;
    if baskets(&state, &session)
        .remove_voucher(basket_id, code)
        .await?
    {
        session.flash(
            "success",
            format!("Voucher {} was removed.", code.to_uppercase()),
        );
    }
    Ok(see_other(BASKET_URL))
}

#[derive(Serialize)]
struct LineView {
    id: i64,
    title: String,
    url: Option<String>,
    image: Option<Image>,
    quantity: i64,
    options: Vec<basket::LineOption>,
    unit_price: Option<Money>,
    unit_price_excl_tax: Option<Money>,
    line_total: Option<Money>,
    discount: Option<Money>,
    discounted_total: Option<Money>,
    availability: Availability,
    warnings: Vec<String>,
    update_url: String,
    remove_url: String,
    save_url: String,
    restore_url: String,
}

impl From<PricedLine> for LineView {
    fn from(l: PricedLine) -> Self {
        LineView {
            update_url: format!("/basket/lines/{}/quantity/", l.id),
            remove_url: format!("/basket/lines/{}/remove/", l.id),
            save_url: format!("/basket/lines/{}/save/", l.id),
            restore_url: format!("/basket/lines/{}/restore/", l.id),
            id: l.id,
            title: l.title,
            url: l.url,
            image: l.image,
            quantity: l.quantity,
            options: l.options,
            unit_price: l.unit_price.map(|p| p.incl_tax),
            unit_price_excl_tax: l.unit_price.map(|p| p.excl_tax),
            line_total: l.line_total,
            discount: l.discount,
            discounted_total: l.discounted_total,
            availability: l.availability,
            warnings: l.warnings,
        }
    }
}

async fn show(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let priced = match current_basket(&state, &session).await? {
        Some(id) => Some(basket::priced(pricer(&state, &session), id, true).await?),
        None => None,
    };
    let page = match priced {
        Some(b) => minijinja::context! {
            lines => b.lines.into_iter().map(LineView::from).collect::<Vec<_>>(),
            saved_lines => b.saved.into_iter().map(LineView::from).collect::<Vec<_>>(),
            totals => minijinja::context! {
                num_items => b.num_items,
                incl_tax => b.total_incl_tax,
                excl_tax => b.total_excl_tax,
                tax => b.total_tax,
                shows_tax => !b.total_tax.amount().is_zero(),
                due_incl_tax => b.due_incl_tax,
                discount => b.discounts.total_incl_tax,
            },
            offers => b.discounts.offers,
            shipping_offers => b.discounts.shipping,
            upsells => b.discounts.upsells,
            vouchers => b.discounts.vouchers,
            is_purchasable => b.is_purchasable,
            max_line_quantity => state.config.max_line_quantity,
        },
        None => minijinja::context! {
            lines => Vec::<LineView>::new(),
            saved_lines => Vec::<LineView>::new(),
            max_line_quantity => state.config.max_line_quantity,
        },
    };
    super::render(&state, &session, &uri, "basket/basket.html", page).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_whole_numbers_in_range() {
        let q = |s: &str| parse_quantity(Some(&s.to_owned()), 1, 999);
        assert_eq!(q(" 3 ").ok(), Some(3));
        for bad in [
            "0",
            "-1",
            "1000",
            "abc",
            "1.5",
            "",
            "99999999999999999999999",
            "+2",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
        assert!(parse_quantity(None, 1, 9).is_err());
        assert_eq!(parse_quantity(Some(&"0".into()), 0, 9).ok(), Some(0));
        assert!(parse_id("12").is_ok() && parse_id("-1").is_err() && parse_id("x").is_err());
    }
}
