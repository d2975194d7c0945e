//! Flat rate shipping: one method, one charge per order, optionally limited to some countries.

use emporium_plugin_sdk::shipping::ShippingRequest;
use emporium_plugin_sdk::{
    Decimal, Money, PluginError, ShippingMethod, ShippingQuote, config, money,
};

/// The plugin's configuration, read once per call.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub charge: Decimal,
    pub tax_rate: Decimal,
    pub method_name: String,
    /// Upper-case ISO codes; empty means every country.
    pub countries: Vec<String>,
}

impl Settings {
    fn from_host() -> Result<Settings, PluginError> {
        let charge = config::decimal_or("charge", Decimal::new(500, 2))?;
        if charge.is_sign_negative() {
            return Err(PluginError::Config("`charge` must not be negative".into()));
        }
        Ok(Settings {
            charge,
            tax_rate: config::decimal_or("tax_rate", Decimal::ZERO)?,
            method_name: config::string_or("method_name", "Standard delivery"),
            countries: parse_countries(&config::string_or("countries", "")),
        })
    }
}

pub fn parse_countries(text: &str) -> Vec<String> {
    text.split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .collect()
}

/// The decision, free of host calls so that it can be unit-tested natively.
pub fn quote(settings: &Settings, request: &ShippingRequest) -> Vec<ShippingQuote> {
    let currency = &request.basket.currency;
    if let Some(address) = &request.address
        && !settings.countries.is_empty()
        && !settings
            .countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&address.country))
    {
        return Vec::new();
    }
    let needs_shipping = request
        .basket
        .lines
        .iter()
        .any(|l| l.product.requires_shipping);
    // A basket of downloads ships for free: still offer the method so checkout can proceed.
    let charge = if needs_shipping {
        settings.charge
    } else {
        Decimal::ZERO
    };
    vec![ShippingQuote {
        code: "flat-rate".into(),
        name: settings.method_name.clone(),
        description: "Same price for every order.".into(),
        charge_excl_tax: Money::new(money::round2(charge), currency),
        charge_incl_tax: Money::new(money::add_tax(charge, settings.tax_rate), currency),
    }]
}

struct FlatRate;

impl ShippingMethod for FlatRate {
    fn quote(request: ShippingRequest) -> Result<Vec<ShippingQuote>, PluginError> {
        Ok(quote(&Settings::from_host()?, &request))
    }
}

emporium_plugin_sdk::export_shipping!(FlatRate);

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_plugin_sdk::testing::{address, basket, line};

    fn settings() -> Settings {
        Settings {
            charge: Decimal::new(500, 2),
            tax_rate: Decimal::new(20, 0),
            method_name: "Standard".into(),
            countries: parse_countries("gb, FR"),
        }
    }

    #[test]
    fn charges_the_flat_rate_with_tax() {
        let req = ShippingRequest {
            basket: basket("GBP", vec![line("1", "10.00", 2, 500)]),
            customer: emporium_plugin_sdk::testing::anonymous(),
            address: Some(address("GB")),
        };
        let quotes = quote(&settings(), &req);
        assert_eq!(quotes.len(), 1);
        assert_eq!(quotes[0].charge_excl_tax.amount, "5.00");
        assert_eq!(quotes[0].charge_incl_tax.amount, "6.00");
        assert_eq!(quotes[0].charge_incl_tax.currency, "GBP");
    }

    #[test]
    fn does_not_ship_outside_its_countries() {
        let req = ShippingRequest {
            basket: basket("GBP", vec![line("1", "10.00", 1, 500)]),
            customer: emporium_plugin_sdk::testing::anonymous(),
            address: Some(address("US")),
        };
        assert!(quote(&settings(), &req).is_empty());
    }
}
