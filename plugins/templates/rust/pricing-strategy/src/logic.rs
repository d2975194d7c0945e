//! What the plugin decides, in plain Rust (no WIT imports), so `cargo test` checks it natively.

use crate::money;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub discount_from: u32,
    pub discount_percent: i64,
    pub tax_percent: i64,
}

impl Settings {
    /// Reads the settings through `get` (the host's `config-get`); errors name the key.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let int = |key: &str, default: i64, max: i64| -> Result<i64, String> {
            match get(key).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<i64>() {
                    Ok(n) if (0..=max).contains(&n) => Ok(n),
                    _ => Err(format!("{key}: {v:?} must be a whole number from 0 to {max}")),
                },
            }
        };
        Ok(Settings {
            discount_from: u32::try_from(int("discount_from", 10, i64::from(u32::MAX))?)
                .unwrap_or(u32::MAX),
            discount_percent: int("discount_percent", 5, 100)?,
            tax_percent: int("tax_percent", 20, 100)?,
        })
    }
}

/// A unit price in hundredths: (excluding tax, including tax).
pub fn unit_price(settings: &Settings, partner_price: &str, quantity: u32) -> Result<(i64, i64), String> {
    let base = money::parse(partner_price)?;
    let excl = if quantity >= settings.discount_from {
        base - money::percent_of(base, settings.discount_percent)
    } else {
        base
    };
    Ok((excl, excl + money::percent_of(excl, settings.tax_percent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::read(|_| None).unwrap()
    }

    #[test]
    fn discount_from_the_quantity_then_tax() {
        assert_eq!(unit_price(&settings(), "10.00", 1).unwrap(), (1000, 1200));
        assert_eq!(unit_price(&settings(), "10.00", 10).unwrap(), (950, 1140));
    }

    #[test]
    fn bad_settings_name_the_key() {
        let err = Settings::read(|k| (k == "discount_percent").then(|| "200".into())).unwrap_err();
        assert!(err.starts_with("discount_percent:"), "{err}");
    }
}
