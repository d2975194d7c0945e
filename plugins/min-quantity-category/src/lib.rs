//! Offer condition: at least `min_quantity` units from a category. Consumes exactly that many
//! units, cheapest first (as Oscar's count condition does), so the rest of the basket stays
//! available to other offers.

use emporium_plugin_sdk::offer::{ConditionInput, ConditionResult, ConsumedLine};
use emporium_plugin_sdk::{BasketLine, Decimal, OfferCondition, PluginError, config};

/// True when one of the product's category paths is `category` or lies below it.
pub fn in_category(line: &BasketLine, category: &str) -> bool {
    let wanted = category.trim();
    line.product.categories.iter().any(|path| {
        path == wanted
            || path
                .strip_prefix(wanted)
                .is_some_and(|rest| rest.starts_with(" > "))
    })
}

pub fn check(
    category: &str,
    min_quantity: u32,
    input: &ConditionInput,
) -> Result<ConditionResult, PluginError> {
    // Units still free on each matching line, with its unit price for the cheapest-first order.
    let mut candidates: Vec<(&BasketLine, u32, Decimal)> = Vec::new();
    for line in input
        .basket
        .lines
        .iter()
        .filter(|l| in_category(l, category))
    {
        let used: u32 = input
            .already_consumed
            .iter()
            .filter(|c| c.line_id == line.line_id)
            .map(|c| c.quantity)
            .sum();
        let free = line.quantity.saturating_sub(used);
        if free > 0 {
            candidates.push((line, free, line.unit_price_incl_tax.decimal()?));
        }
    }
    let total: u32 = candidates.iter().map(|(_, free, _)| free).sum();
    if total < min_quantity || min_quantity == 0 {
        let missing = min_quantity.saturating_sub(total).max(1);
        return Ok(ConditionResult::not_satisfied(Some(format!(
            "Add {missing} more item{} from {category} to qualify.",
            if missing == 1 { "" } else { "s" }
        ))));
    }
    candidates.sort_by_key(|c| c.2);
    let mut needed = min_quantity;
    let mut consumed = Vec::new();
    for (line, free, _) in candidates {
        if needed == 0 {
            break;
        }
        let take = free.min(needed);
        needed -= take;
        consumed.push(ConsumedLine {
            line_id: line.line_id.clone(),
            quantity: take,
        });
    }
    Ok(ConditionResult {
        is_satisfied: true,
        consumed,
        upsell_message: None,
    })
}

struct MinQuantity;

impl OfferCondition for MinQuantity {
    fn check(input: ConditionInput) -> Result<ConditionResult, PluginError> {
        let category = config::required("category")?;
        let min = config::integer_or("min_quantity", 3)?;
        let min = u32::try_from(min)
            .map_err(|_| PluginError::Config("`min_quantity` must be 0..4294967295".into()))?;
        check(&category, min, &input)
    }
}

emporium_plugin_sdk::export_offer!(MinQuantity);

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_plugin_sdk::testing::{anonymous, basket, line_in};

    fn input(already: Vec<ConsumedLine>) -> ConditionInput {
        ConditionInput {
            basket: basket(
                "EUR",
                vec![
                    line_in("a", "Books > Fiction", "10.00", 2, 100),
                    line_in("b", "Books", "4.00", 1, 100),
                    line_in("c", "Music", "1.00", 5, 100),
                ],
            ),
            customer: anonymous(),
            already_consumed: already,
        }
    }

    #[test]
    fn consumes_the_cheapest_units_of_the_category() {
        let r = check("Books", 2, &input(vec![])).unwrap();
        assert!(r.is_satisfied);
        assert_eq!(
            r.consumed,
            vec![
                ConsumedLine {
                    line_id: "b".into(),
                    quantity: 1
                },
                ConsumedLine {
                    line_id: "a".into(),
                    quantity: 1
                },
            ]
        );
    }

    #[test]
    fn already_consumed_units_do_not_count() {
        let r = check(
            "Books",
            3,
            &input(vec![ConsumedLine {
                line_id: "a".into(),
                quantity: 1,
            }]),
        )
        .unwrap();
        assert!(!r.is_satisfied);
        assert_eq!(
            r.upsell_message.as_deref(),
            Some("Add 1 more item from Books to qualify.")
        );
    }

    #[test]
    fn category_prefix_must_be_a_whole_segment() {
        let b = basket("EUR", vec![line_in("x", "Bookshelves", "1.00", 9, 1)]);
        assert!(!in_category(&b.lines[0], "Books"));
    }
}
