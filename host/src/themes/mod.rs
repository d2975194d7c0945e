//! Themes: `theme.toml` + minijinja `templates/` + `static/`. A template or static file is looked
//! up in the active theme, then its parent, and so on, then `default`, one file at a time, so a
//! designer overrides exactly the files they change. Templates are compiled once; in
//! development mode they are re-read when a file under the themes folder changes.
//!
//! Themes are found in several folders ("roots"): the installed themes (`<data dir>/themes`)
//! first, then the bundled ones (`themes_dir`). The active theme can change while the shop runs
//! ([`manage`] keeps it in the database and every process follows); a staff user may preview
//! another theme for their own requests only ([`with_preview`]). The enabled theme-extension
//! plugins add template filters and functions ([`HelperSource`]); a helper that fails renders
//! its fallback, never an error.

pub mod manage;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use minijinja::value::Rest;
use minijinja::{AutoEscape, Environment, Error as TemplateError, ErrorKind, Value};
use minijinja_autoreload::AutoReloader;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::media::ThumbnailSize;
use crate::media::thumbs::thumbnail_url;

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme {0:?} not found in {1}")]
    NotFound(String, PathBuf),
    #[error("theme {name}: bad theme.toml: {message}")]
    BadManifest { name: String, message: String },
    #[error("theme {0:?} has a parent cycle")]
    Cycle(String),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// `theme.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeManifest {
    /// The theme's folder name when installed; by default the folder or archive it came from.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    pub parent: Option<String>,
    /// A picture of the theme for the dashboard (`screenshot.svg`, `.png`, `.jpg`, `.webp`),
    /// relative to the theme's folder.
    #[serde(default)]
    pub screenshot: Option<String>,
    /// `[thumbnails]`: name → size (`"200x200"`, `"300x300 crop"`), see `media::thumbs`.
    #[serde(default)]
    pub thumbnails: BTreeMap<String, String>,
    /// `[extension]`: the template helpers the theme uses from a theme-extension plugin.
    #[serde(default)]
    pub extension: Option<ExtensionManifest>,
}

/// `[extension]` in `theme.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionManifest {
    /// The plugin the theme is made for (shown in the dashboard; any enabled theme extension
    /// offering the helpers serves them).
    #[serde(default)]
    pub plugin: Option<String>,
    /// Helper names the templates call. They are always defined, so a template using one
    /// renders (with the fallback) when no enabled plugin offers it.
    #[serde(default)]
    pub helpers: Vec<String>,
}

impl ThemeManifest {
    /// Reads and checks `dir/theme.toml`; `name` is the theme's id, for messages.
    pub fn read(dir: &Path, name: &str) -> Result<ThemeManifest, ThemeError> {
        let text = std::fs::read_to_string(dir.join("theme.toml")).map_err(|e| {
            ThemeError::BadManifest {
                name: name.into(),
                message: format!("cannot read {}: {e}", dir.join("theme.toml").display()),
            }
        })?;
        ThemeManifest::parse(&text, name)
    }

    pub fn parse(text: &str, name: &str) -> Result<ThemeManifest, ThemeError> {
        let bad = |message: String| ThemeError::BadManifest {
            name: name.into(),
            message,
        };
        let manifest: ThemeManifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if manifest.name.trim().is_empty() {
            return Err(bad("`name` is empty".into()));
        }
        if let Some(v) = &manifest.version
            && semver::Version::parse(v).is_err()
        {
            return Err(bad(format!(
                "`version` {v:?} is not a version like \"1.2.0\""
            )));
        }
        if let Some(id) = &manifest.id {
            valid_id(id).map_err(bad)?;
        }
        if let Some(parent) = &manifest.parent {
            valid_id(parent).map_err(|m| bad(format!("parent: {m}")))?;
        }
        if let Some(shot) = &manifest.screenshot {
            let ok_ext = [".svg", ".png", ".jpg", ".jpeg", ".webp"]
                .iter()
                .any(|e| shot.to_ascii_lowercase().ends_with(e));
            if !ok_ext || !safe_relative(shot) {
                return Err(bad(format!(
                    "screenshot {shot:?} must be a .svg, .png, .jpg or .webp file inside the theme"
                )));
            }
        }
        for (size_name, size) in &manifest.thumbnails {
            size.parse::<ThumbnailSize>()
                .map_err(|message| bad(format!("thumbnails.{size_name}: {message}")))?;
        }
        if let Some(ext) = &manifest.extension {
            for h in &ext.helpers {
                if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(bad(format!(
                        "extension.helpers: {h:?} is not a template name (letters, digits, _)"
                    )));
                }
            }
        }
        Ok(manifest)
    }

    /// The helper names the manifest declares.
    fn helpers(&self) -> impl Iterator<Item = &String> {
        self.extension.iter().flat_map(|e| e.helpers.iter())
    }
}

/// Theme ids are folder names: lower-case letters, digits, `-` and `_`. A few words are kept
/// for the dashboard's own addresses (`/dashboard/themes/rollback/`, `/install/` ...).
pub fn valid_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        return Err(format!(
            "{id:?} is not a theme id (lower-case letters, digits, - and _, up to 64)"
        ));
    }
    if ["rollback", "stop-preview", "install"].contains(&id) {
        return Err(format!("{id:?} is reserved"));
    }
    Ok(())
}

/// A relative path without `..`, empty parts, backslashes or a leading `/`.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path
            .split('/')
            .any(|p| p == ".." || p.is_empty() || p == ".")
}

/// The folder of theme `name`: the first root that has it.
pub fn theme_dir(roots: &[PathBuf], name: &str) -> Option<PathBuf> {
    if valid_id(name).is_err() && name != "default" {
        return None;
    }
    roots
        .iter()
        .map(|r| r.join(name))
        .find(|d| d.join("theme.toml").is_file())
}

/// The folders searched for a template or static file, most specific first.
#[derive(Debug, Clone)]
pub struct ThemeChain {
    pub dirs: Vec<PathBuf>,
    /// The thumbnail sizes the themes declare by name; a theme's own entries win over its
    /// parent's.
    pub thumbnails: BTreeMap<String, ThumbnailSize>,
    /// The extension helpers the themes of the chain declare.
    pub helpers: BTreeSet<String>,
    /// The first theme's manifest.
    pub manifest: Arc<ThemeManifest>,
}

impl ThemeChain {
    pub fn resolve(themes_dir: &Path, active: &str) -> Result<ThemeChain, ThemeError> {
        ThemeChain::resolve_in(&[themes_dir.to_path_buf()], active)
    }

    /// The chain of `active` with its parents looked up in `roots`, in order.
    pub fn resolve_in(roots: &[PathBuf], active: &str) -> Result<ThemeChain, ThemeError> {
        ThemeChain::resolve_from(roots, active, None)
    }

    /// Like [`ThemeChain::resolve_in`], with the first theme's folder given (a theme being
    /// installed, not yet in a root).
    pub fn resolve_from(
        roots: &[PathBuf],
        active: &str,
        first_dir: Option<&Path>,
    ) -> Result<ThemeChain, ThemeError> {
        let shown_root = roots.first().cloned().unwrap_or_default();
        let mut dirs = Vec::new();
        let mut seen = Vec::new();
        let mut declared = Vec::new();
        let mut helpers = BTreeSet::new();
        let mut first = None;
        let mut next = Some(active.to_owned());
        while let Some(name) = next.take() {
            if seen.contains(&name) {
                return Err(ThemeError::Cycle(name));
            }
            if name.contains('/') || name.contains("..") || name.contains('\\') {
                return Err(ThemeError::NotFound(name, shown_root));
            }
            let dir = match (first_dir, dirs.is_empty()) {
                (Some(d), true) => d.to_path_buf(),
                _ => theme_dir(roots, &name)
                    .ok_or_else(|| ThemeError::NotFound(name.clone(), shown_root.clone()))?,
            };
            let manifest = ThemeManifest::read(&dir, &name)?;
            let mut sizes = BTreeMap::new();
            for (size_name, text) in &manifest.thumbnails {
                // Checked by `parse`.
                if let Ok(size) = text.parse() {
                    sizes.insert(size_name.clone(), size);
                }
            }
            helpers.extend(manifest.helpers().cloned());
            declared.push(sizes);
            dirs.push(dir);
            seen.push(name.clone());
            next = manifest
                .parent
                .clone()
                .or_else(|| (name != "default").then(|| "default".into()));
            if first.is_none() {
                first = Some(Arc::new(manifest));
            }
        }
        // Most general first, so the active theme's sizes are inserted last and win.
        let thumbnails = declared.into_iter().rev().flatten().collect();
        let manifest = first.ok_or_else(|| ThemeError::NotFound(active.into(), shown_root))?;
        Ok(ThemeChain {
            dirs,
            thumbnails,
            helpers,
            manifest,
        })
    }

    /// Every size the themes declare (what the shop makes thumbnails in).
    pub fn thumbnail_sizes(&self) -> Vec<ThumbnailSize> {
        let mut sizes: Vec<ThumbnailSize> = self.thumbnails.values().copied().collect();
        sizes.sort();
        sizes.dedup();
        sizes
    }

    /// The first theme's copy of `relative` (e.g. `static/css/shop.css`), if any.
    pub fn find(&self, relative: &str) -> Option<PathBuf> {
        if relative.split('/').any(|p| p == ".." || p.is_empty()) || relative.contains('\\') {
            return None;
        }
        self.dirs
            .iter()
            .map(|d| d.join(relative))
            .find(|p| p.is_file())
    }
}

/// Cache-busting URLs for static files: `/static/css/shop.css?v=<hash of the file>`.
#[derive(Default)]
struct StaticVersions {
    versions: RwLock<HashMap<String, String>>,
}

impl StaticVersions {
    fn url(&self, chain: &ThemeChain, path: &str, dev: bool) -> String {
        if !dev && let Some(v) = self.versions.read().ok().and_then(|m| m.get(path).cloned()) {
            return format!("/static/{path}?v={v}");
        }
        let version = chain
            .find(&format!("static/{path}"))
            .and_then(|p| std::fs::read(p).ok())
            .map(|bytes| hex::encode(&Sha256::digest(&bytes)[..6]));
        match version {
            Some(v) => {
                if let Ok(mut m) = self.versions.write() {
                    m.insert(path.to_owned(), v.clone());
                }
                format!("/static/{path}?v={v}")
            }
            None => format!("/static/{path}"),
        }
    }
}

/// Where template helpers come from: the enabled theme-extension plugins. Implemented over the
/// plugin registry by the composition root (`app.rs`), so this module does not depend on the
/// plugin runtime.
pub trait HelperSource: Send + Sync {
    /// `(plugin id, helper name)` of every helper the enabled theme extensions offer.
    fn offered(&self) -> Vec<(String, String)>;
    /// Calls one helper with its arguments as a JSON array.
    fn call(
        &self,
        plugin: &str,
        name: &str,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, String>;
}

/// The theme-extension helpers as the templates see them: which plugin serves each name, read
/// again after every plugin change, and the answers already given (helpers are pure functions
/// of their arguments, and a page calls the same one many times).
pub struct Helpers {
    source: RwLock<Option<Arc<dyn HelperSource>>>,
    generation: AtomicU64,
    offered: RwLock<(u64, Arc<BTreeMap<String, String>>)>,
    answers: moka::sync::Cache<(u64, String, String), serde_json::Value>,
}

impl Default for Helpers {
    fn default() -> Self {
        Helpers {
            source: RwLock::new(None),
            generation: AtomicU64::new(1),
            offered: RwLock::new((0, Arc::new(BTreeMap::new()))),
            answers: moka::sync::Cache::new(10_000),
        }
    }
}

impl Helpers {
    /// Plugins changed (enabled, disabled, installed, configured): helpers are looked up
    /// again and earlier answers are not reused.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn set_source(&self, source: Arc<dyn HelperSource>) {
        if let Ok(mut s) = self.source.write() {
            *s = Some(source);
        }
        self.changed();
    }

    fn source(&self) -> Option<Arc<dyn HelperSource>> {
        self.source.read().ok().and_then(|s| s.clone())
    }

    /// Helper name → plugin id, as of the current generation.
    fn offered(&self) -> (u64, Arc<BTreeMap<String, String>>) {
        let generation = self.generation();
        if let Ok(o) = self.offered.read()
            && o.0 == generation
        {
            return (generation, o.1.clone());
        }
        let mut map = BTreeMap::new();
        if let Some(source) = self.source() {
            for (plugin, name) in source.offered() {
                // The first plugin (by id) that offers a name serves it.
                map.entry(name).or_insert(plugin);
            }
        }
        let map = Arc::new(map);
        if let Ok(mut o) = self.offered.write() {
            *o = (generation, map.clone());
        }
        (generation, map)
    }

    /// Calls helper `name`; on any failure, or when no enabled plugin offers it, the
    /// fallback: the first argument unchanged (a filter's input), or an empty string.
    fn call(&self, name: &str, args: &[Value]) -> Value {
        let fallback = || args.first().cloned().unwrap_or_else(|| Value::from(""));
        let (generation, offered) = self.offered();
        let (Some(plugin), Some(source)) = (offered.get(name), self.source()) else {
            return fallback();
        };
        let json = match serde_json::to_value(args) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(helper = name, error = %e, "template helper arguments are not JSON");
                return fallback();
            }
        };
        let key = (generation, name.to_owned(), json.to_string());
        if let Some(answer) = self.answers.get(&key) {
            return Value::from_serialize(&answer);
        }
        match source.call(plugin, name, &json) {
            // The answer is data like any other: escaped when the template prints it.
            Ok(answer) => {
                let value = Value::from_serialize(&answer);
                self.answers.insert(key, answer);
                value
            }
            Err(e) => {
                tracing::warn!(helper = name, %plugin, error = %e, "template helper failed; rendering its fallback");
                fallback()
            }
        }
    }
}

enum Envs {
    Fixed(Arc<Environment<'static>>),
    Reloading(Box<AutoReloader>),
}

/// One theme chain, compiled.
pub struct Theme {
    /// The theme's id (its folder name).
    pub id: String,
    pub chain: ThemeChain,
    envs: Envs,
    /// The helper names registered in `envs`.
    registered: BTreeSet<String>,
    /// Set for a preview: what the preview bar shows.
    preview: bool,
}

/// How a theme is built: where themes are, the globals and the mode every build shares.
#[derive(Clone)]
struct Builder {
    roots: Vec<PathBuf>,
    globals: Vec<(&'static str, Value)>,
    dev: bool,
    helpers: Arc<Helpers>,
}

impl Builder {
    fn build(&self, id: &str, preview: bool) -> Result<Theme, ThemeError> {
        let chain = ThemeChain::resolve_in(&self.roots, id)?;
        self.build_chain(id, chain, preview)
    }

    fn build_chain(&self, id: &str, chain: ThemeChain, preview: bool) -> Result<Theme, ThemeError> {
        let mut registered = chain.helpers.clone();
        registered.extend(self.helpers.offered().1.keys().cloned());
        let versions = Arc::new(StaticVersions::default());
        let preview_global = preview.then(|| {
            minijinja::context! {
                id => id,
                name => chain.manifest.name.clone(),
                stop_url => "/dashboard/themes/stop-preview/",
            }
        });
        let build = {
            let chain = chain.clone();
            let globals = self.globals.clone();
            let dev = self.dev;
            let helpers = self.helpers.clone();
            let names = registered.clone();
            move || -> Environment<'static> {
                let mut env = Environment::new();
                let loader_chain = chain.clone();
                env.set_loader(move |name: &str| {
                    match loader_chain.find(&format!("templates/{name}")) {
                        Some(path) => std::fs::read_to_string(&path).map(Some).map_err(|e| {
                            TemplateError::new(ErrorKind::InvalidOperation, "cannot read template")
                                .with_source(e)
                        }),
                        None => Ok(None),
                    }
                });
                env.set_auto_escape_callback(|name| {
                    if name.ends_with(".html") || name.ends_with(".htm") {
                        AutoEscape::Html
                    } else {
                        AutoEscape::None
                    }
                });
                env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
                // Extension helpers first, so the shop's own functions below win a name clash.
                for name in &names {
                    let (h, n) = (helpers.clone(), name.clone());
                    env.add_filter(name.clone(), move |args: Rest<Value>| h.call(&n, &args));
                    let (h, n) = (helpers.clone(), name.clone());
                    env.add_function(name.clone(), move |args: Rest<Value>| h.call(&n, &args));
                }
                let static_chain = chain.clone();
                let versions = versions.clone();
                // The URL is built from a file name and a hex digest: safe to emit unescaped.
                env.add_function("static_url", move |path: &str| {
                    Value::from_safe_string(versions.url(&static_chain, path, dev))
                });
                // Whether a theme has `static/<path>`: the dashboard loads its vendored scripts
                // only when `cargo xtask` copied them there (see dashboard-assets/).
                let has_chain = chain.clone();
                env.add_function("has_static", move |path: &str| {
                    has_chain.find(&format!("static/{path}")).is_some()
                });
                let sizes = chain.thumbnails.clone();
                env.add_function("thumbnail_url", move |image: Value, size: &str| {
                    thumbnail_of(&sizes, &image, size).map(|(url, _, _)| url_value(url))
                });
                let sizes = chain.thumbnails.clone();
                env.add_function("thumbnail", move |image: Value, size: &str| {
                    thumbnail_of(&sizes, &image, size).map(|(url, width, height)| {
                        minijinja::context! { url => url_value(url), width => width, height => height }
                    })
                });
                for (name, value) in &globals {
                    env.add_global(*name, value.clone());
                }
                // Only a preview's environment has it: the storefront's "previewing" bar.
                if let Some(p) = &preview_global {
                    env.add_global("theme_preview", p.clone());
                }
                env
            }
        };
        let envs = if self.dev {
            let watched: Vec<PathBuf> = chain.dirs.clone();
            Envs::Reloading(Box::new(AutoReloader::new(move |notifier| {
                for dir in &watched {
                    notifier.watch_path(dir, true);
                }
                Ok(build())
            })))
        } else {
            let env = build();
            // Compile the layout now so a syntax error stops start-up (or a switch), not a
            // request.
            for name in ["base.html", "error.html"] {
                env.get_template(name)?;
            }
            Envs::Fixed(Arc::new(env))
        };
        Ok(Theme {
            id: id.to_owned(),
            chain,
            envs,
            registered,
            preview,
        })
    }
}

impl Theme {
    pub fn render<S: serde::Serialize>(&self, name: &str, ctx: S) -> Result<String, TemplateError> {
        match &self.envs {
            Envs::Fixed(env) => env.get_template(name)?.render(ctx),
            Envs::Reloading(reloader) => {
                let env = reloader.acquire_env()?;
                env.get_template(name)?.render(ctx)
            }
        }
    }

    fn render_source<S: serde::Serialize>(
        &self,
        name: &str,
        source: &str,
        ctx: S,
    ) -> Result<String, TemplateError> {
        match &self.envs {
            Envs::Fixed(env) => env.render_named_str(name, source, ctx),
            Envs::Reloading(reloader) => {
                let env = reloader.acquire_env()?;
                env.render_named_str(name, source, ctx)
            }
        }
    }

    fn environment(&self) -> Result<Environment<'static>, TemplateError> {
        Ok(match &self.envs {
            Envs::Fixed(env) => (**env).clone(),
            Envs::Reloading(reloader) => reloader.acquire_env()?.clone(),
        })
    }

    /// Compiles every template of the first theme of the chain (the theme's own files), so a
    /// syntax error is reported when the theme is installed, not on a page.
    pub fn check_own_templates(&self) -> Result<(), ThemeError> {
        let Some(dir) = self.chain.dirs.first() else {
            return Ok(());
        };
        let root = dir.join("templates");
        let mut files = Vec::new();
        collect_files(&root, &mut files);
        let env = self.environment()?;
        for file in files {
            let Ok(relative) = file.strip_prefix(&root) else {
                continue;
            };
            let name = relative.to_string_lossy().replace('\\', "/");
            if name.ends_with(".html") || name.ends_with(".txt") {
                env.get_template(&name)?;
            }
        }
        Ok(())
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

tokio::task_local! {
    /// The theme a staff user is previewing, for the request being handled (see
    /// [`with_preview`]).
    static PREVIEW: Arc<Theme>;
}

/// Runs `request` (a request's handling) with `theme` instead of the active theme, for that
/// request only: every template it renders and every static file it asks for comes from the
/// previewed theme. A task-local rather than an argument, so the storefront's handlers, its
/// error pages and its static files follow without each one being told.
pub async fn with_preview<F: std::future::Future>(theme: Arc<Theme>, request: F) -> F::Output {
    PREVIEW.scope(theme, request).await
}

/// Whether the current request renders a preview.
pub fn previewing() -> bool {
    PREVIEW.try_with(|t| t.preview).unwrap_or(false)
}

/// The shop's templates: the active theme (which can change while the shop runs), the
/// previews staff users asked for, and the extension helpers.
pub struct Templates {
    builder: Builder,
    active: RwLock<Arc<Theme>>,
    previews: Mutex<HashMap<String, Arc<Theme>>>,
    /// Bumped whenever what a page looks like may change (another theme, other helpers): part
    /// of the rendered-page cache's key.
    switches: AtomicU64,
}

impl Templates {
    /// The templates of theme `active` in `themes_dir` (the bundled themes only).
    pub fn load(
        themes_dir: &Path,
        active: &str,
        globals: Vec<(&'static str, Value)>,
        dev: bool,
    ) -> Result<Templates, ThemeError> {
        Templates::load_from(vec![themes_dir.to_path_buf()], active, globals, dev)
    }

    /// The templates of theme `active`, looking for themes in `roots` in order.
    pub fn load_from(
        roots: Vec<PathBuf>,
        active: &str,
        globals: Vec<(&'static str, Value)>,
        dev: bool,
    ) -> Result<Templates, ThemeError> {
        let builder = Builder {
            roots,
            globals,
            dev,
            helpers: Arc::new(Helpers::default()),
        };
        let theme = builder.build(active, false)?;
        Ok(Templates {
            builder,
            active: RwLock::new(Arc::new(theme)),
            previews: Mutex::new(HashMap::new()),
            switches: AtomicU64::new(0),
        })
    }

    /// Where themes are looked for, in order (installed, then bundled).
    pub fn roots(&self) -> &[PathBuf] {
        &self.builder.roots
    }

    /// Serves template helpers from `source` from now on.
    pub fn attach_helpers(&self, source: Arc<dyn HelperSource>) {
        self.builder.helpers.set_source(source);
    }

    /// The extension helpers (for announcing plugin changes: [`Helpers::changed`]).
    pub fn helpers(&self) -> Arc<Helpers> {
        self.builder.helpers.clone()
    }

    /// Part of a rendered-page cache key: changes whenever pages may look different.
    pub fn generation(&self) -> String {
        format!(
            "{}.{}",
            self.switches.load(Ordering::SeqCst),
            self.builder.helpers.generation()
        )
    }

    /// The active theme, rebuilt first when an enabled plugin now offers a helper it lacks.
    pub fn active(&self) -> Arc<Theme> {
        let theme = self
            .active
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        match self.refreshed(&theme) {
            Some(fresh) => {
                if let Ok(mut slot) = self.active.write()
                    && Arc::ptr_eq(&slot, &theme)
                {
                    *slot = fresh.clone();
                }
                fresh
            }
            None => theme,
        }
    }

    /// A rebuild of `theme` when helpers appeared that it has not registered.
    fn refreshed(&self, theme: &Arc<Theme>) -> Option<Arc<Theme>> {
        let (_, offered) = self.builder.helpers.offered();
        if offered.keys().all(|k| theme.registered.contains(k)) {
            return None;
        }
        match self
            .builder
            .build_chain(&theme.id, theme.chain.clone(), theme.preview)
        {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => {
                tracing::error!(theme = %theme.id, error = %e, "rebuilding the theme for new helpers failed");
                None
            }
        }
    }

    /// The theme this request renders with: a preview when one is set (see
    /// [`with_preview`]), else the active theme.
    pub fn current(&self) -> Arc<Theme> {
        PREVIEW
            .try_with(|t| t.clone())
            .unwrap_or_else(|_| self.active())
    }

    /// The id of the active theme.
    pub fn active_id(&self) -> String {
        self.active().id.clone()
    }

    /// Compiles theme `id` (checking it) without making it active.
    pub fn build(&self, id: &str) -> Result<Theme, ThemeError> {
        self.builder.build(id, false)
    }

    /// Compiles a theme whose first folder is `dir` (not yet installed) to check it.
    pub fn build_at(&self, id: &str, dir: &Path) -> Result<Theme, ThemeError> {
        let chain = ThemeChain::resolve_from(&self.builder.roots, id, Some(dir))?;
        self.builder.build_chain(id, chain, false)
    }

    /// Makes `theme` (built with [`Templates::build`]) the active theme of this process.
    pub fn switch_to(&self, theme: Theme) {
        if let Ok(mut slot) = self.active.write() {
            *slot = Arc::new(theme);
        }
        self.switches.fetch_add(1, Ordering::SeqCst);
    }

    /// Theme `id` compiled for previews (with the preview bar), kept for the next request.
    pub fn preview(&self, id: &str) -> Result<Arc<Theme>, ThemeError> {
        if let Ok(previews) = self.previews.lock()
            && let Some(theme) = previews.get(id)
        {
            let theme = theme.clone();
            drop(previews);
            return Ok(match self.refreshed(&theme) {
                Some(fresh) => {
                    if let Ok(mut previews) = self.previews.lock() {
                        previews.insert(id.to_owned(), fresh.clone());
                    }
                    fresh
                }
                None => theme,
            });
        }
        let theme = Arc::new(self.builder.build(id, true)?);
        if let Ok(mut previews) = self.previews.lock() {
            previews.insert(id.to_owned(), theme.clone());
        }
        Ok(theme)
    }

    /// Forgets the compiled previews (themes were installed or removed).
    pub fn forget_previews(&self) {
        if let Ok(mut previews) = self.previews.lock() {
            previews.clear();
        }
    }

    /// The current theme's chain (its folders and thumbnail sizes).
    pub fn chain(&self) -> ThemeChain {
        self.current().chain.clone()
    }

    pub fn render<S: serde::Serialize>(&self, name: &str, ctx: S) -> Result<String, TemplateError> {
        self.current().render(name, ctx)
    }

    /// Renders `source` as if it were the template `name` (its escaping follows the name;
    /// what it extends or includes comes from the theme chain): a template kept elsewhere
    /// than the theme's files, such as a staff override of an email.
    pub fn render_source<S: serde::Serialize>(
        &self,
        name: &str,
        source: &str,
        ctx: S,
    ) -> Result<String, TemplateError> {
        self.current().render_source(name, source, ctx)
    }

    /// Like [`Templates::render_source`], but strict: any variable or attribute the context
    /// lacks is an error rather than an empty string. For checking an edited template against
    /// a complete sample context before it is kept.
    pub fn check_source<S: serde::Serialize>(
        &self,
        name: &str,
        source: &str,
        ctx: S,
    ) -> Result<String, TemplateError> {
        let mut env = self.current().environment()?;
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.render_named_str(name, source, ctx)
    }
}

/// A URL as a template value: made of plain characters only (as every media URL the shop
/// hands out is), it is emitted as it is; anything else is escaped like any text.
fn url_value(url: String) -> Value {
    if url
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    {
        Value::from_safe_string(url)
    } else {
        Value::from(url)
    }
}

/// `thumbnail_url(image, "small")` and `thumbnail(image, "small")` in templates: `image` is
/// an image of the catalogue (with `url`, and `width` and `height` when known) or a URL. Gives
/// the thumbnail's URL and its size (0 × 0 when the image's own size is unknown).
fn thumbnail_of(
    sizes: &BTreeMap<String, ThumbnailSize>,
    image: &Value,
    size: &str,
) -> Result<(String, u32, u32), TemplateError> {
    let Some(thumbnail) = sizes.get(size).copied() else {
        let known: Vec<&str> = sizes.keys().map(String::as_str).collect();
        return Err(TemplateError::new(
            ErrorKind::InvalidOperation,
            format!(
                "no thumbnail size {size:?} in the theme's [thumbnails] (it has: {})",
                known.join(", ")
            ),
        ));
    };
    let (url, width, height) = match image.as_str() {
        Some(url) => (url.to_owned(), 0, 0),
        None => {
            let side = |key: &str| {
                image
                    .get_attr(key)
                    .ok()
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0)
            };
            let url = image
                .get_attr("url")
                .ok()
                .and_then(|u| u.as_str().map(str::to_owned))
                .unwrap_or_default();
            (url, side("width"), side("height"))
        }
    };
    let thumb_url = thumbnail_url(&url, thumbnail);
    // An image that is not an upload keeps its URL and is scaled by the browser to that size.
    let (w, h) = thumbnail.dimensions_for(width, height);
    Ok((thumb_url, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theme(root: &Path, name: &str, parent: Option<&str>, files: &[(&str, &str)]) {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        let parent = parent
            .map(|p| format!("parent = \"{p}\"\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.join("theme.toml"),
            format!("name = \"{name}\"\n{parent}"),
        )
        .unwrap();
        for (path, body) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
    }

    #[test]
    fn templates_resolve_one_file_at_a_time() {
        let root = tempfile::tempdir().unwrap();
        theme(
            root.path(),
            "default",
            None,
            &[
                (
                    "templates/base.html",
                    "<b>{% block body %}{% endblock %}</b>",
                ),
                ("templates/error.html", "error"),
                (
                    "templates/page.html",
                    "{% extends 'base.html' %}{% block body %}default {{ x }}{% endblock %}",
                ),
                ("static/css/shop.css", "body{}"),
            ],
        );
        theme(
            root.path(),
            "brand",
            Some("default"),
            &[(
                "templates/base.html",
                "<i>{% block body %}{% endblock %}</i> {{ static_url('css/shop.css') }}",
            )],
        );
        let t = Templates::load(root.path(), "brand", vec![], false).unwrap();
        let html = t
            .render("page.html", minijinja::context! { x => "<&>" })
            .unwrap();
        assert!(
            html.starts_with("<i>default &lt;&amp;&gt;</i> /static/css/shop.css?v="),
            "{html}"
        );
        assert_eq!(t.chain().dirs.len(), 2);
    }

    #[test]
    fn dev_mode_picks_up_edited_templates() {
        let root = tempfile::tempdir().unwrap();
        theme(
            root.path(),
            "default",
            None,
            &[
                ("templates/base.html", "base"),
                ("templates/error.html", "error"),
                ("templates/page.html", "first"),
            ],
        );
        let t = Templates::load(root.path(), "default", vec![], true).unwrap();
        assert_eq!(t.render("page.html", ()).unwrap(), "first");
        std::fs::write(root.path().join("default/templates/page.html"), "second").unwrap();
        // File notifications arrive asynchronously; a designer's reload comes a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let html = t.render("page.html", ()).unwrap();
            if html == "second" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "template was not reloaded"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn unknown_theme_and_cycles_are_errors() {
        let root = tempfile::tempdir().unwrap();
        theme(root.path(), "a", Some("b"), &[]);
        theme(root.path(), "b", Some("a"), &[]);
        assert!(matches!(
            ThemeChain::resolve(root.path(), "a"),
            Err(ThemeError::Cycle(_))
        ));
        assert!(matches!(
            ThemeChain::resolve(root.path(), "zzz"),
            Err(ThemeError::NotFound(..))
        ));
        assert!(matches!(
            ThemeChain::resolve(root.path(), "../etc"),
            Err(ThemeError::NotFound(..))
        ));
    }

    struct Shouting;

    impl HelperSource for Shouting {
        fn offered(&self) -> Vec<(String, String)> {
            vec![("loud".into(), "shout".into())]
        }

        fn call(
            &self,
            _plugin: &str,
            _name: &str,
            args: &serde_json::Value,
        ) -> Result<serde_json::Value, String> {
            match args[0].as_str() {
                Some("boom") => Err("the plugin failed".into()),
                Some(text) => Ok(text.to_uppercase().into()),
                None => Err("not text".into()),
            }
        }
    }

    #[test]
    fn extension_helpers_answer_or_fall_back() {
        let root = tempfile::tempdir().unwrap();
        theme(
            root.path(),
            "default",
            None,
            &[
                ("templates/base.html", "base"),
                ("templates/error.html", "error"),
                (
                    "templates/page.html",
                    "{{ 'hi'|shout }} {{ shout('boom') }} {{ '<b>'|shout }} {{ whisper('x') }} {{ 'y'|whisper }}",
                ),
            ],
        );
        // A declared helper no plugin offers is defined all the same.
        std::fs::write(
            root.path().join("default/theme.toml"),
            "name = \"default\"\n[extension]\nhelpers = [\"whisper\"]\n",
        )
        .unwrap();
        let t = Templates::load(root.path(), "default", vec![], false).unwrap();
        let before = t.generation();
        t.attach_helpers(Arc::new(Shouting));
        assert_ne!(t.generation(), before, "cached pages are not reused");
        assert_eq!(
            t.render("page.html", ()).unwrap(),
            "HI boom &lt;B&gt; x y",
            "answers (escaped), and fallbacks for a failure and a missing plugin"
        );
    }

    #[test]
    fn manifests_are_checked() {
        for (text, wanted) in [
            ("name = \"\"", "empty"),
            ("name = \"A\"\nversion = \"soon\"", "version"),
            ("name = \"A\"\ncolour = \"red\"", "colour"),
            ("name = \"A\"\nscreenshot = \"../x.png\"", "screenshot"),
            (
                "name = \"A\"\n[thumbnails]\ncard = \"huge\"",
                "thumbnails.card",
            ),
            ("name = \"A\"\nid = \"Not Valid\"", "theme id"),
        ] {
            let e = ThemeManifest::parse(text, "t").unwrap_err().to_string();
            assert!(e.contains(wanted), "{text}: {e}");
        }
        assert!(ThemeManifest::parse("name = \"A\"\nversion = \"1.0.0\"", "t").is_ok());
    }

    #[test]
    fn static_lookup_refuses_traversal() {
        let root = tempfile::tempdir().unwrap();
        theme(root.path(), "default", None, &[("static/a.css", "x")]);
        let chain = ThemeChain::resolve(root.path(), "default").unwrap();
        assert!(chain.find("static/a.css").is_some());
        assert!(chain.find("static/../theme.toml").is_none());
        assert!(chain.find("static//a.css").is_none());
    }
}
