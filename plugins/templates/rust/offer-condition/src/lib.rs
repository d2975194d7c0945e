//! WIT glue for {{id}}: turns the shop's basket into plain values for `logic` and its
//! decision back into WIT records.

mod logic;
mod money;

wit_bindgen::generate!({
    path: "wit",
    world: "{{world}}",
});

use emporium::plugin::host::{LogLevel, config_get, log};
use emporium::plugin::types::PluginError;
use exports::emporium::plugin::offer::{ConditionInput, ConditionResult, ConsumedLine, Guest};

struct Plugin;

impl Guest for Plugin {
    fn check(input: ConditionInput) -> Result<ConditionResult, PluginError> {
        let settings = logic::Settings::read(|key| config_get(key)).map_err(PluginError::Config)?;
        let lines: Vec<logic::Line<'_>> = input
            .basket
            .lines
            .iter()
            .map(|l| logic::Line {
                line_id: &l.line_id,
                quantity: l.quantity,
                unit_price_incl_tax: &l.unit_price_incl_tax.amount,
                categories: &l.product.categories,
            })
            .collect();
        let consumed: Vec<(&str, u32)> = input
            .already_consumed
            .iter()
            .map(|c| (c.line_id.as_str(), c.quantity))
            .collect();
        let decision = logic::check(&settings, &input.basket.currency, &lines, &consumed)
            .map_err(PluginError::InvalidInput)?;
        log(
            LogLevel::Debug,
            &format!("satisfied={}", decision.is_satisfied),
        );
        Ok(ConditionResult {
            is_satisfied: decision.is_satisfied,
            consumed: decision
                .consumed
                .into_iter()
                .map(|(line_id, quantity)| ConsumedLine { line_id, quantity })
                .collect(),
            upsell_message: decision.upsell_message,
        })
    }
}

export!(Plugin);
