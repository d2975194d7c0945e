//! The `pricing-strategy` world.

use crate::PluginError;

pub use bindings::exports::emporium::plugin::pricing::{
    Availability, PricedItem, PricingContext, PricingItem, StockStatus, UnitPrice,
};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "pricing-strategy",
        additional_derives: [PartialEq],
        with: {
            "emporium:plugin/types@0.1.0": crate::base::emporium::plugin::types,
            "emporium:plugin/host@0.1.0": crate::base::emporium::plugin::host,
        },
        pub_export_macro: true,
        default_bindings_module: "::emporium_plugin_sdk::pricing::bindings",
    });
}

/// A pricing strategy: prices a whole page of products in one call.
pub trait PricingStrategy {
    /// One answer per item, in the same order. The default calls [`Self::price_one`] for each
    /// item; override it when the strategy needs to see the whole batch.
    fn price(
        context: PricingContext,
        items: Vec<PricingItem>,
    ) -> Result<Vec<PricedItem>, PluginError> {
        items
            .into_iter()
            .map(|item| Self::price_one(&context, item))
            .collect()
    }

    /// Prices one item.
    fn price_one(context: &PricingContext, item: PricingItem) -> Result<PricedItem, PluginError>;
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: PricingStrategy> bindings::exports::emporium::plugin::pricing::Guest for Adapter<T> {
    fn price(
        context: PricingContext,
        items: Vec<PricingItem>,
    ) -> Result<Vec<PricedItem>, PluginError> {
        T::price(context, items)
    }
}

/// Registers a [`PricingStrategy`]: `emporium_plugin_sdk::export_pricing!(MyStrategy);`
#[macro_export]
macro_rules! export_pricing {
    ($plugin:ty) => {
        type __EmporiumPricingExport = $crate::pricing::Adapter<$plugin>;
        $crate::pricing::bindings::export!(__EmporiumPricingExport with_types_in $crate::pricing::bindings);
    };
}
