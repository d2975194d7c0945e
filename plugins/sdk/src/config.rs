//! Typed access to the plugin's own configuration (the `[config]` schema of its `plugin.toml`,
//! filled in by the shop administrator). The host has already validated values against the
//! schema, but a plugin must still not trust them blindly: the getters turn a bad value into a
//! `PluginError::Config` naming the key.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::PluginError;

/// The raw text value of `key`, or `None` when neither the administrator nor the schema's
/// default set it.
pub fn get(key: &str) -> Option<String> {
    crate::base::emporium::plugin::host::config_get(key)
}

/// The text value of `key`, or an error naming it when unset.
pub fn required(key: &str) -> Result<String, PluginError> {
    get(key).ok_or_else(|| PluginError::Config(format!("`{key}` is not set")))
}

/// Parses a configuration value that was read elsewhere; shared by the typed getters so that
/// they can be tested without the host.
pub fn parse<T: FromStr>(key: &str, raw: &str) -> Result<T, PluginError> {
    raw.trim().parse::<T>().map_err(|_| {
        PluginError::Config(format!(
            "`{key}` has the value {raw:?}, which is not a valid {}",
            std::any::type_name::<T>()
        ))
    })
}

/// A decimal value (money amounts, thresholds). Never goes through a float.
pub fn decimal(key: &str) -> Result<Decimal, PluginError> {
    parse(key, &required(key)?)
}

/// A decimal value, or `default` when unset.
pub fn decimal_or(key: &str, default: Decimal) -> Result<Decimal, PluginError> {
    match get(key) {
        Some(raw) => parse(key, &raw),
        None => Ok(default),
    }
}

/// An integer value.
pub fn integer(key: &str) -> Result<i64, PluginError> {
    parse(key, &required(key)?)
}

/// An integer value, or `default` when unset.
pub fn integer_or(key: &str, default: i64) -> Result<i64, PluginError> {
    match get(key) {
        Some(raw) => parse(key, &raw),
        None => Ok(default),
    }
}

/// A boolean value ("true"/"false"), or `default` when unset.
pub fn boolean_or(key: &str, default: bool) -> Result<bool, PluginError> {
    match get(key) {
        Some(raw) => parse(key, &raw),
        None => Ok(default),
    }
}

/// A text value, or `default` when unset.
pub fn string_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_key() {
        let err = parse::<Decimal>("threshold", "ten").unwrap_err();
        assert!(matches!(err, PluginError::Config(m) if m.contains("threshold")));
        assert_eq!(
            parse::<Decimal>("x", " 12.50 ").unwrap(),
            Decimal::new(1250, 2)
        );
    }
}
