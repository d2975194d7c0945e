//! Shipping methods (Oscar's shipping app): every enabled shipping-method plugin quotes the
//! basket for the address in one call each; a plugin that fails is left out (the shipping
//! extension point's failure policy decides) and logged. When no plugin is enabled, or nothing
//! in the basket needs shipping, the shop's built-in free method is offered.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};
use crate::plugins::calls::ShippingRequest;
use crate::plugins::{Decision, ExtensionPoint, PluginError, PluginRegistry};

/// The plugin id the shop's own methods go by.
pub const BUILTIN: &str = "builtin";

/// A method the customer can choose, with its charge for this basket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Method {
    /// The plugin that offered it (or [`BUILTIN`]).
    pub plugin: String,
    pub code: String,
    pub name: String,
    pub description: String,
    pub charge_excl_tax: Money,
    pub charge_incl_tax: Money,
}

impl Method {
    /// How forms and sessions name a method: `plugin:code`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.plugin, self.code)
    }

    fn builtin(code: &str, name: &str, description: &str, currency: Currency) -> Method {
        Method {
            plugin: BUILTIN.into(),
            code: code.into(),
            name: name.into(),
            description: description.into(),
            charge_excl_tax: Money::zero(currency),
            charge_incl_tax: Money::zero(currency),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    /// The policy is fail-closed and a plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("a money value from a shipping plugin is out of range")]
    Money,
}

/// Every method available for the request, cheapest first. Plugin calls run on the blocking
/// pool (a call may take milliseconds for interpreted guests).
pub async fn methods(
    registry: &Arc<PluginRegistry>,
    request: ShippingRequest,
    currency: Currency,
) -> Result<Vec<Method>, ShippingError> {
    let needs_shipping = request
        .basket
        .lines
        .iter()
        .any(|l| l.product.requires_shipping);
    if !needs_shipping {
        return Ok(vec![Method::builtin(
            "no-shipping-required",
            "No shipping required",
            "Nothing in your basket needs delivering.",
            currency,
        )]);
    }
    let ids = registry.enabled_ids(ExtensionPoint::Shipping);
    if ids.is_empty() {
        return Ok(vec![Method::builtin(
            "free",
            "Free shipping",
            "Delivered free of charge.",
            currency,
        )]);
    }
    let registry = registry.clone();
    let quotes = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        for id in ids {
            let result = registry.quote_shipping(&id, &request);
            match registry.decide(ExtensionPoint::Shipping, result)? {
                Decision::Plugin(quotes) => all.extend(quotes.into_iter().map(|q| (id.clone(), q))),
                Decision::Skip(e) | Decision::Builtin(e) => {
                    tracing::warn!(plugin = %id, error = %e, "shipping plugin left out");
                }
            }
        }
        Ok::<_, PluginError>(all)
    })
    .await
    .map_err(|e| PluginError::Runtime(format!("shipping task failed: {e}")))??;
    let mut methods = Vec::with_capacity(quotes.len());
    for (plugin, q) in quotes {
        // The runtime has validated currency and signs; amounts must still fit our minor units.
        let amount = |d: Decimal| {
            let m = Money::new(d, currency).round(crate::money::Rounding::HalfUp);
            m.to_minor().map(|_| m).map_err(|_| ShippingError::Money)
        };
        methods.push(Method {
            plugin,
            code: q.code,
            name: q.name,
            description: q.description,
            charge_excl_tax: amount(q.charge_excl_tax)?,
            charge_incl_tax: amount(q.charge_incl_tax)?,
        });
    }
    methods.sort_by(|a, b| {
        a.charge_incl_tax
            .amount()
            .cmp(&b.charge_incl_tax.amount())
            .then_with(|| a.name.cmp(&b.name))
    });
    // Two plugins may use the same code; the key is per plugin, so both stay.
    methods.dedup_by(|a, b| a.key() == b.key());
    Ok(methods)
}
