//! Plugins: business rules as sandboxed WebAssembly components, in three parts that depend one
//! way (`lifecycle → runtime → distribution`), plus the call types the shop speaks.
//!
//! - [`calls`]: what the shop hands a plugin and gets back (shipping requests and quotes,
//!   payment requests and outcomes, pricing items and decisions, offer conditions, theme
//!   helpers), independent of any WIT version. Domain code builds and reads only these.
//! - [`distribution`]: how plugins reach a shop: the `plugin.toml` [`Manifest`], packages,
//!   verified fetching from a plugin directory, `emporium plugin new`. No wasmtime, no database.
//! - [`runtime`]: running them, with no database: one wasmtime engine, the compiled-component
//!   cache, pre-instantiated components, a fresh store per call with a CPU budget and a memory
//!   cap, WASI linking, the bindings generated from `wit/` and one adapter per WIT version
//!   (today [`runtime::wit_v0_1`]) converting them to and from [`calls`], and the
//!   [`PluginRegistry`]: loaded plugins with hot swap, health (auto switch-off after repeated
//!   failures), failure policies per extension point, and the typed calls.
//! - [`lifecycle`]: what is installed: the installed set, configuration and secrets in the
//!   database, the install/upgrade/configure operations of the CLI and the dashboard, and
//!   following other processes' changes.
//!
//! [`PluginHost`] ties them together: the registry plus its lifecycle state. The application
//! state holds one; domain code only needs its [`PluginHost::registry`].
//!
//! Typical use without a database (tests, `emporium plugin test`):
//! ```no_run
//! # use std::sync::Arc;
//! # use emporium::plugins::*;
//! let runtime = Arc::new(PluginRuntime::new(RuntimeConfig::default())?);
//! let registry = PluginRegistry::new(runtime);
//! registry.install_dir("target/plugins/flat-rate-shipping".as_ref(), InstallOptions::default())?;
//! # Ok::<(), PluginError>(())
//! ```

pub mod calls;
pub mod distribution;
pub mod lifecycle;
pub mod runtime;

pub use calls::{PaymentOutcome, Priced, Quote};
pub use distribution::manifest::{
    ACCEPTED_WIT, ConfigField, ConfigType, ConfigValues, FieldError, Limits, Manifest, World,
};
pub use lifecycle::PluginHost;
pub use runtime::{
    Decision, DisabledReason, ExtensionPoint, FailurePolicy, GuestErrorKind, InstallOptions,
    LoadedPlugin, PluginError, PluginRef, PluginRegistry, PluginRuntime, PluginStatus,
    RuntimeConfig, StateChange,
};
