//! Applying offers to a basket: Oscar's algorithm (collect the offers, sort by priority, apply
//! each one again and again until its condition fails or a limit is reached), on exact minor
//! units of one currency, with the reasons an offer did not apply.
//!
//! The engine is pure: ranges arrive resolved to product ids, plugin conditions are asked
//! through a callback, and nothing is read or written. One application of an offer takes units
//! from what earlier applications left: the benefit picks the units it discounts, the
//! condition then takes the units it needs (the discounted ones first, so "3 for 2" counts the
//! free unit as one of the three), and all of them are consumed.
//!
//! Every choice among units is made by (unit price, line id), so the result does not depend on
//! the order of the basket's lines.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// The products an offer's condition or benefit covers, resolved by the caller (categories
/// with their descendants, classes, included and excluded products, uploaded SKU lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    All,
    Products(BTreeSet<i64>),
}

impl Range {
    pub fn contains(&self, product_id: i64) -> bool {
        match self {
            Range::All => true,
            Range::Products(ids) => ids.contains(&product_id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// At least this many units from the range.
    Count(u32),
    /// At least this much spent on the range (minor units).
    Value(i64),
    /// At least this many different products from the range.
    Coverage(u32),
    /// An offer-condition plugin decides, and names the units it uses.
    Plugin(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Benefit {
    /// Percent off every affected unit.
    Percentage(Decimal),
    /// This much off the affected units, spread by price (minor units).
    Absolute(i64),
    /// Every affected unit costs this (minor units).
    FixedUnitPrice(i64),
    /// The cheapest affected unit is free.
    Multibuy,
    /// The units the condition takes cost this together (minor units).
    FixedPrice(i64),
    /// Off the shipping charge (minor units).
    ShippingAbsolute(i64),
    /// Percent off the shipping charge.
    ShippingPercentage(Decimal),
    /// Shipping costs this (minor units).
    ShippingFixedPrice(i64),
}

impl Benefit {
    fn is_shipping(&self) -> bool {
        matches!(
            self,
            Benefit::ShippingAbsolute(_)
                | Benefit::ShippingPercentage(_)
                | Benefit::ShippingFixedPrice(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: i64,
    pub name: String,
    /// Higher first.
    pub priority: i32,
    /// Applies only alone: not after another offer, and no other offer after it.
    pub exclusive: bool,
    pub condition_range: Range,
    pub condition: Condition,
    pub benefit_range: Range,
    pub benefit: Benefit,
    /// Units one application may discount.
    pub max_affected_items: Option<u32>,
    /// Applications per basket (what is left of the global and per-customer limits too,
    /// worked out by the caller).
    pub max_applications: Option<u32>,
    /// Most discount the offer may give this basket (minor units).
    pub max_discount: Option<i64>,
    /// A non-exclusive offer stacks only with the offers listed here; `None`: with any other
    /// non-exclusive offer. Both offers of a pair must allow it.
    pub combines_with: Option<BTreeSet<i64>>,
}

impl Offer {
    fn allows(&self, other: i64) -> bool {
        self.combines_with
            .as_ref()
            .is_none_or(|ids| ids.contains(&other))
    }
}

/// One basket line as the engine sees it: the unit price offers discount (incl. or excl. tax,
/// as the shop is set up) in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_id: i64,
    pub product_id: i64,
    pub unit_price: i64,
    pub quantity: u32,
}

/// What a plugin condition answered: satisfied and the units it uses, or not (with the
/// message to show the customer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginVerdict {
    Satisfied(Vec<(i64, u32)>),
    NotSatisfied {
        upsell: Option<String>,
    },
    /// The plugin failed: the offer is left out, the basket still prices.
    Failed(String),
}

/// Why an offer gave nothing (or stopped giving).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotApplied {
    /// The condition is not met, and by how much (`missing`: units, minor units or products).
    ConditionNotMet {
        missing: Option<i64>,
    },
    /// The plugin said no, with its message.
    PluginSaidNo {
        upsell: Option<String>,
    },
    PluginFailed(String),
    /// Its applications or its discount limit.
    LimitReached,
    /// An exclusive offer applied first, or this one is exclusive and another applied first.
    Excluded {
        by: i64,
    },
    /// The condition is met but nothing in the benefit's range is left to discount.
    NothingToDiscount,
}

/// A discount on one line, from one offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDiscount {
    pub offer_id: i64,
    pub line_id: i64,
    pub amount: i64,
    pub quantity: u32,
}

/// A discount on shipping, applied to the charge once a method is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingDiscount {
    pub offer_id: i64,
    pub benefit: Benefit,
}

impl ShippingDiscount {
    /// The discount on a shipping `charge` (minor units), never more than the charge.
    pub fn on(&self, charge: i64) -> i64 {
        let d = match &self.benefit {
            Benefit::ShippingAbsolute(a) => *a,
            Benefit::ShippingPercentage(p) => percent_of(charge, *p),
            Benefit::ShippingFixedPrice(p) => charge - p,
            _ => 0,
        };
        d.clamp(0, charge.max(0))
    }
}

/// What happened to one offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferResult {
    pub offer_id: i64,
    pub applications: u32,
    pub discount: i64,
    /// Why it did not apply (again): set when it applied 0 times, and when a limit stopped it.
    pub stopped: Option<NotApplied>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub line_discounts: Vec<LineDiscount>,
    pub shipping: Vec<ShippingDiscount>,
    /// Every offer, in the order they were tried.
    pub offers: Vec<OfferResult>,
}

impl Applied {
    pub fn total_line_discount(&self) -> i64 {
        self.line_discounts.iter().map(|d| d.amount).sum()
    }

    pub fn discount_of_line(&self, line_id: i64) -> i64 {
        self.line_discounts
            .iter()
            .filter(|d| d.line_id == line_id)
            .map(|d| d.amount)
            .sum()
    }
}

/// `amount × percent / 100`, half up to the minor unit.
fn percent_of(amount: i64, percent: Decimal) -> i64 {
    (Decimal::from(amount) * percent / Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(0)
}

/// One unit of a line, the thing conditions count and benefits discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Unit {
    price: i64,
    line_id: i64,
}

/// Answers a plugin condition (the plugin's id) for the units still available in its range,
/// as (line id, quantity).
pub type PluginCheck<'a> = dyn FnMut(&str, &[(i64, u32)]) -> PluginVerdict + 'a;

/// Applies `offers` to `lines`; `plugin` answers plugin conditions.
pub fn apply(offers: &[Offer], lines: &[Line], plugin: &mut PluginCheck<'_>) -> Applied {
    let mut lines: Vec<&Line> = lines.iter().filter(|l| l.quantity > 0).collect();
    lines.sort_by_key(|l| l.line_id);
    let product_of: BTreeMap<i64, i64> = lines.iter().map(|l| (l.line_id, l.product_id)).collect();
    // Units left per line, and what each line may still lose (never below zero).
    let mut available: BTreeMap<i64, u32> = lines.iter().map(|l| (l.line_id, l.quantity)).collect();
    let mut room: BTreeMap<i64, i64> = lines
        .iter()
        .map(|l| (l.line_id, l.unit_price.max(0) * i64::from(l.quantity)))
        .collect();
    let price_of: BTreeMap<i64, i64> = lines
        .iter()
        .map(|l| (l.line_id, l.unit_price.max(0)))
        .collect();

    let by_id: BTreeMap<i64, &Offer> = offers.iter().map(|o| (o.id, o)).collect();
    let mut offers: Vec<&Offer> = offers.iter().collect();
    offers.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let mut out = Applied::default();
    let mut applied_ids: Vec<i64> = Vec::new();
    let mut exclusive_applied: Option<i64> = None;
    let mut per_line: BTreeMap<(i64, i64), (i64, u32)> = BTreeMap::new();

    for offer in offers {
        let mut result = OfferResult {
            offer_id: offer.id,
            applications: 0,
            discount: 0,
            stopped: None,
        };
        if let Some(by) = exclusive_applied {
            result.stopped = Some(NotApplied::Excluded { by });
            out.offers.push(result);
            continue;
        }
        if offer.exclusive
            && let Some(&by) = applied_ids.first()
        {
            result.stopped = Some(NotApplied::Excluded { by });
            out.offers.push(result);
            continue;
        }
        if let Some(&by) = applied_ids
            .iter()
            .find(|&&other| !offer.allows(other) || !by_id[&other].allows(offer.id))
        {
            result.stopped = Some(NotApplied::Excluded { by });
            out.offers.push(result);
            continue;
        }
        loop {
            if offer
                .max_applications
                .is_some_and(|m| result.applications >= m)
                || offer.max_discount.is_some_and(|m| result.discount >= m)
            {
                result.stopped = Some(NotApplied::LimitReached);
                break;
            }
            // Shipping benefits apply once: a basket has one delivery.
            if offer.benefit.is_shipping() && result.applications > 0 {
                break;
            }
            let units_in = |range: &Range, available: &BTreeMap<i64, u32>| -> Vec<Unit> {
                let mut units = Vec::new();
                for (&line_id, &n) in available {
                    if range.contains(product_of[&line_id]) {
                        for _ in 0..n {
                            units.push(Unit {
                                price: price_of[&line_id],
                                line_id,
                            });
                        }
                    }
                }
                units.sort();
                units
            };
            let condition_units = units_in(&offer.condition_range, &available);
            // The condition's own units (before the benefit picks), for its check and for a
            // fixed-price bundle.
            let needed: Result<Vec<Unit>, NotApplied> = match &offer.condition {
                Condition::Count(n) => {
                    let n = *n as usize;
                    if condition_units.len() >= n {
                        Ok(Vec::new())
                    } else {
                        Err(NotApplied::ConditionNotMet {
                            missing: Some((n - condition_units.len()) as i64),
                        })
                    }
                }
                Condition::Value(v) => {
                    let have: i64 = condition_units.iter().map(|u| u.price).sum();
                    if have >= *v {
                        Ok(Vec::new())
                    } else {
                        Err(NotApplied::ConditionNotMet {
                            missing: Some(v - have),
                        })
                    }
                }
                Condition::Coverage(n) => {
                    let products: BTreeSet<i64> = condition_units
                        .iter()
                        .map(|u| product_of[&u.line_id])
                        .collect();
                    if products.len() >= *n as usize {
                        Ok(Vec::new())
                    } else {
                        Err(NotApplied::ConditionNotMet {
                            missing: Some((*n as usize - products.len()) as i64),
                        })
                    }
                }
                Condition::Plugin(id) => {
                    let offered: Vec<(i64, u32)> = available
                        .iter()
                        .filter(|(l, n)| **n > 0 && offer.condition_range.contains(product_of[l]))
                        .map(|(l, n)| (*l, *n))
                        .collect();
                    match plugin(id, &offered) {
                        PluginVerdict::Satisfied(used) => {
                            let mut units = Vec::new();
                            for (line_id, n) in used {
                                let ok = offered.iter().find(|(l, _)| *l == line_id);
                                let n = ok.map_or(0, |(_, have)| n.min(*have));
                                for _ in 0..n {
                                    units.push(Unit {
                                        price: price_of[&line_id],
                                        line_id,
                                    });
                                }
                            }
                            units.sort();
                            Ok(units)
                        }
                        PluginVerdict::NotSatisfied { upsell } => {
                            Err(NotApplied::PluginSaidNo { upsell })
                        }
                        PluginVerdict::Failed(e) => Err(NotApplied::PluginFailed(e)),
                    }
                }
            };
            let plugin_units = match needed {
                Ok(u) => u,
                Err(reason) => {
                    if result.applications == 0 {
                        result.stopped = Some(reason);
                    }
                    break;
                }
            };

            // The benefit's units.
            let benefit_units = units_in(&offer.benefit_range, &available);
            let cap = offer.max_affected_items.map_or(usize::MAX, |m| m as usize);
            let affected: Vec<Unit> = match &offer.benefit {
                Benefit::Multibuy => benefit_units.iter().take(1.min(cap)).copied().collect(),
                Benefit::FixedPrice(_) => Vec::new(),
                b if b.is_shipping() => Vec::new(),
                // The dearest units gain the most from a discount; take those first.
                _ => benefit_units.iter().rev().take(cap).copied().collect(),
            };

            // The condition takes its units, the affected ones first.
            let mut left = available.clone();
            for u in &affected {
                *left.get_mut(&u.line_id).expect("an affected line") -= 1;
            }
            let mut taken: Vec<Unit> = affected.clone();
            let take_from_left = |unit: Unit, left: &mut BTreeMap<i64, u32>| -> bool {
                match left.get_mut(&unit.line_id) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                }
            };
            let in_condition = |u: &Unit| offer.condition_range.contains(product_of[&u.line_id]);
            match &offer.condition {
                Condition::Count(n) => {
                    let mut count = affected.iter().filter(|u| in_condition(u)).count();
                    for u in &condition_units {
                        if count >= *n as usize {
                            break;
                        }
                        if take_from_left(*u, &mut left) {
                            taken.push(*u);
                            count += 1;
                        }
                    }
                    if count < *n as usize {
                        break;
                    }
                }
                Condition::Value(v) => {
                    let mut value: i64 = affected
                        .iter()
                        .filter(|u| in_condition(u))
                        .map(|u| u.price)
                        .sum();
                    // The dearest first: the fewest units reach the threshold.
                    for u in condition_units.iter().rev() {
                        if value >= *v {
                            break;
                        }
                        if take_from_left(*u, &mut left) {
                            taken.push(*u);
                            value += u.price;
                        }
                    }
                    if value < *v {
                        break;
                    }
                }
                Condition::Coverage(n) => {
                    let mut products: BTreeSet<i64> = affected
                        .iter()
                        .filter(|u| in_condition(u))
                        .map(|u| product_of[&u.line_id])
                        .collect();
                    for u in &condition_units {
                        if products.len() >= *n as usize {
                            break;
                        }
                        if !products.contains(&product_of[&u.line_id])
                            && take_from_left(*u, &mut left)
                        {
                            taken.push(*u);
                            products.insert(product_of[&u.line_id]);
                        }
                    }
                    if products.len() < *n as usize {
                        break;
                    }
                }
                Condition::Plugin(_) => {
                    for u in &plugin_units {
                        if !affected.contains(u) && take_from_left(*u, &mut left) {
                            taken.push(*u);
                        }
                    }
                }
            }

            // What this application gives, per line.
            let mut discounts: BTreeMap<i64, (i64, u32)> = BTreeMap::new();
            let give = |line_id: i64, amount: i64, discounts: &mut BTreeMap<i64, (i64, u32)>| {
                let e = discounts.entry(line_id).or_default();
                e.0 += amount;
                e.1 += 1;
            };
            match &offer.benefit {
                Benefit::Percentage(p) => {
                    for u in &affected {
                        give(u.line_id, percent_of(u.price, *p), &mut discounts);
                    }
                }
                Benefit::FixedUnitPrice(price) => {
                    for u in &affected {
                        give(u.line_id, (u.price - price).max(0), &mut discounts);
                    }
                }
                Benefit::Multibuy => {
                    for u in &affected {
                        give(u.line_id, u.price, &mut discounts);
                    }
                }
                Benefit::Absolute(amount) => {
                    for (line_id, d) in spread(*amount, &affected) {
                        give(line_id, d, &mut discounts);
                    }
                }
                Benefit::FixedPrice(price) => {
                    let set: Vec<Unit> = taken.clone();
                    let total: i64 = set.iter().map(|u| u.price).sum();
                    for (line_id, d) in spread((total - price).max(0), &set) {
                        give(line_id, d, &mut discounts);
                    }
                }
                Benefit::ShippingAbsolute(_)
                | Benefit::ShippingPercentage(_)
                | Benefit::ShippingFixedPrice(_) => {}
            }
            // Limits: the offer's total, and no line below zero.
            let mut budget = offer.max_discount.map_or(i64::MAX, |m| m - result.discount);
            let mut given = 0;
            for (line_id, (amount, _)) in &mut discounts {
                let r = room.get_mut(line_id).expect("a line");
                let d = (*amount).min(*r).min(budget).max(0);
                *amount = d;
                *r -= d;
                budget -= d;
                given += d;
            }
            if given == 0 && !offer.benefit.is_shipping() {
                if result.applications == 0 {
                    result.stopped = Some(NotApplied::NothingToDiscount);
                }
                break;
            }
            for u in &taken {
                if let Some(n) = available.get_mut(&u.line_id) {
                    *n = n.saturating_sub(1);
                }
            }
            for (line_id, (amount, quantity)) in discounts {
                if amount > 0 {
                    let e = per_line.entry((offer.id, line_id)).or_default();
                    e.0 += amount;
                    e.1 += quantity;
                }
            }
            if offer.benefit.is_shipping() {
                out.shipping.push(ShippingDiscount {
                    offer_id: offer.id,
                    benefit: offer.benefit.clone(),
                });
            }
            result.applications += 1;
            result.discount += given;
            // A condition that takes no units (a plugin that names none) would apply forever.
            if taken.is_empty() {
                break;
            }
        }
        if result.applications > 0 {
            applied_ids.push(offer.id);
            if offer.exclusive {
                exclusive_applied = Some(offer.id);
            }
        }
        out.offers.push(result);
    }
    out.line_discounts = per_line
        .into_iter()
        .map(|((offer_id, line_id), (amount, quantity))| LineDiscount {
            offer_id,
            line_id,
            amount,
            quantity,
        })
        .collect();
    out
}

/// `amount` over `units` in proportion to their prices, in whole minor units that add up to
/// exactly `min(amount, their total)` (largest remainders get the leftover units).
fn spread(amount: i64, units: &[Unit]) -> Vec<(i64, i64)> {
    let total: i64 = units.iter().map(|u| u.price).sum();
    if total <= 0 || amount <= 0 {
        return Vec::new();
    }
    let amount = amount.min(total);
    let mut shares: Vec<(i64, i64, i128)> = units
        .iter()
        .map(|u| {
            let exact = i128::from(amount) * i128::from(u.price);
            let floor = exact / i128::from(total);
            (
                u.line_id,
                i64::try_from(floor).unwrap_or(0),
                exact % i128::from(total),
            )
        })
        .collect();
    let mut left = amount - shares.iter().map(|s| s.1).sum::<i64>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| shares[b].2.cmp(&shares[a].2).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].1 += 1;
        left -= 1;
    }
    shares.into_iter().map(|(l, d, _)| (l, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(line_id: i64, product_id: i64, unit_price: i64, quantity: u32) -> Line {
        Line {
            line_id,
            product_id,
            unit_price,
            quantity,
        }
    }

    fn offer(id: i64, condition: Condition, benefit: Benefit) -> Offer {
        Offer {
            id,
            name: format!("offer {id}"),
            priority: 0,
            exclusive: false,
            condition_range: Range::All,
            condition,
            benefit_range: Range::All,
            benefit,
            max_affected_items: None,
            max_applications: None,
            max_discount: None,
            combines_with: None,
        }
    }

    fn products(ids: &[i64]) -> Range {
        Range::Products(ids.iter().copied().collect())
    }

    fn no_plugin(_: &str, _: &[(i64, u32)]) -> PluginVerdict {
        PluginVerdict::Failed("no plugin in this test".into())
    }

    fn run(offers: &[Offer], lines: &[Line]) -> Applied {
        apply(offers, lines, &mut no_plugin)
    }

    /// The classic cases, each with the discount it must give.
    #[test]
    fn classic_offers() {
        struct Case {
            name: &'static str,
            offers: Vec<Offer>,
            lines: Vec<Line>,
            discount: i64,
        }
        let three_for_two = offer(1, Condition::Count(3), Benefit::Multibuy);
        let tenth_off_books_over_50 = Offer {
            condition_range: products(&[10, 11]),
            benefit_range: products(&[10, 11]),
            ..offer(
                2,
                Condition::Value(5_000),
                Benefit::Percentage(Decimal::TEN),
            )
        };
        let buy_shirt_get_socks = Offer {
            condition_range: products(&[20]),
            benefit_range: products(&[21]),
            max_affected_items: Some(1),
            ..offer(3, Condition::Count(1), Benefit::Multibuy)
        };
        let bundle = Offer {
            condition_range: products(&[30, 31]),
            ..offer(4, Condition::Coverage(2), Benefit::FixedPrice(2_500))
        };
        let cases = vec![
            Case {
                name: "3 for 2: the cheapest of each three is free",
                offers: vec![three_for_two.clone()],
                lines: vec![line(1, 1, 1_000, 2), line(2, 2, 500, 4)],
                // Six units: two applications; the free ones are the two cheapest (5.00 each).
                discount: 1_000,
            },
            Case {
                name: "3 for 2 with five units applies once",
                offers: vec![three_for_two],
                lines: vec![line(1, 1, 700, 5)],
                discount: 700,
            },
            Case {
                name: "10% off books over 50.00",
                offers: vec![tenth_off_books_over_50.clone()],
                lines: vec![
                    line(1, 10, 3_000, 1),
                    line(2, 11, 2_500, 1),
                    line(3, 99, 9_000, 1),
                ],
                discount: 550,
            },
            Case {
                name: "10% off books: 49.99 is not enough",
                offers: vec![tenth_off_books_over_50],
                lines: vec![line(1, 10, 4_999, 1), line(3, 99, 9_000, 1)],
                discount: 0,
            },
            Case {
                name: "buy a shirt, get socks free",
                offers: vec![buy_shirt_get_socks],
                lines: vec![line(1, 20, 2_000, 1), line(2, 21, 400, 3)],
                discount: 400,
            },
            Case {
                name: "a fixed bundle price",
                offers: vec![bundle],
                lines: vec![line(1, 30, 2_000, 1), line(2, 31, 1_500, 1)],
                discount: 1_000,
            },
        ];
        for c in cases {
            let applied = run(&c.offers, &c.lines);
            assert_eq!(
                applied.total_line_discount(),
                c.discount,
                "{}: {applied:?}",
                c.name
            );
        }
    }

    #[test]
    fn free_shipping_over_a_threshold_and_how_much_is_missing() {
        let free = offer(
            1,
            Condition::Value(5_000),
            Benefit::ShippingPercentage(Decimal::ONE_HUNDRED),
        );
        let under = run(std::slice::from_ref(&free), &[line(1, 1, 3_800, 1)]);
        assert!(under.shipping.is_empty());
        assert_eq!(
            under.offers[0].stopped,
            Some(NotApplied::ConditionNotMet {
                missing: Some(1_200)
            })
        );
        let over = run(&[free], &[line(1, 1, 2_600, 2)]);
        assert_eq!(over.shipping.len(), 1);
        assert_eq!(over.shipping[0].on(495), 495);
        assert_eq!(over.total_line_discount(), 0);
    }

    #[test]
    fn exclusive_offers_compete_and_combinable_ones_stack() {
        let lines = [line(1, 1, 1_000, 3)];
        let ten = Offer {
            priority: 10,
            exclusive: true,
            ..offer(1, Condition::Count(1), Benefit::Percentage(Decimal::TEN))
        };
        let twenty = Offer {
            priority: 5,
            exclusive: true,
            ..offer(
                2,
                Condition::Count(1),
                Benefit::Percentage(Decimal::from(20)),
            )
        };
        let applied = run(&[twenty.clone(), ten.clone()], &lines);
        // The higher priority wins, the other is excluded by it.
        assert_eq!(applied.total_line_discount(), 300);
        assert_eq!(
            applied.offers[1].stopped,
            Some(NotApplied::Excluded { by: 1 })
        );

        let off_one = Offer {
            max_affected_items: Some(1),
            max_applications: Some(1),
            ..offer(3, Condition::Count(1), Benefit::Absolute(100))
        };
        let off_two = Offer {
            max_affected_items: Some(1),
            max_applications: Some(1),
            ..offer(4, Condition::Count(1), Benefit::Absolute(200))
        };
        let stacked = run(&[off_one.clone(), off_two.clone()], &lines);
        assert_eq!(stacked.total_line_discount(), 300);
        assert!(stacked.offers.iter().all(|o| o.applications == 1));

        // A combination list: 4 stacks only with 5, so after 3 it is left out.
        let picky = Offer {
            combines_with: Some(BTreeSet::from([5])),
            ..off_two
        };
        let alone = run(&[off_one, picky], &lines);
        assert_eq!(alone.total_line_discount(), 100);
        assert_eq!(
            alone.offers[1].stopped,
            Some(NotApplied::Excluded { by: 3 })
        );
    }

    #[test]
    fn limits_stop_an_offer() {
        let lines = [line(1, 1, 1_000, 10)];
        let capped = Offer {
            max_affected_items: Some(1),
            max_discount: Some(250),
            ..offer(1, Condition::Count(1), Benefit::Absolute(100))
        };
        let applied = run(&[capped], &lines);
        assert_eq!(applied.total_line_discount(), 250);
        assert_eq!(applied.offers[0].stopped, Some(NotApplied::LimitReached));
    }

    #[test]
    fn a_plugin_condition_names_its_units_and_a_failing_one_is_skipped() {
        let lines = [line(1, 1, 1_000, 2), line(2, 2, 600, 1)];
        let by_plugin = offer(
            1,
            Condition::Plugin("min-quantity".into()),
            Benefit::Percentage(Decimal::from(50)),
        );
        let mut calls = 0;
        let applied = apply(
            std::slice::from_ref(&by_plugin),
            &lines,
            &mut |id, offered| {
                calls += 1;
                assert_eq!(id, "min-quantity");
                if offered.iter().map(|(_, n)| n).sum::<u32>() >= 2 {
                    PluginVerdict::Satisfied(vec![(1, 2)])
                } else {
                    PluginVerdict::NotSatisfied {
                        upsell: Some("Add 1 more".into()),
                    }
                }
            },
        );
        // 50% off every unit; the plugin was asked again for what was left, and said no.
        assert_eq!(applied.total_line_discount(), 1_300);
        assert!(calls >= 1);
        let failing = run(&[by_plugin], &lines);
        assert_eq!(failing.total_line_discount(), 0);
        assert!(matches!(
            failing.offers[0].stopped,
            Some(NotApplied::PluginFailed(_))
        ));
    }

    #[test]
    fn spreading_adds_up_exactly() {
        let units = [
            Unit {
                price: 333,
                line_id: 1,
            },
            Unit {
                price: 333,
                line_id: 2,
            },
            Unit {
                price: 334,
                line_id: 3,
            },
        ];
        let shares = spread(100, &units);
        assert_eq!(shares.iter().map(|s| s.1).sum::<i64>(), 100);
        assert_eq!(
            spread(5_000, &units).iter().map(|s| s.1).sum::<i64>(),
            1_000
        );
    }

    fn any_offer() -> impl Strategy<Value = Offer> {
        let condition = prop_oneof![
            (1u32..5).prop_map(Condition::Count),
            (0i64..20_000).prop_map(Condition::Value),
            (1u32..4).prop_map(Condition::Coverage),
        ];
        let benefit = prop_oneof![
            (1u32..=100).prop_map(|p| Benefit::Percentage(Decimal::from(p))),
            (0i64..5_000).prop_map(Benefit::Absolute),
            (0i64..2_000).prop_map(Benefit::FixedUnitPrice),
            Just(Benefit::Multibuy),
            (0i64..5_000).prop_map(Benefit::FixedPrice),
        ];
        (
            1i64..50,
            -3i32..3,
            any::<bool>(),
            condition,
            benefit,
            proptest::option::of(1u32..4),
        )
            .prop_map(
                |(id, priority, exclusive, condition, benefit, max_apps)| Offer {
                    priority,
                    exclusive,
                    max_applications: max_apps,
                    ..offer(id, condition, benefit)
                },
            )
    }

    fn any_lines() -> impl Strategy<Value = Vec<Line>> {
        proptest::collection::vec((1i64..6, 0i64..5_000, 1u32..5), 1..8).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (product, price, qty))| line(i as i64 + 1, product, price, qty))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn discounts_never_exceed_what_they_discount(
            offers in proptest::collection::vec(any_offer(), 0..5),
            lines in any_lines(),
        ) {
            let applied = run(&offers, &lines);
            let total: i64 = lines.iter().map(|l| l.unit_price * i64::from(l.quantity)).sum();
            prop_assert!(applied.total_line_discount() <= total);
            for l in &lines {
                let d = applied.discount_of_line(l.line_id);
                prop_assert!(d >= 0 && d <= l.unit_price * i64::from(l.quantity), "line {l:?}: {d}");
            }
            let by_offer: i64 = applied.offers.iter().map(|o| o.discount).sum();
            prop_assert_eq!(by_offer, applied.total_line_discount());
        }

        #[test]
        fn the_order_of_lines_and_offers_does_not_matter(
            offers in proptest::collection::vec(any_offer(), 0..5),
            lines in any_lines(),
        ) {
            // Offer ids are the tie-break, so give each its own.
            let offers: Vec<Offer> = offers.into_iter().enumerate().map(|(i, o)| Offer { id: i as i64 + 1, ..o }).collect();
            let a = run(&offers, &lines);
            let mut reversed_lines = lines.clone();
            reversed_lines.reverse();
            let mut reversed_offers = offers.clone();
            reversed_offers.reverse();
            let b = run(&reversed_offers, &reversed_lines);
            prop_assert_eq!(a.line_discounts, b.line_discounts);
        }
    }
}
