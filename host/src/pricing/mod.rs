//! The strategy seam (Oscar's `Strategy`): given the stock records of products, decide which
//! record to sell from, the price (incl. and excl. tax) and the availability.
//!
//! [`DefaultStrategy`] is built in: the cheapest record that can sell, a fixed tax rate, stock
//! required. [`Pricing`] is what callers use: it asks the enabled pricing-strategy plugin when
//! there is one (see [`plugin`]) and this built-in strategy otherwise. Calls are batched (a whole
//! page at once) because a plugin call has a fixed cost.

pub mod listing;
pub mod plugin;

pub use listing::price_listing;
pub use plugin::{Pricing, PricingError};

use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::{Currency, Money, Rounding};
use crate::partner::StockRecord;

/// Who is buying and in what currency: what a strategy may price on.
#[derive(Debug, Clone)]
pub struct PricingContext {
    pub currency: Currency,
    pub customer_id: Option<i64>,
    /// The basket being priced, if any: not for the strategy, for the record of its decision
    /// (an order's decisions page shows the prices its lines were given).
    pub basket_id: Option<i64>,
}

/// One product to price: its id, the stock records that can fulfil it, and how many the
/// customer wants (1 on a listing; the basket's total for the product), for volume pricing.
#[derive(Debug, Clone, Copy)]
pub struct PricingItem<'a> {
    pub product_id: i64,
    pub track_stock: bool,
    pub stock: &'a [&'a StockRecord],
    pub quantity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Price {
    pub excl_tax: Money,
    pub incl_tax: Money,
    pub tax: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AvailabilityCode {
    InStock,
    LowStock,
    OutOfStock,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Availability {
    pub code: AvailabilityCode,
    pub message: String,
    pub is_available: bool,
    /// How many can be bought at most, when stock limits it.
    pub max_quantity: Option<i64>,
}

impl Availability {
    pub fn unavailable() -> Self {
        Availability {
            code: AvailabilityCode::Unavailable,
            message: "Unavailable".into(),
            is_available: false,
            max_quantity: Some(0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseInfo {
    pub product_id: i64,
    pub stock_record_id: Option<i64>,
    pub price: Option<Price>,
    pub availability: Availability,
}

pub trait Strategy: Send + Sync {
    /// Prices every item, returning one result per item in the same order.
    fn price_all(&self, ctx: &PricingContext, items: &[PricingItem<'_>]) -> Vec<PurchaseInfo>;
}

pub struct DefaultStrategy {
    /// Tax as a fraction of the excl.-tax price; stock record prices are excl. tax.
    pub tax_rate: Decimal,
    pub rounding: Rounding,
}

impl DefaultStrategy {
    fn price_one(&self, ctx: &PricingContext, item: &PricingItem<'_>) -> PurchaseInfo {
        let in_currency = item
            .stock
            .iter()
            .filter(|sr| sr.price.currency() == ctx.currency);
        // Prefer the cheapest record that can sell; else the cheapest at all, shown as sold out.
        let chosen = in_currency
            .clone()
            .filter(|sr| !item.track_stock || sr.net_stock() > 0)
            .min_by_key(|sr| (sr.price.amount(), sr.id))
            .or_else(|| in_currency.min_by_key(|sr| (sr.price.amount(), sr.id)));
        let Some(record) = chosen else {
            return PurchaseInfo {
                product_id: item.product_id,
                stock_record_id: None,
                price: None,
                availability: Availability::unavailable(),
            };
        };
        PurchaseInfo {
            product_id: item.product_id,
            stock_record_id: Some(record.id),
            price: Some(self.price_of(record.price)),
            availability: stock_availability(record, item.track_stock),
        }
    }

    pub fn price_of(&self, excl_tax: Money) -> Price {
        let tax = excl_tax
            .checked_mul(self.tax_rate)
            .unwrap_or(Money::zero(excl_tax.currency()))
            .round(self.rounding);
        let incl_tax = excl_tax.checked_add(tax).unwrap_or(excl_tax);
        Price {
            excl_tax,
            incl_tax,
            tax,
        }
    }
}

impl Strategy for DefaultStrategy {
    fn price_all(&self, ctx: &PricingContext, items: &[PricingItem<'_>]) -> Vec<PurchaseInfo> {
        items.iter().map(|item| self.price_one(ctx, item)).collect()
    }
}

/// Oscar's "stock required" policy.
pub fn stock_availability(record: &StockRecord, track_stock: bool) -> Availability {
    if !track_stock {
        return Availability {
            code: AvailabilityCode::InStock,
            message: "Available".into(),
            is_available: true,
            max_quantity: None,
        };
    }
    let net = record.net_stock();
    if net <= 0 {
        return Availability {
            code: AvailabilityCode::OutOfStock,
            message: "Out of stock".into(),
            is_available: false,
            max_quantity: Some(0),
        };
    }
    let code = if record.is_low() {
        AvailabilityCode::LowStock
    } else {
        AvailabilityCode::InStock
    };
    let message = if code == AvailabilityCode::LowStock {
        format!("Only {net} left")
    } else {
        format!("In stock ({net} available)")
    };
    Availability {
        code,
        message,
        is_available: true,
        max_quantity: Some(net),
    }
}

/// A parent is shown at its cheapest available child's price ("from £x"), and is available
/// when any child is.
pub fn summarise_variants(parent_id: i64, children: &[&PurchaseInfo]) -> PurchaseInfo {
    let available: Vec<_> = children
        .iter()
        .filter(|c| c.availability.is_available)
        .collect();
    let pool = if available.is_empty() {
        children.iter().collect::<Vec<_>>()
    } else {
        available
    };
    let cheapest = pool
        .iter()
        .filter_map(|c| c.price.map(|p| (p, c)))
        .min_by_key(|(p, _)| p.incl_tax.amount());
    let availability = if children.iter().any(|c| c.availability.is_available) {
        Availability {
            code: AvailabilityCode::InStock,
            message: "In stock".into(),
            is_available: true,
            max_quantity: None,
        }
    } else if children.is_empty() {
        Availability::unavailable()
    } else {
        Availability {
            code: AvailabilityCode::OutOfStock,
            message: "Out of stock".into(),
            is_available: false,
            max_quantity: Some(0),
        }
    };
    PurchaseInfo {
        product_id: parent_id,
        stock_record_id: None,
        price: cheapest.map(|(p, _)| p),
        availability,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbp() -> Currency {
        Currency::from_code("GBP").unwrap()
    }

    fn record(id: i64, pence: i64, stock: i64, allocated: i64) -> StockRecord {
        StockRecord {
            id,
            product_id: 1,
            partner_id: 1,
            partner_sku: format!("SKU{id}"),
            price: Money::from_minor(pence, gbp()),
            num_in_stock: stock,
            num_allocated: allocated,
            low_stock_threshold: Some(3),
        }
    }

    fn ctx() -> PricingContext {
        PricingContext {
            currency: gbp(),
            customer_id: None,
            basket_id: None,
        }
    }

    #[test]
    fn cheapest_record_with_stock_wins_and_tax_is_added() {
        let strategy = DefaultStrategy {
            tax_rate: Decimal::new(20, 2),
            rounding: Rounding::HalfUp,
        };
        let (a, b) = (record(1, 999, 0, 0), record(2, 1299, 10, 2));
        let stock = [&a, &b];
        let info = &strategy.price_all(
            &ctx(),
            &[PricingItem {
                product_id: 1,
                track_stock: true,
                stock: &stock,
                quantity: 1,
            }],
        )[0];
        assert_eq!(info.stock_record_id, Some(2));
        let price = info.price.unwrap();
        assert_eq!(price.excl_tax.to_minor().unwrap(), 1299);
        assert_eq!(price.tax.to_minor().unwrap(), 260); // 259.8 rounded half-up
        assert_eq!(price.incl_tax.to_minor().unwrap(), 1559);
        assert_eq!(info.availability.message, "In stock (8 available)");
    }

    #[test]
    fn sold_out_and_low_stock() {
        let sold_out = record(1, 500, 4, 4);
        assert_eq!(
            stock_availability(&sold_out, true).code,
            AvailabilityCode::OutOfStock
        );
        assert!(stock_availability(&sold_out, false).is_available);
        let low = record(1, 500, 5, 2);
        let a = stock_availability(&low, true);
        assert_eq!(
            (a.code, a.max_quantity),
            (AvailabilityCode::LowStock, Some(3))
        );
    }

    #[test]
    fn other_currencies_are_not_sold() {
        let strategy = DefaultStrategy {
            tax_rate: Decimal::ZERO,
            rounding: Rounding::HalfUp,
        };
        let mut usd = record(1, 500, 4, 0);
        usd.price = Money::from_minor(500, Currency::from_code("USD").unwrap());
        let stock = [&usd];
        let info = &strategy.price_all(
            &ctx(),
            &[PricingItem {
                product_id: 1,
                track_stock: true,
                stock: &stock,
                quantity: 1,
            }],
        )[0];
        assert_eq!(info.price, None);
        assert!(!info.availability.is_available);
    }
}
