//! A payment gateway that misbehaves in the way its `mode` config says, so the checkout tests
//! can check that no order is placed and nothing is allocated when a gateway traps, overruns
//! its time budget or answers nonsense. Voids are counted in the reference so tests can see them.

use std::hint::black_box;

use emporium_plugin_sdk::payment::{Approval, PaymentRequest, PaymentResult};
use emporium_plugin_sdk::{Money, PaymentGateway, config};

fn approval(reference: &str, amount: Money) -> PaymentResult {
    PaymentResult::Approved(Approval {
        reference: reference.to_string(),
        amount,
    })
}

struct Hostile;

impl PaymentGateway for Hostile {
    fn authorize(request: PaymentRequest) -> PaymentResult {
        let mode = config::get("mode").unwrap_or_else(|| "approve".into());
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            // Waits on the host (a monotonic-clock subscription) for an hour instead of
            // answering.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                PaymentResult::Error("hostile gateway woke up".into())
            }
            "panic" => panic!("hostile gateway panics on purpose"),
            "overpay" => {
                // Approves more than was asked: the host must refuse it.
                let mut amount = request.amount.clone();
                amount.amount = format!("{}9", amount.amount);
                approval(&format!("hg_{}", request.order_number), amount)
            }
            "wrong_currency" => {
                // The requested figure in another currency: the host must refuse it.
                let mut amount = request.amount.clone();
                amount.currency = if amount.currency == "JPY" { "GBP" } else { "JPY" }.into();
                approval(&format!("hg_{}", request.order_number), amount)
            }
            "error" => PaymentResult::Error("hostile gateway fault".into()),
            _ => approval(&format!("hg_{}", request.order_number), request.amount),
        }
    }

    fn capture(reference: String, amount: Money) -> PaymentResult {
        approval(&reference, amount)
    }

    fn refund(reference: String, amount: Money) -> PaymentResult {
        approval(&reference, amount)
    }

    fn void(reference: String) -> PaymentResult {
        if config::get("void_fails").as_deref() == Some("true") {
            return PaymentResult::Error("hostile gateway refuses to void".into());
        }
        approval(&reference, Money::zero("XXX"))
    }
}

emporium_plugin_sdk::export_payment!(Hostile);
