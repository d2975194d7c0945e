//! Decision traces: what a plugin was asked, what it answered, and what the call cost, recorded
//! per plugin when its trace mode says so, so that staff can see why an order got the shipping
//! price it got, and a candidate version can be run against real inputs before it goes live
//! (see [`crate::plugins::lifecycle::trace`] for the store and the replay).
//!
//! The runtime has no database: the registry builds a [`TraceRecord`] (inputs masked, the
//! plugin's secrets scrubbed) and hands it to a [`TraceSink`], which must not block; the
//! lifecycle's store queues it for a background writer. A plugin whose mode is
//! [`TraceMode::Off`] (the default) costs one atomic load per call.

use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::error::PluginRef;
use crate::plugins::calls::{
    Address, Basket, Callback, ConditionInput, Customer, PaymentRequest, PricingContext,
    ShippingRequest,
};
use crate::plugins::distribution::manifest::World;

/// Which of a plugin's calls are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    #[default]
    Off,
    /// A share of baskets (or orders) chosen by a hash of their id, every call of a chosen one:
    /// an order's trace is whole or absent, never patchy.
    Sampled,
    All,
}

impl TraceMode {
    pub const ALL: [TraceMode; 3] = [TraceMode::Off, TraceMode::Sampled, TraceMode::All];

    pub fn as_str(self) -> &'static str {
        match self {
            TraceMode::Off => "off",
            TraceMode::Sampled => "sampled",
            TraceMode::All => "all",
        }
    }

    pub fn parse(text: &str) -> Option<TraceMode> {
        TraceMode::ALL.into_iter().find(|m| m.as_str() == text)
    }

    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(v: u8) -> TraceMode {
        match v {
            1 => TraceMode::Sampled,
            2 => TraceMode::All,
            _ => TraceMode::Off,
        }
    }
}

impl std::fmt::Display for TraceMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The call a trace is of: the world function, named as in the WIT files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracedCall {
    Quote,
    Price,
    CheckCondition,
    Authorize,
    Capture,
    Refund,
    Void,
    HandleCallback,
    ThemeFunctions,
    ThemeCall,
}

impl TracedCall {
    pub const ALL: [TracedCall; 10] = [
        TracedCall::Quote,
        TracedCall::Price,
        TracedCall::CheckCondition,
        TracedCall::Authorize,
        TracedCall::Capture,
        TracedCall::Refund,
        TracedCall::Void,
        TracedCall::HandleCallback,
        TracedCall::ThemeFunctions,
        TracedCall::ThemeCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TracedCall::Quote => "quote",
            TracedCall::Price => "price",
            TracedCall::CheckCondition => "check-condition",
            TracedCall::Authorize => "authorize",
            TracedCall::Capture => "capture",
            TracedCall::Refund => "refund",
            TracedCall::Void => "void",
            TracedCall::HandleCallback => "handle-callback",
            TracedCall::ThemeFunctions => "functions",
            TracedCall::ThemeCall => "call",
        }
    }

    pub fn parse(text: &str) -> Option<TracedCall> {
        TracedCall::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether running the call again has no effect outside the plugin's answer. Payment calls
    /// move money at a provider, so a replay never makes them.
    pub fn replayable(self) -> bool {
        !matches!(
            self,
            TracedCall::Authorize
                | TracedCall::Capture
                | TracedCall::Refund
                | TracedCall::Void
                | TracedCall::HandleCallback
        )
    }
}

/// What a call was about, for finding an order's decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub basket_id: Option<i64>,
    pub order_number: Option<String>,
    /// The provider's reference of a payment (captures, refunds and voids know only that).
    pub payment_reference: Option<String>,
}

impl Subject {
    pub fn basket(basket: &Basket) -> Subject {
        Subject {
            basket_id: basket.id.as_deref().and_then(|id| id.parse().ok()),
            ..Subject::default()
        }
    }

    pub fn order(number: &str) -> Subject {
        Subject {
            order_number: Some(number.to_string()),
            ..Subject::default()
        }
    }

    pub fn payment(reference: &str) -> Subject {
        Subject {
            payment_reference: Some(reference.to_string()),
            ..Subject::default()
        }
    }

    /// The key sampling hashes: the basket when known (every call of one checkout together).
    fn sampling_key(&self) -> Option<String> {
        match (&self.basket_id, &self.order_number, &self.payment_reference) {
            (Some(b), _, _) => Some(format!("b{b}")),
            (None, Some(n), _) => Some(format!("o{n}")),
            (None, None, Some(r)) => Some(format!("p{r}")),
            (None, None, None) => None,
        }
    }
}

/// One recorded call.
#[derive(Debug, Clone)]
pub struct TraceRecord {
    pub plugin: PluginRef,
    pub world: World,
    pub call: TracedCall,
    pub subject: Subject,
    pub recorded_at: SystemTime,
    /// The input as JSON, personal data masked and secrets scrubbed.
    pub input: String,
    /// The validated answer as JSON, or the error, secrets scrubbed.
    pub output: Result<String, String>,
    pub duration: Duration,
    /// Fuel the call burnt, when the runtime meters fuel (it uses epochs otherwise).
    pub fuel_used: Option<u64>,
    /// The largest linear memory the call asked for.
    pub memory_peak_bytes: u64,
}

/// Where the registry hands finished records. Called on the calling thread, inside the
/// checkout's request: it must queue, not write.
pub trait TraceSink: Send + Sync {
    fn record(&self, record: TraceRecord);
}

/// What a call costs beyond its time, read from its store when it ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub fuel_used: Option<u64>,
    pub memory_peak_bytes: u64,
}

/// Whether a call of a plugin in `mode` is recorded. `counter` picks every n-th call that has
/// no basket or order (a catalogue page's pricing) in sampled mode.
pub(crate) fn chosen(mode: TraceMode, percent: u8, subject: &Subject, counter: u64) -> bool {
    match mode {
        TraceMode::Off => false,
        TraceMode::All => true,
        TraceMode::Sampled => {
            let percent = u64::from(percent.min(100));
            let bucket = match subject.sampling_key() {
                Some(key) => {
                    // Unkeyed SipHash: every process of one build samples the same baskets.
                    let mut h = std::hash::DefaultHasher::new();
                    key.hash(&mut h);
                    h.finish() % 100
                }
                None => counter % 100,
            };
            bucket < percent
        }
    }
}

// ---- masking ----
//
// Traces are kept for days and shown in the dashboard, so they hold no more personal data
// than a decision needs: emails keep only their domain, street lines are blanked, card data is
// never serialized (see `PaymentRequest::card`), and a callback keeps its shape but not its
// contents (provider payloads carry names, addresses and signatures). Country, region, city
// and postcode stay: shipping rules are written against them.

pub const MASK: &str = "***";

fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((_, domain)) => format!("{MASK}@{domain}"),
        None => MASK.to_string(),
    }
}

fn mask_customer(c: &Customer) -> Customer {
    Customer {
        email: c.email.as_deref().map(mask_email),
        ..c.clone()
    }
}

fn mask_address(a: &Address) -> Address {
    Address {
        lines: a.lines.iter().map(|_| MASK.to_string()).collect(),
        ..a.clone()
    }
}

pub(crate) fn mask_shipping(r: &ShippingRequest) -> ShippingRequest {
    ShippingRequest {
        basket: r.basket.clone(),
        customer: mask_customer(&r.customer),
        address: r.address.as_ref().map(mask_address),
    }
}

pub(crate) fn mask_pricing(c: &PricingContext) -> PricingContext {
    PricingContext {
        customer: mask_customer(&c.customer),
        ..c.clone()
    }
}

pub(crate) fn mask_condition(i: &ConditionInput) -> ConditionInput {
    ConditionInput {
        customer: mask_customer(&i.customer),
        ..i.clone()
    }
}

pub(crate) fn mask_payment(r: &PaymentRequest) -> PaymentRequest {
    PaymentRequest {
        customer: mask_customer(&r.customer),
        billing_address: r.billing_address.as_ref().map(mask_address),
        card: None,
        ..r.clone()
    }
}

pub(crate) fn mask_callback(c: &Callback) -> Callback {
    Callback {
        query: if c.query.is_empty() {
            String::new()
        } else {
            MASK.to_string()
        },
        headers: c
            .headers
            .iter()
            .map(|h| crate::plugins::calls::Header {
                name: h.name.clone(),
                value: if h.name.eq_ignore_ascii_case("content-type") {
                    h.value.clone()
                } else {
                    MASK.to_string()
                },
            })
            .collect(),
        body: Vec::new(),
        ..c.clone()
    }
}

/// JSON of `value` with every secret the plugin was configured with replaced by [`MASK`]: a
/// plugin may echo its API key in an error message or an answer.
pub(crate) fn to_json_scrubbed(value: &impl Serialize, secrets: &[&str]) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|e| format!("\"unserializable: {e}\""));
    scrub(json, secrets)
}

pub(crate) fn scrub(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets {
        // Very short values would blank unrelated text and hide little.
        if secret.len() >= 4 && text.contains(secret) {
            text = text.replace(secret, MASK);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_a_basket_whole_and_takes_about_the_share_asked() {
        let basket = |id: i64| Subject {
            basket_id: Some(id),
            ..Subject::default()
        };
        for id in 0..50 {
            let first = chosen(TraceMode::Sampled, 30, &basket(id), 0);
            assert!((1..20).all(|n| chosen(TraceMode::Sampled, 30, &basket(id), n) == first));
        }
        let taken = (0..10_000)
            .filter(|&id| chosen(TraceMode::Sampled, 30, &basket(id), 0))
            .count();
        assert!((2_500..3_500).contains(&taken), "{taken} of 10,000");
        assert!(!chosen(TraceMode::Off, 100, &basket(1), 0));
        assert!(chosen(TraceMode::All, 0, &basket(1), 0));
        assert!(!chosen(TraceMode::Sampled, 0, &basket(1), 0));
    }

    #[test]
    fn masking_keeps_the_domain_and_the_postcode_but_not_the_person() {
        assert_eq!(mask_email("ada@example.com"), "***@example.com");
        assert_eq!(mask_email("not-an-email"), "***");
        let address = Address {
            country: "GB".into(),
            postcode: Some("SW1A 1AA".into()),
            lines: vec!["10 Downing Street".into(), "Flat 2".into()],
            city: "London".into(),
            state: None,
        };
        let masked = mask_address(&address);
        assert_eq!(masked.lines, vec![MASK, MASK]);
        assert_eq!(masked.postcode.as_deref(), Some("SW1A 1AA"));
        assert_eq!(masked.country, "GB");
    }

    #[test]
    fn secrets_are_scrubbed_wherever_they_appear() {
        let out = scrub(
            "{\"error\":\"bad key sk_live_123 for sk_live_123\"}".into(),
            &["sk_live_123", "ab"],
        );
        assert_eq!(out, "{\"error\":\"bad key *** for ***\"}");
    }
}
