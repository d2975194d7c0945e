//! The only place that runs `wasmtime::component::bindgen!` over `wit/`: once for the shared
//! `types` + `host` interfaces (world `imports`), then once per extension-point world, each
//! reusing those shared types through `with`, so a `Money` is the same Rust type everywhere.

/// Shared types and the `host` import trait.
pub mod base {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "imports",
    });
}

pub use base::emporium::plugin::host::LogLevel;
pub use base::emporium::plugin::types::{
    Address, Attribute, Basket, BasketLine, Customer, Money, PluginError as GuestError, Product,
    ShippingQuote, StockRecord, Timestamp,
};

pub mod pricing {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "pricing-strategy",
        with: {
            "emporium:plugin/types": crate::plugins::runtime::bindings::base::emporium::plugin::types,
            "emporium:plugin/host": crate::plugins::runtime::bindings::base::emporium::plugin::host,
        },
    });
    pub use exports::emporium::plugin::pricing::{
        Availability, PricedItem, PricingContext, PricingItem, StockStatus, UnitPrice,
    };
}

pub mod offer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "offer-condition",
        with: {
            "emporium:plugin/types": crate::plugins::runtime::bindings::base::emporium::plugin::types,
            "emporium:plugin/host": crate::plugins::runtime::bindings::base::emporium::plugin::host,
        },
    });
    pub use exports::emporium::plugin::offer::{ConditionInput, ConditionResult, ConsumedLine};
}

pub mod shipping {
    // `shipping-method-http` has the same exports; its extra wasi:http import is linked
    // separately, so these bindings serve both shipping worlds.
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "shipping-method",
        with: {
            "emporium:plugin/types": crate::plugins::runtime::bindings::base::emporium::plugin::types,
            "emporium:plugin/host": crate::plugins::runtime::bindings::base::emporium::plugin::host,
        },
    });
    pub use exports::emporium::plugin::shipping::ShippingRequest;
}

pub mod payment {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "payment-gateway",
        require_store_data_send: true,
        with: {
            "emporium:plugin/types": crate::plugins::runtime::bindings::base::emporium::plugin::types,
            "emporium:plugin/host": crate::plugins::runtime::bindings::base::emporium::plugin::host,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
    pub use exports::emporium::plugin::payment::{
        Approval, Callback, CallbackKind, Card, Header, PaymentRequest, PaymentResult, Redirect,
    };
}

pub mod theme {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "theme-extension",
        with: {
            "emporium:plugin/types": crate::plugins::runtime::bindings::base::emporium::plugin::types,
            "emporium:plugin/host": crate::plugins::runtime::bindings::base::emporium::plugin::host,
        },
    });
    pub use exports::emporium::plugin::theme::{FunctionInfo, FunctionKind};
}
