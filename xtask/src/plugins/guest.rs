//! What the Python and JavaScript plugin builds share: finding plugin folders, reading the few
//! manifest fields a build needs, hashing inputs to skip unchanged builds, staging sources, and
//! installing `target/plugins/<id>/{plugin.toml,plugin.wasm}`.
//!
//! A build is skipped when the hash of its inputs (the plugin's files, the whole `wit/` folder,
//! the toolchain pins and the build recipe) equals the one stored beside the output in
//! `target/plugins/<id>/.build-hash`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// The fields of `plugin.toml` a build needs.
pub struct Manifest {
    pub id: String,
    pub world: String,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("plugin.toml");
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("parsing {}", path.display()))?;
        let field = |name: &str| -> Result<String> {
            table
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .with_context(|| format!("{}: missing string field `{name}`", path.display()))
        };
        let manifest = Manifest {
            id: field("id")?,
            world: field("world")?,
        };
        let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if folder != manifest.id {
            bail!(
                "{}: id `{}` differs from its folder name `{folder}`",
                path.display(),
                manifest.id
            );
        }
        Ok(manifest)
    }
}

/// The plugin folders (those with a `plugin.toml`) directly under `dir`, sorted.
pub fn plugin_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    if !dir.is_dir() {
        return Ok(dirs);
    }
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.join("plugin.toml").is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Folder and file names never part of a plugin's inputs.
fn ignored(name: &str) -> bool {
    matches!(
        name,
        "node_modules" | "__pycache__" | "target" | ".pytest_cache"
    ) || name.ends_with(".pyc")
}

/// Every file under `dir`, relative to it, sorted, without ignored names.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            if ignored(&name.to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(base, &path, out)?;
            } else {
                out.push(
                    path.strip_prefix(base)
                        .expect("walked below base")
                        .to_path_buf(),
                );
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Hashes a build's inputs: every file of each folder (name and content), each extra file, and
/// each extra string (recipe, toolchain pins).
pub fn hash_inputs(dirs: &[&Path], extra_files: &[&Path], extra: &[&str]) -> Result<String> {
    let mut h = Sha256::new();
    let mut add = |label: &str, bytes: &[u8]| {
        h.update((label.len() as u64).to_le_bytes());
        h.update(label.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    for dir in dirs {
        for rel in files(dir)? {
            let bytes = fs::read(dir.join(&rel))?;
            add(&format!("{}/{}", dir.display(), rel.display()), &bytes);
        }
    }
    for file in extra_files {
        let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        add(&file.display().to_string(), &bytes);
    }
    for s in extra {
        add("extra", s.as_bytes());
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// True when `out/<id>/` holds a build of exactly these inputs.
pub fn up_to_date(out_dir: &Path, hash: &str) -> bool {
    out_dir.join("plugin.wasm").is_file()
        && out_dir.join("plugin.toml").is_file()
        && fs::read_to_string(out_dir.join(".build-hash")).is_ok_and(|h| h.trim() == hash)
}

/// Copies the files of `src` that `keep` accepts into a fresh `dest`.
pub fn stage(src: &Path, dest: &Path, keep: impl Fn(&Path) -> bool) -> Result<()> {
    if dest.exists() {
        fs::remove_dir_all(dest).with_context(|| format!("clearing {}", dest.display()))?;
    }
    for rel in files(src)? {
        if !keep(&rel) {
            continue;
        }
        let to = dest.join(&rel);
        fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        fs::copy(src.join(&rel), &to).with_context(|| format!("copying {}", rel.display()))?;
    }
    Ok(())
}

/// Moves a freshly built component and the plugin's manifest into `out_dir`, then records the
/// input hash (last, so an interrupted install is rebuilt next time).
pub fn install(plugin_dir: &Path, wasm: &Path, out_dir: &Path, hash: &str) -> Result<()> {
    fs::create_dir_all(out_dir)?;
    let _ = fs::remove_file(out_dir.join(".build-hash"));
    fs::copy(plugin_dir.join("plugin.toml"), out_dir.join("plugin.toml"))?;
    fs::rename(wasm, out_dir.join("plugin.wasm"))
        .or_else(|_| fs::copy(wasm, out_dir.join("plugin.wasm")).map(|_| ()))
        .with_context(|| format!("installing {}", wasm.display()))?;
    fs::write(out_dir.join(".build-hash"), format!("{hash}\n"))?;
    Ok(())
}

/// Installs the Python/JavaScript toolchains if needed (once per xtask run), so
/// `cargo xtask build-plugins` works on a fresh clone.
pub fn ensure_toolchains(root: &Path) -> Result<()> {
    crate::setup::plugin_toolchains(root)
}

/// Runs a build step, printing how long it took.
pub fn timed(what: &str, cmd: &mut Command) -> Result<()> {
    let started = Instant::now();
    crate::run(cmd).with_context(|| what.to_string())?;
    eprintln!("  {what}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
