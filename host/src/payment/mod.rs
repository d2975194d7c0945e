//! Payment (Oscar's payment app): the enabled payment-gateway plugins, the card details the
//! shop's own form collects, and the calls checkout makes. Payment always fails closed: any
//! plugin error means "not paid". Errors are split like Oscar's: a decline is shown to the
//! customer, a gateway fault is logged and the customer sees a generic message.

pub mod claim;
pub mod sandbox;

use std::sync::Arc;

use serde::Serialize;

use crate::plugins::calls::{Callback, Card, PaymentRequest};
use crate::plugins::{ExtensionPoint, PaymentOutcome, PluginError, PluginRegistry};

/// A gateway the customer can choose.
#[derive(Debug, Clone, Serialize)]
pub struct Gateway {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The shop collects card details itself (otherwise the gateway redirects).
    pub card_form: bool,
}

/// Enabled payment gateways, by name.
pub fn gateways(registry: &PluginRegistry) -> Vec<Gateway> {
    let mut out: Vec<Gateway> = registry
        .enabled_ids(ExtensionPoint::Payment)
        .into_iter()
        .filter_map(|id| {
            let manifest = registry.manifest(&id).ok()?;
            Some(Gateway {
                id,
                name: manifest.name,
                description: manifest.description,
                card_form: manifest.payment.card_form,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Card details from the checkout form, validated for shape (the gateway decides the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardDetails {
    pub number: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub cvc: String,
    pub holder_name: String,
}

impl CardDetails {
    /// Reads `card_number`, `card_expiry` (MM/YY or MM/YYYY), `card_cvc`, `card_name`.
    pub fn from_form(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<CardDetails, crate::address::FieldErrors> {
        let mut errors = crate::address::FieldErrors::new();
        let number: String = get("card_number")
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            errors.insert(
                "card_number".into(),
                "Enter the 12 to 19 digits of your card number.".into(),
            );
        }
        let expiry = get("card_expiry").unwrap_or_default();
        let parsed = expiry.trim().split_once('/').and_then(|(m, y)| {
            let month: u8 = m.trim().parse().ok().filter(|m| (1..=12).contains(m))?;
            let y = y.trim();
            let year: u16 = match y.len() {
                2 => 2000 + y.parse::<u16>().ok()?,
                4 => y.parse().ok()?,
                _ => return None,
            };
            Some((month, year))
        });
        if parsed.is_none() {
            errors.insert(
                "card_expiry".into(),
                "Enter the expiry date as MM/YY.".into(),
            );
        }
        let cvc = get("card_cvc").unwrap_or_default().trim().to_string();
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            errors.insert(
                "card_cvc".into(),
                "Enter the 3 or 4 digit security code.".into(),
            );
        }
        let holder_name = get("card_name").unwrap_or_default().trim().to_string();
        if holder_name.is_empty() || holder_name.chars().count() > 100 {
            errors.insert("card_name".into(), "Enter the name on the card.".into());
        }
        match (errors.is_empty(), parsed) {
            (true, Some((expiry_month, expiry_year))) => Ok(CardDetails {
                number,
                expiry_month,
                expiry_year,
                cvc,
                holder_name,
            }),
            _ => Err(errors),
        }
    }

    /// "Card ending 4242": all a receipt or a log may show.
    pub fn label(&self) -> String {
        format!(
            "Card ending {}",
            &self.number[self.number.len().saturating_sub(4)..]
        )
    }

    /// The card as a gateway plugin receives it.
    pub fn plugin_card(&self) -> Card {
        Card {
            number: self.number.clone(),
            expiry_month: self.expiry_month,
            expiry_year: self.expiry_year,
            cvc: self.cvc.clone(),
            holder_name: self.holder_name.clone(),
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> PluginError {
    PluginError::Runtime(format!("payment task failed: {e}"))
}

/// Authorizes on the blocking pool (a gateway may wait on its provider for seconds).
pub async fn authorize(
    registry: &Arc<PluginRegistry>,
    gateway: &str,
    request: PaymentRequest,
) -> Result<PaymentOutcome, PluginError> {
    let (registry, gateway) = (registry.clone(), gateway.to_string());
    tokio::task::spawn_blocking(move || registry.authorize(&gateway, &request))
        .await
        .map_err(join_error)?
}

pub async fn void(
    registry: &Arc<PluginRegistry>,
    gateway: &str,
    reference: &str,
) -> Result<PaymentOutcome, PluginError> {
    let (registry, gateway, reference) =
        (registry.clone(), gateway.to_string(), reference.to_string());
    tokio::task::spawn_blocking(move || registry.void(&gateway, &reference))
        .await
        .map_err(join_error)?
}

pub async fn handle_callback(
    registry: &Arc<PluginRegistry>,
    gateway: &str,
    callback: Callback,
) -> Result<PaymentOutcome, PluginError> {
    let (registry, gateway) = (registry.clone(), gateway.to_string());
    tokio::task::spawn_blocking(move || registry.handle_callback(&gateway, &callback))
        .await
        .map_err(join_error)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn card_form_is_read_and_checked() {
        let card = CardDetails::from_form(form(&[
            ("card_number", "4242 4242 4242 4242"),
            ("card_expiry", "12/30"),
            ("card_cvc", "123"),
            ("card_name", "Jane Doe"),
        ]))
        .unwrap();
        assert_eq!(card.number, "4242424242424242");
        assert_eq!((card.expiry_month, card.expiry_year), (12, 2030));
        assert_eq!(card.label(), "Card ending 4242");
        let errors = CardDetails::from_form(form(&[
            ("card_number", "42"),
            ("card_expiry", "13/30"),
            ("card_cvc", "12a"),
        ]))
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
    }
}
