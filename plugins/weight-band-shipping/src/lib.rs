//! Weight band shipping: the charge depends on the basket's total weight.

use emporium_plugin_sdk::shipping::ShippingRequest;
use emporium_plugin_sdk::{
    Decimal, Money, PluginError, ShippingMethod, ShippingQuote, config, money,
};

/// One band: baskets up to `max_grams` (inclusive) pay `charge` (excluding tax).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub max_grams: u64,
    pub charge: Decimal,
}

/// Parses "1000:3.50, 5000:7.00": bands must be increasing and charges non-negative.
pub fn parse_bands(text: &str) -> Result<Vec<Band>, PluginError> {
    let mut bands: Vec<Band> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (grams, charge) = part.split_once(':').ok_or_else(|| {
            PluginError::Config(format!("`bands`: {part:?} is not max_grams:charge"))
        })?;
        let max_grams: u64 = config::parse("bands", grams)?;
        let charge: Decimal = config::parse("bands", charge)?;
        if charge.is_sign_negative() {
            return Err(PluginError::Config(format!(
                "`bands`: negative charge in {part:?}"
            )));
        }
        if bands.last().is_some_and(|b| b.max_grams >= max_grams) {
            return Err(PluginError::Config("`bands` must be lightest first".into()));
        }
        bands.push(Band { max_grams, charge });
    }
    if bands.is_empty() {
        return Err(PluginError::Config("`bands` is empty".into()));
    }
    Ok(bands)
}

pub fn quote(bands: &[Band], tax_rate: Decimal, request: &ShippingRequest) -> Vec<ShippingQuote> {
    let weight = request.basket.total_weight_grams;
    let currency = &request.basket.currency;
    let band = bands.iter().find(|b| weight <= b.max_grams);
    #[cfg(feature = "heavy-parcels")]
    let band = band.or(bands.last());
    match band {
        Some(band) => vec![ShippingQuote {
            code: "weight-band".into(),
            name: "Standard delivery".into(),
            description: format!(
                "Parcels up to {} kg.",
                Decimal::from(band.max_grams) / Decimal::ONE_THOUSAND
            ),
            charge_excl_tax: Money::new(money::round2(band.charge), currency),
            charge_incl_tax: Money::new(money::add_tax(band.charge, tax_rate), currency),
        }],
        None => Vec::new(),
    }
}

struct WeightBand;

impl ShippingMethod for WeightBand {
    fn quote(request: ShippingRequest) -> Result<Vec<ShippingQuote>, PluginError> {
        let bands = parse_bands(&config::required("bands")?)?;
        let tax_rate = config::decimal_or("tax_rate", Decimal::ZERO)?;
        Ok(quote(&bands, tax_rate, &request))
    }
}

emporium_plugin_sdk::export_shipping!(WeightBand);

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_plugin_sdk::testing::{anonymous, basket, line};

    fn request(unit_grams: u32, qty: u32) -> ShippingRequest {
        ShippingRequest {
            basket: basket("EUR", vec![line("1", "2.00", qty, unit_grams)]),
            customer: anonymous(),
            address: None,
        }
    }

    #[test]
    fn picks_the_first_band_that_fits() {
        let bands = parse_bands("1000:3.50, 5000:7").unwrap();
        assert_eq!(
            quote(&bands, Decimal::ZERO, &request(500, 2))[0]
                .charge_excl_tax
                .amount,
            "3.50"
        );
        assert_eq!(
            quote(&bands, Decimal::ZERO, &request(500, 3))[0]
                .charge_excl_tax
                .amount,
            "7.00"
        );
        assert!(quote(&bands, Decimal::ZERO, &request(5000, 2)).is_empty());
    }

    #[test]
    fn rejects_bad_bands() {
        assert!(parse_bands("").is_err());
        assert!(parse_bands("1000").is_err());
        assert!(parse_bands("1000:-1").is_err());
        assert!(parse_bands("5000:1, 1000:2").is_err());
    }
}
