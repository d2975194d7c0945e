//! What is installed, and keeping it so: the installed set, configuration and secrets in the
//! database ([`store`]), the operations the CLI and the dashboard perform on it ([`service`]),
//! following other processes' changes ([`sync`]), and the decision traces with their replay
//! ([`trace`], [`replay`]). Everything that touches the database or
//! the data directory for plugins is here; [`super::runtime`] only runs what it is handed.
//!
//! [`PluginHost`] ties the two together: the registry the shop calls plus the state that keeps
//! it in step with the database. It is what the application state holds.

mod error;
pub mod replay;
pub mod service;
pub mod store;
pub mod sync;
pub mod trace;

pub use error::ServiceError;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::plugins::runtime::PluginRegistry;

/// The shop's plugins: the [`PluginRegistry`] that runs them, where their verified packages
/// live, and what this process last read from the database. Opened with
/// [`PluginHost::open`] by a serving process, or [`PluginHost::for_commands`] by a one-shot
/// command; changed through [`service`].
pub struct PluginHost {
    registry: Arc<PluginRegistry>,
    /// Packages are stored under `<data dir>/plugins/<id>/<version>-<sha>/`.
    data_dir: PathBuf,
    /// `plugin_state.version` when this process last brought the registry in step.
    seen_version: AtomicI64,
    /// Whether the PostgreSQL LISTEN connection is up (changes then arrive at once).
    listening: AtomicBool,
    /// Serialises this process's writers with its reconciler.
    lock: tokio::sync::Mutex<()>,
    /// Where a serving process writes decision traces (one-shot commands have none).
    traces: std::sync::OnceLock<Arc<trace::TraceStore>>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("registry", &self.registry)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    fn new(registry: Arc<PluginRegistry>, data_dir: &Path) -> PluginHost {
        PluginHost {
            registry,
            data_dir: data_dir.to_path_buf(),
            seen_version: AtomicI64::new(0),
            listening: AtomicBool::new(false),
            lock: tokio::sync::Mutex::new(()),
            traces: std::sync::OnceLock::new(),
        }
    }

    /// The decision-trace store of a serving process.
    pub fn traces(&self) -> Option<&Arc<trace::TraceStore>> {
        self.traces.get()
    }

    /// The registry the shop's calls go through.
    pub fn registry(&self) -> &Arc<PluginRegistry> {
        &self.registry
    }

    /// Whether this host hears other processes' changes the moment they commit (PostgreSQL
    /// LISTEN is connected). Without it, changes arrive at the next poll.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// The data directory packages are stored under.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}
