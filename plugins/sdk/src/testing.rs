//! Builders for plugin unit tests (native `cargo test`): small, valid snapshots with the fields
//! a test does not care about filled in.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::{Address, Basket, BasketLine, Customer, Money, Product};

/// An anonymous visitor.
pub fn anonymous() -> Customer {
    Customer {
        id: None,
        email: None,
        is_authenticated: false,
        groups: Vec::new(),
    }
}

/// An address in `country` with placeholder lines.
pub fn address(country: &str) -> Address {
    Address {
        country: country.to_string(),
        postcode: Some("AB1 2CD".into()),
        lines: vec!["1 High Street".into()],
        city: "Town".into(),
        state: None,
    }
}

/// A shippable product in one category.
pub fn product(id: &str, category: &str, weight_grams: u32) -> Product {
    Product {
        id: id.to_string(),
        parent_id: None,
        sku: Some(format!("SKU-{id}")),
        title: format!("Product {id}"),
        product_class: "Thing".into(),
        categories: vec![category.to_string()],
        attributes: Vec::new(),
        weight_grams: Some(weight_grams),
        requires_shipping: true,
    }
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_default()
}

/// A line of `quantity` units of a product in category "Books", with prices excluding tax equal
/// to prices including tax (`unit_price`, a decimal string).
pub fn line(id: &str, unit_price: &str, quantity: u32, unit_weight_grams: u32) -> BasketLine {
    line_in(id, "Books", unit_price, quantity, unit_weight_grams)
}

/// Like [`line`], in `category`.
pub fn line_in(
    id: &str,
    category: &str,
    unit_price: &str,
    quantity: u32,
    unit_weight_grams: u32,
) -> BasketLine {
    let unit = dec(unit_price);
    let total = unit * Decimal::from(quantity);
    BasketLine {
        line_id: id.to_string(),
        product: product(id, category, unit_weight_grams),
        quantity,
        unit_price_excl_tax: Money::new(unit, "XXX"),
        unit_price_incl_tax: Money::new(unit, "XXX"),
        line_total_excl_tax: Money::new(total, "XXX"),
        line_total_incl_tax: Money::new(total, "XXX"),
        weight_grams: u64::from(unit_weight_grams) * u64::from(quantity),
    }
}

/// A basket in `currency` with the given lines (their currency is rewritten) and consistent
/// totals.
pub fn basket(currency: &str, mut lines: Vec<BasketLine>) -> Basket {
    let mut excl = Decimal::ZERO;
    let mut incl = Decimal::ZERO;
    let mut weight = 0;
    let mut items = 0;
    for l in &mut lines {
        for m in [
            &mut l.unit_price_excl_tax,
            &mut l.unit_price_incl_tax,
            &mut l.line_total_excl_tax,
            &mut l.line_total_incl_tax,
        ] {
            m.currency = currency.to_string();
        }
        excl += dec(&l.line_total_excl_tax.amount);
        incl += dec(&l.line_total_incl_tax.amount);
        weight += l.weight_grams;
        items += l.quantity;
    }
    Basket {
        id: Some("basket-1".into()),
        currency: currency.to_string(),
        lines,
        total_excl_tax: Money::new(excl, currency),
        total_incl_tax: Money::new(incl, currency),
        total_weight_grams: weight,
        num_items: items,
    }
}
