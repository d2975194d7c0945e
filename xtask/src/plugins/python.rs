//! Builds the Python plugins, `plugins/python/<id>/`, with componentize-py into
//! `target/plugins/<id>/`.
//!
//! A Python plugin folder holds `plugin.toml`, `app.py` (the module componentize-py loads: it
//! defines one class per exported interface, e.g. `Shipping`), any other modules, and unit tests
//! named `test_*.py` that run under plain CPython before the component is built. Tests are not
//! packed into the component.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::guest;

/// Bump to force every Python plugin to rebuild when this recipe changes.
const RECIPE: &str = "python-1: componentize-py -d wit -w <world> componentize app";

pub fn build_all(root: &Path, out: &Path) -> Result<()> {
    for dir in guest::plugin_dirs(&root.join("plugins/python"))? {
        build(root, &dir, out)
            .with_context(|| format!("building Python plugin {}", dir.display()))?;
    }
    Ok(())
}

fn build(root: &Path, dir: &Path, out: &Path) -> Result<()> {
    let manifest = guest::Manifest::read(dir)?;
    let out_dir = out.join(&manifest.id);
    let wit = root.join("wit");
    let hash = guest::hash_inputs(
        &[dir, &wit],
        &[&root.join("plugins/toolchains.sh")],
        &[RECIPE],
    )?;
    if guest::up_to_date(&out_dir, &hash) {
        eprintln!("plugin {} (python): up to date", manifest.id);
        return Ok(());
    }
    eprintln!("plugin {} (python): building", manifest.id);
    guest::ensure_toolchains(root)?;
    let venv = root.join("target/toolchains/venv/bin");

    let has_tests = guest::files(dir)?.iter().any(|f| is_test(f));
    if has_tests {
        guest::timed(
            "unit tests (python -m unittest)",
            Command::new(venv.join("python"))
                .current_dir(dir)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .args(["-m", "unittest", "discover", "-q", "-p", "test_*.py"]),
        )?;
    }

    // Only the plugin's own modules go into the component: stage them without tests or caches.
    let work = root.join("target/plugin-build").join(&manifest.id);
    let src = work.join("src");
    guest::stage(dir, &src, |f| {
        f.extension().is_some_and(|e| e == "py") && !is_test(f)
    })?;
    let wasm = work.join("plugin.wasm");
    guest::timed(
        "componentize-py",
        Command::new(venv.join("componentize-py"))
            .current_dir(&src)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg("-d")
            .arg(&wit)
            .args(["-w", &manifest.world, "componentize", "app", "-o"])
            .arg(&wasm),
    )?;
    guest::install(dir, &wasm, &out_dir, &hash)?;
    eprintln!(
        "plugin {} (python): {} bytes",
        manifest.id,
        out_dir.join("plugin.wasm").metadata()?.len()
    );
    Ok(())
}

fn is_test(f: &Path) -> bool {
    f.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("test_") && n.ends_with(".py"))
}
