//! Money helpers. WIT carries money as a decimal string plus an ISO 4217 code; these turn it
//! into `rust_decimal::Decimal` and back. Floats never appear: a float cannot represent 0.10.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::{Money, PluginError};

impl Money {
    /// Builds a money value from a decimal amount. The amount is written in plain notation
    /// with its scale kept ("12.50" stays "12.50").
    pub fn new(amount: Decimal, currency: &str) -> Money {
        Money {
            amount: amount.to_string(),
            currency: currency.to_string(),
        }
    }

    /// Zero in `currency`.
    pub fn zero(currency: &str) -> Money {
        Money::new(Decimal::ZERO, currency)
    }

    /// The amount as a decimal, or an `invalid-input` error when the host sent something that
    /// is not a plain decimal (it never should).
    pub fn decimal(&self) -> Result<Decimal, PluginError> {
        parse_amount(&self.amount)
    }
}

/// Parses a plain decimal amount ("12", "-3.5", "0.10"); rejects exponents and separators.
pub fn parse_amount(text: &str) -> Result<Decimal, PluginError> {
    let plain = !text.is_empty()
        && text
            .trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    if !plain {
        return Err(PluginError::InvalidInput(format!(
            "{text:?} is not a decimal amount"
        )));
    }
    Decimal::from_str(text)
        .map_err(|e| PluginError::InvalidInput(format!("{text:?} is not a decimal amount: {e}")))
}

/// Rounds to exactly 2 decimal places ("7" becomes "7.00"), half away from zero (what shoppers
/// expect for prices). The host rounds again per currency; this is for plugins that show or
/// compare amounts.
pub fn round2(amount: Decimal) -> Decimal {
    let mut rounded =
        amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded
}

/// Adds `rate` percent of tax to an amount excluding tax ("20" means 20 %), rounded to 2 places.
pub fn add_tax(excl_tax: Decimal, rate_percent: Decimal) -> Decimal {
    round2(excl_tax + excl_tax * rate_percent / Decimal::ONE_HUNDRED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_without_floats() {
        let m = Money::new(Decimal::new(1050, 2), "EUR");
        assert_eq!(m.amount, "10.50");
        assert_eq!(m.decimal().unwrap(), Decimal::new(105, 1));
    }

    #[test]
    fn rejects_exponents_and_junk() {
        assert!(parse_amount("1e3").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount("1,000").is_err());
        assert!(parse_amount("€5").is_err());
        assert_eq!(parse_amount("-3.5").unwrap(), Decimal::new(-35, 1));
    }

    #[test]
    fn adds_tax_half_up() {
        assert_eq!(
            add_tax(Decimal::new(1000, 2), Decimal::new(20, 0)),
            Decimal::new(1200, 2)
        );
        assert_eq!(
            add_tax(Decimal::new(125, 2), Decimal::new(20, 0)),
            Decimal::new(150, 2)
        );
    }
}
