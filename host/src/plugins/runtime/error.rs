//! The one error type of the plugin layer. Every variant that concerns a loaded plugin names it
//! as `id@version`, so a log line or an admin page says exactly which plugin misbehaved.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use semver::Version;

use crate::plugins::distribution::manifest::{FieldError, ManifestError, World};

/// Which plugin: id and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginRef {
    pub id: String,
    pub version: Version,
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.version)
    }
}

/// What a guest reported through its own `plugin-error` (it ran fine but declined to answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestErrorKind {
    Config,
    InvalidInput,
    Upstream,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {0:?} is not installed")]
    NotFound(String),

    #[error("plugin {plugin} is disabled")]
    Disabled { plugin: PluginRef },

    #[error("plugin {plugin} implements {actual}, not {expected}")]
    WrongWorld {
        plugin: PluginRef,
        expected: World,
        actual: World,
    },

    #[error("plugin at {path}: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: ManifestError,
    },

    #[error("plugin {plugin} could not be loaded: {reason}")]
    Load { plugin: PluginRef, reason: String },

    #[error("plugin {plugin}: invalid configuration: {}", list(.errors))]
    Config {
        plugin: PluginRef,
        errors: Vec<FieldError>,
    },

    #[error("plugin {plugin} trapped: {message}")]
    Trap { plugin: PluginRef, message: String },

    #[error("plugin {plugin} exceeded its time budget of {budget:?}")]
    Timeout { plugin: PluginRef, budget: Duration },

    #[error("plugin {plugin} exceeded its memory limit of {limit_bytes} bytes")]
    OutOfMemory {
        plugin: PluginRef,
        limit_bytes: usize,
    },

    #[error("plugin {plugin} returned malformed output: {reason}")]
    MalformedOutput { plugin: PluginRef, reason: String },

    #[error("plugin {plugin} was denied {capability}")]
    Denied {
        plugin: PluginRef,
        capability: String,
    },

    #[error("plugin {plugin} reported an error ({kind:?}): {message}")]
    Guest {
        plugin: PluginRef,
        kind: GuestErrorKind,
        message: String,
    },

    /// The host had no room to run the call (every instance slot of the pool, or its memories,
    /// tables or stacks, in use). A host-side condition: never counted against the plugin.
    #[error("no room to run plugin {plugin} now, the host is at capacity: {message}")]
    Capacity { plugin: PluginRef, message: String },

    #[error("plugin runtime: {0}")]
    Runtime(String),
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl PluginError {
    /// The plugin the error is about, when it is about one.
    pub fn plugin(&self) -> Option<&PluginRef> {
        match self {
            PluginError::Disabled { plugin }
            | PluginError::WrongWorld { plugin, .. }
            | PluginError::Load { plugin, .. }
            | PluginError::Config { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::Timeout { plugin, .. }
            | PluginError::OutOfMemory { plugin, .. }
            | PluginError::MalformedOutput { plugin, .. }
            | PluginError::Denied { plugin, .. }
            | PluginError::Guest { plugin, .. }
            | PluginError::Capacity { plugin, .. } => Some(plugin),
            PluginError::NotFound(_) | PluginError::Manifest { .. } | PluginError::Runtime(_) => {
                None
            }
        }
    }

    /// Whether this error counts against the plugin's health (and can switch it off): the
    /// plugin misbehaved while running. Errors caused by the caller (not found, disabled,
    /// wrong world) or by the host (at capacity) do not count: a flood of requests must not
    /// switch a healthy plugin off.
    pub fn counts_as_failure(&self) -> bool {
        matches!(
            self,
            PluginError::Trap { .. }
                | PluginError::Timeout { .. }
                | PluginError::OutOfMemory { .. }
                | PluginError::MalformedOutput { .. }
                | PluginError::Denied { .. }
                | PluginError::Guest { .. }
        )
    }
}
