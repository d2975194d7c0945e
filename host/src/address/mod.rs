//! Postal addresses: the form's validation (with the per-country rules in [`rules`]), the
//! country list, and a customer's address book ([`book`]).

pub mod book;
mod rules;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use book::{BookError, MAX_SAVED_ADDRESSES, SavedAddress, Which, get, list, remember};

const MAX_FIELD_CHARS: usize = 200;

/// The countries the shop ships to, ISO 3166-1 alpha-2 code and English name, in display order.
pub const COUNTRIES: &[(&str, &str)] = &[
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("LU", "Luxembourg"),
    ("ES", "Spain"),
    ("PT", "Portugal"),
    ("IT", "Italy"),
    ("AT", "Austria"),
    ("CH", "Switzerland"),
    ("DK", "Denmark"),
    ("SE", "Sweden"),
    ("NO", "Norway"),
    ("FI", "Finland"),
    ("IS", "Iceland"),
    ("PL", "Poland"),
    ("CZ", "Czechia"),
    ("SK", "Slovakia"),
    ("HU", "Hungary"),
    ("SI", "Slovenia"),
    ("HR", "Croatia"),
    ("RO", "Romania"),
    ("BG", "Bulgaria"),
    ("GR", "Greece"),
    ("CY", "Cyprus"),
    ("MT", "Malta"),
    ("EE", "Estonia"),
    ("LV", "Latvia"),
    ("LT", "Lithuania"),
    ("US", "United States"),
    ("CA", "Canada"),
    ("MX", "Mexico"),
    ("BR", "Brazil"),
    ("AR", "Argentina"),
    ("CL", "Chile"),
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
    ("JP", "Japan"),
    ("KR", "South Korea"),
    ("CN", "China"),
    ("HK", "Hong Kong"),
    ("SG", "Singapore"),
    ("IN", "India"),
    ("IL", "Israel"),
    ("AE", "United Arab Emirates"),
    ("ZA", "South Africa"),
];

pub fn country_name(code: &str) -> Option<&'static str> {
    COUNTRIES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// An address as entered and as copied onto orders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub postcode: String,
    pub country: String,
    #[serde(default)]
    pub phone: String,
}

impl Address {
    /// The address as a plugin sees it (no name or phone: a plugin quotes or pays for a place,
    /// not a person); empty optional fields are left out.
    pub fn plugin_address(&self) -> crate::plugins::calls::Address {
        let mut lines = vec![self.line1.clone()];
        if !self.line2.is_empty() {
            lines.push(self.line2.clone());
        }
        crate::plugins::calls::Address {
            country: self.country.clone(),
            postcode: (!self.postcode.is_empty()).then(|| self.postcode.clone()),
            lines,
            city: self.city.clone(),
            state: (!self.state.is_empty()).then(|| self.state.clone()),
        }
    }
}

/// Field name → message, for re-rendering a form.
pub type FieldErrors = BTreeMap<String, String>;

impl Address {
    /// Reads and validates the address fields of a form (`name`, `line1`, `line2`, `city`,
    /// `state`, `postcode`, `country`, `phone`). Text is trimmed, inner whitespace collapsed.
    /// The error holds what was typed (normalised) and a message per field, for the form.
    pub fn from_form(
        fields: &HashMap<String, String>,
    ) -> Result<Address, Box<(Address, FieldErrors)>> {
        Address::from_form_prefixed(fields, "")
    }

    /// Like [`Address::from_form`], for a second address on the same form whose fields are
    /// named with `prefix` (`billing_name`, …). The errors are keyed by the plain field names.
    pub fn from_form_prefixed(
        fields: &HashMap<String, String>,
        prefix: &str,
    ) -> Result<Address, Box<(Address, FieldErrors)>> {
        let get = |k: &str| {
            fields
                .get(&format!("{prefix}{k}"))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        let country = get("country").to_uppercase();
        let mut address = Address {
            name: get("name"),
            line1: get("line1"),
            line2: get("line2"),
            city: get("city"),
            state: rules::region_code(&country, &get("state")),
            postcode: get("postcode").to_uppercase(),
            country,
            phone: get("phone"),
        };
        let errors = address.problems();
        if errors.is_empty() {
            address.postcode = rules::tidy_postcode(&address.country, &address.postcode);
            Ok(address)
        } else {
            Err(Box::new((address, errors)))
        }
    }

    pub fn problems(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        let mut need = |field: &str, value: &str, what: &str| {
            if value.is_empty() {
                errors.insert(field.into(), format!("Enter {what}."));
            }
        };
        need("name", &self.name, "the recipient's name");
        need("line1", &self.line1, "the first line of the address");
        need("city", &self.city, "the town or city");
        for (field, value) in [
            ("name", &self.name),
            ("line1", &self.line1),
            ("line2", &self.line2),
            ("city", &self.city),
            ("state", &self.state),
            ("postcode", &self.postcode),
            ("phone", &self.phone),
        ] {
            if value.chars().count() > MAX_FIELD_CHARS {
                errors.insert(
                    field.into(),
                    format!("Use at most {MAX_FIELD_CHARS} characters."),
                );
            } else if value.chars().any(char::is_control) {
                errors.insert(field.into(), "Remove the control characters.".into());
            }
        }
        if country_name(&self.country).is_none() {
            errors.insert("country".into(), "Choose a country from the list.".into());
        } else {
            if let Some(problem) = rules::postcode_problem(&self.country, &self.postcode) {
                errors.entry("postcode".into()).or_insert(problem.into());
            }
            if let Some(problem) = rules::region_problem(&self.country, &self.state) {
                errors.entry("state".into()).or_insert(problem.into());
            }
        }
        if !self.phone.is_empty()
            && !self
                .phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            errors.insert(
                "phone".into(),
                "Use digits, spaces and + - ( ) only.".into(),
            );
        }
        errors
    }

    /// The address as lines for display ("Jane Doe", "1 High Street", "London SW1A 1AA", …).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![self.name.clone(), self.line1.clone()];
        if !self.line2.is_empty() {
            out.push(self.line2.clone());
        }
        let town = [
            self.city.as_str(),
            self.state.as_str(),
            self.postcode.as_str(),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
        out.push(town);
        out.push(
            country_name(&self.country)
                .unwrap_or(&self.country)
                .to_string(),
        );
        out
    }

    /// Same address, same digest: case and spacing don't make a new address-book entry.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            &self.name,
            &self.line1,
            &self.line2,
            &self.city,
            &self.state,
            &self.postcode,
            &self.country,
            &self.phone,
        ] {
            h.update(part.to_lowercase().as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_address_is_normalised() {
        let a = Address::from_form(&form(&[
            ("name", "  Jane   Doe "),
            ("line1", "1 High Street"),
            ("city", "London"),
            ("postcode", "sw1a 1aa"),
            ("country", "gb"),
        ]))
        .unwrap();
        assert_eq!(a.name, "Jane Doe");
        assert_eq!(a.postcode, "SW1A 1AA");
        assert_eq!(a.country, "GB");
        assert_eq!(a.lines().last().unwrap(), "United Kingdom");
    }

    #[test]
    fn problems_name_their_fields() {
        let (_, errors) = *Address::from_form(&form(&[
            ("line1", "x"),
            ("city", "Paris"),
            ("postcode", "7500"),
            ("country", "FR"),
            ("phone", "call me"),
        ]))
        .unwrap_err();
        assert!(errors.contains_key("name"));
        assert!(errors.contains_key("postcode"));
        assert!(errors.contains_key("phone"));
        assert!(!errors.contains_key("city"));
        let (_, errors) = *Address::from_form(&form(&[("country", "XX")])).unwrap_err();
        assert!(errors.contains_key("country"));
    }

    #[test]
    fn multibyte_postcodes_are_reported_on_the_form() {
        let (_, errors) = *Address::from_form(&form(&[
            ("name", "Jan"),
            ("line1", "Dam 1"),
            ("city", "Amsterdam"),
            ("postcode", "123\u{e9}5"),
            ("country", "NL"),
        ]))
        .unwrap_err();
        assert!(errors.contains_key("postcode"));
    }

    #[test]
    fn regions_and_postcodes_are_tidied_and_required() {
        let a = Address::from_form(&form(&[
            ("name", "Grace Hopper"),
            ("line1", "1 Main St"),
            ("city", "Arlington"),
            ("state", "virginia"),
            ("postcode", "22201"),
            ("country", "US"),
        ]))
        .unwrap();
        assert_eq!(a.state, "VA");
        let (typed, errors) = *Address::from_form(&form(&[
            ("name", "Grace Hopper"),
            ("line1", "1 Main St"),
            ("city", "Arlington"),
            ("postcode", "22201"),
            ("country", "US"),
        ]))
        .unwrap_err();
        assert_eq!(typed.city, "Arlington");
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["state"]);
        let uk = Address::from_form(&form(&[
            ("name", "Ada"),
            ("line1", "1 High Street"),
            ("city", "London"),
            ("postcode", "sw1a1aa"),
            ("country", "GB"),
        ]))
        .unwrap();
        assert_eq!(uk.postcode, "SW1A 1AA");
    }

    #[test]
    fn a_prefixed_address_reads_its_own_fields() {
        let fields = form(&[
            ("name", "Ship To"),
            ("billing_name", "Bill To"),
            ("billing_line1", "2 Low Road"),
            ("billing_city", "Leeds"),
            ("billing_postcode", "LS1 4AP"),
            ("billing_country", "GB"),
        ]);
        let billing = Address::from_form_prefixed(&fields, "billing_").unwrap();
        assert_eq!(billing.name, "Bill To");
        let (_, errors) =
            *Address::from_form_prefixed(&form(&[("name", "x")]), "billing_").unwrap_err();
        assert!(errors.contains_key("name") && errors.contains_key("line1"));
    }

    #[test]
    fn fingerprint_ignores_case() {
        let a = Address {
            name: "Jane".into(),
            country: "GB".into(),
            ..Default::default()
        };
        let b = Address {
            name: "JANE".into(),
            ..a.clone()
        };
        assert_eq!(a.fingerprint(), b.fingerprint());
    }
}
