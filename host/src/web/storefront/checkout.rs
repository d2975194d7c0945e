//! Checkout pages, Oscar's steps: gateway (guest email or sign in) → shipping address →
//! shipping method → payment method → preview (with the card form) → place order →
//! thank-you. The state lives in the session; every step re-checks the steps before it, so
//! back, reload and a second tab behave. Handlers only read forms and call `checkout`.

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::Value;

use super::basket::{BASKET_URL, current_basket, pricer};
use crate::address::{self, Address, COUNTRIES, FieldErrors};
use crate::basket::{self, PricedBasket, snapshot};
use crate::checkout::{
    self, CheckoutState, Deps, LAST_ORDER_KEY, LastOrder, Outcome, PendingPayment, SESSION_KEY,
    Submission,
};
use crate::customer;
use crate::order;
use crate::payment::{self, CardDetails, Gateway};
use crate::plugins::bindings::payment::{Callback, CallbackKind};
use crate::plugins::bindings::shipping::ShippingRequest;
use crate::session::Session;
use crate::shipping::{self, Method};
use crate::web::{AppState, WebError};

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
        .route(CHECKOUT_URL, get(start))
        .route(
            "/checkout",
            get(|| async { Redirect::permanent(CHECKOUT_URL) }),
        )
        .route(GATEWAY_URL, get(gateway_page).post(gateway_submit))
        .route(ADDRESS_URL, get(address_page).post(address_submit))
        .route(METHOD_URL, get(method_page).post(method_submit))
        .route(PAYMENT_URL, get(payment_page).post(payment_submit))
        .route(PREVIEW_URL, get(preview_page))
        .route(PLACE_URL, axum::routing::post(place))
        .route("/checkout/payment/return/{gateway}/", get(payment_return))
        .route(THANK_YOU_URL, get(thank_you))
}

impl From<checkout::CheckoutError> for WebError {
    fn from(e: checkout::CheckoutError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<shipping::ShippingError> for WebError {
    fn from(e: shipping::ShippingError) -> Self {
        WebError::Internal(e.to_string())
    }
}

fn deps(state: &AppState) -> Deps<'_> {
    Deps {
        db: &state.db,
        plugins: &state.plugins,
        pipeline: &state.config.order_pipeline,
        templates: &state.templates,
        mailer: &state.mailer,
        shop_name: &state.config.shop_name,
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn back_to(session: &Session, to: &str, message: &str) -> Response {
    session.flash("error", message);
    see_other(to)
}

/// `scheme://host` of this request, for the provider's return URL.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// What every step needs: the visitor's purchasable basket and the checkout state so far.
struct Ctx {
    basket: PricedBasket,
    state: CheckoutState,
    customer_id: Option<i64>,
    email: Option<String>,
}

/// The basket and state, or where to send a visitor who can't be at this step yet.
async fn load(state: &AppState, session: &Session) -> Result<Result<Ctx, Response>, WebError> {
    let Some(basket_id) = current_basket(state, session).await? else {
        return Ok(Err(back_to(
            session,
            BASKET_URL,
            "Your basket is empty, so there is nothing to check out.",
        )));
    };
    let basket = basket::priced(pricer(state, session), basket_id, true).await?;
    if basket.lines.is_empty() {
        return Ok(Err(back_to(
            session,
            BASKET_URL,
            "Your basket is empty, so there is nothing to check out.",
        )));
    }
    if !basket.is_purchasable {
        return Ok(Err(back_to(
            session,
            BASKET_URL,
            "Some items in your basket can't be bought as they are; please check them first.",
        )));
    }
    let checkout: CheckoutState = session.get(SESSION_KEY).unwrap_or_default();
    let signed_in = session.signed_in();
    Ok(Ok(Ctx {
        basket,
        customer_id: signed_in.as_ref().map(|c| c.id),
        email: signed_in.map(|c| c.email).or(checkout.guest_email.clone()),
        state: checkout,
    }))
}

macro_rules! ctx_or_redirect {
    ($state:expr, $session:expr) => {
        match load($state, $session).await? {
            Ok(ctx) => ctx,
            Err(response) => return Ok(response),
        }
    };
}

fn save(session: &Session, state: &CheckoutState) {
    session.insert(SESSION_KEY, state);
}

/// The first step this checkout hasn't completed.
fn next_step(ctx: &Ctx) -> &'static str {
    if ctx.email.is_none() {
        GATEWAY_URL
    } else if ctx.state.shipping_address.is_none() {
        ADDRESS_URL
    } else if ctx.state.shipping_method.is_none() {
        METHOD_URL
    } else if ctx.state.gateway.is_none() {
        PAYMENT_URL
    } else {
        PREVIEW_URL
    }
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    template: &str,
    status: StatusCode,
    step: &str,
    ctx: &Ctx,
    page: Value,
) -> Result<Response, WebError> {
    session.ensure_csrf_token();
    let steps = [
        (GATEWAY_URL, "Email"),
        (ADDRESS_URL, "Delivery address"),
        (METHOD_URL, "Delivery method"),
        (PAYMENT_URL, "Payment"),
        (PREVIEW_URL, "Review and pay"),
    ];
    let current = steps.iter().position(|(url, _)| *url == step).unwrap_or(0);
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, (url, name))| {
            minijinja::context! { url => *url, name => *name, current => i == current, done => i < current }
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
            }
        })
        .collect();
    let summary = minijinja::context! {
        lines => lines,
        num_items => ctx.basket.num_items,
        total_incl_tax => ctx.basket.total_incl_tax,
        email => ctx.email.clone(),
        address => ctx.state.shipping_address.as_ref().map(Address::lines),
    };
    let ctx_value = minijinja::context! { steps => steps, summary => summary, ..page };
    let mut response = super::render(state, session, uri, template, ctx_value).await?;
    *response.status_mut() = status;
    Ok(response)
}

async fn start(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    Ok(see_other(next_step(&ctx)))
}

// ---- gateway: guest email, or sign in / register ----

async fn gateway_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    if ctx.customer_id.is_some() {
        return Ok(see_other(ADDRESS_URL));
    }
    let form = minijinja::context! { email => ctx.state.guest_email.clone().unwrap_or_default() };
    gateway_render(
        &state,
        &session,
        &uri,
        &ctx,
        StatusCode::OK,
        form,
        FieldErrors::new(),
    )
    .await
}

async fn gateway_render(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    ctx: &Ctx,
    status: StatusCode,
    form: Value,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let p = minijinja::context! {
        form => form, errors => errors,
        login_url => format!("{}?next={CHECKOUT_URL}", super::accounts::LOGIN_URL),
        register_url => format!("{}?next={CHECKOUT_URL}", super::accounts::REGISTER_URL),
    };
    page(
        state,
        session,
        uri,
        "checkout/gateway.html",
        status,
        GATEWAY_URL,
        ctx,
        p,
    )
    .await
}

async fn gateway_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    if ctx.customer_id.is_some() {
        return Ok(see_other(ADDRESS_URL));
    }
    let email = customer::normalize_email(fields.get("email").map(String::as_str).unwrap_or(""));
    if let Some(problem) = customer::email_problem(&email) {
        let mut errors = FieldErrors::new();
        errors.insert("email".into(), problem.into());
        let form = minijinja::context! { email => email };
        return gateway_render(
            &state,
            &session,
            &uri,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
        )
        .await;
    }
    ctx.state.guest_email = Some(email);
    save(&session, &ctx.state);
    Ok(see_other(ADDRESS_URL))
}

// ---- shipping address ----

async fn address_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    if ctx.email.is_none() {
        return Ok(see_other(GATEWAY_URL));
    }
    let saved = match ctx.customer_id {
        Some(id) => address::list(&state.db.pool, id).await?,
        None => Vec::new(),
    };
    let form = ctx
        .state
        .shipping_address
        .clone()
        .or_else(|| saved.first().map(|s| s.address.clone()))
        .unwrap_or_else(|| Address {
            country: "GB".into(),
            ..Address::default()
        });
    address_render(
        &state,
        &session,
        &uri,
        &ctx,
        StatusCode::OK,
        &form,
        FieldErrors::new(),
        saved,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn address_render(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    ctx: &Ctx,
    status: StatusCode,
    form: &Address,
    errors: FieldErrors,
    saved: Vec<address::SavedAddress>,
) -> Result<Response, WebError> {
    let countries: Vec<Value> = COUNTRIES
        .iter()
        .map(|(code, name)| minijinja::context! { code => *code, name => *name })
        .collect();
    let saved: Vec<Value> = saved
        .into_iter()
        .map(|s| minijinja::context! { id => s.id, lines => s.address.lines(), is_default => s.is_default })
        .collect();
    let p = minijinja::context! {
        form => form, errors => errors, countries => countries, saved => saved,
    };
    page(
        state,
        session,
        uri,
        "checkout/shipping_address.html",
        status,
        ADDRESS_URL,
        ctx,
        p,
    )
    .await
}

async fn address_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    if ctx.email.is_none() {
        return Ok(see_other(GATEWAY_URL));
    }
    let chosen = if let Some(raw) = fields.get("address_id") {
        // A saved address: it must be this customer's own.
        let id: i64 = raw
            .parse()
            .map_err(|_| WebError::BadRequest("Choose one of your addresses.".into()))?;
        let customer = ctx.customer_id.ok_or(WebError::NotFound)?;
        let saved = address::get(&state.db.pool, customer, id)
            .await?
            .ok_or(WebError::NotFound)?;
        Ok(saved.address)
    } else {
        Address::from_form(&fields)
    };
    match chosen {
        Ok(address) => {
            if ctx.state.shipping_address.as_ref() != Some(&address) {
                // Methods and charges depend on the address: choose again.
                ctx.state.shipping_method = None;
            }
            ctx.state.shipping_address = Some(address);
            save(&session, &ctx.state);
            Ok(see_other(METHOD_URL))
        }
        Err(problem) => {
            let (form, errors) = *problem;
            let saved = match ctx.customer_id {
                Some(id) => address::list(&state.db.pool, id).await?,
                None => Vec::new(),
            };
            address_render(
                &state,
                &session,
                &uri,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                errors,
                saved,
            )
            .await
        }
    }
}

// ---- shipping method ----

/// Every method the enabled shipping plugins offer for this basket and address.
async fn quotes(state: &AppState, ctx: &Ctx, address: &Address) -> Result<Vec<Method>, WebError> {
    let tree = super::category_tree(state).await?;
    let mut ids: Vec<i64> = ctx.basket.lines.iter().map(|l| l.product_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let facts = crate::catalogue::snapshot::facts(&state.db.pool, &tree, &ids).await?;
    let request = ShippingRequest {
        basket: snapshot::basket(&ctx.basket, &facts),
        customer: snapshot::customer(ctx.customer_id, ctx.email.as_deref()),
        address: Some(snapshot::address(address)),
    };
    Ok(shipping::methods(&state.plugins, request, state.currency).await?)
}

/// The chosen method as quoted now, or where to go to choose one.
async fn chosen_method(
    state: &AppState,
    session: &Session,
    ctx: &Ctx,
) -> Result<Result<Method, Response>, WebError> {
    let Some(address) = &ctx.state.shipping_address else {
        return Ok(Err(see_other(ADDRESS_URL)));
    };
    let Some(key) = &ctx.state.shipping_method else {
        return Ok(Err(see_other(METHOD_URL)));
    };
    let methods = quotes(state, ctx, address).await?;
    Ok(match methods.into_iter().find(|m| &m.key() == key) {
        Some(m) => Ok(m),
        None => Err(back_to(
            session,
            METHOD_URL,
            "The delivery method you chose is no longer available for this basket; please choose again.",
        )),
    })
}

async fn method_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    let Some(address) = ctx.state.shipping_address.clone() else {
        return Ok(see_other(ADDRESS_URL));
    };
    let methods = quotes(&state, &ctx, &address).await?;
    method_render(&state, &session, &uri, &ctx, StatusCode::OK, methods, None).await
}

async fn method_render(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    ctx: &Ctx,
    status: StatusCode,
    methods: Vec<Method>,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let chosen = ctx.state.shipping_method.clone();
    let first = methods.first().map(Method::key);
    let methods: Vec<Value> = methods
        .into_iter()
        .map(|m| {
            let key = m.key();
            minijinja::context! {
                key => key.clone(), name => m.name, description => m.description,
                charge => m.charge_incl_tax, is_free => m.charge_incl_tax.amount().is_zero(),
                checked => chosen.as_ref().map_or(first.as_ref() == Some(&key), |c| *c == key),
            }
        })
        .collect();
    let p = minijinja::context! { methods => methods, errors => minijinja::context! { method => error } };
    page(
        state,
        session,
        uri,
        "checkout/shipping_method.html",
        status,
        METHOD_URL,
        ctx,
        p,
    )
    .await
}

async fn method_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    let Some(address) = ctx.state.shipping_address.clone() else {
        return Ok(see_other(ADDRESS_URL));
    };
    let methods = quotes(&state, &ctx, &address).await?;
    let wanted = fields.get("method").map(String::as_str).unwrap_or("");
    if !methods.iter().any(|m| m.key() == wanted) {
        return method_render(
            &state,
            &session,
            &uri,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            methods,
            Some("Choose one of the delivery methods."),
        )
        .await;
    }
    ctx.state.shipping_method = Some(wanted.to_string());
    save(&session, &ctx.state);
    Ok(see_other(PAYMENT_URL))
}

// ---- payment method ----

async fn payment_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    if ctx.state.shipping_method.is_none() {
        return Ok(see_other(next_step(&ctx)));
    }
    payment_render(&state, &session, &uri, &ctx, StatusCode::OK, None).await
}

async fn payment_render(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    ctx: &Ctx,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let gateways = payment::gateways(&state.plugins);
    let chosen = ctx
        .state
        .gateway
        .clone()
        .or_else(|| gateways.first().map(|g| g.id.clone()));
    let p = minijinja::context! {
        gateways => gateways, chosen => chosen,
        errors => minijinja::context! { gateway => error },
    };
    page(
        state,
        session,
        uri,
        "checkout/payment_method.html",
        status,
        PAYMENT_URL,
        ctx,
        p,
    )
    .await
}

async fn payment_submit(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let mut ctx = ctx_or_redirect!(&state, &session);
    if ctx.state.shipping_method.is_none() {
        return Ok(see_other(next_step(&ctx)));
    }
    let wanted = fields.get("gateway").map(String::as_str).unwrap_or("");
    if !payment::gateways(&state.plugins)
        .iter()
        .any(|g| g.id == wanted)
    {
        return payment_render(
            &state,
            &session,
            &uri,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Choose one of the ways to pay."),
        )
        .await;
    }
    ctx.state.gateway = Some(wanted.to_string());
    save(&session, &ctx.state);
    Ok(see_other(PREVIEW_URL))
}

// ---- preview and place order ----

fn chosen_gateway(state: &AppState, ctx: &Ctx) -> Option<Gateway> {
    let id = ctx.state.gateway.as_deref()?;
    payment::gateways(&state.plugins)
        .into_iter()
        .find(|g| g.id == id)
}

async fn preview_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let ctx = ctx_or_redirect!(&state, &session);
    if next_step(&ctx) != PREVIEW_URL {
        return Ok(see_other(next_step(&ctx)));
    }
    let method = match chosen_method(&state, &session, &ctx).await? {
        Ok(m) => m,
        Err(response) => return Ok(response),
    };
    let Some(gateway) = chosen_gateway(&state, &ctx) else {
        return Ok(back_to(&session, PAYMENT_URL, "Please choose how to pay."));
    };
    preview_render(
        &state,
        &session,
        &uri,
        &ctx,
        &method,
        &gateway,
        StatusCode::OK,
        Value::UNDEFINED,
        FieldErrors::new(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn preview_render(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    ctx: &Ctx,
    method: &Method,
    gateway: &Gateway,
    status: StatusCode,
    card_form: Value,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let total = order::total_incl_tax(&ctx.basket, method)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let p = minijinja::context! {
        basket_id => ctx.basket.id,
        fingerprint => checkout::fingerprint(&ctx.basket, method),
        method => minijinja::context! { name => method.name.clone(), description => method.description.clone(), charge => method.charge_incl_tax },
        gateway => gateway,
        lines_total => ctx.basket.total_incl_tax,
        total => total,
        form => card_form,
        errors => errors,
        place_url => PLACE_URL,
    };
    page(
        state,
        session,
        uri,
        "checkout/preview.html",
        status,
        PREVIEW_URL,
        ctx,
        p,
    )
    .await
}

/// The visitor's session owns this order (it placed it).
fn owns_last_order(session: &Session, number: &str) -> bool {
    session
        .get::<LastOrder>(LAST_ORDER_KEY)
        .is_some_and(|l| l.number == number)
}

fn finish(
    session: &Session,
    number: String,
    guest_token: Option<String>,
    next_basket: Option<i64>,
) -> Response {
    session.remove(SESSION_KEY);
    match next_basket {
        // Lines saved for later moved there (a customer's is found by owner anyway).
        Some(id) if session.customer_id().is_none() => session.insert(basket::SESSION_KEY, id),
        _ => session.remove(basket::SESSION_KEY),
    }
    session.insert(
        LAST_ORDER_KEY,
        LastOrder {
            number,
            guest_token,
        },
    );
    see_other(THANK_YOU_URL)
}

async fn place(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let posted_basket: i64 = fields
        .get("basket_id")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| WebError::BadRequest("This checkout form is incomplete.".into()))?;
    // Already placed (a second click after the first one finished): show that order.
    if current_basket(&state, &session).await? != Some(posted_basket) {
        if let Some(number) = order::number_of_basket(&state.db.pool, posted_basket).await?
            && owns_last_order(&session, &number)
        {
            return Ok(see_other(THANK_YOU_URL));
        }
        return Err(WebError::BadRequest(
            "This checkout form is out of date or not yours; nothing was ordered.".into(),
        ));
    }
    let ctx = ctx_or_redirect!(&state, &session);
    if next_step(&ctx) != PREVIEW_URL {
        return Ok(see_other(next_step(&ctx)));
    }
    let method = match chosen_method(&state, &session, &ctx).await? {
        Ok(m) => m,
        Err(response) => return Ok(response),
    };
    let Some(gateway) = chosen_gateway(&state, &ctx) else {
        return Ok(back_to(&session, PAYMENT_URL, "Please choose how to pay."));
    };
    let fingerprint = checkout::fingerprint(&ctx.basket, &method);
    if fields.get("fingerprint") != Some(&fingerprint) {
        return Ok(back_to(
            &session,
            PREVIEW_URL,
            "Your basket or delivery charge changed since you reviewed your order. Please check it again; nothing was ordered.",
        ));
    }
    let card = if gateway.card_form {
        match CardDetails::from_form(|k| fields.get(k).cloned()) {
            Ok(card) => Some(card),
            Err(errors) => {
                // Never echo the card number or code back.
                let form = minijinja::context! {
                    card_name => fields.get("card_name").cloned().unwrap_or_default(),
                    card_expiry => fields.get("card_expiry").cloned().unwrap_or_default(),
                };
                return preview_render(
                    &state,
                    &session,
                    &uri,
                    &ctx,
                    &method,
                    &gateway,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    form,
                    errors,
                )
                .await;
            }
        }
    } else {
        None
    };
    let (Some(email), Some(address)) = (ctx.email.clone(), ctx.state.shipping_address.clone())
    else {
        return Ok(see_other(next_step(&ctx)));
    };
    let deps = deps(&state);
    let outcome = checkout::pay_and_place(
        &deps,
        Submission {
            basket: &ctx.basket,
            customer_id: ctx.customer_id,
            email: &email,
            shipping_address: &address,
            method: &method,
            gateway: &gateway.id,
            card,
            return_url: format!(
                "{}/checkout/payment/return/{}/",
                origin(&headers),
                gateway.id
            ),
            fingerprint: &fingerprint,
            site_url: &origin(&headers),
        },
    )
    .await?;
    Ok(respond(&session, ctx.state, outcome))
}

fn respond(session: &Session, mut state: CheckoutState, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Placed {
            placed,
            guest_token,
        } => finish(session, placed.number, guest_token, placed.next_basket),
        Outcome::AlreadyPlaced { number } => {
            if !owns_last_order(session, &number) {
                // The other request of a double submit wrote the order; this session owns the
                // basket it came from, so it may see the order (without a guest link).
                finish(session, number, None, None)
            } else {
                see_other(THANK_YOU_URL)
            }
        }
        Outcome::Redirect { url, pending } => {
            state.pending = Some(pending);
            save(session, &state);
            see_other(&url)
        }
        Outcome::Refused(message) => {
            state.pending = None;
            save(session, &state);
            back_to(session, PREVIEW_URL, &message)
        }
    }
}

/// The customer comes back from the provider's page. The query string is the provider's; the
/// payment to check is the one this session started (never one named in the URL).
async fn payment_return(
    State(state): State<AppState>,
    session: Session,
    Path(gateway): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let checkout_state: CheckoutState = session.get(SESSION_KEY).unwrap_or_default();
    let Some(pending) = checkout_state
        .pending
        .clone()
        .filter(|p| p.gateway == gateway)
    else {
        if session.get::<LastOrder>(LAST_ORDER_KEY).is_some() {
            return Ok(see_other(THANK_YOU_URL));
        }
        return Ok(back_to(
            &session,
            BASKET_URL,
            "There is no payment in progress.",
        ));
    };
    // The provider's webhook may have placed the order already (the customer took long to come
    // back): show it; the payment belongs to that order and must not be voided.
    if let Some(basket_id) = pending.basket_id
        && let Some(number) = order::number_of_basket(&state.db.pool, basket_id).await?
    {
        checkout::pending::forget(&state.db.pool, &pending.gateway, &pending.reference).await?;
        let mut checkout_state = checkout_state;
        checkout_state.pending = None;
        return Ok(respond(
            &session,
            checkout_state,
            Outcome::AlreadyPlaced { number },
        ));
    }
    let callback = Callback {
        kind: CallbackKind::BrowserReturn,
        method: "GET".into(),
        query: query.unwrap_or_default(),
        headers: Vec::new(),
        body: Vec::new(),
        reference: Some(pending.reference.clone()),
    };
    let outcome = payment::handle_callback(&state.plugins, &gateway, callback).await;
    let ctx = match load(&state, &session).await? {
        Ok(ctx) => ctx,
        Err(response) => {
            void_pending(&state, &pending).await;
            return Ok(response);
        }
    };
    let method = match chosen_method(&state, &session, &ctx).await? {
        Ok(m) => m,
        Err(response) => {
            void_pending(&state, &pending).await;
            return Ok(response);
        }
    };
    let fingerprint = checkout::fingerprint(&ctx.basket, &method);
    let outcome = match outcome {
        Err(e) => {
            tracing::error!(%gateway, error = %e, "payment return failed");
            Outcome::Refused(checkout::PAYMENT_FAILED.into())
        }
        Ok(_) if fingerprint != pending.fingerprint => {
            void_pending(&state, &pending).await;
            Outcome::Refused(
                "Your basket changed while you were paying, so the payment was cancelled and nothing was ordered. Please review your order again."
                    .into(),
            )
        }
        Ok(result) => {
            let (Some(email), Some(address)) =
                (ctx.email.clone(), ctx.state.shipping_address.clone())
            else {
                void_pending(&state, &pending).await;
                return Ok(see_other(next_step(&ctx)));
            };
            let deps = deps(&state);
            checkout::complete_redirect(
                &deps,
                Submission {
                    basket: &ctx.basket,
                    customer_id: ctx.customer_id,
                    email: &email,
                    shipping_address: &address,
                    method: &method,
                    gateway: &gateway,
                    card: None,
                    return_url: String::new(),
                    fingerprint: &fingerprint,
                    site_url: &origin(&headers),
                },
                &pending,
                result,
            )
            .await?
        }
    };
    // Decided one way or the other: the webhook has nothing left to do for this payment.
    checkout::pending::forget(&state.db.pool, &pending.gateway, &pending.reference).await?;
    Ok(respond(&session, ctx.state, outcome))
}

/// Providers' server-to-server notifications. Mounted outside the session and CSRF layers: a
/// provider has neither, and the notification is not trusted anyway. The gateway plugin reads
/// it and asks its provider what really happened; only an approval it confirms, for a payment
/// this shop started, places an order.
pub fn webhook_router() -> Router<AppState> {
    Router::new().route(
        "/payment/{gateway}/webhook/",
        axum::routing::post(webhook).get(webhook),
    )
}

/// Notifications larger than this are refused unread.
const MAX_WEBHOOK_BYTES: usize = 64 * 1024;

async fn webhook(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    method: axum::http::Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !payment::gateways(&state.plugins)
        .iter()
        .any(|g| g.id == gateway)
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    if body.len() > MAX_WEBHOOK_BYTES {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let callback = Callback {
        kind: CallbackKind::Webhook,
        method: method.to_string(),
        query: query.unwrap_or_default(),
        headers: headers
            .iter()
            .filter(|(name, _)| *name != header::COOKIE && *name != header::AUTHORIZATION)
            .filter_map(|(name, value)| {
                Some(crate::plugins::bindings::payment::Header {
                    name: name.to_string(),
                    value: value.to_str().ok()?.to_string(),
                })
            })
            .collect(),
        body: body.to_vec(),
        reference: None,
    };
    let outcome = match payment::handle_callback(&state.plugins, &gateway, callback).await {
        Ok(outcome) => outcome,
        Err(e) => {
            // A 5xx asks the provider to send it again later.
            tracing::error!(%gateway, error = %e, "payment webhook failed");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    if let crate::plugins::PaymentOutcome::Error { message } = &outcome {
        tracing::error!(%gateway, %message, "payment webhook: gateway fault");
        return StatusCode::BAD_GATEWAY.into_response();
    }
    if let crate::plugins::PaymentOutcome::Declined { message } = &outcome {
        // The gateway refuses the notification (the provider knows no such payment, or it did
        // not go through): nothing to place, and a client error, as a 5xx would ask for the
        // same notification again.
        tracing::warn!(%gateway, %message, "payment webhook refused by the gateway");
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    let deps = deps(&state);
    let pricer = |customer_id| super::basket::pricer_for(&state, customer_id);
    match checkout::pending::complete_from_webhook(&deps, pricer, &gateway, outcome).await {
        Ok(result) => {
            // Logged by hand: the outcome carries the guest link's secret, which logs never see.
            let what = match &result {
                checkout::pending::WebhookResult::Unknown => "no pending payment".to_string(),
                checkout::pending::WebhookResult::Decided(Outcome::Placed { placed, .. }) => {
                    format!("order {} placed", placed.number)
                }
                checkout::pending::WebhookResult::Decided(Outcome::AlreadyPlaced { number }) => {
                    format!("order {number} was placed already")
                }
                checkout::pending::WebhookResult::Decided(Outcome::Refused(message)) => {
                    format!("refused: {message}")
                }
                checkout::pending::WebhookResult::Decided(Outcome::Redirect { .. }) => {
                    "redirected again (ignored)".to_string()
                }
            };
            tracing::info!(%gateway, "payment webhook handled: {what}");
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(%gateway, error = %e, "payment webhook: placing the order failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn void_pending(state: &AppState, pending: &PendingPayment) {
    if let Err(e) = payment::void(&state.plugins, &pending.gateway, &pending.reference).await {
        tracing::error!(gateway = %pending.gateway, reference = %pending.reference, error = %e,
            "VOID FAILED after an abandoned redirect payment");
    }
}

// ---- thank you ----

async fn thank_you(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let Some(last) = session.get::<LastOrder>(LAST_ORDER_KEY) else {
        return Ok(see_other("/"));
    };
    let order = order::by_number(&state.db.pool, &last.number)
        .await?
        .ok_or(WebError::NotFound)?;
    let status_url = super::orders::status_url(&order, last.guest_token.as_deref());
    let p = minijinja::context! {
        order => order,
        status_url => status_url.clone(),
        status_link => format!("{}{}", origin(&headers), status_url.unwrap_or_default()),
    };
    super::render(&state, &session, &uri, "checkout/thank_you.html", p).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_comes_from_safe_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "shop.example:8000".parse().unwrap());
        assert_eq!(origin(&h), "http://shop.example:8000");
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(origin(&h), "https://shop.example:8000");
        h.insert(header::HOST, "evil.example/<x>".parse().unwrap());
        assert_eq!(origin(&h), "https://127.0.0.1");
    }
}
