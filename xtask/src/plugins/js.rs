//! Builds the JavaScript plugins, `plugins/js/<id>/`, with componentize-js into
//! `target/plugins/<id>/`.
//!
//! A JavaScript plugin folder holds `plugin.toml`, `app.js` (an ES module exporting one object
//! per exported interface, e.g. `export const shipping = { quote(request) { ... } }`), any other
//! ES modules it imports by relative path, and unit tests named `*.test.js` that run under
//! `node --test` before the component is built. Tests are not packed into the component.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::guest;

/// Bump to force every JavaScript plugin to rebuild when this recipe changes.
const RECIPE: &str =
    "js-1: componentize-js app.js --wit wit --world-name <world> -d [http] fetch-event";

/// Worlds that import `wasi:http/outgoing-handler`: their components keep `fetch()`.
const HTTP_WORLDS: &[&str] = &["payment-gateway", "shipping-method-http"];

pub fn build_all(root: &Path, out: &Path) -> Result<()> {
    for dir in guest::plugin_dirs(&root.join("plugins/js"))? {
        build(root, &dir, out)
            .with_context(|| format!("building JavaScript plugin {}", dir.display()))?;
    }
    Ok(())
}

fn build(root: &Path, dir: &Path, out: &Path) -> Result<()> {
    let manifest = guest::Manifest::read(dir)?;
    let out_dir = out.join(&manifest.id);
    let wit = root.join("wit");
    let js = root.join("plugins/js");
    let hash = guest::hash_inputs(
        &[dir, &wit],
        &[&js.join("package-lock.json"), &js.join("package.json")],
        &[RECIPE],
    )?;
    if guest::up_to_date(&out_dir, &hash) {
        eprintln!("plugin {} (js): up to date", manifest.id);
        return Ok(());
    }
    eprintln!("plugin {} (js): building", manifest.id);
    guest::ensure_toolchains(root)?;

    if guest::files(dir)?.iter().any(|f| is_test(f)) {
        guest::timed(
            "unit tests (node --test)",
            Command::new("node")
                .current_dir(dir)
                .args(["--test", "--test-reporter=dot"]),
        )?;
    }

    // componentize-js maps its working directory to `/` inside the build, so relative imports
    // resolve only below it: build from a staging folder holding the plugin's modules only. The
    // package.json beside them makes node and componentize-js read them as ES modules.
    let work = root.join("target/plugin-build").join(&manifest.id);
    let src = work.join("src");
    guest::stage(dir, &src, |f| {
        f.extension()
            .is_some_and(|e| e == "js" || e == "mjs" || e == "json")
            && !is_test(f)
    })?;
    if !src.join("package.json").exists() {
        std::fs::write(src.join("package.json"), "{ \"type\": \"module\" }\n")?;
    }
    let wasm = work.join("plugin.wasm");
    let mut cmd = Command::new(js.join("node_modules/.bin/componentize-js"));
    cmd.current_dir(&src)
        .arg("app.js")
        .arg("--wit")
        .arg(&wit)
        .args(["--world-name", &manifest.world, "-o"])
        .arg(&wasm)
        .arg("-d");
    if !HTTP_WORLDS.contains(&manifest.world.as_str()) {
        cmd.arg("http");
    }
    cmd.arg("fetch-event");
    guest::timed("componentize-js", &mut cmd)?;
    guest::install(dir, &wasm, &out_dir, &hash)?;
    eprintln!(
        "plugin {} (js): {} bytes",
        manifest.id,
        out_dir.join("plugin.wasm").metadata()?.len()
    );
    Ok(())
}

fn is_test(f: &Path) -> bool {
    f.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.js"))
}
