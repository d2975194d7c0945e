//! A basket's discounts in money: the engine's answer on the shop's basis (incl. or excl.
//! tax), the other basis worked out line by line in proportion, the shipping benefits to
//! apply once a method is chosen, upsell messages, and why each offer did or did not apply.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use super::Offers;
use super::engine::{self, Benefit, Condition, NotApplied, PluginVerdict};
use super::live::{Definition, LiveOffer, VoucherRef};
use super::voucher::BasketVoucher;
use crate::money::{Currency, Money};
use crate::plugins::calls;

/// A basket line as offers see it.
#[derive(Debug, Clone)]
pub struct OfferLine {
    pub line_id: i64,
    pub product_id: i64,
    pub quantity: u32,
    pub unit_incl_tax: Money,
    pub unit_excl_tax: Money,
}

/// Everything one line lost, over every offer.
#[derive(Debug, Clone, Serialize)]
pub struct LineDiscount {
    pub line_id: i64,
    pub incl_tax: Money,
    pub excl_tax: Money,
}

/// What one offer gave the basket's lines.
#[derive(Debug, Clone, Serialize)]
pub struct OfferDiscount {
    pub offer_id: i64,
    pub name: String,
    pub description: String,
    pub voucher: Option<VoucherRef>,
    pub incl_tax: Money,
    pub excl_tax: Money,
    pub applications: u32,
    /// Per line: (line id, incl. minor, excl. minor, units).
    #[serde(skip)]
    pub lines: Vec<(i64, i64, i64, u32)>,
    #[serde(skip)]
    pub definition: Definition,
}

/// A shipping benefit the basket earned, applied to the charge of the chosen method.
#[derive(Debug, Clone, Serialize)]
pub struct ShippingOffer {
    pub offer_id: i64,
    pub name: String,
    pub voucher: Option<VoucherRef>,
    #[serde(skip)]
    pub benefit: Benefit,
    #[serde(skip)]
    pub definition: Definition,
}

/// One offer's outcome, for the explanation (dashboard, CLI).
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub offer_id: i64,
    pub name: String,
    pub voucher: Option<String>,
    pub applications: u32,
    pub discount: Money,
    /// Why it gave nothing, or why it stopped.
    pub reason: Option<String>,
    /// What the customer could add to get it.
    pub upsell: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BasketDiscounts {
    pub lines: Vec<LineDiscount>,
    /// Offers that discounted lines, in the order they applied.
    pub offers: Vec<OfferDiscount>,
    pub shipping: Vec<ShippingOffer>,
    /// Line discounts only (shipping discounts depend on the method).
    pub total_incl_tax: Money,
    pub total_excl_tax: Money,
    /// "Spend £12.00 more to get Free delivery".
    pub upsells: Vec<String>,
    pub explained: Vec<Explained>,
    pub vouchers: Vec<BasketVoucher>,
    /// The basis the discounts were worked out on (incl. tax when true).
    #[serde(skip)]
    pub incl_basis: bool,
}

impl BasketDiscounts {
    pub fn none(currency: Currency) -> BasketDiscounts {
        BasketDiscounts {
            lines: Vec::new(),
            offers: Vec::new(),
            shipping: Vec::new(),
            total_incl_tax: Money::zero(currency),
            total_excl_tax: Money::zero(currency),
            upsells: Vec::new(),
            explained: Vec::new(),
            vouchers: Vec::new(),
            incl_basis: true,
        }
    }

    pub fn of_line(&self, line_id: i64) -> Option<&LineDiscount> {
        self.lines.iter().find(|l| l.line_id == line_id)
    }

    /// The shipping benefits on a charge, one after another on what is left of it: (offer,
    /// incl. tax, excl. tax) per benefit that takes something off.
    pub fn on_shipping(
        &self,
        charge_incl: Money,
        charge_excl: Money,
    ) -> Vec<(&ShippingOffer, Money, Money)> {
        let incl_basis = self.incl_basis;
        let currency = charge_incl.currency();
        let (Ok(mut incl), Ok(mut excl)) = (charge_incl.to_minor(), charge_excl.to_minor()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in &self.shipping {
            let d = engine::ShippingDiscount {
                offer_id: s.offer_id,
                benefit: s.benefit.clone(),
            };
            let (basis, other) = if incl_basis {
                (incl, excl)
            } else {
                (excl, incl)
            };
            let off = d.on(basis);
            if off <= 0 {
                continue;
            }
            let off_other = proportion(off, other, basis).min(other);
            let (off_incl, off_excl) = if incl_basis {
                (off, off_other)
            } else {
                (off_other, off)
            };
            incl -= off_incl;
            excl -= off_excl;
            out.push((
                s,
                Money::from_minor(off_incl, currency),
                Money::from_minor(off_excl, currency),
            ));
        }
        out
    }

    /// Every shipping benefit's total on this charge: (incl., excl.).
    pub fn shipping_total(&self, charge_incl: Money, charge_excl: Money) -> (Money, Money) {
        let currency = charge_incl.currency();
        self.on_shipping(charge_incl, charge_excl).into_iter().fold(
            (Money::zero(currency), Money::zero(currency)),
            |(a, b), (_, i, e)| (a.checked_add(i).unwrap_or(a), b.checked_add(e).unwrap_or(b)),
        )
    }
}

/// `amount × numerator / denominator`, half up, in whole minor units.
fn proportion(amount: i64, numerator: i64, denominator: i64) -> i64 {
    if denominator <= 0 {
        return 0;
    }
    (Decimal::from(amount) * Decimal::from(numerator) / Decimal::from(denominator))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(0)
}

/// What a plugin condition is asked with: the basket as plugins see it and the customer.
pub struct PluginBasket {
    pub basket: calls::Basket,
    pub customer: calls::Customer,
}

impl Offers {
    /// Applies `live` to `lines`. Offer-condition plugins are asked (off the async threads)
    /// only when a live offer has a plugin condition; a plugin that fails leaves its offer out.
    pub async fn apply(
        &self,
        live: Vec<LiveOffer>,
        vouchers: Vec<BasketVoucher>,
        lines: &[OfferLine],
        plugin_basket: Option<PluginBasket>,
    ) -> BasketDiscounts {
        let currency = self.currency;
        if live.is_empty() {
            return BasketDiscounts {
                vouchers,
                incl_basis: self.incl_tax,
                ..BasketDiscounts::none(currency)
            };
        }
        let incl_basis = self.incl_tax;
        let basis_minor = |l: &OfferLine| {
            let m = if incl_basis {
                l.unit_incl_tax
            } else {
                l.unit_excl_tax
            };
            m.to_minor().unwrap_or(0)
        };
        let engine_lines: Vec<engine::Line> = lines
            .iter()
            .map(|l| engine::Line {
                line_id: l.line_id,
                product_id: l.product_id,
                unit_price: basis_minor(l),
                quantity: l.quantity,
            })
            .collect();
        let offers: Vec<engine::Offer> = live.iter().map(|l| l.offer.clone()).collect();
        let has_plugins = offers
            .iter()
            .any(|o| matches!(o.condition, Condition::Plugin(_)));
        let applied = match (has_plugins, plugin_basket) {
            (true, Some(pb)) => {
                let registry = self.plugins.clone();
                let quantities: BTreeMap<i64, u32> =
                    lines.iter().map(|l| (l.line_id, l.quantity)).collect();
                let joined = tokio::task::spawn_blocking(move || {
                    let mut ask = |plugin: &str, offered: &[(i64, u32)]| {
                        ask_plugin(&registry, plugin, offered, &quantities, &pb)
                    };
                    engine::apply(&offers, &engine_lines, &mut ask)
                })
                .await;
                match joined {
                    Ok(applied) => applied,
                    Err(e) => {
                        tracing::error!(error = %e, "applying offers panicked; no discounts given");
                        return BasketDiscounts {
                            vouchers,
                            ..BasketDiscounts::none(currency)
                        };
                    }
                }
            }
            _ => engine::apply(&offers, &engine_lines, &mut |_, _| {
                PluginVerdict::Failed("no basket to ask the plugin about".to_owned())
            }),
        };
        convert(&live, vouchers, lines, &applied, incl_basis, currency)
    }
}

fn ask_plugin(
    registry: &crate::plugins::runtime::PluginRegistry,
    plugin: &str,
    offered: &[(i64, u32)],
    quantities: &BTreeMap<i64, u32>,
    pb: &PluginBasket,
) -> PluginVerdict {
    // What the plugin may not count: every unit not offered to it (used by an earlier
    // application or offer, or outside the condition's range).
    let already_consumed = quantities
        .iter()
        .filter_map(|(line, q)| {
            let free = offered
                .iter()
                .find(|(l, _)| l == line)
                .map_or(0, |(_, n)| *n);
            (q > &free).then(|| calls::ConsumedLine {
                line_id: line.to_string(),
                quantity: q - free,
            })
        })
        .collect();
    let input = calls::ConditionInput {
        basket: pb.basket.clone(),
        customer: pb.customer.clone(),
        already_consumed,
    };
    match registry.check_condition(plugin, &input) {
        Ok(r) if r.is_satisfied => PluginVerdict::Satisfied(
            r.consumed
                .iter()
                .filter_map(|c| c.line_id.parse::<i64>().ok().map(|l| (l, c.quantity)))
                .collect(),
        ),
        Ok(r) => PluginVerdict::NotSatisfied {
            upsell: r.upsell_message,
        },
        Err(e) => {
            tracing::warn!(plugin, error = %e, "offer condition plugin failed; its offer is left out");
            PluginVerdict::Failed(e.to_string())
        }
    }
}

fn convert(
    live: &[LiveOffer],
    vouchers: Vec<BasketVoucher>,
    lines: &[OfferLine],
    applied: &engine::Applied,
    incl_basis: bool,
    currency: Currency,
) -> BasketDiscounts {
    let line_of: BTreeMap<i64, &OfferLine> = lines.iter().map(|l| (l.line_id, l)).collect();
    let live_of: BTreeMap<i64, &LiveOffer> = live.iter().map(|l| (l.offer.id, l)).collect();
    let mut per_line: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut offers: Vec<OfferDiscount> = Vec::new();
    for result in &applied.offers {
        let Some(l) = live_of.get(&result.offer_id) else {
            continue;
        };
        let mut d = OfferDiscount {
            offer_id: l.offer.id,
            name: l.name.clone(),
            description: l.description.clone(),
            voucher: l.voucher.clone(),
            incl_tax: Money::zero(currency),
            excl_tax: Money::zero(currency),
            applications: result.applications,
            lines: Vec::new(),
            definition: l.definition.clone(),
        };
        let (mut incl, mut excl) = (0i64, 0i64);
        for ld in applied
            .line_discounts
            .iter()
            .filter(|ld| ld.offer_id == result.offer_id)
        {
            let Some(line) = line_of.get(&ld.line_id) else {
                continue;
            };
            let unit_incl = line.unit_incl_tax.to_minor().unwrap_or(0);
            let unit_excl = line.unit_excl_tax.to_minor().unwrap_or(0);
            let (basis, other) = if incl_basis {
                (unit_incl, unit_excl)
            } else {
                (unit_excl, unit_incl)
            };
            let other_amount = proportion(ld.amount, other, basis);
            let (i, e) = if incl_basis {
                (ld.amount, other_amount)
            } else {
                (other_amount, ld.amount)
            };
            let entry = per_line.entry(ld.line_id).or_default();
            entry.0 += i;
            entry.1 += e;
            incl += i;
            excl += e;
            d.lines.push((ld.line_id, i, e, ld.quantity));
        }
        if incl > 0 || excl > 0 {
            d.incl_tax = Money::from_minor(incl, currency);
            d.excl_tax = Money::from_minor(excl, currency);
            offers.push(d);
        }
    }
    let shipping: Vec<ShippingOffer> = applied
        .shipping
        .iter()
        .filter_map(|s| live_of.get(&s.offer_id).map(|l| (s, l)))
        .map(|(s, l)| ShippingOffer {
            offer_id: s.offer_id,
            name: l.name.clone(),
            voucher: l.voucher.clone(),
            benefit: s.benefit.clone(),
            definition: l.definition.clone(),
        })
        .collect();
    let mut upsells = Vec::new();
    let mut explained = Vec::new();
    for result in &applied.offers {
        let Some(l) = live_of.get(&result.offer_id) else {
            continue;
        };
        let hint = if result.applications == 0 {
            upsell(l, result.stopped.as_ref(), currency)
        } else {
            None
        };
        if let Some(message) = &hint {
            upsells.push(message.clone());
        }
        explained.push(Explained {
            upsell: hint,
            offer_id: l.offer.id,
            name: l.name.clone(),
            voucher: l.voucher.as_ref().map(|v| v.code.clone()),
            applications: result.applications,
            discount: Money::from_minor(result.discount, currency),
            reason: result
                .stopped
                .as_ref()
                .map(|r| reason(r, l, &live_of, currency)),
        });
    }
    let total_incl: i64 = per_line.values().map(|v| v.0).sum();
    let total_excl: i64 = per_line.values().map(|v| v.1).sum();
    BasketDiscounts {
        lines: per_line
            .into_iter()
            .map(|(line_id, (i, e))| LineDiscount {
                line_id,
                incl_tax: Money::from_minor(i, currency),
                excl_tax: Money::from_minor(e, currency),
            })
            .collect(),
        offers,
        shipping,
        total_incl_tax: Money::from_minor(total_incl, currency),
        total_excl_tax: Money::from_minor(total_excl, currency),
        upsells,
        explained,
        vouchers,
        incl_basis,
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 more {one}")
    } else {
        format!("{n} more {many}")
    }
}

fn range_words(d: &Definition) -> String {
    d.condition_range
        .as_deref()
        .map(|r| format!(" from {r}"))
        .unwrap_or_default()
}

/// The nudge for an offer that did not apply yet, when one can be given.
fn upsell(l: &LiveOffer, stopped: Option<&NotApplied>, currency: Currency) -> Option<String> {
    match stopped? {
        NotApplied::ConditionNotMet {
            missing: Some(missing),
        } if *missing > 0 => Some(match l.offer.condition {
            Condition::Count(_) => format!(
                "Add {}{} to get {}.",
                plural(*missing, "item", "items"),
                range_words(&l.definition),
                l.name
            ),
            Condition::Value(_) => format!(
                "Spend {} more{} to get {}.",
                Money::from_minor(*missing, currency).display(),
                l.definition
                    .condition_range
                    .as_deref()
                    .map(|r| format!(" on {r}"))
                    .unwrap_or_default(),
                l.name
            ),
            Condition::Coverage(_) => format!(
                "Add {}{} to get {}.",
                plural(*missing, "different product", "different products"),
                range_words(&l.definition),
                l.name
            ),
            Condition::Plugin(_) => return None,
        }),
        NotApplied::PluginSaidNo {
            upsell: Some(message),
        } => Some(message.clone()),
        _ => None,
    }
}

/// Why an offer gave nothing or stopped, in words for staff.
fn reason(
    r: &NotApplied,
    l: &LiveOffer,
    live_of: &BTreeMap<i64, &LiveOffer>,
    currency: Currency,
) -> String {
    match r {
        NotApplied::ConditionNotMet { missing } => match (missing, &l.offer.condition) {
            (Some(m), Condition::Value(_)) => format!(
                "Condition not met: {} short",
                Money::from_minor(*m, currency).display()
            ),
            (Some(m), Condition::Count(_)) => format!("Condition not met: {m} item(s) short"),
            (Some(m), Condition::Coverage(_)) => {
                format!("Condition not met: {m} different product(s) short")
            }
            _ => "Condition not met".to_owned(),
        },
        NotApplied::PluginSaidNo { upsell } => format!(
            "The condition plugin said no{}",
            upsell
                .as_deref()
                .map(|u| format!(": {u}"))
                .unwrap_or_default()
        ),
        NotApplied::PluginFailed(e) => format!("The condition plugin failed: {e}"),
        NotApplied::LimitReached => "A limit was reached (applications or discount)".to_owned(),
        NotApplied::Excluded { by } => format!(
            "Excluded by {}",
            live_of
                .get(by)
                .map(|o| o.name.clone())
                .unwrap_or_else(|| format!("offer {by}"))
        ),
        NotApplied::NothingToDiscount => {
            "Nothing left in the benefit's range to discount".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::offer::OfferType;
    use crate::offer::live::Definition;

    fn live(offer: engine::Offer) -> LiveOffer {
        LiveOffer {
            name: offer.name.clone(),
            slug: format!("offer-{}", offer.id),
            description: String::new(),
            offer_type: OfferType::Site,
            voucher: None,
            definition: Definition {
                id: offer.id,
                offer_type: "site",
                priority: 0,
                exclusive: offer.exclusive,
                condition_kind: "count".into(),
                condition_value: 1,
                condition_range: None,
                condition_plugin: None,
                benefit_kind: "percentage".into(),
                benefit_amount_minor: 0,
                benefit_percent: "0".into(),
                benefit_range: None,
                max_affected_items: None,
                max_global_applications: None,
                max_user_applications: None,
                max_basket_applications: None,
                max_discount_minor: None,
                starts_at: None,
                ends_at: None,
            },
            offer,
        }
    }

    fn any_offer() -> impl Strategy<Value = engine::Offer> {
        let condition = prop_oneof![
            (1u32..4).prop_map(Condition::Count),
            (0i64..10_000).prop_map(Condition::Value),
        ];
        let benefit = prop_oneof![
            (1u32..=100).prop_map(|p| Benefit::Percentage(Decimal::from(p))),
            (0i64..5_000).prop_map(Benefit::Absolute),
            Just(Benefit::Multibuy),
            (0i64..5_000).prop_map(Benefit::FixedPrice),
        ];
        (1i64..40, any::<bool>(), condition, benefit).prop_map(
            |(id, exclusive, condition, benefit)| engine::Offer {
                id,
                name: format!("offer {id}"),
                priority: 0,
                exclusive,
                condition_range: engine::Range::All,
                condition,
                benefit_range: engine::Range::All,
                benefit,
                max_affected_items: None,
                max_applications: Some(3),
                max_discount: None,
                combines_with: None,
            },
        )
    }

    proptest! {
        /// What an order records (per offer, per line, both tax bases) adds up to the
        /// difference between the basket before and after its discounts, and no line goes
        /// below zero on either basis.
        #[test]
        fn recorded_discounts_add_up(
            offers in proptest::collection::vec(any_offer(), 0..5),
            lines in proptest::collection::vec((1i64..6, 1i64..5_000, 1u32..5), 1..8),
            incl_basis in any::<bool>(),
        ) {
            let gbp = Currency::GBP;
            let offers: Vec<engine::Offer> = offers
                .into_iter()
                .enumerate()
                .map(|(i, o)| engine::Offer { id: i as i64 + 1, ..o })
                .collect();
            let lines: Vec<OfferLine> = lines
                .into_iter()
                .enumerate()
                .map(|(i, (product, excl, quantity))| OfferLine {
                    line_id: i as i64 + 1,
                    product_id: product,
                    quantity,
                    // 20 % tax, rounded half up.
                    unit_incl_tax: Money::from_minor(excl + (excl + 2) / 5, gbp),
                    unit_excl_tax: Money::from_minor(excl, gbp),
                })
                .collect();
            let engine_lines: Vec<engine::Line> = lines
                .iter()
                .map(|l| engine::Line {
                    line_id: l.line_id,
                    product_id: l.product_id,
                    unit_price: if incl_basis { l.unit_incl_tax } else { l.unit_excl_tax }.to_minor().unwrap(),
                    quantity: l.quantity,
                })
                .collect();
            let applied = engine::apply(&offers, &engine_lines, &mut |_, _| PluginVerdict::Failed(String::new()));
            let live: Vec<LiveOffer> = offers.into_iter().map(live).collect();
            let d = convert(&live, Vec::new(), &lines, &applied, incl_basis, gbp);
            let minor = |m: Money| m.to_minor().unwrap();
            let by_offer_incl: i64 = d.offers.iter().map(|o| minor(o.incl_tax)).sum();
            let by_offer_excl: i64 = d.offers.iter().map(|o| minor(o.excl_tax)).sum();
            let by_line_incl: i64 = d.lines.iter().map(|l| minor(l.incl_tax)).sum();
            let by_record: i64 = d.offers.iter().flat_map(|o| o.lines.iter().map(|l| l.1)).sum();
            prop_assert_eq!(by_offer_incl, minor(d.total_incl_tax));
            prop_assert_eq!(by_offer_excl, minor(d.total_excl_tax));
            prop_assert_eq!(by_line_incl, minor(d.total_incl_tax));
            prop_assert_eq!(by_record, minor(d.total_incl_tax));
            for l in &lines {
                if let Some(ld) = d.of_line(l.line_id) {
                    let q = i64::from(l.quantity);
                    prop_assert!(minor(ld.incl_tax) <= minor(l.unit_incl_tax) * q);
                    prop_assert!(minor(ld.excl_tax) <= minor(l.unit_excl_tax) * q);
                }
            }
        }
    }
}
