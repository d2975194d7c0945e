//! The basket as plugins see it: a WIT `basket` snapshot built from a priced basket and the
//! products' facts, plus the customer and address records that travel with it.

use std::collections::HashMap;

use crate::address::Address;
use crate::catalogue::snapshot::ProductFacts;
use crate::money::Money;
use crate::plugins::bindings as wit;

use super::PricedBasket;

pub fn money(m: Money) -> wit::Money {
    wit::Money {
        amount: m.amount().to_string(),
        currency: m.currency().code().to_string(),
    }
}

pub fn product(f: &ProductFacts) -> wit::Product {
    wit::Product {
        id: f.id.to_string(),
        parent_id: f.parent_id.map(|p| p.to_string()),
        sku: f.upc.clone(),
        title: f.title.clone(),
        product_class: f.class.clone(),
        categories: f.categories.clone(),
        attributes: f
            .attributes
            .iter()
            .map(|(name, value)| wit::Attribute {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        weight_grams: f.weight_grams.and_then(|w| u32::try_from(w).ok()),
        requires_shipping: f.requires_shipping,
    }
}

/// Every buyable line of the basket (lines without a price can't be ordered and are left out).
pub fn basket(priced: &PricedBasket, facts: &HashMap<i64, ProductFacts>) -> wit::Basket {
    let currency = priced.total_incl_tax.currency();
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
        lines.push(wit::BasketLine {
            line_id: line.id.to_string(),
            product: product(f),
            quantity,
            unit_price_excl_tax: money(price.excl_tax),
            unit_price_incl_tax: money(price.incl_tax),
            line_total_excl_tax: money(price.excl_tax.checked_mul(q).unwrap_or(price.excl_tax)),
            line_total_incl_tax: money(price.incl_tax.checked_mul(q).unwrap_or(price.incl_tax)),
            weight_grams: weight,
        });
    }
    wit::Basket {
        id: Some(priced.id.to_string()),
        currency: currency.code().to_string(),
        lines,
        total_excl_tax: money(priced.total_excl_tax),
        total_incl_tax: money(priced.total_incl_tax),
        total_weight_grams: total_weight,
        num_items,
    }
}

pub fn customer(customer_id: Option<i64>, email: Option<&str>) -> wit::Customer {
    wit::Customer {
        id: customer_id.map(|id| id.to_string()),
        email: email.map(str::to_string),
        is_authenticated: customer_id.is_some(),
        groups: Vec::new(),
    }
}

pub fn address(a: &Address) -> wit::Address {
    let mut lines = vec![a.line1.clone()];
    if !a.line2.is_empty() {
        lines.push(a.line2.clone());
    }
    wit::Address {
        country: a.country.clone(),
        postcode: (!a.postcode.is_empty()).then(|| a.postcode.clone()),
        lines,
        city: a.city.clone(),
        state: (!a.state.is_empty()).then(|| a.state.clone()),
    }
}
