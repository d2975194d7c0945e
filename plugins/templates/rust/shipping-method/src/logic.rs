//! What the plugin decides, in plain Rust (no WIT imports), so `cargo test` checks it natively.

use crate::money;

/// The plugin's settings, read once per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Hundredths of the basket's currency.
    pub charge: i64,
    pub free_over: Option<i64>,
}

impl Settings {
    /// Reads the settings through `get` (the host's `config-get`); errors name the key.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let amount = |key: &str| -> Result<Option<i64>, String> {
            match get(key).filter(|v| !v.trim().is_empty()) {
                Some(v) => money::parse(&v).map(Some).map_err(|e| format!("{key}: {e}")),
                None => Ok(None),
            }
        };
        Ok(Settings {
            charge: amount("charge")?.ok_or("charge: required but not set")?,
            free_over: amount("free_over")?,
        })
    }
}

/// One shipping method offered for the basket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub code: String,
    pub name: String,
    pub description: String,
    pub charge: i64,
}

/// The methods for a basket whose total including tax is `total_incl_tax`.
pub fn quote(
    settings: &Settings,
    total_incl_tax: &str,
    has_address: bool,
) -> Result<Vec<Decision>, String> {
    if !has_address {
        return Ok(Vec::new());
    }
    let total = money::parse(total_incl_tax)?;
    let charge = match settings.free_over {
        Some(threshold) if total >= threshold => 0,
        _ => settings.charge,
    };
    Ok(vec![Decision {
        code: "flat".into(),
        name: "Standard delivery".into(),
        description: "Delivered in 2 to 4 working days".into(),
        charge,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(free_over: Option<&str>) -> Settings {
        Settings::read(|k| match k {
            "charge" => Some("4.95".into()),
            "free_over" => free_over.map(String::from),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn charges_until_the_threshold() {
        let s = settings(Some("50"));
        assert_eq!(quote(&s, "49.99", true).unwrap()[0].charge, 495);
        assert_eq!(quote(&s, "50.00", true).unwrap()[0].charge, 0);
        assert_eq!(quote(&settings(None), "500.00", true).unwrap()[0].charge, 495);
    }

    #[test]
    fn no_address_no_quote_and_bad_settings_name_the_key() {
        assert!(quote(&settings(None), "10.00", false).unwrap().is_empty());
        let err = Settings::read(|k| (k == "charge").then(|| "lots".into())).unwrap_err();
        assert!(err.starts_with("charge:"), "{err}");
    }
}
