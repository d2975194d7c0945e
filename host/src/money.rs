//! Money: a `Decimal` amount in an ISO 4217 currency. Never a float.
//!
//! Rounding to a currency's minor unit happens in exactly one place, [`Money::round`], with the
//! rounding rule named by the caller; everything that stores or displays money goes through it.

use std::fmt;
use std::str::FromStr;

use iso_currency::Currency as IsoCurrency;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    #[error("{0:?} is not a decimal amount")]
    BadAmount(String),
    #[error("{amount} has more decimal places than {currency} allows ({places})")]
    TooPrecise {
        amount: Decimal,
        currency: Currency,
        places: u32,
    },
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
}

/// An ISO 4217 currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(IsoCurrency);

impl Currency {
    /// Pound sterling, the currency of samples and tests.
    pub const GBP: Currency = Currency(IsoCurrency::GBP);

    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        IsoCurrency::from_code(&code.to_ascii_uppercase())
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point in the currency's minor unit (2 for GBP, 0 for JPY).
    pub fn minor_digits(self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(2)
    }

    fn symbol(self) -> Option<&'static str> {
        // Only symbols that cannot be confused are used; other currencies show their code.
        match self.code() {
            "GBP" => Some("£"),
            "EUR" => Some("€"),
            "USD" => Some("$"),
            "JPY" => Some("¥"),
            "INR" => Some("₹"),
            _ => None,
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

/// How to round to the minor unit. Shops choose; the default is half-up, as shoppers expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    #[default]
    HalfUp,
    /// Banker's rounding: ties go to the even digit, unbiased over many lines.
    HalfEven,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money::new(Decimal::ZERO, currency)
    }

    /// Parses a decimal string such as `"12.50"` exactly; rejects more places than the currency has.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let value = Decimal::from_str_exact(amount.trim())
            .map_err(|_| MoneyError::BadAmount(amount.to_owned()))?;
        let money = Money::new(value, currency);
        if value.normalize().scale() > currency.minor_digits() {
            return Err(MoneyError::TooPrecise {
                amount: value,
                currency,
                places: currency.minor_digits(),
            });
        }
        Ok(money)
    }

    /// Money stored as an integer count of minor units (pence, cents), as the database keeps it.
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Money::new(Decimal::new(minor, currency.minor_digits()), currency)
    }

    /// The amount in minor units, rounded half-up first if it has more precision than that.
    pub fn to_minor(self) -> Result<i64, MoneyError> {
        let rounded = self.round(Rounding::HalfUp).amount;
        let scaled = rounded * Decimal::from(10i64.pow(self.currency.minor_digits()));
        i64::try_from(scaled.trunc()).map_err(|_| MoneyError::Overflow)
    }

    pub fn amount(self) -> Decimal {
        self.amount
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_negative(self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    /// The one place money is rounded to the currency's minor unit.
    pub fn round(self, rounding: Rounding) -> Self {
        let strategy = match rounding {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        };
        let amount = self
            .amount
            .round_dp_with_strategy(self.currency.minor_digits(), strategy);
        Money::new(amount, self.currency)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_mul(self, factor: Decimal) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Human display, e.g. `£1,234.50` or `1,000 CHF`; rounds half-up for display only.
    pub fn display(self) -> String {
        let digits = self.currency.minor_digits();
        let rounded = self.round(Rounding::HalfUp).amount;
        let negative = rounded.is_sign_negative() && !rounded.is_zero();
        let text = format!("{:.*}", digits as usize, rounded.abs());
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text.as_str(), None),
        };
        let mut grouped = String::with_capacity(text.len() + 4);
        for (i, ch) in int_part.chars().enumerate() {
            if i > 0 && (int_part.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        if let Some(frac) = frac_part {
            grouped.push('.');
            grouped.push_str(frac);
        }
        let sign = if negative { "-" } else { "" };
        match self.currency.symbol() {
            Some(symbol) => format!("{sign}{symbol}{grouped}"),
            None => format!("{sign}{grouped} {}", self.currency.code()),
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// What templates and the API see: the exact amount as a string plus a display form.
impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Money", 3)?;
        st.serialize_field("amount", &self.round(Rounding::HalfUp).amount.to_string())?;
        st.serialize_field("currency", self.currency.code())?;
        st.serialize_field("display", &self.display())?;
        st.end()
    }
}

/// Reads what [`Serialize`] writes (the display form is ignored), for session data.
impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            amount: String,
            currency: String,
        }
        let raw = Raw::deserialize(d)?;
        let currency = Currency::from_code(&raw.currency).map_err(serde::de::Error::custom)?;
        Money::parse(&raw.amount, currency).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbp() -> Currency {
        Currency::from_code("GBP").unwrap()
    }

    #[test]
    fn parses_exact_amounts_and_rejects_junk() {
        assert_eq!(
            Money::parse("12.50", gbp()).unwrap().to_minor().unwrap(),
            1250
        );
        assert_eq!(
            Money::parse("12.5", gbp()).unwrap().to_minor().unwrap(),
            1250
        );
        assert!(matches!(
            Money::parse("12.505", gbp()),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::parse("1e3", gbp()),
            Err(MoneyError::BadAmount(_))
        ));
        assert!(matches!(
            Money::parse("NaN", gbp()),
            Err(MoneyError::BadAmount(_))
        ));
        assert_eq!(
            Currency::from_code("XXY"),
            Err(MoneyError::UnknownCurrency("XXY".into()))
        );
    }

    #[test]
    fn minor_units_follow_the_currency() {
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(jpy.minor_digits(), 0);
        assert_eq!(Money::from_minor(1500, jpy).display(), "¥1,500");
        assert!(Money::parse("1.5", jpy).is_err());
        let bhd = Currency::from_code("BHD").unwrap();
        assert_eq!(Money::from_minor(1234, bhd).display(), "1.234 BHD");
    }

    #[test]
    fn rounding_is_explicit() {
        let m = Money::new(Decimal::from_str("2.345").unwrap(), gbp());
        assert_eq!(m.round(Rounding::HalfUp).amount().to_string(), "2.35");
        assert_eq!(m.round(Rounding::HalfEven).amount().to_string(), "2.34");
        let neg = Money::new(Decimal::from_str("-2.345").unwrap(), gbp());
        assert_eq!(neg.round(Rounding::HalfUp).amount().to_string(), "-2.35");
    }

    #[test]
    fn display_groups_thousands() {
        assert_eq!(
            Money::from_minor(123456789, gbp()).display(),
            "£1,234,567.89"
        );
        assert_eq!(Money::from_minor(5, gbp()).display(), "£0.05");
        assert_eq!(Money::from_minor(-1999, gbp()).display(), "-£19.99");
        let chf = Currency::from_code("chf").unwrap();
        assert_eq!(Money::from_minor(100000, chf).display(), "1,000.00 CHF");
    }

    #[test]
    fn currencies_do_not_mix() {
        let usd = Currency::from_code("USD").unwrap();
        let err = Money::from_minor(1, gbp()).checked_add(Money::from_minor(1, usd));
        assert!(matches!(err, Err(MoneyError::CurrencyMismatch(_, _))));
        let sum = Money::from_minor(150, gbp()).checked_add(Money::from_minor(250, gbp()));
        assert_eq!(sum.unwrap().to_minor().unwrap(), 400);
    }
}
