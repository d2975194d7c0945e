//! Dashboard offers, vouchers and ranges (Oscar's offer wizard on one page: metadata,
//! condition, benefit, restrictions), each offer's results, and the explanation of a basket:
//! which offers applied, which did not and why. The shop's own staff only: a partner user
//! cannot discount the whole shop.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rust_decimal::Decimal;

use super::params::path_id;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::infra::changes::Change;
use crate::money::Money;
use crate::offer::manage::{self, BENEFIT_KINDS, CONDITION_KINDS, NewOffer, NewRange, NewVoucher};
use crate::offer::voucher::Usage;
use crate::offer::{OfferError, OfferType};
use crate::plugins::ExtensionPoint;
use crate::staff::Permission;
use crate::web::WebError;

pub const OFFERS_URL: &str = "/dashboard/offers/";
const NEW_OFFER_URL: &str = "/dashboard/offers/new/";
const EXPLAIN_URL: &str = "/dashboard/offers/explain/";
pub const VOUCHERS_URL: &str = "/dashboard/vouchers/";
const VOUCHER_SETS_URL: &str = "/dashboard/vouchers/sets/";
pub const RANGES_URL: &str = "/dashboard/ranges/";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(OFFERS_URL, get(list))
        .route(NEW_OFFER_URL, get(new_offer).post(create_offer))
        .route(EXPLAIN_URL, get(explain))
        .route("/dashboard/offers/{offer_id}/", get(detail))
        .route("/dashboard/offers/{offer_id}/status/", post(set_status))
        .route(VOUCHERS_URL, get(vouchers).post(create_voucher))
        .route(VOUCHER_SETS_URL, post(create_voucher_set))
        .route(RANGES_URL, get(ranges).post(create_range))
}

fn shop_staff(current: &CurrentStaff, permission: Permission) -> Result<(), WebError> {
    current.require(permission)?;
    if current.staff.partner_scope().is_some() {
        return Err(WebError::Forbidden(
            "Offers are the shop's: partner users don't manage them.".into(),
        ));
    }
    Ok(())
}

type Form = HashMap<String, String>;
type Errors = BTreeMap<String, String>;

fn text<'a>(form: &'a Form, key: &str) -> &'a str {
    form.get(key).map(|v| v.trim()).unwrap_or_default()
}

/// A `YYYY-MM-DD` field as the start of that day (UTC): `Ok(None)` when empty.
fn day_field(form: &Form, key: &str) -> Result<Option<String>, &'static str> {
    let v = text(form, key);
    if v.is_empty() {
        return Ok(None);
    }
    time::Date::parse(
        v,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map(|_| Some(format!("{v}T00:00:00Z")))
    .map_err(|_| "Enter a date like 2026-12-31.")
}

async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ViewCatalogue)?;
    let offers = manage::list(&state.db.pool, state.currency).await?;
    let ctx = minijinja::context! {
        offers => offers.iter().map(|o| minijinja::context! {
            url => format!("{OFFERS_URL}{}/", o.id),
            status_url => format!("{OFFERS_URL}{}/status/", o.id),
            ..minijinja::Value::from_serialize(o)
        }).collect::<Vec<_>>(),
        can_edit => current.staff.can(Permission::ManageCatalogue),
        new_url => NEW_OFFER_URL,
        explain_url => EXPLAIN_URL,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/offers/list.html",
        StatusCode::OK,
        ctx,
    )
}

/// What the offer form offers to choose from.
async fn choices(state: &AppState) -> Result<minijinja::Value, WebError> {
    let ranges: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM offer_range ORDER BY name")
            .fetch_all(&state.db.pool)
            .await?;
    let groups: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM customer_group ORDER BY name")
            .fetch_all(&state.db.pool)
            .await?;
    let plugins = state.plugins.registry().enabled_ids(ExtensionPoint::Offer);
    Ok(minijinja::context! {
        ranges => ranges.into_iter().map(|(id, name)| minijinja::context! { value => id, label => name }).collect::<Vec<_>>(),
        groups => groups.into_iter().map(|(id, name)| minijinja::context! { id, name }).collect::<Vec<_>>(),
        plugins => plugins,
        offer_types => OfferType::ALL.map(OfferType::as_str),
        condition_kinds => CONDITION_KINDS,
        benefit_kinds => BENEFIT_KINDS,
    })
}

async fn form_page(
    state: &AppState,
    current: &CurrentStaff,
    status: StatusCode,
    form: Form,
    errors: Errors,
) -> Result<Response, WebError> {
    let ctx = minijinja::context! {
        form => form,
        errors => errors,
        choices => choices(state).await?,
        action => NEW_OFFER_URL,
        currency => state.currency.code(),
        can_edit => current.staff.can(Permission::ManageCatalogue),
    };
    render(
        state,
        current,
        OFFERS_URL,
        "dashboard/offers/form.html",
        status,
        ctx,
    )
}

/// The empty form. Read-only staff may look at it (the button says they can't create).
async fn new_offer(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ViewCatalogue)?;
    let form = Form::from([
        ("offer_type".into(), "site".into()),
        ("exclusive".into(), "on".into()),
        ("priority".into(), "0".into()),
    ]);
    form_page(&state, &current, StatusCode::OK, form, Errors::new()).await
}

/// The form read into an offer, with a message per field that can't be used.
fn read_offer(form: &Form, currency: crate::money::Currency) -> (NewOffer, Errors) {
    let mut errors = Errors::new();
    let mut bad = |field: &str, message: &str| {
        errors
            .entry(field.to_owned())
            .or_insert_with(|| message.to_owned());
    };
    let condition_kind = text(form, "condition_kind");
    let benefit_kind = text(form, "benefit_kind");
    let mut new = NewOffer::new(text(form, "name"), condition_kind, benefit_kind);
    new.description = text(form, "description").to_owned();
    match OfferType::parse(text(form, "offer_type")) {
        Some(t) => new.offer_type = t,
        None => bad("offer_type", "Choose who the offer is for."),
    }
    match text(form, "priority").parse::<i64>() {
        Ok(p) => new.priority = p,
        Err(_) => bad(
            "priority",
            "The priority is a whole number (higher applies first).",
        ),
    }
    new.exclusive = form.contains_key("exclusive");
    let amount = |key: &str| -> Result<Option<i64>, ()> {
        match text(form, key) {
            "" => Ok(None),
            v => Money::parse(v, currency)
                .ok()
                .filter(|m| !m.is_negative())
                .and_then(|m| m.to_minor().ok())
                .map(Some)
                .ok_or(()),
        }
    };
    let whole = |key: &str| -> Result<Option<i64>, ()> {
        match text(form, key) {
            "" => Ok(None),
            v => v.parse::<i64>().map(Some).map_err(|_| ()),
        }
    };
    match condition_kind {
        "value" => match amount("condition_value") {
            Ok(v) => new.condition_value = v.unwrap_or(0),
            Err(()) => bad("condition_value", "Enter an amount like 50.00."),
        },
        "plugin" => {
            new.condition_plugin = Some(text(form, "condition_plugin").to_owned());
        }
        _ => match whole("condition_value") {
            Ok(v) => new.condition_value = v.unwrap_or(0),
            Err(()) => bad("condition_value", "Enter a whole number."),
        },
    }
    let range = |key: &str| text(form, key).parse::<i64>().ok();
    new.condition_range = range("condition_range");
    new.benefit_range = range("benefit_range");
    if benefit_kind.ends_with("percentage") {
        match text(form, "benefit_value").parse::<Decimal>() {
            Ok(p) => new.benefit_percent = p,
            Err(_) => bad("benefit_value", "Enter a percentage like 10 or 12.5."),
        }
    } else if benefit_kind != "multibuy" {
        match amount("benefit_value") {
            Ok(v) => new.benefit_amount_minor = v.unwrap_or(0),
            Err(()) => bad("benefit_value", "Enter an amount like 5.00."),
        }
    }
    for (key, slot) in [
        ("max_affected_items", &mut new.max_affected_items),
        ("max_global_applications", &mut new.max_global_applications),
        ("max_user_applications", &mut new.max_user_applications),
        ("max_basket_applications", &mut new.max_basket_applications),
    ] {
        match whole(key) {
            Ok(v) => *slot = v,
            Err(()) => bad(key, "Enter a whole number, or leave it empty."),
        }
    }
    match amount("max_discount") {
        Ok(v) => new.max_discount_minor = v,
        Err(()) => bad("max_discount", "Enter an amount, or leave it empty."),
    }
    for (key, slot) in [
        ("starts_at", &mut new.starts_at),
        ("ends_at", &mut new.ends_at),
    ] {
        match day_field(form, key) {
            Ok(v) => *slot = v,
            Err(message) => bad(key, message),
        }
    }
    new.groups = form
        .get("group")
        .and_then(|g| g.parse::<i64>().ok())
        .into_iter()
        .collect();
    for (field, message) in manage::problems(&new) {
        // The form's names for the fields the rules name.
        let field = match field {
            "benefit_amount" | "benefit_percent" => "benefit_value",
            other => other,
        };
        bad(field, &message);
    }
    (new, errors)
}

async fn create_offer(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ManageCatalogue)?;
    let (new, errors) = read_offer(&form, state.currency);
    if !errors.is_empty() {
        return form_page(
            &state,
            &current,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
        )
        .await;
    }
    match manage::create_offer(&state.db, Actor::from(&current.staff), state.currency, &new).await {
        Ok(id) => {
            state.changes.announce(Change::Catalogue);
            current.session.flash(
                "success",
                format!("The offer “{}” was created.", new.name.trim()),
            );
            Ok(Redirect::to(&format!("{OFFERS_URL}{id}/")).into_response())
        }
        Err(OfferError::Invalid(message)) => {
            let errors = Errors::from([("name".to_owned(), message)]);
            form_page(
                &state,
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            )
            .await
        }
        Err(e) => Err(WebError::internal(e)),
    }
}

async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ViewCatalogue)?;
    let id = path_id(&raw)?;
    let offer = manage::list(&state.db.pool, state.currency)
        .await?
        .into_iter()
        .find(|o| o.id == id)
        .ok_or(WebError::NotFound)?;
    let results = manage::results(&state.db.pool, state.currency, id).await?;
    let vouchers = manage::vouchers_of(&state.db.pool, id).await?;
    let ctx = minijinja::context! {
        offer => offer,
        results => results,
        vouchers => vouchers,
        status_url => format!("{OFFERS_URL}{id}/status/"),
        can_edit => current.staff.can(Permission::ManageCatalogue),
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/offers/detail.html",
        StatusCode::OK,
        ctx,
    )
}

async fn set_status(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(raw): Path<String>,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ManageCatalogue)?;
    let id = path_id(&raw)?;
    let status = text(&form, "status");
    if !["open", "suspended"].contains(&status) {
        return Err(WebError::BadRequest("Choose open or suspended.".into()));
    }
    if !manage::set_status(&state.db, Actor::from(&current.staff), id, status).await? {
        return Err(WebError::NotFound);
    }
    state.changes.announce(Change::Catalogue);
    current
        .session
        .flash("success", format!("The offer is {status}."));
    Ok(Redirect::to(&format!("{OFFERS_URL}{id}/")).into_response())
}

async fn explain(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<Form>,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ViewCatalogue)?;
    let raw = text(&query, "basket");
    let mut ctx = minijinja::context! { basket => raw, explain_url => EXPLAIN_URL };
    if !raw.is_empty() {
        let basket_id = raw
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                WebError::BadRequest("A basket number is a positive whole number.".into())
            })?;
        let owner: Option<Option<i64>> =
            sqlx::query_scalar("SELECT owner_id FROM basket WHERE id = $1")
                .bind(basket_id)
                .fetch_optional(&state.db.pool)
                .await?;
        let Some(owner) = owner else {
            return Err(WebError::NotFound);
        };
        let pricer = crate::basket::Pricer {
            db: &state.db,
            pool: &state.db.pool,
            pricing: state.pricing.as_ref(),
            offers: state.offers.as_ref(),
            currency: state.currency,
            customer_id: owner,
        };
        let priced = crate::basket::priced(pricer, basket_id, false).await?;
        ctx = minijinja::context! {
            priced => minijinja::context! {
                total => priced.total_incl_tax,
                discount => priced.discounts.total_incl_tax,
                due => priced.due_incl_tax,
                explained => priced.discounts.explained,
                vouchers => priced.discounts.vouchers,
                upsells => priced.discounts.upsells,
                shipping => priced.discounts.shipping,
            },
            ..ctx
        };
    }
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/offers/explain.html",
        StatusCode::OK,
        ctx,
    )
}

async fn vouchers_page(
    state: &AppState,
    current: &CurrentStaff,
    status: StatusCode,
    form: Form,
    errors: Errors,
) -> Result<Response, WebError> {
    let vouchers = manage::vouchers(&state.db.pool, state.currency).await?;
    let offers: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM offer WHERE offer_type = 'voucher' ORDER BY name")
            .fetch_all(&state.db.pool)
            .await?;
    let ctx = minijinja::context! {
        vouchers => vouchers,
        offers => offers.into_iter().map(|(id, name)| minijinja::context! { id, name }).collect::<Vec<_>>(),
        usages => Usage::ALL.map(Usage::as_str),
        form => form,
        errors => errors,
        can_edit => current.staff.can(Permission::ManageCatalogue),
        sets_url => VOUCHER_SETS_URL,
    };
    render(
        state,
        current,
        VOUCHERS_URL,
        "dashboard/offers/vouchers.html",
        status,
        ctx,
    )
}

async fn vouchers(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ViewCatalogue)?;
    vouchers_page(&state, &current, StatusCode::OK, Form::new(), Errors::new()).await
}

fn read_voucher(form: &Form) -> Result<NewVoucher, Errors> {
    let mut errors = Errors::new();
    let usage = Usage::parse(text(form, "usage"));
    if usage.is_none() {
        errors.insert(
            "usage".into(),
            "Choose how often the voucher may be used.".into(),
        );
    }
    let offer = text(form, "offer").parse::<i64>().ok();
    if offer.is_none() {
        errors.insert(
            "offer".into(),
            "Choose the voucher offer the code gives.".into(),
        );
    }
    let mut date = |key: &str| {
        day_field(form, key).unwrap_or_else(|message| {
            errors.insert(key.to_owned(), message.to_owned());
            None
        })
    };
    let starts_at = date("starts_at");
    let ends_at = date("ends_at");
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewVoucher {
        name: text(form, "name").to_owned(),
        code: text(form, "code").to_owned(),
        usage: usage.unwrap_or(Usage::Multi),
        starts_at,
        ends_at,
        offers: offer.into_iter().collect(),
    })
}

async fn create_voucher(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ManageCatalogue)?;
    let new = match read_voucher(&form) {
        Ok(new) => new,
        Err(errors) => {
            return vouchers_page(
                &state,
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            )
            .await;
        }
    };
    let new = NewVoucher {
        name: if new.name.is_empty() {
            new.code.clone()
        } else {
            new.name.clone()
        },
        ..new
    };
    match manage::create_voucher(&state.db, Actor::from(&current.staff), &new).await {
        Ok(_) => {
            current.session.flash(
                "success",
                format!(
                    "Voucher {} was created.",
                    crate::offer::voucher::normalise(&new.code)
                ),
            );
            Ok(Redirect::to(VOUCHERS_URL).into_response())
        }
        Err(OfferError::Invalid(message)) => {
            let errors = Errors::from([("code".to_owned(), message)]);
            vouchers_page(
                &state,
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            )
            .await
        }
        Err(e) => Err(WebError::internal(e)),
    }
}

/// Generates a set and answers with its codes as a CSV download.
async fn create_voucher_set(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ManageCatalogue)?;
    let mut errors = Errors::new();
    let count = text(&form, "count")
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=100_000).contains(n));
    if count.is_none() {
        errors.insert("count".into(), "A set holds 1 to 100,000 codes.".into());
    }
    let name = text(&form, "name");
    if name.is_empty() {
        errors.insert("name".into(), "Give the set a name.".into());
    }
    let template = match read_voucher(&form) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let (Some(count), Some(template), true) = (count, template, errors.is_empty()) else {
        return vouchers_page(
            &state,
            &current,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
        )
        .await;
    };
    let prefix = text(&form, "prefix");
    match manage::create_voucher_set(
        &state.db,
        Actor::from(&current.staff),
        name,
        prefix,
        count,
        &template,
    )
    .await
    {
        Ok((_, codes)) => {
            let mut csv = String::from("code\r\n");
            for c in codes {
                csv.push_str(&c);
                csv.push_str("\r\n");
            }
            let file = format!(
                "attachment; filename=\"vouchers-{}.csv\"",
                crate::catalogue::category::slugify(name)
            );
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, file),
                ],
                csv,
            )
                .into_response())
        }
        Err(OfferError::Invalid(message)) => {
            let errors = Errors::from([("name".to_owned(), message)]);
            vouchers_page(
                &state,
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            )
            .await
        }
        Err(e) => Err(WebError::internal(e)),
    }
}

async fn ranges_page(
    state: &AppState,
    current: &CurrentStaff,
    status: StatusCode,
    form: Form,
    errors: Errors,
) -> Result<Response, WebError> {
    let ranges = manage::ranges(&state.db.pool).await?;
    let classes = crate::catalogue::manage::list::classes(&state.db.pool).await?;
    let categories = crate::catalogue::manage::categories::choices(&state.db.pool).await?;
    let ctx = minijinja::context! {
        ranges => ranges,
        classes => classes.into_iter().map(|(id, name)| minijinja::context! { id, name }).collect::<Vec<_>>(),
        categories => categories,
        form => form,
        errors => errors,
        can_edit => current.staff.can(Permission::ManageCatalogue),
    };
    render(
        state,
        current,
        RANGES_URL,
        "dashboard/offers/ranges.html",
        status,
        ctx,
    )
}

async fn ranges(
    State(state): State<AppState>,
    current: CurrentStaff,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ViewCatalogue)?;
    ranges_page(&state, &current, StatusCode::OK, Form::new(), Errors::new()).await
}

/// A new range: everything, or the ticked classes and categories plus the products whose
/// UPCs or SKUs are listed (one per line, or a CSV's first column pasted in).
async fn create_range(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    shop_staff(&current, Permission::ManageCatalogue)?;
    let ids = |key: &str| -> Vec<i64> {
        fields
            .iter()
            .filter(|(k, _)| k == key)
            .filter_map(|(_, v)| v.parse().ok())
            .collect()
    };
    let form: Form = fields.iter().cloned().collect();
    let range = NewRange {
        name: text(&form, "name").to_owned(),
        description: text(&form, "description").to_owned(),
        includes_all: form.contains_key("includes_all"),
        classes: ids("class"),
        categories: ids("category"),
        ..NewRange::default()
    };
    let codes = manage::codes_in(text(&form, "codes"));
    let actor = Actor::from(&current.staff);
    match manage::create_range(&state.db, actor, &range).await {
        Ok(id) => {
            let mut message = format!("The range “{}” was created.", range.name.trim());
            if !codes.is_empty() {
                let (added, unknown) =
                    manage::include_codes(&state.db, Actor::from(&current.staff), id, &codes)
                        .await?;
                message.push_str(&format!(" {added} products added from the list."));
                if !unknown.is_empty() {
                    message.push_str(&format!(
                        " No product has the code(s): {}.",
                        unknown.join(", ")
                    ));
                }
            }
            state.changes.announce(Change::Catalogue);
            current.session.flash("success", message);
            Ok(Redirect::to(RANGES_URL).into_response())
        }
        Err(OfferError::Invalid(message)) => {
            let errors = Errors::from([("name".to_owned(), message)]);
            ranges_page(
                &state,
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            )
            .await
        }
        Err(e) => Err(WebError::internal(e)),
    }
}
