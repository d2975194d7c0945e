//! WIT glue for {{id}}: prices a whole page of products in one call.

mod logic;
mod money;

wit_bindgen::generate!({
    path: "wit",
    world: "{{world}}",
});

use emporium::plugin::host::config_get;
use emporium::plugin::types::{Money, PluginError};
use exports::emporium::plugin::pricing::{
    Availability, Guest, PricedItem, PricingContext, PricingItem, StockStatus, UnitPrice,
};

struct Plugin;

impl Guest for Plugin {
    fn price(
        context: PricingContext,
        items: Vec<PricingItem>,
    ) -> Result<Vec<PricedItem>, PluginError> {
        let settings = logic::Settings::read(|key| config_get(key)).map_err(PluginError::Config)?;
        let money = |minor: i64| Money {
            amount: money::format(minor),
            currency: context.currency.clone(),
        };
        items
            .into_iter()
            .map(|item| {
                // The first stock record priced in the requested currency wins.
                let record = item.stock_records.iter().find(|s| {
                    s.price_excl_tax
                        .as_ref()
                        .is_some_and(|p| p.currency == context.currency)
                });
                let Some(record) = record else {
                    return Ok(PricedItem {
                        product_id: item.product.id,
                        partner_id: None,
                        price: None,
                        availability: Availability {
                            status: StockStatus::Unavailable,
                            num_available: None,
                            message: "Not available".into(),
                        },
                    });
                };
                let price = record.price_excl_tax.as_ref().map(|p| p.amount.as_str()).unwrap_or("0");
                let (excl, incl) = logic::unit_price(&settings, price, context.quantity)
                    .map_err(PluginError::InvalidInput)?;
                let available = record
                    .num_in_stock
                    .map(|n| n.saturating_sub(record.num_allocated));
                let status = match available {
                    Some(0) => StockStatus::OutOfStock,
                    _ => StockStatus::InStock,
                };
                Ok(PricedItem {
                    product_id: item.product.id,
                    partner_id: Some(record.partner_id.clone()),
                    price: Some(UnitPrice {
                        excl_tax: money(excl),
                        incl_tax: money(incl),
                    }),
                    availability: Availability {
                        status,
                        num_available: available,
                        message: match status {
                            StockStatus::OutOfStock => "Out of stock".into(),
                            _ => "In stock".into(),
                        },
                    },
                })
            })
            .collect()
    }
}

export!(Plugin);
