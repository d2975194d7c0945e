//! Opening a [`PluginHost`]: one runtime whose compiled-component cache lives in the data dir,
//! a registry loaded from the database at start-up, and (in a serving process) kept in step
//! with it.
//!
//! The database is the source of truth (see [`super::store`]). Every change bumps
//! `plugin_state.version` in its own transaction; each process polls that counter (about once a
//! second, cheap: one indexed row) and, when it moved, reconciles its registry with the tables:
//! installs or upgrades what it lacks, applies configuration and enabled state, removes what is
//! gone. A plugin that this process switches off after repeated failures is written back, so
//! every other process switches it off too.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::store::{self, StoredPlugin};
use super::{PluginHost, ServiceError};
use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::plugins::distribution::manifest::{Manifest, ManifestError};
use crate::plugins::runtime::engine::plugin_ref;
use crate::plugins::runtime::{
    DisabledReason, InstallOptions, LoadedPlugin, PluginError, PluginRegistry, PluginRuntime,
    RuntimeConfig, StateChange,
};

/// How often a process looks for changes made by other processes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The runtime settings for a host process.
pub fn runtime_config(config: &Config) -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: config.data_dir.join("plugin-cache"),
        call_budget: std::time::Duration::from_millis(config.plugin_call_budget_ms),
        extra_ca_file: config.plugin_ca_file.clone(),
        trace: crate::plugins::runtime::TraceSettings {
            sample_percent: config.plugin_trace_sample_percent,
            retention: std::time::Duration::from_secs(config.plugin_trace_retention_hours * 3600),
            max_bytes: config.plugin_trace_max_mb << 20,
        },
        ..RuntimeConfig::default()
    }
}

impl PluginHost {
    /// A host bound to the data directory but with nothing loaded and no background tasks: for
    /// one-shot commands (the CLI) that change one plugin through [`super::service`].
    pub fn for_commands(
        data_dir: &Path,
        runtime: RuntimeConfig,
    ) -> Result<Arc<PluginHost>, PluginError> {
        let registry = PluginRegistry::new(Arc::new(PluginRuntime::new(runtime)?));
        Ok(Arc::new(PluginHost::new(Arc::new(registry), data_dir)))
    }

    /// The host of a serving process: loads every installed plugin from the database (enabled
    /// state, configuration, secrets), writes automatic switch-offs back to it, and keeps
    /// following changes other processes make.
    pub async fn open(config: &Config, db: &Db) -> Result<Arc<PluginHost>, PluginError> {
        PluginHost::open_with(&config.data_dir, runtime_config(config), db, POLL_INTERVAL).await
    }

    /// [`PluginHost::open`] with explicit runtime settings and poll interval (tests,
    /// benchmarks).
    pub async fn open_with(
        data_dir: &Path,
        runtime: RuntimeConfig,
        db: &Db,
        poll: Duration,
    ) -> Result<Arc<PluginHost>, PluginError> {
        let trace_settings = runtime.trace.clone();
        let host = PluginHost::for_commands(data_dir, runtime)?;
        let traces = super::trace::TraceStore::spawn(db.clone(), trace_settings);
        host.registry.set_trace_sink(traces.clone());
        let _ = host.traces.set(traces);
        // Automatic switch-off (the registry's on_change runs on the calling thread, possibly
        // inside a blocking call): hand it to a task that writes it to the database.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        host.registry.on_change(move |change| {
            if let StateChange::Disabled {
                plugin,
                reason: DisabledReason::Failures { count, last_error },
            } = change
            {
                let _ = tx.send((plugin.clone(), *count, last_error.clone()));
            }
        });
        let writer_db = db.clone();
        tokio::spawn(async move {
            // Ends when the registry (and with it the sender) is dropped.
            while let Some((plugin, count, last_error)) = rx.recv().await {
                match store::record_auto_disable(&writer_db, &plugin, count, &last_error).await {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(%plugin, error = %e, "recording an automatic switch-off failed")
                    }
                }
            }
        });
        reconcile(db, &host)
            .await
            .map_err(|e| PluginError::Runtime(format!("loading installed plugins: {e}")))?;
        spawn_poller(Arc::downgrade(&host), db.clone(), poll);
        if let Some(url) = db.listen_url.clone() {
            spawn_listener(Arc::downgrade(&host), db.clone(), url);
        }
        Ok(host)
    }
}

/// PostgreSQL: follows other processes' changes as soon as they commit (LISTEN/NOTIFY). The
/// poller stays as the fallback while the listening connection is down.
fn spawn_listener(weak: Weak<PluginHost>, db: Db, url: String) {
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => match listener.listen(store::CHANNEL).await {
                    Ok(()) => {
                        let Some(r) = weak.upgrade() else {
                            return;
                        };
                        // Changes committed before LISTEN took effect were not announced here.
                        if let Err(e) = reconcile(&db, &r).await {
                            tracing::warn!(error = %e, "following plugin changes failed");
                        }
                        r.listening.store(true, Ordering::SeqCst);
                        drop(r);
                        loop {
                            // Wake up now and then to notice the host is gone, so a dropped
                            // host does not keep a connection open.
                            let notified =
                                tokio::time::timeout(Duration::from_secs(1), listener.recv());
                            match notified.await {
                                Ok(Ok(_)) => {
                                    let Some(host) = weak.upgrade() else {
                                        return;
                                    };
                                    if let Err(e) = reconcile(&db, &host).await {
                                        tracing::warn!(error = %e, "following plugin changes failed");
                                    }
                                }
                                Ok(Err(e)) => {
                                    tracing::warn!(error = %e, "plugin change listener lost its connection");
                                    if let Some(r) = weak.upgrade() {
                                        r.listening.store(false, Ordering::SeqCst);
                                    }
                                    break;
                                }
                                Err(_) if weak.strong_count() == 0 => return,
                                Err(_) => {}
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN for plugin changes failed"),
                },
                Err(e) => tracing::warn!(error = %e, "plugin change listener cannot connect"),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
            if weak.strong_count() == 0 {
                return;
            }
        }
    });
}

fn spawn_poller(weak: Weak<PluginHost>, db: Db, every: Duration) {
    tokio::spawn(async move {
        // `open_with` has just read everything: the first look is one interval away.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(host) = weak.upgrade() else {
                return;
            };
            let seen = host.seen_version.load(Ordering::SeqCst);
            match store::state_version(&db.pool).await {
                Ok(v) if v != seen => {
                    if let Err(e) = reconcile(&db, &host).await {
                        tracing::warn!(error = %e, "following plugin changes failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the plugin state version failed"),
            }
        }
    });
}

/// Brings the registry in step with the database. Idempotent; one plugin that cannot be loaded
/// is logged and skipped, it does not stop the others.
pub(crate) async fn reconcile(db: &Db, host: &PluginHost) -> Result<(), ServiceError> {
    let _guard = host.lock.lock().await;
    let registry = host.registry();
    let version = store::state_version(&db.pool).await?;
    let rows = store::list(&db.pool).await?;
    for row in &rows {
        if let Err(e) = apply_row(db, host, row).await {
            tracing::error!(plugin = %row.id, version = %row.version, error = %e, "cannot load installed plugin");
        }
    }
    for id in registry.ids() {
        if !rows.iter().any(|r| r.id == id) {
            let _ = registry.remove(&id);
        }
    }
    host.seen_version.store(version, Ordering::SeqCst);
    Ok(())
}

/// Makes the registry's entry for one plugin match its row (caller holds `host.lock`).
pub(crate) async fn apply_row(
    db: &Db,
    host: &PluginHost,
    row: &StoredPlugin,
) -> Result<(), ServiceError> {
    let registry = host.registry();
    let config = store::full_config(&db.pool, &row.id).await?;
    let current = registry.installed(&row.id);
    let same_package = current.as_ref().is_some_and(|c| {
        c.loaded.plugin.version.to_string() == row.version && c.loaded.sha256 == row.sha256
    });
    if let (Some(current), true) = (current, same_package) {
        if current.config != config || current.approved_hosts != row.approved_hosts {
            registry.reconfigure(&row.id, config, row.approved_hosts.clone())?;
        }
        if current.enabled != row.enabled || current.reason != row.disabled_reason {
            registry.set_state(&row.id, row.enabled, row.disabled_reason.clone())?;
        }
        registry.set_trace_mode(&row.id, row.trace_mode)?;
        return Ok(());
    }
    let dir = host.data_dir().join(&row.package_path);
    let loaded = load_verified(registry.runtime().clone(), dir, Some(row.sha256.clone())).await?;
    registry.install(
        loaded,
        InstallOptions {
            config,
            approved_hosts: row.approved_hosts.clone(),
            memory_limit: None,
            start_disabled: !row.enabled,
        },
    )?;
    if !row.enabled {
        registry.set_state(&row.id, false, row.disabled_reason.clone())?;
    }
    registry.set_trace_mode(&row.id, row.trace_mode)?;
    Ok(())
}

/// Loads a package folder on a blocking thread (compiling is CPU work), checking the
/// component's hash against the one recorded at install time when given.
pub(crate) async fn load_verified(
    runtime: Arc<PluginRuntime>,
    dir: PathBuf,
    sha256: Option<String>,
) -> Result<Arc<LoadedPlugin>, ServiceError> {
    tokio::task::spawn_blocking(move || -> Result<Arc<LoadedPlugin>, ServiceError> {
        let manifest = read_manifest(&dir)?;
        let wasm = std::fs::read(dir.join("plugin.wasm")).map_err(|e| PluginError::Load {
            plugin: plugin_ref(&manifest),
            reason: format!("reading {}: {e}", dir.join("plugin.wasm").display()),
        })?;
        if let Some(expected) = sha256 {
            let actual = crate::plugins::distribution::directory::sha256_hex(&wasm);
            if !actual.eq_ignore_ascii_case(&expected) {
                return Err(PluginError::Load {
                    plugin: plugin_ref(&manifest),
                    reason: format!(
                        "{} changed since it was installed (sha256 {actual}, expected {expected})",
                        dir.join("plugin.wasm").display()
                    ),
                }
                .into());
            }
        }
        Ok(runtime.load(manifest, &wasm)?)
    })
    .await
    .map_err(|e| ServiceError::Other(format!("loading task failed: {e}")))?
}

pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest, PluginError> {
    let path = dir.join("plugin.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| PluginError::Manifest {
        path: path.clone(),
        source: ManifestError::Syntax(e.to_string()),
    })?;
    Manifest::parse(&text).map_err(|source| PluginError::Manifest { path, source })
}
