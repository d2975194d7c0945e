//! What the plugin decides, in plain Rust (no WIT imports), so `cargo test` checks it natively.
//!
//! Spend threshold: the basket qualifies when the lines in a category (or all lines) add up to
//! at least `min_total` including tax. It uses up those lines, so the same units do not count
//! towards another offer; units an earlier offer used up are not counted again.

use std::collections::HashMap;

use crate::money;

/// The plugin's settings, read once per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Hundredths of the basket's currency.
    pub min_total: i64,
    /// `None`: every line counts.
    pub category: Option<String>,
}

impl Settings {
    /// Reads the settings through `get` (the host's `config-get`); errors name the key.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let set = |key: &str| get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let min_total = match set("min_total") {
            Some(v) => money::parse(&v).map_err(|e| format!("min_total: {e}"))?,
            None => 5000,
        };
        Ok(Settings {
            min_total,
            category: set("category"),
        })
    }
}

/// A basket line as the rule sees it.
pub struct Line<'a> {
    pub line_id: &'a str,
    pub quantity: u32,
    pub unit_price_incl_tax: &'a str,
    pub categories: &'a [String],
}

/// The condition's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub is_satisfied: bool,
    /// (line id, units) used up; empty when not satisfied.
    pub consumed: Vec<(String, u32)>,
    pub upsell_message: Option<String>,
}

/// True when one of the product's category paths is `wanted` or lies below it.
pub fn in_category(categories: &[String], wanted: &str) -> bool {
    categories.iter().any(|path| {
        path == wanted
            || path
                .strip_prefix(wanted)
                .is_some_and(|rest| rest.starts_with(" > "))
    })
}

pub fn check(
    settings: &Settings,
    currency: &str,
    lines: &[Line<'_>],
    already_consumed: &[(&str, u32)],
) -> Result<Decision, String> {
    let mut used: HashMap<&str, u32> = HashMap::new();
    for &(id, quantity) in already_consumed {
        *used.entry(id).or_default() += quantity;
    }
    let mut eligible = Vec::new();
    let mut total: i64 = 0;
    for line in lines {
        if let Some(category) = &settings.category
            && !in_category(line.categories, category)
        {
            continue;
        }
        let free = line
            .quantity
            .saturating_sub(used.get(line.line_id).copied().unwrap_or(0));
        if free == 0 {
            continue;
        }
        eligible.push((line.line_id.to_string(), free));
        let unit = money::parse(line.unit_price_incl_tax)?;
        total = unit
            .checked_mul(i64::from(free))
            .and_then(|t| t.checked_add(total))
            .ok_or("basket total too large")?;
    }
    if !eligible.is_empty() && total >= settings.min_total {
        return Ok(Decision {
            is_satisfied: true,
            consumed: eligible,
            upsell_message: None,
        });
    }
    let missing = money::format((settings.min_total - total).max(0));
    let place = match &settings.category {
        Some(c) => format!(" on {c}"),
        None => String::new(),
    };
    Ok(Decision {
        is_satisfied: false,
        consumed: Vec::new(),
        upsell_message: Some(format!("Spend {missing} {currency} more{place} to qualify")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min_total: Option<&str>, category: Option<&str>) -> Settings {
        Settings::read(|k| match k {
            "min_total" => min_total.map(String::from),
            "category" => category.map(String::from),
            _ => None,
        })
        .unwrap()
    }

    fn line<'a>(id: &'a str, quantity: u32, categories: &'a [String]) -> Line<'a> {
        Line {
            line_id: id,
            quantity,
            unit_price_incl_tax: "12.00",
            categories,
        }
    }

    #[test]
    fn the_spend_threshold_consumes_the_lines_or_nudges() {
        let books = ["Books".to_string()];
        let s = settings(None, None);
        let d = check(&s, "GBP", &[line("a", 3, &books), line("b", 2, &books)], &[]).unwrap();
        assert!(d.is_satisfied);
        assert_eq!(d.consumed, vec![("a".to_string(), 3), ("b".to_string(), 2)]);
        let d = check(&s, "GBP", &[line("a", 1, &books)], &[]).unwrap();
        assert!(!d.is_satisfied && d.consumed.is_empty());
        assert_eq!(d.upsell_message.as_deref(), Some("Spend 38.00 GBP more to qualify"));
    }

    #[test]
    fn units_used_by_earlier_offers_do_not_count() {
        let books = ["Books".to_string()];
        let lines = [line("a", 5, &books)];
        let d = check(&settings(None, None), "GBP", &lines, &[("a", 2)]).unwrap();
        assert_eq!(d.upsell_message.as_deref(), Some("Spend 14.00 GBP more to qualify"));
        let d = check(&settings(Some("36"), None), "GBP", &lines, &[("a", 2)]).unwrap();
        assert_eq!(d.consumed, vec![("a".to_string(), 3)]);
    }

    #[test]
    fn a_category_and_its_subcategories() {
        let (crime, music) = (["Books > Crime".to_string()], ["Music".to_string()]);
        let lines = [line("a", 5, &crime), line("b", 5, &music)];
        let d = check(&settings(None, Some("Books")), "GBP", &lines, &[]).unwrap();
        assert_eq!(d.consumed, vec![("a".to_string(), 5)]);
        let d = check(&settings(None, Some("Music > Jazz")), "GBP", &lines, &[]).unwrap();
        assert_eq!(
            d.upsell_message.as_deref(),
            Some("Spend 50.00 GBP more on Music > Jazz to qualify")
        );
    }

    #[test]
    fn bad_settings_name_the_key() {
        let err = Settings::read(|k| (k == "min_total").then(|| "lots".into())).unwrap_err();
        assert!(err.starts_with("min_total:"), "{err}");
    }
}
