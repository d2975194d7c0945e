//! A redirect-style gateway: `authorize` creates a payment at the provider and returns the
//! provider's hosted page as a `next-action`; `handle-callback` asks the provider for the
//! payment's real status (a return URL can be called by anyone, so it is never trusted).
//!
//! Provider API (JSON, `authorization: Bearer <api_key>`):
//! - `POST {base}/payments` `{order, amount, currency, return_url}` → `{id, redirect_url}`
//! - `GET {base}/payments/{id}` → `{id, status: succeeded|failed|pending, amount, currency}`
//! - `POST {base}/payments/{id}/capture|refund` `{amount}` and `POST .../cancel` → `{status}`

use emporium_plugin_sdk::payment::{
    Approval, Callback, PaymentRequest, PaymentResult, Redirect, http,
};
use emporium_plugin_sdk::{Money, PaymentGateway, config};
use serde_json::{Value, json};

struct Provider {
    base: String,
    api_key: String,
}

impl Provider {
    fn from_config() -> Result<Provider, PaymentResult> {
        let get =
            |key: &str| config::required(key).map_err(|e| PaymentResult::Error(format!("{e:?}")));
        Ok(Provider {
            base: get("base_url")?.trim_end_matches('/').to_string(),
            api_key: get("api_key")?,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        let auth = format!("Bearer {}", self.api_key);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = http::send(
            method,
            &format!("{}{path}", self.base),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )?;
        let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Ok((response.status, value))
    }
}

/// Turns the provider's view of a payment into an outcome.
pub fn outcome(status: u16, payment: &Value, reference: &str) -> PaymentResult {
    // The provider knows no such payment: a forged or mistyped id, refused (a declined answer)
    // rather than a gateway fault, so a webhook naming it is not asked to be sent again.
    if status == 404 {
        return PaymentResult::Declined("The payment was not completed.".into());
    }
    if status != 200 {
        return PaymentResult::Error(format!("provider answered HTTP {status}"));
    }
    let text = |k: &str| {
        payment
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match text("status").as_str() {
        "succeeded" => PaymentResult::Approved(Approval {
            reference: reference.to_string(),
            amount: Money {
                amount: text("amount"),
                currency: text("currency"),
            },
        }),
        "failed" => PaymentResult::Declined("The payment was not completed.".into()),
        "pending" => PaymentResult::Error("the payment is still pending at the provider".into()),
        other => PaymentResult::Error(format!("unexpected provider status {other:?}")),
    }
}

fn is_payment_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The payment id from a callback: the known reference, else `payment_id=` in the query, else
/// (a webhook) `payment_id` in the JSON body. Whatever it names is then looked up at the
/// provider: the callback itself is never trusted for the outcome.
pub fn callback_reference(callback: &Callback) -> Option<String> {
    callback
        .reference
        .clone()
        .or_else(|| {
            callback.query.split('&').find_map(|pair| {
                pair.strip_prefix("payment_id=")
                    .filter(|id| is_payment_id(id))
                    .map(str::to_string)
            })
        })
        .or_else(|| {
            let body: Value = serde_json::from_slice(&callback.body).ok()?;
            body.get("payment_id")
                .and_then(Value::as_str)
                .filter(|id| is_payment_id(id))
                .map(str::to_string)
        })
}

fn follow_up(reference: &str, action: &str, amount: Option<Money>) -> PaymentResult {
    let provider = match Provider::from_config() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let body = amount
        .as_ref()
        .map(|a| json!({ "amount": a.amount, "currency": a.currency }));
    match provider.call("POST", &format!("/payments/{reference}/{action}"), body) {
        Ok((200, v)) if v.get("status").and_then(Value::as_str) == Some("succeeded") => {
            PaymentResult::Approved(Approval {
                reference: reference.to_string(),
                amount: amount.unwrap_or_else(|| Money::zero("XXX")),
            })
        }
        Ok((status, _)) => PaymentResult::Error(format!("{action} failed: HTTP {status}")),
        Err(e) => PaymentResult::Error(e),
    }
}

struct RedirectGateway;

impl PaymentGateway for RedirectGateway {
    fn authorize(request: PaymentRequest) -> PaymentResult {
        let provider = match Provider::from_config() {
            Ok(p) => p,
            Err(e) => return e,
        };
        let body = json!({
            "order": request.order_number,
            "amount": request.amount.amount,
            "currency": request.amount.currency,
            "return_url": request.return_url,
            "idempotency_key": request.idempotency_key,
        });
        match provider.call("POST", "/payments", Some(body)) {
            Ok((201, v)) => {
                let id = v.get("id").and_then(Value::as_str);
                let url = v.get("redirect_url").and_then(Value::as_str);
                match (id, url) {
                    (Some(id), Some(url)) => PaymentResult::NextAction(Redirect {
                        url: url.to_string(),
                        reference: id.to_string(),
                    }),
                    _ => PaymentResult::Error("provider answer lacks id or redirect_url".into()),
                }
            }
            Ok((402, _)) => {
                PaymentResult::Declined("The payment provider refused this payment.".into())
            }
            Ok((status, _)) => PaymentResult::Error(format!("provider answered HTTP {status}")),
            Err(e) => PaymentResult::Error(e),
        }
    }

    fn handle_callback(callback: Callback) -> PaymentResult {
        let Some(reference) = callback_reference(&callback) else {
            // Nothing to look up: the caller's mistake (or a forgery), not a gateway fault.
            return PaymentResult::Declined("The payment was not completed.".into());
        };
        let provider = match Provider::from_config() {
            Ok(p) => p,
            Err(e) => return e,
        };
        match provider.call("GET", &format!("/payments/{reference}"), None) {
            Ok((status, v)) => outcome(status, &v, &reference),
            Err(e) => PaymentResult::Error(e),
        }
    }

    fn capture(reference: String, amount: Money) -> PaymentResult {
        follow_up(&reference, "capture", Some(amount))
    }

    fn refund(reference: String, amount: Money) -> PaymentResult {
        follow_up(&reference, "refund", Some(amount))
    }

    fn void(reference: String) -> PaymentResult {
        match follow_up(&reference, "cancel", None) {
            approved @ PaymentResult::Approved(_) => approved,
            // The answer to an earlier cancel may have been lost on the way (the host retries
            // voids it could not confirm): a payment the provider already shows as voided is.
            failed => match Provider::from_config()
                .ok()
                .and_then(|p| p.call("GET", &format!("/payments/{reference}"), None).ok())
            {
                Some((200, payment))
                    if payment.get("status").and_then(Value::as_str) == Some("voided") =>
                {
                    PaymentResult::Approved(Approval {
                        reference,
                        amount: Money::zero("XXX"),
                    })
                }
                _ => failed,
            },
        }
    }
}

emporium_plugin_sdk::export_payment!(RedirectGateway);

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_plugin_sdk::payment::CallbackKind;

    #[test]
    fn provider_status_decides() {
        let ok = json!({"status": "succeeded", "amount": "10.00", "currency": "EUR"});
        assert!(
            matches!(outcome(200, &ok, "pay_1"), PaymentResult::Approved(a) if a.amount.amount == "10.00")
        );
        assert!(matches!(
            outcome(200, &json!({"status": "failed"}), "p"),
            PaymentResult::Declined(_)
        ));
        assert!(matches!(outcome(500, &ok, "p"), PaymentResult::Error(_)));
        // An id the provider does not know is refused, not a fault to retry.
        assert!(matches!(
            outcome(404, &json!({"error": "no such payment"}), "pay_999"),
            PaymentResult::Declined(_)
        ));
    }

    #[test]
    fn reference_from_query_is_sanitised() {
        let mut cb = Callback {
            kind: CallbackKind::BrowserReturn,
            method: "GET".into(),
            query: "x=1&payment_id=pay_42".into(),
            headers: vec![],
            body: vec![],
            reference: None,
        };
        assert_eq!(callback_reference(&cb).as_deref(), Some("pay_42"));
        cb.query = "payment_id=../admin".into();
        assert_eq!(callback_reference(&cb), None);
        cb.kind = CallbackKind::Webhook;
        cb.query = String::new();
        cb.body = br#"{"payment_id": "pay_7", "status": "succeeded"}"#.to_vec();
        assert_eq!(callback_reference(&cb).as_deref(), Some("pay_7"));
        cb.body = br#"{"payment_id": "pay 7; drop"}"#.to_vec();
        assert_eq!(callback_reference(&cb), None);
    }
}
