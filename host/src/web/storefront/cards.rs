//! View models shared by storefront pages: product cards priced by the active strategy.

use std::collections::HashMap;

use serde::Serialize;

use crate::catalogue::{self, Image, ListingRow, Structure};
use crate::partner::{self, StockRecord};
use crate::pricing::{
    Availability, Price, PricingContext, PricingItem, PurchaseInfo, summarise_variants,
};
use crate::web::{AppState, WebError};

#[derive(Debug, Clone, Serialize)]
pub struct MoneyView {
    #[serde(flatten)]
    pub shown: crate::money::Money,
    pub incl_tax: crate::money::Money,
    pub excl_tax: crate::money::Money,
}

impl MoneyView {
    pub fn from_price(price: &Price) -> MoneyView {
        MoneyView {
            shown: price.incl_tax,
            incl_tax: price.incl_tax,
            excl_tax: price.excl_tax,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: i64,
    pub title: String,
    pub url: String,
    pub image: Option<Image>,
    pub price: Option<MoneyView>,
    pub price_from: bool,
    pub availability: Availability,
    pub class_name: String,
    pub variant_count: i64,
}

/// Prices products (and each parent's children) in one strategy call per page.
pub struct Priced {
    /// Per concrete product (standalone or child) and per parent (summarised).
    pub infos: HashMap<i64, PurchaseInfo>,
}

pub async fn price_listing(state: &AppState, listed: &[(i64, bool)]) -> Result<Priced, WebError> {
    let ids: Vec<i64> = listed.iter().map(|(id, _)| *id).collect();
    let stock = partner::stock_for_products(&state.db.pool, &ids).await?;
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
        currency: state.currency,
        customer_id: None,
    };
    let results = state
        .pricing
        .price_all(&state.db.pool, &ctx, &items)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
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
    Ok(Priced { infos })
}

pub async fn cards(state: &AppState, rows: &[ListingRow]) -> Result<Vec<Card>, WebError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<(i64, bool)> = rows.iter().map(|r| (r.id, r.track_stock)).collect();
    let priced = price_listing(state, &listed).await?;
    let titles: Vec<(i64, &str)> = rows.iter().map(|r| (r.id, r.title.as_str())).collect();
    let mut images = catalogue::primary_images(&state.db.pool, &titles).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let info = priced.infos.get(&row.id);
            Card {
                id: row.id,
                title: row.title.clone(),
                url: row.url(),
                image: images.remove(&row.id),
                price: info
                    .and_then(|i| i.price.as_ref())
                    .map(MoneyView::from_price),
                price_from: row.structure == Structure::Parent,
                availability: info
                    .map(|i| i.availability.clone())
                    .unwrap_or_else(Availability::unavailable),
                class_name: row.class_name.clone(),
                variant_count: row.variant_count,
            }
        })
        .collect())
}
