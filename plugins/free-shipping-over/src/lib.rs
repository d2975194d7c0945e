//! Free shipping for baskets over a threshold.

use emporium_plugin_sdk::shipping::ShippingRequest;
use emporium_plugin_sdk::{Decimal, Money, PluginError, ShippingMethod, ShippingQuote, config};

pub fn quote(
    threshold: Decimal,
    only_currency: &str,
    request: &ShippingRequest,
) -> Result<Vec<ShippingQuote>, PluginError> {
    let basket = &request.basket;
    if !only_currency.is_empty() && !only_currency.eq_ignore_ascii_case(&basket.currency) {
        return Ok(Vec::new());
    }
    if basket.total_incl_tax.decimal()? < threshold {
        return Ok(Vec::new());
    }
    Ok(vec![ShippingQuote {
        code: "free".into(),
        name: "Free delivery".into(),
        description: format!("Free for orders over {threshold} {}.", basket.currency),
        charge_excl_tax: Money::zero(&basket.currency),
        charge_incl_tax: Money::zero(&basket.currency),
    }])
}

struct FreeOver;

impl ShippingMethod for FreeOver {
    fn quote(request: ShippingRequest) -> Result<Vec<ShippingQuote>, PluginError> {
        let threshold = config::decimal("threshold")?;
        quote(threshold, &config::string_or("currency", ""), &request)
    }
}

emporium_plugin_sdk::export_shipping!(FreeOver);

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_plugin_sdk::testing::{anonymous, basket, line};

    fn request(unit: &str, qty: u32) -> ShippingRequest {
        ShippingRequest {
            basket: basket("EUR", vec![line("1", unit, qty, 100)]),
            customer: anonymous(),
            address: None,
        }
    }

    #[test]
    fn free_at_or_over_the_threshold_only() {
        let t = Decimal::new(50, 0);
        assert_eq!(quote(t, "", &request("25.00", 2)).unwrap().len(), 1);
        assert!(quote(t, "", &request("24.99", 2)).unwrap().is_empty());
        assert!(quote(t, "GBP", &request("25.00", 2)).unwrap().is_empty());
    }
}
