//! Reading a v0.1 answer: everything a guest returns is checked here before the shop uses it
//! (decimals, signs, currencies, sizes, ids that must match the request) and turned into the
//! shop's call types. A violation is `MalformedOutput`, which counts against the plugin like a
//! trap.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::plugins::calls::{
    ConditionResult, ConsumedLine, FunctionInfo, FunctionKind, PaymentOutcome, Priced, Quote,
    StockStatus,
};
use crate::plugins::runtime::bindings::offer::{
    ConditionInput, ConditionResult as WireConditionResult,
};
use crate::plugins::runtime::bindings::payment::PaymentResult;
use crate::plugins::runtime::bindings::pricing::{
    PricedItem, PricingItem, StockStatus as WireStockStatus,
};
use crate::plugins::runtime::bindings::theme::{
    FunctionInfo as WireFunctionInfo, FunctionKind as WireFunctionKind,
};
use crate::plugins::runtime::bindings::{Money, ShippingQuote};
use crate::plugins::runtime::{PluginError, PluginRef};

pub const MAX_QUOTES: usize = 64;
pub const MAX_CODE: usize = 64;
pub const MAX_NAME: usize = 200;
pub const MAX_TEXT: usize = 2000;
pub const MAX_URL: usize = 2048;
pub const MAX_THEME_OUTPUT: usize = 256 * 1024;

pub(crate) struct Check<'a> {
    pub plugin: &'a PluginRef,
}

impl Check<'_> {
    pub fn fail(&self, reason: impl Into<String>) -> PluginError {
        PluginError::MalformedOutput {
            plugin: self.plugin.clone(),
            reason: reason.into(),
        }
    }

    /// A plain decimal ("12", "-3.50"): no exponent, no separators, at most 28 significant
    /// digits (what `Decimal` holds exactly).
    pub fn decimal(&self, what: &str, text: &str) -> Result<Decimal, PluginError> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let plain = !digits.is_empty()
            && text.len() <= 40
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digits.chars().filter(|c| *c == '.').count() <= 1
            && !digits.starts_with('.')
            && !digits.ends_with('.');
        if !plain {
            return Err(self.fail(format!("{what}: {text:?} is not a decimal amount")));
        }
        Decimal::from_str(text).map_err(|e| self.fail(format!("{what}: {text:?}: {e}")))
    }

    /// Money in `currency`, never negative.
    pub fn money(&self, what: &str, m: &Money, currency: &str) -> Result<Decimal, PluginError> {
        if m.currency != currency {
            return Err(self.fail(format!(
                "{what}: currency {:?}, expected {currency:?}",
                m.currency
            )));
        }
        let amount = self.decimal(what, &m.amount)?;
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(self.fail(format!("{what}: negative amount {}", m.amount)));
        }
        Ok(amount)
    }

    pub fn text(
        &self,
        what: &str,
        s: &str,
        max: usize,
        non_empty: bool,
    ) -> Result<(), PluginError> {
        if s.len() > max {
            return Err(self.fail(format!("{what}: {} bytes, at most {max}", s.len())));
        }
        if non_empty && s.trim().is_empty() {
            return Err(self.fail(format!("{what} is empty")));
        }
        Ok(())
    }
}

pub(crate) fn quotes(
    c: &Check<'_>,
    currency: &str,
    quotes: Vec<ShippingQuote>,
) -> Result<Vec<Quote>, PluginError> {
    if quotes.len() > MAX_QUOTES {
        return Err(c.fail(format!("{} quotes, at most {MAX_QUOTES}", quotes.len())));
    }
    let mut seen = std::collections::HashSet::new();
    quotes
        .into_iter()
        .map(|q| {
            c.text("quote code", &q.code, MAX_CODE, true)?;
            if !seen.insert(q.code.clone()) {
                return Err(c.fail(format!("quote code {:?} appears twice", q.code)));
            }
            c.text("quote name", &q.name, MAX_NAME, true)?;
            c.text("quote description", &q.description, MAX_TEXT, false)?;
            let excl = c.money("charge-excl-tax", &q.charge_excl_tax, currency)?;
            let incl = c.money("charge-incl-tax", &q.charge_incl_tax, currency)?;
            if incl < excl {
                return Err(c.fail(format!(
                    "quote {:?}: charge incl. tax {incl} is below excl. tax {excl}",
                    q.code
                )));
            }
            Ok(Quote {
                code: q.code,
                name: q.name,
                description: q.description,
                charge_excl_tax: excl,
                charge_incl_tax: incl,
                currency: currency.to_string(),
            })
        })
        .collect()
}

pub(crate) fn priced(
    c: &Check<'_>,
    currency: &str,
    items: &[PricingItem],
    answers: Vec<PricedItem>,
) -> Result<Vec<Priced>, PluginError> {
    if answers.len() != items.len() {
        return Err(c.fail(format!(
            "{} answers for {} items",
            answers.len(),
            items.len()
        )));
    }
    items
        .iter()
        .zip(answers)
        .map(|(item, a)| {
            if a.product_id != item.product.id {
                return Err(c.fail(format!(
                    "answer for {:?} where {:?} was expected (order must be kept)",
                    a.product_id, item.product.id
                )));
            }
            if let Some(partner) = &a.partner_id
                && !item.stock_records.iter().any(|s| &s.partner_id == partner)
            {
                return Err(c.fail(format!(
                    "product {:?}: partner {partner:?} has no stock record for it",
                    item.product.id
                )));
            }
            c.text(
                "availability message",
                &a.availability.message,
                MAX_NAME,
                false,
            )?;
            let unit_price = match &a.price {
                Some(p) => {
                    let excl = c.money("price excl-tax", &p.excl_tax, currency)?;
                    let incl = c.money("price incl-tax", &p.incl_tax, currency)?;
                    if incl < excl {
                        return Err(c.fail(format!(
                            "product {:?}: price incl. tax below excl. tax",
                            item.product.id
                        )));
                    }
                    Some((excl, incl))
                }
                None => None,
            };
            Ok(Priced {
                product_id: a.product_id,
                partner_id: a.partner_id,
                unit_price,
                status: stock_status(a.availability.status),
                num_available: a.availability.num_available,
                message: a.availability.message,
            })
        })
        .collect()
}

pub(crate) fn condition(
    c: &Check<'_>,
    input: &ConditionInput,
    result: WireConditionResult,
) -> Result<ConditionResult, PluginError> {
    let mut free: HashMap<&str, u32> = input
        .basket
        .lines
        .iter()
        .map(|l| (l.line_id.as_str(), l.quantity))
        .collect();
    for used in &input.already_consumed {
        if let Some(q) = free.get_mut(used.line_id.as_str()) {
            *q = q.saturating_sub(used.quantity);
        }
    }
    if !result.is_satisfied && !result.consumed.is_empty() {
        return Err(c.fail("consumes lines although not satisfied"));
    }
    for used in &result.consumed {
        let Some(left) = free.get_mut(used.line_id.as_str()) else {
            return Err(c.fail(format!("consumes unknown line {:?}", used.line_id)));
        };
        if used.quantity == 0 || used.quantity > *left {
            return Err(c.fail(format!(
                "consumes {} of line {:?}, which has {} unconsumed",
                used.quantity, used.line_id, left
            )));
        }
        *left -= used.quantity;
    }
    if let Some(m) = &result.upsell_message {
        c.text("upsell message", m, MAX_NAME, false)?;
    }
    Ok(ConditionResult {
        is_satisfied: result.is_satisfied,
        consumed: result
            .consumed
            .into_iter()
            .map(|used| ConsumedLine {
                line_id: used.line_id,
                quantity: used.quantity,
            })
            .collect(),
        upsell_message: result.upsell_message,
    })
}

/// `limit` is the requested amount (approvals may not exceed it); `None` for voids.
pub(crate) fn payment(
    c: &Check<'_>,
    result: PaymentResult,
    currency: Option<&str>,
    limit: Option<Decimal>,
) -> Result<PaymentOutcome, PluginError> {
    match result {
        PaymentResult::Approved(a) => {
            c.text("reference", &a.reference, MAX_NAME, true)?;
            let amount = match currency {
                Some(cur) => c.money("approved amount", &a.amount, cur)?,
                None => {
                    let d = c.decimal("approved amount", &a.amount.amount)?;
                    if d.is_sign_negative() && !d.is_zero() {
                        return Err(c.fail("negative approved amount"));
                    }
                    d
                }
            };
            if let Some(limit) = limit
                && amount > limit
            {
                return Err(c.fail(format!(
                    "approved {amount}, more than the {limit} requested"
                )));
            }
            Ok(PaymentOutcome::Approved {
                reference: a.reference,
                amount,
                currency: currency.map_or(a.amount.currency, str::to_string),
            })
        }
        PaymentResult::Declined(message) => {
            c.text("decline message", &message, MAX_NAME, true)?;
            Ok(PaymentOutcome::Declined { message })
        }
        PaymentResult::Error(message) => {
            c.text("error message", &message, MAX_TEXT, false)?;
            Ok(PaymentOutcome::Error { message })
        }
        PaymentResult::NextAction(r) => {
            c.text("redirect url", &r.url, MAX_URL, true)?;
            c.text("reference", &r.reference, MAX_NAME, true)?;
            let url = http::Uri::try_from(r.url.as_str())
                .map_err(|e| c.fail(format!("redirect url {:?}: {e}", r.url)))?;
            let scheme_ok = match url.scheme_str() {
                Some("https") => true,
                // Plain http only to loopback, for sandboxes and tests.
                Some("http") => matches!(url.host(), Some("127.0.0.1" | "localhost" | "[::1]")),
                _ => false,
            };
            if !scheme_ok || url.host().is_none() {
                return Err(c.fail(format!(
                    "redirect url {:?} is not an absolute https URL",
                    r.url
                )));
            }
            Ok(PaymentOutcome::Redirect {
                url: r.url,
                reference: r.reference,
            })
        }
    }
}

pub(crate) fn functions(
    c: &Check<'_>,
    list: Vec<WireFunctionInfo>,
) -> Result<Vec<FunctionInfo>, PluginError> {
    if list.len() > 256 {
        return Err(c.fail("more than 256 template helpers"));
    }
    for f in &list {
        let ok = f.name.len() <= 64
            && f.name.starts_with(|ch: char| ch.is_ascii_lowercase())
            && f.name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if !ok {
            return Err(c.fail(format!(
                "helper name {:?} is not a template identifier",
                f.name
            )));
        }
        c.text("helper help", &f.help, MAX_TEXT, false)?;
    }
    Ok(list
        .into_iter()
        .map(|f| FunctionInfo {
            name: f.name,
            kind: match f.kind {
                WireFunctionKind::Filter => FunctionKind::Filter,
                WireFunctionKind::Function => FunctionKind::Function,
            },
            help: f.help,
        })
        .collect())
}

fn stock_status(status: WireStockStatus) -> StockStatus {
    match status {
        WireStockStatus::InStock => StockStatus::InStock,
        WireStockStatus::AvailableToOrder => StockStatus::AvailableToOrder,
        WireStockStatus::OutOfStock => StockStatus::OutOfStock,
        WireStockStatus::Unavailable => StockStatus::Unavailable,
    }
}

pub(crate) fn theme_output(c: &Check<'_>, json: &str) -> Result<serde_json::Value, PluginError> {
    c.text("helper result", json, MAX_THEME_OUTPUT, false)?;
    serde_json::from_str(json).map_err(|e| c.fail(format!("helper result is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use semver::Version;

    fn plugin() -> PluginRef {
        PluginRef {
            id: "p".into(),
            version: Version::new(1, 0, 0),
        }
    }

    #[test]
    fn decimals_must_be_plain() {
        let p = plugin();
        let c = Check { plugin: &p };
        assert_eq!(c.decimal("x", "12.50").unwrap(), Decimal::new(1250, 2));
        assert_eq!(c.decimal("x", "-3").unwrap(), Decimal::new(-3, 0));
        for bad in [
            "", "1e3", "1,000", ".5", "5.", "NaN", "12.5.1", "--1", " 1", "€1",
        ] {
            assert!(c.decimal("x", bad).is_err(), "{bad:?}");
        }
        let m = |a: &str, cur: &str| Money {
            amount: a.into(),
            currency: cur.into(),
        };
        assert!(c.money("x", &m("-0.01", "EUR"), "EUR").is_err());
        assert!(c.money("x", &m("1.00", "USD"), "EUR").is_err());
        assert!(c.money("x", &m("0", "EUR"), "EUR").is_ok());
    }

    #[test]
    fn redirects_must_be_https_or_loopback() {
        let p = plugin();
        let c = Check { plugin: &p };
        let redirect = |url: &str| {
            PaymentResult::NextAction(crate::plugins::runtime::bindings::payment::Redirect {
                url: url.into(),
                reference: "r".into(),
            })
        };
        assert!(payment(&c, redirect("https://pay.example.com/x"), Some("EUR"), None).is_ok());
        assert!(payment(&c, redirect("http://127.0.0.1:9000/x"), Some("EUR"), None).is_ok());
        assert!(payment(&c, redirect("http://evil.example.com/x"), Some("EUR"), None).is_err());
        assert!(payment(&c, redirect("javascript:alert(1)"), Some("EUR"), None).is_err());
    }
}
