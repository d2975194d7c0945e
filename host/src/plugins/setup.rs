//! The plugin registry a serving process uses: one runtime whose compiled-component cache lives
//! in the data dir.

use std::sync::Arc;

use super::{PluginError, PluginRegistry, PluginRuntime, RuntimeConfig};
use crate::infra::config::Config;
use crate::infra::db::Db;

/// Builds the registry for a host process.
pub async fn open(config: &Config, _db: &Db) -> Result<Arc<PluginRegistry>, PluginError> {
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: config.data_dir.join("plugin-cache"),
        call_budget: std::time::Duration::from_millis(config.plugin_call_budget_ms),
        ..RuntimeConfig::default()
    })?;
    Ok(Arc::new(PluginRegistry::new(Arc::new(runtime))))
}
