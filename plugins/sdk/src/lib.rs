//! Write Emporium plugins in Rust.
//!
//! The WIT contract (`wit/` at the repository root, package `emporium:plugin@0.1.0`) is compiled
//! into bindings here, so a plugin crate only:
//! 1. depends on this crate with the feature of its world (`shipping`, `shipping-http`,
//!    `pricing`, `offer`, `payment` or `theme`) — exactly one;
//! 2. implements the matching plain trait ([`ShippingMethod`], [`PricingStrategy`],
//!    [`OfferCondition`], [`PaymentGateway`], [`ThemeExtension`]);
//! 3. registers it with the matching macro (`export_shipping!(MyPlugin);`, ...);
//! 4. builds with `cargo build --release --target wasm32-wasip2` (the result is a component).
//!
//! The shared WIT types (`Money`, `Basket`, `Product`, ...) are re-exported at the crate root
//! with helpers: [`money`] parses and formats amounts with `rust_decimal` (never floats), and
//! [`config`] reads the plugin's own configuration with typed getters and clear errors.
//!
//! Keep the decision logic in plain functions that take the configuration as a value: those
//! can be unit-tested with a native `cargo test`, whereas the host imports (`config`, `log`,
//! `now`) only work inside the shop.

#![forbid(unsafe_op_in_unsafe_fn)]

/// Bindings of the `imports` world: the shared `types` and the `host` imports. Every world module
/// below maps its `types`/`host` onto these, so one `Money` type serves every world.
#[doc(hidden)]
pub mod base {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "imports",
        additional_derives: [PartialEq],
        generate_unused_types: true,
    });
}

pub use base::emporium::plugin::host::LogLevel;
pub use base::emporium::plugin::types::*;
pub use rust_decimal::Decimal;

pub mod config;
pub mod log;
pub mod money;
pub mod testing;

#[cfg(feature = "offer")]
pub mod offer;
#[cfg(feature = "payment")]
pub mod payment;
#[cfg(feature = "pricing")]
pub mod pricing;
#[cfg(any(feature = "shipping", feature = "shipping-http"))]
pub mod shipping;
#[cfg(feature = "theme")]
pub mod theme;

#[cfg(feature = "offer")]
pub use offer::OfferCondition;
#[cfg(feature = "payment")]
pub use payment::PaymentGateway;
#[cfg(feature = "pricing")]
pub use pricing::PricingStrategy;
#[cfg(any(feature = "shipping", feature = "shipping-http"))]
pub use shipping::ShippingMethod;
#[cfg(feature = "theme")]
pub use theme::ThemeExtension;

/// The current time as the host sees it (the same value for the whole call).
pub fn now() -> Timestamp {
    base::emporium::plugin::host::now()
}

/// Shorthand for the error returned when a plugin cannot answer.
pub type PluginResult<T> = Result<T, PluginError>;
