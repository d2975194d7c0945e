//! `emporium plugin new`: a project from plugins/templates/<lang>/<world>/ with the host's WIT
//! package and, for Python and JavaScript, the SDK module (plugins/sdk-python, plugins/sdk-js)
//! beside it. (`emporium plugin test` runs plugins, so it lives in
//! [`crate::plugins::runtime::samples`].)

use std::path::{Path, PathBuf};

use super::manifest::World;
use super::template_render::{display_name, render, sdk_file};

/// The languages `plugin new` knows.
pub const LANGUAGES: [&str; 3] = ["rust", "python", "js"];

/// The WIT package version new projects target.
pub const WIT_VERSION: &str = "0.1.0";

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ScaffoldError + '_ {
    move |source| ScaffoldError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the templates and the WIT package are: `explicit` (a repository root or its
/// plugins/templates folder), else `$EMPORIUM_PLUGIN_TEMPLATES`, else a repository found from
/// the current directory or the executable upwards, else the source tree this binary was
/// built from.
pub fn find_sources(explicit: Option<&Path>) -> Result<(PathBuf, PathBuf), ScaffoldError> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        roots.push(p.to_path_buf());
        roots.extend(p.ancestors().nth(2).map(Path::to_path_buf));
    }
    if let Some(p) = std::env::var_os("EMPORIUM_PLUGIN_TEMPLATES") {
        let p = PathBuf::from(p);
        roots.extend(p.ancestors().nth(2).map(Path::to_path_buf));
        roots.push(p);
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for root in roots {
        let templates = root.join("plugins/templates");
        let wit = root.join("wit");
        if templates.is_dir() && wit.join("worlds.wit").is_file() {
            return Ok((templates, wit));
        }
    }
    Err(ScaffoldError::Invalid(
        "cannot find plugins/templates and wit/: pass --templates REPO_ROOT".into(),
    ))
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The (language, world) pairs that have a template.
pub fn available(templates: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for lang in LANGUAGES {
        if let Ok(entries) = std::fs::read_dir(templates.join(lang)) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    out.push((
                        lang.to_string(),
                        e.file_name().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
    }
    out.sort();
    out
}

/// Creates `parent/NAME/` from the template of `lang`/`world`, with `wit/` (and the language's
/// SDK module) copied in.
pub fn new_project(
    templates: &Path,
    wit: &Path,
    parent: &Path,
    id: &str,
    display: Option<&str>,
    world: World,
    lang: &str,
) -> Result<PathBuf, ScaffoldError> {
    if !valid_id(id) {
        return Err(ScaffoldError::Invalid(format!(
            "{id:?}: a plugin name is 1-64 lower-case letters, digits and `-`, starting with a letter"
        )));
    }
    if !LANGUAGES.contains(&lang) {
        return Err(ScaffoldError::Invalid(format!(
            "unknown language {lang:?} (expected one of {})",
            LANGUAGES.join(", ")
        )));
    }
    let template = templates.join(lang).join(world.name());
    if !template.is_dir() {
        let have: Vec<String> = available(templates)
            .into_iter()
            .map(|(l, w)| format!("{l}/{w}"))
            .collect();
        return Err(ScaffoldError::Invalid(format!(
            "no {lang} template for the {world} world (templates: {})",
            have.join(", ")
        )));
    }
    let dest = parent.join(id);
    if dest.exists() {
        return Err(ScaffoldError::Invalid(format!(
            "{} already exists",
            dest.display()
        )));
    }
    let name = display
        .map(str::to_string)
        .unwrap_or_else(|| display_name(id));
    copy_tree(&template, &dest, &|text: &str| {
        render(text, id, &name, world.name(), WIT_VERSION)
    })?;
    copy_tree(wit, &dest.join("wit"), &|text: &str| text.to_string())?;
    if let Some((path, name)) = sdk_file(lang) {
        // The templates folder is plugins/templates, so the SDKs are its siblings.
        let sdk = templates.parent().unwrap_or(templates).join(path);
        std::fs::copy(&sdk, dest.join(name)).map_err(io(&sdk))?;
    }
    Ok(dest)
}

/// Copies a folder, passing every UTF-8 file through `render` (other files are copied as is).
fn copy_tree(
    src: &Path,
    dest: &Path,
    render: &dyn Fn(&str) -> String,
) -> Result<(), ScaffoldError> {
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    for entry in std::fs::read_dir(src).map_err(io(src))? {
        let entry = entry.map_err(io(src))?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if ["target", "node_modules", ".venv", "__pycache__", "build"].contains(&&*name_str)
            || name_str == "plugin.wasm"
        {
            continue;
        }
        let from = entry.path();
        let to = dest.join(&name);
        let kind = entry.file_type().map_err(io(&from))?;
        if kind.is_dir() {
            copy_tree(&from, &to, render)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(&from).map_err(io(&from))?;
            match String::from_utf8(bytes) {
                Ok(text) => std::fs::write(&to, render(&text)).map_err(io(&to))?,
                Err(e) => std::fs::write(&to, e.into_bytes()).map_err(io(&to))?,
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&from)
                    .map_err(io(&from))?
                    .permissions()
                    .mode();
                let _ = std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode));
            }
        }
    }
    Ok(())
}

/// How to build a new project, for the CLI to print.
pub fn build_hint(lang: &str) -> &'static str {
    match lang {
        "rust" => "./build.sh   (cargo test, then cargo build --target wasm32-wasip2)",
        "python" => "./build.sh   (python3 -m unittest, then componentize-py)",
        _ => "npm install && npm run build   (node --test, then componentize-js)",
    }
}
