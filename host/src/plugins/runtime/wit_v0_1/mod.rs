//! The adapter for WIT `emporium:plugin@0.1.0`: the shop's call types ([`crate::plugins::calls`]) go in
//! converted to the v0.1 records of [`super::bindings`]; a v0.1 answer comes back read and
//! checked ([`validate`]) into the call types, and a guest's own `plugin-error` becomes a
//! [`PluginError::Guest`]. Apart from the runtime's linking (the `host` interface, the
//! pre-instantiated worlds), nothing else in the host touches the bindings.
//!
//! A released WIT version is frozen (wit/README.md). When the next one is released it gets an
//! adapter module of its own beside this one, and this one stays for the plugins built against
//! 0.1, the way Zed's extension host keeps one `since_v0_x_y` adapter per released API.

mod validate;

use rust_decimal::Decimal;
use wasmtime::Store;

pub(crate) use self::validate::Check;
use super::bindings::{self as wire, offer, payment, pricing, shipping};
use super::engine::WorldPre;
use super::error::{GuestErrorKind, PluginError};
use super::sandbox::CallState;
use crate::money::Money;
use crate::plugins::calls::{
    self, ConditionResult, FunctionInfo, PaymentOutcome, Priced, Quote, ShippingRequest,
};

/// A call's answer as the registry's `run` takes it: the outer error is a rejected answer
/// (counted against the plugin), the inner one what wasmtime reported (a trap, a timeout).
pub(crate) type Answer<T> = Result<wasmtime::Result<T>, PluginError>;

fn world_mismatch<T>() -> Answer<T> {
    Ok(Err(wasmtime::format_err!("world mismatch")))
}

// ---- the shop's call types, as v0.1 records ----

fn money(m: &Money) -> wire::Money {
    wire::Money {
        amount: m.amount().to_string(),
        currency: m.currency().code().to_string(),
    }
}

fn product(p: &calls::Product) -> wire::Product {
    wire::Product {
        id: p.id.clone(),
        parent_id: p.parent_id.clone(),
        sku: p.sku.clone(),
        title: p.title.clone(),
        product_class: p.product_class.clone(),
        categories: p.categories.clone(),
        attributes: p
            .attributes
            .iter()
            .map(|a| wire::Attribute {
                name: a.name.clone(),
                value: a.value.clone(),
            })
            .collect(),
        weight_grams: p.weight_grams,
        requires_shipping: p.requires_shipping,
    }
}

fn stock_record(s: &calls::StockRecord) -> wire::StockRecord {
    wire::StockRecord {
        partner_id: s.partner_id.clone(),
        partner_sku: s.partner_sku.clone(),
        price_excl_tax: s.price_excl_tax.as_ref().map(money),
        num_in_stock: s.num_in_stock,
        num_allocated: s.num_allocated,
    }
}

fn customer(c: &calls::Customer) -> wire::Customer {
    wire::Customer {
        id: c.id.clone(),
        email: c.email.clone(),
        is_authenticated: c.is_authenticated,
        groups: c.groups.clone(),
    }
}

fn address(a: &calls::Address) -> wire::Address {
    wire::Address {
        country: a.country.clone(),
        postcode: a.postcode.clone(),
        lines: a.lines.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
    }
}

fn basket(b: &calls::Basket) -> wire::Basket {
    wire::Basket {
        id: b.id.clone(),
        currency: b.currency.code().to_string(),
        lines: b
            .lines
            .iter()
            .map(|l| wire::BasketLine {
                line_id: l.line_id.clone(),
                product: product(&l.product),
                quantity: l.quantity,
                unit_price_excl_tax: money(&l.unit_price_excl_tax),
                unit_price_incl_tax: money(&l.unit_price_incl_tax),
                line_total_excl_tax: money(&l.line_total_excl_tax),
                line_total_incl_tax: money(&l.line_total_incl_tax),
                weight_grams: l.weight_grams,
            })
            .collect(),
        total_excl_tax: money(&b.total_excl_tax),
        total_incl_tax: money(&b.total_incl_tax),
        total_weight_grams: b.total_weight_grams,
        num_items: b.num_items,
    }
}

/// A shipping request as it crosses WIT 0.1. Public so that a test can change the result into
/// something the host's own types cannot hold (an amount that is not a decimal) and see what a
/// guest does with it (see [`super::PluginRegistry::quote_shipping_v0_1`]).
pub fn shipping_request(r: &ShippingRequest) -> shipping::ShippingRequest {
    shipping::ShippingRequest {
        basket: basket(&r.basket),
        customer: customer(&r.customer),
        address: r.address.as_ref().map(address),
    }
}

pub(crate) fn pricing_context(c: &calls::PricingContext) -> pricing::PricingContext {
    pricing::PricingContext {
        customer: customer(&c.customer),
        currency: c.currency.code().to_string(),
        quantity: c.quantity,
    }
}

pub(crate) fn pricing_items(items: &[calls::PricingItem]) -> Vec<pricing::PricingItem> {
    items
        .iter()
        .map(|i| pricing::PricingItem {
            product: product(&i.product),
            stock_records: i.stock_records.iter().map(stock_record).collect(),
        })
        .collect()
}

pub(crate) fn condition_input(i: &calls::ConditionInput) -> offer::ConditionInput {
    offer::ConditionInput {
        basket: basket(&i.basket),
        customer: customer(&i.customer),
        already_consumed: i
            .already_consumed
            .iter()
            .map(|c| offer::ConsumedLine {
                line_id: c.line_id.clone(),
                quantity: c.quantity,
            })
            .collect(),
    }
}

/// One operation of the payment-gateway world, its arguments already in v0.1 records.
pub(crate) enum PaymentCall {
    /// Boxed: a request (customer, address, card) is several times the size of the others.
    Authorize(Box<payment::PaymentRequest>),
    Capture(String, wire::Money),
    Refund(String, wire::Money),
    Void(String),
    HandleCallback(payment::Callback),
}

impl PaymentCall {
    pub(crate) fn authorize(r: &calls::PaymentRequest) -> PaymentCall {
        PaymentCall::Authorize(Box::new(payment::PaymentRequest {
            order_number: r.order_number.clone(),
            amount: money(&r.amount),
            customer: customer(&r.customer),
            billing_address: r.billing_address.as_ref().map(address),
            card: r.card.as_ref().map(|c| payment::Card {
                number: c.number.clone(),
                expiry_month: c.expiry_month,
                expiry_year: c.expiry_year,
                cvc: c.cvc.clone(),
                holder_name: c.holder_name.clone(),
            }),
            return_url: r.return_url.clone(),
            idempotency_key: r.idempotency_key.clone(),
        }))
    }

    pub(crate) fn capture(reference: &str, amount: &Money) -> PaymentCall {
        PaymentCall::Capture(reference.to_string(), money(amount))
    }

    pub(crate) fn refund(reference: &str, amount: &Money) -> PaymentCall {
        PaymentCall::Refund(reference.to_string(), money(amount))
    }

    pub(crate) fn void(reference: &str) -> PaymentCall {
        PaymentCall::Void(reference.to_string())
    }

    pub(crate) fn handle_callback(c: &calls::Callback) -> PaymentCall {
        PaymentCall::HandleCallback(payment::Callback {
            kind: match c.kind {
                calls::CallbackKind::BrowserReturn => payment::CallbackKind::BrowserReturn,
                calls::CallbackKind::Webhook => payment::CallbackKind::Webhook,
            },
            method: c.method.clone(),
            query: c.query.clone(),
            headers: c
                .headers
                .iter()
                .map(|h| payment::Header {
                    name: h.name.clone(),
                    value: h.value.clone(),
                })
                .collect(),
            body: c.body.clone(),
            reference: c.reference.clone(),
        })
    }
}

// ---- the world functions: instantiate, call, read the answer ----

pub(crate) fn quote(
    check: &Check<'_>,
    pre: &WorldPre,
    store: &mut Store<CallState>,
    request: &shipping::ShippingRequest,
) -> Answer<Vec<Quote>> {
    let WorldPre::Shipping(pre) = pre else {
        return world_mismatch();
    };
    let out = pre.instantiate(&mut *store).and_then(|i| {
        i.emporium_plugin_shipping()
            .call_quote(&mut *store, request)
    });
    Ok(match out {
        Ok(Ok(quotes)) => Ok(validate::quotes(check, &request.basket.currency, quotes)?),
        Ok(Err(guest)) => return Err(guest_error(check, guest)),
        Err(e) => Err(e),
    })
}

pub(crate) fn price(
    check: &Check<'_>,
    pre: &WorldPre,
    store: &mut Store<CallState>,
    context: &pricing::PricingContext,
    items: &[pricing::PricingItem],
) -> Answer<Vec<Priced>> {
    let WorldPre::Pricing(pre) = pre else {
        return world_mismatch();
    };
    let out = pre.instantiate(&mut *store).and_then(|i| {
        i.emporium_plugin_pricing()
            .call_price(&mut *store, context, items)
    });
    Ok(match out {
        Ok(Ok(answers)) => Ok(validate::priced(check, &context.currency, items, answers)?),
        Ok(Err(guest)) => return Err(guest_error(check, guest)),
        Err(e) => Err(e),
    })
}

pub(crate) fn check_condition(
    check: &Check<'_>,
    pre: &WorldPre,
    store: &mut Store<CallState>,
    input: &offer::ConditionInput,
) -> Answer<ConditionResult> {
    let WorldPre::Offer(pre) = pre else {
        return world_mismatch();
    };
    let out = pre
        .instantiate(&mut *store)
        .and_then(|i| i.emporium_plugin_offer().call_check(&mut *store, input));
    Ok(match out {
        Ok(Ok(result)) => Ok(validate::condition(check, input, result)?),
        Ok(Err(guest)) => return Err(guest_error(check, guest)),
        Err(e) => Err(e),
    })
}

/// `currency` is the one the answer must be in (when the call names one); `limit` the most an
/// approval may be for.
pub(crate) fn pay(
    check: &Check<'_>,
    pre: &WorldPre,
    store: &mut Store<CallState>,
    call: &PaymentCall,
    currency: Option<&str>,
    limit: Option<Decimal>,
) -> Answer<PaymentOutcome> {
    let WorldPre::Payment(pre) = pre else {
        return world_mismatch();
    };
    let out = pre.instantiate(&mut *store).and_then(|i| {
        let g = i.emporium_plugin_payment();
        let s = &mut *store;
        match call {
            PaymentCall::Authorize(request) => g.call_authorize(s, request),
            PaymentCall::Capture(reference, amount) => g.call_capture(s, reference, amount),
            PaymentCall::Refund(reference, amount) => g.call_refund(s, reference, amount),
            PaymentCall::Void(reference) => g.call_void(s, reference),
            PaymentCall::HandleCallback(callback) => g.call_handle_callback(s, callback),
        }
    });
    Ok(match out {
        Ok(result) => Ok(validate::payment(check, result, currency, limit)?),
        Err(e) => Err(e),
    })
}

pub(crate) fn theme_functions(
    check: &Check<'_>,
    pre: &WorldPre,
    store: &mut Store<CallState>,
) -> Answer<Vec<FunctionInfo>> {
    let WorldPre::Theme(pre) = pre else {
        return world_mismatch();
    };
    let out = pre
        .instantiate(&mut *store)
        .and_then(|i| i.emporium_plugin_theme().call_functions(&mut *store));
    Ok(match out {
        Ok(list) => Ok(validate::functions(check, list)?),
        Err(e) => Err(e),
    })
}

pub(crate) fn theme_call(
    check: &Check<'_>,
    pre: &WorldPre,
    store: &mut Store<CallState>,
    name: &str,
    args_json: &str,
) -> Answer<serde_json::Value> {
    let WorldPre::Theme(pre) = pre else {
        return world_mismatch();
    };
    let out = pre.instantiate(&mut *store).and_then(|i| {
        i.emporium_plugin_theme()
            .call_call(&mut *store, name, args_json)
    });
    Ok(match out {
        Ok(Ok(json)) => Ok(validate::theme_output(check, &json)?),
        Ok(Err(guest)) => return Err(guest_error(check, guest)),
        Err(e) => Err(e),
    })
}

fn guest_error(check: &Check<'_>, e: wire::GuestError) -> PluginError {
    let (kind, message) = match e {
        wire::GuestError::Config(m) => (GuestErrorKind::Config, m),
        wire::GuestError::InvalidInput(m) => (GuestErrorKind::InvalidInput, m),
        wire::GuestError::Upstream(m) => (GuestErrorKind::Upstream, m),
        wire::GuestError::Internal(m) => (GuestErrorKind::Internal, m),
    };
    let mut message = message;
    if message.len() > validate::MAX_TEXT {
        let mut cut = validate::MAX_TEXT;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    PluginError::Guest {
        plugin: check.plugin.clone(),
        kind,
        message,
    }
}
