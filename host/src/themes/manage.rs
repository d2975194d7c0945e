//! Installing, listing, switching and removing themes while the shop runs: the use cases the
//! dashboard and `emporium theme …` share.
//!
//! Installed themes live in `<data dir>/themes/<id>/` (shared by the processes of one shop, as
//! plugin packages are), beside the bundled ones in `themes_dir`. Which theme is active, and
//! the one before it, is in the database (`theme_state`, migration 0026); when nothing is
//! stored, the configured theme (`EMPORIUM_THEME`) is. Every change bumps
//! `theme_state.version` in its own transaction, with its audit entry; each process polls the
//! counter ([`follow`]) and switches its templates when the active theme moved, without a
//! restart.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Weak;
use std::time::Duration;

use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};

use super::{Templates, ThemeError, ThemeManifest, theme_dir, valid_id};
use crate::audit::{self, Actor};
use crate::infra::db::{Db, now_text};

/// How often a process looks for theme changes made by other processes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Most files (and folders) in a theme package.
pub const MAX_ENTRIES: usize = 2000;
/// Largest single file in a theme package.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Largest theme package, unpacked (and largest archive).
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Theme(#[from] ThemeError),
    #[error("{0}")]
    Refused(String),
    #[error("there is no theme {0:?}")]
    NotFound(String),
    #[error("there is no earlier theme to roll back to")]
    NoPrevious,
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ManageError + '_ {
    move |e| ManageError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The folder installed themes go to.
pub fn installed_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("themes")
}

/// Where the shop looks for themes: installed ones first, then the bundled ones.
pub fn roots(data_dir: &Path, themes_dir: &Path) -> Vec<PathBuf> {
    vec![installed_dir(data_dir), themes_dir.to_path_buf()]
}

/// `theme_state` as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    pub active: Option<String>,
    pub previous: Option<String>,
    pub version: i64,
}

pub async fn stored_state(pool: &AnyPool) -> Result<StoredState, sqlx::Error> {
    let row = sqlx::query("SELECT active, previous, version FROM theme_state WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok(StoredState {
        active: row.try_get("active")?,
        previous: row.try_get("previous")?,
        version: row.try_get("version")?,
    })
}

async fn locked_state(conn: &mut AnyConnection) -> Result<StoredState, sqlx::Error> {
    // The write transaction holds SQLite's lock already; PostgreSQL locks the row.
    let sql = if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        "SELECT active, previous, version FROM theme_state WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT active, previous, version FROM theme_state WHERE id = 1"
    };
    let row = sqlx::query(sql).fetch_one(&mut *conn).await?;
    Ok(StoredState {
        active: row.try_get("active")?,
        previous: row.try_get("previous")?,
        version: row.try_get("version")?,
    })
}

/// Writes the active and previous themes and bumps the version other processes poll.
async fn write_state(
    conn: &mut AnyConnection,
    active: Option<&str>,
    previous: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE theme_state SET active = $1, previous = $2, version = version + 1, \
         updated_at = $3 WHERE id = 1",
    )
    .bind(active)
    .bind(previous)
    .bind(now_text())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One theme as the dashboard and `theme list` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ThemeInfo {
    pub id: String,
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub parent: Option<String>,
    /// The screenshot's path inside the theme folder, when it has one.
    pub screenshot: Option<String>,
    /// Shipped with the shop (in `themes_dir`): never removed.
    pub bundled: bool,
    pub active: bool,
    /// What a rollback goes back to.
    pub previous: bool,
    /// The theme-extension plugin the theme is made for, and the helpers it calls.
    pub extension_plugin: Option<String>,
    pub helpers: Vec<String>,
    /// Why the theme cannot be used (a bad `theme.toml`).
    pub problem: Option<String>,
}

/// The themes of one shop: its database, its templates, and where installed themes go.
pub struct Themes<'a> {
    pub db: &'a Db,
    pub templates: &'a Templates,
    /// `<data dir>/themes`.
    pub installed: PathBuf,
    /// The configured theme (`EMPORIUM_THEME`): active while the database names none.
    pub configured: &'a str,
}

impl Themes<'_> {
    fn is_installed(&self, dir: &Path) -> bool {
        dir.starts_with(&self.installed)
    }

    /// Every theme in the roots, installed first, each by id.
    pub async fn list(&self) -> Result<Vec<ThemeInfo>, ManageError> {
        let state = stored_state(&self.db.pool).await?;
        let active = self.templates.active_id();
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for root in self.templates.roots() {
            let Ok(entries) = std::fs::read_dir(root) else {
                continue;
            };
            let mut dirs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("theme.toml").is_file())
                .collect();
            dirs.sort();
            for dir in dirs {
                let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                    continue;
                };
                if id.starts_with('.') || !seen.insert(id.clone()) {
                    continue;
                }
                let bundled = !self.is_installed(&dir);
                let base = ThemeInfo {
                    active: id == active,
                    previous: state.previous.as_deref() == Some(id.as_str()),
                    bundled,
                    id: id.clone(),
                    name: id.clone(),
                    version: None,
                    description: None,
                    author: None,
                    parent: None,
                    screenshot: None,
                    extension_plugin: None,
                    helpers: Vec::new(),
                    problem: None,
                };
                out.push(match ThemeManifest::read(&dir, &id) {
                    Ok(m) => ThemeInfo {
                        name: m.name.clone(),
                        version: m.version.clone(),
                        description: m.description.clone(),
                        author: m.author.clone(),
                        parent: m
                            .parent
                            .clone()
                            .or_else(|| (id != "default").then(|| "default".into())),
                        screenshot: m.screenshot.clone().filter(|s| dir.join(s).is_file()),
                        extension_plugin: m.extension.as_ref().and_then(|e| e.plugin.clone()),
                        helpers: m.helpers().cloned().collect(),
                        ..base
                    },
                    Err(e) => ThemeInfo {
                        problem: Some(e.to_string()),
                        ..base
                    },
                });
            }
        }
        Ok(out)
    }

    /// The file of theme `id`'s screenshot, if it has one.
    pub fn screenshot(&self, id: &str) -> Option<PathBuf> {
        let dir = theme_dir(self.templates.roots(), id)?;
        let shot = ThemeManifest::read(&dir, id).ok()?.screenshot?;
        Some(dir.join(shot)).filter(|p| p.is_file())
    }

    /// Makes `id` the active theme in every process (this one at once, the others at their
    /// next poll). The theme is compiled first: one that does not load is refused and
    /// nothing changes. The theme it replaces becomes the one a rollback returns to.
    pub async fn activate(&self, actor: Actor<'_>, id: &str) -> Result<(), ManageError> {
        let theme = self.templates.build(id).map_err(|e| match e {
            ThemeError::NotFound(name, _) if name == id => ManageError::NotFound(id.into()),
            e => e.into(),
        })?;
        let mut tx = self.db.begin_write().await?;
        let state = locked_state(&mut tx).await?;
        let current = state.active.unwrap_or_else(|| self.configured.to_owned());
        if current == id {
            return Ok(());
        }
        write_state(&mut tx, Some(id), Some(&current)).await?;
        audit::record(
            &mut tx,
            actor,
            "theme.activate",
            "theme",
            id,
            Some(&audit::json(&serde_json::json!({ "active": current }))),
            Some(&audit::json(&serde_json::json!({ "active": id }))),
        )
        .await?;
        tx.commit().await?;
        self.templates.switch_to(theme);
        Ok(())
    }

    /// Goes back to the theme that was active before the last switch (which becomes the one
    /// to roll back to in turn).
    pub async fn rollback(&self, actor: Actor<'_>) -> Result<String, ManageError> {
        let state = stored_state(&self.db.pool).await?;
        let previous = state.previous.ok_or(ManageError::NoPrevious)?;
        let theme = self.templates.build(&previous)?;
        let mut tx = self.db.begin_write().await?;
        let locked = locked_state(&mut tx).await?;
        if locked.previous.as_deref() != Some(previous.as_str()) {
            return Err(ManageError::Refused(
                "The themes changed meanwhile; look again before rolling back.".into(),
            ));
        }
        let current = locked.active.unwrap_or_else(|| self.configured.to_owned());
        write_state(&mut tx, Some(&previous), Some(&current)).await?;
        audit::record(
            &mut tx,
            actor,
            "theme.rollback",
            "theme",
            &previous,
            Some(&audit::json(&serde_json::json!({ "active": current }))),
            Some(&audit::json(&serde_json::json!({ "active": previous }))),
        )
        .await?;
        tx.commit().await?;
        self.templates.switch_to(theme);
        Ok(previous)
    }

    /// Removes an installed theme that no theme in use needs. Bundled themes stay.
    pub async fn remove(&self, actor: Actor<'_>, id: &str) -> Result<(), ManageError> {
        let dir = theme_dir(self.templates.roots(), id)
            .ok_or_else(|| ManageError::NotFound(id.into()))?;
        if !self.is_installed(&dir) {
            return Err(ManageError::Refused(format!(
                "{id} is bundled with the shop and cannot be removed."
            )));
        }
        if self.templates.active().chain.dirs.contains(&dir) {
            return Err(ManageError::Refused(format!(
                "{id} is in use by the active theme; activate another theme first."
            )));
        }
        let mut tx = self.db.begin_write().await?;
        let state = locked_state(&mut tx).await?;
        if state.active.as_deref() == Some(id) {
            return Err(ManageError::Refused(format!(
                "{id} is the active theme; activate another theme first."
            )));
        }
        let previous = state.previous.filter(|p| p != id);
        write_state(&mut tx, state.active.as_deref(), previous.as_deref()).await?;
        audit::record(
            &mut tx,
            actor,
            "theme.remove",
            "theme",
            id,
            Some(&audit::json(&serde_json::json!({ "id": id }))),
            None,
        )
        .await?;
        tx.commit().await?;
        self.templates.forget_previews();
        // Out of the way first (one rename), so no request finds half a theme.
        let gone = self
            .installed
            .join(format!(".removed-{id}-{}", unique_suffix()));
        std::fs::rename(&dir, &gone).map_err(io(&dir))?;
        let _ = std::fs::remove_dir_all(&gone);
        Ok(())
    }

    /// Installs a theme from a folder or a `.tar.gz` holding `theme.toml` (at its root or in
    /// one top-level folder), `templates/` and optionally `static/` and a screenshot. The
    /// manifest is checked and every template of the theme compiled before anything is
    /// installed; a theme id that is taken is refused.
    pub async fn install(&self, actor: Actor<'_>, source: &Path) -> Result<ThemeInfo, ManageError> {
        std::fs::create_dir_all(&self.installed).map_err(io(&self.installed))?;
        let staging = self.installed.join(format!(".staging-{}", unique_suffix()));
        let result = self.install_staged(actor, source, &staging).await;
        let _ = std::fs::remove_dir_all(&staging);
        result
    }

    /// Installs an uploaded `.tar.gz` (the dashboard's install form): `file_name` is what the
    /// browser called it, and names the theme when its `theme.toml` sets no `id`. The upload is
    /// kept only while it is checked and unpacked.
    pub async fn install_upload(
        &self,
        actor: Actor<'_>,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<ThemeInfo, ManageError> {
        // Only the last part of what the browser sent, and only a name a theme id could come from.
        let name = file_name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !is_archive(Path::new(&name)) {
            return Err(ManageError::Refused(format!(
                "{file_name:?} is not a theme package: upload a .tar.gz (or .tgz)"
            )));
        }
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_TOTAL_BYTES {
            return Err(ManageError::Refused(format!(
                "the package is larger than {} MiB",
                MAX_TOTAL_BYTES >> 20
            )));
        }
        let stem = source_name(Path::new(&name), None);
        let stem = if valid_id(&stem).is_ok() {
            stem
        } else {
            "theme".to_owned()
        };
        let upload_dir = self.installed.join(format!(".upload-{}", unique_suffix()));
        std::fs::create_dir_all(&upload_dir).map_err(io(&upload_dir))?;
        let file = upload_dir.join(format!("{stem}.tar.gz"));
        let result = match std::fs::write(&file, bytes).map_err(io(&file)) {
            Ok(()) => self.install(actor, &file).await,
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_dir_all(&upload_dir);
        result
    }

    async fn install_staged(
        &self,
        actor: Actor<'_>,
        source: &Path,
        staging: &Path,
    ) -> Result<ThemeInfo, ManageError> {
        let archive = is_archive(source);
        {
            let (source, staging) = (source.to_path_buf(), staging.to_path_buf());
            tokio::task::spawn_blocking(move || {
                if archive {
                    unpack(&source, &staging)
                } else {
                    copy_folder(&source, &staging)
                }
            })
            .await
            .map_err(|e| ManageError::Refused(format!("unpacking failed: {e}")))??;
        }
        // `theme.toml` at the top, or in the package's one top-level folder.
        let (root, folder_name) = if staging.join("theme.toml").is_file() {
            (staging.to_path_buf(), None)
        } else {
            let subdirs: Vec<PathBuf> = std::fs::read_dir(staging)
                .map_err(io(staging))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            match subdirs.as_slice() {
                [one] if one.join("theme.toml").is_file() => (
                    one.clone(),
                    one.file_name().and_then(|n| n.to_str()).map(str::to_owned),
                ),
                _ => {
                    return Err(ManageError::Refused(format!(
                        "{} has no theme.toml (at its top, or in its one top-level folder)",
                        source.display()
                    )));
                }
            }
        };
        let label = source_name(source, folder_name.as_deref());
        let manifest = ThemeManifest::read(&root, &label)?;
        let id = manifest.id.clone().unwrap_or_else(|| label.clone());
        valid_id(&id).map_err(|message| ThemeError::BadManifest {
            name: label.clone(),
            message: format!("{message}; set `id` in theme.toml"),
        })?;
        if let Some(existing) = theme_dir(self.templates.roots(), &id) {
            return Err(ManageError::Refused(if self.is_installed(&existing) {
                format!("A theme {id} is installed already; remove it first.")
            } else {
                format!("{id} is the name of a theme bundled with the shop; choose another id.")
            }));
        }
        if !root.join("templates").is_dir() {
            return Err(ThemeError::BadManifest {
                name: id,
                message: "the package has no templates/ folder".into(),
            }
            .into());
        }
        if let Some(shot) = &manifest.screenshot
            && !root.join(shot).is_file()
        {
            return Err(ThemeError::BadManifest {
                name: id,
                message: format!("screenshot {shot:?} is not in the package"),
            }
            .into());
        }
        // Resolves the parents and compiles every template the theme brings.
        self.templates.build_at(&id, &root)?.check_own_templates()?;
        let dest = self.installed.join(&id);
        std::fs::rename(&root, &dest).map_err(io(&dest))?;
        let written = async {
            let mut tx = self.db.begin_write().await?;
            let state = locked_state(&mut tx).await?;
            write_state(&mut tx, state.active.as_deref(), state.previous.as_deref()).await?;
            audit::record(
                &mut tx,
                actor,
                "theme.install",
                "theme",
                &id,
                None,
                Some(&audit::json(&serde_json::json!({
                    "id": id, "name": manifest.name, "version": manifest.version,
                }))),
            )
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&dest);
            return Err(e.into());
        }
        self.templates.forget_previews();
        self.list()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(ManageError::NotFound(id))
    }

    /// Brings this process's templates in step with the database: the stored active theme,
    /// or the configured one. A stored theme that cannot be loaded here is logged and the
    /// current one kept.
    pub async fn sync(&self) -> Result<i64, ManageError> {
        let state = stored_state(&self.db.pool).await?;
        let wanted = state
            .active
            .clone()
            .unwrap_or_else(|| self.configured.to_owned());
        if wanted != self.templates.active_id() {
            match self.templates.build(&wanted) {
                Ok(theme) => {
                    tracing::info!(theme = %wanted, "switching to the theme the database names");
                    self.templates.switch_to(theme);
                }
                Err(e) => {
                    tracing::error!(theme = %wanted, error = %e, "cannot load the active theme; keeping the current one")
                }
            }
        }
        Ok(state.version)
    }
}

/// Follows theme changes other processes make: polls `theme_state.version` and, when it
/// moved, brings `templates(shop)` in step. Ends when the shop is dropped.
pub fn follow<T: Send + Sync + 'static>(
    db: Db,
    installed: PathBuf,
    configured: String,
    shop: Weak<T>,
    templates: fn(&T) -> &Templates,
    mut seen: i64,
) {
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + POLL_INTERVAL, POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(shop) = shop.upgrade() else {
                return;
            };
            let version: Result<i64, sqlx::Error> =
                sqlx::query_scalar("SELECT version FROM theme_state WHERE id = 1")
                    .fetch_one(&db.pool)
                    .await;
            match version {
                Ok(v) if v != seen => {
                    let themes = Themes {
                        db: &db,
                        templates: templates(&shop),
                        installed: installed.clone(),
                        configured: &configured,
                    };
                    // Themes were installed or removed too, perhaps: previews are rebuilt.
                    themes.templates.forget_previews();
                    match themes.sync().await {
                        Ok(v) => seen = v,
                        Err(e) => tracing::warn!(error = %e, "following theme changes failed"),
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the theme state version failed"),
            }
        }
    });
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Whether `path` names a `.tar.gz` (or `.tgz`) rather than a folder.
pub fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// The id a package suggests: its one top-level folder, or its own name without the
/// archive suffix.
fn source_name(source: &Path, folder: Option<&str>) -> String {
    if let Some(f) = folder {
        return f.to_owned();
    }
    let name = source
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("theme");
    name.trim_end_matches(".tar.gz")
        .trim_end_matches(".tgz")
        .to_owned()
}

/// The parts of a package path, refusing anything that could climb out of the folder it is
/// unpacked into.
fn safe_parts(raw: &Path) -> Result<Vec<String>, ManageError> {
    let shown = raw.display().to_string();
    let mut parts = Vec::new();
    for c in raw.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| ManageError::Refused(format!("{shown:?}: name is not UTF-8")))?
                    .to_owned(),
            ),
            _ => {
                return Err(ManageError::Refused(format!(
                    "{shown:?}: absolute paths and `..` are not allowed"
                )));
            }
        }
    }
    Ok(parts)
}

/// Unpacks a theme archive into `dest` (created). Only folders and regular files, within the
/// size and count limits; no links, devices, absolute paths or `..`.
fn unpack(archive: &Path, dest: &Path) -> Result<(), ManageError> {
    let meta = std::fs::symlink_metadata(archive).map_err(io(archive))?;
    if !meta.is_file() || meta.len() > MAX_TOTAL_BYTES {
        return Err(ManageError::Refused(format!(
            "{} is not a regular file of at most {MAX_TOTAL_BYTES} bytes",
            archive.display()
        )));
    }
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let refused = ManageError::Refused;
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let mut total = 0u64;
    let entries = tar
        .entries()
        .map_err(|e| refused(format!("not a .tar.gz: {e}")))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(refused(format!("more than {MAX_ENTRIES} entries")));
        }
        let mut entry = entry.map_err(|e| refused(format!("corrupt archive: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| refused(format!("bad entry name: {e}")))?
            .into_owned();
        let parts = safe_parts(&raw)?;
        if parts.is_empty() || parts.iter().any(|p| p.starts_with('.')) {
            continue;
        }
        let path = parts
            .iter()
            .fold(dest.to_path_buf(), |p, part| p.join(part));
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&path).map_err(io(&path))?;
            continue;
        }
        if !kind.is_file() {
            return Err(refused(format!(
                "{}: only folders and regular files are allowed",
                raw.display()
            )));
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        if size > MAX_FILE_BYTES || total > MAX_TOTAL_BYTES {
            return Err(refused(format!(
                "{} is too large (files up to {MAX_FILE_BYTES} bytes, {MAX_TOTAL_BYTES} in all)",
                raw.display()
            )));
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| refused(format!("{}: {e}", raw.display())))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(refused(format!("{} is too large", raw.display())));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    Ok(())
}

/// Copies a theme folder into `dest`, with the archive's rules (regular files and folders
/// only, limits; names starting with `.` are left out).
fn copy_folder(source: &Path, dest: &Path) -> Result<(), ManageError> {
    let meta = std::fs::symlink_metadata(source).map_err(io(source))?;
    if !meta.is_dir() {
        return Err(ManageError::Refused(format!(
            "{} is neither a folder nor a .tar.gz",
            source.display()
        )));
    }
    let mut count = 0usize;
    let mut total = 0u64;
    copy_tree(source, dest, &mut count, &mut total)
}

fn copy_tree(
    from: &Path,
    to: &Path,
    count: &mut usize,
    total: &mut u64,
) -> Result<(), ManageError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        *count += 1;
        if *count > MAX_ENTRIES {
            return Err(ManageError::Refused(format!(
                "more than {MAX_ENTRIES} files"
            )));
        }
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        if meta.is_dir() {
            copy_tree(&path, &to.join(&name), count, total)?;
        } else if meta.is_file() {
            *total = total.saturating_add(meta.len());
            if meta.len() > MAX_FILE_BYTES || *total > MAX_TOTAL_BYTES {
                return Err(ManageError::Refused(format!(
                    "{} is too large (files up to {MAX_FILE_BYTES} bytes, {MAX_TOTAL_BYTES} in all)",
                    path.display()
                )));
            }
            std::fs::copy(&path, to.join(&name)).map_err(io(&path))?;
        } else {
            return Err(ManageError::Refused(format!(
                "{}: only folders and regular files are allowed (no links)",
                path.display()
            )));
        }
    }
    Ok(())
}
