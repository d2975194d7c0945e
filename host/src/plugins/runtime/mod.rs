//! Running plugins, with no database: one wasmtime engine (pooling allocator, epoch
//! deadlines), the on-disk cache of compiled components, loading a plugin into a
//! pre-instantiated component, running each call in a fresh store with a CPU budget and a
//! memory cap, the WASI it may use, and the registry of loaded plugins with their health and
//! the typed calls the shop makes.
//!
//! - [`engine`]: [`PluginRuntime`], loading and calling; [`sandbox`]: a call's store state
//!   (WASI, the HTTP gate, the memory limiter, the `host` interface).
//! - [`bindings`]: the one place that runs `bindgen!` over `wit/`; [`wit_v0_1`]: the adapter
//!   between those bindings and the shop's [`super::calls`] types.
//! - [`registry`]: [`PluginRegistry`], installed plugins in memory with hot swap, health and
//!   failure policies; [`samples`]: `emporium plugin test`; [`trace`]: decision traces, masked,
//!   handed to a sink the lifecycle provides.

pub mod bindings;
pub mod engine;
mod error;
pub mod health;
pub mod outbound;
pub mod registry;
pub mod samples;
pub mod sandbox;
pub mod trace;
pub mod wit_v0_1;

pub use engine::{LoadedPlugin, PluginRuntime, RuntimeConfig, TraceSettings};
pub use error::{GuestErrorKind, PluginError, PluginRef};
pub use health::{HourSummary, RecentError};
pub use registry::{
    Decision, DisabledReason, ExtensionPoint, FailurePolicy, InstallOptions, PluginRegistry,
    PluginStatus, StateChange,
};
pub use trace::{Subject, TraceMode, TraceRecord, TraceSink, TracedCall};
