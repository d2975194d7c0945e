//! A test card gateway that behaves like a provider's sandbox: the card number decides.
//!
//! | number | outcome |
//! |---|---|
//! | 4242 4242 4242 4242 (or any other Luhn-valid number) | approved |
//! | 4000 0000 0000 0002 | declined: card declined |
//! | 4000 0000 0000 9995 | declined: insufficient funds |
//! | 4000 0000 0000 0069 | declined: expired card |
//! | 4000 0000 0000 0119 | error: processing error (gateway fault) |
//! | a number failing the Luhn check | declined: invalid number |
//!
//! References are `tc_<order number>`; capture/refund/void accept only such references. The
//! `refuse` setting (a comma-separated list of `capture`, `refund`, `void`) makes those calls
//! decline, to test how the shop handles a provider that says no.

use emporium_plugin_sdk::payment::{Approval, Card, PaymentRequest, PaymentResult};
use emporium_plugin_sdk::{Decimal, Money, PaymentGateway, config, money};

/// The Luhn checksum that every real card number satisfies.
pub fn luhn_valid(number: &str) -> bool {
    if number.len() < 12 || number.len() > 19 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn declined(message: &str) -> PaymentResult {
    PaymentResult::Declined(message.to_string())
}

/// Decides an authorization. `today` is (year, month) for the expiry check.
pub fn authorize(
    request: &PaymentRequest,
    decline_over: Option<Decimal>,
    today: (u16, u8),
) -> PaymentResult {
    let Some(card) = &request.card else {
        return PaymentResult::Error("the test gateway needs card details".into());
    };
    let amount = match money::parse_amount(&request.amount.amount) {
        Ok(a) if a > Decimal::ZERO => a,
        _ => return PaymentResult::Error("amount must be a positive decimal".into()),
    };
    let number: String = card.number.chars().filter(|c| !c.is_whitespace()).collect();
    if !luhn_valid(&number) {
        return declined("Your card number is invalid.");
    }
    if expired(card, today) {
        return declined("Your card has expired.");
    }
    match number.as_str() {
        "4000000000000002" => return declined("Your card was declined."),
        "4000000000009995" => return declined("Your card has insufficient funds."),
        "4000000000000069" => return declined("Your card has expired."),
        "4000000000000119" => {
            return PaymentResult::Error("test gateway: simulated processing error".into());
        }
        _ => {}
    }
    if decline_over.is_some_and(|limit| amount > limit) {
        return declined("The amount exceeds your card's limit.");
    }
    PaymentResult::Approved(Approval {
        reference: format!("tc_{}", request.order_number),
        amount: request.amount.clone(),
    })
}

fn expired(card: &Card, (year, month): (u16, u8)) -> bool {
    card.expiry_month == 0
        || card.expiry_month > 12
        || (card.expiry_year, card.expiry_month) < (year, month)
}

/// Capture, refund and void only check that the reference is one of ours, and that the
/// `refuse` setting does not name them.
pub fn follow_up(call: &str, refuse: &str, reference: &str, amount: Money) -> PaymentResult {
    if refuse.split(',').any(|c| c.trim() == call) {
        return declined(&format!(
            "The test gateway refuses every {call} (its refuse setting)."
        ));
    }
    if !reference.starts_with("tc_") {
        return PaymentResult::Error(format!("unknown reference {reference:?}"));
    }
    PaymentResult::Approved(Approval {
        reference: reference.to_string(),
        amount,
    })
}

/// (year, month) from Unix seconds (UTC), without a date library.
pub fn year_month(unix_seconds: i64) -> (u16, u8) {
    // Civil-from-days (Howard Hinnant's algorithm).
    let days = unix_seconds.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (u16::try_from(year).unwrap_or(u16::MAX), month as u8)
}

struct TestCards;

fn refused() -> String {
    config::get("refuse").unwrap_or_default()
}

impl PaymentGateway for TestCards {
    fn authorize(request: PaymentRequest) -> PaymentResult {
        let decline_over = match config::get("decline_over").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(raw) => match config::parse::<Decimal>("decline_over", &raw) {
                Ok(v) => Some(v),
                Err(e) => return PaymentResult::Error(format!("{e:?}")),
            },
        };
        let today = year_month(emporium_plugin_sdk::now().seconds);
        authorize(&request, decline_over, today)
    }
    fn capture(reference: String, amount: Money) -> PaymentResult {
        follow_up("capture", &refused(), &reference, amount)
    }
    fn refund(reference: String, amount: Money) -> PaymentResult {
        follow_up("refund", &refused(), &reference, amount)
    }
    fn void(reference: String) -> PaymentResult {
        follow_up("void", &refused(), &reference, Money::zero("XXX"))
    }
}

emporium_plugin_sdk::export_payment!(TestCards);

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_plugin_sdk::testing::anonymous;

    fn request(number: &str) -> PaymentRequest {
        PaymentRequest {
            order_number: "100042".into(),
            amount: Money {
                amount: "25.00".into(),
                currency: "EUR".into(),
            },
            customer: anonymous(),
            billing_address: None,
            card: Some(Card {
                number: number.into(),
                expiry_month: 12,
                expiry_year: 2030,
                cvc: "123".into(),
                holder_name: "A Tester".into(),
            }),
            return_url: "http://127.0.0.1/return".into(),
            idempotency_key: "k1".into(),
        }
    }

    const TODAY: (u16, u8) = (2026, 1);

    #[test]
    fn sandbox_numbers_decide() {
        assert!(
            matches!(authorize(&request("4242424242424242"), None, TODAY), PaymentResult::Approved(a) if a.reference == "tc_100042")
        );
        assert!(
            matches!(authorize(&request("4000000000000002"), None, TODAY), PaymentResult::Declined(m) if m.contains("declined"))
        );
        assert!(matches!(
            authorize(&request("4000000000000119"), None, TODAY),
            PaymentResult::Error(_)
        ));
        assert!(
            matches!(authorize(&request("4242424242424241"), None, TODAY), PaymentResult::Declined(m) if m.contains("invalid"))
        );
        assert!(matches!(
            authorize(&request("4242 4242 4242 4242"), Some(Decimal::TEN), TODAY),
            PaymentResult::Declined(_)
        ));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("4000000000000119"));
        assert!(!luhn_valid("4242424242424243"));
        assert!(!luhn_valid("42424242424242a2"));
    }

    #[test]
    fn calendar() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(1_767_225_600), (2026, 1)); // 2026-01-01
        assert_eq!(year_month(1_772_323_199), (2026, 2)); // 2026-02-28T23:59:59
    }

    #[test]
    fn expired_cards_are_declined() {
        let mut r = request("4242424242424242");
        if let Some(card) = r.card.as_mut() {
            card.expiry_year = 2025;
        }
        assert!(
            matches!(authorize(&r, None, TODAY), PaymentResult::Declined(m) if m.contains("expired"))
        );
    }

    #[test]
    fn follow_ups_check_the_reference_and_the_refuse_setting() {
        let ten = Money {
            amount: "10.00".into(),
            currency: "EUR".into(),
        };
        assert!(matches!(
            follow_up("capture", "", "tc_1", ten.clone()),
            PaymentResult::Approved(a) if a.amount.amount == "10.00"
        ));
        assert!(matches!(
            follow_up("capture", "", "other", ten.clone()),
            PaymentResult::Error(_)
        ));
        assert!(matches!(
            follow_up("refund", "capture, refund", "tc_1", ten.clone()),
            PaymentResult::Declined(m) if m.contains("refund")
        ));
        assert!(matches!(
            follow_up("void", "capture,refund", "tc_1", ten),
            PaymentResult::Approved(_)
        ));
    }
}
