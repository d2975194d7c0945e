//! The `shipping-method` world (and `shipping-method-http` with the `shipping-http` feature).

use crate::{PluginError, ShippingQuote};

pub use bindings::exports::emporium::plugin::shipping::ShippingRequest;

#[doc(hidden)]
pub mod bindings {
    #[cfg(not(feature = "shipping-http"))]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "shipping-method",
        additional_derives: [PartialEq],
        with: {
            "emporium:plugin/types@0.1.0": crate::base::emporium::plugin::types,
            "emporium:plugin/host@0.1.0": crate::base::emporium::plugin::host,
        },
        pub_export_macro: true,
        default_bindings_module: "::emporium_plugin_sdk::shipping::bindings",
    });
    #[cfg(feature = "shipping-http")]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "shipping-method-http",
        with: {
            "emporium:plugin/types@0.1.0": crate::base::emporium::plugin::types,
            "emporium:plugin/host@0.1.0": crate::base::emporium::plugin::host,
        },
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "::emporium_plugin_sdk::shipping::bindings",
    });
}

/// A shipping method plugin: quotes every method it offers for a basket in one call.
pub trait ShippingMethod {
    /// Every method this plugin can offer for `request`, in display order, each with its
    /// charge in the basket's currency. An empty list means "cannot ship this".
    fn quote(request: ShippingRequest) -> Result<Vec<ShippingQuote>, PluginError>;
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: ShippingMethod> bindings::exports::emporium::plugin::shipping::Guest for Adapter<T> {
    fn quote(request: ShippingRequest) -> Result<Vec<ShippingQuote>, PluginError> {
        T::quote(request)
    }
}

/// Registers a [`ShippingMethod`] implementation as the component's export:
/// `emporium_plugin_sdk::export_shipping!(MyShipping);`
#[macro_export]
macro_rules! export_shipping {
    ($plugin:ty) => {
        type __EmporiumShippingExport = $crate::shipping::Adapter<$plugin>;
        $crate::shipping::bindings::export!(__EmporiumShippingExport with_types_in $crate::shipping::bindings);
    };
}
