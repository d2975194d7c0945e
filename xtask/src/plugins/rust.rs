//! Rust guests: every `plugins/<dir>/` holding both `Cargo.toml` and `plugin.toml`.
//!
//! The SDK has one cargo feature per world, and a component must implement every world whose
//! bindings it links, so plugins of different worlds cannot share one cargo invocation (cargo
//! would unify the SDK's features). Plugins are therefore built in one release invocation per
//! world; the dependencies (wit-bindgen, rust_decimal, ...) compile once and are reused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Guests that exist only to attack the sandbox in tests; built, but never put in target/plugins.
const TEST_ONLY: &[&str] = &["hostile", "hostile-gateway"];

/// Bundled plugins built a second time with a cargo feature, as test-only guests: a changed
/// rule for the shadow-run test. (package, feature, folder under target/test-plugins/)
const TEST_VARIANTS: &[(&str, &str, &str)] = &[(
    "weight-band-shipping",
    "heavy-parcels",
    "weight-band-shipping-heavy",
)];

struct Guest {
    dir: PathBuf,
    /// The cargo package name (= folder name) and the plugin id from plugin.toml.
    package: String,
    id: String,
    world: String,
}

/// Reads `key = "value"` from the top level of a plugin.toml without a TOML dependency: ids and
/// worlds are plain strings, and the host validates the full manifest when it loads the plugin.
fn top_level_string(manifest: &str, key: &str) -> Option<String> {
    manifest
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
        })
}

fn discover(plugins: &Path) -> Result<Vec<Guest>> {
    let mut guests = Vec::new();
    for entry in std::fs::read_dir(plugins).with_context(|| format!("reading {plugins:?}"))? {
        let dir = entry?.path();
        let (cargo, manifest) = (dir.join("Cargo.toml"), dir.join("plugin.toml"));
        if !cargo.is_file() || !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)?;
        let (Some(id), Some(world)) = (
            top_level_string(&text, "id"),
            top_level_string(&text, "world"),
        ) else {
            bail!("{manifest:?} lacks `id` or `world`");
        };
        let package = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("plugin folder name is not UTF-8")?
            .to_string();
        guests.push(Guest {
            dir,
            package,
            id,
            world,
        });
    }
    guests.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(guests)
}

pub fn build_all(root: &Path, out: &Path, test_out: &Path) -> Result<()> {
    let plugins = root.join("plugins");
    let guests = discover(&plugins)?;
    let mut by_world: BTreeMap<&str, Vec<&Guest>> = BTreeMap::new();
    for g in &guests {
        by_world.entry(&g.world).or_default().push(g);
    }
    let target_dir = plugins.join("target");
    for (world, group) in &by_world {
        eprintln!(
            "building Rust plugins for {world}: {}",
            group
                .iter()
                .map(|g| g.package.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut cmd = Command::new(crate::cargo());
        cmd.current_dir(&plugins)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .arg("--target-dir")
            .arg(&target_dir)
            // A parent `cargo test`/`cargo run` must not leak its own target settings in.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTFLAGS");
        for g in group {
            cmd.args(["-p", &g.package]);
        }
        crate::run(&mut cmd)?;
    }
    for g in &guests {
        let wasm = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", g.package.replace('-', "_")));
        let dest_root = if TEST_ONLY.contains(&g.package.as_str()) {
            test_out
        } else {
            out
        };
        let dest = dest_root.join(&g.id);
        std::fs::create_dir_all(&dest)?;
        std::fs::copy(&wasm, dest.join("plugin.wasm"))
            .with_context(|| format!("copying {wasm:?}"))?;
        std::fs::copy(g.dir.join("plugin.toml"), dest.join("plugin.toml"))?;
    }
    // After the copies above: a variant's build overwrites the package's artifact.
    for (package, feature, folder) in TEST_VARIANTS {
        eprintln!("building test variant {folder} ({package} with feature {feature})");
        let mut cmd = Command::new(crate::cargo());
        cmd.current_dir(&plugins)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .arg("--target-dir")
            .arg(&target_dir)
            .args(["-p", package, "--features", feature])
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTFLAGS");
        crate::run(&mut cmd)?;
        let wasm = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        let dest = test_out.join(folder);
        std::fs::create_dir_all(&dest)?;
        std::fs::copy(&wasm, dest.join("plugin.wasm"))
            .with_context(|| format!("copying {wasm:?}"))?;
        std::fs::copy(
            plugins.join(package).join("plugin.toml"),
            dest.join("plugin.toml"),
        )?;
    }
    Ok(())
}
