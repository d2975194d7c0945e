//! Tiered (volume) pricing: the more units a customer buys, the lower the unit price.
//! Picks, per product, the cheapest partner offer that has stock in the requested currency.

use emporium_plugin_sdk::pricing::{
    Availability, PricedItem, PricingContext, PricingItem, StockStatus, UnitPrice,
};
use emporium_plugin_sdk::{
    Decimal, Money, PluginError, PricingStrategy, StockRecord, config, money,
};

/// Units from `min_quantity` upwards get `percent_off`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub min_quantity: u32,
    pub percent_off: Decimal,
}

pub fn parse_tiers(text: &str) -> Result<Vec<Tier>, PluginError> {
    let mut tiers: Vec<Tier> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (qty, pct) = part.split_once(':').ok_or_else(|| {
            PluginError::Config(format!("`tiers`: {part:?} is not min_quantity:percent_off"))
        })?;
        let min_quantity: u32 = config::parse("tiers", qty)?;
        let percent_off: Decimal = config::parse("tiers", pct)?;
        if percent_off.is_sign_negative() || percent_off > Decimal::ONE_HUNDRED {
            return Err(PluginError::Config(format!(
                "`tiers`: {part:?} is not 0..100 %"
            )));
        }
        if tiers.last().is_some_and(|t| t.min_quantity >= min_quantity) {
            return Err(PluginError::Config(
                "`tiers` must be smallest quantity first".into(),
            ));
        }
        tiers.push(Tier {
            min_quantity,
            percent_off,
        });
    }
    Ok(tiers)
}

/// Percent off for `quantity` units: the last tier whose minimum is reached.
pub fn discount_for(tiers: &[Tier], quantity: u32) -> Decimal {
    tiers
        .iter()
        .rev()
        .find(|t| quantity >= t.min_quantity)
        .map(|t| t.percent_off)
        .unwrap_or(Decimal::ZERO)
}

fn available(record: &StockRecord) -> Option<u32> {
    record
        .num_in_stock
        .map(|n| n.saturating_sub(record.num_allocated))
}

pub fn price_item(
    tiers: &[Tier],
    tax_rate: Decimal,
    context: &PricingContext,
    item: PricingItem,
) -> Result<PricedItem, PluginError> {
    // Offers priced in the requested currency, with their unit price.
    let mut offers = Vec::new();
    for record in &item.stock_records {
        if let Some(price) = &record.price_excl_tax
            && price.currency == context.currency
        {
            offers.push((record, price.decimal()?));
        }
    }
    // Prefer offers with stock (untracked stock counts as available), then the cheapest.
    offers.sort_by(|(a, pa), (b, pb)| {
        let a_stock = available(a).is_none_or(|n| n > 0);
        let b_stock = available(b).is_none_or(|n| n > 0);
        b_stock.cmp(&a_stock).then(pa.cmp(pb))
    });
    let Some((record, base)) = offers.first() else {
        return Ok(PricedItem {
            product_id: item.product.id,
            partner_id: None,
            price: None,
            availability: Availability {
                status: StockStatus::Unavailable,
                num_available: None,
                message: "Unavailable".into(),
            },
        });
    };
    let off = discount_for(tiers, context.quantity);
    let excl = money::round2(*base * (Decimal::ONE_HUNDRED - off) / Decimal::ONE_HUNDRED);
    let incl = money::add_tax(excl, tax_rate);
    let availability = match available(record) {
        None => Availability {
            status: StockStatus::AvailableToOrder,
            num_available: None,
            message: "Available".into(),
        },
        Some(0) => Availability {
            status: StockStatus::OutOfStock,
            num_available: Some(0),
            message: "Out of stock".into(),
        },
        Some(n) => Availability {
            status: StockStatus::InStock,
            num_available: Some(n),
            message: format!("In stock ({n} available)"),
        },
    };
    Ok(PricedItem {
        product_id: item.product.id,
        partner_id: Some(record.partner_id.clone()),
        price: Some(UnitPrice {
            excl_tax: Money::new(excl, &context.currency),
            incl_tax: Money::new(incl, &context.currency),
        }),
        availability,
    })
}

struct Tiered;

impl PricingStrategy for Tiered {
    fn price(
        context: PricingContext,
        items: Vec<PricingItem>,
    ) -> Result<Vec<PricedItem>, PluginError> {
        // Read the configuration once for the whole page, not once per item.
        let tiers = parse_tiers(&config::string_or("tiers", "1:0"))?;
        let tax_rate = config::decimal_or("tax_rate", Decimal::new(20, 0))?;
        items
            .into_iter()
            .map(|item| price_item(&tiers, tax_rate, &context, item))
            .collect()
    }

    fn price_one(context: &PricingContext, item: PricingItem) -> Result<PricedItem, PluginError> {
        let tiers = parse_tiers(&config::string_or("tiers", "1:0"))?;
        let tax_rate = config::decimal_or("tax_rate", Decimal::new(20, 0))?;
        price_item(&tiers, tax_rate, context, item)
    }
}

emporium_plugin_sdk::export_pricing!(Tiered);

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_plugin_sdk::testing::{anonymous, product};

    fn record(partner: &str, price: &str, stock: Option<u32>) -> StockRecord {
        StockRecord {
            partner_id: partner.into(),
            partner_sku: format!("{partner}-1"),
            price_excl_tax: Some(Money {
                amount: price.into(),
                currency: "EUR".into(),
            }),
            num_in_stock: stock,
            num_allocated: 0,
        }
    }

    fn ctx(quantity: u32) -> PricingContext {
        PricingContext {
            customer: anonymous(),
            currency: "EUR".into(),
            quantity,
        }
    }

    #[test]
    fn volume_tiers_discount_the_cheapest_offer_in_stock() {
        let tiers = parse_tiers("1:0, 10:5, 50:10").unwrap();
        let item = PricingItem {
            product: product("p1", "Books", 100),
            stock_records: vec![record("a", "8.00", Some(0)), record("b", "10.00", Some(3))],
        };
        let priced = price_item(&tiers, Decimal::new(20, 0), &ctx(10), item).unwrap();
        assert_eq!(priced.partner_id.as_deref(), Some("b"));
        let price = priced.price.unwrap();
        assert_eq!(price.excl_tax.amount, "9.50");
        assert_eq!(price.incl_tax.amount, "11.40");
        assert_eq!(priced.availability.status, StockStatus::InStock);
    }

    #[test]
    fn no_offer_in_currency_means_unavailable() {
        let item = PricingItem {
            product: product("p1", "Books", 100),
            stock_records: vec![record("a", "8.00", Some(5))],
        };
        let mut c = ctx(1);
        c.currency = "GBP".into();
        let priced = price_item(&[], Decimal::ZERO, &c, item).unwrap();
        assert!(priced.price.is_none());
        assert_eq!(priced.availability.status, StockStatus::Unavailable);
    }

    #[test]
    fn tier_lookup() {
        let tiers = parse_tiers("1:0, 10:5").unwrap();
        assert_eq!(discount_for(&tiers, 9), Decimal::ZERO);
        assert_eq!(discount_for(&tiers, 10), Decimal::new(5, 0));
        assert!(parse_tiers("10:5, 1:0").is_err());
        assert!(parse_tiers("1:101").is_err());
    }
}
