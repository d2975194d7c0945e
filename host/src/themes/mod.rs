//! Themes: `theme.toml` + minijinja `templates/` + `static/`. A template or static file is looked
//! up in the active theme, then its parent, and so on, then `default`, one file at a time, so a
//! designer overrides exactly the files they change. Templates are compiled once; in
//! development mode they are re-read when a file under the themes folder changes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

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

#[derive(Debug, Deserialize)]
struct ThemeManifest {
    #[allow(dead_code)]
    name: String,
    parent: Option<String>,
    /// `[thumbnails]`: name → size (`"200x200"`, `"300x300 crop"`), see `media::thumbs`.
    #[serde(default)]
    thumbnails: BTreeMap<String, String>,
}

/// The folders searched for a template or static file, most specific first.
#[derive(Debug, Clone)]
pub struct ThemeChain {
    pub dirs: Vec<PathBuf>,
    /// The thumbnail sizes the themes declare by name; a theme's own entries win over its
    /// parent's.
    pub thumbnails: BTreeMap<String, ThumbnailSize>,
}

impl ThemeChain {
    pub fn resolve(themes_dir: &Path, active: &str) -> Result<ThemeChain, ThemeError> {
        let mut dirs = Vec::new();
        let mut seen = Vec::new();
        let mut declared = Vec::new();
        let mut next = Some(active.to_owned());
        while let Some(name) = next.take() {
            if seen.contains(&name) {
                return Err(ThemeError::Cycle(name));
            }
            if name.contains('/') || name.contains("..") {
                return Err(ThemeError::NotFound(name, themes_dir.into()));
            }
            let dir = themes_dir.join(&name);
            let manifest_path = dir.join("theme.toml");
            let text = std::fs::read_to_string(&manifest_path)
                .map_err(|_| ThemeError::NotFound(name.clone(), themes_dir.into()))?;
            let manifest: ThemeManifest =
                toml::from_str(&text).map_err(|e| ThemeError::BadManifest {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
            let mut sizes = BTreeMap::new();
            for (size_name, text) in &manifest.thumbnails {
                let size = text.parse().map_err(|message| ThemeError::BadManifest {
                    name: name.clone(),
                    message: format!("thumbnails.{size_name}: {message}"),
                })?;
                sizes.insert(size_name.clone(), size);
            }
            declared.push(sizes);
            dirs.push(dir);
            seen.push(name.clone());
            next = manifest
                .parent
                .or_else(|| (name != "default").then(|| "default".into()));
        }
        // Most general first, so the active theme's sizes are inserted last and win.
        let thumbnails = declared.into_iter().rev().flatten().collect();
        Ok(ThemeChain { dirs, thumbnails })
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

enum Envs {
    Fixed(Arc<Environment<'static>>),
    Reloading(Box<AutoReloader>),
}

/// The compiled templates of the active theme chain.
pub struct Templates {
    envs: Envs,
    pub chain: ThemeChain,
}

impl Templates {
    pub fn load(
        themes_dir: &Path,
        active: &str,
        globals: Vec<(&'static str, Value)>,
        dev: bool,
    ) -> Result<Templates, ThemeError> {
        let chain = ThemeChain::resolve(themes_dir, active)?;
        let versions = Arc::new(StaticVersions::default());
        let build = {
            let chain = chain.clone();
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
                env
            }
        };
        let envs = if dev {
            let watched: Vec<PathBuf> = chain.dirs.clone();
            Envs::Reloading(Box::new(AutoReloader::new(move |notifier| {
                for dir in &watched {
                    notifier.watch_path(dir, true);
                }
                Ok(build())
            })))
        } else {
            let env = build();
            // Compile every template now so a syntax error stops start-up, not a request.
            Envs::Fixed(Arc::new(env))
        };
        let templates = Templates { envs, chain };
        if let Envs::Fixed(env) = &templates.envs {
            for name in ["base.html", "error.html"] {
                env.get_template(name)?;
            }
        }
        Ok(templates)
    }

    pub fn render<S: serde::Serialize>(&self, name: &str, ctx: S) -> Result<String, TemplateError> {
        match &self.envs {
            Envs::Fixed(env) => env.get_template(name)?.render(ctx),
            Envs::Reloading(reloader) => {
                let env = reloader.acquire_env()?;
                env.get_template(name)?.render(ctx)
            }
        }
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
        match &self.envs {
            Envs::Fixed(env) => env.render_named_str(name, source, ctx),
            Envs::Reloading(reloader) => {
                let env = reloader.acquire_env()?;
                env.render_named_str(name, source, ctx)
            }
        }
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
        let mut env = match &self.envs {
            Envs::Fixed(env) => (**env).clone(),
            Envs::Reloading(reloader) => reloader.acquire_env()?.clone(),
        };
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
        assert_eq!(t.chain.dirs.len(), 2);
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
