//! WIT glue for {{id}}: turns the shop's request into plain values for `logic` and its
//! decisions back into WIT records.

mod logic;
mod money;

wit_bindgen::generate!({
    path: "wit",
    world: "{{world}}",
});

use emporium::plugin::host::{LogLevel, config_get, log};
use emporium::plugin::types::{Money, PluginError, ShippingQuote};
use exports::emporium::plugin::shipping::{Guest, ShippingRequest};

struct Plugin;

impl Guest for Plugin {
    fn quote(request: ShippingRequest) -> Result<Vec<ShippingQuote>, PluginError> {
        let settings = logic::Settings::read(|key| config_get(key)).map_err(PluginError::Config)?;
        let decisions = logic::quote(
            &settings,
            &request.basket.total_incl_tax.amount,
            request.address.is_some(),
        )
        .map_err(PluginError::InvalidInput)?;
        log(LogLevel::Debug, &format!("{} quote(s)", decisions.len()));
        let currency = request.basket.currency;
        let money = |minor: i64| Money {
            amount: money::format(minor),
            currency: currency.clone(),
        };
        Ok(decisions
            .into_iter()
            .map(|d| ShippingQuote {
                code: d.code,
                name: d.name,
                description: d.description,
                charge_excl_tax: money(d.charge),
                charge_incl_tax: money(d.charge),
            })
            .collect())
    }
}

export!(Plugin);
