//! The plugin runtime: business rules as sandboxed WebAssembly components.
//!
//! - [`manifest`]: `plugin.toml` parsing, config schemas and validation.
//! - [`bindings`]: the one place that generates Rust bindings from `wit/`.
//! - [`PluginRuntime`]: one wasmtime engine (pooling allocator, epoch deadlines), the on-disk
//!   cache of compiled components, loading a plugin into a pre-instantiated component, and
//!   running a call in a fresh store with a CPU budget and a memory cap.
//! - [`PluginRegistry`]: installed plugins with hot swap, health (auto switch-off after repeated
//!   failures), failure policies per extension point, and the typed calls checkout uses.
//!
//! - [`store`], [`setup`], [`service`]: the installed set, configuration and secrets in the
//!   database, loaded at start-up, followed across processes, changed by the CLI/dashboard.
//! - [`package`]: folder and `.tar.gz` packages, unpacked safely; [`directory`]: verified
//!   fetching from a plugin directory; [`scaffold`]: `emporium plugin new` and `plugin test`.
//!
//! Typical use:
//! ```no_run
//! # use std::sync::Arc;
//! # use emporium::plugins::*;
//! let runtime = Arc::new(PluginRuntime::new(RuntimeConfig::default())?);
//! let registry = PluginRegistry::new(runtime);
//! registry.install_dir("target/plugins/flat-rate-shipping".as_ref(), InstallOptions::default())?;
//! # Ok::<(), PluginError>(())
//! ```

pub mod bindings;
pub mod calls;
pub mod directory;
mod error;
mod loaded;
pub mod manifest;
pub mod package;
mod registry;
pub mod scaffold;
pub mod service;
pub mod setup;
mod state;
pub mod store;
pub mod template_render;
pub mod wit_v0_1;

pub use calls::{PaymentOutcome, Priced, Quote};
pub use error::{GuestErrorKind, PluginError, PluginRef};
pub use loaded::{LoadedPlugin, PluginRuntime, RuntimeConfig};
pub use manifest::{
    ACCEPTED_WIT, ConfigField, ConfigType, ConfigValues, FieldError, Limits, Manifest, World,
};
pub use registry::{
    Decision, DisabledReason, ExtensionPoint, FailurePolicy, InstallOptions, PluginRegistry,
    PluginStatus, StateChange,
};
