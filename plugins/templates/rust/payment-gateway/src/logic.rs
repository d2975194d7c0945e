//! What the plugin decides, in plain Rust (no WIT imports), so `cargo test` checks it natively.

use crate::money;

/// The outcome of an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approved { reference: String },
    Declined(String),
}

/// Whether `number` passes the Luhn check (spaces allowed).
pub fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()
        .unwrap_or_default();
    if digits.len() < 12 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (1, x) if x > 9 => x - 9,
            (1, x) => x,
            _ => *d,
        })
        .sum();
    sum % 10 == 0
}

/// 4000 0000 0000 0002 is declined, any other Luhn-valid number approved (up to `limit`).
pub fn authorize(
    number: Option<&str>,
    amount: &str,
    limit: Option<&str>,
    order_number: &str,
) -> Result<Outcome, String> {
    let Some(number) = number else {
        return Ok(Outcome::Declined("A card is required.".into()));
    };
    let compact: String = number.chars().filter(|c| *c != ' ').collect();
    if compact == "4000000000000002" {
        return Ok(Outcome::Declined("Your card was declined.".into()));
    }
    if !luhn_valid(&compact) {
        return Ok(Outcome::Declined("The card number is invalid.".into()));
    }
    if let Some(limit) = limit.filter(|l| !l.trim().is_empty()) {
        let limit = money::parse(limit).map_err(|e| format!("limit: {e}"))?;
        if money::parse(amount)? > limit {
            return Ok(Outcome::Declined("The amount is over this card's limit.".into()));
        }
    }
    Ok(Outcome::Approved {
        reference: format!("sandbox-{order_number}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_numbers_decide() {
        assert!(matches!(
            authorize(Some("4242 4242 4242 4242"), "10.00", None, "1").unwrap(),
            Outcome::Approved { .. }
        ));
        assert!(matches!(
            authorize(Some("4000000000000002"), "10.00", None, "1").unwrap(),
            Outcome::Declined(_)
        ));
        assert!(matches!(
            authorize(Some("4242424242424241"), "10.00", None, "1").unwrap(),
            Outcome::Declined(m) if m.contains("invalid")
        ));
        assert!(matches!(
            authorize(Some("4242424242424242"), "100.00", Some("50"), "1").unwrap(),
            Outcome::Declined(m) if m.contains("limit")
        ));
    }
}
