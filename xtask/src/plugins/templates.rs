//! Proves the `emporium plugin new` templates (`plugins/templates/<lang>/<world>/`): renders each
//! one the way the CLI does (see plugins/templates/README.md) into
//! `target/templates/<lang>-<world>/`, copies `wit/` and the language's SDK module beside it
//! (plugins/sdk-python, plugins/sdk-js), and runs the project's own build (`./build.sh` for
//! Python, `npm run build` for JS), which runs its generated test and writes `plugin.wasm`.
//! Skipped when the template, `wit/`, the SDK module and the toolchain pins are unchanged.
//! The SDK's own unit tests run first (well under a second).
//!
//! Rust templates are not built here: tests/plugins_cli.rs builds them from `emporium plugin
//! new` output, sharing one target folder. Each template is built once per test run either way.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::guest;

const RECIPE: &str = "templates-2: with the SDK module";
/// The WIT version the templates are rendered for.
const WIT_VERSION: &str = "0.1.0";

/// Checks every template of `lang` ("python" or "js").
pub fn build_lang(root: &Path, lang: &str) -> Result<()> {
    sdk_tests(root, lang)?;
    let dir = root.join("plugins/templates").join(lang);
    if dir.is_dir() {
        let mut worlds: Vec<_> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        worlds.sort();
        for template in worlds {
            build(root, lang, &template)
                .with_context(|| format!("checking template {}", template.display()))?;
        }
    }
    Ok(())
}

/// Runs the unit tests of the SDK module the templates of `lang` use, with the interpreter
/// the generated projects test with.
fn sdk_tests(root: &Path, lang: &str) -> Result<()> {
    let Some((path, _)) = sdk_file(lang) else {
        return Ok(());
    };
    let dir = root.join("plugins").join(path);
    let dir = dir.parent().context("an SDK file has a folder")?;
    let mut cmd = match lang {
        "python" => {
            let mut c = Command::new("python3");
            c.env("PYTHONDONTWRITEBYTECODE", "1")
                .args(["-m", "unittest", "-q"]);
            c
        }
        _ => {
            let mut c = Command::new("node");
            c.args(["--test", "--test-reporter=dot"]);
            c
        }
    };
    cmd.current_dir(dir);
    guest::timed(&format!("{lang} SDK unit tests"), &mut cmd)
}

// The substitution is the host's own (`emporium plugin new`), shared so both render alike.
#[path = "../../../host/src/plugins/distribution/template_render.rs"]
#[allow(dead_code)]
mod template_render;
use template_render::{render, sdk_file};

fn build(root: &Path, lang: &str, template: &Path) -> Result<()> {
    let world = template
        .file_name()
        .and_then(|n| n.to_str())
        .context("template folder name")?
        .to_owned();
    let id = format!("tpl-{lang}-{world}");
    let name = format!("Template {lang} {world}");
    let wit = root.join("wit");
    let js = root.join("plugins/js");
    let out = root
        .join("target/templates")
        .join(format!("{lang}-{world}"));
    let sdk = sdk_file(lang).map(|(path, name)| (root.join("plugins").join(path), name));
    let mut extra_files = vec![
        root.join("plugins/toolchains.sh"),
        js.join("package-lock.json"),
    ];
    extra_files.extend(sdk.iter().map(|(path, _)| path.clone()));
    let extra_files: Vec<&Path> = extra_files.iter().map(|p| p.as_path()).collect();
    let hash = guest::hash_inputs(&[template, &wit], &extra_files, &[RECIPE, WIT_VERSION])?;
    if guest::up_to_date(&out, &hash) {
        eprintln!("template {lang}/{world}: up to date");
        return Ok(());
    }
    eprintln!("template {lang}/{world}: rendering and building");
    guest::ensure_toolchains(root)?;

    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    for rel in guest::files(template)? {
        let text = fs::read_to_string(template.join(&rel))
            .with_context(|| format!("reading {}", rel.display()))?;
        let to = out.join(&rel);
        fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        fs::write(&to, render(&text, &id, &name, &world, WIT_VERSION))?;
    }
    guest::stage(&wit, &out.join("wit"), |_| true)?;
    if let Some((path, name)) = &sdk {
        fs::copy(path, out.join(name)).with_context(|| format!("copying {}", path.display()))?;
    }

    let mut cmd;
    match lang {
        "python" => {
            cmd = Command::new("bash");
            cmd.arg("build.sh").env(
                "COMPONENTIZE_PY",
                root.join("target/toolchains/venv/bin/componentize-py"),
            );
        }
        _ => {
            // The project's own `npm install` would fetch the same pinned toolchain again: lend it
            // the one plugins/toolchains.sh installed instead.
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![js.join("node_modules/.bin")];
            paths.extend(std::env::split_paths(&path));
            cmd = Command::new("npm");
            cmd.args(["run", "--silent", "build"])
                .env("PATH", std::env::join_paths(paths)?);
        }
    }
    cmd.current_dir(&out);
    guest::timed(&format!("{lang}/{world} template build"), &mut cmd)?;
    fs::write(out.join(".build-hash"), format!("{hash}\n"))?;
    eprintln!(
        "template {lang}/{world}: {} bytes",
        out.join("plugin.wasm").metadata()?.len()
    );
    Ok(())
}
