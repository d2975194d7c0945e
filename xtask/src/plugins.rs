//! Builds the bundled plugins into `target/plugins/<id>/` (plugin.toml + plugin.wasm), where the
//! host's tests and the demo shop load them from. Test-only guests (hostile ones) go to
//! `target/test-plugins/<id>/` so nothing ships them by accident.

use std::path::Path;

use anyhow::Result;

// Rust guests (wit-bindgen, plugins/ cargo workspace).
mod rust;
// Python and JavaScript plugins (componentize-py, componentize-js) and the templates of
// `emporium plugin new`.
mod guest;
mod js;
mod python;
mod templates;

pub fn build_all(root: &Path) -> Result<()> {
    let out = root.join("target/plugins");
    std::fs::create_dir_all(&out)?;
    rust::build_all(root, &out, &root.join("target/test-plugins"))?;
    // Python and JS builds are single-threaded and take ~20 s each: run the two side by side.
    std::thread::scope(|s| {
        let py = s.spawn(|| {
            python::build_all(root, &out).and_then(|()| templates::build_lang(root, "python"))
        });
        let js = js::build_all(root, &out).and_then(|()| templates::build_lang(root, "js"));
        py.join().expect("the Python plugin build panicked").and(js)
    })?;
    Ok(())
}
