//! Builds the bundled plugins into `target/plugins/<id>/` (plugin.toml + plugin.wasm), where the
//! host's tests and the demo shop load them from.

use std::path::Path;

use anyhow::Result;

// Python and JavaScript plugins (componentize-py, componentize-js).
mod guest;
mod js;
mod python;
mod templates;

pub fn build_all(root: &Path) -> Result<()> {
    let out = root.join("target/plugins");
    std::fs::create_dir_all(&out)?;
    python::build_all(root, &out)?;
    js::build_all(root, &out)?;
    templates::build_all(root)?;
    Ok(())
}
