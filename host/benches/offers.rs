//! The offer engine's host time: 20 active offers (every condition and benefit kind but
//! plugin conditions, exclusive and combinable, with limits) applied to a 50-line basket.
//! Target (issue 12): under 1 ms, plus the plugin calls a plugin condition needs.
//!
//! Run: `cargo bench -p emporium --bench offers`. Figures are recorded in BENCHMARKS.md.

use std::collections::BTreeSet;

use criterion::{Criterion, criterion_group, criterion_main};
use emporium::offer::engine::{self, Benefit, Condition, Offer, PluginVerdict, Range};
use rust_decimal::Decimal;

/// 50 lines of products 1..=50, prices 1.99 to 50.99, 1 to 4 units each.
fn basket() -> Vec<engine::Line> {
    (1..=50)
        .map(|i| engine::Line {
            line_id: i,
            product_id: i,
            unit_price: 199 + (i - 1) * 100,
            quantity: 1 + (i % 4) as u32,
        })
        .collect()
}

/// 20 offers over overlapping ranges (every product, odd products, the first 20, ...).
fn offers() -> Vec<Offer> {
    let ranges = [
        Range::All,
        Range::Products((1..=50).filter(|i| i % 2 == 1).collect()),
        Range::Products((1..=20).collect()),
        Range::Products((21..=50).collect()),
        Range::Products((1..=50).filter(|i| i % 5 == 0).collect::<BTreeSet<_>>()),
    ];
    let conditions = [
        Condition::Count(3),
        Condition::Value(5_000),
        Condition::Coverage(2),
        Condition::Count(1),
    ];
    let benefits = [
        Benefit::Percentage(Decimal::TEN),
        Benefit::Absolute(500),
        Benefit::Multibuy,
        Benefit::FixedUnitPrice(999),
        Benefit::FixedPrice(2_000),
        Benefit::ShippingPercentage(Decimal::ONE_HUNDRED),
        Benefit::ShippingAbsolute(200),
    ];
    (0..20)
        .map(|i| Offer {
            id: i as i64 + 1,
            name: format!("offer {i}"),
            priority: (20 - i) as i32,
            exclusive: i % 7 == 3,
            condition_range: ranges[i % ranges.len()].clone(),
            condition: conditions[i % conditions.len()].clone(),
            benefit_range: ranges[(i + 1) % ranges.len()].clone(),
            benefit: benefits[i % benefits.len()].clone(),
            max_affected_items: (i % 3 == 0).then_some(3),
            max_applications: (i % 2 == 0).then_some(4),
            max_discount: (i % 4 == 0).then_some(10_000),
            combines_with: None,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (lines, offers) = (basket(), offers());
    let applied = engine::apply(&offers, &lines, &mut |_, _| {
        PluginVerdict::Failed("none".into())
    });
    assert!(
        applied.total_line_discount() > 0,
        "the offers give something"
    );
    c.bench_function("offers: 20 offers on a 50-line basket", |b| {
        b.iter(|| {
            engine::apply(
                std::hint::black_box(&offers),
                std::hint::black_box(&lines),
                &mut |_, _| PluginVerdict::Failed("none".into()),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
