//! How plugins reach a shop, before anything runs them: the `plugin.toml` manifest (what a
//! plugin declares: world, WIT version, limits, permissions, config schema), folder and
//! `.tar.gz` packages unpacked safely, verified fetching from a plugin directory, and
//! `emporium plugin new` from the bundled templates.
//!
//! No wasmtime and no database here: [`super::runtime`] loads what a manifest describes, and
//! [`super::lifecycle`] installs what a directory or package delivers.

pub mod directory;
pub mod manifest;
pub mod package;
pub mod publish;
pub mod scaffold;
pub mod template_render;
