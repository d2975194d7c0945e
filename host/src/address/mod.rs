//! Postal addresses: the form's validation, the country list, and a customer's address book.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::infra::db::{flag, now_text};

const MAX_FIELD_CHARS: usize = 200;
/// Addresses kept per customer: enough for anyone, bounded for everyone.
pub const MAX_SAVED_ADDRESSES: i64 = 50;

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
        let get = |k: &str| {
            fields
                .get(k)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        let address = Address {
            name: get("name"),
            line1: get("line1"),
            line2: get("line2"),
            city: get("city"),
            state: get("state"),
            postcode: get("postcode").to_uppercase(),
            country: get("country").to_uppercase(),
            phone: get("phone"),
        };
        let errors = address.problems();
        if errors.is_empty() {
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
        } else if let Some(problem) = postcode_problem(&self.country, &self.postcode) {
            errors.insert("postcode".into(), problem.into());
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

/// Postcode rules for the countries where a wrong one surely means a typo.
///
/// The rules look at characters, never at byte positions: a postcode is whatever the visitor
/// typed, and slicing it by bytes would split a multibyte character (and panic).
fn postcode_problem(country: &str, postcode: &str) -> Option<&'static str> {
    let compact: Vec<char> = postcode.chars().filter(|c| !c.is_whitespace()).collect();
    let all = |part: &[char], test: fn(&char) -> bool| part.iter().all(test);
    let digits = |n: usize| compact.len() == n && all(&compact, char::is_ascii_digit);
    match country {
        "GB" => {
            // Outward code (letter, then letters/digits) + inward code (digit, two letters).
            let ok = (5..=7).contains(&compact.len())
                && all(&compact, char::is_ascii_alphanumeric)
                && compact[0].is_ascii_alphabetic()
                && {
                    let inward = &compact[compact.len() - 3..];
                    inward[0].is_ascii_digit()
                        && inward[1].is_ascii_alphabetic()
                        && inward[2].is_ascii_alphabetic()
                };
            (!ok).then_some("Enter a UK postcode, like SW1A 1AA.")
        }
        "US" => {
            let ok = digits(5)
                || (compact.len() == 10
                    && compact[5] == '-'
                    && all(&compact[..5], char::is_ascii_digit)
                    && all(&compact[6..], char::is_ascii_digit));
            (!ok).then_some("Enter a ZIP code, like 94105 or 94105-1234.")
        }
        "DE" | "FR" | "ES" | "IT" | "FI" => (!digits(5)).then_some("Enter a five-digit postcode."),
        "NL" => {
            let ok = compact.len() == 6
                && all(&compact[..4], char::is_ascii_digit)
                && all(&compact[4..], char::is_ascii_alphabetic);
            (!ok).then_some("Enter a postcode like 1234 AB.")
        }
        "IE" | "HK" | "AE" => None,
        _ if compact.is_empty() => Some("Enter the postcode."),
        _ => None,
    }
}

/// An address-book entry.
#[derive(Debug, Clone, Serialize)]
pub struct SavedAddress {
    pub id: i64,
    pub address: Address,
    pub is_default: bool,
}

fn saved_from_row(row: &AnyRow) -> Result<SavedAddress, sqlx::Error> {
    Ok(SavedAddress {
        id: row.try_get("id")?,
        is_default: flag(row, "is_default")?,
        address: Address {
            name: row.try_get("name")?,
            line1: row.try_get("line1")?,
            line2: row.try_get("line2")?,
            city: row.try_get("city")?,
            state: row.try_get("state")?,
            postcode: row.try_get("postcode")?,
            country: row.try_get("country")?,
            phone: row.try_get("phone")?,
        },
    })
}

const COLUMNS: &str = "id, name, line1, line2, city, state, postcode, country, phone, is_default";

/// A customer's saved addresses, the default first, then the newest.
pub async fn list(pool: &AnyPool, customer_id: i64) -> Result<Vec<SavedAddress>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customer_address WHERE customer_id = $1 \
         ORDER BY is_default DESC, id DESC"
    )))
    .bind(customer_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(saved_from_row)
    .collect()
}

/// One of the customer's addresses; `None` when it isn't theirs.
pub async fn get(
    pool: &AnyPool,
    customer_id: i64,
    id: i64,
) -> Result<Option<SavedAddress>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customer_address WHERE customer_id = $1 AND id = $2"
    )))
    .bind(customer_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(saved_from_row)
    .transpose()
}

/// Saves an address to the customer's book (once: an equal address is not added again) and
/// makes it the default. Inside the caller's transaction.
pub async fn remember(
    conn: &mut sqlx::AnyConnection,
    customer_id: i64,
    address: &Address,
) -> Result<(), sqlx::Error> {
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM customer_address WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let fingerprint = address.fingerprint();
    sqlx::query("UPDATE customer_address SET is_default = FALSE WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
    let updated = sqlx::query(
        "UPDATE customer_address SET is_default = TRUE WHERE customer_id = $1 AND fingerprint = $2",
    )
    .bind(customer_id)
    .bind(&fingerprint)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 && count < MAX_SAVED_ADDRESSES {
        sqlx::query(
            "INSERT INTO customer_address (customer_id, name, line1, line2, city, state, postcode, \
             country, phone, fingerprint, is_default, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE, $11)",
        )
        .bind(customer_id)
        .bind(&address.name)
        .bind(&address.line1)
        .bind(&address.line2)
        .bind(&address.city)
        .bind(&address.state)
        .bind(&address.postcode)
        .bind(&address.country)
        .bind(&address.phone)
        .bind(&fingerprint)
        .bind(now_text())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes one of the customer's addresses; false when it wasn't theirs.
pub async fn delete(pool: &AnyPool, customer_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM customer_address WHERE customer_id = $1 AND id = $2")
            .bind(customer_id)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
            == 1,
    )
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
    fn postcodes_by_country() {
        assert!(postcode_problem("GB", "EC1A 1BB").is_none());
        assert!(postcode_problem("GB", "12345").is_some());
        assert!(postcode_problem("US", "94105-1234").is_none());
        assert!(postcode_problem("US", "9410").is_some());
        assert!(postcode_problem("NL", "1234 AB").is_none());
        assert!(postcode_problem("IE", "").is_none());
        assert!(postcode_problem("JP", "").is_some());
    }

    #[test]
    fn multibyte_postcodes_are_refused_not_sliced() {
        // "123é5" is six bytes: a byte-position rule would slice inside the "é" and panic.
        for country in ["NL", "US", "GB", "DE", "FR", "JP", "IE"] {
            for postcode in [
                "123é5",
                "1234 ÅB",
                "12345-678é",
                "é",
                "SW1A 1Aé",
                "ｓｗ１ａ１ａａ",
                "💷💷💷💷💷💷",
            ] {
                let problem = postcode_problem(country, postcode);
                if !["JP", "IE"].contains(&country) {
                    assert!(problem.is_some(), "{country} accepted {postcode:?}");
                }
            }
        }
        // Full-width digits are digits to Unicode, not to the Dutch post office.
        assert!(postcode_problem("NL", "１２３４AB").is_some());
        assert!(postcode_problem("NL", "1234ÅB").is_some());
        assert!(postcode_problem("NL", "1234 ab").is_none());
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
