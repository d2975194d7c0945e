//! The basket as plugins see it: a [`plugins::calls::Basket`](crate::plugins::calls::Basket)
//! snapshot built from a priced basket and the products' facts.

use std::collections::HashMap;

use crate::catalogue::snapshot::ProductFacts;
use crate::plugins::calls;

use super::PricedBasket;

/// Every buyable line of the basket (lines without a price can't be ordered and are left out).
pub fn basket(priced: &PricedBasket, facts: &HashMap<i64, ProductFacts>) -> calls::Basket {
    let mut lines = Vec::with_capacity(priced.lines.len());
    let mut total_weight: u64 = 0;
    let mut num_items: u32 = 0;
    for line in &priced.lines {
        let (Some(price), Some(f)) = (line.unit_price, facts.get(&line.product_id)) else {
            continue;
        };
        let quantity = u32::try_from(line.quantity).unwrap_or(u32::MAX);
        let q = rust_decimal::Decimal::from(quantity);
        let weight = if f.requires_shipping {
            u64::try_from(f.weight_grams.unwrap_or(0)).unwrap_or(0) * u64::from(quantity)
        } else {
            0
        };
        total_weight = total_weight.saturating_add(weight);
        num_items = num_items.saturating_add(quantity);
        lines.push(calls::BasketLine {
            line_id: line.id.to_string(),
            product: f.plugin_product(),
            quantity,
            unit_price_excl_tax: price.excl_tax,
            unit_price_incl_tax: price.incl_tax,
            line_total_excl_tax: price.excl_tax.checked_mul(q).unwrap_or(price.excl_tax),
            line_total_incl_tax: price.incl_tax.checked_mul(q).unwrap_or(price.incl_tax),
            weight_grams: weight,
        });
    }
    calls::Basket {
        id: Some(priced.id.to_string()),
        currency: priced.total_incl_tax.currency(),
        lines,
        total_excl_tax: priced.total_excl_tax,
        total_incl_tax: priced.total_incl_tax,
        total_weight_grams: total_weight,
        num_items,
    }
}
