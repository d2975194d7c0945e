//! WIT glue for {{id}}: authorize, capture, refund, void and callbacks.

mod logic;
mod money;

wit_bindgen::generate!({
    path: "wit",
    world: "{{world}}",
    // The world may import wasi:http (for real providers); generate those bindings too.
    generate_all,
});

use emporium::plugin::host::config_get;
use emporium::plugin::types::Money;
use exports::emporium::plugin::payment::{
    Approval, Callback, Guest, PaymentRequest, PaymentResult,
};

struct Plugin;

impl Guest for Plugin {
    fn authorize(request: PaymentRequest) -> PaymentResult {
        let limit = config_get("limit");
        let number = request.card.as_ref().map(|c| c.number.as_str());
        match logic::authorize(
            number,
            &request.amount.amount,
            limit.as_deref(),
            &request.order_number,
        ) {
            Ok(logic::Outcome::Approved { reference }) => PaymentResult::Approved(Approval {
                reference,
                amount: request.amount,
            }),
            Ok(logic::Outcome::Declined(message)) => PaymentResult::Declined(message),
            Err(message) => PaymentResult::Error(message),
        }
    }

    fn capture(reference: String, amount: Money) -> PaymentResult {
        PaymentResult::Approved(Approval { reference, amount })
    }

    fn refund(reference: String, amount: Money) -> PaymentResult {
        PaymentResult::Approved(Approval { reference, amount })
    }

    fn void(reference: String) -> PaymentResult {
        PaymentResult::Declined(format!("{reference}: nothing to void in the sandbox"))
    }

    fn handle_callback(_callback: Callback) -> PaymentResult {
        PaymentResult::Error("this gateway has no redirect flow".into())
    }
}

export!(Plugin);
