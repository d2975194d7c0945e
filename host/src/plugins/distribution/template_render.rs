//! The placeholder substitution of `emporium plugin new` (see plugins/templates/README.md).
//! Dependency-free on purpose: xtask includes this file too (`#[path]`), so the CLI and the
//! build that checks the templates render them the same way.

/// Replaces `{{id}}`, `{{name}}`, `{{world}}` and `{{wit_version}}` in a template file's text.
pub fn render(text: &str, id: &str, name: &str, world: &str, wit_version: &str) -> String {
    text.replace("{{id}}", id)
        .replace("{{name}}", name)
        .replace("{{world}}", world)
        .replace("{{wit_version}}", wit_version)
}

/// The display name for a plugin id: `my-shipping` → `My shipping`.
pub fn display_name(id: &str) -> String {
    let spaced = id.replace(['-', '_'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The SDK module `emporium plugin new` copies, unchanged, into a new project of `lang` beside
/// its `wit/`, so the project builds on its own: (path below the repository's `plugins/`
/// folder, file name in the project). Rust projects have none: they depend on wit-bindgen only.
pub fn sdk_file(lang: &str) -> Option<(&'static str, &'static str)> {
    match lang {
        "python" => Some(("sdk-python/emporium_sdk.py", "emporium_sdk.py")),
        "js" => Some(("sdk-js/emporium-sdk.js", "emporium-sdk.js")),
        _ => None,
    }
}
