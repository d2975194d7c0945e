//! Builds the bundled plugins into `target/plugins/<id>/` (plugin.toml + plugin.wasm), where the
//! host's tests and the demo shop load them from. Test-only guests (hostile ones) go to
//! `target/test-plugins/<id>/` so nothing ships them by accident.

use std::path::Path;

use anyhow::Result;

// Rust guests (wit-bindgen, plugins/ cargo workspace).
mod rust;

pub fn build_all(root: &Path) -> Result<()> {
    let out = root.join("target/plugins");
    std::fs::create_dir_all(&out)?;
    rust::build_all(root, &out, &root.join("target/test-plugins"))?;
    Ok(())
}
