//! A sandbox payment provider with a hosted payment page, speaking the API the bundled
//! redirect gateway expects. It stands in for a third party that cannot run here: the demo shop
//! serves it on its own port (`sandbox_provider_addr`) and the tests start it on loopback.
//! No money moves; the customer presses "Pay" or "Cancel" on the hosted page.
//!
//! API (JSON, `authorization: Bearer <api key>`):
//! - `POST /v1/payments` `{order, amount, currency, return_url, idempotency_key}` → 201 `{id, redirect_url}`
//! - `GET /v1/payments/{id}` → `{id, status: pending|succeeded|failed|voided, amount, currency}`
//! - `POST /v1/payments/{id}/capture|refund|cancel` → `{status}`
//!
//! Hosted page: `GET /hosted/{id}`, with buttons posting to `/hosted/{id}/pay` and
//! `/hosted/{id}/decline`, which send the customer back to `return_url?payment_id={id}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

/// The API key the demo shop's sandbox accepts (it guards nothing: no money moves).
pub const DEMO_API_KEY: &str = "sk_test_sandbox";

#[derive(Debug, Clone)]
pub struct SandboxPayment {
    pub order: String,
    pub amount: String,
    pub currency: String,
    pub return_url: String,
    pub status: &'static str,
    pub captured: bool,
}

#[derive(Default)]
struct Book {
    payments: HashMap<String, SandboxPayment>,
    by_idempotency_key: HashMap<String, String>,
    next: u64,
}

/// The provider's state, shared with tests that want to look inside.
#[derive(Clone)]
pub struct Sandbox {
    api_key: String,
    /// Where customers' browsers reach the hosted page ("http://127.0.0.1:8001").
    public_base: String,
    /// Where the provider notifies the shop of a decided payment, like a webhook endpoint
    /// set in a real provider's dashboard; `None` sends nothing.
    webhook_url: Option<String>,
    book: Arc<Mutex<Book>>,
}

impl Sandbox {
    pub fn new(api_key: &str, public_base: &str) -> Sandbox {
        Sandbox {
            api_key: api_key.to_string(),
            public_base: public_base.trim_end_matches('/').to_string(),
            webhook_url: None,
            book: Arc::default(),
        }
    }

    /// Notifies `url` (POST, JSON `{"payment_id", "status"}`) when a payment is decided.
    pub fn with_webhook(mut self, url: &str) -> Sandbox {
        self.webhook_url = Some(url.to_string());
        self
    }

    /// Sends the notification in the background, retrying a few times like a provider would
    /// when the shop answers with an error or is unreachable.
    fn notify(&self, id: &str, status: &str) {
        let Some(url) = self.webhook_url.clone() else {
            return;
        };
        let body = json!({ "payment_id": id, "status": status }).to_string();
        tokio::task::spawn_blocking(move || {
            for attempt in 0..5u32 {
                match ureq::post(&url)
                    .header("content-type", "application/json")
                    .send(body.as_str())
                {
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!(%url, attempt, error = %e, "sandbox webhook not accepted");
                        std::thread::sleep(std::time::Duration::from_millis(200 << attempt));
                    }
                }
            }
        });
    }

    pub fn payment(&self, id: &str) -> Option<SandboxPayment> {
        self.book.lock().ok()?.payments.get(id).cloned()
    }

    pub fn payments(&self) -> Vec<(String, SandboxPayment)> {
        self.book
            .lock()
            .map(|b| {
                let mut all: Vec<_> = b
                    .payments
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all
            })
            .unwrap_or_default()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/payments", post(create))
            .route("/v1/payments/{id}", get(show))
            .route("/v1/payments/{id}/{action}", post(act))
            .route("/hosted/{id}", get(hosted))
            .route("/hosted/{id}/{choice}", post(choose))
            .with_state(self.clone())
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|key| key == self.api_key)
    }
}

/// Serves the sandbox on `listener` until the task is dropped.
pub async fn serve(sandbox: Sandbox, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, sandbox.router()).await
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

#[derive(Deserialize)]
struct NewPayment {
    order: String,
    amount: String,
    currency: String,
    return_url: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

async fn create(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Json(body): Json<NewPayment>,
) -> Response {
    if !sb.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "bad api key");
    }
    let valid_amount = body
        .amount
        .parse::<rust_decimal::Decimal>()
        .is_ok_and(|a| a > rust_decimal::Decimal::ZERO);
    if !valid_amount || body.currency.len() != 3 || !body.return_url.starts_with("http") {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid payment");
    }
    let Ok(mut book) = sb.book.lock() else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    // A retried create with the same key gets the same payment, as real providers do.
    if let Some(id) = body
        .idempotency_key
        .as_ref()
        .and_then(|k| book.by_idempotency_key.get(k))
        .cloned()
        && book
            .payments
            .get(&id)
            .is_some_and(|p| p.status == "pending")
    {
        let url = format!("{}/hosted/{id}", sb.public_base);
        return (
            StatusCode::CREATED,
            Json(json!({"id": id, "redirect_url": url})),
        )
            .into_response();
    }
    book.next += 1;
    let id = format!("pay_{}", book.next);
    book.payments.insert(
        id.clone(),
        SandboxPayment {
            order: body.order,
            amount: body.amount,
            currency: body.currency,
            return_url: body.return_url,
            status: "pending",
            captured: false,
        },
    );
    if let Some(key) = body.idempotency_key {
        book.by_idempotency_key.insert(key, id.clone());
    }
    let url = format!("{}/hosted/{id}", sb.public_base);
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "redirect_url": url})),
    )
        .into_response()
}

async fn show(State(sb): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !sb.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "bad api key");
    }
    match sb.payment(&id) {
        Some(p) => Json(json!({
            "id": id, "status": p.status, "amount": p.amount, "currency": p.currency,
        }))
        .into_response(),
        None => problem(StatusCode::NOT_FOUND, "no such payment"),
    }
}

async fn act(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    // Read even when unused: answering before a chunked body has arrived makes the server
    // close the connection with bytes unread, and the kernel's reset can reach the client
    // before the answer does (the gateway then sees a protocol error for a void that happened).
    _body: axum::body::Bytes,
) -> Response {
    if !sb.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "bad api key");
    }
    let Ok(mut book) = sb.book.lock() else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    let Some(p) = book.payments.get_mut(&id) else {
        return problem(StatusCode::NOT_FOUND, "no such payment");
    };
    let ok = match action.as_str() {
        "capture" if p.status == "succeeded" => {
            p.captured = true;
            true
        }
        "refund" if p.captured => true,
        "cancel" if p.status == "succeeded" || p.status == "pending" => {
            p.status = "voided";
            true
        }
        _ => false,
    };
    if ok {
        Json(json!({"status": "succeeded"})).into_response()
    } else {
        problem(StatusCode::CONFLICT, "not allowed in this state")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn hosted(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let Some(p) = sb.payment(&id) else {
        return (StatusCode::NOT_FOUND, "no such payment").into_response();
    };
    let id = escape(&id);
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Sandbox payment</title></head>\
         <body><main><h1>Sandbox payment provider</h1>\
         <p>Order <strong>{order}</strong>: pay <strong id=amount>{amount} {currency}</strong>. No money moves.</p>\
         <p>Status: <span id=status>{status}</span></p>\
         <form method=post action=\"/hosted/{id}/pay\"><button id=pay type=submit>Pay now</button></form>\
         <form method=post action=\"/hosted/{id}/decline\"><button id=decline type=submit>Cancel payment</button></form>\
         </main></body></html>",
        order = escape(&p.order),
        amount = escape(&p.amount),
        currency = escape(&p.currency),
        status = p.status,
    ))
    .into_response()
}

async fn choose(State(sb): State<Sandbox>, Path((id, choice)): Path<(String, String)>) -> Response {
    let return_url = {
        let Ok(mut book) = sb.book.lock() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned").into_response();
        };
        let Some(p) = book.payments.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "no such payment").into_response();
        };
        if p.status == "pending" {
            p.status = match choice.as_str() {
                "pay" => "succeeded",
                "decline" => "failed",
                _ => return (StatusCode::NOT_FOUND, "no such choice").into_response(),
            };
            sb.notify(&id, p.status);
        }
        p.return_url.clone()
    };
    let sep = if return_url.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{return_url}{sep}payment_id={id}")).into_response()
}
