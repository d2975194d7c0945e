//! Plugin lifecycle for the CLI and the dashboard: install (from a directory or a package),
//! upgrade with rollback, remove, enable, disable, configure. Each operation verifies and
//! loads first, then writes the database in one transaction (bumping `plugin_state.version`
//! so other processes follow), then updates this process's registry.
//!
//! Every function takes the database and a [`PluginHost`] opened with [`PluginHost::open`] (or
//! [`PluginHost::for_commands`] in one-shot commands); the host knows the data directory that
//! holds the verified packages (`<data dir>/plugins/<id>/<version>-<sha>/`).

use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};

use super::store::{self, PreviousPackage, StoredPlugin};
use super::sync::{apply_row, load_verified, read_manifest};
use super::{PluginHost, ServiceError};
use crate::audit::Actor;
use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::plugins::distribution::directory::{Directory, TrustPolicy, sha256_hex};
use crate::plugins::distribution::manifest::{ConfigType, ConfigValues, Manifest, World};
use crate::plugins::distribution::package::{self, PackageError};
use crate::plugins::runtime::engine::plugin_ref;
use crate::plugins::runtime::{
    DisabledReason, InstallOptions, LoadedPlugin, PluginError, PluginRef, PluginStatus, TraceMode,
};

/// The result of an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    pub from: PluginRef,
    pub to: PluginRef,
}

/// One row of `plugin list`: what the database records, plus this process's view when loaded.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub stored: StoredPlugin,
    pub name: String,
    /// Calls, failures and health as this process sees them (`None` when not loaded here).
    pub status: Option<PluginStatus>,
}

/// How a configuration value is shown: secrets never in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Value(String),
    Default(String),
    Unset,
    SecretSet,
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Value(v) => write!(f, "{v}"),
            Shown::Default(v) => write!(f, "{v} (default)"),
            Shown::Unset => f.write_str("(unset)"),
            Shown::SecretSet => f.write_str("******** (secret, set)"),
        }
    }
}

/// One field of `plugin config ID`.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub kind: ConfigType,
    pub required: bool,
    pub secret: bool,
    pub help: String,
    pub shown: Shown,
}

/// The signing keys and policy from the configuration (`plugin_trusted_keys`,
/// `plugin_require_signatures`).
pub fn trust_policy(config: &Config) -> Result<TrustPolicy, ServiceError> {
    let mut trust = TrustPolicy {
        require_signature: config.plugin_require_signatures,
        ..TrustPolicy::default()
    };
    for (name, key) in &config.plugin_trusted_keys {
        trust.trust_hex(name, key)?;
    }
    Ok(trust)
}

fn packages_root(host: &PluginHost) -> PathBuf {
    host.data_dir().join("plugins")
}

/// Moves a staged, verified package folder to `plugins/<id>/<version>-<sha12>/` (reusing the
/// folder when that exact package is already there) and returns (absolute, data-dir-relative).
fn place(
    host: &PluginHost,
    staged: &Path,
    manifest: &Manifest,
) -> Result<(PathBuf, String), ServiceError> {
    let wasm = std::fs::read(staged.join("plugin.wasm")).map_err(|e| PackageError::Io {
        path: staged.display().to_string(),
        message: e.to_string(),
    })?;
    let sha = sha256_hex(&wasm);
    let rel = format!(
        "plugins/{}/{}-{}",
        manifest.id,
        manifest.version,
        &sha[..12]
    );
    let dest = host.data_dir().join(&rel);
    if dest.join("plugin.wasm").exists()
        && std::fs::read(dest.join("plugin.wasm"))
            .map(|b| sha256_hex(&b) == sha)
            .unwrap_or(false)
    {
        let _ = std::fs::remove_dir_all(staged);
    } else {
        let _ = std::fs::remove_dir_all(&dest);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PackageError::Io {
                path: parent.display().to_string(),
                message: e.to_string(),
            })?;
        }
        std::fs::rename(staged, &dest).map_err(|e| PackageError::Io {
            path: dest.display().to_string(),
            message: e.to_string(),
        })?;
    }
    Ok((dest, rel))
}

/// Removes a package folder (and its plugin folder when that is left empty).
fn discard(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Other(format!("background task failed: {e}")))?
}

/// Fetches `id` from a directory (verifying checksums and signature before anything is
/// written where it loads from), loads and validates it, records it and installs it.
#[allow(clippy::too_many_arguments)] // the use case's inputs, each from a different place
pub async fn install_from_directory(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    directory: &Directory,
    id: &str,
    wanted: &VersionReq,
    trust: &TrustPolicy,
    options: InstallOptions,
) -> Result<PluginStatus, ServiceError> {
    let _guard = host.lock.lock().await;
    if let Some(existing) = store::get(&db.pool, id).await? {
        return Err(ServiceError::AlreadyInstalled {
            id: id.to_string(),
            installed: existing.version,
        });
    }
    let staged = fetch(host, directory, id, wanted, trust).await?;
    let manifest = read_manifest(&staged)?;
    let (dir, rel) = place(host, &staged, &manifest)?;
    finish_install(db, host, actor, dir, rel, options).await
}

/// What an administrator approves before a plugin from a directory is installed: the
/// verified package's manifest (world, permissions, limits, configuration schema), its
/// checksum and who signed it.
#[derive(Debug, Clone)]
pub struct Review {
    pub manifest: Manifest,
    pub wasm_sha256: String,
    /// The trusted key that signed it; `None` for an unsigned package (allowed only when the
    /// shop does not require signatures).
    pub signed_by: Option<String>,
}

/// Fetches and verifies `id@version` from a directory (checksums, signature, manifest) without
/// installing it, for the approval page.
pub async fn review(
    host: &PluginHost,
    directory: &Directory,
    id: &str,
    version: &Version,
    trust: &TrustPolicy,
) -> Result<Review, ServiceError> {
    let wanted = exactly(version);
    let staged = fetch(host, directory, id, &wanted, trust).await?;
    let described = (|| {
        let manifest = read_manifest(&staged)?;
        let wasm = std::fs::read(staged.join("plugin.wasm")).map_err(|e| PackageError::Io {
            path: staged.display().to_string(),
            message: e.to_string(),
        })?;
        Ok::<_, ServiceError>((manifest, sha256_hex(&wasm)))
    })();
    let _ = std::fs::remove_dir_all(&staged);
    let (manifest, wasm_sha256) = described?;
    let (d, i, w) = (directory.clone(), id.to_string(), wanted.clone());
    let (_, _, entry) = blocking(move || Ok(d.resolve(&i, &w)?)).await?;
    Ok(Review {
        manifest,
        wasm_sha256,
        signed_by: entry.key,
    })
}

fn exactly(version: &Version) -> VersionReq {
    VersionReq::parse(&format!("={version}")).unwrap_or(VersionReq::STAR)
}

/// Installs exactly the package an administrator reviewed: `id@version` whose component has
/// `wasm_sha256`. A directory that now serves other bytes under that version is refused.
#[allow(clippy::too_many_arguments)]
pub async fn install_reviewed(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    directory: &Directory,
    id: &str,
    version: &Version,
    wasm_sha256: &str,
    trust: &TrustPolicy,
    options: InstallOptions,
) -> Result<PluginStatus, ServiceError> {
    let _guard = host.lock.lock().await;
    if let Some(existing) = store::get(&db.pool, id).await? {
        return Err(ServiceError::AlreadyInstalled {
            id: id.to_string(),
            installed: existing.version,
        });
    }
    let staged = fetch(host, directory, id, &exactly(version), trust).await?;
    let checked = std::fs::read(staged.join("plugin.wasm"))
        .map(|b| sha256_hex(&b).eq_ignore_ascii_case(wasm_sha256))
        .unwrap_or(false);
    if !checked {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(ServiceError::Other(format!(
            "{id}@{version} in the directory is not the package you approved (its checksum \
             changed); review it again"
        )));
    }
    let manifest = read_manifest(&staged)?;
    let (dir, rel) = place(host, &staged, &manifest)?;
    finish_install(db, host, actor, dir, rel, options).await
}

/// Fetches into a private staging folder; returns the verified package folder.
pub(super) async fn fetch(
    host: &PluginHost,
    directory: &Directory,
    id: &str,
    wanted: &VersionReq,
    trust: &TrustPolicy,
) -> Result<PathBuf, ServiceError> {
    static FETCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let staging = packages_root(host).join(format!(
        ".fetch-{}-{}",
        std::process::id(),
        FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let (directory, id, wanted, trust) = (
        directory.clone(),
        id.to_string(),
        wanted.clone(),
        trust.clone(),
    );
    blocking(move || {
        std::fs::create_dir_all(&staging).map_err(|e| PackageError::Io {
            path: staging.display().to_string(),
            message: e.to_string(),
        })?;
        match directory.fetch(&id, &wanted, &trust, &staging) {
            // Out of the staging folder into one of its own (`place` moves it on).
            Ok(fetched) => {
                let own = staging.with_extension("package");
                let moved = std::fs::rename(&fetched, &own);
                let _ = std::fs::remove_dir_all(&staging);
                moved.map_err(|e| PackageError::Io {
                    path: own.display().to_string(),
                    message: e.to_string(),
                })?;
                Ok(own)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e.into())
            }
        }
    })
    .await
}

/// Installs a local package: a folder or a `.tar.gz` holding plugin.toml and plugin.wasm. When
/// exactly this package is already installed it only makes sure this process has it loaded
/// (idempotent); another version of it is an error (use [`upgrade_package`]).
pub async fn install_package(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    source: &Path,
    options: InstallOptions,
) -> Result<PluginStatus, ServiceError> {
    let _guard = host.lock.lock().await;
    let (staged, manifest, sha) = stage(host, source).await?;
    if let Some(existing) = store::get(&db.pool, &manifest.id).await? {
        let _ = std::fs::remove_dir_all(&staged);
        if existing.version == manifest.version.to_string() && existing.sha256 == sha {
            apply_row(db, host, &existing).await?;
            return Ok(host.registry().status(&existing.id)?);
        }
        return Err(ServiceError::AlreadyInstalled {
            id: existing.id,
            installed: existing.version,
        });
    }
    let (dir, rel) = place(host, &staged, &manifest)?;
    finish_install(db, host, actor, dir, rel, options).await
}

pub(super) async fn stage(
    host: &PluginHost,
    source: &Path,
) -> Result<(PathBuf, Manifest, String), ServiceError> {
    let root = packages_root(host);
    let source = source.to_path_buf();
    blocking(move || {
        let staged = package::stage(&source, &root)?;
        let checked = (|| {
            let manifest = read_manifest(&staged)?;
            let wasm = std::fs::read(staged.join("plugin.wasm")).map_err(|e| PackageError::Io {
                path: staged.display().to_string(),
                message: e.to_string(),
            })?;
            Ok::<_, ServiceError>((manifest, sha256_hex(&wasm)))
        })();
        match checked {
            Ok((manifest, sha)) => Ok((staged, manifest, sha)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staged);
                Err(e)
            }
        }
    })
    .await
}

async fn finish_install(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    dir: PathBuf,
    rel: String,
    options: InstallOptions,
) -> Result<PluginStatus, ServiceError> {
    let result = install_loaded(db, host, actor, &dir, rel, options).await;
    if result.is_err() {
        discard(&dir);
    }
    result
}

async fn install_loaded(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    dir: &Path,
    rel: String,
    options: InstallOptions,
) -> Result<PluginStatus, ServiceError> {
    // Empty values mean "the default" and are not stored; keep the registry's copy the same.
    let options = InstallOptions {
        config: non_empty(&options.config),
        ..options
    };
    {
        let loaded =
            load_verified(host.registry().runtime().clone(), dir.to_path_buf(), None).await?;
        validate_config(&loaded, &options.config)?;
        let row = StoredPlugin {
            id: loaded.plugin.id.clone(),
            version: loaded.plugin.version.to_string(),
            world: loaded.manifest.world.name().to_string(),
            package_path: rel.clone(),
            sha256: loaded.sha256.clone(),
            enabled: !options.start_disabled,
            disabled_reason: options.start_disabled.then_some(DisabledReason::Admin),
            approved_hosts: options.approved_hosts.clone(),
            installed_at: String::new(),
            updated_at: String::new(),
            previous: None,
            trace_mode: TraceMode::Off,
        };
        if row.enabled {
            check_can_enable(db, &loaded.manifest, &row.approved_hosts).await?;
        }
        let mut tx = db.begin_write().await?;
        store::insert(&mut tx, &row).await?;
        store::write_config(&mut tx, &row.id, &loaded.manifest, &options.config).await?;
        store::bump(&mut tx).await?;
        record(&mut tx, actor, "plugin.install", &row.id, None, Some(&row)).await?;
        tx.commit().await?;
        match host.registry().install(loaded, options) {
            Ok(status) => Ok(status),
            Err(e) => {
                // Cannot happen after the checks above, but never leave the database claiming
                // a plugin this process refused.
                let mut tx = db.begin_write().await?;
                store::delete(&mut tx, &row.id).await?;
                store::bump(&mut tx).await?;
                tx.commit().await?;
                Err(e.into())
            }
        }
    }
}

fn non_empty(config: &ConfigValues) -> ConfigValues {
    config
        .keys()
        .filter_map(|k| Some((k.to_string(), config.get(k)?.to_string())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn validate_config(loaded: &LoadedPlugin, config: &ConfigValues) -> Result<(), PluginError> {
    loaded
        .manifest
        .validate_config(config)
        .map_err(|errors| PluginError::Config {
            plugin: loaded.plugin.clone(),
            errors,
        })
}

/// Upgrades `id` to the newest version in the directory matching `wanted`. The new version is
/// fetched beside the old one, loaded and validated (with the current configuration) first;
/// if any of that fails the old version stays installed, enabled as it was, and the error says
/// why.
pub async fn upgrade(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    directory: &Directory,
    id: &str,
    wanted: &VersionReq,
    trust: &TrustPolicy,
) -> Result<Upgraded, ServiceError> {
    let _guard = host.lock.lock().await;
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    let failed = |to: String, e: ServiceError| ServiceError::UpgradeFailed {
        id: id.to_string(),
        from: existing.version.clone(),
        to,
        source: Box::new(e),
    };
    let (d, i, w) = (directory.clone(), id.to_string(), wanted.clone());
    let (_, available, _) = blocking(move || Ok(d.resolve(&i, &w)?))
        .await
        .map_err(|e| failed(wanted.to_string(), e))?;
    let installed =
        Version::parse(&existing.version).map_err(|e| ServiceError::Other(e.to_string()))?;
    if available <= installed {
        return Err(ServiceError::UpToDate {
            id: id.to_string(),
            installed: existing.version,
            available: available.to_string(),
        });
    }
    let staged = fetch(host, directory, id, wanted, trust)
        .await
        .map_err(|e| failed(available.to_string(), e))?;
    let placed = read_manifest(&staged)
        .map_err(ServiceError::from)
        .and_then(|m| place(host, &staged, &m));
    let (dir, rel) = match placed {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(failed(available.to_string(), e));
        }
    };
    finish_upgrade(db, host, actor, existing, dir, rel, None).await
}

/// Upgrades a plugin from a local package (folder or `.tar.gz`), with the same rollback as
/// [`upgrade`]. A package of the same version but different content replaces it too (a
/// rebuilt plugin).
pub async fn upgrade_package(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    source: &Path,
) -> Result<Upgraded, ServiceError> {
    let _guard = host.lock.lock().await;
    let (staged, manifest, sha) = stage(host, source).await?;
    let Some(existing) = store::get(&db.pool, &manifest.id).await? else {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(ServiceError::NotInstalled(manifest.id));
    };
    let installed =
        Version::parse(&existing.version).map_err(|e| ServiceError::Other(e.to_string()))?;
    if manifest.version < installed || (manifest.version == installed && existing.sha256 == sha) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(ServiceError::UpToDate {
            id: existing.id,
            installed: existing.version,
            available: manifest.version.to_string(),
        });
    }
    let (dir, rel) = place(host, &staged, &manifest)?;
    finish_upgrade(db, host, actor, existing, dir, rel, None).await
}

async fn finish_upgrade(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    existing: StoredPlugin,
    dir: PathBuf,
    rel: String,
    expected_sha: Option<String>,
) -> Result<Upgraded, ServiceError> {
    let data_dir = host.data_dir().to_path_buf();
    let old_dir = data_dir.join(&existing.package_path);
    let kept_dir = existing
        .previous
        .as_ref()
        .map(|p| data_dir.join(&p.package_path));
    let mut to = read_manifest(&dir)
        .map(|m| m.version.to_string())
        .unwrap_or_else(|_| "the new version".into());
    let result = upgrade_loaded(
        db,
        host,
        actor,
        &existing,
        &dir,
        &old_dir,
        rel,
        expected_sha,
        &mut to,
    )
    .await;
    match result {
        Ok(done) => {
            // The replaced package stays for a rollback; the one kept before it goes (unless
            // it is the one now running: a rollback swaps the two).
            if let Some(kept) = kept_dir
                && kept != dir
                && kept != old_dir
            {
                discard(&kept);
            }
            Ok(done)
        }
        Err(e) => {
            // A failed rollback leaves the kept package where it was.
            if old_dir != dir && kept_dir.as_ref() != Some(&dir) {
                discard(&dir);
            }
            Err(ServiceError::UpgradeFailed {
                id: existing.id.clone(),
                from: existing.version.clone(),
                to,
                source: Box::new(e),
            })
        }
    }
}

/// Rolls a plugin back to the version its last upgrade replaced (kept on disk), with the same
/// checks and the same "the running version stays on failure" rule as an upgrade. The version
/// rolled back from is kept in turn, so a second rollback is the upgrade again.
pub async fn rollback(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
) -> Result<Upgraded, ServiceError> {
    let _guard = host.lock.lock().await;
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    let previous = existing
        .previous
        .clone()
        .ok_or_else(|| ServiceError::NothingToRollBack(id.to_string()))?;
    let dir = host.data_dir().join(&previous.package_path);
    if !dir.join("plugin.wasm").is_file() {
        return Err(ServiceError::Other(format!(
            "the package of {id}@{} is no longer at {}",
            previous.version,
            dir.display()
        )));
    }
    finish_upgrade(
        db,
        host,
        actor,
        existing,
        dir,
        previous.package_path,
        Some(previous.sha256),
    )
    .await
}

#[allow(clippy::too_many_arguments)] // shared by upgrade and rollback, which differ in each
async fn upgrade_loaded(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    existing: &StoredPlugin,
    dir: &Path,
    old_dir: &Path,
    rel: String,
    expected_sha: Option<String>,
    to: &mut String,
) -> Result<Upgraded, ServiceError> {
    {
        let loaded = load_verified(
            host.registry().runtime().clone(),
            dir.to_path_buf(),
            expected_sha,
        )
        .await?;
        *to = loaded.plugin.version.to_string();
        if loaded.plugin.id != existing.id {
            return Err(ServiceError::Other(format!(
                "the package is {}, not {}",
                loaded.plugin.id, existing.id
            )));
        }
        let world = loaded.manifest.world.name();
        if world != existing.world {
            return Err(ServiceError::Other(format!(
                "the new version implements {world}, the installed one {}",
                existing.world
            )));
        }
        // Keep the settings the new schema still knows; new required ones must be set first.
        let old_config = store::full_config(&db.pool, &existing.id).await?;
        let config: ConfigValues = old_config
            .keys()
            .filter(|k| loaded.manifest.config.iter().any(|f| f.name == *k))
            .filter_map(|k| Some((k.to_string(), old_config.get(k)?.to_string())))
            .collect();
        validate_config(&loaded, &config)?;
        let from = existing
            .plugin_ref()
            .ok_or_else(|| ServiceError::Other("bad installed version".into()))?;
        let new_ref = loaded.plugin.clone();
        let replaced = (rel != existing.package_path).then(|| PreviousPackage {
            version: existing.version.clone(),
            package_path: existing.package_path.clone(),
            sha256: existing.sha256.clone(),
        });
        let mut tx = db.begin_write().await?;
        store::set_package(
            &mut tx,
            &existing.id,
            &new_ref.version.to_string(),
            world,
            &rel,
            &loaded.sha256,
            replaced.as_ref().or(existing.previous.as_ref()),
        )
        .await?;
        store::write_config(&mut tx, &existing.id, &loaded.manifest, &config).await?;
        store::bump(&mut tx).await?;
        let after = StoredPlugin {
            version: new_ref.version.to_string(),
            sha256: loaded.sha256.clone(),
            ..existing.clone()
        };
        let action = if existing.previous.as_ref().map(|p| &p.package_path) == Some(&rel) {
            "plugin.rollback"
        } else {
            "plugin.upgrade"
        };
        record(
            &mut tx,
            actor,
            action,
            &existing.id,
            Some(existing),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        let options = InstallOptions {
            config,
            approved_hosts: existing.approved_hosts.clone(),
            memory_limit: None,
            start_disabled: !existing.enabled,
        };
        if let Err(e) = host.registry().install(loaded, options) {
            // Put the database back: the old version stays.
            let old_manifest = read_manifest(old_dir)?;
            let mut tx = db.begin_write().await?;
            store::set_package(
                &mut tx,
                &existing.id,
                &existing.version,
                &existing.world,
                &existing.package_path,
                &existing.sha256,
                existing.previous.as_ref(),
            )
            .await?;
            store::write_config(&mut tx, &existing.id, &old_manifest, &old_config).await?;
            store::bump(&mut tx).await?;
            tx.commit().await?;
            return Err(e.into());
        }
        if !existing.enabled {
            host.registry()
                .set_state(&existing.id, false, existing.disabled_reason.clone())?;
        }
        Ok(Upgraded { from, to: new_ref })
    }
}

/// Uninstalls a plugin: its row, configuration, secrets and package.
pub async fn remove(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
) -> Result<PluginRef, ServiceError> {
    let _guard = host.lock.lock().await;
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    let mut tx = db.begin_write().await?;
    store::delete(&mut tx, id).await?;
    store::bump(&mut tx).await?;
    record(&mut tx, actor, "plugin.remove", id, Some(&existing), None).await?;
    tx.commit().await?;
    let _ = host.registry().remove(id);
    discard(&host.data_dir().join(&existing.package_path));
    if let Some(previous) = &existing.previous {
        discard(&host.data_dir().join(&previous.package_path));
    }
    existing
        .plugin_ref()
        .ok_or_else(|| ServiceError::Other("bad installed version".into()))
}

/// Switches a plugin on (loading it here first, so a plugin that cannot load is refused).
pub async fn enable(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
) -> Result<(), ServiceError> {
    set_enabled(db, host, actor, id, true).await
}

/// Switches a plugin off, in every process.
pub async fn disable(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
) -> Result<(), ServiceError> {
    set_enabled(db, host, actor, id, false).await
}

async fn set_enabled(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
    enabled: bool,
) -> Result<(), ServiceError> {
    let _guard = host.lock.lock().await;
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    if enabled {
        check_can_enable(db, &manifest_of(host, &existing)?, &existing.approved_hosts).await?;
        // Loads it (if this process lacks it) as it is now: still disabled.
        apply_row(db, host, &existing).await?;
    }
    let mut tx = db.begin_write().await?;
    store::set_enabled(&mut tx, id, enabled, None).await?;
    store::bump(&mut tx).await?;
    let after = StoredPlugin {
        enabled,
        disabled_reason: (!enabled).then_some(DisabledReason::Admin),
        ..existing.clone()
    };
    let action = if enabled {
        "plugin.enable"
    } else {
        "plugin.disable"
    };
    record(&mut tx, actor, action, id, Some(&existing), Some(&after)).await?;
    tx.commit().await?;
    if host.registry().installed(id).is_some() {
        host.registry().set_state(id, enabled, None)?;
    }
    Ok(())
}

/// Chooses which of a plugin's calls are recorded as decision traces, in every process.
pub async fn set_trace_mode(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
    mode: TraceMode,
) -> Result<(), ServiceError> {
    let _guard = host.lock.lock().await;
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    if existing.trace_mode == mode {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    store::set_trace_mode(&mut tx, id, mode).await?;
    store::bump(&mut tx).await?;
    let after = StoredPlugin {
        trace_mode: mode,
        ..existing.clone()
    };
    record(
        &mut tx,
        actor,
        "plugin.trace",
        id,
        Some(&existing),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    if host.registry().installed(id).is_some() {
        host.registry().set_trace_mode(id, mode)?;
    }
    Ok(())
}

/// Records a plugin change in the audit log, in the change's transaction: the installed
/// version, package checksum, state and approved hosts (never configuration values).
async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: Actor<'_>,
    action: &str,
    id: &str,
    before: Option<&StoredPlugin>,
    after: Option<&StoredPlugin>,
) -> Result<(), sqlx::Error> {
    let snapshot = |p: &StoredPlugin| {
        crate::audit::json(&serde_json::json!({
            "version": p.version,
            "sha256": p.sha256,
            "enabled": p.enabled,
            "approved_hosts": p.approved_hosts,
            "trace_mode": p.trace_mode.as_str(),
        }))
    };
    crate::audit::record(
        tx,
        actor,
        action,
        "plugin",
        id,
        before.map(snapshot).as_deref(),
        after.map(snapshot).as_deref(),
    )
    .await
}

/// The rules a plugin must meet to be switched on: its HTTP permission approved (when it asks
/// for one) and, for a pricing strategy, no other strategy enabled.
async fn check_can_enable(
    db: &Db,
    manifest: &Manifest,
    approved_hosts: &[String],
) -> Result<(), ServiceError> {
    let declared = &manifest.permissions.http.hosts;
    if !declared.is_empty() && !declared.iter().any(|h| approved_hosts.contains(h)) {
        return Err(ServiceError::PermissionsNotApproved {
            id: manifest.id.clone(),
            hosts: declared.clone(),
        });
    }
    if manifest.world == World::PricingStrategy
        && let Some(other) = store::list(&db.pool)
            .await?
            .into_iter()
            .find(|p| p.enabled && p.id != manifest.id && p.world == World::PricingStrategy.name())
    {
        return Err(ServiceError::OnePricingStrategy {
            id: manifest.id.clone(),
            enabled: other.id,
        });
    }
    Ok(())
}

/// The manifest of an installed plugin: from the registry when loaded, else from its package.
fn manifest_of(host: &PluginHost, row: &StoredPlugin) -> Result<Manifest, ServiceError> {
    if let Some(current) = host.registry().installed(&row.id) {
        return Ok(Manifest::clone(&current.loaded.manifest));
    }
    Ok(read_manifest(&host.data_dir().join(&row.package_path))?)
}

/// Changes some configuration values (`key`, `value`; an empty value goes back to the default).
/// The whole resulting configuration is validated against the schema first; every invalid
/// field is reported ([`ServiceError::field_errors`]) and nothing is changed.
pub async fn configure(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
    changes: &[(String, String)],
) -> Result<(), ServiceError> {
    let _guard = host.lock.lock().await;
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    let manifest = manifest_of(host, &existing)?;
    let mut config = store::full_config(&db.pool, id).await?;
    for (k, v) in changes {
        config.set(k.clone(), v.clone());
    }
    let config = non_empty(&config);
    manifest
        .validate_config(&config)
        .map_err(|errors| PluginError::Config {
            plugin: plugin_ref(&manifest),
            errors,
        })?;
    let mut tx = db.begin_write().await?;
    store::write_config(&mut tx, id, &manifest, &config).await?;
    store::bump(&mut tx).await?;
    // The values changed, never a secret's: those show as "********".
    let shown = |k: &str, v: &str| {
        let secret = manifest.config.iter().any(|f| f.name == k && f.secret);
        match (secret, v.is_empty()) {
            (_, true) => "(default)".to_string(),
            (true, false) => "********".to_string(),
            (false, false) => v.to_string(),
        }
    };
    let changed: std::collections::BTreeMap<&str, String> = changes
        .iter()
        .map(|(k, v)| (k.as_str(), shown(k, v)))
        .collect();
    crate::audit::record(
        &mut tx,
        actor,
        "plugin.configure",
        "plugin",
        id,
        None,
        Some(&crate::audit::json(&changed)),
    )
    .await?;
    tx.commit().await?;
    if host.registry().installed(id).is_some() {
        host.registry()
            .reconfigure(id, config, existing.approved_hosts)?;
    }
    Ok(())
}

/// Sets the hosts the administrator approves for a plugin's outgoing HTTP (only hosts its
/// manifest declares are ever reachable).
pub async fn approve_hosts(
    db: &Db,
    host: &PluginHost,
    actor: Actor<'_>,
    id: &str,
    hosts: Vec<String>,
) -> Result<(), ServiceError> {
    let _guard = host.lock.lock().await;
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    let declared = manifest_of(host, &existing)?.permissions.http.hosts;
    if let Some(stray) = hosts.iter().find(|h| !declared.contains(h)) {
        return Err(ServiceError::Other(format!(
            "{stray} is not a host {id} declares (it declares: {})",
            if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            }
        )));
    }
    let mut tx = db.begin_write().await?;
    store::set_approved_hosts(&mut tx, id, &hosts).await?;
    store::bump(&mut tx).await?;
    let after = StoredPlugin {
        approved_hosts: hosts.clone(),
        ..existing.clone()
    };
    record(
        &mut tx,
        actor,
        "plugin.approve",
        id,
        Some(&existing),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    if let Some(current) = host.registry().installed(id) {
        host.registry().reconfigure(id, current.config, hosts)?;
    }
    Ok(())
}

/// Every installed plugin. Holds no configuration values (and so no secrets).
pub async fn list(db: &Db, host: &PluginHost) -> Result<Vec<PluginInfo>, ServiceError> {
    let rows = store::list(&db.pool).await?;
    Ok(rows
        .into_iter()
        .map(|stored| {
            let status = host.registry().status(&stored.id).ok();
            let name = match &status {
                Some(s) => s.name.clone(),
                None => manifest_of(host, &stored)
                    .map(|m| m.name)
                    .unwrap_or_else(|_| "(package missing)".into()),
            };
            PluginInfo {
                stored,
                name,
                status,
            }
        })
        .collect())
}

/// A plugin's configuration for display: every schema field with its value, default or
/// "unset"; secrets only as "set" or "unset".
pub async fn config_view(
    db: &Db,
    host: &PluginHost,
    id: &str,
) -> Result<Vec<ConfigEntry>, ServiceError> {
    let existing = store::get(&db.pool, id)
        .await?
        .ok_or_else(|| ServiceError::NotInstalled(id.to_string()))?;
    let manifest = manifest_of(host, &existing)?;
    let values = store::public_config(&db.pool, id).await?;
    let secrets = store::secret_keys(&db.pool, id).await?;
    Ok(manifest
        .config
        .iter()
        .map(|f| {
            let shown = if f.secret {
                if secrets.iter().any(|s| s == &f.name) {
                    Shown::SecretSet
                } else {
                    Shown::Unset
                }
            } else {
                match (values.get(&f.name), f.default.as_deref()) {
                    (Some(v), _) if !v.is_empty() => Shown::Value(v.to_string()),
                    (_, Some(d)) if !d.is_empty() => Shown::Default(d.to_string()),
                    _ => Shown::Unset,
                }
            };
            ConfigEntry {
                name: f.name.clone(),
                kind: f.kind,
                required: f.required,
                secret: f.secret,
                help: f.help.clone(),
                shown,
            }
        })
        .collect())
}

/// The world of an installed plugin (for callers that only have its row).
pub fn world_of(row: &StoredPlugin) -> Option<World> {
    row.world.parse().ok()
}
