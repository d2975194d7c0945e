//! Pricing through the enabled pricing-strategy plugin, with the built-in strategy as the
//! fallback. [`Pricing`] is what the storefront and the basket call: it asks the plugin when
//! one is enabled and the built-in [`Strategy`] otherwise, or when the plugin fails and the
//! pricing extension point's failure policy says to carry on.
//!
//! A plugin prices a whole page or basket in one call per distinct quantity (volume pricing
//! depends on the quantity, which the contract passes once per call); a listing is one call.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::AnyPool;

use super::{
    Availability, AvailabilityCode, Price, PricingContext, PricingItem, PurchaseInfo, Strategy,
};
use crate::catalogue::category::CategoryTree;
use crate::catalogue::snapshot::ProductFacts;
use crate::catalogue::{self, CatalogueError};
use crate::money::{Currency, Money, Rounding};
use crate::plugins::calls::{self as plugin, StockStatus};
use crate::plugins::{Decision, ExtensionPoint, PluginError, PluginRegistry, Priced};

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    /// The pricing policy is fail-closed and the plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("catalogue: {0}")]
    Catalogue(#[from] CatalogueError),
    #[error("stock: {0}")]
    Stock(#[from] crate::partner::PartnerError),
}

/// The shop's pricing: the enabled pricing-strategy plugin, or the built-in strategy.
pub struct Pricing {
    builtin: Arc<dyn Strategy>,
    plugins: Arc<PluginRegistry>,
    /// Shared with the storefront's category cache; read only (a miss loads without storing,
    /// so the storefront's menu, filled alongside the tree, is never left empty).
    categories: moka::sync::Cache<(), Arc<CategoryTree>>,
}

impl Pricing {
    pub fn new(
        builtin: Arc<dyn Strategy>,
        plugins: Arc<PluginRegistry>,
        categories: moka::sync::Cache<(), Arc<CategoryTree>>,
    ) -> Pricing {
        Pricing {
            builtin,
            plugins,
            categories,
        }
    }

    /// The plugin that prices products now, if any. With several enabled, the first by id
    /// wins (one strategy decides a price; the dashboard should let only one be enabled).
    pub fn active_plugin(&self) -> Option<String> {
        self.plugins
            .enabled_ids(ExtensionPoint::Pricing)
            .into_iter()
            .next()
    }

    /// Prices every item, one result per item in the same order.
    pub async fn price_all(
        &self,
        pool: &AnyPool,
        ctx: &PricingContext,
        items: &[PricingItem<'_>],
    ) -> Result<Vec<PurchaseInfo>, PricingError> {
        let Some(plugin) = self.active_plugin() else {
            return Ok(self.builtin.price_all(ctx, items));
        };
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let tree = match self.categories.get(&()) {
            Some(tree) => tree,
            None => Arc::new(catalogue::load_category_tree(pool).await?),
        };
        let mut ids: Vec<i64> = items.iter().map(|i| i.product_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let facts = catalogue::snapshot::facts(pool, &tree, &ids).await?;

        // One call per distinct quantity; positions remember where each answer goes.
        let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (at, item) in items.iter().enumerate() {
            groups.entry(item.quantity.max(1)).or_default().push(at);
        }
        let customer = plugin::Customer::new(ctx.customer_id, None);
        let calls: Vec<(Vec<usize>, plugin::PricingContext, Vec<plugin::PricingItem>)> = groups
            .into_iter()
            .map(|(quantity, positions)| {
                let context = plugin::PricingContext {
                    customer: customer.clone(),
                    currency: ctx.currency,
                    quantity,
                };
                let plugin_items = positions
                    .iter()
                    .map(|&at| plugin_item(&items[at], facts.get(&items[at].product_id)))
                    .collect();
                (positions, context, plugin_items)
            })
            .collect();
        let registry = self.plugins.clone();
        let id = plugin.clone();
        let basket_id = ctx.basket_id;
        let answers = tokio::task::spawn_blocking(move || {
            calls
                .into_iter()
                .map(|(positions, context, plugin_items)| {
                    let result = registry.price_for_basket(&id, basket_id, &context, &plugin_items);
                    registry
                        .decide(ExtensionPoint::Pricing, result)
                        .map(|d| (positions, d))
                })
                .collect::<Result<Vec<_>, PluginError>>()
        })
        .await
        .map_err(|e| PluginError::Runtime(format!("pricing task failed: {e}")))??;

        let mut out: Vec<Option<PurchaseInfo>> = vec![None; items.len()];
        for (positions, decision) in answers {
            match decision {
                Decision::Plugin(priced) => {
                    for (at, answer) in positions.into_iter().zip(priced) {
                        out[at] = Some(purchase_info(&items[at], answer, ctx.currency));
                    }
                }
                Decision::Skip(e) | Decision::Builtin(e) => {
                    tracing::warn!(plugin = %plugin, error = %e, "pricing plugin failed; built-in prices used");
                    let group: Vec<PricingItem<'_>> =
                        positions.iter().map(|&at| items[at]).collect();
                    for (at, info) in positions
                        .into_iter()
                        .zip(self.builtin.price_all(ctx, &group))
                    {
                        out[at] = Some(info);
                    }
                }
            }
        }
        Ok(out
            .into_iter()
            .zip(items)
            .map(|(info, item)| info.unwrap_or_else(|| unpriced(item.product_id)))
            .collect())
    }
}

fn unpriced(product_id: i64) -> PurchaseInfo {
    PurchaseInfo {
        product_id,
        stock_record_id: None,
        price: None,
        availability: Availability::unavailable(),
    }
}

fn clamp_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn plugin_item(item: &PricingItem<'_>, facts: Option<&ProductFacts>) -> plugin::PricingItem {
    let product = match facts {
        Some(f) => f.plugin_product(),
        // A product deleted between listing and pricing: the plugin still answers for it.
        None => ProductFacts {
            id: item.product_id,
            ..ProductFacts::default()
        }
        .plugin_product(),
    };
    plugin::PricingItem {
        product,
        stock_records: item
            .stock
            .iter()
            .map(|sr| plugin::StockRecord {
                partner_id: sr.partner_id.to_string(),
                partner_sku: sr.partner_sku.clone(),
                price_excl_tax: Some(sr.price),
                num_in_stock: item.track_stock.then(|| clamp_u32(sr.num_in_stock)),
                num_allocated: clamp_u32(sr.num_allocated),
            })
            .collect(),
    }
}

/// Turns a validated plugin answer into the shop's view. The chosen partner must have a
/// record in the shop's currency (stock is allocated from it); a price that does not fit the
/// shop's money columns makes the product unavailable rather than wrong.
fn purchase_info(item: &PricingItem<'_>, answer: Priced, currency: Currency) -> PurchaseInfo {
    let record = answer.partner_id.as_deref().and_then(|partner| {
        item.stock
            .iter()
            .find(|sr| sr.partner_id.to_string() == partner && sr.price.currency() == currency)
    });
    let price = answer.unit_price.and_then(|(excl, incl)| {
        let excl_tax = Money::new(excl, currency).round(Rounding::HalfUp);
        let incl_tax = Money::new(incl, currency).round(Rounding::HalfUp);
        let (Ok(e), Ok(i)) = (excl_tax.to_minor(), incl_tax.to_minor()) else {
            tracing::warn!(
                product = item.product_id,
                "pricing plugin price out of range"
            );
            return None;
        };
        Some(Price {
            excl_tax,
            incl_tax,
            tax: Money::from_minor(i - e, currency),
        })
    });
    let sellable = price.is_some() && record.is_some();
    let message = |default: &str| {
        if answer.message.trim().is_empty() {
            default.to_string()
        } else {
            answer.message.clone()
        }
    };
    let availability = match answer.status {
        StockStatus::InStock if sellable => Availability {
            code: if record.is_some_and(|r| item.track_stock && r.is_low()) {
                AvailabilityCode::LowStock
            } else {
                AvailabilityCode::InStock
            },
            message: message("In stock"),
            is_available: true,
            max_quantity: answer.num_available.map(i64::from),
        },
        StockStatus::AvailableToOrder if sellable => Availability {
            code: AvailabilityCode::InStock,
            message: message("Available to order"),
            is_available: true,
            max_quantity: answer.num_available.map(i64::from),
        },
        StockStatus::OutOfStock => Availability {
            code: AvailabilityCode::OutOfStock,
            message: message("Out of stock"),
            is_available: false,
            max_quantity: Some(0),
        },
        _ => Availability::unavailable(),
    };
    PurchaseInfo {
        product_id: item.product_id,
        stock_record_id: record.map(|r| r.id),
        price,
        availability,
    }
}
