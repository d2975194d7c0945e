//! Checkout pages, Oscar's steps: gateway (guest email or sign in) → shipping address →
//! shipping method → payment method → preview (with the card form) → place order →
//! thank-you. The state lives in the session; which step a shopper may be at, what they may
//! choose and how an order is placed are the checkout module's (`crate::checkout`); these
//! handlers read forms, call it, and render.

mod place;
mod provider;
mod steps;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::Value;

use super::basket::{BASKET_URL, current_basket, pricer};
use crate::address::Address;
use crate::app::AppState;
use crate::checkout::flow::{self, Blocked, Checkout, NotReady, Quoting, Shopper, Step};
use crate::checkout::{CheckoutState, Deps, SESSION_KEY};
use crate::session::Session;
use crate::web::WebError;

pub use provider::webhook_router;

pub const CHECKOUT_URL: &str = "/checkout/";
const GATEWAY_URL: &str = "/checkout/gateway/";
const ADDRESS_URL: &str = "/checkout/shipping-address/";
const METHOD_URL: &str = "/checkout/shipping-method/";
const PAYMENT_URL: &str = "/checkout/payment-method/";
const PREVIEW_URL: &str = "/checkout/preview/";
const PLACE_URL: &str = "/checkout/place/";
const THANK_YOU_URL: &str = "/checkout/thank-you/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CHECKOUT_URL, get(steps::start))
        .route(
            "/checkout",
            get(|| async { Redirect::permanent(CHECKOUT_URL) }),
        )
        .route(
            GATEWAY_URL,
            get(steps::gateway_page).post(steps::gateway_submit),
        )
        .route(
            ADDRESS_URL,
            get(steps::address_page).post(steps::address_submit),
        )
        .route(
            METHOD_URL,
            get(steps::method_page).post(steps::method_submit),
        )
        .route(
            PAYMENT_URL,
            get(steps::payment_page).post(steps::payment_submit),
        )
        .route(PREVIEW_URL, get(place::preview_page))
        .route(PLACE_URL, axum::routing::post(place::place))
        .route(
            "/checkout/payment/return/{gateway}/",
            get(provider::payment_return),
        )
        .route(THANK_YOU_URL, get(place::thank_you))
}

fn deps(state: &AppState) -> Deps<'_> {
    Deps {
        db: &state.db,
        plugins: state.plugins.registry(),
        pipeline: &state.pipeline,
        templates: &state.templates,
        mailer: &state.mailer,
        shop_name: &state.config.shop_name,
        changes: &state.changes,
        analytics: &state.analytics,
    }
}

/// Quotes the checkout's delivery methods (the shipping plugins see catalogue facts).
async fn quote(
    state: &AppState,
    ctx: &Checkout,
    address: &Address,
) -> Result<Vec<crate::shipping::Method>, WebError> {
    let tree = super::category_tree(state).await?;
    let deps = deps(state);
    let q = Quoting {
        deps: &deps,
        tree: &tree,
        currency: state.currency,
    };
    Ok(flow::quote(&q, ctx, address).await?)
}

/// The chosen delivery method as quoted now, or where to go to choose one.
async fn chosen_method(
    state: &AppState,
    ctx: &Checkout,
) -> Result<Result<crate::shipping::Method, Detour>, WebError> {
    let tree = super::category_tree(state).await?;
    let deps = deps(state);
    let q = Quoting {
        deps: &deps,
        tree: &tree,
        currency: state.currency,
    };
    Ok(flow::chosen_method(&q, ctx).await?.map_err(Detour::from))
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn back_to(session: &Session, to: &str, message: &str) -> Response {
    session.flash("error", message);
    see_other(to)
}

fn step_url(step: Step) -> &'static str {
    match step {
        Step::Email => GATEWAY_URL,
        Step::Address => ADDRESS_URL,
        Step::Method => METHOD_URL,
        Step::Payment => PAYMENT_URL,
        Step::Preview => PREVIEW_URL,
    }
}

/// Where a visitor goes who can't be at a step yet: to a step they skipped, or back with the
/// reason. Decided first and answered later, so a caller that finds it has nothing to say after
/// all (the payment return finding the order placed) flashes nothing.
enum Detour {
    Step(&'static str),
    Told(&'static str, &'static str),
}

impl Detour {
    fn respond(self, session: &Session) -> Response {
        match self {
            Detour::Step(url) => see_other(url),
            Detour::Told(url, message) => back_to(session, url, message),
        }
    }
}

impl From<NotReady> for Detour {
    fn from(why: NotReady) -> Self {
        match why {
            NotReady::EmptyBasket => Detour::Told(
                BASKET_URL,
                "Your basket is empty, so there is nothing to check out.",
            ),
            NotReady::NotPurchasable => Detour::Told(
                BASKET_URL,
                "Some items in your basket can't be bought as they are; please check them first.",
            ),
        }
    }
}

impl From<Blocked> for Detour {
    fn from(why: Blocked) -> Self {
        match why {
            Blocked::Needs(step) => Detour::Step(step_url(step)),
            Blocked::MethodWithdrawn => Detour::Told(
                METHOD_URL,
                "The delivery method you chose is no longer available for this basket; please choose again.",
            ),
        }
    }
}

/// The visitor's checkout, or where to send a visitor who can't check out.
async fn load(state: &AppState, session: &Session) -> Result<Result<Checkout, Detour>, WebError> {
    let basket_id = current_basket(state, session).await?;
    let shopper = Shopper {
        customer: session.signed_in().map(|c| (c.id, c.email)),
    };
    let saved: CheckoutState = session.get(SESSION_KEY).unwrap_or_default();
    Ok(
        flow::load(pricer(state, session), basket_id, shopper, saved)
            .await?
            .map_err(Detour::from),
    )
}

macro_rules! ctx_or_redirect {
    ($state:expr, $session:expr) => {
        match super::load($state, $session).await? {
            Ok(ctx) => ctx,
            Err(detour) => return Ok(detour.respond($session)),
        }
    };
}
use ctx_or_redirect;

/// The step's guard: the checkout, or the way to the step it must do first.
macro_rules! at_step {
    ($ctx:expr, $session:expr, $step:expr) => {
        if let Err(blocked) = $ctx.may_enter($step) {
            return Ok(super::Detour::from(blocked).respond($session));
        }
    };
}
use at_step;

fn save(session: &Session, state: &CheckoutState) {
    session.insert(SESSION_KEY, state);
}

/// What every checkout page renders from: the request it answers.
struct View<'a> {
    state: &'a AppState,
    session: &'a Session,
    uri: &'a Uri,
}

/// Renders a step's page with the step bar and the order summary.
async fn page(
    view: &View<'_>,
    template: &str,
    status: StatusCode,
    step: Step,
    ctx: &Checkout,
    page: Value,
) -> Result<Response, WebError> {
    view.session.ensure_csrf_token();
    let steps = [
        (Step::Email, "Email"),
        (Step::Address, "Delivery address"),
        (Step::Method, "Delivery method"),
        (Step::Payment, "Payment"),
        (Step::Preview, "Review and pay"),
    ];
    let steps: Vec<Value> = steps
        .iter()
        .map(|(s, name)| {
            minijinja::context! {
                url => step_url(*s), name => *name, current => *s == step, done => *s < step,
            }
        })
        .collect();
    let lines: Vec<Value> = ctx
        .basket
        .lines
        .iter()
        .map(|l| {
            minijinja::context! {
                title => l.title.clone(), quantity => l.quantity, options => l.options.clone(),
                image => l.image.clone(),
                unit_price => l.unit_price.map(|p| p.incl_tax), line_total => l.line_total,
                discounted_total => l.discounted_total, discount => l.discount,
            }
        })
        .collect();
    let summary = minijinja::context! {
        lines => lines,
        num_items => ctx.basket.num_items,
        total_incl_tax => ctx.basket.due_incl_tax,
        discount => (!ctx.basket.discounts.offers.is_empty()).then_some(ctx.basket.discounts.total_incl_tax),
        email => ctx.email.clone(),
        address => ctx.state.shipping_address.as_ref().map(Address::lines),
        billing_address => ctx.state.billing_address.as_ref().map(Address::lines),
    };
    let ctx_value = minijinja::context! { steps => steps, summary => summary, ..page };
    let mut response =
        super::render(view.state, view.session, view.uri, template, ctx_value).await?;
    *response.status_mut() = status;
    Ok(response)
}
