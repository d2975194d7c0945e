//! The `offer-condition` world.

use crate::PluginError;

pub use bindings::exports::emporium::plugin::offer::{
    ConditionInput, ConditionResult, ConsumedLine,
};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "offer-condition",
        additional_derives: [PartialEq],
        with: {
            "emporium:plugin/types@0.1.0": crate::base::emporium::plugin::types,
            "emporium:plugin/host@0.1.0": crate::base::emporium::plugin::host,
        },
        pub_export_macro: true,
        default_bindings_module: "::emporium_plugin_sdk::offer::bindings",
    });
}

/// An offer condition: is a basket eligible, and which line units does it use up.
pub trait OfferCondition {
    fn check(input: ConditionInput) -> Result<ConditionResult, PluginError>;
}

impl ConditionResult {
    /// "Not satisfied", with an optional nudge for the customer.
    pub fn not_satisfied(upsell_message: Option<String>) -> Self {
        ConditionResult {
            is_satisfied: false,
            consumed: Vec::new(),
            upsell_message,
        }
    }
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: OfferCondition> bindings::exports::emporium::plugin::offer::Guest for Adapter<T> {
    fn check(input: ConditionInput) -> Result<ConditionResult, PluginError> {
        T::check(input)
    }
}

/// Registers an [`OfferCondition`]: `emporium_plugin_sdk::export_offer!(MyCondition);`
#[macro_export]
macro_rules! export_offer {
    ($plugin:ty) => {
        type __EmporiumOfferExport = $crate::offer::Adapter<$plugin>;
        $crate::offer::bindings::export!(__EmporiumOfferExport with_types_in $crate::offer::bindings);
    };
}
