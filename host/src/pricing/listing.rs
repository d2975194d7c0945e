//! Prices for a listing: every product of a page (and each parent's variants) in one
//! strategy call, with a parent shown at its cheapest variant (see [`summarise_variants`]).

use std::collections::HashMap;

use sqlx::AnyPool;

use super::{Pricing, PricingContext, PricingError, PricingItem, PurchaseInfo, summarise_variants};
use crate::money::Currency;
use crate::partner::{self, StockRecord};

/// Prices the listed products `(id, track_stock)` as an anonymous visitor sees them: per
/// concrete product (standalone or child) and per parent (summarised from its children).
pub async fn price_listing(
    pricing: &Pricing,
    pool: &AnyPool,
    currency: Currency,
    listed: &[(i64, bool)],
) -> Result<HashMap<i64, PurchaseInfo>, PricingError> {
    let ids: Vec<i64> = listed.iter().map(|(id, _)| *id).collect();
    let stock = partner::stock_for_products(pool, &ids).await?;
    // Group records by the concrete product they belong to.
    let mut by_product: HashMap<i64, (i64, Vec<&StockRecord>)> = HashMap::new();
    for (listing_id, record) in &stock {
        by_product
            .entry(record.product_id)
            .or_insert_with(|| (*listing_id, Vec::new()))
            .1
            .push(record);
    }
    let track: HashMap<i64, bool> = listed.iter().copied().collect();
    let mut concrete: Vec<(i64, i64)> = by_product
        .iter()
        .map(|(product_id, (listing_id, _))| (*product_id, *listing_id))
        .collect();
    concrete.sort_unstable();
    let items: Vec<PricingItem<'_>> = concrete
        .iter()
        .map(|(product_id, listing_id)| PricingItem {
            product_id: *product_id,
            track_stock: track.get(listing_id).copied().unwrap_or(true),
            stock: &by_product[product_id].1,
            quantity: 1,
        })
        .collect();
    let ctx = PricingContext {
        currency,
        customer_id: None,
        basket_id: None,
    };
    let results = pricing.price_all(pool, &ctx, &items).await?;
    let mut infos: HashMap<i64, PurchaseInfo> = HashMap::with_capacity(results.len() + ids.len());
    let mut children_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for ((product_id, listing_id), info) in concrete.iter().zip(results) {
        if product_id != listing_id {
            children_of
                .entry(*listing_id)
                .or_default()
                .push(*product_id);
        }
        infos.insert(*product_id, info);
    }
    for id in &ids {
        if let Some(children) = children_of.get(id) {
            let child_infos: Vec<&PurchaseInfo> =
                children.iter().filter_map(|c| infos.get(c)).collect();
            let summary = summarise_variants(*id, &child_infos);
            infos.insert(*id, summary);
        }
    }
    Ok(infos)
}
