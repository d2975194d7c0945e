//! The router's routes as its source spells them: for tests that must cover every route
//! (CSRF, dashboard access), so a new route without an entry fails them.

use std::path::Path;

/// Every `(path, methods text)` routed in the `.rs` files under `dir`.
pub fn routes_under(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    files.sort();
    files
        .iter()
        .flat_map(|f| routes_in(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// The source of a `const NAME: &str = "…";` in `text`.
pub fn constant(text: &str, name: &str) -> Option<String> {
    let marker = format!("const {name}: &str = \"");
    let at = text.find(&marker)? + marker.len();
    Some(text[at..at + text[at..].find('"')?].to_owned())
}

/// `(path, methods text)` of every `.route(…)` call in `text`, with the path resolved when it
/// is a constant of the same file.
pub fn routes_in(text: &str) -> Vec<(String, String)> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        let args_start = at + ".route(".len();
        let mut depth = 1;
        let mut end = args_start;
        for (i, c) in rest[args_start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = args_start + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &rest[args_start..end];
        let (path, methods) = args
            .split_once(',')
            .expect("a route has a path and a handler");
        let path = path.trim();
        let path = match path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Some(literal) => literal.to_owned(),
            None => constant(&code, path)
                .unwrap_or_else(|| panic!("route path {path} is not a constant of its file")),
        };
        found.push((path, methods.to_owned()));
        rest = &rest[end..];
    }
    found
}

pub fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
